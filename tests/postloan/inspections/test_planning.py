"""Planning inspections (issue 6, docs/domain.md §5): the policy's defaults, the strictest rule,
the monthly sample of normal loans, tier changes, events (handover, serious flags, missed
periods), reassignment, closing, and the nightly run's idempotency."""

from __future__ import annotations

import calendar
import csv
import math
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import chinese_calendar
import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from loans import services as loan_services
from loans.models import Loan
from postloan.inspections import planning as scheduling
from postloan.inspections.planning import schedule_for_loans, schedule_inspections
from postloan.inspections.selectors import overdue_by_officer
from postloan.models import (
    Inspection,
    InspectionPolicyRule,
    LoanRiskState,
    PlannedLoan,
    PlanningRun,
)
from postloan.risk.services import adjustment_decide, adjustment_propose, flag_raise
from tests.factories import ProductFactory, make_person
from tests.postloan.helpers import (
    book,
    classify,
    planned,
    restore_default_inspection_policy,
    risk,
    set_tier,
)

# Booking a loan plans its inspections as of today: the plans these tests read are those of
# November 2026, whatever the day they run.
pytestmark = [pytest.mark.django_db, pytest.mark.clock(date(2026, 11, 30))]

POLICY_KINDS = ("routine", "key_tracking", "return_visit")
NOV_10 = date(2026, 11, 10)


@pytest.fixture(autouse=True)
def _default_policy(db):
    restore_default_inspection_policy()


def _loan(officer, product, branch, **terms):
    terms.setdefault("disbursed_on", date(2026, 6, 1))
    return book(officer, product=product, branch=branch, **terms)


def _secure_with_machinery(loan):
    loan_services.collateral_add(loan=loan, kind="machinery", description="CNC lathe, 2019")


def _snapshot() -> list[tuple]:
    return sorted(
        Inspection.objects.values_list(
            "loan_id", "kind", "slot", "due_on", "status", "assigned_to_id", "cancel_reason"
        )
    )


def _month(today: date) -> tuple[str, date, date, date]:
    last = calendar.monthrange(today.year, today.month)[1]
    return f"{today:%Y-%m}", today.replace(day=1), today.replace(day=15), today.replace(day=last)


# --- The default rules, one by one ------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "machinery", "as_of", "expected"),
    [
        # Alone in its tier, a normal loan is its own 10% sample (a share is rounded up).
        ("normal", False, NOV_10, [("routine", "2026-11#sample", date(2026, 11, 30))]),
        ("special_mention", False, NOV_10, [("routine", "2026-11#1", date(2026, 11, 30))]),
        ("substandard", False, NOV_10, [("key_tracking", "2026-11#1", date(2026, 11, 30))]),
        (
            "doubtful",
            False,
            NOV_10,
            [
                ("key_tracking", "2026-11#1", date(2026, 11, 15)),
                ("key_tracking", "2026-11#2", date(2026, 11, 30)),
            ],
        ),
        (
            "doubtful",
            False,
            date(2026, 2, 3),
            [
                ("key_tracking", "2026-02#1", date(2026, 2, 15)),
                ("key_tracking", "2026-02#2", date(2026, 2, 28)),
            ],
        ),
        ("loss", False, NOV_10, [("routine", "2026-01/12m", date(2026, 12, 31))]),
        ("loss", False, date(2027, 3, 1), [("routine", "2027-01/12m", date(2027, 12, 31))]),
        ("normal", True, NOV_10, [("routine", "2026-11#1", date(2026, 11, 30))]),
        ("special_mention", True, NOV_10, [("routine", "2026-11#1", date(2026, 11, 30))]),
    ],
    ids=[
        "normal",
        "special-mention",
        "substandard",
        "doubtful",
        "doubtful-february",
        "loss",
        "loss-next-year",
        "machinery",
        "machinery-and-special-mention",
    ],
)
def test_each_default_rule_plans_its_slots_and_due_dates(
    tier, machinery, as_of, expected, officer, product, branch
):
    # given a loan in the tier (disbursed before the month planned)
    loan = _loan(officer, product, branch, disbursed_on=date(2026, 1, 5))
    if machinery:
        _secure_with_machinery(loan)
    set_tier(loan, tier)
    # when the month is planned
    schedule_inspections(as_of=as_of)
    # then exactly the rule's slots, assigned to the managing officer
    assert planned(loan, kinds=POLICY_KINDS) == expected
    rows = Inspection.objects.filter(loan=loan, kind__in=POLICY_KINDS)
    assert {(i.assigned_to_id, i.status, i.cancel_reason) for i in rows} == {
        (officer.pk, "open", "")
    }
    assert {i.reason for i in rows} == {"sample" if expected[0][1].endswith("sample") else "policy"}
    assert all(i.rule is not None for i in rows)


def test_a_loan_disbursed_after_the_date_is_not_planned(officer, product, branch):
    loan = _loan(officer, product, branch, disbursed_on=date(2026, 11, 20))
    set_tier(loan, "doubtful")
    schedule_inspections(as_of=NOV_10)
    assert planned(loan, kinds=POLICY_KINDS) == []


