"""Admin for post-loan records. The policy and provision rates are edited here as on their
pages; decisions (approvals, reports, plans) are made in the portal and read here."""

from __future__ import annotations

from django.contrib import admin

from postloan.models import (
    ClassificationRun,
    CollectionPlan,
    Inspection,
    InspectionPolicyRule,
    InspectionReport,
    LoanRiskState,
    NightRun,
    NightStep,
    PlanningRun,
    ProvisionRate,
    Reclassification,
    RiskFlag,
    TierAdjustment,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(InspectionPolicyRule)
class InspectionPolicyRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "is_active",
        "tier",
        "collateral_kind",
        "frequency",
        "times_per_month",
        "every_months",
        "sample_percent",
        "kind",
    ]
    list_filter = ["is_active", "tier", "frequency", "kind"]
    search_fields = ["name"]
    list_select_related = ["product"]

    def has_delete_permission(self, request, obj=None):
        return False  # a rule is taken out of force, so its history stays readable


@admin.register(ProvisionRate)
class ProvisionRateAdmin(admin.ModelAdmin):
    list_display = ["tier", "percent"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LoanRiskState)
class LoanRiskStateAdmin(ReadOnlyAdmin):
    list_display = [
        "loan",
        "tier",
        "quantitative_tier",
        "consecutive_missed",
        "outstanding_principal",
        "provision",
    ]
    list_filter = ["tier", "quantitative_tier"]
    search_fields = ["loan__reference"]
    list_select_related = ["loan"]


@admin.register(ClassificationRun)
class ClassificationRunAdmin(ReadOnlyAdmin):
    list_display = [
        "as_of",
        "status",
        "started_at",
        "finished_at",
        "loans_seen",
        "changed",
        "flags_raised",
        "flags_resolved",
        "attempts",
    ]
    list_filter = ["status"]


@admin.register(PlanningRun)
class PlanningRunAdmin(ReadOnlyAdmin):
    list_display = ["as_of", "full", "replanned", "created", "cancelled", "finished_at"]
    list_filter = ["full"]


class NightStepInline(admin.TabularInline):
    model = NightStep
    fields = ["name", "status", "blocked_by", "started_at", "heartbeat_at", "finished_at",
              "attempts", "worker", "error"]  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(NightRun)
class NightRunAdmin(ReadOnlyAdmin):
    """The nights' chains (portfolio.nightly); the runs page shows the same."""

    list_display = ["as_of", "status", "started_at", "finished_at", "starts", "trigger"]
    list_filter = ["status"]
    inlines = [NightStepInline]


@admin.register(Reclassification)
class ReclassificationAdmin(ReadOnlyAdmin):
    list_display = [
        "loan",
        "effective_on",
        "from_tier",
        "to_tier",
        "basis",
        "consecutive_missed",
        "proposed_by",
        "approved_by",
    ]
    list_filter = ["basis", "to_tier"]
    search_fields = ["loan__reference"]
    list_select_related = ["loan", "proposed_by", "approved_by"]
    date_hierarchy = "effective_on"


@admin.register(TierAdjustment)
class TierAdjustmentAdmin(ReadOnlyAdmin):
    list_display = [
        "loan",
        "proposed_tier",
        "quantitative_tier",
        "status",
        "proposed_by",
        "decided_by",
        "proposed_at",
    ]
    list_filter = ["status", "proposed_tier"]
    search_fields = ["loan__reference", "reason"]
    list_select_related = ["loan", "proposed_by", "decided_by"]


@admin.register(RiskFlag)
class RiskFlagAdmin(ReadOnlyAdmin):
    list_display = [
        "factor",
        "loan",
        "borrower",
        "guarantor",
        "source",
        "is_serious",
        "raised_on",
        "resolved_on",
    ]
    list_filter = ["factor", "source", "is_serious", ("resolved_on", admin.EmptyFieldListFilter)]
    search_fields = ["loan__reference", "borrower__name", "guarantor__name", "evidence"]
    list_select_related = ["loan", "borrower", "guarantor"]


@admin.register(Inspection)
class InspectionAdmin(ReadOnlyAdmin):
    list_display = ["loan", "kind", "slot", "due_on", "assigned_to", "status", "completed_on"]
    list_filter = ["kind", "status"]
    search_fields = ["loan__reference", "slot"]
    list_select_related = ["loan", "assigned_to"]
    date_hierarchy = "due_on"


@admin.register(InspectionReport)
class InspectionReportAdmin(ReadOnlyAdmin):
    list_display = ["loan", "inspection", "author", "status", "visited_at", "submitted_at"]
    list_filter = ["status", "method"]
    search_fields = ["loan__reference", "findings"]
    list_select_related = ["loan", "inspection", "author"]


@admin.register(CollectionPlan)
class CollectionPlanAdmin(ReadOnlyAdmin):
    list_display = ["loan", "kind", "status", "author", "decided_by", "created_at"]
    list_filter = ["kind", "status"]
    search_fields = ["loan__reference", "summary"]
    list_select_related = ["loan", "author", "decided_by"]
