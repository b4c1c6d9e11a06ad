"""Post-loan's statuses: the moves each may make, and the two approvals (issue 17).

The mechanism is common.transitions (one guarded move, one maker-checker); here are
post-loan's tables: tier adjustments and collection plans (each approved by a second
person, `ADJUSTMENT_APPROVAL` and `PLAN_APPROVAL`), collection steps, inspection reports
and inspections.
Each `_record_*` writes the fields that go with a move; the rest of the record is the
model's pghistory event (when, the status before and after, the request's user).

Inspections are not tracked row by row (a month's planning writes a million of them):
an inspection is done through its report, which is the record of who and when, and the
night's planning cancels and reopens them set-based (postloan.inspections.planning,
whose SQL moves only along `INSPECTION_TRANSITIONS` and says why in `cancel_reason`).
An adjustment lapses in the night's set-based classification (postloan.risk.nightly).
"""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common import roles
from common.transitions import Change, MakerChecker, Transitions
from postloan.models import (
    CollectionPlan,
    CollectionStep,
    Inspection,
    InspectionReport,
    InspectionStatus,
    TierAdjustment,
)

Adjustment = TierAdjustment.Status
Plan = CollectionPlan.Status
Step = CollectionStep.Status


def _record_adjustment(change: Change) -> list[str]:
    """An approved adjustment is in force from the day it is approved, until the day it is
    superseded, lapses or is withdrawn; the decision itself is the maker-checker's."""
    adjustment = change.obj
    if change.after == Adjustment.APPROVED:
        adjustment.effective_on = change.on
        return ["effective_on"]
    if change.after in (Adjustment.SUPERSEDED, Adjustment.LAPSED, Adjustment.WITHDRAWN):
        adjustment.ended_on = change.on
        return ["ended_on"]
    return []


ADJUSTMENT_TRANSITIONS = Transitions(
    model=TierAdjustment,
    moves={
        Adjustment.PENDING: {Adjustment.APPROVED, Adjustment.REJECTED, Adjustment.WITHDRAWN},
        Adjustment.APPROVED: {Adjustment.SUPERSEDED, Adjustment.LAPSED},
    },
    refusal=_("This proposal has already been decided."),
    record=_record_adjustment,
)

ADJUSTMENT_APPROVAL = MakerChecker(
    transitions=ADJUSTMENT_TRANSITIONS,
    proposer="proposed_by",
    may_decide=roles.is_risk_manager,
    not_a_checker=_("Only a risk manager decides on reclassifications."),
    own_proposal=_("You proposed this adjustment; another risk manager decides."),
    decided=_("This proposal has already been decided."),
    reason_needed=_("Say why the proposal is rejected."),
    withdrawn=Adjustment.WITHDRAWN,
)

PLAN_TRANSITIONS = Transitions(
    model=CollectionPlan,
    moves={
        Plan.PENDING: {Plan.APPROVED, Plan.REJECTED},
        # Completed when its last step is done (postloan.fieldwork.services.plan_step_done).
        Plan.APPROVED: {Plan.COMPLETED},
    },
    refusal=_("This plan has already been decided."),
)

PLAN_APPROVAL = MakerChecker(
    transitions=PLAN_TRANSITIONS,
    proposer="author",
    may_decide=roles.is_supervisor,
    not_a_checker=_("Only a supervisor decides on collection plans."),
    own_proposal=_("You wrote this plan; another supervisor decides."),
    decided=_("This plan has already been decided."),
    reason_needed=_("Say why the plan is rejected."),
)


def _record_step(change: Change) -> list[str]:
    """A done step keeps the day it was done and the officer's note on it."""
    if change.after != Step.DONE:
        return []
    change.obj.done_on = change.on
    change.obj.note = change.why
    return ["done_on", "note"]


STEP_TRANSITIONS = Transitions(
    model=CollectionStep,
    moves={
        Step.PLANNED: {Step.DONE, Step.MISSED},  # missed: its day passed (the night)
        Step.MISSED: {Step.DONE},  # done late
    },
    refusal=_("This step is already done."),
    record=_record_step,
)


def _record_inspection(change: Change) -> list[str]:
    """The day an inspection was done or cancelled, and why it was cancelled."""
    inspection = change.obj
    if change.after == InspectionStatus.DONE:
        inspection.completed_on = change.on
        return ["completed_on"]
    if change.after == InspectionStatus.CANCELLED:
        inspection.cancelled_on, inspection.cancel_reason = change.on, change.why
    else:  # reopened
        inspection.cancelled_on, inspection.cancel_reason = None, ""
    return ["cancelled_on", "cancel_reason"]


INSPECTION_TRANSITIONS = Transitions(
    model=Inspection,
    moves={
        InspectionStatus.OPEN: {InspectionStatus.DONE, InspectionStatus.CANCELLED},
        # A cancelled slot that is required again is reopened (the planning, set-based);
        # a visit made while the night cancelled its slot is still done by its report.
        InspectionStatus.CANCELLED: {InspectionStatus.OPEN, InspectionStatus.DONE},
    },
    refusal=_("This inspection is no longer open."),
    record=_record_inspection,
)


def _record_report(change: Change) -> list[str]:
    """A submitted report is final from that moment; its version moves on, so a tab that
    still holds the draft cannot save over it."""
    change.obj.submitted_at = timezone.now()
    change.obj.version = F("version") + 1
    return ["submitted_at", "version"]


REPORT_TRANSITIONS = Transitions(
    model=InspectionReport,
    moves={InspectionReport.Status.DRAFT: {InspectionReport.Status.SUBMITTED}},
    refusal=_(
        "This report was submitted (perhaps from another tab) and is final; add an "
        "addendum to correct it."
    ),
    record=_record_report,
    code="already_submitted",
)
