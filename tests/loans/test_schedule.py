"""Repayment schedules: hand-checked tables and properties over random loans."""

from datetime import date
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loans.schedule import (
    RepaymentMethod,
    ScheduledInstalment,
    add_months,
    generate_schedule,
    monthly_due_dates,
)

D = Decimal


def rows(schedule):
    return [(i.seq, i.due_on, i.principal, i.interest) for i in schedule]


# --- Due dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "anchor_day", "expected"),
    [
        (date(2026, 1, 15), 1, None, date(2026, 2, 15)),
        (date(2026, 12, 15), 1, None, date(2027, 1, 15)),
        (date(2026, 1, 31), 1, None, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, None, date(2028, 2, 29)),  # leap year
        (date(2026, 1, 31), 3, None, date(2026, 4, 30)),
        (date(2026, 1, 30), 1, None, date(2026, 2, 28)),
        (date(2026, 2, 28), 1, None, date(2026, 3, 28)),  # without an anchor, the 28th stays
        (date(2026, 2, 28), 1, 31, date(2026, 3, 31)),  # a month-end series keeps its anchor
        (date(2026, 2, 28), 2, 30, date(2026, 4, 30)),
        (date(2026, 3, 31), -1, None, date(2026, 2, 28)),
        (date(2026, 1, 15), -1, None, date(2025, 12, 15)),
        (date(2026, 5, 10), 0, None, date(2026, 5, 10)),
        (date(2026, 1, 15), 24, None, date(2028, 1, 15)),
    ],
)
def test_add_months(day, months, anchor_day, expected):
    assert add_months(day, months, anchor_day=anchor_day) == expected


@pytest.mark.parametrize("anchor_day", [0, 32])
def test_add_months_refuses_an_impossible_anchor(anchor_day):
    with pytest.raises(ValueError, match="anchor_day"):
        add_months(date(2026, 1, 1), 1, anchor_day=anchor_day)


def test_month_end_due_dates_stay_on_the_month_end():
    assert monthly_due_dates(date(2026, 1, 31), 5) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]
    assert monthly_due_dates(date(2028, 1, 31), 3) == [
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
    ]


def test_due_dates_on_the_30th_cross_february_and_return():
    assert monthly_due_dates(date(2026, 12, 30), 4) == [
        date(2026, 12, 30),
        date(2027, 1, 30),
        date(2027, 2, 28),
        date(2027, 3, 30),
    ]


def test_no_due_dates_for_a_count_of_zero():
    assert monthly_due_dates(date(2026, 1, 31), 0) == []


# --- Hand-checked schedules -------------------------------------------------------------------


def test_equal_instalments_120k_at_12_percent_over_12_months():
    # r = 1%; A = 120000 * 0.01 * 1.01^12 / (1.01^12 - 1) = 10,661.854… → 10,661.85.
    schedule = generate_schedule(
        principal=D("120000.00"),
        annual_rate_percent=D("12"),
        term_months=12,
        method=RepaymentMethod.EQUAL_INSTALLMENT,
        first_due_on=date(2026, 2, 10),
    )
    expected = [  # (principal, interest); interest = remaining * 1 %, half up
        ("9461.85", "1200.00"),
        ("9556.47", "1105.38"),
        ("9652.03", "1009.82"),
        ("9748.55", "913.30"),
        ("9846.04", "815.81"),
        ("9944.50", "717.35"),
        ("10043.94", "617.91"),
        ("10144.38", "517.47"),
        ("10245.83", "416.02"),
        ("10348.29", "313.56"),
        ("10451.77", "210.08"),
        ("10556.35", "105.56"),  # the last takes the remaining principal: 10,661.91
    ]
    assert [(i.principal, i.interest) for i in schedule] == [(D(p), D(i)) for p, i in expected]
    assert [i.total for i in schedule[:-1]] == [D("10661.85")] * 11
    assert schedule[-1].total == D("10661.91")
    assert [i.seq for i in schedule] == list(range(1, 13))
    assert schedule[0].due_on == date(2026, 2, 10)
    assert schedule[-1].due_on == date(2027, 1, 10)


def test_equal_instalments_carry_the_rounding_to_the_last():
    # A = 10000 * 0.01 * 1.030301 / 0.030301 = 3,400.2211… → 3,400.22
    schedule = generate_schedule(
        principal=D("10000.00"),
        annual_rate_percent=D("12"),
        term_months=3,
        method="equal_installment",
        first_due_on=date(2026, 1, 31),
    )
    assert rows(schedule) == [
        (1, date(2026, 1, 31), D("3300.22"), D("100.00")),
        (2, date(2026, 2, 28), D("3333.22"), D("67.00")),  # 6,699.78 * 1 % = 66.9978
        (3, date(2026, 3, 31), D("3366.56"), D("33.67")),  # 3,366.56 * 1 % = 33.6656
    ]