# --- Strictest wins ------------------------------------------------------------------------------


def test_doubtful_with_machinery_keeps_twice_a_month(officer, product, branch):
    loan = _loan(officer, product, branch)
    _secure_with_machinery(loan)
    set_tier(loan, "doubtful")
    schedule_inspections(as_of=NOV_10)
    assert planned(loan, kinds=POLICY_KINDS) == [
        ("key_tracking", "2026-11#1", date(2026, 11, 15)),
        ("key_tracking", "2026-11#2", date(2026, 11, 30)),
    ]
    assert {i.rule.tier for i in Inspection.objects.filter(loan=loan, kind="key_tracking")} == {
        "doubtful"
    }


def test_loss_with_machinery_is_inspected_monthly_not_yearly(officer, product, branch):
    loan = _loan(officer, product, branch)
    _secure_with_machinery(loan)
    set_tier(loan, "loss")
    schedule_inspections(as_of=NOV_10)
    assert planned(loan, kinds=POLICY_KINDS) == [("routine", "2026-11#1", date(2026, 11, 30))]


def test_normal_with_machinery_is_inspected_monthly_and_leaves_the_sample(officer, product, branch):
    secured = _loan(officer, product, branch)
    _secure_with_machinery(secured)
    plain = _loan(officer, product, branch)
    result = schedule_inspections(as_of=NOV_10)
    assert planned(secured, kinds=POLICY_KINDS) == [("routine", "2026-11#1", date(2026, 11, 30))]
    # The sample is drawn from the one loan left to sampling.
    assert result.sampled == 1
    assert planned(plain, kinds=POLICY_KINDS) == [("routine", "2026-11#sample", date(2026, 11, 30))]


def test_released_machinery_no_longer_counts(officer, product, branch):
    loan = _loan(officer, product, branch)
    _secure_with_machinery(loan)
    loan.collateral.update(status="released")
    set_tier(loan, "substandard")
    schedule_inspections(as_of=NOV_10)
    assert planned(loan, kinds=POLICY_KINDS) == [("key_tracking", "2026-11#1", date(2026, 11, 30))]


@pytest.mark.parametrize(
    ("terms", "applies"),
    [
        ({}, True),
        ({"principal": Decimal("99999.00")}, False),
        ({"product": "other"}, False),
        ({"method": "equal_principal"}, False),
    ],
    ids=["all-conditions-met", "outstanding-too-small", "other-product", "other-method"],
)
def test_a_custom_rule_applies_only_when_all_its_conditions_hold(
    terms, applies, officer, product, branch
):
    # given: large equal-instalment loans of this product get three return visits a month
    InspectionPolicyRule.objects.create(
        name="Large GUAR loans: three return visits",
        min_outstanding=Decimal("100000.00"),
        product=product,
        repayment_method="equal_installment",
        frequency="per_month",
        times_per_month=3,
        kind="return_visit",
    )
    if terms.get("product") == "other":
        terms["product"] = ProductFactory(code="OTHER")
    loan = book(
        officer,
        **{"product": product, "branch": branch, "disbursed_on": date(2026, 6, 1), **terms},
    )
    set_tier(loan, "special_mention")
    schedule_inspections(as_of=NOV_10)
    if applies:
        assert planned(loan, kinds=POLICY_KINDS) == [
            ("return_visit", "2026-11#1", date(2026, 11, 10)),
            ("return_visit", "2026-11#2", date(2026, 11, 20)),
            ("return_visit", "2026-11#3", date(2026, 11, 30)),
        ]
    else:  # the tier's own rule
        assert planned(loan, kinds=POLICY_KINDS) == [("routine", "2026-11#1", date(2026, 11, 30))]


def test_a_loan_no_rule_applies_to_any_more_has_its_slots_cancelled_with_its_tier(
    officer, product, branch
):
    loan = _loan(officer, product, branch)
    set_tier(loan, "special_mention")
    schedule_inspections(as_of=NOV_10)
    InspectionPolicyRule.objects.filter(tier="special_mention").update(is_active=False)
    schedule_inspections(as_of=date(2026, 11, 11))
    assert planned(loan, statuses=("cancelled",), kinds=POLICY_KINDS) == [
        ("routine", "2026-11#1", date(2026, 11, 30))
    ]
    assert Inspection.objects.get(loan=loan, kind="routine").cancel_reason == (
        "no_longer_required:special_mention"
    )


def test_an_edited_rule_moves_its_open_slots(officer, product, branch):
    loan = _loan(officer, product, branch)
    set_tier(loan, "doubtful")
    schedule_inspections(as_of=NOV_10)
    InspectionPolicyRule.objects.filter(tier="doubtful").update(times_per_month=3)
    result = schedule_inspections(as_of=date(2026, 11, 11))
    assert (result.created, result.rescheduled) == (1, 2)
    assert planned(loan, kinds=POLICY_KINDS) == [
        ("key_tracking", "2026-11#1", date(2026, 11, 10)),
        ("key_tracking", "2026-11#2", date(2026, 11, 20)),
        ("key_tracking", "2026-11#3", date(2026, 11, 30)),
    ]


