"""The classification's rules (postloan/risk/rules.py) as SQL expressions.

The one place the set-based code takes them from: the nightly classification
(postloan/risk/nightly.py), the positions and tiers as of a past date that the export, the
planning of a past month and the month-end snapshot read (nightly.final_positions_sql).
Each expression is built from the pure rules' constants (their values made SQL literals by
common.sqlvalues), never typed out again, and tests/postloan/risk/test_rules_sql.py holds
each one against its pure rule for every input; tests/test_sql_literals.py fails if a tier
is typed into SQL anywhere else.
"""

from __future__ import annotations

from common.sqlvalues import sql_list, sql_literal
from postloan.risk.rules import COUNT_BEYOND, COUNT_TIERS, NON_PERFORMING, TIER_ORDER

# The tiers in order, normal first: array_position() in it is a tier's rank (1-based).
TIERS_SQL = "ARRAY[" + ",".join(sql_literal(tier) for tier in TIER_ORDER) + "]"
# The non-performing tiers as an IN list, in the tiers' order.
NON_PERFORMING_SQL = sql_list(tier for tier in TIER_ORDER if tier in NON_PERFORMING)


def rank_sql(tier: str) -> str:
    """The rank of the tier `tier` (a column or expression): a higher rank is worse."""
    return f"array_position({TIERS_SQL}, {tier})"


def quantitative_tier_sql(missed: str) -> str:
    """classification.quantitative_tier of the count `missed`."""
    whens = " ".join(
        f"WHEN {missed} <= {most} THEN {sql_literal(tier)}" for most, tier in COUNT_TIERS
    )
    return f"CASE {whens} ELSE {sql_literal(COUNT_BEYOND)} END"


def adjustment_lapses_sql(quantitative: str, adjusted: str, basis: str) -> str:
    """classification.adjustment_lapses: the count is worse than the adjusted tier and than
    the count (`basis`) the adjustment was approved against."""
    return f"({rank_sql(quantitative)} > GREATEST({rank_sql(adjusted)}, {rank_sql(basis)}))"


def final_tier_sql(quantitative: str, adjusted: str, basis: str, *, adjusted_in_force: str) -> str:
    """classification.final_tier: the adjustment's tier while it is in force
    (`adjusted_in_force`, a boolean expression) and has not lapsed, else the count's."""
    lapses = adjustment_lapses_sql(quantitative, adjusted, basis)
    return (
        f"CASE WHEN NOT ({adjusted_in_force}) OR {lapses} THEN {quantitative} ELSE {adjusted} END"
    )