def test_equal_instalments_at_a_non_round_rate():
    # 200,000 at 7.2 % → r = 0.6 %; A = 34,036.82 (checked with Decimal at 50 digits).
    schedule = generate_schedule(
        principal=D("200000.00"),
        annual_rate_percent=D("7.2"),
        term_months=6,
        method=RepaymentMethod.EQUAL_INSTALLMENT,
        first_due_on=date(2026, 3, 1),
    )
    assert [(i.principal, i.interest) for i in schedule] == [
        (D("32836.82"), D("1200.00")),
        (D("33033.84"), D("1002.98")),
        (D("33232.04"), D("804.78")),
        (D("33431.44"), D("605.38")),
        (D("33632.02"), D("404.80")),
        (D("33833.84"), D("203.00")),
    ]


def test_equal_instalments_at_a_zero_rate_split_the_principal():
    schedule = generate_schedule(
        principal=D("2000.00"),
        annual_rate_percent=D("0"),
        term_months=3,
        method=RepaymentMethod.EQUAL_INSTALLMENT,
        first_due_on=date(2026, 1, 10),
    )
    assert [(i.principal, i.interest) for i in schedule] == [
        (D("666.66"), D("0.00")),  # 666.666… truncated
        (D("666.66"), D("0.00")),
        (D("666.68"), D("0.00")),
    ]


def test_equal_instalments_over_one_month():
    schedule = generate_schedule(
        principal=D("5000.00"),
        annual_rate_percent=D("12"),
        term_months=1,
        method=RepaymentMethod.EQUAL_INSTALLMENT,
        first_due_on=date(2026, 1, 10),
    )
    assert rows(schedule) == [(1, date(2026, 1, 10), D("5000.00"), D("50.00"))]


def test_equal_principal_120k_at_12_percent_over_12_months():
    schedule = generate_schedule(
        principal=D("120000.00"),
        annual_rate_percent=D("12"),
        term_months=12,
        method=RepaymentMethod.EQUAL_PRINCIPAL,
        first_due_on=date(2026, 2, 10),
    )
    assert [i.principal for i in schedule] == [D("10000.00")] * 12
    # 1 % of 120,000, 110,000, … 10,000
    assert [i.interest for i in schedule] == [D(f"{k * 100}.00") for k in range(12, 0, -1)]


def test_equal_principal_puts_the_remainder_on_the_last():
    schedule = generate_schedule(
        principal=D("100000.00"),
        annual_rate_percent=D("12"),
        term_months=3,
        method=RepaymentMethod.EQUAL_PRINCIPAL,
        first_due_on=date(2026, 1, 10),
    )
    assert [(i.principal, i.interest) for i in schedule] == [
        (D("33333.33"), D("1000.00")),
        (D("33333.33"), D("666.67")),  # 66,666.67 * 1 % = 666.6667
        (D("33333.34"), D("333.33")),  # 33,333.34 * 1 % = 333.3334
    ]


def test_equal_principal_truncates_the_part_rather_than_rounding_it():
    # 1,000.00 / 6 = 166.666… → 166.66 (half up would give 166.67); the last takes 166.70
    schedule = generate_schedule(
        principal=D("1000.00"),
        annual_rate_percent=D("12"),
        term_months=6,
        method=RepaymentMethod.EQUAL_PRINCIPAL,
        first_due_on=date(2026, 1, 10),
    )
    assert [(i.principal, i.interest) for i in schedule] == [
        (D("166.66"), D("10.00")),
        (D("166.66"), D("8.33")),  # 833.34 * 1 %
        (D("166.66"), D("6.67")),  # 666.68 * 1 % = 6.6668
        (D("166.66"), D("5.00")),  # 500.02 * 1 %
        (D("166.66"), D("3.33")),  # 333.36 * 1 %
        (D("166.70"), D("1.67")),  # 166.70 * 1 % = 1.667
    ]


def test_interest_first_rounds_half_up():
    # 1,000.50 * 1 % = 10.005 → 10.01 (half up; banker's rounding would give 10.00)
    schedule = generate_schedule(
        principal=D("1000.50"),
        annual_rate_percent=D("12"),
        term_months=3,
        method=RepaymentMethod.INTEREST_FIRST,
        first_due_on=date(2026, 1, 31),
    )
    assert rows(schedule) == [
        (1, date(2026, 1, 31), D("0.00"), D("10.01")),
        (2, date(2026, 2, 28), D("0.00"), D("10.01")),
        (3, date(2026, 3, 31), D("1000.50"), D("10.01")),
    ]


@pytest.mark.parametrize(
    ("principal", "rate", "term", "interest"),
    [
        ("120000.00", "12", 12, "14400.00"),  # 120,000 * 1 % * 12
        ("50000.00", "8.5", 7, "2479.17"),  # 50,000 * 8.5 % / 12 * 7 = 2,479.1666…
        ("10000.00", "0", 6, "0.00"),
    ],
)
def test_bullet_is_one_instalment_at_maturity(principal, rate, term, interest):
    schedule = generate_schedule(
        principal=D(principal),
        annual_rate_percent=D(rate),
        term_months=term,
        method=RepaymentMethod.BULLET,
        first_due_on=date(2026, 9, 30),
    )
    assert rows(schedule) == [(1, date(2026, 9, 30), D(principal), D(interest))]


