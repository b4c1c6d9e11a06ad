"""The dashboard's filter form (issue 8)."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy

from postloan.models import Structure
from postloan.reporting.selectors import OFFICER_SELECT_MAX


class DashboardFilterForm(forms.Form):
    """The dashboard's filters. Their options come from one query (dashboard_options), not
    one per select, so that the page's query count stays small."""

    period = forms.ChoiceField(label=gettext_lazy("as of"), required=False)
    branch = forms.TypedChoiceField(
        label=gettext_lazy("branch"), coerce=int, required=False, empty_value=None
    )
    officer = forms.TypedChoiceField(
        label=gettext_lazy("officer"), coerce=int, required=False, empty_value=None
    )
    product = forms.TypedChoiceField(
        label=gettext_lazy("product"), coerce=int, required=False, empty_value=None
    )
    structure = forms.ChoiceField(
        label=gettext_lazy("guarantee structure"),
        choices=[("", gettext_lazy("all")), *Structure.choices],
        required=False,
    )
    cohort = forms.TypedChoiceField(
        label=gettext_lazy("disbursed in"), coerce=int, required=False, empty_value=None
    )
    months = forms.TypedChoiceField(
        label=gettext_lazy("trend"),
        choices=[(12, "12"), (24, "24")],
        coerce=int,
        required=False,
        empty_value=12,
    )

    def __init__(self, *args, options: dict, own_book: bool, **kwargs):
        super().__init__(*args, **kwargs)
        every = [("", gettext_lazy("all"))]
        self.fields["period"].choices = [("", gettext_lazy("today"))] + [
            (m, m) for m in options["month_ends"]
        ]
        self.fields["branch"].choices = every + options["branches"]
        officers = options["officers"]
        # Past a few dozen officers the select holds only the chosen one, and a search box
        # (htmx, views.dashboard_officers) fills it: a select of thousands is unusable and heavy.
        self.officer_search = options.get("officer_count", len(officers)) > OFFICER_SELECT_MAX
        if self.officer_search:
            chosen = str(self.data.get("officer") or "")
            officers = [(pk, name) for pk, name in officers if str(pk) == chosen]
        self.fields["officer"].choices = every + officers
        self.fields["product"].choices = every + options["products"]
        this_year = timezone.localdate().year
        self.fields["cohort"].choices = every + [
            (y, y) for y in range(this_year, this_year - 8, -1)
        ]
        if own_book:
            del self.fields["officer"]
