"""The limit rule's SQL (borrowers/limits_sql.py) decides as the pure rule does
(borrowers/limits.py), for every input of a grid: a change to the rule reaches the
set-based callers at once."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.db import connection

from borrowers.limits import headroom, over_limit
from borrowers.limits_sql import headroom_sql, over_limit_sql
from common.money import ZERO

D = Decimal

LIMITS = [D("0.00"), D("0.01"), D("100000.00"), D("500000.00"), D("999999999999.99")]
OWED = [None, D("0.00"), D("0.01"), D("99999.99"), D("100000.00"), D("499999.99"), D("650000.00")]
PRINCIPALS = [D("0.00"), D("0.01"), D("1.00"), D("380000.00"), D("400000.00"), D("500000.01")]


def _select(expression: str, rows: list[tuple], columns: str) -> list:
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(rows[0])) + ")"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {expression} FROM (VALUES {placeholders}) AS v({columns}) ORDER BY v.n",
            [value for row in rows for value in row],
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_the_headroom_is_the_pure_rules_for_every_limit_and_debt():
    grid = list(itertools.product(LIMITS, OWED))
    rows = [(n, limit, owed) for n, (limit, owed) in enumerate(grid)]
    found = _select(
        headroom_sql("v.lim::numeric(14,2)", "v.owed::numeric(14,2)"), rows, "n, lim, owed"
    )
    assert found == [headroom(limit, owed or ZERO) for limit, owed in grid]


@pytest.mark.django_db
def test_over_the_limit_is_the_pure_rules_for_every_limit_debt_and_principal():
    grid = list(itertools.product(LIMITS, OWED, PRINCIPALS))
    rows = [(n, limit, owed, principal) for n, (limit, owed, principal) in enumerate(grid)]
    found = _select(
        over_limit_sql(
            "v.lim::numeric(14,2)", "v.owed::numeric(14,2)", "v.principal::numeric(14,2)"
        ),
        rows,
        "n, lim, owed, principal",
    )
    assert found == [over_limit(limit, owed or ZERO, principal) for limit, owed, principal in grid]