def test_a_principal_without_decimals_comes_back_in_fen():
    (only,) = generate_schedule(
        principal=D("8000"),
        annual_rate_percent=D("6"),
        term_months=1,
        method=RepaymentMethod.BULLET,
        first_due_on=date(2026, 1, 1),
    )
    assert str(only.principal) == "8000.00"
    assert str(only.interest) == "40.00"


def test_scheduled_instalment_total():
    assert ScheduledInstalment(1, date(2026, 1, 1), D("10.00"), D("0.55")).total == D("10.55")


# --- Validation -------------------------------------------------------------------------------


VALID = {
    "principal": D("10000.00"),
    "annual_rate_percent": D("12"),
    "term_months": 12,
    "method": RepaymentMethod.EQUAL_INSTALLMENT,
    "first_due_on": date(2026, 1, 10),
}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("principal", D("0"), "principal must be a positive"),
        ("principal", D("-100.00"), "principal must be a positive"),
        ("principal", D("100.001"), "at most 2 decimals"),
        ("principal", D("NaN"), "principal must be a positive"),
        ("term_months", 0, "term_months"),
        ("term_months", -3, "term_months"),
        ("term_months", 1.5, "term_months"),
        ("annual_rate_percent", D("-0.01"), "must not be negative"),
        ("method", "balloon", "unknown repayment method"),
    ],
)
def test_invalid_input_is_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        generate_schedule(**{**VALID, field: value})


@pytest.mark.parametrize("field", ["principal", "annual_rate_percent"])
def test_floats_are_refused(field):
    with pytest.raises(TypeError, match="float"):
        generate_schedule(**{**VALID, field: 12.5})


# --- Properties -------------------------------------------------------------------------------

principals = st.integers(min_value=100_000, max_value=500_000_000).map(lambda fen: D(fen) / 100)
rates = st.integers(min_value=0, max_value=3600).map(lambda hundredths: D(hundredths) / 100)
terms = st.integers(min_value=1, max_value=60)
methods = st.sampled_from(list(RepaymentMethod))
first_due_dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@settings(max_examples=300, deadline=None)
@given(principals, rates, terms, methods, first_due_dates)
def test_schedule_properties(principal, rate, term, method, first_due_on):
    schedule = generate_schedule(
        principal=principal,
        annual_rate_percent=rate,
        term_months=term,
        method=method,
        first_due_on=first_due_on,
    )

    assert sum(i.principal for i in schedule) == principal
    assert [i.seq for i in schedule] == list(range(1, len(schedule) + 1))
    for instalment in schedule:
        assert instalment.principal >= 0
        assert instalment.interest >= 0
        # every amount is whole fen
        assert instalment.principal == instalment.principal.quantize(D("0.01"))
        assert instalment.interest == instalment.interest.quantize(D("0.01"))
    dues = [i.due_on for i in schedule]
    assert all(earlier < later for earlier, later in pairwise(dues))
    assert dues[0] == first_due_on

    if method is RepaymentMethod.BULLET:
        assert len(schedule) == 1
    else:
        assert len(schedule) == term
        # monthly: the last due date is term - 1 months after the first
        months_apart = (dues[-1].year - dues[0].year) * 12 + dues[-1].month - dues[0].month
        assert months_apart == term - 1
    if method is RepaymentMethod.EQUAL_INSTALLMENT:
        assert len({i.total for i in schedule[:-1]}) <= 1
    if method is RepaymentMethod.EQUAL_PRINCIPAL:
        assert len({i.principal for i in schedule[:-1]}) <= 1
    if method is RepaymentMethod.INTEREST_FIRST:
        assert all(i.principal == 0 for i in schedule[:-1])
        assert len({i.interest for i in schedule}) == 1
    if rate == 0:
        assert all(i.interest == 0 for i in schedule)


@settings(max_examples=200, deadline=None)
@given(principals, st.integers(min_value=1, max_value=3600).map(lambda h: D(h) / 100), terms)
def test_equal_instalments_cost_no_more_than_interest_first(principal, rate, term):
    """Amortising repays principal early, so it never charges more interest in total."""
    common = {
        "principal": principal,
        "annual_rate_percent": rate,
        "term_months": term,
        "first_due_on": date(2026, 1, 10),
    }
    amortising = generate_schedule(**common, method=RepaymentMethod.EQUAL_INSTALLMENT)
    interest_first = generate_schedule(**common, method=RepaymentMethod.INTEREST_FIRST)
    assert sum(i.interest for i in amortising) <= sum(i.interest for i in interest_first)
