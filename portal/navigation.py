"""The navbar: each role sees its own entries.

An entry names a URL and who sees it; later capabilities add theirs to NAV_ITEMS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from common import roles
from postloan.inspections.selectors import due_count


def everyone(user) -> bool:
    return True


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    visible_to: Callable[[object], bool] = everyone
    badge: Callable[[object], int] | None = None  # a count shown next to the entry


def reads_portfolio(user) -> bool:
    return roles.sees_whole_portfolio(user) or roles.is_loan_officer(user)


def officer_only(user) -> bool:
    return roles.is_loan_officer(user) and not roles.sees_whole_portfolio(user)


def portfolio_reader(user) -> bool:
    return roles.sees_whole_portfolio(user)


def inspections_due(user) -> int:
    return due_count(user)


NAV_ITEMS: list[NavItem] = [
    NavItem(_("Home"), "home"),
    NavItem(_("My agenda"), "postloan:agenda", roles.is_loan_officer, badge=inspections_due),
    NavItem(_("Inspections"), "postloan:inspections", portfolio_reader),
    NavItem(_("Ledger"), "postloan:ledger", reads_portfolio),
    NavItem(_("Collection plans"), "postloan:plans", reads_portfolio),
    NavItem(_("My loans"), "loans:list", officer_only),
    NavItem(_("Dashboard"), "postloan:dashboard", portfolio_reader),
    NavItem(_("My book"), "postloan:dashboard", officer_only),
    NavItem(_("Loans"), "loans:list", portfolio_reader),
    NavItem(_("Borrowers"), "borrowers:list", reads_portfolio),
    NavItem(_("Handovers"), "loans:handovers", reads_portfolio),
    NavItem(_("Watch list"), "postloan:watchlist", reads_portfolio),
    NavItem(_("Approvals"), "postloan:queue", roles.manages_risk),
    NavItem(_("Night runs"), "portfolio:runs", roles.manages_risk),
    NavItem(_("Limit calculator"), "borrowers:limit_calculator", reads_portfolio),
    NavItem(_("Import"), "portfolio:import", roles.manages_risk),
]


def items_for(user, current_path: str) -> list[dict]:
    entries = []
    for item in NAV_ITEMS:
        if not item.visible_to(user):
            continue
        url = reverse(item.url_name)
        active = current_path == url if url == "/" else current_path.startswith(url)
        badge = item.badge(user) if item.badge else 0
        entries.append({"label": item.label, "url": url, "active": active, "badge": badge})
    return entries
