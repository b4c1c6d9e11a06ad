"""The limit rule (docs/domain.md §2): a guarantor is not a co-borrower; only a valid joint
group gives every member a limit of their own. Pure functions, no database."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borrowers.limits import (
    LimitRules,
    Person,
    drop_out_scenarios,
    group_limits,
    ordinary_limits,
)

D = Decimal

# The case study: 500,000 per person, groups of at least three households.
CASE = LimitRules(per_person_limit=D("500000.00"), min_guarantors=1, min_group_size=3)

ZHANG = Person("zhang", "张三")
LI = Person("li", "李四")
WANG = Person("wang", "王五")
ZHAO = Person("zhao", "赵六")


def owing(person: Person, amount: str) -> Person:
    return Person(person.key, person.name, outstanding=D(amount))


# --- One borrower with ordinary guarantors --------------------------------------------------


@pytest.mark.parametrize(
    ("borrower", "guarantors", "borrower_available", "total"),
    [
        # One borrower, one guarantor: one limit, not two.
        (ZHANG, [LI], "500000.00", "500000.00"),
        # Two guarantors still add nothing.
        (ZHANG, [LI, WANG], "500000.00", "500000.00"),
        # What the borrower already owes comes off their limit.
        (owing(ZHANG, "120000.00"), [LI], "380000.00", "380000.00"),
        # Owing the whole limit leaves nothing.
        (owing(ZHANG, "500000.00"), [LI], "0.00", "0.00"),
        # Owing more than the limit (an older, larger loan) never goes below zero.
        (owing(ZHANG, "650000.00"), [LI], "0.00", "0.00"),
        # A guarantor's own debts do not change the borrower's limit.
        (ZHANG, [owing(LI, "300000.00")], "500000.00", "500000.00"),
    ],
)
def test_an_ordinary_structure_has_one_limit_the_borrowers(
    borrower, guarantors, borrower_available, total
):
    result = ordinary_limits(borrower, guarantors, CASE)

    assert result.structure == "ordinary"
    assert result.is_valid
    first, *rest = result.people
    assert (first.person, first.role) == (borrower, "borrower")
    assert first.available == D(borrower_available)
    assert first.limit == D("500000.00")
    assert [(p.role, p.limit, p.available) for p in rest] == [
        ("guarantor", D("0.00"), D("0.00"))
    ] * len(guarantors)
    assert result.total_available == D(total)
    assert result.total_limit == D("500000.00")


def test_a_guarantor_is_told_they_add_no_limit():
    result = ordinary_limits(ZHANG, [LI], CASE)

    assert "guaranteeing adds no limit" in str(result.people[1].reasons[0])


def test_a_debt_is_explained_with_the_amounts():
    result = ordinary_limits(owing(ZHANG, "120000.00"), [LI], CASE)

    reasons = " ".join(str(r) for r in result.people[0].reasons)
    assert "already owes ¥120,000.00, so ¥380,000.00 is left" in reasons


def test_too_few_guarantors_for_the_product_is_a_problem_and_nothing_is_available():
    rules = LimitRules(per_person_limit=D("500000.00"), min_guarantors=2)

    result = ordinary_limits(ZHANG, [LI], rules)

    assert not result.is_valid
    assert [str(p) for p in result.problems] == ["The product needs at least 2 guarantors."]
    assert result.total_available == D("0.00")


def test_a_product_without_a_guarantor_requirement_lends_alone():
    rules = LimitRules(per_person_limit=D("300000.00"), min_guarantors=0)

    result = ordinary_limits(ZHANG, [], rules)

    assert result.is_valid
    assert result.total_available == D("300000.00")


def test_a_borrower_cannot_guarantee_their_own_loan():
    result = ordinary_limits(ZHANG, [ZHANG], CASE)

    assert [str(p) for p in result.problems] == ["A borrower cannot guarantee their own loan."]
    assert result.total_available == D("0.00")


def test_a_borrower_who_cannot_borrow_has_no_limit_and_says_why():
    deceased = Person("zhang", "张三", unable_to_borrow="Deceased")

    result = ordinary_limits(deceased, [LI], CASE)

    assert result.people[0].limit == D("0.00")
    assert result.people[0].available == D("0.00")
    assert "Deceased" in result.people[0].reasons


# --- A joint-guarantee group ------------------------------------------------------------------


def test_the_case_study_three_households_borrow_one_and_a_half_million():
    result = group_limits([ZHANG, LI, WANG], CASE)

    assert result.structure == "joint_group"
    assert result.is_valid
    assert [(p.role, p.limit, p.available) for p in result.people] == [
        ("member", D("500000.00"), D("500000.00"))
    ] * 3
    assert result.total_available == D("1500000.00")
    assert "guaranteed by the 2 other members" in str(result.people[0].reasons[0])


@pytest.mark.parametrize(
    ("members", "total"),
    [
        ([ZHANG, LI, WANG, ZHAO], "2000000.00"),
        ([owing(ZHANG, "200000.00"), LI, WANG], "1300000.00"),
        ([owing(ZHANG, "200000.00"), owing(LI, "500000.00"), WANG], "800000.00"),
        ([owing(ZHANG, "900000.00"), LI, WANG], "1000000.00"),
    ],
)
def test_every_member_of_a_valid_group_holds_their_own_limit_less_their_debts(members, total):
    assert group_limits(members, CASE).total_available == D(total)


@pytest.mark.parametrize(
    ("members", "rules", "problem"),
    [
        (
            [ZHANG, LI],
            CASE,
            "A joint group needs at least 3 members; this one has 2.",
        ),
        (
            [ZHANG, LI, WANG],
            LimitRules(per_person_limit=D("500000.00"), allows_joint_group=False),
            "This product does not accept joint-guarantee groups.",
        ),
        (
            [ZHANG, LI, Person("co", "福州测试有限公司", is_enterprise=True)],
            CASE,
            "福州测试有限公司 is an enterprise; this product's groups take persons only.",
        ),
        (
            [ZHANG, LI, Person("wang", "王五", in_other_group=True)],
            CASE,
            "王五 is already in another active group.",
        ),
    ],
)
def test_an_invalid_group_gives_nobody_a_limit_and_says_why(members, rules, problem):
    result = group_limits(members, rules)

    assert result.structure == "none"
    assert [str(p) for p in result.problems] == [problem]
    assert result.total_available == D("0.00")
    assert all(p.limit == D("0.00") for p in result.people)


def test_enterprises_may_join_when_the_product_allows_it():
    rules = LimitRules(per_person_limit=D("500000.00"), enterprises_may_join_groups=True)
    members = [ZHANG, LI, Person("co", "福州测试有限公司", is_enterprise=True)]

    assert group_limits(members, rules).total_available == D("1500000.00")


# --- What happens when a member drops out ---------------------------------------------------


def test_the_case_study_the_weak_member_leaves_and_the_rest_borrow_one_limit():
    scenarios = drop_out_scenarios([ZHANG, LI, WANG], CASE)

    assert [s.leaving for s in scenarios] == [ZHANG, LI, WANG]
    without_wang = scenarios[2]
    assert not without_wang.remains_group
    assert without_wang.result.structure == "ordinary"
    assert [(p.person, p.role) for p in without_wang.result.people] == [
        (ZHANG, "borrower"),
        (LI, "guarantor"),
    ]
    assert without_wang.result.total_available == D("500000.00")
    assert all(s.result.total_available == D("500000.00") for s in scenarios)


def test_a_group_above_its_minimum_stays_a_group_when_one_leaves():
    scenarios = drop_out_scenarios([ZHANG, LI, WANG, ZHAO], CASE)

    assert all(s.remains_group for s in scenarios)
    assert all(s.result.structure == "joint_group" for s in scenarios)
    assert [s.result.total_available for s in scenarios] == [D("1500000.00")] * 4


def test_after_a_drop_out_the_one_who_can_borrow_most_is_the_borrower():
    # Zhang has used his whole limit; Li can still borrow all of hers.
    members = [owing(ZHANG, "500000.00"), LI, WANG]

    without_wang = drop_out_scenarios(members, CASE)[2]

    borrower = without_wang.result.people[0]
    assert (borrower.person.key, borrower.role) == ("li", "borrower")
    assert without_wang.result.total_available == D("500000.00")


def test_the_last_one_left_without_a_guarantor_cannot_borrow_under_a_guaranteed_product():
    rules = LimitRules(per_person_limit=D("500000.00"), min_guarantors=1, min_group_size=2)

    scenarios = drop_out_scenarios([ZHANG, LI], rules)

    assert [s.result.total_available for s in scenarios] == [D("0.00"), D("0.00")]
    assert not scenarios[0].result.is_valid


# --- Properties -------------------------------------------------------------------------------

amounts = st.integers(min_value=0, max_value=2_000_000).map(lambda n: D(n).quantize(D("0.01")))
limits_ = st.integers(min_value=1, max_value=1_000_000).map(lambda n: D(n).quantize(D("0.01")))


@settings(max_examples=60, deadline=None)
@given(
    limit=limits_,
    min_size=st.integers(min_value=2, max_value=5),
    extra=st.integers(min_value=0, max_value=3),
    data=st.data(),
)
def test_a_valid_group_can_borrow_n_limits_less_what_its_members_owe(limit, min_size, extra, data):
    n = min_size + extra
    shares = data.draw(st.lists(st.integers(0, 100), min_size=n, max_size=n))
    debts = [(limit * share / 100).quantize(D("0.01")) for share in shares]
    members = [Person(i, f"m{i}", outstanding=debt) for i, debt in enumerate(debts)]
    rules = LimitRules(per_person_limit=limit, min_group_size=min_size)

    result = group_limits(members, rules)

    assert result.is_valid
    assert result.total_limit == n * limit
    assert result.total_available == n * limit - sum(debts)


@settings(max_examples=60, deadline=None)
@given(
    limit=limits_,
    borrower_debt=amounts,
    guarantor_debts=st.lists(amounts, min_size=0, max_size=6),
    min_guarantors=st.integers(min_value=0, max_value=3),
)
def test_ordinary_guarantors_never_raise_the_total_above_one_limit(
    limit, borrower_debt, guarantor_debts, min_guarantors
):
    borrower = Person("b", "b", outstanding=borrower_debt)
    guarantors = [Person(i, f"g{i}", outstanding=d) for i, d in enumerate(guarantor_debts)]
    rules = LimitRules(per_person_limit=limit, min_guarantors=min_guarantors)

    result = ordinary_limits(borrower, guarantors, rules)

    assert D("0") <= result.total_available <= limit
    if result.is_valid:
        assert result.total_available == max(limit - borrower_debt, D("0"))


@settings(max_examples=60, deadline=None)
@given(
    limit=limits_,
    min_size=st.integers(min_value=2, max_value=4),
    extra=st.integers(min_value=0, max_value=2),
    data=st.data(),
)
def test_nobody_leaving_ever_raises_what_the_rest_may_borrow(limit, min_size, extra, data):
    n = min_size + extra
    debts = data.draw(st.lists(amounts, min_size=n, max_size=n))
    members = [Person(i, f"m{i}", outstanding=debt) for i, debt in enumerate(debts)]
    rules = LimitRules(per_person_limit=limit, min_guarantors=1, min_group_size=min_size)

    before = group_limits(members, rules).total_available
    for scenario in drop_out_scenarios(members, rules):
        assert scenario.result.total_available <= before
        assert scenario.remains_group == (n - 1 >= min_size)
        if not scenario.remains_group:
            # One borrower with the others as guarantors: at most one limit.
            assert scenario.result.total_available <= limit
