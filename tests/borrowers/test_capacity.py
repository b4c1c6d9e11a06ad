"""Has a guarantor's capacity fallen? (Art. 5 (13), risk factor 13.) Pure, no database."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borrowers.capacity import Capacity, capacity_reductions

D = Decimal


def reasons(previous, current, **kwargs) -> list[str]:
    return [str(r) for r in capacity_reductions(previous, current, **kwargs)]


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        # The first assessment has nothing to compare with.
        (None, Capacity(D("10000")), []),
        # Income: down by exactly the threshold counts; a fen less does not.
        (Capacity(D("10000")), Capacity(D("8000")), ["monthly income fell by 20% or more"]),
        (Capacity(D("10000")), Capacity(D("8000.01")), []),
        (Capacity(D("10000")), Capacity(D("12000")), []),
        (Capacity(D("10000")), Capacity(D("0")), ["monthly income fell by 20% or more"]),
        # Nothing to compare: an unknown figure then or now, or nothing before.
        (Capacity(None), Capacity(D("100")), []),
        (Capacity(D("10000")), Capacity(None), []),
        (Capacity(D("0")), Capacity(D("0")), []),
        # Net assets follow the same rule.
        (
            Capacity(net_assets=D("2000000")),
            Capacity(net_assets=D("1500000")),
            ["net assets fell by 20% or more"],
        ),
        (Capacity(net_assets=D("2000000")), Capacity(net_assets=D("1700000")), []),
        # Credit standing: a higher number is worse.
        (Capacity(credit_standing=1), Capacity(credit_standing=2), ["credit standing worsened"]),
        (Capacity(credit_standing=3), Capacity(credit_standing=2), []),
        (Capacity(credit_standing=2), Capacity(credit_standing=2), []),
        # Ratings: AAA best … C worst.
        (Capacity(rating="AA"), Capacity(rating="BBB"), ["rating fell from AA to BBB"]),
        (Capacity(rating="BBB"), Capacity(rating="AA"), []),
        (Capacity(rating=""), Capacity(rating="C"), []),
        # An enterprise not operating normally is lower capacity, even on a first assessment.
        (None, Capacity(enterprise_status="bankrupt"), ["the enterprise is bankrupt"]),
        (Capacity(), Capacity(enterprise_status="merged"), ["the enterprise is merged"]),
        (
            Capacity(),
            Capacity(enterprise_status="restructuring"),
            ["the enterprise is restructuring"],
        ),
        (Capacity(enterprise_status="merged"), Capacity(enterprise_status="normal"), []),
        # Several at once: each is named.
        (
            Capacity(D("10000"), D("1000000"), 1, "A"),
            Capacity(D("5000"), D("500000"), 4, "CCC", "restructuring"),
            [
                "the enterprise is restructuring",
                "monthly income fell by 20% or more",
                "net assets fell by 20% or more",
                "credit standing worsened",
                "rating fell from A to CCC",
            ],
        ),
    ],
)
def test_capacity_reductions(previous, current, expected):
    assert reasons(previous, current) == expected


@pytest.mark.parametrize(
    ("drop_percent", "after", "lowered"),
    [(30, "7500", False), (30, "7000", True), (10, "9000", True), (10, "9000.01", False)],
)
def test_the_drop_that_counts_is_a_setting(drop_percent, after, lowered):
    found = reasons(Capacity(D("10000")), Capacity(D(after)), drop_percent=drop_percent)

    assert found == ([f"monthly income fell by {drop_percent}% or more"] if lowered else [])


@settings(max_examples=100, deadline=None)
@given(
    before=st.integers(min_value=1, max_value=10_000_000),
    after=st.integers(min_value=0, max_value=20_000_000),
    drop_percent=st.integers(min_value=1, max_value=99),
)
def test_income_counts_as_lower_exactly_when_it_fell_by_the_share(before, after, drop_percent):
    found = reasons(Capacity(D(before)), Capacity(D(after)), drop_percent=drop_percent)

    # (before - after) / before >= p / 100, in integers: no rounding at the edge.
    fell_enough = (before - after) * 100 >= drop_percent * before
    assert bool(found) == fell_enough