def test_a_rule_not_in_force_does_not_apply(officer, product, branch):
    InspectionPolicyRule.objects.filter(tier="special_mention").update(is_active=False)
    InspectionPolicyRule.objects.create(
        name="Any loan: a return visit every 3 months",
        frequency="every_n_months",
        every_months=3,
        kind="return_visit",
    )
    loan = _loan(officer, product, branch)
    set_tier(loan, "special_mention")
    schedule_inspections(as_of=NOV_10)
    assert planned(loan, kinds=POLICY_KINDS) == [("return_visit", "2026-10/3m", date(2026, 12, 31))]


# --- Sampling normal loans ---------------------------------------------------------------------


def _sample_of(month: date) -> set[int]:
    return set(
        Inspection.objects.filter(slot=f"{month:%Y-%m}#sample")
        .exclude(status="cancelled")
        .values_list("loan_id", flat=True)
    )


def test_sampling_inspects_every_normal_loan_within_ceil_one_over_rate_months(
    officer, product, branch
):
    # given 60 normal loans and the default 10% sample
    loans = {_loan(officer, product, branch, disbursed_on=date(2025, 11, 3)).pk for _ in range(60)}
    rate = InspectionPolicyRule.objects.get(frequency="sample").sample_percent / 100
    window = math.ceil(1 / rate)
    assert window == 10
    # when each month of 2026 is planned, and the drawn loans inspected that month
    drawn: dict[int, set[int]] = {}
    for month in range(1, 13):
        first = date(2026, month, 1)
        result = schedule_inspections(as_of=first)
        drawn[month] = _sample_of(first)
        assert result.sampled == len(drawn[month]) == 6
        # A second run in the month draws nothing more.
        assert schedule_inspections(as_of=first + timedelta(days=17)).sampled == 0
        assert _sample_of(first) == drawn[month]
        Inspection.objects.filter(slot=f"{first:%Y-%m}#sample").update(
            status="done", completed_on=first + timedelta(days=19)
        )
    # then any `window` consecutive months inspect every loan at least once
    for start in range(1, 12 - window + 2):
        covered = set().union(*(drawn[m] for m in range(start, start + window)))
        assert covered == loans, f"months {start}..{start + window - 1}"
    # and the first ten months visit each loan exactly once (longest without first)
    assert sum(len(drawn[m]) for m in range(1, 11)) == len(loans)


def test_the_monthly_draw_is_reproducible(officer, product, branch):
    for _ in range(20):
        _loan(officer, product, branch, disbursed_on=date(2025, 11, 3))

    def draw(as_of: date) -> set[int]:
        # In a savepoint rolled back afterwards: every draw starts from the same state.
        with transaction.atomic():
            schedule_inspections(as_of=as_of)
            sample = _sample_of(as_of)
            transaction.set_rollback(True)
        return sample

    march = draw(date(2026, 3, 2))
    assert len(march) == 2
    assert draw(date(2026, 3, 2)) == march
    assert draw(date(2026, 3, 27)) == march  # any day of the month draws the same loans
    assert Inspection.objects.filter(slot__endswith="#sample").count() == 0
    # The same draw, kept this time; then the run again draws nothing.
    schedule_inspections(as_of=date(2026, 3, 2))
    assert _sample_of(date(2026, 3, 1)) == march
    assert schedule_inspections(as_of=date(2026, 3, 5)).sampled == 0


def test_a_loan_that_left_the_sample_tier_keeps_nothing_of_it(officer, product, branch):
    loan = _loan(officer, product, branch)
    schedule_inspections(as_of=NOV_10)
    assert planned(loan, kinds=POLICY_KINDS) == [("routine", "2026-11#sample", date(2026, 11, 30))]
    set_tier(loan, "special_mention")
    schedule_for_loans([loan.pk], as_of=date(2026, 11, 12))
    assert planned(loan, kinds=POLICY_KINDS) == [("routine", "2026-11#1", date(2026, 11, 30))]
    cancelled = Inspection.objects.get(loan=loan, slot="2026-11#sample")
    assert (cancelled.status, cancelled.cancel_reason, cancelled.cancelled_on) == (
        "cancelled",
        "no_longer_required:special_mention",
        date(2026, 11, 12),
    )


# --- Idempotency and crashes ------------------------------------------------------------------


@pytest.fixture
def portfolio(officer, other_officer, risk_manager, product, branch):
    """Loans in every situation the plan knows: each tier, machinery, missed periods, a
    serious flag, a handover not yet contacted."""
    loans = {}
    for tier in ("normal", "special_mention", "substandard", "doubtful", "loss"):
        loans[tier] = _loan(officer, product, branch)
        set_tier(loans[tier], tier)
    loans["machinery"] = _loan(other_officer, product, branch)
    _secure_with_machinery(loans["machinery"])
    loans["missed"] = _loan(officer, product, branch)
    set_tier(loans["missed"], "special_mention", consecutive_missed=2)
    loans["flagged"] = _loan(other_officer, product, branch)
    flag_raise(
        factor=11,
        evidence="The workshop burnt down.",
        by=risk_manager,
        loan=loans["flagged"],
        is_serious=True,
        raised_on=date(2026, 11, 9),
    )
    loans["new"] = _loan(officer, product, branch, disbursed_on=date(2026, 11, 2))
    return loans


