"""Admin for the loan book.

Products, branches and officers are edited here freely. Loans, repayments and their
derived rows are not: booking, posting, reversing and reassigning go through the portal's
services (which validate, allocate and keep history); here they are read, searched and
filtered, with their full audit history one click away.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from loans.models import (
    Branch,
    Collateral,
    Handover,
    Instalment,
    Loan,
    LoanProduct,
    LoanStatusChange,
    OfficerAssignment,
    OfficerProfile,
    Repayment,
    Valuation,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Branch)
class BranchAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "address"]
    search_fields = ["code", "name"]


@admin.register(OfficerProfile)
class OfficerProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "branch", "employee_number", "phone"]
    list_filter = ["branch"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "employee_number"]
    list_select_related = ["user", "branch"]
    autocomplete_fields = ["user"]


@admin.register(LoanProduct)
class LoanProductAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "rate_min",
        "rate_max",
        "amount_min",
        "amount_max",
        "term_min",
        "term_max",
        "per_person_limit",
        "allows_joint_group",
        "is_active",
    ]
    list_filter = ["is_active", "allows_joint_group", "requires_collateral"]
    search_fields = ["code", "name"]
    fieldsets = [
        (None, {"fields": ["code", "name", "is_active"]}),
        (
            _("Ranges"),
            {
                "fields": [
                    ("rate_min", "rate_max"),
                    ("amount_min", "amount_max"),
                    ("term_min", "term_max"),
                    "repayment_methods",
                    "grace_days",
                ]
            },
        ),
        (
            _("Guarantees and limits"),
            {
                "fields": [
                    "min_guarantors",
                    "allows_joint_group",
                    "min_group_size",
                    "group_members_may_be_enterprises",
                    "per_person_limit",
                ]
            },
        ),
        (_("Collateral"), {"fields": ["requires_collateral", "collateral_kinds"]}),
    ]


class InstalmentInline(ReadOnlyInline):
    model = Instalment
    fields = ["seq", "due_on", "principal_due", "interest_due", "principal_paid", "interest_paid"]
    readonly_fields = fields


class RepaymentInline(ReadOnlyInline):
    model = Repayment
    fields = [
        "paid_on",
        "amount",
        "channel",
        "reference",
        "recorded_by",
        "reversed_at",
        "reversal_reason",
    ]
    readonly_fields = fields


class AssignmentInline(ReadOnlyInline):
    model = OfficerAssignment
    fk_name = "loan"
    fields = ["effective_on", "from_officer", "to_officer", "assigned_by", "reason"]
    readonly_fields = fields


class StatusChangeInline(ReadOnlyInline):
    model = LoanStatusChange
    fields = ["effective_on", "from_status", "to_status", "changed_by", "reason"]
    readonly_fields = fields


@admin.register(Loan)
class LoanAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "borrower",
        "product",
        "branch",
        "principal",
        "repayment_method",
        "disbursed_on",
        "status",
        "managing_officer",
    ]
    list_filter = ["status", "product", "branch", "repayment_method", "schedule_source"]
    search_fields = ["reference", "borrower__name", "borrower__id_number", "borrower__reference"]
    list_select_related = ["borrower", "product", "branch", "managing_officer"]
    date_hierarchy = "disbursed_on"
    readonly_fields = [
        "reference",
        "portal_link",
        "borrower",
        "product",
        "branch",
        "group",
        "principal",
        "annual_rate",
        "term_months",
        "repayment_method",
        "disbursed_on",
        "first_due_on",
        "maturity_on",
        "schedule_source",
        "status",
        "closed_on",
        "originating_officer",
        "managing_officer",
        "created_at",
    ]
    fields = [*readonly_fields[:2], "purpose", "grace_days", *readonly_fields[2:]]
    inlines = [InstalmentInline, RepaymentInline, AssignmentInline, StatusChangeInline]

    def has_add_permission(self, request):
        return False  # booked in the portal: schedule, guarantees and handover come with it

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("in the portal"))
    def portal_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("loans:detail", args=[obj.pk]), _("Open the loan page")
        )


@admin.register(Repayment)
class RepaymentAdmin(admin.ModelAdmin):
    list_display = ["loan", "paid_on", "amount", "channel", "reference", "reversed_at"]
    list_filter = ["channel", ("reversed_at", admin.EmptyFieldListFilter)]
    search_fields = ["loan__reference", "reference"]
    list_select_related = ["loan"]
    date_hierarchy = "paid_on"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a mistaken repayment is reversed in the portal, never deleted


class ValuationInline(ReadOnlyInline):
    model = Valuation
    fields = ["valued_on", "value", "method", "valued_by", "recorded_by"]
    readonly_fields = fields


@admin.register(Collateral)
class CollateralAdmin(admin.ModelAdmin):
    list_display = [
        "loan",
        "kind",
        "description",
        "custody",
        "status",
        "expected_completion_on",
        "registration_on",
    ]
    list_filter = ["kind", "custody", "status"]
    search_fields = ["loan__reference", "description", "owner_name", "title_certificate_number"]
    list_select_related = ["loan"]
    readonly_fields = ["loan", "kind", "created_at"]
    inlines = [ValuationInline]

    def has_add_permission(self, request):
        return False


@admin.register(Handover)
class HandoverAdmin(admin.ModelAdmin):
    list_display = [
        "loan",
        "from_officer",
        "to_officer",
        "due_on",
        "due_is_provisional",
        "contacted_on",
        "contact_method",
    ]
    list_filter = ["due_is_provisional", ("contacted_on", admin.EmptyFieldListFilter)]
    search_fields = ["loan__reference"]
    list_select_related = ["loan", "from_officer", "to_officer"]
    readonly_fields = [
        "loan",
        "from_officer",
        "to_officer",
        "due_on",
        "contacted_on",
        "contact_method",
        "fixed_contact",
        "recorded_by",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(OfficerAssignment)
class OfficerAssignmentAdmin(admin.ModelAdmin):
    list_display = ["loan", "effective_on", "from_officer", "to_officer", "assigned_by", "reason"]
    search_fields = ["loan__reference", "reason"]
    list_select_related = ["loan", "from_officer", "to_officer", "assigned_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
