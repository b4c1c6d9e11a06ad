"""The day a loan officer takes along on the phone (the field app): which pages the phone
keeps, and each loan's summary card.

The phone keeps the officer's agenda (overdue, today and the next FIELD_DAYS_AHEAD days),
a card for each loan on it and the report form of each of its inspections — only the
officer's own book, never a colleague's (the pages' own access checks decide it: these
are the URLs of pages the officer may open).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Prefetch
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from borrowers.models import Guarantee, GuaranteeStatus
from loans.models import Collateral, CollateralStatus
from loans.selectors import loans_actionable_by
from postloan.inspections.selectors import agenda
from postloan.models import ContactAttempt, Inspection, InspectionReport, InspectionStatus
from postloan.risk.selectors import flags_for_loan

FIELD_DAYS_AHEAD = 7


def day_to_take_along(user, *, today=None) -> dict:
    """What the phone should keep, as URLs: the agenda, then for each open inspection
    assigned to the officer (overdue, today, the next days) its loan's card and its report
    form. Only loans the officer may write on: the phone exists to record visits."""
    today = today or timezone.localdate()
    inspections = list(
        agenda(user, today=today, days_ahead=FIELD_DAYS_AHEAD).filter(
            loan__in=loans_actionable_by(user)
        )
    )
    loan_ids = list(dict.fromkeys(i.loan_id for i in inspections))
    return {
        "user": user.pk,
        "taken_on": today.isoformat(),
        "keep_days": settings.FIELD_CACHE_DAYS,
        "pages": [
            reverse("postloan:agenda"),
            reverse("field_outbox"),
            *(reverse("postloan:field_card", args=[pk]) for pk in loan_ids),
            *(reverse("postloan:field_report", args=[i.pk]) for i in inspections),
        ],
        "inspections": len(inspections),
        "loans": len(loan_ids),
    }


def loan_card(user, pk: int, *, today=None) -> dict:
    """A loan's summary for the visit, in a fixed number of queries: the borrower and how
    to reach them, the tier and what is overdue, the guarantors and their phones, the
    collateral held, the last visit's findings, the open risk factors and any open promise
    to pay. 404 unless the user may write on the loan."""
    today = today or timezone.localdate()
    loan = (
        loans_actionable_by(user)
        .select_related("borrower", "product", "risk", "managing_officer")
        .prefetch_related(
            Prefetch(
                "guarantees",
                queryset=Guarantee.objects.filter(status=GuaranteeStatus.ACTIVE)
                .select_related("guarantor")
                .order_by("id"),
                to_attr="active_guarantees",
            ),
            Prefetch(
                "collateral",
                queryset=Collateral.objects.filter(status=CollateralStatus.HELD).order_by("id"),
                to_attr="held_collateral",
            ),
        )
        .filter(pk=pk)
        .first()
    )
    if loan is None:
        raise Http404
    last_visit = (
        InspectionReport.objects.filter(loan=loan, status=InspectionReport.Status.SUBMITTED)
        .select_related("author")
        .order_by("-visited_at", "-id")
        .first()
    )
    promise = (
        ContactAttempt.objects.filter(
            loan=loan, promise_on__gte=today, promise_broken_on__isnull=True
        )
        .order_by("-attempted_on", "-id")
        .first()
    )
    inspections = list(
        Inspection.objects.filter(
            loan=loan, assigned_to=user, status=InspectionStatus.OPEN
        ).order_by("due_on", "id")
    )
    return {
        "loan": loan,
        "inspections": inspections,
        "borrower": loan.borrower,
        "risk": getattr(loan, "risk", None),
        "guarantors": [g.guarantor for g in loan.active_guarantees],
        "collateral": loan.held_collateral,
        "last_visit": last_visit,
        "flags": list(flags_for_loan(loan)),
        "promise": promise,
        "today": today,
    }
