from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.forms import PlainDecimalField, date_field
from loans.forms import OfficerChoiceField, loan_officers
from loans.models import Branch
from postloan.models import TIER_CHOICES, LossEvidence
from postloan.risk import factors


class ProposalForm(forms.Form):
    tier = forms.ChoiceField(label=_("proposed tier"), choices=TIER_CHOICES)
    reason = forms.CharField(
        label=_("reason"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("The nature of the default and the risk factors behind the adjustment."),
    )
    factors = forms.TypedMultipleChoiceField(
        label=_("risk factors"),
        choices=factors.CHOICES,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    loss_evidence = forms.ChoiceField(
        label=_("evidence for loss"),
        choices=[("", "—"), *LossEvidence.choices],
        required=False,
        help_text=_("Required when proposing loss."),
    )


class FlagForm(forms.Form):
    factor = forms.TypedChoiceField(label=_("risk factor"), choices=factors.CHOICES, coerce=int)
    evidence = forms.CharField(label=_("evidence"), widget=forms.Textarea(attrs={"rows": 3}))
    is_serious = forms.BooleanField(
        label=_("sudden or serious event: inspect at once"), required=False
    )
    raised_on = date_field(_("observed on"), initial=timezone.localdate)


class ResolveForm(forms.Form):
    resolution = forms.CharField(
        label=_("how it was resolved"), widget=forms.Textarea(attrs={"rows": 2})
    )


class WatchListFilterForm(forms.Form):
    factor = forms.TypedChoiceField(
        label=_("risk factor"),
        choices=[("", _("all")), *factors.CHOICES],
        coerce=int,
        required=False,
        empty_value=None,
    )
    tier = forms.ChoiceField(
        label=_("tier"), choices=[("", _("all")), *TIER_CHOICES], required=False
    )
    officer = OfficerChoiceField(label=_("officer"), queryset=None, required=False)
    branch = forms.ModelChoiceField(
        label=_("branch"), queryset=Branch.objects.all(), required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["officer"].queryset = loan_officers()


class ProvisionRatesForm(forms.Form):
    def __init__(self, *args, rates: dict, **kwargs):
        super().__init__(*args, **kwargs)
        for tier, label in TIER_CHOICES:
            self.fields[tier] = PlainDecimalField(
                label=label,
                max_digits=5,
                decimal_places=2,
                min_value=0,
                max_value=100,
                initial=rates.get(tier),
            )
