"""The strictest rule per key (postloan/inspections/policy.py), in pure Python: unsaved
rules, no database."""

from __future__ import annotations

from decimal import Decimal

from postloan.inspections.policy import fingerprint, policy_keys, strictest_rules
from postloan.models import InspectionPolicyRule


def rule(pk, *, tier="", kind="", minimum=None, product=None, method="", **frequency):
    frequency.setdefault("frequency", "per_month")
    return InspectionPolicyRule(
        id=pk,
        name=f"rule {pk}",
        tier=tier,
        collateral_kind=kind,
        min_outstanding=minimum,
        product_id=product,
        repayment_method=method,
        **frequency,
    )


def best_of(rules) -> dict[tuple, int]:
    return {key[:-1]: key[-1] for key in strictest_rules(rules, policy_keys(rules))}


def test_the_strictest_rule_wins_and_the_oldest_on_a_tie():
    everyone = rule(1, frequency="every_n_months", every_months=3)
    doubtful = rule(2, tier="doubtful", times_per_month=2)
    doubtful_too = rule(3, tier="doubtful", times_per_month=2)
    best = best_of([everyone, doubtful, doubtful_too])
    assert best[("normal", 0, "", 0, 0)] == 1
    assert best[("doubtful", 0, "", 0, 0)] == 2  # twice a month beats once a quarter; 2 < 3


def test_each_condition_narrows_the_rule_to_the_keys_it_names():
    general = rule(1, frequency="sample", sample_percent=Decimal("10"))
    big = rule(2, minimum=Decimal("1000000"), times_per_month=1)
    off_plan = rule(3, kind="off_plan", times_per_month=2)
    product = rule(4, product=7, method="bullet", times_per_month=4)
    keys = policy_keys([general, big, off_plan, product])
    assert (keys.products, keys.methods, keys.kinds, keys.thresholds) == (
        [7],
        ["bullet"],
        ["off_plan"],
        [Decimal("1000000")],
    )
    best = best_of([general, big, off_plan, product])
    assert best[("normal", 0, "", 0, 0)] == 1  # below the threshold, no collateral
    assert best[("normal", 0, "", 0, 1)] == 2  # the band past the threshold
    assert best[("normal", 0, "", 1, 1)] == 3  # off-plan collateral held: twice a month
    assert best[("normal", 7, "", 1, 1)] == 3  # the product alone is not enough for rule 4
    assert best[("loss", 7, "bullet", 0, 0)] == 4


def test_a_key_no_rule_applies_to_has_none():
    best = best_of([rule(1, tier="loss", times_per_month=1)])
    assert set(best) == {("loss", 0, "", 0, 0)}


def test_the_fingerprint_changes_with_any_rule_field_and_only_then():
    rules = [rule(1, times_per_month=1), rule(2, tier="doubtful", times_per_month=2)]
    same = [rule(1, times_per_month=1), rule(2, tier="doubtful", times_per_month=2)]
    assert fingerprint(rules) == fingerprint(same)
    same[1].times_per_month = 3
    assert fingerprint(rules) != fingerprint(same)
