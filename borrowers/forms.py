from __future__ import annotations

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Fieldset, Layout
from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from borrowers.models import (
    RATINGS,
    Borrower,
    CreditStanding,
    EnterpriseStatus,
    MaintenanceKind,
    PartyKind,
)
from common.forms import ServiceModelForm, date_field, money_field, plain_decimals

PERSON_FIELDS = [
    "id_number",
    "occupation",
    "business_address",
    "employer",
    "monthly_income",
    "health",
]
ENTERPRISE_FIELDS = ["credit_code", "legal_representative", "business_scope"]


def _two_columns(*names):
    return Div(*[Div(name, css_class="col-12 col-md-6") for name in names], css_class="row")


def _label(field_name: str):
    return Borrower._meta.get_field(field_name).verbose_name


class BorrowerForm(ServiceModelForm):
    # Longer than the 18 / 11 characters stored: people paste numbers with spaces, dashes
    # or +86, and the service normalises them before it checks and saves.
    id_number = forms.CharField(label=_label("id_number"), max_length=40, required=False)
    credit_code = forms.CharField(label=_label("credit_code"), max_length=40, required=False)
    mobile = forms.CharField(label=_label("mobile"), max_length=30, required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    effective_on = date_field(
        _("changes effective from"),
        required=False,
        help_text=_("When the new facts became true (default today)."),
    )
    change_note = forms.CharField(
        label=_("source of the change"),
        required=False,
        max_length=255,
        help_text=_("e.g. field visit, phone call, document received"),
    )

    class Meta:
        model = Borrower
        formfield_callback = plain_decimals  # income, assets, bank credit
        fields = [
            "kind",
            "name",
            "id_number",
            "credit_code",
            "mobile",
            "address",
            "occupation",
            "business_address",
            "employer",
            "monthly_income",
            "assets",
            "bank_credit",
            "health",
            "legal_status",
            "legal_representative",
            "business_scope",
        ]
        widgets = {"business_scope": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        self.fields["id_number"].required = False
        self.fields["credit_code"].required = False
        if editing:
            self.fields["kind"].disabled = True
            self.fields["version"].initial = self.instance.version
        else:
            for name in ("version", "effective_on", "change_note"):
                del self.fields[name]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Fieldset(
                _("Identity"),
                _two_columns("kind", "name"),
                _two_columns("id_number", "credit_code"),
            ),
            Fieldset(_("Contact"), _two_columns("mobile", "address")),
            Fieldset(
                _("Work, income and credit"),
                _two_columns("occupation", "employer"),
                _two_columns("business_address", "monthly_income"),
                _two_columns("assets", "bank_credit"),
            ),
            Fieldset(_("Enterprise"), _two_columns("legal_representative", "business_scope")),
            Fieldset(_("Status"), _two_columns("health", "legal_status")),
            *(
                [
                    Fieldset(
                        _("About this change"),
                        _two_columns("effective_on", "change_note"),
                        "version",
                    )
                ]
                if editing
                else []
            ),
        )


class BorrowerFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("name, ID number, phone, reference")}),
    )
    kind = forms.ChoiceField(
        label=_("kind"), required=False, choices=[("", _("all"))] + PartyKind.choices
    )
    legal_status = forms.ChoiceField(
        label=_("legal status"),
        required=False,
        choices=[("", _("all"))] + list(Borrower._meta.get_field("legal_status").choices),
    )


class GuarantorForm(forms.Form):
    borrower = forms.ModelChoiceField(
        label=_("an existing borrower"),
        queryset=Borrower.objects.none(),
        required=False,
        help_text=_("Choose a borrower, or fill in a new guarantor below."),
    )
    kind = forms.ChoiceField(label=_("kind"), choices=PartyKind.choices, required=False)
    name = forms.CharField(label=_("name"), max_length=120, required=False)
    id_number = forms.CharField(label=_("resident ID number"), max_length=20, required=False)
    credit_code = forms.CharField(
        label=_("unified social credit code"), max_length=20, required=False
    )
    mobile = forms.CharField(label=_("mobile"), max_length=20, required=False)
    address = forms.CharField(label=_("address"), max_length=255, required=False)

    def __init__(self, *args, borrowers=None, **kwargs):
        super().__init__(*args, **kwargs)
        if borrowers is not None:
            self.fields["borrower"].queryset = borrowers

    def clean(self):
        data = super().clean()
        if not data.get("borrower") and not data.get("kind"):
            self.add_error("kind", _("Choose person or enterprise for a new guarantor."))
        return data


