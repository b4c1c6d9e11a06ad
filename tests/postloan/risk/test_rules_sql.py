"""The classification's SQL expressions (postloan/risk/rules_sql.py) decide as the pure
rules do (postloan/risk/rules.py), for every input: a change to a rule reaches the
nightly run, the past-date positions, the export and the month-end snapshot at once."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from django.db import connection

from postloan.risk.rules import (
    TIER_ORDER,
    Adjustment,
    Tier,
    adjustment_lapses,
    final_tier,
    quantitative_tier,
)
from postloan.risk.rules_sql import (
    NON_PERFORMING_SQL,
    adjustment_lapses_sql,
    final_tier_sql,
    quantitative_tier_sql,
    rank_sql,
)

ROOT = Path(__file__).resolve().parents[2]


def _select(expression: str, rows: list[tuple], columns: str) -> list:
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(rows[0])) + ")"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {expression} FROM (VALUES {placeholders}) AS v({columns}) ORDER BY v.n",
            [value for row in rows for value in row],
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_the_count_gives_the_pure_rules_tier_for_every_count():
    counts = list(range(0, 40))
    rows = [(n, n) for n in counts]
    assert _select(quantitative_tier_sql("v.missed"), rows, "n, missed") == [
        quantitative_tier(n).value for n in counts
    ]


@pytest.mark.django_db
def test_ranks_follow_the_tiers_order():
    rows = [(i, tier.value) for i, tier in enumerate(TIER_ORDER)]
    assert _select(rank_sql("v.tier"), rows, "n, tier") == [tier.rank + 1 for tier in TIER_ORDER]


@pytest.mark.django_db
def test_the_lapse_and_the_final_tier_agree_with_the_pure_rules_for_every_combination():
    combinations = list(itertools.product(Tier, Tier, Tier))
    rows = [
        (i, count.value, adjusted.value, basis.value)
        for i, (count, adjusted, basis) in enumerate(combinations)
    ]
    columns = "n, count, adjusted, basis"
    lapses = _select(adjustment_lapses_sql("v.count", "v.adjusted", "v.basis"), rows, columns)
    finals = _select(
        final_tier_sql("v.count", "v.adjusted", "v.basis", adjusted_in_force="true"),
        rows,
        columns,
    )
    without = _select(
        final_tier_sql("v.count", "v.adjusted", "v.basis", adjusted_in_force="false"),
        rows,
        columns,
    )
    for (count, adjusted, basis), lapsed, final, bare in zip(
        combinations, lapses, finals, without, strict=True
    ):
        adjustment = Adjustment(tier=adjusted, quantitative_tier_at_approval=basis)
        assert lapsed == adjustment_lapses(adjustment, count), (count, adjusted, basis)
        assert final == final_tier(count, adjustment).tier.value, (count, adjusted, basis)
        assert bare == final_tier(count, None).tier.value


@pytest.mark.django_db
def test_the_non_performing_set_is_the_pure_rules():
    rows = [(i, tier.value) for i, tier in enumerate(TIER_ORDER)]
    assert _select(f"v.tier IN {NON_PERFORMING_SQL}", rows, "n, tier") == [
        tier.is_non_performing for tier in TIER_ORDER
    ]


# The tiers' order typed out as an SQL array, or ranks compared by hand (the lapse rule's
# GREATEST of two ranks): anywhere but the rules' module it is a second owner that a change
# to the rule would miss.
_LAPSE_BY_HAND = re.compile(r"ARRAY\['normal'|GREATEST\(\s*\{?_?rank|GREATEST\(\s*array_position")


def test_no_module_but_the_rules_own_writes_the_tiers_order_or_ranks_in_sql():
    owners = {ROOT / "postloan" / "risk" / "rules_sql.py"}
    offenders = [
        str(path.relative_to(ROOT))
        for app in ("common", "borrowers", "loans", "postloan", "portfolio", "portal")
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
        and path not in owners
        and _LAPSE_BY_HAND.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
