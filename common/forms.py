"""Form conventions: forms validate input; services validate the business and save."""

from __future__ import annotations

from django import forms


class DateInput(forms.DateInput):
    """The browser's own date picker (good on phones); ISO values."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class ServiceModelForm(forms.ModelForm):
    """A ModelForm used only for its fields and labels.

    Saving goes through a service, which validates the business rules and reports them
    per field; the ModelForm's own instance validation would only repeat them.
    """

    def _post_clean(self):
        pass


def date_field(label, **kwargs) -> forms.DateField:
    return forms.DateField(label=label, widget=DateInput(), **kwargs)


def money_field(label, **kwargs) -> forms.DecimalField:
    kwargs.setdefault("max_digits", 14)
    kwargs.setdefault("decimal_places", 2)
    return forms.DecimalField(
        label=label,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
        **kwargs,
    )
