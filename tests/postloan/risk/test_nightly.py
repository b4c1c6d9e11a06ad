"""The nightly run's batch properties: idempotent, recoverable after a crash, backdated
runs that compute without overwriting, provisions. Its positions held to the pure rule:
tests/loans/test_ledger_sql.py."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections

from common.models import Notification
from loans.models import Loan
from portfolio.generator import generate_portfolio
from postloan.models import ClassificationRun, LoanRiskState, Reclassification, RiskFlag
from postloan.risk import nightly as risk_nightly
from postloan.risk.rules import DEFAULT_PROVISION_PERCENT, provision
from postloan.risk.services import provision_rates_update
from tests.postloan.helpers import (
    STATE_FIELDS,
    assert_state_is_the_ledger,
    book,
    classify,
    pay_instalments,
    risk,
)
from tests.postloan.helpers import (
    risk_states as _states,
)
from tests.postloan.helpers import (
    today as _today,
)

# --- Idempotency ----------------------------------------------------------------------------------


def _snapshot() -> dict:
    return {
        "states": _states(fields=(*STATE_FIELDS, "updated_at")),
        "reclassifications": Reclassification.objects.count(),
        "flags": list(RiskFlag.objects.order_by("id").values_list("id", "resolved_on")),
        "notifications": Notification.objects.count(),
    }


@pytest.mark.django_db
def test_running_twice_for_the_same_date_changes_nothing(small_book):
    today = _today()
    first = classify(today)
    assert first.changed > 0 and first.flags_raised > 0
    before = _snapshot()
    second = classify(today)
    assert second.pk == first.pk
    assert (second.attempts, second.changed, second.flags_raised, second.flags_resolved) == (
        2,
        0,
        0,
        0,
    )
    assert second.loans_seen == first.loans_seen
    # Not even updated_at moves: the second run writes no row.
    assert _snapshot() == before


# --- A run killed half-way ------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing records a failure."""


def _crash_on_call(monkeypatch, number: int, error: BaseException, *, after_a_change=False):
    """Make the `number`-th chunk (or the first one after that, once a chunk has changed
    a tier) raise `error`; returns the `lo` of every chunk started."""
    calls, changed = [], []
    real = risk_nightly._classify_chunk

    def crashing(*args, **kwargs):
        calls.append(kwargs["lo"])
        if len(calls) >= number and (any(changed) or not after_a_change):
            raise error
        result = real(*args, **kwargs)
        changed.append(result.changed)
        return result

    monkeypatch.setattr(risk_nightly, "_classify_chunk", crashing)
    return calls


def _outcome() -> dict:
    """Per loan: its state, its tier history and its automatic flags."""
    states = _states(fields=STATE_FIELDS)
    history = defaultdict(list)
    for row in Reclassification.objects.order_by("loan_id", "id").values_list(
        "loan_id", "from_tier", "to_tier", "basis", "consecutive_missed", "run__as_of"
    ):
        history[row[0]].append(row[1:])
    flags = defaultdict(list)
    for row in RiskFlag.objects.order_by("loan_id", "factor").values_list(
        "loan_id", "factor", "evidence", "raised_on", "resolved_on"
    ):
        flags[row[0]].append(row[1:])
    return {
        loan_id: (state, tuple(history[loan_id]), tuple(flags[loan_id]))
        for loan_id, state in states.items()
    }


def _forget_every_classification() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE postloan_reclassification, postloan_riskflag, "
            "postloan_classificationrun, common_notification CASCADE"
        )
    LoanRiskState.objects.update(
        tier="normal",
        quantitative_tier="normal",
        consecutive_missed=0,
        days_past_due=0,
        overdue_amount=0,
        provision=0,
        adjustment=None,
    )