def test_a_second_run_the_same_day_creates_nothing(portfolio):
    first = schedule_inspections(as_of=NOV_10)
    assert first.created > 0
    before = _snapshot()
    second = schedule_inspections(as_of=NOV_10)
    assert (
        second.created,
        second.sampled,
        second.reopened,
        second.rescheduled,
        second.cancelled,
        second.completed,
    ) == (0, 0, 0, 0, 0, 0)
    assert _snapshot() == before
    kinds = set(Inspection.objects.values_list("kind", flat=True))
    assert kinds == {
        "routine",
        "key_tracking",
        "handover",
        "default_follow_up",
        "ad_hoc",
    }


def test_a_run_that_dies_half_way_leaves_nothing_and_the_next_run_completes_it(
    portfolio, monkeypatch
):
    before = _snapshot()

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    # given a run that dies after the policy, the sample and the handovers were written
    monkeypatch.setattr(scheduling, "_ad_hoc_due_dates", crash)
    with pytest.raises(RuntimeError):
        schedule_inspections(as_of=NOV_10)
    # then it left nothing behind
    assert _snapshot() == before
    # and running again plans everything, once
    monkeypatch.undo()
    result = schedule_inspections(as_of=NOV_10)
    assert result.created > 0 and result.sampled == 1
    assert Inspection.objects.filter(kind="ad_hoc").count() == 1
    after = _snapshot()
    schedule_inspections(as_of=NOV_10)
    assert _snapshot() == after


def _replan_counts(result) -> tuple:
    return (
        result.created,
        result.sampled,
        result.reopened,
        result.rescheduled,
        result.cancelled,
        result.completed,
    )


def test_a_rerun_in_the_month_replans_only_the_loans_whose_inputs_changed(portfolio):
    first = schedule_inspections(as_of=NOV_10)
    runs = list(PlanningRun.objects.values_list("full", "replanned"))
    assert runs == [(True, len(portfolio))] and first.replanned == len(portfolio)
    assert schedule_inspections(as_of=NOV_10).replanned == 0
    # given one loan that became doubtful overnight
    set_tier(portfolio["special_mention"], "doubtful")
    second = schedule_inspections(as_of=date(2026, 11, 11))
    # then only it is re-planned: two key tracking visits instead of its routine inspection
    assert (second.replanned, second.created, second.cancelled) == (1, 2, 1)
    assert PlanningRun.objects.first().full is False
    # and a changed policy re-plans every loan again
    InspectionPolicyRule.objects.filter(tier="loss").update(every_months=6)
    third = schedule_inspections(as_of=date(2026, 11, 11))
    assert third.replanned == len(portfolio) and PlanningRun.objects.first().full is True
    # as does the first run of a new month
    assert schedule_inspections(as_of=date(2026, 12, 1)).replanned == len(portfolio)


def test_a_run_of_the_changes_leaves_nothing_for_a_full_run_to_do(
    portfolio, other_officer, risk_manager, product, branch
):
    """Whatever changed since the month's first run, re-planning only the loans it touched
    ends where re-planning every loan would."""
    schedule_inspections(as_of=NOV_10)
    # given changes of every kind behind the planner's back: tiers up and down, machinery
    # released, a reassignment, a closing, a new loan, a loan over a new amount threshold
    set_tier(portfolio["normal"], "substandard")
    set_tier(portfolio["doubtful"], "special_mention")
    set_tier(portfolio["loss"], "normal")
    portfolio["machinery"].collateral.update(status="released")
    loan_services.loan_reassign(
        loan=portfolio["substandard"],
        to_officer=other_officer,
        effective_on=timezone.localdate(),
        reason="Officer moved branch.",
        by=risk_manager,
    )
    Loan.objects.filter(pk=portfolio["missed"].pk).update(status="settled", closed_on=NOV_10)
    _loan(other_officer, product, branch, disbursed_on=date(2026, 11, 3))
    LoanRiskState.objects.filter(loan=portfolio["new"]).update(
        tier="normal", outstanding_principal=Decimal("900000.00")
    )
    InspectionPolicyRule.objects.create(
        name="Large normal loans, monthly",
        tier="normal",
        min_outstanding=Decimal("500000.00"),
        frequency="per_month",
        times_per_month=1,
    )
    schedule_inspections(as_of=NOV_10)  # a new policy: every loan again
    set_tier(portfolio["special_mention"], "doubtful")
    LoanRiskState.objects.filter(loan=portfolio["new"]).update(
        outstanding_principal=Decimal("100000.00")
    )
    # when only the changes are re-planned
    changes = schedule_inspections(as_of=date(2026, 11, 12))
    assert PlanningRun.objects.first().full is False and changes.replanned == 2
    after_changes = _snapshot()
    # then a full re-planning finds nothing left to do
    full = schedule_inspections(as_of=date(2026, 11, 12), full=True)
    assert PlanningRun.objects.first().full is True
    assert _replan_counts(full) == (0, 0, 0, 0, 0, 0)
    assert _snapshot() == after_changes


