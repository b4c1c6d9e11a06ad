"""The five-tier rule (docs/domain.md §4): the pure function as a table, then end to end on
real loans, real repayments and the nightly batch."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from loans import services as loan_services
from loans.models import Instalment
from postloan.models import Basis, Reclassification
from postloan.risk.rules import (
    DEFAULT_PROVISION_PERCENT,
    Adjustment,
    Tier,
    adjustment_lapses,
    final_tier,
    provision,
    quantitative_tier,
)
from tests.postloan.helpers import (
    assert_state_is_the_ledger,
    book,
    classify,
    pay,
    pay_instalments,
    risk,
)

N, SM, SS, D, L = (
    Tier.NORMAL,
    Tier.SPECIAL_MENTION,
    Tier.SUBSTANDARD,
    Tier.DOUBTFUL,
    Tier.LOSS,
)

# --- The pure rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missed", "tier"),
    [
        (0, N),
        (1, N),
        (2, N),  # 2/3 boundary
        (3, SM),
        (4, SS),  # 3/4 boundary
        (5, SS),
        (6, SS),  # 6/7 boundary
        (7, D),
        (8, D),
        (120, D),
    ],
)
def test_quantitative_tier_follows_the_missed_periods(missed, tier):
    assert quantitative_tier(missed) is tier


def test_a_negative_count_is_refused():
    with pytest.raises(ValueError):
        quantitative_tier(-1)


@given(st.integers(min_value=0, max_value=10_000))
def test_loss_is_never_reached_by_count_alone(missed):
    assert quantitative_tier(missed) is not L
    assert final_tier(quantitative_tier(missed), None).tier is not L


@pytest.mark.parametrize(
    ("adjusted", "at_approval", "now", "lapses"),
    [
        # An upgrade (better than the count): lapses only once the count is worse than
        # both the adjusted tier and the count at approval.
        (SM, SS, SS, False),
        (SM, SS, SM, False),
        (SM, SS, N, False),
        (SM, SS, D, True),
        (N, SM, SM, False),
        (N, SM, SS, True),
        (N, D, D, False),  # nothing is worse than doubtful by count
        # A downgrade (worse than the count): stays while the count stays at or below it.
        (SS, N, N, False),
        (SS, N, SM, False),
        (SS, N, SS, False),
        (SS, N, D, True),
        (D, N, D, False),
        (L, N, D, False),  # loss never lapses by count
        (L, D, D, False),
    ],
)
def test_adjustment_lapse_rule(adjusted, at_approval, now, lapses):
    adjustment = Adjustment(tier=adjusted, quantitative_tier_at_approval=at_approval)
    assert adjustment_lapses(adjustment, now) is lapses
    result = final_tier(now, adjustment)
    assert result.adjustment_lapsed is lapses
    assert result.tier is (now if lapses else adjusted)


@pytest.mark.parametrize("tier", list(Tier))
def test_without_an_adjustment_the_count_decides(tier):
    if tier is L:
        return
    result = final_tier(tier, None)
    assert (result.tier, result.adjustment_lapsed) == (tier, False)


@given(
    st.sampled_from(list(Tier)),
    st.sampled_from(list(Tier)),
    st.integers(min_value=0, max_value=50),
)
def test_final_tier_is_the_adjustment_or_the_count(adjusted, at_approval, missed):
    count = quantitative_tier(missed)
    result = final_tier(count, Adjustment(adjusted, at_approval))
    assert result.tier in (adjusted, count)
    if result.adjustment_lapsed:
        assert count.rank > adjusted.rank and count.rank > at_approval.rank
        assert result.tier is count
    else:
        assert result.tier is adjusted


def test_tier_order_and_non_performing():
    assert [t.rank for t in (N, SM, SS, D, L)] == [0, 1, 2, 3, 4]
    assert [t.is_non_performing for t in (N, SM, SS, D, L)] == [False, False, True, True, True]


@pytest.mark.parametrize(
    ("outstanding", "tier", "expected"),
    [
        (Decimal("100000.00"), N, Decimal("0.00")),
        (Decimal("100000.00"), SM, Decimal("2000.00")),
        (Decimal("100000.00"), SS, Decimal("25000.00")),
        (Decimal("100000.00"), D, Decimal("50000.00")),
        (Decimal("100000.00"), L, Decimal("100000.00")),
        (Decimal("333.33"), SM, Decimal("6.67")),  # 6.6666 to the fen, half up
        (Decimal("0.25"), D, Decimal("0.13")),  # 0.125 half up
    ],
)
def test_provision_is_outstanding_times_the_default_rate(outstanding, tier, expected):
    assert provision(outstanding, DEFAULT_PROVISION_PERCENT[tier]) == expected


# --- End to end: real loans, repayments and the batch --------------------------------------------


@pytest.fixture
def monthly(officer, product, branch):
    """12 monthly instalments due on the 15th from 2026-01-15, never paid unless a test pays."""
    return book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )


def _check(loan, as_of, missed, tier):
    classify(as_of)
    state = assert_state_is_the_ledger(loan, as_of)
    assert (state.consecutive_missed, state.quantitative_tier, state.tier) == (
        missed,
        tier.value,
        tier.value,
    ), f"as of {as_of}"
    return state


@pytest.mark.django_db
def test_every_boundary_end_to_end(monthly):
    for as_of, missed, tier in [
        (date(2026, 1, 15), 0, N),  # due today is not missed yet
        (date(2026, 1, 16), 1, N),
        (date(2026, 3, 15), 2, N),
        (date(2026, 3, 16), 3, SM),
        (date(2026, 4, 15), 3, SM),
        (date(2026, 4, 16), 4, SS),
        (date(2026, 7, 15), 6, SS),
        (date(2026, 7, 16), 7, D),
    ]:
        _check(monthly, as_of, missed, tier)
    history = list(
        Reclassification.objects.filter(loan=monthly)
        .order_by("effective_on")
        .values_list("from_tier", "to_tier", "basis", "consecutive_missed", "effective_on")
    )
    assert history == [
        ("normal", "special_mention", Basis.QUANTITATIVE, 3, date(2026, 3, 16)),
        ("special_mention", "substandard", Basis.QUANTITATIVE, 4, date(2026, 4, 16)),
        ("substandard", "doubtful", Basis.QUANTITATIVE, 7, date(2026, 7, 16)),
    ]
    state = risk(monthly)
    assert state.days_past_due == (date(2026, 7, 16) - date(2026, 1, 15)).days
    first_seven = Instalment.objects.filter(loan=monthly, seq__lte=7)
    assert state.overdue_amount == sum(i.amount_due for i in first_seven)


@pytest.mark.django_db
def test_grace_days_delay_the_miss(officer, product, branch):
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 2, 15),
        first_due_on=date(2026, 3, 15),
        grace_days=3,
    )
    state = _check(loan, date(2026, 3, 18), 0, N)  # 15 + 3 grace days: still in grace
    assert (state.days_past_due, state.overdue_amount) == (0, Decimal("0"))
    state = _check(loan, date(2026, 3, 19), 1, N)
    # Days past due run from the due date, not from the end of grace.
    assert state.days_past_due == 4
    assert state.overdue_amount == Instalment.objects.get(loan=loan, seq=1).amount_due
    _check(loan, date(2026, 5, 18), 2, N)  # the third instalment (05-15) is in grace
    _check(loan, date(2026, 5, 19), 3, SM)


@pytest.mark.django_db
def test_partial_payment_leaves_the_instalment_missed(monthly):
    first = Instalment.objects.get(loan=monthly, seq=1)
    half = first.interest_due + (first.principal_due / 2).quantize(Decimal("0.01"))
    pay(monthly, half, date(2026, 1, 15))
    pay(monthly, first.amount_due - half, date(2026, 1, 20))
    state = _check(monthly, date(2026, 1, 16), 1, N)
    assert state.overdue_amount == first.amount_due - half
    state = _check(monthly, date(2026, 1, 21), 0, N)
    assert state.overdue_amount == 0
    # One fen short of the second instalment is still a miss.
    second = Instalment.objects.get(loan=monthly, seq=2)
    pay(monthly, second.amount_due - Decimal("0.01"), date(2026, 2, 14))
    state = _check(monthly, date(2026, 2, 16), 1, N)
    assert state.overdue_amount == Decimal("0.01")


@pytest.mark.django_db
def test_catch_up_payment_resets_the_count(monthly):
    _check(monthly, date(2026, 3, 16), 3, SM)
    pay_instalments(monthly, 2, date(2026, 3, 18))
    _check(monthly, date(2026, 3, 18), 1, N)  # two of the three caught up
    pay_instalments(monthly, 1, date(2026, 3, 19))
    _check(monthly, date(2026, 3, 19), 0, N)
    history = list(
        Reclassification.objects.filter(loan=monthly)
        .order_by("effective_on")
        .values_list("from_tier", "to_tier", "basis")
    )
    assert history == [
        ("normal", "special_mention", Basis.QUANTITATIVE),
        ("special_mention", "normal", Basis.QUANTITATIVE),
    ]


@pytest.mark.django_db
def test_reversal_makes_the_tier_worse(officer, product, branch):
    # Dated around today, so that the run reads the cached paid columns.
    today = timezone.localdate()
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=today - timedelta(days=130),
        first_due_on=today - timedelta(days=100),
    )
    due = Instalment.objects.filter(loan=loan, due_on__lt=today).count()
    assert due == 4
    payment = pay_instalments(loan, due, today - timedelta(days=5))
    _check(loan, today, 0, N)
    loan_services.repayment_reverse(repayment=payment, reason="bounced")
    run = classify(today)
    assert run.attempts == 2
    state = assert_state_is_the_ledger(loan, today)
    assert (state.consecutive_missed, state.tier) == (4, "substandard")
    change = Reclassification.objects.get(loan=loan)
    assert (change.from_tier, change.to_tier, change.basis, change.run_id) == (
        "normal",
        "substandard",
        Basis.QUANTITATIVE,
        run.pk,
    )


@pytest.mark.django_db
def test_bullet_loan_ages_monthly_after_maturity(officer, product, branch):
    loan = book(
        officer,
        product=product,
        branch=branch,
        method="bullet",
        term_months=3,
        disbursed_on=date(2025, 10, 15),
    )
    assert loan.maturity_on == date(2026, 1, 15)
    for as_of, missed, tier in [
        (date(2026, 1, 15), 0, N),
        (date(2026, 1, 16), 1, N),
        (date(2026, 2, 14), 1, N),
        (date(2026, 2, 15), 2, N),
        (date(2026, 3, 14), 2, N),
        (date(2026, 3, 15), 3, SM),
        (date(2026, 4, 15), 4, SS),
        (date(2026, 7, 14), 6, SS),
        (date(2026, 7, 15), 7, D),
    ]:
        _check(loan, as_of, missed, tier)
    assert risk(loan).days_past_due == (date(2026, 7, 15) - date(2026, 1, 15)).days


@pytest.mark.django_db
def test_an_instalment_loan_keeps_ageing_after_its_last_due_date(officer, product, branch):
    loan = book(
        officer,
        product=product,
        branch=branch,
        term_months=2,
        disbursed_on=date(2025, 12, 10),
        first_due_on=date(2026, 1, 10),
    )
    _check(loan, date(2026, 2, 11), 2, N)
    _check(loan, date(2026, 3, 10), 3, SM)  # the first anniversary of the last due date
    # Paying the first instalment leaves the last one missed: it keeps ageing on its own.
    pay_instalments(loan, 1, date(2026, 3, 20))
    _check(loan, date(2026, 4, 10), 3, SM)  # the last (02-10) + 2 anniversaries


@pytest.mark.django_db
def test_month_end_due_dates(officer, product, branch):
    monthly = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 31),
        first_due_on=date(2026, 1, 31),
    )
    assert list(
        Instalment.objects.filter(loan=monthly, seq__lte=4).values_list("due_on", flat=True)
    ) == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    bullet = book(
        officer,
        product=product,
        branch=branch,
        method="bullet",
        term_months=3,
        disbursed_on=date(2025, 10, 31),
    )
    assert bullet.maturity_on == date(2026, 1, 31)
    for as_of, monthly_missed, bullet_missed in [
        (date(2026, 2, 27), 1, 1),
        (date(2026, 2, 28), 1, 2),  # Feb 28 is the bullet's first anniversary
        (date(2026, 3, 1), 2, 2),
        (date(2026, 3, 30), 2, 2),
        (date(2026, 3, 31), 2, 3),
        (date(2026, 4, 1), 3, 3),
        (date(2026, 4, 30), 3, 4),  # Apr 30 stands for the 31st the month lacks
    ]:
        classify(as_of)
        assert assert_state_is_the_ledger(monthly, as_of).consecutive_missed == monthly_missed
        assert assert_state_is_the_ledger(bullet, as_of).consecutive_missed == bullet_missed


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["equal_principal", "interest_first", "equal_installment"])
def test_every_repayment_method_with_partial_payments(officer, product, branch, method):
    loan = book(
        officer,
        product=product,
        branch=branch,
        method=method,
        disbursed_on=date(2025, 12, 5),
        first_due_on=date(2026, 1, 5),
    )
    pay_instalments(loan, 1, date(2026, 1, 5))
    pay(loan, Decimal("333.33"), date(2026, 3, 1))
    pay(loan, Decimal("5000.00"), date(2026, 6, 30))
    for as_of in [date(2026, 2, 6), date(2026, 3, 6), date(2026, 5, 6), date(2026, 7, 6)]:
        classify(as_of)
        assert_state_is_the_ledger(loan, as_of)


@pytest.mark.django_db
def test_every_loan_inserted_in_one_statement_gets_its_risk_state(monthly):
    """The database gives each new loan its risk state (one trigger call per statement)."""
    from django.db import connection

    from loans.models import Loan
    from postloan.models import LoanRiskState

    columns = [f.column for f in Loan._meta.concrete_fields if f.column not in ("id", "reference")]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO loans_loan (reference, {', '.join(columns)}) "
            f"SELECT reference || '-' || n, {', '.join(columns)} "
            "FROM loans_loan, generate_series(1, 3) n WHERE id = %s RETURNING id",
            [monthly.pk],
        )
        copies = [row[0] for row in cursor.fetchall()]
    states = LoanRiskState.objects.filter(loan_id__in=copies)
    assert sorted(states.values_list("loan_id", "tier", "consecutive_missed")) == [
        (pk, "normal", 0) for pk in sorted(copies)
    ]
    assert {s.outstanding_principal for s in states} == {Loan.objects.get(pk=monthly.pk).principal}
