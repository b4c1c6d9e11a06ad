"""Enum values as SQL literals: the one place a tier or status becomes text in an SQL string.

Raw SQL names a status or a tier by its Python enum member (`LoanStatus.ACTIVE`,
`Tier.NORMAL`) through these helpers, never as a typed literal ('active'), so renaming a
value or adding one to a set changes every statement that uses it, and
tests/test_sql_literals.py fails if a literal is typed into an SQL string anywhere else.
Only for values the code defines (enum members, constants): user input goes in as a query
parameter, never through here.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


def sql_literal(value: str | Enum) -> str:
    """`value` (an enum member's value, or a str) as a quoted SQL string literal: 'active'."""
    text = value.value if isinstance(value, Enum) else value
    if not isinstance(text, str):
        raise TypeError(f"an SQL string literal needs text, got {value!r}")
    return "'" + text.replace("'", "''") + "'"


def sql_list(values: Iterable[str | Enum]) -> str:
    """The values as a parenthesised list for IN: ('approved', 'lapsed')."""
    literals = [sql_literal(value) for value in values]
    if not literals:
        raise ValueError("IN () is not SQL: give at least one value")
    return "(" + ", ".join(literals) + ")"
