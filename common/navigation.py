"""The navbar: each role sees its own entries.

An entry names a URL and who sees it; later capabilities add theirs to NAV_ITEMS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


def everyone(user) -> bool:
    return True


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    visible_to: Callable[[object], bool] = everyone


NAV_ITEMS: list[NavItem] = [
    NavItem(_("Home"), "home"),
]


def items_for(user, current_path: str) -> list[dict]:
    entries = []
    for item in NAV_ITEMS:
        if not item.visible_to(user):
            continue
        url = reverse(item.url_name)
        active = current_path == url if url == "/" else current_path.startswith(url)
        entries.append({"label": item.label, "url": url, "active": active})
    return entries
