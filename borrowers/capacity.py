"""Has a guarantor's capacity fallen? (Art. 5 (13); risk factor 13.)

Pure comparison of two dated assessments. A careful lender reads any of these as lower
capacity: income or net assets down by the configured share (default 20%) or more, a
worse credit standing, a worse enterprise rating, or an enterprise that is no longer
operating normally (merged, restructuring, bankrupt).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

RATINGS = ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"]
IMPAIRED_ENTERPRISE_STATUSES = {
    "merged": _("merged"),
    "restructuring": _("restructuring"),
    "bankrupt": _("bankrupt"),
}


@dataclass(frozen=True)
class Capacity:
    monthly_income: Decimal | None = None
    net_assets: Decimal | None = None
    credit_standing: int = 1  # 1 good … 4 in default elsewhere
    rating: str = ""
    enterprise_status: str = ""


def _dropped(before: Decimal | None, after: Decimal | None, drop_percent: int) -> bool:
    if before is None or after is None or before <= 0:
        return False
    return after <= before * (Decimal(100) - Decimal(drop_percent)) / Decimal(100)


def capacity_reductions(
    previous: Capacity | None, current: Capacity, *, drop_percent: int = 20
) -> list[str]:
    """The reasons `current` is a lower capacity than `previous` (empty if it is not)."""
    reasons = []
    if current.enterprise_status in IMPAIRED_ENTERPRISE_STATUSES:
        status = IMPAIRED_ENTERPRISE_STATUSES[current.enterprise_status]
        reasons.append(_("the enterprise is %(status)s") % {"status": status})
    if previous is None:
        return reasons
    if _dropped(previous.monthly_income, current.monthly_income, drop_percent):
        reasons.append(_("monthly income fell by %(p)d%% or more") % {"p": drop_percent})
    if _dropped(previous.net_assets, current.net_assets, drop_percent):
        reasons.append(_("net assets fell by %(p)d%% or more") % {"p": drop_percent})
    if current.credit_standing > previous.credit_standing:
        reasons.append(_("credit standing worsened"))
    if (
        previous.rating in RATINGS
        and current.rating in RATINGS
        and RATINGS.index(current.rating) > RATINGS.index(previous.rating)
    ):
        reasons.append(
            _("rating fell from %(before)s to %(after)s")
            % {"before": previous.rating, "after": current.rating}
        )
    return reasons
