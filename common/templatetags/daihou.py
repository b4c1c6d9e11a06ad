from decimal import Decimal

from django import forms, template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

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


@register.filter
def system_text(value: str) -> str:
    """Translate a text the portal stored (common/texts.py); other text passes unchanged."""
    from django.utils.translation import gettext

    return gettext(value) if value else value


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