class AssessmentForm(forms.Form):
    assessed_on = date_field(_("assessed on"), initial=timezone.localdate)
    monthly_income = money_field(_("monthly income"), required=False)
    net_assets = money_field(_("net assets"), required=False, max_digits=16)
    credit_standing = forms.TypedChoiceField(
        label=_("credit standing"), choices=CreditStanding.choices, coerce=int
    )
    rating = forms.ChoiceField(
        label=_("rating (enterprises)"),
        choices=[("", "—")] + [(r, r) for r in RATINGS],
        required=False,
    )
    enterprise_status = forms.ChoiceField(
        label=_("enterprise status"),
        choices=[("", "—")] + EnterpriseStatus.choices,
        required=False,
    )
    note = forms.CharField(
        label=_("note"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


class GroupForm(forms.Form):
    name = forms.CharField(label=_("group name"), max_length=120)
    # The products a group may borrow under, given by the page (loans' selectors own them).
    product = forms.ModelChoiceField(label=_("product"), queryset=None)
    members = forms.ModelMultipleChoiceField(
        label=_("members"),
        queryset=Borrower.objects.none(),
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    lead = forms.ModelChoiceField(
        label=_("lead member"), queryset=Borrower.objects.none(), required=False
    )
    formed_on = date_field(_("formed on"), initial=timezone.localdate)

    def __init__(self, *args, products, borrowers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = products
        if borrowers is not None:
            self.fields["members"].queryset = borrowers
            self.fields["lead"].queryset = borrowers


class AddMemberForm(forms.Form):
    borrower = forms.ModelChoiceField(label=_("new member"), queryset=Borrower.objects.none())
    joined_on = date_field(_("joined on"), initial=timezone.localdate)

    def __init__(self, *args, borrowers=None, **kwargs):
        super().__init__(*args, **kwargs)
        if borrowers is not None:
            self.fields["borrower"].queryset = borrowers


class LeaveForm(forms.Form):
    left_on = date_field(_("leaves on"), initial=timezone.localdate)
    reason = forms.CharField(label=_("why"), max_length=255)


class LimitCalculatorForm(forms.Form):
    STRUCTURES = [
        ("ordinary", _("One borrower with guarantors")),
        ("joint_group", _("Joint-guarantee group")),
    ]
    product = forms.ModelChoiceField(label=_("product"), queryset=None)
    structure = forms.ChoiceField(
        label=_("structure"), choices=STRUCTURES, widget=forms.RadioSelect, initial="ordinary"
    )
    borrower = forms.ModelChoiceField(
        label=_("borrower"), queryset=Borrower.objects.none(), required=False
    )
    guarantors = forms.ModelMultipleChoiceField(
        label=_("guarantors"),
        queryset=Borrower.objects.none(),
        required=False,
        help_text=_("Guarantors who are also borrowers; a guarantor adds no limit."),
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    members = forms.ModelMultipleChoiceField(
        label=_("group members"),
        queryset=Borrower.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )

    def __init__(self, *args, products, borrowers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = products
        if borrowers is not None:
            for name in ("borrower", "guarantors", "members"):
                self.fields[name].queryset = borrowers


class MaintenanceForm(forms.Form):
    happened_on = date_field(_("date"), initial=timezone.localdate)
    kind = forms.ChoiceField(label=_("kind"), choices=MaintenanceKind.choices)
    notes = forms.CharField(label=_("notes"), widget=forms.Textarea(attrs={"rows": 3}))
