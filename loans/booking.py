"""Booking a disbursed loan: the checks, the loan, its schedule, guarantees and handover.

loan_book is one transaction in steps: every problem is found first and raised at once, by
field (a ValidationError reaches the form); then the loan, its instalments, its guarantees
(with a joint group's cross-guarantees), the officer's assignment and the handover are
written in that order, and the loan's inspections are planned (loans/replanning.py).
loans.services re-exports loan_book, the loans' write API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from borrowers.limits import principal_over_limit
from borrowers.models import Borrower, Guarantor, JointGroup, LegalStatus
from borrowers.services import active_group_of, cross_guarantees_for_loan, guarantee_add
from common import texts
from common.calendar import add_working_days
from common.models import BusinessSettings
from common.roles import is_loan_officer
from loans.models import (
    Handover,
    Instalment,
    Loan,
    LoanProduct,
    OfficerAssignment,
    ScheduleSource,
)
from loans.replanning import replan
from loans.schedule import ScheduledInstalment, generate_schedule
from loans.selectors import outstanding_by_borrower
from loans.terms import default_first_due_on, validate_explicit_schedule, validate_loan_terms


@dataclass(frozen=True)
class _Booking:
    """One booking's inputs as loan_book received them, its first due date and today set."""

    borrower: Borrower
    product: LoanProduct
    branch: object
    principal: Decimal
    annual_rate: Decimal
    term_months: int
    repayment_method: str
    disbursed_on: date
    originating_officer: object
    managing_officer: object
    first_due_on: date
    purpose: str
    guarantors: Sequence[Guarantor]
    explicit_schedule: Sequence[ScheduledInstalment] | None
    reference: str
    grace_days: int | None
    enforce_limit: bool
    by: object
    today: date


@transaction.atomic
def loan_book(
    *,
    borrower: Borrower,
    product: LoanProduct,
    branch,
    principal: Decimal,
    annual_rate: Decimal,
    term_months: int,
    repayment_method: str,
    disbursed_on: date,
    originating_officer,
    managing_officer,
    first_due_on: date | None = None,
    purpose: str = "",
    guarantors: Sequence[Guarantor] = (),
    explicit_schedule: Sequence[ScheduledInstalment] | None = None,
    reference: str = "",
    grace_days: int | None = None,
    enforce_limit: bool = True,
    by=None,
    today: date | None = None,
) -> Loan:
    """Book a disbursed loan: its schedule, guarantees and the handover to its officer.

    A borrower in an active joint group of this product books inside the group: the
    other members' cross-guarantees are created automatically.
    """
    booking = _Booking(
        borrower=borrower,
        product=product,
        branch=branch,
        principal=principal,
        annual_rate=annual_rate,
        term_months=term_months,
        repayment_method=repayment_method,
        disbursed_on=disbursed_on,
        originating_officer=originating_officer,
        managing_officer=managing_officer,
        first_due_on=first_due_on
        or (
            explicit_schedule[0].due_on
            if explicit_schedule
            else default_first_due_on(disbursed_on, repayment_method, term_months)
        ),
        purpose=purpose,
        guarantors=guarantors,
        explicit_schedule=explicit_schedule,
        reference=reference,
        grace_days=grace_days,
        enforce_limit=enforce_limit,
        by=by,
        today=today or timezone.localdate(),
    )
    group = _check(booking)
    rows = _schedule_rows(booking)
    loan = _save_loan(booking, group=group, rows=rows)
    _save_instalments(loan, rows)
    _add_guarantees(loan, booking)
    _hand_over(loan, booking)
    replan(loan)  # the handover's first-contact inspection, due with the handover
    return loan


def _add(errors: dict[str, list], field: str, message) -> None:
    errors.setdefault(field, []).append(message)


def _check(b: _Booking) -> JointGroup | None:
    """Every problem with the booking, raised at once by field; else the joint group the
    loan books in (None: it books alone)."""
    errors = validate_loan_terms(
        product=b.product,
        principal=b.principal,
        annual_rate=b.annual_rate,
        term_months=b.term_months,
        repayment_method=b.repayment_method,
        disbursed_on=b.disbursed_on,
        first_due_on=b.first_due_on,
        today=b.today,
    )
    group = _check_borrower(b, errors)
    _check_officers_and_schedule(b, errors)
    if errors:
        raise ValidationError(errors)
    return group


