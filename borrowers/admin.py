"""Admin for borrowers and guarantors. Writes go through the same services as the portal,
so the admin keeps the fact timeline and every rule a loan officer is held to."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from borrowers import services
from borrowers.models import (
    Borrower,
    BorrowerFactChange,
    GroupMembership,
    Guarantee,
    Guarantor,
    GuarantorAssessment,
    JointGroup,
)
from common import texts


class BorrowerAdminForm(forms.ModelForm):
    # Named apart from the model's non-editable `version`; carries the version the
    # admin saw, so that an edit based on a stale page is refused.
    edit_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Borrower
        fields = [*services.BORROWER_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["edit_version"].initial = self.instance.version

    def clean(self):
        data = super().clean()
        errors: dict[str, list] = {}
        kind = self.instance.kind if self.instance.pk else data.get("kind", "")
        services._clean_identity(kind, data, errors)
        services._check_unique(Borrower, data, errors, exclude_pk=self.instance.pk)
        if errors:
            raise ValidationError(errors)
        return data

    def _post_clean(self):
        # The service validates and saves; the model's own checks would run on stale input.
        pass


class FactChangeInline(admin.TabularInline):
    model = BorrowerFactChange
    extra = 0
    can_delete = False
    readonly_fields = [
        "fact",
        "old_value",
        "new_value",
        "effective_on",
        "recorded_by",
        "recorded_at",
        "note",
    ]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Borrower)
class BorrowerAdmin(admin.ModelAdmin):
    form = BorrowerAdminForm
    list_display = [
        "reference",
        "name",
        "kind",
        "id_number",
        "credit_code",
        "mobile",
        "legal_status",
        "created_by",
    ]
    list_filter = ["kind", "legal_status", "health"]
    search_fields = ["reference", "name", "id_number", "credit_code", "mobile"]
    list_select_related = ["created_by"]
    readonly_fields = ["reference", "created_by", "created_at", "updated_at"]
    inlines = [FactChangeInline]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "kind"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = {k: v for k, v in form.cleaned_data.items() if k in services.BORROWER_FIELDS}
        if change:
            saved = services.borrower_update(
                borrower=obj,
                version=form.cleaned_data.get("edit_version") or obj.version,
                data=data,
                by=request.user,
                note=texts.ADMIN_EDIT,
            )
        else:
            saved = services.borrower_create(data=data, created_by=request.user)
        obj.pk = saved.pk
        obj.refresh_from_db()


class AssessmentInline(admin.TabularInline):
    model = GuarantorAssessment
    extra = 0
    can_delete = False
    fields = [
        "assessed_on",
        "monthly_income",
        "net_assets",
        "credit_standing",
        "rating",
        "enterprise_status",
        "capacity_lowered",
        "lowered_because",
        "assessed_by",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Guarantor)
class GuarantorAdmin(admin.ModelAdmin):
    list_display = ["reference", "name", "kind", "id_number", "credit_code", "borrower"]
    list_filter = ["kind"]
    search_fields = ["reference", "name", "id_number", "credit_code", "mobile"]
    list_select_related = ["borrower"]
    readonly_fields = [
        "reference",
        "kind",
        "borrower",
        "id_number",
        "credit_code",
        "created_by",
        "created_at",
    ]
    inlines = [AssessmentInline]

    def has_add_permission(self, request):
        # New guarantors come through the portal, which validates the identity.
        return False


@admin.register(GuarantorAssessment)
class GuarantorAssessmentAdmin(admin.ModelAdmin):
    list_display = [
        "guarantor",
        "assessed_on",
        "credit_standing",
        "rating",
        "enterprise_status",
        "capacity_lowered",
    ]
    list_filter = ["capacity_lowered", "credit_standing", "enterprise_status"]
    search_fields = ["guarantor__name", "guarantor__reference"]
    list_select_related = ["guarantor"]
    date_hierarchy = "assessed_on"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Guarantee)
class GuaranteeAdmin(admin.ModelAdmin):
    list_display = ["loan", "guarantor", "kind", "status", "amount", "signed_on", "group"]
    list_filter = ["kind", "status"]
    search_fields = ["loan__reference", "guarantor__name", "guarantor__reference"]
    list_select_related = ["loan", "guarantor", "group"]
    readonly_fields = [
        "loan",
        "guarantor",
        "kind",
        "group",
        "signed_on",
        "status",
        "released_on",
        "called_on",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False


class MembershipInline(admin.TabularInline):
    model = GroupMembership
    extra = 0
    can_delete = False
    readonly_fields = ["borrower", "joined_on", "left_on", "leave_reason"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(JointGroup)
class JointGroupAdmin(admin.ModelAdmin):
    list_display = ["reference", "name", "product", "lead", "status", "formed_on", "dissolved_on"]
    list_filter = ["status", "product"]
    search_fields = ["reference", "name", "lead__name"]
    list_select_related = ["product", "lead"]
    readonly_fields = [
        "reference",
        "product",
        "lead",
        "status",
        "formed_on",
        "dissolved_on",
        "dissolved_reason",
        "created_by",
    ]
    inlines = [MembershipInline]

    def has_add_permission(self, request):
        return False
