"""The limit rule (docs/domain.md §2): what each person may borrow, and why, in plain words.

A guarantor is not a co-borrower. A borrower with ordinary guarantors gets one limit;
only a valid joint-guarantee group gives every member a limit of their own. When a
member drops out and the group falls below its minimum size, it is no longer a joint
group: one of the remaining may borrow, with the others as ordinary guarantors.

Pure arithmetic, no ORM: the limit calculator page and the booking (loans/booking.py) call
it, and nothing else restates it. What a person may borrow is the product's per-person
limit; what is left of it is that limit less the principal they still owe (`headroom`), and
a new loan may not take them over it (`over_limit`, `principal_over_limit`). The import
takes migrated loans as they are and checks no limit (docs/decisions.md), so the rule has
no set-based copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from common.money import ZERO, format_cny


@dataclass(frozen=True)
class LimitRules:
    """The product settings the rule depends on."""

    per_person_limit: Decimal
    min_guarantors: int = 1
    allows_joint_group: bool = True
    min_group_size: int = 3
    enterprises_may_join_groups: bool = False


@dataclass(frozen=True)
class Person:
    key: object
    name: str
    is_enterprise: bool = False
    outstanding: Decimal = ZERO  # principal still owed on this person's active loans
    in_other_group: bool = False  # already a member of another active joint group
    unable_to_borrow: str = ""  # why this person cannot borrow at all (e.g. deceased)


@dataclass
class PersonLimit:
    person: Person
    role: str  # "borrower", "guarantor", "member"
    limit: Decimal  # the product limit this person holds (0 for a guarantor)
    available: Decimal  # limit less what they already owe, never below 0
    reasons: list = field(default_factory=list)


@dataclass
class LimitResult:
    structure: str  # "ordinary", "joint_group", "none"
    people: list[PersonLimit]
    problems: list = field(default_factory=list)  # why the structure is not valid as given

    @property
    def total_limit(self) -> Decimal:
        return sum((p.limit for p in self.people), ZERO)

    @property
    def total_available(self) -> Decimal:
        return sum((p.available for p in self.people), ZERO)

    @property
    def is_valid(self) -> bool:
        return not self.problems


@dataclass
class DropOutScenario:
    leaving: Person
    result: LimitResult
    remains_group: bool


def headroom(limit: Decimal, owed: Decimal) -> Decimal:
    """What is left of a person's `limit` when they owe `owed` (principal still owed on
    their active loans, of any product): never below 0, even when an older, larger loan
    took them over it."""
    return max(limit - owed, ZERO)


def over_limit(limit: Decimal, owed: Decimal, principal: Decimal) -> bool:
    """Whether lending `principal` more takes a person who owes `owed` over `limit`."""
    return owed + principal > limit


def principal_over_limit(
    *, name: str, limit: Decimal, owed: Decimal, principal: Decimal
) -> str | None:
    """Why `name` may not borrow `principal` more under `limit` (the booking's error on the
    principal), or None when it fits."""
    if not over_limit(limit, owed, principal):
        return None
    return _(
        "This exceeds %(name)s's limit: %(limit)s per person, %(owed)s already "
        "owed, so at most %(left)s. Guarantors add no limit; only a valid "
        "joint group gives each member a limit of their own."
    ) % {
        "name": name,
        "limit": format_cny(limit),
        "owed": format_cny(owed),
        "left": format_cny(headroom(limit, owed)),
    }


def _holder(person: Person, role: str, rules: LimitRules, reasons: list) -> PersonLimit:
    if person.unable_to_borrow:
        return PersonLimit(person, role, ZERO, ZERO, [*reasons, person.unable_to_borrow])
    available = headroom(rules.per_person_limit, person.outstanding)
    if person.outstanding > ZERO:
        reasons = [
            *reasons,
            _("already owes %(owed)s, so %(available)s is left of the limit")
            % {"owed": format_cny(person.outstanding), "available": format_cny(available)},
        ]
    return PersonLimit(person, role, rules.per_person_limit, available, reasons)


def ordinary_limits(
    borrower: Person, guarantors: Sequence[Person], rules: LimitRules
) -> LimitResult:
    """One borrower backed by ordinary guarantors: one limit, the borrower's."""
    problems = []
    if len(guarantors) < rules.min_guarantors:
        problems.append(
            ngettext_lazy(
                "The product needs at least %(count)d guarantor.",
                "The product needs at least %(count)d guarantors.",
                rules.min_guarantors,
            )
            % {"count": rules.min_guarantors}
        )
    if any(g.key == borrower.key for g in guarantors):
        problems.append(_("A borrower cannot guarantee their own loan."))
    people = [
        _holder(
            borrower,
            "borrower",
            rules,
            [
                _("the borrower holds the product limit of %(limit)s")
                % {"limit": format_cny(rules.per_person_limit)}
            ],
        )
    ]
    for guarantor in guarantors:
        people.append(
            PersonLimit(
                guarantor,
                "guarantor",
                ZERO,
                ZERO,
                [_("a guarantor is not a co-borrower: guaranteeing adds no limit")],
            )
        )
    if problems:
        for person in people:
            person.available = ZERO
    return LimitResult("ordinary", people, problems)


def group_limits(members: Sequence[Person], rules: LimitRules) -> LimitResult:
    """A joint-guarantee group: each member borrows and guarantees all the others."""
    problems = []
    if not rules.allows_joint_group:
        problems.append(_("This product does not accept joint-guarantee groups."))
    if len(members) < rules.min_group_size:
        problems.append(
            _("A joint group needs at least %(min)d members; this one has %(count)d.")
            % {"min": rules.min_group_size, "count": len(members)}
        )
    for member in members:
        if member.is_enterprise and not rules.enterprises_may_join_groups:
            problems.append(
                _("%(name)s is an enterprise; this product's groups take persons only.")
                % {"name": member.name}
            )
        if member.in_other_group:
            problems.append(
                _("%(name)s is already in another active group.") % {"name": member.name}
            )
    if problems:
        return LimitResult(
            "none",
            [PersonLimit(m, "member", ZERO, ZERO, [_("not a valid joint group")]) for m in members],
            problems,
        )
    guaranteed_by = len(members) - 1
    people = [
        _holder(
            m,
            "member",
            rules,
            [
                _(
                    "each member of a valid group holds their own limit of %(limit)s, "
                    "guaranteed by the %(others)d other members"
                )
                % {"limit": format_cny(rules.per_person_limit), "others": guaranteed_by}
            ],
        )
        for m in members
    ]
    return LimitResult("joint_group", people, [])


def drop_out_scenarios(members: Sequence[Person], rules: LimitRules) -> list[DropOutScenario]:
    """What each member leaving would do to the others' limits."""
    scenarios = []
    for leaving in members:
        remaining = [m for m in members if m.key != leaving.key]
        if len(remaining) >= rules.min_group_size:
            scenarios.append(DropOutScenario(leaving, group_limits(remaining, rules), True))
        elif remaining:
            # No longer a group: the best the rest can do is one borrower with the others
            # as ordinary guarantors. The borrower is whoever has the most limit left (on
            # a tie the first, so the lead); picking the first blindly would show 0 when
            # the first has used up their limit but another member has not.
            borrower = max(remaining, key=lambda p: _holder(p, "borrower", rules, []).available)
            guarantors = [m for m in remaining if m is not borrower]
            scenarios.append(
                DropOutScenario(leaving, ordinary_limits(borrower, guarantors, rules), False)
            )
    return scenarios
