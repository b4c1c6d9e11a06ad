"""Form conventions: forms validate input; services validate the business and save."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from common.money import NotPlainDecimal, parse_plain_decimal


class DateInput(forms.DateInput):
    """The browser's own date picker (good on phones); ISO values."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def plain_decimals(db_field, **kwargs):
    """A ModelForm's `formfield_callback`: decimal model fields take plain notation only."""
    if isinstance(db_field, models.DecimalField):
        kwargs.setdefault("form_class", PlainDecimalField)
    return db_field.formfield(**kwargs)


class ServiceModelForm(forms.ModelForm):
    """A ModelForm used only for its fields and labels.

    Saving goes through a service, which validates the business rules and reports them
    per field; the ModelForm's own instance validation would only repeat them.
    """

    def _post_clean(self):
        pass


def date_field(label, **kwargs) -> forms.DateField:
    return forms.DateField(label=label, widget=DateInput(), **kwargs)


class PlainDecimalField(forms.DecimalField):
    """A number as people write amounts: "1234.56" or "1,234.56", nothing else.

    Django's DecimalField hands the text to Decimal(), which also takes "1e3", full-width
    digits ("１００"), "NaN" and "+5": an amount typed with an IME or pasted from elsewhere
    would be saved as something the user never read. The input is a text box (a number box
    refuses the thousands separators and, in some browsers, sends an empty value instead).
    """

    widget = forms.TextInput

    def __init__(self, *, decimal_places: int = 2, **kwargs):
        super().__init__(decimal_places=decimal_places, **kwargs)
        self.error_messages["invalid"] = ngettext_lazy(
            "Enter the number in plain digits, with at most %(places)d decimal place: "
            "for example 1234.5 or 1,234.5.",
            "Enter the number in plain digits, with at most %(places)d decimal places: "
            "for example 1234.56 or 1,234.56.",
            decimal_places,
        )

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs.setdefault("inputmode", "decimal")
        attrs.setdefault("autocomplete", "off")
        return attrs

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, Decimal):  # an initial value, not typed
            return value
        try:
            return parse_plain_decimal(str(value), decimal_places=self.decimal_places)
        except NotPlainDecimal:
            raise ValidationError(
                self.error_messages["invalid"],
                code="invalid",
                params={"places": self.decimal_places},
            ) from None


def money_field(label, **kwargs) -> PlainDecimalField:
    """An amount of CNY: plain digits, at most two decimals (see PlainDecimalField)."""
    kwargs.setdefault("max_digits", 14)
    kwargs.setdefault("decimal_places", 2)
    return PlainDecimalField(label=label, **kwargs)


class DecisionForm(forms.Form):
    """An approver's decision on anything that needs a second signature: the button pressed
    (`decision`: approve or reject) and an optional comment."""

    comment = forms.CharField(
        label=_("comment"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    @property
    def approves(self) -> bool:
        return self.data.get("decision") == "approve"
