"""Reads for the field-work pages: a report, attachment, plan or step the user may see (404
otherwise), what a report's form and page show, and the collection plans of a user's book."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404

from borrowers.models import GuaranteeStatus
from loans.models import CollateralStatus
from loans.selectors import loans_actionable_by, loans_visible_to
from postloan.fieldwork.services import applicable_items
from postloan.inspections.selectors import inspections_visible_to
from postloan.models import (
    CollectionPlan,
    CollectionStep,
    Inspection,
    InspectionReport,
    ReportAttachment,
)


def report_for(user, pk: int, *, write: bool = False) -> InspectionReport:
    """The report if the user may see (or write) its loan; 404 otherwise."""
    loans = loans_actionable_by(user) if write else loans_visible_to(user)
    report = (
        InspectionReport.objects.select_related("loan", "loan__borrower", "inspection", "author")
        .filter(pk=pk)
        .filter(loan__in=loans)
        .first()
    )
    if report is None:
        raise Http404
    return report


def inspection_for(user, pk: int) -> Inspection:
    """The inspection (with its loan) if the user may see it; 404 otherwise."""
    inspection = inspections_visible_to(user).filter(pk=pk).select_related("loan").first()
    if inspection is None:
        raise Http404
    return inspection


def attachment_for(user, pk: int) -> ReportAttachment:
    """The attachment if the user may see its report's loan (the report page's own check);
    404 otherwise."""
    attachment = get_object_or_404(ReportAttachment.objects.select_related("report"), pk=pk)
    report_for(user, attachment.report_id)
    return attachment


def may_act_on(user, loan_id: int) -> bool:
    """Whether the user may write on the loan (report, addendum, plan steps)."""
    return loans_actionable_by(user).filter(pk=loan_id).exists()


def report_of(inspection) -> InspectionReport | None:
    """The inspection's report, started or submitted, if there is one."""
    return (
        InspectionReport.objects.select_related("loan", "loan__borrower", "inspection", "author")
        .filter(inspection=inspection)
        .first()
    )


def unstarted_report(inspection, *, by) -> InspectionReport:
    """The report an inspection would have, not saved: the blank form the field app keeps
    for an inspection nobody has started (version 0: nothing saved yet)."""
    return InspectionReport(inspection=inspection, loan=inspection.loan, author=by, version=0)


def report_form_choices(report: InspectionReport) -> dict:
    """What the report's form asks about: the checklist items it was started with (those
    that can apply, for a report not started yet), the collateral held and the guarantors
    actively backing the loan."""
    loan = report.loan
    return {
        "items": (
            list(report.answers.values_list("item", flat=True))
            if report.pk
            else applicable_items(loan)
        ),
        "collateral": list(loan.collateral.filter(status=CollateralStatus.HELD)),
        "guarantors": [
            g.guarantor
            for g in loan.guarantees.filter(status=GuaranteeStatus.ACTIVE).select_related(
                "guarantor"
            )
        ],
    }


def report_files(report: InspectionReport) -> dict:
    """The report's attachments and contact attempts (its form's side cards)."""
    if report.pk is None:
        return {"attachments": [], "attempts": []}
    return {
        "attachments": list(report.attachments.all()),
        "attempts": list(report.contact_attempts.all()),
    }


def report_record(report: InspectionReport) -> dict:
    """Everything a report holds, for its page: the checklist's answers, the collateral and
    guarantor checks, risk factors, attachments, attempts, addenda and plans."""
    return {
        "answers": list(report.answers.all()),
        "collateral_checks": list(report.collateral_checks.select_related("collateral")),
        "guarantor_checks": list(report.guarantor_checks.select_related("guarantor")),
        "factors": list(report.factors.all()),
        **report_files(report),
        "addenda": list(report.addenda.select_related("author")),
        "plans": list(report.plans.all()),
    }


def plan_for(user, pk: int, *, with_steps: bool = False) -> CollectionPlan:
    """The plan if the user may see its loan (its steps read too, for its page); 404 otherwise."""
    plans = CollectionPlan.objects.select_related("loan", "loan__borrower", "author", "decided_by")
    if with_steps:
        plans = plans.prefetch_related("steps")
    plan = plans.filter(pk=pk, loan__in=loans_visible_to(user)).first()
    if plan is None:
        raise Http404
    return plan


def step_for(user, pk: int) -> tuple[CollectionStep, CollectionPlan]:
    """The plan step and its plan if the user may see the plan's loan; 404 otherwise."""
    step = get_object_or_404(CollectionStep.objects.select_related("plan"), pk=pk)
    return step, plan_for(user, step.plan_id)


def plans_visible_to(user, *, status: str = ""):
    """The collection plans of the loans the user sees (of one status if given), pending
    by status, then oldest first."""
    plans = (
        CollectionPlan.objects.filter(loan__in=loans_visible_to(user))
        .select_related("loan", "loan__borrower", "author")
        .order_by("status", "created_at")
    )
    if status:
        plans = plans.filter(status=status)
    return plans
