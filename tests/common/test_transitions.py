"""The one guarded status change and the one maker-checker (common.transitions, issue 17):
an illegal move is refused with its translated message and changes nothing; a move records
who, when, from, to and why; nobody decides their own proposal, a proposal is decided
once, never after it was withdrawn, and two checkers deciding at once are one after the
other under the row lock."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from common.models import Notification
from common.roles import Role
from common.transitions import decide, transition, withdraw
from loans import services as loan_services
from loans.models import Loan, LoanStatusChange
from postloan.fieldwork import services as visits
from postloan.models import CollectionPlan, TierAdjustment
from postloan.risk.services import adjustment_decide, adjustment_propose, adjustment_withdraw
from postloan.transitions import (
    ADJUSTMENT_APPROVAL,
    PLAN_APPROVAL,
    PLAN_TRANSITIONS,
    STEP_TRANSITIONS,
)
from tests.factories import book_loan, make_person

pytestmark = pytest.mark.django_db


def _today():
    return timezone.localdate()


def _plan(loan, by) -> CollectionPlan:
    return visits.plan_propose(
        loan=loan,
        kind="collection",
        summary="Phone weekly, then visit the shop.",
        steps=[
            {"action": f"Step {n}", "target_on": _today() + timedelta(days=7 * n)} for n in (1, 2)
        ],
        by=by,
    )


def _events(model, obj) -> list:
    """The pghistory events of one row, oldest first."""
    event_model = apps.get_model(model._meta.app_label, f"{model.__name__}Event")
    return list(event_model.objects.filter(pgh_obj_id=obj.pk).order_by("pgh_id"))


# --- The guarded move ----------------------------------------------------------------------------


def test_an_illegal_move_is_refused_with_its_translated_message(loan, risk_manager):
    loan_services.loan_transition(loan=loan, to="settled", on=_today(), reason="Paid", by=None)
    for language, message in [
        ("en", "A loan that is Settled cannot become Written off."),
        ("zh-hans", "状态为“已结清”的贷款不能变更为“已核销”。"),
    ]:
        with translation.override(language), pytest.raises(ValidationError) as refused:
            transition(
                loan, "written_off", by=risk_manager, why="x", table=loan_services.LOAN_TRANSITIONS
            )
        assert (refused.value.messages, refused.value.code) == ([message], "illegal_transition")
    assert Loan.objects.get(pk=loan.pk).status == "settled"
    assert LoanStatusChange.objects.filter(loan=loan).count() == 1


def test_a_move_is_judged_on_the_stored_status_not_the_callers_copy(loan, officer, supervisor):
    plan = _plan(loan, officer)
    decide(plan, approve=True, comment="", by=supervisor, rule=PLAN_APPROVAL)
    step = plan.steps.get(seq=1)
    stale = plan.steps.get(seq=1)
    transition(step, "done", by=officer, why="Paid", table=STEP_TRANSITIONS)
    assert stale.status == "planned"

    with pytest.raises(ValidationError) as refused:
        transition(stale, "missed", by=None, table=STEP_TRANSITIONS)

    assert refused.value.messages == ["This step is already done."]
    step.refresh_from_db()
    assert (step.status, step.note) == ("done", "Paid")


def test_a_loans_move_is_its_status_change_row_who_when_from_to_and_why(loan, risk_manager):
    yesterday = _today() - timedelta(days=1)
    moved = transition(
        loan,
        "written_off",
        by=risk_manager,
        why="Fled abroad",
        on=yesterday,
        table=loan_services.LOAN_TRANSITIONS,
    )

    change = LoanStatusChange.objects.get(loan=loan)
    assert (
        change.from_status,
        change.to_status,
        change.changed_by,
        change.reason,
        change.effective_on,
    ) == ("active", "written_off", risk_manager, "Fled abroad", yesterday)
    assert change.created_at is not None
    # The caller's copy follows the stored row.
    assert (
        (loan.status, loan.closed_on)
        == (moved.status, moved.closed_on)
        == (
            "written_off",
            yesterday,
        )
    )


def test_a_tracked_models_move_is_its_history_event_with_who_and_why(
    client, loan, officer, supervisor
):
    plan = _plan(loan, officer)
    visits.plan_decide(plan=plan, approve=True, comment="Go ahead", by=supervisor)
    first, second = plan.steps.all()
    client.force_login(officer)  # through the page: the request's user is the event's who
    client.post(
        reverse("postloan:step_done", args=[first.pk]),
        {"done_on": _today().isoformat(), "note": "Paid 2000"},
    )
    visits.plan_step_done(step=second, done_on=_today(), note="", by=officer)

    step_events = _events(type(first), first)
    assert [(e.status, e.done_on) for e in step_events] == [
        ("planned", None),
        ("done", _today()),
    ]
    assert step_events[-1].pgh_created_at is not None
    assert step_events[-1].pgh_context.metadata["user"] == officer.pk
    plan_events = _events(CollectionPlan, plan)
    assert [(e.status, e.decided_by_id, e.decision_comment) for e in plan_events] == [
        ("pending", None, ""),
        ("approved", supervisor.pk, "Go ahead"),
        ("completed", supervisor.pk, "Go ahead"),
    ]
    assert plan_events[1].decided_at is not None


# --- Maker-checker ----------------------------------------------------------------------------


def test_nobody_decides_their_own_proposal(make_user, product):
    both = make_user("officer-supervisor", Role.LOAN_OFFICER, Role.SUPERVISOR)
    plan = _plan(book_loan(borrower=make_person(), officer=both, product=product), both)

    with pytest.raises(ValidationError) as refused:
        decide(plan, approve=True, comment="", by=both, rule=PLAN_APPROVAL)

    assert refused.value.message_dict == {
        "__all__": ["You wrote this plan; another supervisor decides."]
    }
    plan.refresh_from_db()
    assert (plan.status, plan.decided_by) == ("pending", None)


def test_only_the_checkers_role_decides(loan, officer, other_officer):
    plan = _plan(loan, officer)
    with pytest.raises(PermissionDenied):
        decide(plan, approve=True, comment="", by=other_officer, rule=PLAN_APPROVAL)
    assert CollectionPlan.objects.get(pk=plan.pk).status == "pending"


def test_a_proposal_is_decided_once(loan, officer, supervisor, make_user):
    other_supervisor = make_user("supervisor-b", Role.SUPERVISOR)
    plan = _plan(loan, officer)
    decide(plan, approve=True, comment="Go ahead", by=supervisor, rule=PLAN_APPROVAL)

    with pytest.raises(ValidationError) as refused:
        decide(plan, approve=False, comment="No", by=other_supervisor, rule=PLAN_APPROVAL)

    assert refused.value.message_dict == {"__all__": ["This plan has already been decided."]}
    plan.refresh_from_db()
    assert (plan.status, plan.decided_by, plan.decision_comment) == (
        "approved",
        supervisor,
        "Go ahead",
    )


def test_a_rejection_says_why(loan, officer, supervisor):
    plan = _plan(loan, officer)
    with pytest.raises(ValidationError) as refused:
        decide(plan, approve=False, comment="  ", by=supervisor, rule=PLAN_APPROVAL)
    assert refused.value.message_dict == {"comment": ["Say why the plan is rejected."]}


def test_a_withdrawn_proposal_is_never_decided(loan, officer, risk_manager):
    proposal = adjustment_propose(
        loan=loan, tier="special_mention", reason="Lost the main customer.", by=officer
    )
    with pytest.raises(PermissionDenied):  # only the proposer withdraws
        withdraw(proposal, by=risk_manager, rule=ADJUSTMENT_APPROVAL)
    adjustment_withdraw(adjustment=proposal, by=officer)

    with pytest.raises(ValidationError) as refused:
        adjustment_decide(adjustment=proposal, approve=True, comment="", by=risk_manager)

    assert refused.value.message_dict == {"__all__": ["This proposal has already been decided."]}
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by, proposal.ended_on) == (
        "withdrawn",
        None,
        _today(),
    )
    with pytest.raises(ValidationError):  # and withdrawn once
        adjustment_withdraw(adjustment=proposal, by=officer)


def test_a_decided_proposal_is_not_withdrawn(loan, officer, risk_manager):
    proposal = adjustment_propose(
        loan=loan, tier="special_mention", reason="Lost the main customer.", by=officer
    )
    adjustment_decide(adjustment=proposal, approve=False, comment="No evidence", by=risk_manager)
    with pytest.raises(ValidationError) as refused:
        adjustment_withdraw(adjustment=proposal, by=officer)
    assert refused.value.messages == ["This proposal has already been decided."]
    assert TierAdjustment.objects.get(pk=proposal.pk).status == "rejected"


def test_an_approval_supersedes_the_adjustment_in_force(
    loan, officer, risk_manager, other_risk_manager
):
    first = adjustment_propose(loan=loan, tier="special_mention", reason="Slow sales.", by=officer)
    adjustment_decide(adjustment=first, approve=True, comment="", by=risk_manager)
    second = adjustment_propose(loan=loan, tier="substandard", reason="Shop closed.", by=officer)
    adjustment_decide(adjustment=second, approve=True, comment="", by=other_risk_manager)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.ended_on) == ("superseded", _today())
    assert (second.status, second.effective_on, second.decided_by) == (
        "approved",
        _today(),
        other_risk_manager,
    )
    assert [e.status for e in _events(TierAdjustment, first)] == [
        "pending",
        "approved",
        "superseded",
    ]


def test_the_completed_plan_moves_only_along_its_table(loan, officer, supervisor):
    plan = _plan(loan, officer)
    with pytest.raises(ValidationError):  # a pending plan is not completed
        transition(plan, "completed", by=officer, table=PLAN_TRANSITIONS)
    assert CollectionPlan.objects.get(pk=plan.pk).status == "pending"


# --- Two checkers at the same moment -------------------------------------------------------------


def _at_once(work, arguments) -> list:
    """Run `work(argument)` in one thread (one connection, one transaction) per argument,
    released together; return what each returned or raised."""
    start = threading.Barrier(len(arguments))
    outcomes: list = [None] * len(arguments)

    def body(index, argument):
        try:
            start.wait(timeout=30)
            outcomes[index] = work(argument)
        except Exception as error:  # reported to the test
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=pair) for pair in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a deciding thread hung"
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_checkers_deciding_at_once_decide_once(loan, officer, supervisor, make_user):
    other_supervisor = make_user("supervisor-b", Role.SUPERVISOR)
    plan = _plan(loan, officer)

    outcomes = _at_once(
        lambda decision: visits.plan_decide(
            plan=CollectionPlan(pk=plan.pk), by=decision[0], approve=decision[1], comment="Seen"
        ),
        [(supervisor, True), (other_supervisor, False)],
    )

    decided = [o for o in outcomes if isinstance(o, CollectionPlan)]
    refused = [o for o in outcomes if isinstance(o, ValidationError)]
    assert (len(decided), len(refused)) == (1, 1), outcomes
    assert refused[0].message_dict == {"__all__": ["This plan has already been decided."]}
    plan.refresh_from_db()
    assert (plan.status, plan.decided_by) == (decided[0].status, decided[0].decided_by)
    assert Notification.objects.filter(recipient=officer).count() == 1
    assert [e.status for e in _events(CollectionPlan, plan)] == ["pending", plan.status]
