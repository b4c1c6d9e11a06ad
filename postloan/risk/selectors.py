"""Reads for classification: the risk panel of a loan, the watch list, the approval queue,
a flag for its page, and the runs page's nights and classification runs."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404

from borrowers.models import Guarantee
from borrowers.selectors import get_borrower_for_user, get_guarantor_for_user
from common.roles import keeps_records
from loans.selectors import get_loan_for_user, loans_visible_to
from postloan.models import (
    ClassificationRun,
    ClosureEvaluation,
    EarlyWarning,
    Inspection,
    LoanRiskState,
    NightRun,
    Reclassification,
    RiskFlag,
    TierAdjustment,
)
from postloan.risk import nightly

RUNS_PER_PAGE = 10


def watched(factor: int | None = None) -> Q:
    """Loans reached by an open flag: on the loan, on its borrower, or on a guarantor
    actively backing it.

    Three uncorrelated IN-lists rather than one EXISTS with ORs: PostgreSQL hashes each
    list once, where the correlated form scanned every open flag for every loan (23,000
    loans × 30,000 flags: minutes instead of milliseconds).
    """
    flags = RiskFlag.objects.filter(resolved_on__isnull=True)
    if factor:
        flags = flags.filter(factor=factor)
    backed_by_flagged_guarantor = Guarantee.objects.filter(
        status="active", guarantor__in=flags.filter(guarantor__isnull=False).values("guarantor")
    ).values("loan")
    return (
        Q(pk__in=flags.filter(loan__isnull=False).values("loan"))
        | Q(borrower__in=flags.filter(borrower__isnull=False).values("borrower"))
        | Q(pk__in=backed_by_flagged_guarantor)
    )


def flags_for_loan(loan, *, include_resolved: bool = False):
    flags = RiskFlag.objects.filter(
        Q(loan=loan)
        | Q(borrower_id=loan.borrower_id)
        | Q(
            guarantor__in=Guarantee.objects.filter(loan=loan, status="active").values(
                "guarantor_id"
            )
        )
    ).select_related("raised_by", "resolved_by", "borrower", "guarantor")
    if not include_resolved:
        flags = flags.filter(resolved_on__isnull=True)
    return flags.order_by("resolved_on", "-raised_on", "-id")


def loan_risk_panel(loan) -> dict:
    state = LoanRiskState.objects.select_related("adjustment").filter(loan=loan).first()
    adjustments = list(
        TierAdjustment.objects.filter(loan=loan)
        .select_related("proposed_by", "decided_by")
        .order_by("-proposed_at")[:20]
    )
    return {
        "risk": state,
        "flags": list(flags_for_loan(loan, include_resolved=True)[:50]),
        "reclassifications": list(
            Reclassification.objects.filter(loan=loan)
            .select_related("proposed_by", "approved_by")
            .order_by("-effective_on", "-id")[:50]
        ),
        "adjustments": adjustments,
        "pending_adjustment": next(
            (a for a in adjustments if a.status == TierAdjustment.Status.PENDING), None
        ),
    }


def watch_list(user, *, filters: dict | None = None):
    filters = filters or {}
    loans = (
        loans_visible_to(user)
        .filter(status="active")
        .filter(watched(filters.get("factor")))
        .select_related("borrower", "branch", "managing_officer", "risk")
    )
    if filters.get("officer"):
        loans = loans.filter(managing_officer=filters["officer"])
    if filters.get("tier"):
        loans = loans.filter(risk__tier=filters["tier"])
    if filters.get("branch"):
        loans = loans.filter(branch=filters["branch"])
    return loans.order_by("-risk__consecutive_missed", "reference")


def open_flags_by_loan(loans) -> dict[int, list[RiskFlag]]:
    """The open flags reaching each of these loans, in one query (for list pages)."""
    loans = list(loans)
    ids = [loan.pk for loan in loans]
    borrower_ids = {loan.borrower_id for loan in loans}
    guarantees = Guarantee.objects.filter(loan_id__in=ids, status="active").values_list(
        "loan_id", "guarantor_id"
    )
    guarantors_of: dict[int, set[int]] = {}
    for loan_id, guarantor_id in guarantees:
        guarantors_of.setdefault(loan_id, set()).add(guarantor_id)
    all_guarantors = set().union(*guarantors_of.values()) if guarantors_of else set()
    flags = list(
        RiskFlag.objects.filter(resolved_on__isnull=True).filter(
            Q(loan_id__in=ids)
            | Q(borrower_id__in=borrower_ids)
            | Q(guarantor_id__in=all_guarantors)
        )
    )
    result: dict[int, list[RiskFlag]] = {loan.pk: [] for loan in loans}
    for loan in loans:
        for flag in flags:
            if (
                flag.loan_id == loan.pk
                or flag.borrower_id == loan.borrower_id
                or flag.guarantor_id in guarantors_of.get(loan.pk, ())
            ):
                result[loan.pk].append(flag)
    return result


def approval_queue():
    return (
        TierAdjustment.objects.filter(status=TierAdjustment.Status.PENDING)
        .select_related("loan", "loan__borrower", "proposed_by", "loan__risk")
        .order_by("proposed_at", "id")
    )


def get_flag_for_user(user, pk: int) -> RiskFlag:
    """The flag, if the user may see its subject (the same helpers as the subject's own
    pages); 404 otherwise."""
    flag = get_object_or_404(
        RiskFlag.objects.select_related("loan", "borrower", "guarantor"), pk=pk
    )
    if flag.loan_id:
        get_loan_for_user(user, flag.loan_id)
    elif flag.borrower_id:
        get_borrower_for_user(user, flag.borrower_id)
    else:
        get_guarantor_for_user(user, flag.guarantor_id)
    return flag


def runs_pages(number) -> dict:
    """Page `number` of the nights' chains (with their steps) and of the classification
    runs, the longer of the two for the pager, and whether a classification holds its lock
    now (a run shown as running while no process holds the lock was interrupted)."""
    nights = Paginator(NightRun.objects.prefetch_related("steps"), RUNS_PER_PAGE).get_page(number)
    classifications = Paginator(ClassificationRun.objects.all(), RUNS_PER_PAGE).get_page(number)
    return {
        "nights": nights,
        "classifications": classifications,
        "page": max(nights, classifications, key=lambda page: page.paginator.num_pages),
        "classifying": nightly.lock_is_held(nightly.LOCK_KEY),
    }


def loan_risk_context(request, loan) -> dict:
    """The risk panel and the field work of the loan page (loans.views.loan_detail, through
    postloan/seams.py): the classification, flags and adjustments, what the user may do,
    the latest inspections and plans, open early warnings and the closure evaluation."""
    panel = loan_risk_panel(loan)
    panel["can_propose"] = keeps_records(request.user) and loan.is_active
    panel["can_flag"] = keeps_records(request.user)
    panel["inspections"] = list(
        Inspection.objects.filter(loan=loan)
        .select_related("report", "assigned_to")
        .order_by("-due_on", "-id")[:12]
    )
    panel["plans"] = list(
        loan.collection_plans.select_related("author").order_by("-created_at")[:5]
    )
    panel["warnings"] = list(
        EarlyWarning.objects.filter(loan=loan, resolved_on__isnull=True).order_by("-raised_on")
    )
    panel["closure"] = ClosureEvaluation.objects.filter(loan=loan).first()
    return panel