def test_a_loan_closed_behind_the_planners_back_is_cancelled_by_the_next_run(portfolio):
    schedule_inspections(as_of=NOV_10)
    loan = portfolio["doubtful"]
    Loan.objects.filter(pk=loan.pk).update(status="settled", closed_on=NOV_10)
    result = schedule_inspections(as_of=date(2026, 11, 11))
    assert PlanningRun.objects.first().full is False
    assert result.cancelled == 3  # two visits and the handover
    assert set(Inspection.objects.filter(loan=loan).values_list("status", "cancel_reason")) == {
        ("cancelled", "loan_closed")
    }
    assert not PlannedLoan.objects.filter(loan_id=loan.pk).exists()


def test_an_officer_or_a_loan_with_inspections_cannot_be_deleted(portfolio, django_user_model):
    """The inspection table has no database-level foreign keys (they cost a third of a
    month's first planning); the ORM's PROTECT still refuses to orphan an inspection."""
    from django.db.models import ProtectedError

    schedule_inspections(as_of=NOV_10)
    stand_in = django_user_model.objects.create_user("stand-in")
    inspection = Inspection.objects.filter(loan=portfolio["doubtful"]).first()
    Inspection.objects.filter(pk=inspection.pk).update(assigned_to=stand_in)
    with pytest.raises(ProtectedError) as refused:
        stand_in.delete()
    assert inspection in refused.value.protected_objects
    with pytest.raises(ProtectedError) as refused:
        Loan.objects.filter(pk=portfolio["doubtful"].pk).delete()
    assert inspection in refused.value.protected_objects
    assert Inspection.objects.filter(pk=inspection.pk, assigned_to=stand_in).exists()


# --- Tier changes re-plan at once -------------------------------------------------------------


@pytest.fixture
def substandard_loan(officer, product, branch):
    """Monthly instalments from 2026-01-15, never paid: substandard (4 missed) on 2026-04-16."""
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    classify(date(2026, 4, 16))
    assert (risk(loan).consecutive_missed, risk(loan).tier) == (4, "substandard")
    return loan


def _adjust(loan, tier, *, officer, risk_manager):
    proposal = adjustment_propose(
        loan=loan, tier=tier, reason="Visited the shop: see the report.", by=officer
    )
    adjustment_decide(adjustment=proposal, approve=True, comment="", by=risk_manager)
    assert risk(loan).tier == tier


def test_tier_changes_replan_the_same_day_and_cancel_what_is_no_longer_required(
    substandard_loan, officer, risk_manager
):
    loan = substandard_loan
    today = timezone.localdate()
    month, _first, fifteenth, last = _month(today)
    schedule_inspections()
    assert planned(loan, kinds=POLICY_KINDS) == [("key_tracking", f"{month}#1", last)]
    first_visit = Inspection.objects.get(loan=loan, slot=f"{month}#1")

    # Stricter: approving doubtful brings the second visit at once; the first is due by the 15th.
    _adjust(loan, "doubtful", officer=officer, risk_manager=risk_manager)
    assert planned(loan, kinds=POLICY_KINDS) == [
        ("key_tracking", f"{month}#1", fifteenth),
        ("key_tracking", f"{month}#2", last),
    ]

    # Lighter: special mention needs one routine inspection; the visits are cancelled, kept.
    _adjust(loan, "special_mention", officer=officer, risk_manager=risk_manager)
    assert planned(loan, kinds=POLICY_KINDS) == [("routine", f"{month}#1", last)]
    cancelled = Inspection.objects.filter(loan=loan, kind="key_tracking").order_by("slot")
    assert [(i.slot, i.status, i.cancelled_on, i.cancel_reason) for i in cancelled] == [
        (f"{month}#1", "cancelled", today, "no_longer_required:special_mention"),
        (f"{month}#2", "cancelled", today, "no_longer_required:special_mention"),
    ]

    # Back to doubtful in the same month: the cancelled slots are reopened, not duplicated.
    _adjust(loan, "doubtful", officer=officer, risk_manager=risk_manager)
    assert planned(loan, kinds=POLICY_KINDS) == [
        ("key_tracking", f"{month}#1", fifteenth),
        ("key_tracking", f"{month}#2", last),
    ]
    first_visit.refresh_from_db()
    assert (first_visit.status, first_visit.cancelled_on, first_visit.cancel_reason) == (
        "open",
        None,
        "",
    )
    assert Inspection.objects.filter(loan=loan, kind="key_tracking").count() == 2
    routine = Inspection.objects.get(loan=loan, kind="routine")
    assert (routine.status, routine.cancel_reason) == ("cancelled", "no_longer_required:doubtful")


