from __future__ import annotations

from django import forms
from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from borrowers.models import Borrower, GuaranteeStatus, Guarantor
from common.forms import PlainDecimalField, date_field, money_field
from common.roles import Role
from loans.models import (
    Branch,
    Channel,
    CollateralKind,
    CollateralStatus,
    ContactMethod,
    Custody,
    LoanProduct,
    LoanStatus,
    RepaymentMethod,
    ValuationMethod,
)


class OfficerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        return user.get_full_name() or user.get_username()


def loan_officers():
    return User.objects.filter(is_active=True, groups__name=Role.LOAN_OFFICER.value).order_by(
        "first_name", "username"
    )


class LoanFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("reference, borrower, ID, phone")}),
    )
    product = forms.ModelChoiceField(
        label=_("product"), queryset=LoanProduct.objects.all(), required=False
    )
    branch = forms.ModelChoiceField(
        label=_("branch"), queryset=Branch.objects.all(), required=False
    )
    status = forms.ChoiceField(
        label=_("status"), choices=[("", _("all"))] + LoanStatus.choices, required=False
    )
    overdue = forms.ChoiceField(
        label=_("overdue"),
        choices=[("", _("all")), ("yes", _("overdue")), ("no", _("not overdue"))],
        required=False,
    )


class LoanBookForm(forms.Form):
    borrower = forms.ModelChoiceField(label=_("borrower"), queryset=Borrower.objects.none())
    product = forms.ModelChoiceField(
        label=_("product"), queryset=LoanProduct.objects.filter(is_active=True)
    )
    branch = forms.ModelChoiceField(label=_("branch"), queryset=Branch.objects.all())
    principal = money_field(_("principal"))
    annual_rate = PlainDecimalField(
        label=_("annual rate (%)"), max_digits=6, decimal_places=3, min_value=0
    )
    term_months = forms.IntegerField(label=_("term (months)"), min_value=1, max_value=360)
    repayment_method = forms.ChoiceField(
        label=_("repayment method"), choices=RepaymentMethod.choices
    )
    disbursed_on = date_field(_("disbursed on"), initial=timezone.localdate)
    first_due_on = date_field(
        _("first due date"),
        required=False,
        help_text=_("Default: one month after disbursement (the maturity for a bullet loan)."),
    )
    purpose = forms.CharField(label=_("declared purpose"), max_length=255)
    guarantors = forms.ModelMultipleChoiceField(
        label=_("ordinary guarantors"),
        queryset=Guarantor.objects.none(),
        required=False,
        help_text=_("Members of the borrower's joint group guarantee automatically."),
    )
    originating_officer = OfficerChoiceField(
        label=_("originating officer"), queryset=User.objects.none()
    )
    managing_officer = OfficerChoiceField(label=_("managing officer"), queryset=User.objects.none())

    def __init__(self, *args, borrowers=None, guarantors=None, **kwargs):
        super().__init__(*args, **kwargs)
        if borrowers is not None:
            self.fields["borrower"].queryset = borrowers
        if guarantors is not None:
            self.fields["guarantors"].queryset = guarantors
        officers = loan_officers()
        self.fields["originating_officer"].queryset = officers
        self.fields["managing_officer"].queryset = officers


class RepaymentForm(forms.Form):
    paid_on = date_field(_("paid on"), initial=timezone.localdate)
    amount = money_field(_("amount"))
    channel = forms.ChoiceField(label=_("channel"), choices=Channel.choices)
    reference = forms.CharField(
        label=_("payment reference"),
        max_length=60,
        help_text=_("The bank's or channel's reference: the same payment cannot be entered twice."),
    )
    note = forms.CharField(label=_("note"), max_length=255, required=False)


class ReversalForm(forms.Form):
    reason = forms.CharField(label=_("why is it reversed"), max_length=255)


class WriteOffForm(forms.Form):
    on = date_field(_("written off on"), initial=timezone.localdate)
    reason = forms.CharField(label=_("reason"), max_length=255)


class CollateralForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=CollateralKind.choices)
    description = forms.CharField(label=_("description"), max_length=255)
    owner_is_borrower = forms.BooleanField(
        label=_("owned by the borrower"), required=False, initial=True
    )
    owner_name = forms.CharField(
        label=_("owner (if a third party)"), max_length=120, required=False
    )
    custody = forms.ChoiceField(label=_("custody"), choices=Custody.choices)
    location = forms.CharField(label=_("location"), max_length=255, required=False)
    developer = forms.CharField(label=_("developer (off-plan)"), max_length=120, required=False)
    expected_completion_on = date_field(_("expected completion (off-plan)"), required=False)
    registration_due_on = date_field(
        _("formal registration expected by (off-plan)"), required=False
    )
    value = money_field(_("value"), required=False)
    valued_on = date_field(_("valued on"), required=False)
    valuation_method = forms.ChoiceField(
        label=_("valuation method"), choices=ValuationMethod.choices
    )
    valued_by = forms.CharField(label=_("valued by"), max_length=120, required=False)


class ValuationForm(forms.Form):
    valued_on = date_field(_("valued on"), initial=timezone.localdate)
    value = money_field(_("value"))
    method = forms.ChoiceField(label=_("method"), choices=ValuationMethod.choices)
    valued_by = forms.CharField(label=_("valued by"), max_length=120, required=False)
    note = forms.CharField(label=_("note"), max_length=255, required=False)


class CollateralProgressForm(forms.Form):
    completed_on = date_field(_("completed on"), required=False)
    pre_registration_on = date_field(_("mortgage pre-registration"), required=False)
    registration_on = date_field(_("formal registration"), required=False)
    title_certificate_number = forms.CharField(
        label=_("title certificate number"), max_length=60, required=False
    )
    status = forms.ChoiceField(label=_("status"), choices=CollateralStatus.choices)


class ReassignForm(forms.Form):
    to_officer = OfficerChoiceField(label=_("new managing officer"), queryset=User.objects.none())
    effective_on = date_field(_("effective"), initial=timezone.localdate)
    reason = forms.CharField(label=_("reason"), max_length=255)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_officer"].queryset = loan_officers()


class HandoverContactForm(forms.Form):
    contacted_on = date_field(_("reached the borrower on"), initial=timezone.localdate)
    contact_method = forms.ChoiceField(label=_("how"), choices=ContactMethod.choices)
    fixed_contact = forms.CharField(
        label=_("agreed fixed contact"),
        max_length=120,
        help_text=_("The phone number or account the borrower agreed to be reached at."),
    )
    note = forms.CharField(label=_("note"), max_length=255, required=False)


class GuaranteeForm(forms.Form):
    guarantor = forms.ModelChoiceField(label=_("guarantor"), queryset=Guarantor.objects.none())
    signed_on = date_field(_("signed on"), initial=timezone.localdate)
    amount = money_field(
        _("amount guaranteed"), required=False, help_text=_("Empty: the whole debt.")
    )

    def __init__(self, *args, guarantors=None, **kwargs):
        super().__init__(*args, **kwargs)
        if guarantors is not None:
            self.fields["guarantor"].queryset = guarantors


class GuaranteeStatusForm(forms.Form):
    status = forms.ChoiceField(
        label=_("new status"),
        choices=[(GuaranteeStatus.RELEASED, _("Released")), (GuaranteeStatus.CALLED, _("Called"))],
    )
    on = date_field(_("on"), initial=timezone.localdate)
    note = forms.CharField(label=_("note"), max_length=255, required=False)
