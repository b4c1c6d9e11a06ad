"""Template tags of post-loan management: tiers, risk flags and inspections in the reader's
words (`{% load risk %}`). The generic ones (money, badges of states) are common's `daihou`."""

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from postloan.risk.rules import Tier

register = template.Library()


TIER_COLOURS = {
    "normal": "success",
    "special_mention": "info",
    "substandard": "warning",
    "doubtful": "danger",
    "loss": "dark",
}


@register.simple_tag
def tier_badge(tier: str | None) -> str:
    if not tier:
        return "—"
    return format_html(
        '<span class="badge text-bg-{}" data-tier="{}">{}</span>',
        TIER_COLOURS.get(tier, "secondary"),
        tier,
        Tier(tier).label,
    )


@register.filter
def flag_evidence(flag) -> str:
    """Automatic flags keep their evidence as key=value data; say it in the reader's words."""
    if flag.source != "automatic":
        return flag.evidence
    labels = {
        "missed_periods": _("missed periods"),
        "contact_changes": _("contact changes in the window"),
        "collateral_value": _("collateral value"),
        "outstanding": _("outstanding principal"),
        "completion_due": _("completion was due"),
        "registration_due": _("registration was due"),
        "guarantor": _("guarantor"),
        "group_member_non_performing": _("non-performing loan of a group member"),
    }
    parts = []
    for item in flag.evidence.split(";"):
        key, _sep, value = item.partition("=")
        parts.append(f"{labels.get(key, key)}: {value}")
    return "; ".join(parts)


INSPECTION_REASONS = {
    "sample": gettext_lazy("monthly sample of normal loans"),
    "handover": gettext_lazy("first contact after disbursement (Art. 3)"),
    "missed": gettext_lazy("missed instalments: default follow-up (Art. 4)"),
    "flag": gettext_lazy("serious risk factor: inspect at once"),
    "manual": gettext_lazy("unplanned visit"),
}


@register.filter
def inspection_reason(inspection) -> str:
    """Why an inspection is due, in the reader's words (one translation looked up, not the
    five possible ones: the agenda asks for 25 at a time)."""
    if inspection.reason == "policy" and inspection.rule_id:
        tier = getattr(getattr(inspection.loan, "risk", None), "tier", "")
        label = f" · {Tier(tier).label}" if tier else ""
        return f"{inspection.rule.name}{label}"
    return str(INSPECTION_REASONS.get(inspection.reason, inspection.reason))


@register.filter
def cancel_reason(inspection) -> str:
    reason = inspection.cancel_reason
    if reason == "loan_closed":
        return _("the loan is closed")
    if reason.startswith("no_longer_required:"):
        tier = reason.split(":", 1)[1]
        tier_label = Tier(tier).label if tier in Tier.__members__.values() else tier
        return _("no longer required: the loan is now %(tier)s") % {"tier": tier_label}
    return reason
