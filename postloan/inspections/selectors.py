"""Reads about inspections: the officer's agenda, the managers' view, overdue counts."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.utils import timezone

from common import roles
from loans.selectors import loans_visible_to
from postloan.models import Inspection, InspectionStatus
from postloan.risk.rules import TIER_ORDER

TIER_RANK = Case(
    *[When(loan__risk__tier=tier.value, then=Value(-rank)) for rank, tier in enumerate(TIER_ORDER)],
    default=Value(0),
    output_field=IntegerField(),
)


def inspections_visible_to(user):
    """Officers: the inspections of their own book and those assigned to them."""
    if roles.sees_whole_portfolio(user):
        return Inspection.objects.all()
    if roles.is_loan_officer(user):
        return Inspection.objects.filter(Q(assigned_to=user) | Q(loan__in=loans_visible_to(user)))
    return Inspection.objects.none()


def _open_assigned(user, today: date, days_ahead: int):
    """Open inspections assigned to the user, overdue or due within `days_ahead` days."""
    return Inspection.objects.filter(
        assigned_to=user,
        status=InspectionStatus.OPEN,
        due_on__lte=today + timedelta(days=days_ahead),
    )


def agenda_counts(user, *, today: date | None = None, days_ahead: int = 31) -> dict:
    """How many inspections the agenda holds and how many of them are overdue: one query
    on the officer's index, without the joins the agenda's order needs."""
    today = today or timezone.localdate()
    return _open_assigned(user, today, days_ahead).aggregate(
        total=Count("id"), overdue=Count("id", filter=Q(due_on__lt=today))
    )


def agenda(user, *, today: date | None = None, days_ahead: int = 31):
    """What an officer has to do: open inspections due within a month or overdue, by due
    date and, on the same day, worst tier first."""
    today = today or timezone.localdate()
    return (
        _open_assigned(user, today, days_ahead)
        .select_related("loan", "loan__borrower", "loan__risk", "rule", "report")
        # What the agenda shows, not every column of six tables: it is the page an officer
        # opens most, often on a phone.
        .only(
            "loan_id",
            "kind",
            "due_on",
            "status",
            "reason",
            "rule_id",
            "loan__reference",
            "loan__borrower__name",
            "loan__risk__tier",
            "rule__name",
            "report__id",
        )
        .annotate(tier_rank=TIER_RANK)
        .order_by("due_on", "tier_rank", "loan__reference")
    )


def open_inspections(user, *, filters: dict | None = None, today: date | None = None):
    filters = filters or {}
    today = today or timezone.localdate()
    queryset = inspections_visible_to(user).filter(status=InspectionStatus.OPEN)
    if filters.get("officer"):
        queryset = queryset.filter(assigned_to=filters["officer"])
    if filters.get("branch"):
        queryset = queryset.filter(loan__branch=filters["branch"])
    if filters.get("kind"):
        queryset = queryset.filter(kind=filters["kind"])
    if filters.get("tier"):
        queryset = queryset.filter(loan__risk__tier=filters["tier"])
    if filters.get("overdue") == "yes":
        queryset = queryset.filter(due_on__lt=today)
    elif filters.get("overdue") == "no":
        queryset = queryset.filter(due_on__gte=today)
    return queryset.select_related(
        "loan", "loan__borrower", "loan__risk", "loan__branch", "assigned_to", "rule"
    ).order_by("due_on", "loan__reference")


def due_count(user, *, today: date | None = None) -> int:
    """The navbar badge: open inspections assigned to the user due within a week or late."""
    return _open_assigned(user, today or timezone.localdate(), 7).count()


def overdue_by_officer(*, today: date | None = None):
    """Open inspections past their due date, per officer (dashboard and scorecards)."""
    today = today or timezone.localdate()
    return (
        Inspection.objects.filter(status=InspectionStatus.OPEN, due_on__lt=today)
        .values(
            "assigned_to",
            "assigned_to__username",
            "assigned_to__first_name",
            "assigned_to__last_name",
        )
        .annotate(overdue=Count("id"))
        .order_by("-overdue")
    )


def open_warnings(user):
    """Broken promises and missed plan steps on the loans the user manages."""
    from postloan.models import EarlyWarning

    return (
        EarlyWarning.objects.filter(resolved_on__isnull=True, loan__managing_officer=user)
        .select_related("loan", "loan__borrower")
        .only("loan_id", "kind", "raised_on", "loan__reference", "loan__borrower__name")
        .order_by("raised_on", "id")
    )


def closures_to_write(user):
    """Closed loans the user manages that still lack their closure evaluation (Sec. 7)."""
    from loans.models import Loan

    return (
        Loan.objects.filter(managing_officer=user, closure__isnull=True)
        .exclude(status="active")
        .only("reference", "closed_on")
        .order_by("-closed_on")[:20]
    )
