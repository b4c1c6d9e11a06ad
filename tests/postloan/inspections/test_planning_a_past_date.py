"""Planning a past date uses that date's state (issue 16): `schedule_inspections --as-of D`
for a D before the latest classification run plans from the tiers as of D, computed as
that day's classification decided them, never from today's."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command

from postloan.inspections.planning import schedule_inspections
from postloan.models import ClassificationRun, LoanRiskState, PlannedLoan, PlanningRun
from tests.postloan.helpers import (
    book,
    classify,
    pay_instalments,
    planned,
    restore_default_inspection_policy,
    risk,
)

TODAY = date(2026, 11, 10)
OCTOBER_END = date(2026, 10, 31)
POLICY = ("routine", "key_tracking", "return_visit")

pytestmark = [pytest.mark.django_db, pytest.mark.clock(TODAY)]


@pytest.fixture(autouse=True)
def _default_policy(db):
    restore_default_inspection_policy()


@pytest.fixture
def caught_up(officer, product, branch):
    """Three instalments missed by the end of October (special mention then), all paid on
    5 November: normal in today's state."""
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 7, 1),
        first_due_on=date(2026, 8, 1),
    )
    classify(OCTOBER_END)
    assert risk(loan).tier == "special_mention"
    pay_instalments(loan, 3, date(2026, 11, 5))
    classify(TODAY)
    assert risk(loan).tier == "normal"
    return loan


def test_a_past_month_is_planned_from_its_own_tiers(caught_up):
    state_before = list(LoanRiskState.objects.values_list())
    runs_before = list(ClassificationRun.objects.values_list())
    out = StringIO()
    # when October is planned after November's classification
    call_command("schedule_inspections", "--as-of", OCTOBER_END.isoformat(), stdout=out)
    # then the loan gets the visit special mention required in October, not the sampling of
    # a normal loan (today's tier)
    assert planned(caught_up, kinds=POLICY) == [("routine", "2026-10#1", OCTOBER_END)]
    assert PlannedLoan.objects.get(loan_id=caught_up.pk).tier == "special_mention"
    # and the command says where the tiers came from
    assert out.getvalue().splitlines()[0] == (
        "the tiers as of 2026-10-31 were computed for the planning "
        "(the current state is as of 2026-11-10)"
    )
    # and nothing of the current state or the runs changed
    assert list(LoanRiskState.objects.values_list()) == state_before
    assert list(ClassificationRun.objects.values_list()) == runs_before


def test_the_date_of_the_state_and_later_are_planned_from_the_state(caught_up):
    result = schedule_inspections(as_of=TODAY)
    assert result.state_as_of is None
    # normal today: the month's sample (one loan: 10% rounds up to it), no monthly visit
    assert planned(caught_up, kinds=POLICY) == [("routine", "2026-11#sample", date(2026, 11, 30))]
    assert PlanningRun.objects.get().as_of == TODAY


def test_a_date_with_no_run_after_it_is_planned_from_the_state(officer, product, branch):
    loan = book(officer, product=product, branch=branch, disbursed_on=date(2026, 7, 1))
    LoanRiskState.objects.filter(loan=loan).update(tier="doubtful")
    # no classification run at all: the state is all there is
    result = schedule_inspections(as_of=OCTOBER_END)
    assert result.state_as_of is None
    assert [slot for _, slot, _ in planned(loan, kinds=POLICY)] == ["2026-10#1", "2026-10#2"]