def _check_borrower(b: _Booking, errors: dict[str, list]) -> JointGroup | None:
    """The borrower's legal status, group or guarantors, and limit; returns the group."""
    if b.borrower.legal_status != LegalStatus.NORMAL:
        _add(
            errors,
            "borrower",
            _("A loan cannot be booked for a borrower whose legal status is %(s)s.")
            % {"s": b.borrower.get_legal_status_display()},
        )
    group = active_group_of(b.borrower)
    if group is not None and group.product_id != b.product.pk:
        group = None  # a group belongs to its product; another product books alone
    if group is None and len(b.guarantors) < b.product.min_guarantors:
        _add(
            errors,
            "guarantors",
            _("%(product)s needs at least %(count)d guarantor(s) outside a joint group.")
            % {"product": b.product.name, "count": b.product.min_guarantors},
        )
    if any(g.borrower_id == b.borrower.pk for g in b.guarantors):
        _add(errors, "guarantors", _("A borrower cannot guarantee their own loan."))
    if b.enforce_limit and not errors.get("principal"):
        problem = principal_over_limit(
            name=b.borrower.name,
            limit=b.product.per_person_limit,
            owed=outstanding_by_borrower([b.borrower.pk])[b.borrower.pk],
            principal=b.principal,
        )
        if problem:
            _add(errors, "principal", problem)
    return group


def _check_officers_and_schedule(b: _Booking, errors: dict[str, list]) -> None:
    """The two officers, a reference given by hand, and a schedule given row by row."""
    for field, officer in [
        ("originating_officer", b.originating_officer),
        ("managing_officer", b.managing_officer),
    ]:
        if officer is None or not officer.is_active or not is_loan_officer(officer):
            _add(errors, field, _("Choose an active loan officer."))
    if b.reference and Loan.objects.filter(reference=b.reference).exists():
        _add(errors, "reference", _("A loan with this reference already exists."))
    if b.explicit_schedule is not None and b.principal and b.disbursed_on:
        for problem in validate_explicit_schedule(
            b.explicit_schedule, principal=b.principal, disbursed_on=b.disbursed_on
        ):
            _add(errors, "schedule", problem)


def _schedule_rows(b: _Booking) -> list[ScheduledInstalment]:
    """The schedule as given, or generated from the terms."""
    if b.explicit_schedule is not None:
        return list(b.explicit_schedule)
    return generate_schedule(
        principal=b.principal,
        annual_rate_percent=b.annual_rate,
        term_months=b.term_months,
        method=b.repayment_method,
        first_due_on=b.first_due_on,
    )


def _next_loan_reference(disbursed_on: date) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('loans_loan_reference_seq')")
        (number,) = cursor.fetchone()
    return f"DK-{disbursed_on.year}-{number:06d}"


def _save_loan(
    b: _Booking, *, group: JointGroup | None, rows: Sequence[ScheduledInstalment]
) -> Loan:
    """The loan itself, its reference drawn from the sequence unless one was given."""
    loan = Loan(
        reference=b.reference or _next_loan_reference(b.disbursed_on),
        borrower=b.borrower,
        product=b.product,
        branch=b.branch,
        group=group,
        principal=b.principal,
        annual_rate=b.annual_rate,
        term_months=b.term_months,
        repayment_method=b.repayment_method,
        disbursed_on=b.disbursed_on,
        first_due_on=rows[0].due_on,
        maturity_on=rows[-1].due_on,
        grace_days=b.product.grace_days if b.grace_days is None else b.grace_days,
        purpose=b.purpose,
        schedule_source=(
            ScheduleSource.EXPLICIT if b.explicit_schedule is not None else ScheduleSource.GENERATED
        ),
        originating_officer=b.originating_officer,
        managing_officer=b.managing_officer,
    )
    loan.full_clean()
    loan.save()
    return loan


def _save_instalments(loan: Loan, rows: Sequence[ScheduledInstalment]) -> None:
    Instalment.objects.bulk_create(
        Instalment(
            loan=loan,
            seq=row.seq,
            due_on=row.due_on,
            principal_due=row.principal,
            interest_due=row.interest,
        )
        for row in rows
    )


def _add_guarantees(loan: Loan, b: _Booking) -> None:
    """The guarantors given, signed on the disbursement; then, in a joint group, every
    other member's cross-guarantee."""
    for guarantor in b.guarantors:
        guarantee_add(loan=loan, guarantor=guarantor, signed_on=b.disbursed_on)
    cross_guarantees_for_loan(loan=loan, by=b.by)


def _hand_over(loan: Loan, b: _Booking) -> None:
    """The managing officer's first assignment, and the handover from the originating
    officer due a few working days after the disbursement (BusinessSettings)."""
    OfficerAssignment.objects.create(
        loan=loan,
        from_officer=None,
        to_officer=b.managing_officer,
        effective_on=b.disbursed_on,
        assigned_by=b.by,
        reason=texts.DISBURSEMENT,
    )
    settings = BusinessSettings.current()
    due = add_working_days(b.disbursed_on, settings.handover_working_days)
    Handover.objects.create(
        loan=loan,
        from_officer=b.originating_officer,
        to_officer=b.managing_officer,
        due_on=due.day,
        due_is_provisional=due.provisional,
    )