@pytest.mark.django_db(transaction=True)
def test_a_killed_run_is_completed_by_running_it_again(monkeypatch):
    # given a book classified in chunks of two loans, whose process dies in the third chunk
    as_of = _today()
    generated = generate_portfolio(loans=40, as_of=as_of, tag="killed")
    calls = _crash_on_call(monkeypatch, 3, Killed(), after_a_change=True)
    with pytest.raises(Killed):
        risk_nightly.classify_portfolio(as_of=as_of, chunk_size=2)
    assert calls[-1] < generated.first_loan_id + 38  # half-way, not at the end
    run = ClassificationRun.objects.get(as_of=as_of)
    assert (run.status, run.attempts) == ("running", 1)  # nobody was left to record it
    committed = Reclassification.objects.filter(run=run).count()
    assert committed > 0  # the finished chunks' work is committed…
    assert max(Reclassification.objects.values_list("loan_id", flat=True)) < calls[-1]
    # …and nothing of the chunk that died
    assert not RiskFlag.objects.exists()  # the flags come after the last chunk
    # when it runs again
    monkeypatch.undo()
    run = risk_nightly.classify_portfolio(as_of=as_of, chunk_size=2)
    # then it completes; the second attempt counts only what the first left undone
    assert (run.status, run.attempts) == ("completed", 2)
    assert run.changed == Reclassification.objects.filter(run=run).count() - committed
    # one change per loan and run: no duplicates from the second attempt
    changes = Reclassification.objects.filter(run=run)
    changed = changes.count()
    assert changed == changes.values("loan_id").distinct().count()
    recovered = _outcome()
    # and the book ends exactly as a clean single run leaves it
    _forget_every_classification()
    clean_run = risk_nightly.classify_portfolio(as_of=as_of)
    assert clean_run.changed == changed
    assert _outcome() == recovered
    assert Reclassification.objects.filter(loan_id__gte=generated.first_loan_id).exists()


