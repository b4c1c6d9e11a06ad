"""The set-based rules of loans/ledger_sql.py held to their pure rules in loans/ledger.py:
positions as of a date (on a generated book, through the nightly run that uses them, and
read either way for a past date), the planner's choice between those two ways, and the
import's allocation (ALLOCATE_SQL) on the imported 100-loan fixture."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest
from django.db import connection

from loans import ledger, ledger_sql
from loans import services as loan_services
from loans.models import Allocation, Instalment, Loan, Repayment
from portfolio.generator import generate_portfolio
from postloan.risk.rules import DEFAULT_PROVISION_PERCENT, Tier, provision, quantitative_tier
from tests.portfolio import test_import
from tests.postloan.helpers import (
    classify,
)
from tests.postloan.helpers import (
    risk_states as _states,
)
from tests.postloan.helpers import (
    today as _today,
)

# The import's fixture: the 100-loan book imported row by row, and as a first load.
imported = test_import.imported

# --- The batch against the pure ledger, on a generated book --------------------------------------


class Book:
    """A generated portfolio's rows, loaded once, fed to loans.ledger per loan and date."""

    def __init__(self, first: int, last: int):
        self.first, self.last = first, last
        self.loans = {
            row[0]: row
            for row in Loan.objects.filter(pk__range=(first, last)).values_list(
                "id", "grace_days", "disbursed_on", "status", "closed_on"
            )
        }
        self.dues = defaultdict(list)
        for loan_id, seq, due_on, principal, interest in Instalment.objects.filter(
            loan_id__gte=first, loan_id__lte=last
        ).values_list("loan_id", "seq", "due_on", "principal_due", "interest_due"):
            self.dues[loan_id].append(ledger.InstalmentDue(seq, due_on, principal, interest))
        self.payments = defaultdict(list)
        for loan_id, key, paid_on, amount in Repayment.objects.filter(
            loan_id__gte=first, loan_id__lte=last, reversed_at__isnull=True
        ).values_list("loan_id", "id", "paid_on", "amount"):
            self.payments[loan_id].append(ledger.Payment(key, paid_on, amount))

    def open_on(self, as_of: date) -> set[int]:
        """The loans a run as of `as_of` classifies: disbursed by then, not yet closed."""
        return {
            loan_id
            for loan_id, _grace, disbursed_on, status, closed_on in self.loans.values()
            if disbursed_on <= as_of and (status == "active" or closed_on > as_of)
        }

    def position(self, loan_id: int, as_of: date) -> tuple:
        result = ledger.position(
            self.dues[loan_id],
            self.payments[loan_id],
            as_of=as_of,
            grace_days=self.loans[loan_id][1],
        )
        return (
            result.consecutive_missed_periods,
            result.days_past_due,
            result.outstanding_principal,
            result.overdue_amount,
        )


def _sql_positions(
    first: int, last: int, as_of: date, *, cached: bool, from_earlier: bool = False
) -> dict[int, tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            ledger_sql.positions_sql(use_cached_payments=cached, from_earlier=from_earlier),
            {"as_of": as_of, "lo": first, "hi": last},
        )
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def _mismatches(book: Book, computed: dict[int, tuple], as_of: date) -> list:
    return [
        (loan_id, as_of, computed[loan_id], book.position(loan_id, as_of))
        for loan_id in sorted(computed)
        if computed[loan_id] != book.position(loan_id, as_of)
    ]


@pytest.mark.django_db
def test_the_batch_agrees_with_the_ledger_for_every_generated_loan():
    today = _today()
    generated = generate_portfolio(loans=3000, as_of=today, tag="cmp")
    first, last = generated.first_loan_id, generated.first_loan_id + generated.loans - 1
    # A few reversals, so that both the cached columns and the past-date sums must skip them.
    repayments = Repayment.objects.filter(loan_id__gte=first, loan_id__lte=last).order_by("id")
    for repayment in list(repayments)[::997]:
        loan_services.repayment_reverse(repayment=repayment, reason="bounced")
    book = Book(first, last)
    methods = set(Loan.objects.filter(pk__range=(first, last)).values_list("repayment_method"))
    assert len(methods) == 4
    assert Loan.objects.filter(pk__range=(first, last), grace_days=3).exists()
    assert Loan.objects.filter(pk__range=(first, last), status="settled").exists()

    dates = [today - timedelta(days=400), today - timedelta(days=200), today - timedelta(days=45)]
    tiers_seen = set()
    for as_of in [*dates, today]:
        # The run itself (several chunks), in date order, so that each one writes the state.
        run = classify(as_of, chunk_size=700)
        assert (run.status, run.updated_state) == ("completed", True)
        expected_ids = book.open_on(as_of)
        computed = _sql_positions(first, last, as_of, cached=as_of >= today)
        assert set(computed) == expected_ids
        assert _mismatches(book, computed, as_of) == []
        # A past date read either way (today's paid columns less the later allocations, or
        # the sum of the earlier ones) gives the same positions.
        assert _sql_positions(first, last, as_of, cached=False, from_earlier=True) == computed
        assert _sql_positions(first, last, as_of, cached=False) == computed
        states = _states(expected_ids)
        for loan_id in expected_ids:
            missed, dpd, outstanding, overdue = book.position(loan_id, as_of)
            tier = quantitative_tier(missed).value
            assert states[loan_id] == (
                tier,
                tier,
                missed,
                dpd,
                outstanding,
                overdue,
                provision(outstanding, DEFAULT_PROVISION_PERCENT[Tier(tier)]),
                None,
            ), (loan_id, as_of)
            tiers_seen.add(tier)
    assert tiers_seen == {"normal", "special_mention", "substandard", "doubtful"}
    # Today, the sums of allocations agree with the cached paid columns.
    assert _sql_positions(first, last, today, cached=False) == _sql_positions(
        first, last, today, cached=True
    )


@pytest.mark.django_db
def test_an_old_date_is_read_from_the_payments_made_by_then(small_book):
    """The planner's estimates choose the cheaper side: a date before most repayments sums
    the earlier ones; a recent date subtracts the later ones."""
    today = _today()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE loans_repayment")
        assert ledger_sql.fewer_payments_before(cursor, today - timedelta(days=900))
        assert not ledger_sql.fewer_payments_before(cursor, today - timedelta(days=1))


# --- The allocation, on the imported fixture ----------------------------------------


def test_allocations_equal_the_pure_ledger_for_every_loan(imported):
    dues_by_loan = defaultdict(list)
    instalments = {}
    for i in Instalment.objects.all():
        dues_by_loan[i.loan_id].append(
            ledger.InstalmentDue(i.seq, i.due_on, i.principal_due, i.interest_due)
        )
        instalments[i.pk] = i
    payments = defaultdict(list)
    for r in Repayment.objects.filter(reversed_at__isnull=True):
        payments[r.loan_id].append(ledger.Payment(r.pk, r.paid_on, r.amount))
    stored = defaultdict(list)
    for a in Allocation.objects.all():
        instalment = instalments[a.instalment_id]
        stored[instalment.loan_id].append((a.repayment_id, instalment.seq, a.interest, a.principal))
    for loan_id, dues in dues_by_loan.items():
        lines, states = ledger.allocate(dues, payments[loan_id])
        expected = sorted((ln.payment_key, ln.seq, ln.interest, ln.principal) for ln in lines)
        assert sorted(stored[loan_id]) == expected, loan_id
        paid = {
            i.seq: (i.principal_paid, i.interest_paid)
            for i in instalments.values()
            if i.loan_id == loan_id
        }
        assert paid == {s.seq: (s.principal_paid, s.interest_paid) for s in states}, loan_id
