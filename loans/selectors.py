"""Reads about loans, and who may see or act on which loan."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.core.paginator import Paginator
from django.db import models
from django.db.models import (
    DateField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from common import roles
from common.money import ZERO
from loans import ledger
from loans.models import (
    Allocation,
    Collateral,
    Handover,
    Instalment,
    Loan,
    LoanProduct,
    LoanStatus,
    OfficerAssignment,
    Repayment,
    Valuation,
)


def active_products():
    """The products a loan may be booked under (the limit calculator's choice)."""
    return LoanProduct.objects.filter(is_active=True)


def products_for_groups():
    """The products a joint-guarantee group may borrow under."""
    return LoanProduct.objects.filter(allows_joint_group=True)


def loans_visible_to(user):
    """The one place that decides which loans a user may see.

    Risk managers, supervisors and admins read the whole portfolio; a loan officer
    reads the loans they manage or originated; anyone else reads nothing.
    """
    if roles.sees_whole_portfolio(user):
        return Loan.objects.all()
    if roles.is_loan_officer(user):
        return Loan.objects.filter(Q(managing_officer=user) | Q(originating_officer=user))
    return Loan.objects.none()


def loans_actionable_by(user):
    """Loans a user may record things on: officers their managed book, managers all."""
    if roles.is_admin(user) or roles.is_risk_manager(user):
        return Loan.objects.all()
    if roles.is_loan_officer(user):
        return Loan.objects.filter(managing_officer=user)
    return Loan.objects.none()


def loans_managed_by_others(user):
    """Loans another officer (or nobody) manages: their borrowers are not the user's to change."""
    return Loan.objects.exclude(managing_officer=user)


def outstanding_by_borrower(borrower_ids) -> dict[int, Decimal]:
    """Principal still owed on each borrower's active loans (one query): what the limit
    rule (borrowers/limits.py) counts against a borrower."""
    rows = (
        Instalment.objects.filter(
            loan__borrower_id__in=borrower_ids, loan__status=LoanStatus.ACTIVE
        )
        .values("loan__borrower_id")
        .annotate(total=Sum(F("principal_due") - F("principal_paid")))
    )
    return defaultdict(lambda: ZERO, {r["loan__borrower_id"]: r["total"] for r in rows})


def get_loan_for_user(user, pk: int, *, act: bool = False) -> Loan:
    """The loan, if the user may see it (or act on it); otherwise 404, revealing nothing."""
    queryset = loans_actionable_by(user) if act else loans_visible_to(user)
    try:
        return queryset.select_related(
            "borrower", "product", "branch", "group", "managing_officer", "originating_officer"
        ).get(pk=pk)
    except Loan.DoesNotExist as missing:
        raise Http404 from missing


def can_act_on(user, loan: Loan) -> bool:
    return loans_actionable_by(user).filter(pk=loan.pk).exists()


def _money_field() -> DecimalField:
    return DecimalField(max_digits=16, decimal_places=2)


def with_balances(queryset, *, today: date | None = None):
    """Annotate outstanding principal and whether any instalment is past due and unpaid."""
    today = today or timezone.localdate()
    instalments = Instalment.objects.filter(loan=OuterRef("pk"))
    outstanding = (
        instalments.values("loan")
        .annotate(total=Sum(F("principal_due") - F("principal_paid")))
        .values("total")
    )
    past_due = instalments.annotate(
        counts_from=ExpressionWrapper(F("due_on") + F("loan__grace_days"), output_field=DateField())
    ).filter(
        counts_from__lt=today,
        principal_paid__lt=F("principal_due"),
    )
    past_due_interest = instalments.annotate(
        counts_from=ExpressionWrapper(F("due_on") + F("loan__grace_days"), output_field=DateField())
    ).filter(counts_from__lt=today, interest_paid__lt=F("interest_due"))
    next_due = (
        instalments.filter(due_on__gte=today)
        .exclude(principal_paid=F("principal_due"), interest_paid=F("interest_due"))
        .order_by("seq")
        .values("due_on")[:1]
    )
    return queryset.annotate(
        outstanding_principal=Coalesce(
            Subquery(outstanding, output_field=_money_field()), Value(ZERO)
        ),
        is_overdue=Exists(past_due) | Exists(past_due_interest),
        next_due_on=Subquery(next_due, output_field=DateField()),
    )


def loan_list(user, *, filters: dict | None = None, today: date | None = None):
    filters = filters or {}
    queryset = loans_visible_to(user).select_related(
        "borrower", "product", "branch", "managing_officer"
    )
    if filters.get("q"):
        queryset = queryset.search(filters["q"])
    if filters.get("product"):
        queryset = queryset.filter(product=filters["product"])
    if filters.get("branch"):
        queryset = queryset.filter(branch=filters["branch"])
    if filters.get("status"):
        queryset = queryset.filter(status=filters["status"])
    if filters.get("officer"):
        queryset = queryset.filter(managing_officer=filters["officer"])
    queryset = with_balances(queryset, today=today)
    if filters.get("overdue") == "yes":
        queryset = queryset.filter(is_overdue=True, status=LoanStatus.ACTIVE)
    elif filters.get("overdue") == "no":
        queryset = queryset.filter(is_overdue=False)
    return queryset.order_by("-disbursed_on", "-id")


def loan_list_page(user, *, filters: dict | None = None, page=None, size: int = 25):
    """A page of the loan list with balances computed for that page's loans only.

    Paginating the annotated query would compute every loan's balance before sorting
    (an officer with 2,000 loans: 60 ms); ids are paged first, then annotated.
    """
    filters = filters or {}
    base = loans_visible_to(user)
    if filters.get("q"):
        base = base.search(filters["q"])
    for name in ("product", "branch", "status"):
        if filters.get(name):
            base = base.filter(**{name: filters[name]})
    if filters.get("officer"):
        base = base.filter(managing_officer=filters["officer"])
    if filters.get("overdue") in ("yes", "no"):
        base = with_balances(base).filter(is_overdue=filters["overdue"] == "yes")
        if filters["overdue"] == "yes":
            base = base.filter(status=LoanStatus.ACTIVE)
    ids = base.order_by("-disbursed_on", "-id").values_list("pk", flat=True)
    paginated = Paginator(ids, size).get_page(page)
    loans = {
        loan.pk: loan
        for loan in with_balances(
            Loan.objects.filter(pk__in=list(paginated.object_list))
            .select_related("borrower", "product", "managing_officer")
            # What the list shows, not every column of four tables.
            .only(
                "reference",
                "principal",
                "status",
                "grace_days",
                "borrower__name",
                "product__name",
                "managing_officer__username",
                "managing_officer__first_name",
                "managing_officer__last_name",
            )
        )
    }
    paginated.object_list = [loans[pk] for pk in paginated.object_list if pk in loans]
    return paginated


def loan_ledger_inputs(
    instalments, repayments
) -> tuple[list[ledger.InstalmentDue], list[ledger.Payment]]:
    dues = [
        ledger.InstalmentDue(i.seq, i.due_on, i.principal_due, i.interest_due) for i in instalments
    ]
    payments = [
        ledger.Payment(key=r.pk, paid_on=r.paid_on, amount=r.amount)
        for r in repayments
        if not r.is_reversed
    ]
    return dues, payments


def loan_position(loan: Loan, *, as_of: date | None = None) -> ledger.LoanPosition:
    """The loan's balances and consecutive missed periods as of a date (default today)."""
    dues, payments = loan_ledger_inputs(
        loan.instalments.order_by("seq"), loan.repayments.filter(reversed_at__isnull=True)
    )
    return ledger.position(
        dues, payments, as_of=as_of or timezone.localdate(), grace_days=loan.grace_days
    )


def loan_detail(loan: Loan, *, as_of: date | None = None) -> dict:
    """Everything the loan page shows, in a fixed number of queries."""
    as_of = as_of or timezone.localdate()
    instalments = list(loan.instalments.order_by("seq"))
    repayments = list(
        loan.repayments.select_related("recorded_by", "reversed_by")
        .prefetch_related(
            Prefetch("allocations", queryset=Allocation.objects.select_related("instalment"))
        )
        .order_by("paid_on", "id")
    )
    dues, payments = loan_ledger_inputs(instalments, repayments)
    position = ledger.position(dues, payments, as_of=as_of, grace_days=loan.grace_days)
    missed = set(position.missed_seqs)
    rows = []
    for instalment in instalments:
        if instalment.outstanding == 0:
            state = "paid"
        elif instalment.seq in missed:
            state = "overdue"
        elif instalment.due_on <= as_of:
            state = "due"  # due, within the grace days
        elif instalment.amount_paid > 0:
            state = "part_paid"
        else:
            state = "scheduled"
        rows.append({"instalment": instalment, "state": state})
    collateral = list(
        Collateral.objects.filter(loan=loan).prefetch_related(
            Prefetch("valuations", queryset=Valuation.objects.order_by("-valued_on", "-id"))
        )
    )
    latest_values = [
        c.valuations.all()[0].value for c in collateral if c.valuations.all() and c.status == "held"
    ]
    total_value = sum(latest_values, ZERO)
    loan_to_value = (
        (position.outstanding_principal / total_value * 100).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )
        if total_value > 0
        else None
    )
    return {
        "position": position,
        "schedule_rows": rows,
        "repayments": repayments,
        "guarantees": list(
            loan.guarantees.select_related("guarantor", "group").order_by("status", "id")
        ),
        "collateral": collateral,
        "collateral_value": total_value,
        "loan_to_value": loan_to_value,
        "assignments": list(
            OfficerAssignment.objects.filter(loan=loan)
            .select_related("from_officer", "to_officer", "assigned_by")
            .order_by("effective_on", "id")
        ),
        "status_changes": list(loan.status_changes.select_related("changed_by")),
        "handover": Handover.objects.filter(loan=loan)
        .select_related("from_officer", "to_officer")
        .first(),
    }


def handovers_for(user, *, today: date | None = None):
    """Pending and late handovers: an officer's own, or everyone's for managers."""
    today = today or timezone.localdate()
    queryset = Handover.objects.select_related("loan", "loan__borrower", "to_officer")
    if not roles.sees_whole_portfolio(user):
        queryset = queryset.filter(to_officer=user)
    return queryset.filter(Q(contacted_on__isnull=True) | Q(contacted_on__gt=F("due_on"))).order_by(
        "due_on"
    )


def repayments_visible_to(user):
    return Repayment.objects.filter(loan__in=loans_visible_to(user))


def book_summary(user, *, today: date | None = None) -> dict:
    """Counts for the landing page: the user's visible book, overdue loans, open handovers."""
    today = today or timezone.localdate()
    active = with_balances(loans_visible_to(user).filter(status=LoanStatus.ACTIVE), today=today)
    counts = active.aggregate(
        loans=models.Count("pk"),
        overdue=models.Count("pk", filter=Q(is_overdue=True)),
    )
    handovers = handovers_for(user, today=today).filter(contacted_on__isnull=True)
    counts["handovers_pending"] = handovers.count()
    counts["handovers_late"] = handovers.filter(due_on__lt=today).count()
    return counts
