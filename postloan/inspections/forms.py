"""Forms of the inspection pages: the managers' filter, the inspection ledger's filter and an
inspection policy rule."""

from __future__ import annotations

from django import forms
from django.contrib.auth.models import User
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.forms import date_field, plain_decimals
from loans.forms import OfficerChoiceField, loan_officers
from loans.models import Branch
from postloan.models import TIER_CHOICES, InspectionKind, InspectionPolicyRule, InspectionStatus


class _InspectionFilters(forms.Form):
    """The filters the inspection list and the ledger share: officer, branch, kind, tier."""

    officer = OfficerChoiceField(
        label=gettext_lazy("officer"), queryset=User.objects.none(), required=False
    )
    branch = forms.ModelChoiceField(
        label=gettext_lazy("branch"), queryset=Branch.objects.all(), required=False
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("kind"),
        choices=[("", gettext_lazy("all")), *InspectionKind.choices],
        required=False,
    )
    tier = forms.ChoiceField(
        label=gettext_lazy("tier"),
        choices=[("", gettext_lazy("all")), *TIER_CHOICES],
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["officer"].queryset = loan_officers()


class InspectionFilterForm(_InspectionFilters):
    overdue = forms.ChoiceField(
        label=gettext_lazy("overdue"),
        choices=[
            ("", gettext_lazy("all")),
            ("yes", gettext_lazy("overdue")),
            ("no", gettext_lazy("not overdue")),
        ],
        required=False,
    )


class PolicyRuleForm(forms.ModelForm):
    class Meta:
        model = InspectionPolicyRule
        formfield_callback = plain_decimals
        fields = [
            "name",
            "is_active",
            "tier",
            "collateral_kind",
            "min_outstanding",
            "product",
            "repayment_method",
            "frequency",
            "times_per_month",
            "every_months",
            "sample_percent",
            "kind",
        ]

    def clean(self):
        data = super().clean()
        frequency = data.get("frequency")
        needed = {
            "per_month": ("times_per_month", 1, 8),
            "every_n_months": ("every_months", 1, 36),
            "sample": ("sample_percent", 0.01, 100),
        }.get(frequency)
        if needed:
            field, low, high = needed
            value = data.get(field)
            if value is None or not low <= value <= high:
                self.add_error(
                    field,
                    _("Give a value from %(low)s to %(high)s for this frequency.")
                    % {"low": low, "high": high},
                )
            for other in ("times_per_month", "every_months", "sample_percent"):
                if other != field:
                    data[other] = None
        return data


class LedgerFilterForm(_InspectionFilters):
    field_order = ["start", "end", "officer", "branch", "kind", "tier", "status", "timing"]
    start = date_field(gettext_lazy("due from"), required=False)
    end = date_field(gettext_lazy("due to"), required=False)
    status = forms.ChoiceField(
        label=gettext_lazy("status"),
        choices=[("", gettext_lazy("all")), *InspectionStatus.choices],
        required=False,
    )
    timing = forms.ChoiceField(
        label=gettext_lazy("on time"),
        choices=[
            ("", gettext_lazy("all")),
            ("on_time", gettext_lazy("done on time")),
            ("late", gettext_lazy("done late")),
            ("overdue", gettext_lazy("overdue")),
        ],
        required=False,
    )
