"""Repayments posted at the same moment on one loan, on real PostgreSQL.

Each thread has its own database connection and its own transaction, as two web workers
would; the loan row lock in `repayment_post` must serialise them so that no update is lost.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum

from loans import ledger, services
from loans.models import Allocation, Instalment, Loan, LoanStatus, Repayment
from tests.factories import book_loan

D = Decimal
SCHEDULE_TOTAL = 11 * D("10661.85") + D("10661.91")
THREADS = 20

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def loan(borrower, officer, product, branch):
    return book_loan(
        borrower=borrower,
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 1, 10),
    )


def run_at_once(work, arguments) -> list:
    """Run `work(argument)` in one thread per argument, all released together; return what
    each returned or raised."""
    start = threading.Barrier(len(arguments))
    outcomes: list = [None] * len(arguments)

    def thread_body(index, argument):
        try:
            start.wait(timeout=30)
            outcomes[index] = work(argument)
        except Exception as error:  # reported to the test below
            outcomes[index] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=thread_body, args=(index, argument))
        for index, argument in enumerate(arguments)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a posting thread hung"
    return outcomes


def post(loan_id: int, amount: Decimal, reference: str, paid_on=date(2026, 3, 1)):
    return services.repayment_post(
        loan=Loan(pk=loan_id),
        paid_on=paid_on,
        amount=amount,
        channel="bank_transfer",
        reference=reference,
    )


def assert_ledger_consistent(loan) -> Decimal:
    """The cached paid amounts, the allocation rows and a fresh allocation of the standing
    repayments all agree; returns the total paid."""
    repayments = list(Repayment.objects.filter(loan=loan, reversed_at__isnull=True))
    instalments = list(Instalment.objects.filter(loan=loan).order_by("seq"))
    _, states = ledger.allocate(
        [
            ledger.InstalmentDue(i.seq, i.due_on, i.principal_due, i.interest_due)
            for i in instalments
        ],
        [ledger.Payment(r.pk, r.paid_on, r.amount) for r in repayments],
    )
    assert [(s.seq, s.interest_paid, s.principal_paid) for s in states] == [
        (i.seq, i.interest_paid, i.principal_paid) for i in instalments
    ]
    for repayment in repayments:
        allocated = Allocation.objects.filter(repayment=repayment).aggregate(
            total=Sum("interest") + Sum("principal")
        )["total"]
        assert allocated == repayment.amount, repayment.reference
    return sum((i.interest_paid + i.principal_paid for i in instalments), D("0"))


def test_twenty_simultaneous_repayments_lose_no_update(loan):
    amounts = [D("1000.00") + D("37.13") * n for n in range(THREADS)]
    expected_total = sum(amounts, D("0"))
    assert expected_total < SCHEDULE_TOTAL

    outcomes = run_at_once(
        lambda n: post(loan.pk, amounts[n], f"PAR-{n:02d}"), list(range(THREADS))
    )

    errors = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert errors == []
    assert Repayment.objects.filter(loan=loan).count() == THREADS
    assert Repayment.objects.filter(loan=loan).aggregate(total=Sum("amount"))["total"] == (
        expected_total
    )
    assert assert_ledger_consistent(loan) == expected_total
    assert (
        Allocation.objects.filter(repayment__loan=loan).aggregate(
            total=Sum("interest") + Sum("principal")
        )["total"]
        == expected_total
    )
    loan.refresh_from_db()
    assert loan.status == LoanStatus.ACTIVE


def test_the_same_reference_posted_at_once_is_recorded_once(loan):
    outcomes = run_at_once(lambda _: post(loan.pk, D("100.00"), "BANK-SAME"), list(range(8)))

    recorded = [outcome for outcome in outcomes if isinstance(outcome, Repayment)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, ValidationError)]
    assert len(recorded) == 1
    assert len(refused) == 7, outcomes  # clear field errors, not database errors
    assert all("reference" in error.message_dict for error in refused)
    assert assert_ledger_consistent(loan) == D("100.00")


def test_two_payments_of_the_whole_balance_at_once_settle_the_loan_once(loan):
    outcomes = run_at_once(
        lambda n: post(loan.pk, SCHEDULE_TOTAL, f"ALL-{n}", paid_on=date(2026, 2, 1)),
        [0, 1, 2],
    )

    kinds = Counter(type(outcome).__name__ for outcome in outcomes)
    assert kinds == {"Repayment": 1, "ValidationError": 2}, outcomes
    loan.refresh_from_db()
    assert (loan.status, loan.closed_on) == (LoanStatus.SETTLED, date(2026, 2, 1))
    assert loan.status_changes.count() == 1
    assert assert_ledger_consistent(loan) == SCHEDULE_TOTAL
