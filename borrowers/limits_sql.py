"""The limit rule of borrowers/limits.py, set-based: SQL expressions for a query that weighs
many people's loans at once (an import, a report) instead of one booking at a time.

Each builder takes SQL expressions (a column, a parameter) and returns one expression that
decides exactly as its pure twin; tests/borrowers/test_limits_sql.py holds them against
`limits.headroom` and `limits.over_limit` over a grid of inputs. A NULL owed (a person with
no active loan, from a LEFT JOIN) owes nothing, as `limits.Person.outstanding` defaults to 0.
"""

from __future__ import annotations


def _owed(owed: str) -> str:
    return f"COALESCE({owed}, 0)"


def headroom_sql(limit: str, owed: str) -> str:
    """What is left of `limit` for a person who owes `owed`: `limits.headroom`."""
    return f"GREATEST({limit} - {_owed(owed)}, 0)"


def over_limit_sql(limit: str, owed: str, principal: str) -> str:
    """Whether lending `principal` more takes them over `limit`: `limits.over_limit`."""
    return f"({_owed(owed)} + {principal} > {limit})"