def test_a_done_inspection_is_never_cancelled(officer, product, branch):
    loan = _loan(officer, product, branch)
    set_tier(loan, "doubtful")
    schedule_inspections(as_of=NOV_10)
    Inspection.objects.filter(loan=loan, slot="2026-11#1").update(
        status="done", completed_on=date(2026, 11, 12)
    )
    set_tier(loan, "special_mention")
    schedule_for_loans([loan.pk], as_of=date(2026, 11, 13))
    assert planned(loan, statuses=("done",)) == [("key_tracking", "2026-11#1", date(2026, 11, 15))]
    assert planned(loan, statuses=("cancelled",)) == [
        ("key_tracking", "2026-11#2", date(2026, 11, 30))
    ]


def test_last_months_overdue_inspection_stays_when_the_tier_gets_lighter(officer, product, branch):
    loan = _loan(officer, product, branch)
    set_tier(loan, "substandard")
    schedule_inspections(as_of=date(2026, 10, 5))
    set_tier(loan, "special_mention")
    schedule_for_loans([loan.pk], as_of=NOV_10)
    # October's visit was not done: it stays open (and overdue); November needs a routine one.
    assert planned(loan, kinds=POLICY_KINDS) == [
        ("key_tracking", "2026-10#1", date(2026, 10, 31)),
        ("routine", "2026-11#1", date(2026, 11, 30)),
    ]


def test_planning_an_earlier_month_leaves_a_later_months_plan_alone(officer, product, branch):
    loan = _loan(officer, product, branch)
    set_tier(loan, "doubtful")
    schedule_inspections(as_of=NOV_10)
    november = planned(loan, kinds=POLICY_KINDS)
    # A backfill of October (a missed nightly run) adds October and cancels nothing later.
    schedule_inspections(as_of=date(2026, 10, 20))
    assert planned(loan, kinds=POLICY_KINDS) == sorted(
        [
            ("key_tracking", "2026-10#1", date(2026, 10, 15)),
            ("key_tracking", "2026-10#2", date(2026, 10, 31)),
            *november,
        ]
    )
    assert not Inspection.objects.filter(status="cancelled").exists()


# --- Events: handover, serious flags, missed periods -----------------------------------------


def test_the_calendar_has_the_make_up_working_days_these_tests_rely_on():
    for saturday in (date(2026, 2, 14), date(2026, 2, 28), date(2026, 10, 10)):
        assert saturday.weekday() == 5 and chinese_calendar.is_workday(saturday), saturday
    for day in (date(2026, 10, 1) + timedelta(days=n) for n in range(7)):
        assert chinese_calendar.is_holiday(day), day


@pytest.mark.parametrize(
    ("disbursed_on", "due_on", "contacted_on", "on_time"),
    [
        # National Day (Oct 1-7) off; Saturday Oct 10 is a make-up working day.
        (date(2026, 9, 30), date(2026, 10, 13), date(2026, 10, 20), False),
        # Friday Feb 13, make-up Saturday Feb 14, then the Spring Festival (Feb 15-23).
        (date(2026, 2, 12), date(2026, 2, 26), date(2026, 2, 14), True),
    ],
)
def test_handover_first_contact_is_due_five_working_days_after_disbursement(
    disbursed_on, due_on, contacted_on, on_time, officer, product, branch
):
    # given a loan just booked: the first-contact inspection is planned with it
    loan = _loan(officer, product, branch, disbursed_on=disbursed_on)
    inspection = Inspection.objects.get(loan=loan, kind="handover")
    assert (inspection.slot, inspection.due_on, inspection.status, inspection.reason) == (
        "handover",
        due_on,
        "open",
        "handover",
    )
    assert inspection.assigned_to == officer
    # when the officer records the contact (on time or late)
    loan_services.handover_record_contact(
        handover=loan.handover,
        contacted_on=contacted_on,
        contact_method="phone",
        fixed_contact="13800000000",
        by=officer,
    )
    # then the inspection is done, on that day
    inspection.refresh_from_db()
    assert (inspection.status, inspection.completed_on) == ("done", contacted_on)
    assert inspection.done_on_time is on_time
    # and no run plans it again
    schedule_inspections()
    assert Inspection.objects.filter(loan=loan, kind="handover").count() == 1


@pytest.mark.parametrize(
    ("raised_on", "due_on"),
    [
        (date(2026, 10, 8), date(2026, 10, 10)),  # due on the make-up Saturday
        (date(2026, 9, 30), date(2026, 10, 9)),  # over National Day
        (date(2026, 2, 13), date(2026, 2, 24)),  # make-up Saturday, then Spring Festival
        (date(2026, 11, 6), date(2026, 11, 10)),  # an ordinary weekend
    ],
)
def test_a_serious_flag_brings_an_ad_hoc_inspection_within_two_working_days(
    raised_on, due_on, officer, other_officer, risk_manager, product, branch
):
    borrower = make_person()
    first = book(
        officer, product=product, branch=branch, borrower=borrower, disbursed_on=date(2026, 1, 5)
    )
    second = book(
        other_officer,
        product=product,
        branch=branch,
        borrower=borrower,
        disbursed_on=date(2026, 1, 6),
    )
    unrelated = _loan(officer, product, branch)
    flag = flag_raise(
        factor=11,
        evidence="Borrower arrested for fraud.",
        by=risk_manager,
        borrower=borrower,
        is_serious=True,
        raised_on=raised_on,
    )
    # Every loan of the borrower, at once, to each loan's managing officer.
    ad_hoc = Inspection.objects.filter(kind="ad_hoc").order_by("loan_id")
    assert [(i.loan, i.slot, i.due_on, i.assigned_to, i.reason, i.flag) for i in ad_hoc] == [
        (first, f"flag-{flag.pk}", due_on, officer, "flag", flag),
        (second, f"flag-{flag.pk}", due_on, other_officer, "flag", flag),
    ]
    assert not Inspection.objects.filter(loan=unrelated, kind="ad_hoc").exists()
    schedule_inspections()
    assert Inspection.objects.filter(kind="ad_hoc").count() == 2


