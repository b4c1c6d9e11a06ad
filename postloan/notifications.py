"""The notifications post-loan work sends, registered with common.notification_texts when
the app is ready (postloan/apps.py)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from common.notification_texts import register
from postloan.risk.rules import Tier


def tier_label(value) -> str:
    return Tier(value).label


def register_kinds() -> None:
    register(
        "adjustment_lapsed",
        _("The approved tier of %(loan)s lapsed: the missed periods now put it in %(tier)s."),
        tier=tier_label,
    )
    register(
        "adjustment_approved",
        _("Your proposal for %(loan)s was approved: %(tier)s."),
        tier=tier_label,
    )
    register("adjustment_rejected", _("Your proposal for %(loan)s was rejected: %(comment)s"))
    register("plan_approved", _("Your collection plan for %(loan)s was approved."))
    register("plan_rejected", _("Your collection plan for %(loan)s was rejected: %(comment)s"))
    register("early_warning", _("Early warning on %(loan)s: %(what)s"))
