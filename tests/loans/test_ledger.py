"""The ledger: allocation of payments and the missed-period count (docs/domain.md §3-§4)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from loans.ledger import (
    AllocationLine,
    InstalmentDue,
    OverpaymentError,
    Payment,
    allocate,
    consecutive_missed_periods,
    position,
)
from loans.schedule import RepaymentMethod, add_months, generate_schedule

D = Decimal

# A 12-instalment loan due on the 10th of each month of 2026: 1,000.00 principal and
# 100.00 interest each, 12,000.00 principal and 13,200.00 in all.
TWELVE = [InstalmentDue(m, date(2026, m, 10), D("1000.00"), D("100.00")) for m in range(1, 13)]


def paid_on_time(months: int) -> list[Payment]:
    """The first `months` instalments of TWELVE, each paid in full on its due date."""
    return [Payment(f"on-time-{m}", date(2026, m, 10), D("1100.00")) for m in range(1, months + 1)]


# --- Allocation -------------------------------------------------------------------------------


def test_a_payment_goes_to_interest_then_principal_of_the_oldest_instalment():
    lines, states = allocate(TWELVE, [Payment("p", date(2026, 1, 10), D("1650.00"))])

    assert lines == [
        AllocationLine("p", 1, D("100.00"), D("1000.00")),
        AllocationLine("p", 2, D("100.00"), D("450.00")),
    ]
    assert (states[1].interest_paid, states[1].principal_paid) == (D("100.00"), D("450.00"))
    assert states[1].outstanding_principal == D("550.00")
    assert states[1].outstanding_interest == D("0.00")
    assert states[1].outstanding == D("550.00")
    assert states[0].is_paid
    assert not states[1].is_paid
    assert states[2].principal_paid == states[2].interest_paid == D("0")


def test_a_payment_smaller_than_the_interest_pays_interest_only():
    lines, states = allocate(TWELVE, [Payment("p", date(2026, 1, 10), D("40.00"))])

    assert lines == [AllocationLine("p", 1, D("40.00"), D("0.00"))]
    assert states[0].outstanding_interest == D("60.00")
    assert states[0].outstanding_principal == D("1000.00")


def test_payments_apply_in_date_order_then_key_order():
    payments = [
        Payment(2, date(2026, 1, 10), D("1100.00")),
        Payment(3, date(2026, 1, 9), D("1100.00")),
        Payment(1, date(2026, 1, 10), D("1100.00")),
    ]
    lines, _ = allocate(TWELVE, payments)

    assert [(line.payment_key, line.seq) for line in lines] == [(3, 1), (1, 2), (2, 3)]


def test_instalments_are_taken_oldest_first_whatever_order_they_come_in():
    shuffled = [TWELVE[2], TWELVE[0], TWELVE[1]]
    lines, states = allocate(shuffled, [Payment("p", date(2026, 1, 10), D("1200.00"))])

    assert [s.seq for s in states] == [1, 2, 3]
    assert [(line.seq, line.interest, line.principal) for line in lines] == [
        (1, D("100.00"), D("1000.00")),
        (2, D("100.00"), D("0.00")),
    ]


def test_an_early_payment_goes_to_the_next_instalment():
    payments = [
        Payment("early", date(2026, 1, 5), D("1100.00")),  # before the first due date
        Payment("ahead", date(2026, 1, 20), D("1100.00")),  # the second is due 2026-02-10
    ]
    lines, _ = allocate(TWELVE, payments)

    assert [(line.payment_key, line.seq) for line in lines] == [("early", 1), ("ahead", 2)]
    # Paid ahead, the second instalment is not missed when its due date passes.
    assert consecutive_missed_periods(TWELVE, payments, as_of=date(2026, 2, 11)) == 0
    assert consecutive_missed_periods(TWELVE, payments, as_of=date(2026, 3, 11)) == 1


def test_one_large_early_payment_covers_several_instalments():
    payments = [Payment("lump", date(2026, 1, 5), D("3300.00"))]

    assert consecutive_missed_periods(TWELVE, payments, as_of=date(2026, 4, 10)) == 0
    at = position(TWELVE, payments, as_of=date(2026, 4, 11))
    assert at.missed_seqs == (4,)
    assert at.days_past_due == 1


def test_overpayment_is_refused():
    payments = [*paid_on_time(11), Payment("last", date(2026, 12, 10), D("1100.01"))]

    with pytest.raises(OverpaymentError, match="exceed"):
        allocate(TWELVE, payments)
    with pytest.raises(ValueError):  # OverpaymentError is a ValueError
        position(TWELVE, payments, as_of=date(2026, 12, 31))


def test_paying_exactly_the_schedule_is_paid_in_full():
    at = position(TWELVE, paid_on_time(12), as_of=date(2027, 6, 1))

    assert at.paid_in_full
    assert at.outstanding_principal == at.outstanding_total == D("0")
    assert at.consecutive_missed_periods == 0
    assert at.missed_seqs == ()
    assert at.days_past_due == 0


@pytest.mark.parametrize("amount", [D("0"), D("-5.00"), D("10.001"), D("NaN")])
def test_a_payment_must_be_a_positive_amount_in_fen(amount):
    with pytest.raises(ValueError, match="payment 'p'"):
        allocate(TWELVE, [Payment("p", date(2026, 1, 10), amount)])


def test_a_malformed_schedule_is_refused():
    with pytest.raises(ValueError, match="at least one instalment"):
        allocate([], [])
    with pytest.raises(ValueError, match="unique"):
        allocate([TWELVE[0], TWELVE[0]], [])
    with pytest.raises(ValueError, match="negative"):
        allocate([InstalmentDue(1, date(2026, 1, 10), D("-1.00"), D("0.00"))], [])
    with pytest.raises(ValueError, match="grace_days"):
        position(TWELVE, [], as_of=date(2026, 1, 1), grace_days=-1)


# --- Consecutive missed periods: the boundaries of the tiers ----------------------------------


@pytest.mark.parametrize(
    ("as_of", "expected", "missed_seqs", "days_past_due"),
    [
        # paid for January and February; March (due 03-10) is the first unpaid instalment
        (date(2026, 3, 10), 0, (), 0),  # the due date itself is not yet missed
        (date(2026, 3, 11), 1, (3,), 1),
        (date(2026, 5, 10), 2, (3, 4), 61),  # 2/3 boundary
        (date(2026, 5, 11), 3, (3, 4, 5), 62),
        (date(2026, 6, 10), 3, (3, 4, 5), 92),  # 3/4 boundary
        (date(2026, 6, 11), 4, (3, 4, 5, 6), 93),
        (date(2026, 9, 10), 6, (3, 4, 5, 6, 7, 8), 184),  # 6/7 boundary
        (date(2026, 9, 11), 7, (3, 4, 5, 6, 7, 8, 9), 185),
    ],
)
def test_missed_periods_at_the_tier_boundaries(as_of, expected, missed_seqs, days_past_due):
    at = position(TWELVE, paid_on_time(2), as_of=as_of)

    assert at.consecutive_missed_periods == expected
    assert at.missed_seqs == missed_seqs
    assert at.days_past_due == days_past_due
    assert consecutive_missed_periods(TWELVE, paid_on_time(2), as_of=as_of) == expected


def test_amounts_of_a_loan_three_periods_behind():
    at = position(TWELVE, paid_on_time(2), as_of=date(2026, 5, 11))

    assert at.as_of == date(2026, 5, 11)
    assert at.outstanding_principal == D("10000.00")
    assert at.outstanding_total == D("11000.00")
    assert at.overdue_principal == D("3000.00")
    assert at.overdue_interest == D("300.00")
    assert at.overdue_amount == D("3300.00")
    assert not at.paid_in_full
    assert len(at.instalments) == 12


@pytest.mark.parametrize(
    ("as_of", "grace_days", "expected"),
    [
        (date(2026, 3, 13), 3, 0),  # due 03-10 + 3 days of grace
        (date(2026, 3, 14), 3, 1),
        (date(2026, 5, 13), 3, 2),
        (date(2026, 5, 14), 3, 3),
        (date(2026, 3, 11), 0, 1),
        (date(2026, 3, 11), 1, 0),
    ],
)
def test_grace_days_delay_the_miss(as_of, grace_days, expected):
    assert (
        consecutive_missed_periods(TWELVE, paid_on_time(2), as_of=as_of, grace_days=grace_days)
        == expected
    )


def test_days_past_due_runs_from_the_due_date_not_the_end_of_grace():
    at = position(TWELVE, paid_on_time(2), as_of=date(2026, 3, 14), grace_days=3)
    assert at.days_past_due == 4


@pytest.mark.parametrize(
    ("amount", "overdue_principal", "overdue_interest"),
    [
        (D("1099.99"), D("0.01"), D("0.00")),  # one fen of principal short
        (D("100.00"), D("1000.00"), D("0.00")),  # interest only
        (D("60.00"), D("1000.00"), D("40.00")),  # part of the interest
    ],
)
def test_a_partly_paid_instalment_is_still_missed(amount, overdue_principal, overdue_interest):
    payments = [*paid_on_time(2), Payment("partial", date(2026, 3, 10), amount)]
    at = position(TWELVE, payments, as_of=date(2026, 3, 11))

    assert at.consecutive_missed_periods == 1
    assert at.missed_seqs == (3,)
    assert at.overdue_principal == overdue_principal
    assert at.overdue_interest == overdue_interest
    assert at.overdue_amount == overdue_principal + overdue_interest


def test_a_catch_up_payment_covering_two_missed_instalments_brings_the_count_down_by_two():
    catch_up = Payment("catch-up", date(2026, 7, 1), D("2200.00"))
    payments = [*paid_on_time(2), catch_up]

    before = position(TWELVE, payments, as_of=date(2026, 6, 30))
    after = position(TWELVE, payments, as_of=date(2026, 7, 1))

    assert before.missed_seqs == (3, 4, 5, 6)
    assert before.consecutive_missed_periods == 4
    assert after.missed_seqs == (5, 6)
    assert after.consecutive_missed_periods == 2
    assert after.days_past_due == 52  # from 2026-05-10


def test_payments_after_as_of_are_ignored():
    payments = [*paid_on_time(2), Payment("late", date(2026, 4, 15), D("1100.00"))]

    assert position(TWELVE, payments, as_of=date(2026, 4, 14)).missed_seqs == (3, 4)
    assert position(TWELVE, payments, as_of=date(2026, 4, 15)).missed_seqs == (4,)
    assert position(TWELVE, payments, as_of=date(2026, 4, 14)).outstanding_principal == D(
        "10000.00"
    )


def test_a_refused_overpayment_after_as_of_does_not_disturb_an_earlier_position():
    payments = [*paid_on_time(12), Payment("extra", date(2027, 1, 5), D("0.01"))]

    assert position(TWELVE, payments, as_of=date(2027, 1, 4)).paid_in_full


# --- Past maturity: monthly anniversaries of the last due date -------------------------------

BULLET = [InstalmentDue(1, date(2026, 1, 15), D("10000.00"), D("600.00"))]


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2026, 1, 14), 0),
        (date(2026, 1, 15), 0),
        (date(2026, 1, 16), 1),
        (date(2026, 2, 14), 1),
        (date(2026, 2, 15), 2),
        (date(2026, 3, 14), 2),
        (date(2026, 3, 15), 3),
        (date(2026, 7, 15), 7),
        (date(2027, 1, 15), 13),
    ],
)
def test_an_unpaid_bullet_loan_keeps_ageing_after_maturity(as_of, expected):
    assert consecutive_missed_periods(BULLET, [], as_of=as_of) == expected


def test_bullet_ageing_with_grace_counts_anniversaries_of_the_due_date():
    assert consecutive_missed_periods(BULLET, [], as_of=date(2026, 1, 18), grace_days=3) == 0
    assert consecutive_missed_periods(BULLET, [], as_of=date(2026, 1, 19), grace_days=3) == 1
    assert consecutive_missed_periods(BULLET, [], as_of=date(2026, 2, 15), grace_days=3) == 2


def test_a_partial_payment_after_maturity_does_not_stop_the_ageing():
    payments = [Payment("part", date(2026, 2, 1), D("5000.00"))]
    at = position(BULLET, payments, as_of=date(2026, 3, 15))

    assert at.consecutive_missed_periods == 3
    assert at.days_past_due == 59
    assert at.overdue_interest == D("0.00")
    assert at.overdue_principal == D("5600.00")


def test_anniversaries_stop_counting_once_the_loan_is_repaid():
    payments = [Payment("settle", date(2026, 3, 20), D("10600.00"))]

    assert consecutive_missed_periods(BULLET, payments, as_of=date(2026, 3, 19)) == 3
    assert consecutive_missed_periods(BULLET, payments, as_of=date(2026, 3, 20)) == 0
    assert consecutive_missed_periods(BULLET, payments, as_of=date(2026, 6, 1)) == 0


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2026, 12, 10), 0),
        (date(2026, 12, 11), 1),
        (date(2027, 1, 9), 1),
        (date(2027, 1, 10), 2),
        (date(2027, 2, 10), 3),
    ],
)
def test_the_last_instalment_of_an_instalment_loan_ages_like_a_bullet(as_of, expected):
    assert consecutive_missed_periods(TWELVE, paid_on_time(11), as_of=as_of) == expected


def test_an_earlier_miss_plus_anniversaries_of_the_last_due_date():
    # November and December unpaid; on 2027-01-10 both are missed plus one anniversary.
    assert consecutive_missed_periods(TWELVE, paid_on_time(10), as_of=date(2027, 1, 10)) == 3


def test_anniversaries_wait_for_the_last_instalment_to_be_missed_even_with_long_grace():
    # With 40 days of grace, December's instalment is missed only after 2027-01-19; the
    # anniversary of 2027-01-10 counts from then on, not before.
    payments = paid_on_time(10)
    at = position(TWELVE, payments, as_of=date(2027, 1, 15), grace_days=40)
    assert at.missed_seqs == (11,)
    assert at.consecutive_missed_periods == 1
    assert consecutive_missed_periods(TWELVE, payments, as_of=date(2027, 1, 20), grace_days=40) == 3


MONTH_END = [
    InstalmentDue(1, date(2026, 1, 31), D("1000.00"), D("10.00")),
    InstalmentDue(2, date(2026, 2, 28), D("1000.00"), D("10.00")),
    InstalmentDue(3, date(2026, 3, 31), D("1000.00"), D("10.00")),
]


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2026, 2, 28), 1),
        (date(2026, 3, 1), 2),
        (date(2026, 3, 31), 2),
        (date(2026, 4, 1), 3),
        (date(2026, 4, 29), 3),
        (date(2026, 4, 30), 4),  # April lacks the 31st: the anniversary is the 30th
        (date(2026, 5, 30), 4),
        (date(2026, 5, 31), 5),
        (date(2026, 6, 30), 6),
        (date(2027, 2, 28), 14),
    ],
)
def test_month_end_due_dates_and_anniversaries(as_of, expected):
    assert consecutive_missed_periods(MONTH_END, [], as_of=as_of) == expected


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2026, 2, 27), 1),
        (date(2026, 2, 28), 2),
        (date(2026, 3, 30), 2),
        (date(2026, 3, 31), 3),
        (date(2026, 4, 30), 4),
    ],
)
def test_a_bullet_due_on_the_31st_ages_on_each_month_end(as_of, expected):
    bullet = [InstalmentDue(1, date(2026, 1, 31), D("5000.00"), D("250.00"))]
    assert consecutive_missed_periods(bullet, [], as_of=as_of) == expected


def test_a_generated_schedule_can_be_used_directly():
    schedule = generate_schedule(
        principal=D("120000.00"),
        annual_rate_percent=D("12"),
        term_months=12,
        method=RepaymentMethod.EQUAL_INSTALLMENT,
        first_due_on=date(2026, 1, 31),
    )
    payments = [Payment("first", date(2026, 1, 31), D("10661.85"))]
    at = position(schedule, payments, as_of=date(2026, 3, 1))

    assert at.missed_seqs == (2,)
    assert at.outstanding_principal == D("110538.15")


# --- Properties -------------------------------------------------------------------------------


@st.composite
def schedules(draw):
    count = draw(st.integers(min_value=1, max_value=18))
    first_due_on = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)))
    fen = st.integers(min_value=1, max_value=1_000_000).map(lambda f: D(f) / 100)
    interest = st.integers(min_value=0, max_value=100_000).map(lambda f: D(f) / 100)
    return [
        InstalmentDue(
            seq,
            add_months(first_due_on, seq - 1, anchor_day=first_due_on.day),
            draw(fen),
            draw(interest),
        )
        for seq in range(1, count + 1)
    ]


def total_due(instalments):
    return sum(i.principal + i.interest for i in instalments)


@st.composite
def payments_for(draw, instalments, *, pay_in_full=False):
    """Payments dated around the schedule, never more than it asks for in all."""
    start = instalments[0].due_on - timedelta(days=40)
    span = (instalments[-1].due_on - start).days + 400
    room = int(total_due(instalments) * 100)
    amounts = draw(st.lists(st.integers(min_value=1, max_value=max(room, 1)), max_size=8))
    payments = []
    for key, amount in enumerate(amounts):
        amount = min(amount, room)
        if amount == 0:
            break
        room -= amount
        paid_on = start + timedelta(days=draw(st.integers(min_value=0, max_value=span)))
        payments.append(Payment(key, paid_on, D(amount) / 100))
    if pay_in_full and room:
        paid_on = start + timedelta(days=draw(st.integers(min_value=0, max_value=span)))
        payments.append(Payment(len(payments), paid_on, D(room) / 100))
    return payments


def as_of_dates(instalments):
    return st.dates(
        min_value=instalments[0].due_on - timedelta(days=40),
        max_value=instalments[-1].due_on + timedelta(days=500),
    )


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_allocation_properties(data):
    instalments = data.draw(schedules())
    payments = data.draw(payments_for(instalments))
    lines, states = allocate(instalments, payments)

    for payment in payments:
        assert sum(line.amount for line in lines if line.payment_key == payment.key) == (
            payment.amount
        )
    for state in states:
        assert 0 <= state.interest_paid <= state.interest_due
        assert 0 <= state.principal_paid <= state.principal_due
        assert state.principal_paid == sum(
            line.principal for line in lines if line.seq == state.seq
        )
    # Oldest first: every instalment before a partly paid one is paid in full.
    touched = [s for s in states if s.principal_paid or s.interest_paid]
    if touched:
        last_touched = states.index(touched[-1])
        assert all(s.is_paid for s in states[:last_touched])
        assert all(not (s.principal_paid or s.interest_paid) for s in states[last_touched + 1 :])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_position_properties(data):
    instalments = data.draw(schedules())
    payments = data.draw(payments_for(instalments))
    as_of = data.draw(as_of_dates(instalments))
    grace_days = data.draw(st.integers(min_value=0, max_value=10))
    at = position(instalments, payments, as_of=as_of, grace_days=grace_days)

    counted = sum((p.amount for p in payments if p.paid_on <= as_of), D(0))
    assert at.outstanding_total == total_due(instalments) - counted
    assert 0 <= at.outstanding_principal <= sum(i.principal for i in instalments)

    # The missed instalments are one contiguous run, everything before it is paid and
    # nothing after it is past due.
    seqs = [s.seq for s in at.instalments]
    if at.missed_seqs:
        first = seqs.index(at.missed_seqs[0])
        run_end = first + len(at.missed_seqs)
        assert tuple(seqs[first:run_end]) == at.missed_seqs
        assert all(s.is_paid for s in at.instalments[:first])
        assert all(s.due_on + timedelta(days=grace_days) >= as_of for s in at.instalments[run_end:])
        assert at.days_past_due == (as_of - at.instalments[first].due_on).days
        assert at.days_past_due > grace_days
    else:
        assert at.days_past_due == 0
        assert all(
            s.is_paid or s.due_on + timedelta(days=grace_days) >= as_of for s in at.instalments
        )

    # Anniversaries of the last due date only while the last instalment is missed.
    last = at.instalments[-1]
    if at.missed_seqs and at.missed_seqs[-1] == last.seq:
        anniversaries = 0
        while add_months(last.due_on, anniversaries + 1, anchor_day=last.due_on.day) <= as_of:
            anniversaries += 1
        assert at.consecutive_missed_periods == len(at.missed_seqs) + anniversaries
    else:
        assert at.consecutive_missed_periods == len(at.missed_seqs)
    assert at.overdue_amount == at.overdue_principal + at.overdue_interest
    assert at.overdue_amount <= at.outstanding_total


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_fully_paid_schedule_has_nothing_missed_or_outstanding(data):
    instalments = data.draw(schedules())
    payments = data.draw(payments_for(instalments, pay_in_full=True))
    last_payment = max(p.paid_on for p in payments)
    as_of = last_payment + timedelta(days=data.draw(st.integers(min_value=0, max_value=800)))
    at = position(instalments, payments, as_of=as_of, grace_days=data.draw(st.integers(0, 10)))

    assert at.paid_in_full
    assert at.consecutive_missed_periods == 0
    assert at.missed_seqs == ()
    assert at.outstanding_total == at.outstanding_principal == 0
    assert at.overdue_amount == 0


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_without_new_payments_the_count_never_decreases(data):
    instalments = data.draw(schedules())
    payments = data.draw(payments_for(instalments))
    earlier = data.draw(as_of_dates(instalments))
    later = earlier + timedelta(days=data.draw(st.integers(min_value=1, max_value=400)))
    assume(not any(earlier < p.paid_on <= later for p in payments))
    grace_days = data.draw(st.integers(min_value=0, max_value=10))

    before = position(instalments, payments, as_of=earlier, grace_days=grace_days)
    after = position(instalments, payments, as_of=later, grace_days=grace_days)

    assert after.consecutive_missed_periods >= before.consecutive_missed_periods
    assert after.overdue_amount >= before.overdue_amount
    if before.missed_seqs:
        assert after.days_past_due == before.days_past_due + (later - earlier).days
