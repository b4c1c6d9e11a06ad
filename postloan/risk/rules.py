"""The five-tier classification (五级分类), docs/domain.md §4: pure rules, no ORM.

Step one is quantitative: the tier follows from the consecutive missed periods
(loans/ledger.py counts them). Step two is qualitative: an officer or risk manager
proposes another tier with a reason, a second risk manager approves it, and while that
adjustment is in force it is the loan's tier — unless the count gets worse than both the
adjustment and the count the adjustment was approved against, in which case the count
wins and the adjustment lapses. Loss is never reached by count alone.

The same rules as SQL expressions are in postloan/risk/rules_sql.py, built from the
constants here; tests hold the two together.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from common.money import to_fen


class Tier(StrEnum):
    NORMAL = "normal"  # 正常
    SPECIAL_MENTION = "special_mention"  # 关注
    SUBSTANDARD = "substandard"  # 次级
    DOUBTFUL = "doubtful"  # 可疑
    LOSS = "loss"  # 损失

    @property
    def rank(self) -> int:
        """0 for normal … 4 for loss: a higher rank is a worse tier."""
        return TIER_ORDER.index(self)

    @property
    def is_non_performing(self) -> bool:
        return self in NON_PERFORMING

    @property
    def label(self):
        return TIER_LABELS[self]


TIER_ORDER = [Tier.NORMAL, Tier.SPECIAL_MENTION, Tier.SUBSTANDARD, Tier.DOUBTFUL, Tier.LOSS]
NON_PERFORMING = frozenset({Tier.SUBSTANDARD, Tier.DOUBTFUL, Tier.LOSS})
TIER_LABELS = {
    Tier.NORMAL: _("Normal"),
    Tier.SPECIAL_MENTION: _("Special mention"),
    Tier.SUBSTANDARD: _("Substandard"),
    Tier.DOUBTFUL: _("Doubtful"),
    Tier.LOSS: _("Loss"),
}

# People's Bank of China guidance on loan-loss reserves (2002); risk managers may change them.
DEFAULT_PROVISION_PERCENT = {
    Tier.NORMAL: Decimal("0"),
    Tier.SPECIAL_MENTION: Decimal("2"),
    Tier.SUBSTANDARD: Decimal("25"),
    Tier.DOUBTFUL: Decimal("50"),
    Tier.LOSS: Decimal("100"),
}


# The count's tiers: up to and including each number of consecutive missed periods, that
# tier; beyond the last, COUNT_BEYOND. Loss is never reached by count alone. The set-based
# SQL is built from the same table (postloan/risk/rules_sql.py).
COUNT_TIERS = ((2, Tier.NORMAL), (3, Tier.SPECIAL_MENTION), (6, Tier.SUBSTANDARD))
COUNT_BEYOND = Tier.DOUBTFUL


def quantitative_tier(consecutive_missed_periods: int) -> Tier:
    """0–2 normal, 3 special mention, 4–6 substandard, 7 or more doubtful."""
    if consecutive_missed_periods < 0:
        raise ValueError("a missed-period count cannot be negative")
    for most, tier in COUNT_TIERS:
        if consecutive_missed_periods <= most:
            return tier
    return COUNT_BEYOND


@dataclass(frozen=True)
class Adjustment:
    """An approved qualitative adjustment: the tier it sets and the count it was judged on."""

    tier: Tier
    quantitative_tier_at_approval: Tier


@dataclass(frozen=True)
class FinalTier:
    tier: Tier
    adjustment_lapsed: bool


def adjustment_lapses(adjustment: Adjustment, quantitative: Tier) -> bool:
    """The count wins once it is worse than the adjusted tier and worse than when the
    adjustment was approved: what the risk manager judged has changed."""
    return quantitative.rank > max(
        adjustment.tier.rank, adjustment.quantitative_tier_at_approval.rank
    )


def final_tier(quantitative: Tier, adjustment: Adjustment | None) -> FinalTier:
    if adjustment is None:
        return FinalTier(quantitative, False)
    if adjustment_lapses(adjustment, quantitative):
        return FinalTier(quantitative, True)
    return FinalTier(adjustment.tier, False)


def provision(outstanding_principal: Decimal, rate_percent: Decimal) -> Decimal:
    """Outstanding principal × the tier's rate, to the fen."""
    return to_fen(outstanding_principal * rate_percent / Decimal(100))
