"""Notifications: what each kind says, in the reader's language."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from common.models import Notification

TEXTS = {
    "adjustment_lapsed": _(
        "The approved tier of %(loan)s lapsed: the missed periods now put it in %(tier)s."
    ),
    "adjustment_approved": _("Your proposal for %(loan)s was approved: %(tier)s."),
    "adjustment_rejected": _("Your proposal for %(loan)s was rejected: %(comment)s"),
    "plan_approved": _("Your collection plan for %(loan)s was approved."),
    "plan_rejected": _("Your collection plan for %(loan)s was rejected: %(comment)s"),
    "early_warning": _("Early warning on %(loan)s: %(what)s"),
}


def render(notification: Notification) -> str:
    text = TEXTS.get(notification.kind)
    if text is None:
        return notification.kind
    params = dict(notification.params)
    if "tier" in params:
        from postloan.risk.rules import Tier

        params["tier"] = Tier(params["tier"]).label
    try:
        return str(text) % params
    except (KeyError, TypeError, ValueError):
        return str(text)


def notify(recipients, kind: str, *, url: str = "", **params) -> None:
    """Leave a notification for each distinct, active recipient."""
    if kind not in TEXTS:
        raise ValueError(f"unknown notification kind {kind!r}")
    seen = set()
    rows = []
    for user in recipients:
        if user is None or user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        rows.append(Notification(recipient=user, kind=kind, params=params, url=url))
    with transaction.atomic():
        Notification.objects.bulk_create(rows)