def test_a_serious_flag_on_a_guarantor_without_loans_plans_nothing(risk_manager):
    from tests.factories import make_guarantor

    flag_raise(
        factor=11,
        evidence="Guarantor fled.",
        by=risk_manager,
        guarantor=make_guarantor(),
        is_serious=True,
    )
    assert not Inspection.objects.exists()


def test_a_flag_that_is_not_serious_plans_nothing(officer, risk_manager, product, branch):
    loan = _loan(officer, product, branch)
    flag_raise(factor=11, evidence="Valuer says less.", by=risk_manager, loan=loan)
    schedule_inspections()
    assert not Inspection.objects.filter(kind="ad_hoc").exists()


def test_default_follow_up_once_while_missed_and_again_next_month(substandard_loan):
    loan = substandard_loan  # 4 missed periods as of 2026-04-16

    def follow_ups():
        return planned(loan, statuses=("open", "done"), kinds=["default_follow_up"])

    schedule_inspections(as_of=date(2026, 4, 16))
    # Five working days after the run that found the missed periods.
    assert follow_ups() == [("default_follow_up", "missed-2026-04", date(2026, 4, 23))]
    inspection = Inspection.objects.get(loan=loan, kind="default_follow_up")
    assert (inspection.reason, inspection.assigned_to_id) == ("missed", loan.managing_officer_id)
    # Not duplicated: the same day, later that month, nor next month while it is open.
    schedule_inspections(as_of=date(2026, 4, 16))
    schedule_inspections(as_of=date(2026, 4, 28))
    schedule_inspections(as_of=date(2026, 5, 6))
    assert follow_ups() == [("default_follow_up", "missed-2026-04", date(2026, 4, 23))]
    # Done, and still missed next month: a new one.
    inspection.status, inspection.completed_on = "done", date(2026, 5, 7)
    inspection.save()
    schedule_inspections(as_of=date(2026, 5, 8))
    schedule_inspections(as_of=date(2026, 5, 9))
    assert follow_ups() == [
        ("default_follow_up", "missed-2026-04", date(2026, 4, 23)),
        # Five working days from Friday May 8: Saturday May 9 is a make-up working day.
        ("default_follow_up", "missed-2026-05", date(2026, 5, 14)),
    ]


def test_a_loan_without_missed_periods_gets_no_follow_up(officer, product, branch):
    loan = _loan(officer, product, branch)
    set_tier(loan, "special_mention", consecutive_missed=0)
    schedule_inspections(as_of=NOV_10)
    assert not Inspection.objects.filter(loan=loan, kind="default_follow_up").exists()


# --- Reassignment, overdue, closing --------------------------------------------------------------


def test_reassignment_moves_open_inspections_to_the_new_officer(
    officer, other_officer, risk_manager, product, branch
):
    loan = _loan(officer, product, branch)
    set_tier(loan, "doubtful")
    schedule_inspections(as_of=NOV_10)
    done = Inspection.objects.get(loan=loan, slot="2026-11#1")
    done.status, done.completed_on = "done", date(2026, 11, 14)
    done.save()
    loan_services.loan_reassign(
        loan=loan,
        to_officer=other_officer,
        effective_on=timezone.localdate(),
        reason="Officer moved branch.",
        by=risk_manager,
    )
    by_officer = dict(
        Inspection.objects.filter(loan=loan).values_list("slot", "assigned_to__username")
    )
    assert by_officer == {
        "handover": "officer-b",
        "2026-11#1": "officer-a",  # done by the officer who was in charge
        "2026-11#2": "officer-b",
    }
    # And what is planned next goes to the new officer.
    schedule_inspections(as_of=date(2026, 12, 1))
    assert Inspection.objects.get(loan=loan, slot="2026-12#1").assigned_to == other_officer