@pytest.mark.django_db
def test_a_failed_run_is_recorded_and_completed_on_retry(monkeypatch, small_book):
    today = _today()
    _crash_on_call(monkeypatch, 2, RuntimeError("disk full"))
    with pytest.raises(RuntimeError):
        risk_nightly.classify_portfolio(as_of=today, chunk_size=50)
    run = ClassificationRun.objects.get(as_of=today)
    assert run.status == "failed"
    assert "disk full" in run.errors
    assert run.finished_at is not None
    monkeypatch.undo()
    run = risk_nightly.classify_portfolio(as_of=today, chunk_size=50)
    assert (run.status, run.attempts, run.errors) == ("completed", 2, "")
    generated_ids = range(small_book.first_loan_id, small_book.first_loan_id + 300)
    for loan_id in generated_ids[:: 300 // 12]:
        assert_state_is_the_ledger(Loan.objects.get(pk=loan_id), today)


@pytest.mark.django_db(transaction=True)
def test_only_one_run_at_a_time():
    """One run at a time, whichever process starts it (a PostgreSQL advisory lock)."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [risk_nightly.LOCK_KEY])
        with pytest.raises(risk_nightly.RunInProgress):
            risk_nightly.classify_portfolio(as_of=_today())
        assert not ClassificationRun.objects.exists()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [risk_nightly.LOCK_KEY])
        assert risk_nightly.classify_portfolio(as_of=_today()).status == "completed"
    finally:
        other.close()


# --- Backdated runs -------------------------------------------------------------------------------


@pytest.fixture
def caught_up(officer, product, branch):
    """Three instalments missed, then all caught up on 2026-03-20."""
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    pay_instalments(loan, 3, date(2026, 3, 20))
    return loan


@pytest.mark.django_db
def test_a_backdated_run_computes_as_of_its_date(caught_up):
    run = classify(date(2026, 3, 19))  # before the payment
    state = assert_state_is_the_ledger(caught_up, date(2026, 3, 19))
    assert (state.consecutive_missed, state.tier, run.updated_state) == (3, "special_mention", True)
    assert RiskFlag.objects.filter(loan=caught_up, factor=1, resolved_on=None).exists()
    classify(date(2026, 3, 20))  # the day of the payment
    state = assert_state_is_the_ledger(caught_up, date(2026, 3, 20))
    assert (state.consecutive_missed, state.tier) == (0, "normal")
    flag = RiskFlag.objects.get(loan=caught_up, factor=1)
    assert flag.resolved_on == date(2026, 3, 20)


@pytest.mark.django_db
@pytest.mark.clock(date(2026, 11, 20))
def test_a_run_dated_before_a_newer_run_leaves_the_state_alone(caught_up):
    today = _today()
    classify(today)
    current = _states()
    reclassifications = Reclassification.objects.count()
    flags = list(RiskFlag.objects.values_list("id", "resolved_on"))
    # when someone backfills a date before the payment
    run = classify(date(2026, 3, 19))
    # then it computed (it saw the loan) but changed nothing
    assert (run.status, run.updated_state, run.loans_seen, run.changed) == (
        "completed",
        False,
        1,
        0,
    )
    assert (run.flags_raised, run.flags_resolved) == (0, 0)
    assert _states() == current
    state = assert_state_is_the_ledger(caught_up, today)  # still today's: April to November missed
    assert (state.consecutive_missed, state.tier) == (8, "doubtful")
    assert Reclassification.objects.count() == reclassifications
    assert list(RiskFlag.objects.values_list("id", "resolved_on")) == flags


# --- Provisions -----------------------------------------------------------------------------------


def _expected_provisions(rates: dict) -> dict[int, Decimal]:
    return {
        loan_id: provision(outstanding, Decimal(rates[tier]))
        for loan_id, tier, outstanding in LoanRiskState.objects.values_list(
            "loan_id", "tier", "outstanding_principal"
        )
    }


@pytest.mark.django_db
def test_provisions_follow_the_default_rates_and_their_changes(small_book, risk_manager):
    classify(_today())
    provisions = dict(LoanRiskState.objects.values_list("loan_id", "provision"))
    defaults = {tier.value: percent for tier, percent in DEFAULT_PROVISION_PERCENT.items()}
    assert provisions == _expected_provisions(defaults)
    assert {tier for (tier,) in LoanRiskState.objects.values_list("tier")} >= {
        "normal",
        "special_mention",
        "substandard",
        "doubtful",
    }
    assert any(value > 0 for value in provisions.values())
    # when a risk manager changes the rates
    rates = {
        "normal": Decimal("1.5"),
        "special_mention": Decimal("5"),
        "substandard": Decimal("30"),
        "doubtful": Decimal("60"),
        "loss": Decimal("100"),
    }
    provision_rates_update(rates=rates, by=risk_manager)
    # then every loan's provision is recomputed at once, and the next run keeps it
    assert dict(LoanRiskState.objects.values_list("loan_id", "provision")) == (
        _expected_provisions(rates)
    )
    classify(_today() + timedelta(days=1))
    assert dict(LoanRiskState.objects.values_list("loan_id", "provision")) == (
        _expected_provisions(rates)
    )


@pytest.mark.django_db
def test_only_risk_managers_change_provision_rates(officer):
    with pytest.raises(PermissionDenied):
        provision_rates_update(rates={"normal": Decimal("1")}, by=officer)


@pytest.mark.django_db
def test_provision_rates_must_lie_between_0_and_100(risk_manager):
    with pytest.raises(ValidationError):
        provision_rates_update(rates={"doubtful": Decimal("101")}, by=risk_manager)


# --- Settled loans and reruns after new data ----------------------------------------------------


@pytest.mark.django_db
def test_a_settled_loan_is_classified_one_last_time(officer, product, branch):
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    classify(date(2026, 3, 16))
    assert (risk(loan).tier, risk(loan).provision > 0) == ("special_mention", True)
    pay_instalments(loan, 12, date(2026, 3, 20))  # pays off the whole loan
    loan.refresh_from_db()
    assert (loan.status, loan.closed_on) == ("settled", date(2026, 3, 20))
    run = classify(date(2026, 3, 21))
    state = risk(loan)
    assert (
        state.tier,
        state.consecutive_missed,
        state.days_past_due,
        state.outstanding_principal,
        state.overdue_amount,
        state.provision,
    ) == ("normal", 0, 0, 0, 0, 0)
    assert (run.loans_seen, run.changed) == (1, 1)
    assert list(
        Reclassification.objects.filter(loan=loan).order_by("id").values_list("to_tier", "basis")
    ) == [("special_mention", "quantitative"), ("normal", "quantitative")]
    assert not RiskFlag.objects.filter(loan=loan, resolved_on=None).exists()
    # Afterwards the run leaves the closed loan alone.
    assert classify(date(2026, 4, 21)).loans_seen == 0


@pytest.mark.django_db
def test_a_rerun_records_a_change_made_since_the_first_attempt(officer, product, branch):
    today = _today()
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=today - timedelta(days=100),
        first_due_on=today - timedelta(days=70),
    )
    classify(today)
    assert (risk(loan).consecutive_missed, risk(loan).tier) == (3, "special_mention")
    pay_instalments(loan, 3, today)  # caught up after the nightly run
    run = classify(today)
    assert (run.attempts, run.changed) == (2, 1)
    assert (risk(loan).consecutive_missed, risk(loan).tier) == (0, "normal")
    history = list(
        Reclassification.objects.filter(loan=loan)
        .order_by("id")
        .values_list("from_tier", "to_tier", "effective_on")
    )
    assert history == [("normal", "special_mention", today), ("special_mention", "normal", today)]
    assert classify(today).changed == 0  # and a third attempt finds nothing new
