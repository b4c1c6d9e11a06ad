"""Reads for classification: the risk panel of a loan, the watch list, the approval queue."""

from __future__ import annotations

from django.db.models import Q

from borrowers.models import Guarantee
from loans.selectors import loans_visible_to
from postloan.models import LoanRiskState, Reclassification, RiskFlag, TierAdjustment


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