def test_overdue_inspections_are_counted_per_officer(officer, other_officer, product, branch):
    mine = _loan(officer, product, branch)
    set_tier(mine, "doubtful")
    theirs = _loan(other_officer, product, branch)
    set_tier(theirs, "special_mention")
    schedule_inspections(as_of=NOV_10)
    # (the handovers of June are overdue too)
    on_16th = {
        row["assigned_to__username"]: row["overdue"]
        for row in overdue_by_officer(today=date(2026, 11, 16))
    }
    assert on_16th == {"officer-a": 2, "officer-b": 1}
    first = Inspection.objects.get(loan=mine, slot="2026-11#1")
    assert first.is_overdue(date(2026, 11, 16)) and not first.is_overdue(date(2026, 11, 15))
    first.status, first.completed_on = "done", date(2026, 11, 17)
    first.save()
    on_dec_1 = {
        row["assigned_to__username"]: row["overdue"]
        for row in overdue_by_officer(today=date(2026, 12, 1))
    }
    assert on_dec_1 == {"officer-a": 2, "officer-b": 2}
    # Most overdue first.
    assert [row["assigned_to"] for row in overdue_by_officer(today=date(2026, 11, 16))] == [
        officer.pk,
        other_officer.pk,
    ]


@pytest.mark.parametrize("closing", ["settled", "written_off"])
def test_a_closed_loan_has_its_open_inspections_cancelled(closing, officer, product, branch):
    loan = _loan(officer, product, branch)
    set_tier(loan, "doubtful")
    schedule_inspections(as_of=NOV_10)
    Inspection.objects.filter(loan=loan, slot="2026-11#1").update(
        status="done", completed_on=date(2026, 11, 12)
    )
    today = timezone.localdate()
    if closing == "settled":
        loan_services.loan_transition(loan=loan, to="settled", on=today, reason="Paid off.")
    else:
        loan_services.loan_write_off(loan=loan, on=today, reason="Court ruling: nothing left.")
    rows = Inspection.objects.filter(loan=loan).order_by("slot")
    assert [(i.slot, i.status, i.cancel_reason) for i in rows] == [
        ("2026-11#1", "done", ""),
        ("2026-11#2", "cancelled", "loan_closed"),
        ("handover", "cancelled", "loan_closed"),
    ]
    assert {i.cancelled_on for i in rows if i.status == "cancelled"} == {today}
    # The nightly run plans nothing for it any more.
    assert schedule_inspections(as_of=NOV_10).created == 0
    assert schedule_inspections(as_of=date(2026, 12, 1)).created == 0
    assert Inspection.objects.filter(loan=loan, status="open").count() == 0


# --- The commands ---------------------------------------------------------------------------------


def test_the_schedule_command_plans_the_month_of_a_date(officer, product, branch):
    loan = _loan(officer, product, branch)
    set_tier(loan, "doubtful")
    out = StringIO()
    call_command("schedule_inspections", "--as-of", "2026-11-10", stdout=out)
    assert out.getvalue() == (
        "planned inspections as of 2026-11-10: 1 loan(s) re-planned, 2 created, 0 sampled, "
        "0 reopened, 0 rescheduled, 0 cancelled, 0 completed\n"
    )
    assert len(planned(loan, kinds=POLICY_KINDS)) == 2
    # Again in the month: only what changed (nothing); with --full, every loan.
    for flags, replanned in (([], 0), (["--full"], 1)):
        out = StringIO()
        call_command("schedule_inspections", "--as-of", "2026-11-11", *flags, stdout=out)
        assert out.getvalue().startswith(
            f"planned inspections as of 2026-11-11: {replanned} loan(s) re-planned, 0 created"
        )
    assert list(PlanningRun.objects.order_by("id").values_list("full", flat=True)) == [
        True,
        False,
        True,
    ]


def test_the_export_command_writes_the_inspections_due_in_the_range(
    officer, other_officer, product, branch, tmp_path
):
    doubtful = _loan(officer, product, branch, reference="DH-EXPORT-1")
    set_tier(doubtful, "doubtful")
    loss = _loan(other_officer, product, branch, reference="DH-EXPORT-2")
    set_tier(loss, "loss")
    schedule_inspections(as_of=NOV_10)
    Inspection.objects.filter(loan=doubtful, slot="2026-11#1").update(
        status="done", completed_on=date(2026, 11, 14)
    )
    out = tmp_path / "inspections.csv"
    stdout = StringIO()
    call_command(
        "export_inspections",
        "--from",
        "2026-11-01",
        "--to",
        "2026-12-31",
        "--out",
        str(out),
        stdout=stdout,
    )
    assert out.read_bytes().decode("utf-8") == (
        "loan_ref,kind,due_on,status,officer\r\n"
        "DH-EXPORT-1,key_tracking,2026-11-15,done,officer-a\r\n"
        "DH-EXPORT-1,key_tracking,2026-11-30,open,officer-a\r\n"
        "DH-EXPORT-2,routine,2026-12-31,open,officer-b\r\n"
    )
    assert stdout.getvalue() == f"wrote 3 inspections to {out}\n"
    with out.open(encoding="utf-8", newline="") as exported:
        rows = list(csv.DictReader(exported))
    assert [row["loan_ref"] for row in rows] == ["DH-EXPORT-1", "DH-EXPORT-1", "DH-EXPORT-2"]


def test_the_export_command_refuses_a_range_that_ends_before_it_starts(tmp_path):
    out = tmp_path / "inspections.csv"
    with pytest.raises(CommandError, match="--to is before --from"):
        call_command(
            "export_inspections", "--from", "2026-12-01", "--to", "2026-11-30", "--out", str(out)
        )
    assert not out.exists()
