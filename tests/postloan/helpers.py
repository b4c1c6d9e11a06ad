"""Helpers for the classification tests: book loans on chosen dates, pay them, run the batch."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from django.utils import timezone

from common.money import ZERO
from loans import services as loan_services
from loans.models import Instalment, Loan
from loans.selectors import loan_position
from postloan.models import LoanRiskState
from postloan.risk import nightly as risk_nightly
from postloan.risk.rules import quantitative_tier
from tests.factories import book_loan, make_person

_references = itertools.count(1)


def book(officer, *, product, branch, borrower=None, **terms) -> Loan:
    """A loan booked through the service, on whatever (past) dates the test names."""
    return book_loan(
        borrower=borrower or make_person(),
        officer=officer,
        product=product,
        branch=branch,
        **terms,
    )


def pay(loan: Loan, amount: Decimal, paid_on: date):
    return loan_services.repayment_post(
        loan=loan,
        paid_on=paid_on,
        amount=Decimal(amount),
        channel="bank_transfer",
        reference=f"PAY-{next(_references)}",
    )


def owed_on_instalments(loan: Loan, count: int) -> Decimal:
    """What is still owed on the `count` oldest instalments not yet paid in full."""
    rows = [row for row in Instalment.objects.filter(loan=loan).order_by("seq") if row.outstanding]
    return sum((row.outstanding for row in rows[:count]), ZERO)


def pay_instalments(loan: Loan, count: int, paid_on: date):
    """Pay the `count` oldest open instalments in full, in one payment."""
    return pay(loan, owed_on_instalments(loan, count), paid_on)


def classify(as_of: date, **kwargs):
    return risk_nightly.classify_portfolio(as_of=as_of, **kwargs)


def risk(loan: Loan) -> LoanRiskState:
    return LoanRiskState.objects.get(loan=loan)


def assert_state_is_the_ledger(loan: Loan, as_of: date) -> LoanRiskState:
    """The stored state equals the pure ledger (loans.ledger) fed from the loan's rows."""
    state = risk(loan)
    expected = loan_position(loan, as_of=as_of)
    assert (
        state.consecutive_missed,
        state.days_past_due,
        state.outstanding_principal,
        state.overdue_amount,
        state.quantitative_tier,
    ) == (
        expected.consecutive_missed_periods,
        expected.days_past_due,
        expected.outstanding_principal,
        expected.overdue_amount,
        quantitative_tier(expected.consecutive_missed_periods).value,
    ), f"{loan.reference} as of {as_of}"
    return state


# --- Inspections (issue 6) --------------------------------------------------------------------


def restore_default_inspection_policy() -> None:
    """The default rules as migration 0004 creates them (when the table is empty).

    A transactional test (Celery worker, live server) ends with a flush that empties every
    table, the policy's defaults included; tests that rely on them put them back first.
    """
    from importlib import import_module

    from django.apps import apps

    import_module("postloan.migrations.0004_default_inspection_policy").create_rules(apps, None)


def set_tier(loan: Loan, tier: str, **fields) -> None:
    """Put a loan in a tier as the batch or an approved adjustment would leave it."""
    LoanRiskState.objects.filter(loan=loan).update(tier=tier, **fields)


def planned(loan: Loan, *, statuses=("open",), kinds=None) -> list[tuple]:
    """The loan's inspections as (kind, slot, due_on), in a stable order."""
    from postloan.models import Inspection

    rows = Inspection.objects.filter(loan=loan, status__in=statuses)
    if kinds is not None:
        rows = rows.filter(kind__in=kinds)
    return sorted(rows.values_list("kind", "slot", "due_on"))


# --- The risk state of a generated book -------------------------------------------------------

STATE_FIELDS = (
    "loan_id",
    "tier",
    "quantitative_tier",
    "consecutive_missed",
    "days_past_due",
    "outstanding_principal",
    "overdue_amount",
    "provision",
    "adjustment_id",
)


def today() -> date:
    return timezone.localdate()


def risk_states(loan_ids=None, fields=STATE_FIELDS) -> dict[int, tuple]:
    """Each loan's risk state as a tuple of `fields` (after the loan id), by loan id."""
    rows = LoanRiskState.objects.order_by("loan_id")
    if loan_ids is not None:
        rows = rows.filter(loan_id__in=loan_ids)
    return {row[0]: row[1:] for row in rows.values_list(*fields)}
