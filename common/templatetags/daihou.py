from decimal import Decimal

from django import forms, template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from common.money import format_cny

register = template.Library()


@register.filter
def money(value) -> str:
    """¥1,234.56 — amounts are always shown to the fen."""
    if value is None or value == "":
        return "—"
    return format_cny(value)


@register.filter
def plain_money(value) -> str:
    if value is None or value == "":
        return ""
    return f"{Decimal(value):,.2f}"


@register.simple_tag
def querystring_replace(request, **kwargs) -> str:
    """The current query string with some parameters replaced (for pagination links)."""
    query = request.GET.copy()
    for key, value in kwargs.items():
        query[key] = value
    return "?" + query.urlencode()


@register.simple_tag
def state_badge(state: str, label) -> str:
    colours = {
        "paid": "success",
        "overdue": "danger",
        "due": "warning",
        "part_paid": "info",
        "scheduled": "secondary",
        "active": "primary",
        "released": "secondary",
        "called": "danger",
        "settled": "success",
        "written_off": "dark",
        "pending": "warning",
        "late": "danger",
        "done": "success",
    }
    return format_html(
        '<span class="badge text-bg-{}">{}</span>', colours.get(state, "secondary"), label
    )


TIER_COLOURS = {
    "normal": "success",
    "special_mention": "info",
    "substandard": "warning",
    "doubtful": "danger",
    "loss": "dark",
}


@register.simple_tag
def tier_badge(tier: str | None) -> str:
    from postloan.risk.rules import Tier

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
    from django.utils.translation import gettext as _

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


@register.filter
def system_text(value: str) -> str:
    """Translate a text the portal stored (common/texts.py); other text passes unchanged."""
    from django.utils.translation import gettext

    return gettext(value) if value else value


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
    from postloan.risk.rules import Tier

    if inspection.reason == "policy" and inspection.rule_id:
        tier = getattr(getattr(inspection.loan, "risk", None), "tier", "")
        label = f" · {Tier(tier).label}" if tier else ""
        return f"{inspection.rule.name}{label}"
    return str(INSPECTION_REASONS.get(inspection.reason, inspection.reason))


@register.filter
def cancel_reason(inspection) -> str:
    from django.utils.translation import gettext as _

    from postloan.risk.rules import Tier

    reason = inspection.cancel_reason
    if reason == "loan_closed":
        return _("the loan is closed")
    if reason.startswith("no_longer_required:"):
        tier = reason.split(":", 1)[1]
        tier_label = Tier(tier).label if tier in Tier.__members__.values() else tier
        return _("no longer required: the loan is now %(tier)s") % {"tier": tier_label}
    return reason


@register.filter
def get_item(mapping, key):
    return mapping.get(key, key) if hasattr(mapping, "get") else key


@register.filter
def choice_list(field) -> list[tuple[str, str]]:
    """A bound field's choices as (value, label) strings, read once: a model choice field's
    iterator would also count its rows when a template loop asks for its length, and reads
    them through a server-side cursor (declare, fetch, close: three round trips, not one)."""
    form_field = field.field
    choices = form_field.choices
    if isinstance(form_field, forms.ModelChoiceField):
        first = [] if form_field.empty_label is None else [("", form_field.empty_label)]
        choices = first + [choices.choice(obj) for obj in form_field.queryset.all()]
    return [(str(value), str(label)) for value, label in choices]


SELECTED = mark_safe(" selected")


@register.filter
def select_options(field) -> str:
    """A select's <option> elements, escaped, in one Python pass: a template loop costs
    about 15 µs an option, and the loan list's branch filter has over a hundred."""
    current = field.value()
    current = "" if current is None else str(current)
    options = choice_list(field)
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((value, SELECTED if value == current else "", label) for value, label in options),
    )
