"""The inspection policy as a lookup, in pure Python (no queries): for every key a loan can
have, the strictest rule that applies to it (Sec. 4, Art. 2–3).

A loan's key holds only what some rule asks about — its tier; its product, repayment method
and the collateral kinds it holds, as far as a rule names them; how many of the rules'
amount thresholds its outstanding principal reaches — so the keys are few: the tiers times
the products, methods, collateral kinds and amount bands the rules name. The planning
(postloan/inspections/planning.py) computes each loan's key in SQL and joins it to this
table.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from postloan.models import TIER_VALUES

# What makes a rule: a change to any of these is a new policy (a new fingerprint).
RULE_FIELDS = (
    "id", "tier", "collateral_kind", "min_outstanding", "product_id", "repayment_method",
    "frequency", "times_per_month", "every_months", "sample_percent", "kind",
)  # fmt: skip


@dataclass(frozen=True)
class PolicyKeys:
    """What the rules ask about: the key's parts a loan's key can take besides "any"."""

    products: list[int]
    methods: list[str]
    kinds: list[str]
    thresholds: list[Decimal]


def policy_keys(rules: Sequence) -> PolicyKeys:
    return PolicyKeys(
        products=sorted({rule.product_id for rule in rules if rule.product_id}),
        methods=sorted({rule.repayment_method for rule in rules if rule.repayment_method}),
        kinds=sorted({rule.collateral_kind for rule in rules if rule.collateral_kind}),
        thresholds=sorted(
            {rule.min_outstanding for rule in rules if rule.min_outstanding is not None}
        ),
    )


def fingerprint(rules: Sequence) -> str:
    """The policy's fingerprint: a rerun in the month under the same policy re-plans only the
    loans whose inputs changed."""
    return hashlib.md5(
        repr([[getattr(rule, name) for name in RULE_FIELDS] for rule in rules]).encode()
    ).hexdigest()


def applies(rule, keys: PolicyKeys, *, tier, product, method, mask, band) -> bool:
    """Whether `rule` applies to a loan of this key (an empty condition matches any)."""
    return (
        rule.tier in ("", tier)
        and (not rule.collateral_kind or mask >> keys.kinds.index(rule.collateral_kind) & 1)
        and (rule.min_outstanding is None or band > keys.thresholds.index(rule.min_outstanding))
        and rule.product_id in (None, product)
        and rule.repayment_method in ("", method)
    )


def strictest_rules(rules: Sequence, keys: PolicyKeys) -> list[tuple]:
    """(tier, product, method, collateral mask, band, rule id) for every key some rule
    applies to: the strictest rule (most inspections a month), the oldest on a tie."""
    by_strictness = sorted(rules, key=lambda rule: (-rule.per_month, rule.id))
    best = []
    for tier, product, method, mask, band in itertools.product(
        TIER_VALUES, [0, *keys.products], ["", *keys.methods], range(2 ** len(keys.kinds)),
        range(len(keys.thresholds) + 1),
    ):  # fmt: skip
        for rule in by_strictness:
            if applies(rule, keys, tier=tier, product=product, method=method, mask=mask, band=band):
                best.append((tier, product, method, mask, band, rule.id))
                break
    return best
