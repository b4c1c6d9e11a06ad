"""Writes for field visits: inspection reports, default follow-up, collection plans,
early warnings and closure evaluations (docs/domain.md §5, §7). One transaction each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from borrowers.models import CreditStanding
from borrowers.services import guarantor_assess
from common import roles
from common.models import BusinessSettings
from common.notifications import notify
from common.services import ConcurrentEditError
from common.transitions import decide, transition
from loans.models import Collateral, Loan, LoanStatus, Repayment
from loans.selectors import loans_actionable_by
from loans.services import valuation_add
from postloan.fieldwork import uploads
from postloan.models import (
    CHECKLIST,
    COLLATERAL_ITEM,
    GUARANTOR_ITEM,
    MANUAL_VISIT,
    NOT_APPLICABLE,
    Answer,
    ChecklistAnswer,
    ClosureEvaluation,
    CollateralCheck,
    CollectionPlan,
    CollectionStep,
    ContactAttempt,
    ContactMethodDefault,
    EarlyWarning,
    FlagSource,
    FoundFactor,
    GuarantorCheck,
    Inspection,
    InspectionKind,
    InspectionReport,
    InspectionStatus,
    LoanRiskState,
    ReportAddendum,
    ReportAttachment,
)
from postloan.risk import factors
from postloan.risk.rules import Tier
from postloan.risk.services import adjustment_propose, flag_raise
from postloan.transitions import (
    INSPECTION_TRANSITIONS,
    PLAN_APPROVAL,
    PLAN_TRANSITIONS,
    REPORT_TRANSITIONS,
    STEP_TRANSITIONS,
)


def applicable_items(loan: Loan) -> list[int]:
    """The checklist items that can apply: no guarantor item without guarantors, no
    collateral item without collateral."""
    items = list(CHECKLIST)
    if not loan.guarantees.filter(status="active").exists():
        items.remove(GUARANTOR_ITEM)
    if not loan.collateral.filter(status="held").exists():
        items.remove(COLLATERAL_ITEM)
    return items


def checklist_rows(answers) -> list[tuple[int, str, ChecklistAnswer | None, str]]:
    """The twelve items in order, as (number, label, answer, why not applicable): an item
    the report has no answer row for was left out when it was started (no guarantor, no
    collateral) and is shown as not applicable, so the numbering stays whole."""
    by_item = {answer.item: answer for answer in answers}
    return [
        (item, label, by_item.get(item), "" if item in by_item else NOT_APPLICABLE[item])
        for item, label in CHECKLIST.items()
        if item in by_item or item in NOT_APPLICABLE
    ]


def _may_write(user, loan: Loan) -> bool:
    return loans_actionable_by(user).filter(pk=loan.pk).exists()


def _current(loan: Loan) -> Loan:
    """The loan as it is now, held until the transaction ends: its status is judged on the
    row, not on the caller's copy (which may predate a settlement or a write-off)."""
    return Loan.objects.select_for_update().get(pk=loan.pk)


@transaction.atomic
def report_start(*, inspection: Inspection, by) -> InspectionReport:
    """Open (or reopen) the draft report of a planned inspection."""
    inspection = Inspection.objects.select_for_update().select_related("loan").get(pk=inspection.pk)
    # Checked before an existing draft is handed back: resuming is writing too.
    if inspection.assigned_to_id != by.pk and not _may_write(by, inspection.loan):
        raise PermissionDenied
    existing = InspectionReport.objects.filter(inspection=inspection).first()
    if existing:
        return existing
    if inspection.status != InspectionStatus.OPEN:
        raise ValidationError(_("This inspection is no longer open."))
    report = InspectionReport.objects.create(inspection=inspection, loan=inspection.loan, author=by)
    ChecklistAnswer.objects.bulk_create(
        ChecklistAnswer(report=report, item=item) for item in applicable_items(inspection.loan)
    )
    return report


@transaction.atomic
def report_start_ad_hoc(*, loan: Loan, by) -> InspectionReport:
    """A visit nobody planned: the inspection is created with its report.

    At most one open unplanned visit per loan and officer a day (a partial unique
    constraint): starting again the same day — a double click, a second tab — resumes it.
    """
    if not _may_write(by, loan):
        raise PermissionDenied
    loan = _current(loan)
    if loan.status != LoanStatus.ACTIVE:
        raise ValidationError(_("Only active loans are inspected."))
    today = timezone.localdate()
    number = Inspection.objects.filter(
        loan=loan, slot__startswith=f"visit-{today:%Y-%m-%d}-"
    ).count()
    # The loan's row lock above already puts two starts on one loan one after the other;
    # the constraint makes it hold without it: a second insert does nothing (ON CONFLICT
    # DO NOTHING) and the open visit is read back.
    Inspection.objects.bulk_create(
        [
            Inspection(
                loan=loan,
                kind=InspectionKind.AD_HOC,
                slot=f"visit-{today:%Y-%m-%d}-{number + 1}",
                due_on=today,
                assigned_to=by,
                reason=MANUAL_VISIT,
            )
        ],
        ignore_conflicts=True,
    )
    inspection = Inspection.objects.get(
        loan=loan,
        assigned_to=by,
        due_on=today,
        kind=InspectionKind.AD_HOC,
        reason=MANUAL_VISIT,
        status=InspectionStatus.OPEN,
    )
    return report_start(inspection=inspection, by=by)


@dataclass
class ReportInput:
    """What the report form carries (every part optional while drafting)."""

    visited_at: datetime | None = None
    method: str = ""
    place: str = ""
    people_met: str = ""
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    location_accuracy: Decimal | None = None
    findings: str = ""
    recommended_tier: str = ""
    next_action: str = ""
    next_action_on: date | None = None
    default_reason: str = ""
    default_reason_detail: str = ""
    risk_judgement: str = ""
    answers: dict[int, tuple[str, str]] = field(default_factory=dict)
    collateral: dict[int, tuple[str, Decimal | None]] = field(default_factory=dict)
    guarantors: dict[int, dict] = field(default_factory=dict)
    factors: list[tuple[int, str, bool]] = field(default_factory=list)


REPORT_FIELDS = [
    "visited_at",
    "method",
    "place",
    "people_met",
    "latitude",
    "longitude",
    "location_accuracy",
    "findings",
    "recommended_tier",
    "next_action",
    "next_action_on",
    "default_reason",
    "default_reason_detail",
    "risk_judgement",
]


def _lock_for_edit(report: InspectionReport, version: int, by) -> InspectionReport:
    locked = (
        InspectionReport.objects.select_for_update()
        .select_related("loan", "inspection")
        .get(pk=report.pk)
    )
    if locked.author_id != by.pk and not _may_write(by, locked.loan):
        raise PermissionDenied
    if locked.status == InspectionReport.Status.SUBMITTED:
        raise ValidationError(
            _(
                "This report was submitted (perhaps from another tab) and is final; add an "
                "addendum to correct it."
            ),
            code="already_submitted",
        )
    if locked.version != version:
        raise ConcurrentEditError(
            _(
                "This report was saved in another tab or by someone else after you opened it. "
                "Reload it to see that version, then make your change again."
            )
        )
    return locked


def _validate_input(report: InspectionReport, data: ReportInput) -> dict[str, list]:
    """Checks that hold for a draft too: nothing impossible is saved."""
    errors: dict[str, list] = {}
    now = timezone.now()
    if data.visited_at is not None:
        if data.visited_at > now:
            errors["visited_at"] = [_("A visit cannot be in the future.")]
        elif timezone.localtime(data.visited_at).date() < report.loan.disbursed_on:
            errors["visited_at"] = [
                _("A visit cannot predate the disbursement (%(date)s).")
                % {"date": report.loan.disbursed_on.isoformat()}
            ]
    if data.recommended_tier and data.recommended_tier not in {t.value for t in Tier}:
        errors["recommended_tier"] = [_("Choose a tier.")]
    if data.next_action_on and data.next_action_on < timezone.localdate():
        errors["next_action_on"] = [_("The next action cannot be dated in the past.")]
    for key, (answer, _comment) in data.answers.items():
        if answer and answer not in Answer.values:
            errors[f"item_{key}"] = [_("Choose an answer.")]
    for collateral_id, (_condition, value) in data.collateral.items():
        if value is not None and value < 0:
            errors[f"collateral_{collateral_id}_value"] = [_("A value cannot be negative.")]
    listed = [number for number, _evidence, _serious in data.factors]
    if any(number not in factors.FACTORS for number in listed):
        errors["factors"] = [_("Unknown risk factor.")]
    elif len(set(listed)) != len(listed):
        errors["factors"] = [_("Each risk factor is listed once per report.")]
    if data.latitude is not None and not Decimal(-90) <= data.latitude <= Decimal(90):
        errors["latitude"] = [_("Not a latitude.")]
    if data.longitude is not None and not Decimal(-180) <= data.longitude <= Decimal(180):
        errors["longitude"] = [_("Not a longitude.")]
    return errors


# Errors of the attempt logged with a draft are keyed "attempt-<field>" (the form's prefix).
ATTEMPT_PREFIX = "attempt"


@dataclass
class AttemptInput:
    """An attempt to reach a defaulting borrower (Art. 4 (1)), with any promise to pay."""

    method: str
    attempted_on: date
    outcome: str
    promise_on: date | None = None
    promise_amount: Decimal | None = None


@transaction.atomic
def report_save_draft(
    *,
    report: InspectionReport,
    version: int,
    data: ReportInput,
    by,
    attempt: AttemptInput | None = None,
    upload=None,
) -> InspectionReport:
    """Save what the officer has so far, and in the same transaction what the page's other
    buttons add: an attempt to reach the borrower, a photo or document. Logging an attempt
    or attaching a photo saves the draft first, so no button loses what was typed; a bad
    value anywhere refuses the whole (the saved draft is kept as it was)."""
    report = _lock_for_edit(report, version, by)
    errors = _validate_input(report, data)
    if attempt is not None:
        errors.update(
            (f"{ATTEMPT_PREFIX}-{name}", problems)
            for name, problems in _attempt_problems(report, attempt).items()
        )
    if upload is not None:
        try:
            cleaned_upload = _checked_upload(upload)
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    for name in REPORT_FIELDS:
        setattr(report, name, getattr(data, name))
    report.version = F("version") + 1
    report.save()
    report.refresh_from_db()
    items = set(applicable_items(report.loan))
    for item, (answer, comment) in data.answers.items():
        if item in items:
            ChecklistAnswer.objects.update_or_create(
                report=report, item=item, defaults={"answer": answer, "comment": comment}
            )
    held = set(
        Collateral.objects.filter(loan=report.loan, status="held").values_list("pk", flat=True)
    )
    for collateral_id, (condition, value) in data.collateral.items():
        if collateral_id in held:
            CollateralCheck.objects.update_or_create(
                report=report,
                collateral_id=collateral_id,
                defaults={"condition": condition, "new_value": value},
            )
    guarantor_ids = set(
        report.loan.guarantees.filter(status="active").values_list("guarantor_id", flat=True)
    )
    for guarantor_id, values in data.guarantors.items():
        if guarantor_id in guarantor_ids:
            GuarantorCheck.objects.update_or_create(
                report=report, guarantor_id=guarantor_id, defaults=values
            )
    FoundFactor.objects.filter(report=report).delete()
    FoundFactor.objects.bulk_create(
        FoundFactor(report=report, factor=number, evidence=evidence, is_serious=serious)
        for number, evidence, serious in data.factors
    )
    if attempt is not None:
        _attempt_create(report, attempt)
    if upload is not None:
        _attachment_create(report, upload, cleaned_upload, by)
    return report


def _submission_problems(report: InspectionReport) -> dict[str, list]:
    errors: dict[str, list] = {}
    if report.visited_at is None:
        errors["visited_at"] = [_("When did the visit take place?")]
    if not report.method:
        errors["method"] = [_("How was the borrower met?")]
    for answer in report.answers.all():
        if not answer.answer:
            errors[f"item_{answer.item}"] = [_("Answer this item before submitting.")]
        elif answer.answer == Answer.CONCERN and not answer.comment.strip():
            errors[f"item_{answer.item}"] = [_("Say what the concern is.")]
    if report.inspection.kind == InspectionKind.DEFAULT_FOLLOW_UP:
        if not report.default_reason:
            errors["default_reason"] = [_("Give the main reason for the default.")]
        if not report.contact_attempts.exists():
            errors["__all__"] = [_("Log at least one attempt to reach the borrower.")]
    if not report.findings.strip():
        errors["findings"] = [_("Write down the findings.")]
    return errors


def _last_standing(guarantor) -> int:
    """The credit standing of the guarantor's latest assessment: an officer who re-assessed
    only the income must not reset the standing to "good"."""
    latest = guarantor.assessments.order_by("-assessed_on", "-id").first()
    return latest.credit_standing if latest else CreditStanding.GOOD


@transaction.atomic
def report_submit(*, report: InspectionReport, version: int, by) -> InspectionReport:
    """Make the report final: valuations, re-assessments, flags and a reclassification
    proposal follow from it, and the inspection is done (on time or late)."""
    report = _lock_for_edit(report, version, by)
    errors = _submission_problems(report)
    if errors:
        raise ValidationError(errors)
    visit_day = timezone.localtime(report.visited_at).date()
    for check in report.collateral_checks.select_related("collateral"):
        if check.new_value is not None:
            check.valuation = valuation_add(
                collateral=check.collateral,
                valued_on=visit_day,
                value=check.new_value,
                method="officer",
                valued_by=by.get_full_name() or by.get_username(),
                note=check.condition[:255],
                by=by,
            )
            check.save(update_fields=["valuation"])
    for check in report.guarantor_checks.select_related("guarantor"):
        if check.monthly_income is not None or check.net_assets is not None:
            check.assessment = guarantor_assess(
                guarantor=check.guarantor,
                assessed_on=visit_day,
                monthly_income=check.monthly_income,
                net_assets=check.net_assets,
                credit_standing=check.credit_standing or _last_standing(check.guarantor),
                note=check.situation,
                by=by,
                authorised=True,  # the report's author, checked by _lock_for_edit
            )
            check.save(update_fields=["assessment"])
    for found in report.factors.all():
        found.flag = flag_raise(
            factor=found.factor,
            evidence=found.evidence,
            by=by,
            loan=report.loan,
            is_serious=found.is_serious,
            raised_on=visit_day,
            source=FlagSource.INSPECTION,
        )
        found.save(update_fields=["flag"])
    state = LoanRiskState.objects.get(loan=report.loan)
    if report.recommended_tier and report.recommended_tier not in (
        state.tier,
        state.quantitative_tier,
    ):
        report.adjustment = adjustment_propose(
            loan=report.loan,
            tier=report.recommended_tier,
            by=by,
            reason=report.findings,
            factor_numbers=[f.factor for f in report.factors.all()],
            source=f"inspection:{report.inspection_id}",
        )
        report.save(update_fields=["adjustment"])
    transition(report, InspectionReport.Status.SUBMITTED, by=by, table=REPORT_TRANSITIONS)
    # Done by its report, also when the night cancelled the slot meanwhile; a handover
    # visit may be done already by the first contact's record (planning.HANDOVER_DONE_SQL).
    if report.inspection.status != InspectionStatus.DONE:
        transition(
            report.inspection,
            InspectionStatus.DONE,
            by=by,
            on=visit_day,
            table=INSPECTION_TRANSITIONS,
        )
    report.refresh_from_db()
    return report


@transaction.atomic
def report_add_addendum(*, report: InspectionReport, text: str, by) -> ReportAddendum:
    if not _may_write(by, report.loan) and report.author_id != by.pk:
        raise PermissionDenied
    if report.status != InspectionReport.Status.SUBMITTED:
        raise ValidationError({"text": [_("A draft is corrected by editing it.")]})
    if not (text or "").strip():
        raise ValidationError({"text": [_("Write the correction.")]})
    return ReportAddendum.objects.create(report=report, text=text.strip(), author=by)


def _checked_upload(upload) -> tuple:
    """The upload re-encoded and checked (uploads.clean_upload), or {"file": [...]} errors."""
    limit = BusinessSettings.current().upload_max_megabytes
    try:
        return uploads.clean_upload(upload, max_megabytes=limit)
    except ValidationError as error:
        raise ValidationError({"file": error.messages}) from error


def _attachment_create(report: InspectionReport, upload, cleaned, by) -> ReportAttachment:
    content, content_type, size = cleaned
    attachment = ReportAttachment(
        report=report,
        # The name it will be served under: the uploader's, ending as what the file is.
        original_name=uploads.download_name(upload.name or "upload", content_type),
        content_type=content_type,
        size=size,
        uploaded_by=by,
    )
    attachment.file.save(content.name, content, save=False)
    attachment.save()
    return attachment


@transaction.atomic
def attachment_add(*, report: InspectionReport, upload, by) -> ReportAttachment:
    report = InspectionReport.objects.select_for_update().get(pk=report.pk)
    if report.author_id != by.pk and not _may_write(by, report.loan):
        raise PermissionDenied
    if report.status != InspectionReport.Status.DRAFT:
        raise ValidationError({"file": [_("A submitted report is final.")]})
    return _attachment_create(report, upload, _checked_upload(upload), by)


# --- Default follow-up (Art. 4) ----------------------------------------------------------------


def _attempt_problems(report: InspectionReport, attempt: AttemptInput) -> dict[str, list]:
    errors: dict[str, list] = {}
    if attempt.method not in ContactMethodDefault.values:
        errors["method"] = [_("Choose how the borrower was contacted.")]
    if attempt.attempted_on > timezone.localdate():
        errors["attempted_on"] = [_("An attempt cannot be in the future.")]
    elif attempt.attempted_on < report.loan.disbursed_on:
        errors["attempted_on"] = [_("An attempt cannot predate the disbursement.")]
    if not (attempt.outcome or "").strip():
        errors["outcome"] = [_("Write down what came of it.")]
    if (attempt.promise_on is None) != (attempt.promise_amount is None):
        errors["promise_on"] = [_("A promise to pay has both a date and an amount.")]
    elif attempt.promise_on is not None:
        if attempt.promise_on < attempt.attempted_on:
            errors["promise_on"] = [_("A promise to pay cannot be dated before it was made.")]
        if attempt.promise_amount <= 0:
            errors["promise_amount"] = [_("The promised amount must be above zero.")]
    return errors


def _attempt_create(report: InspectionReport, attempt: AttemptInput) -> ContactAttempt:
    return ContactAttempt.objects.create(
        report=report,
        loan=report.loan,
        method=attempt.method,
        attempted_on=attempt.attempted_on,
        outcome=attempt.outcome.strip(),
        promise_on=attempt.promise_on,
        promise_amount=attempt.promise_amount,
    )


@transaction.atomic
def contact_attempt_add(
    *,
    report: InspectionReport,
    method: str,
    attempted_on: date,
    outcome: str,
    by,
    promise_on: date | None = None,
    promise_amount: Decimal | None = None,
) -> ContactAttempt:
    """Log an attempt on its own (the report's page logs it with the draft instead)."""
    report = InspectionReport.objects.select_for_update().select_related("loan").get(pk=report.pk)
    if report.author_id != by.pk and not _may_write(by, report.loan):
        raise PermissionDenied
    attempt = AttemptInput(method, attempted_on, outcome, promise_on, promise_amount)
    errors = _attempt_problems(report, attempt)
    if report.status != InspectionReport.Status.DRAFT:
        errors["__all__"] = [_("A submitted report is final.")]
    if errors:
        raise ValidationError(errors)
    return _attempt_create(report, attempt)


@transaction.atomic
def plan_propose(
    *,
    loan: Loan,
    kind: str,
    summary: str,
    steps: list[dict],
    by,
    report: InspectionReport | None = None,
) -> CollectionPlan:
    """Propose a collection or forced-recovery plan for a defaulted loan."""
    if not _may_write(by, loan):
        raise PermissionDenied
    loan = _current(loan)
    errors: dict[str, list] = {}
    if kind not in CollectionPlan.Kind.values:
        errors["kind"] = [_("Choose collection or forced recovery.")]
    if not (summary or "").strip():
        errors["summary"] = [_("Describe the plan.")]
    steps = [s for s in steps if (s.get("action") or "").strip()]
    if not steps:
        errors["steps"] = [_("A plan has at least one step.")]
    today = timezone.localdate()
    for number, step in enumerate(steps, start=1):
        if step.get("target_on") is None:
            errors.setdefault("steps", []).append(_("Step %(n)d needs a date.") % {"n": number})
        elif step["target_on"] < today:
            errors.setdefault("steps", []).append(
                _("Step %(n)d is dated in the past.") % {"n": number}
            )
        amount = step.get("target_amount")
        if amount is not None and amount <= 0:
            errors.setdefault("steps", []).append(
                _("Step %(n)d: the amount must be above zero.") % {"n": number}
            )
    if loan.status != LoanStatus.ACTIVE:
        errors["__all__"] = [_("Only active loans are collected.")]
    if report is not None and report.loan_id != loan.pk:
        errors["__all__"] = [_("The report is of another loan.")]
    if errors:
        raise ValidationError(errors)
    plan = CollectionPlan.objects.create(
        loan=loan, report=report, kind=kind, summary=summary.strip(), author=by
    )
    CollectionStep.objects.bulk_create(
        CollectionStep(
            plan=plan,
            seq=n,
            action=s["action"].strip(),
            target_on=s["target_on"],
            target_amount=s.get("target_amount"),
        )
        for n, s in enumerate(steps, start=1)
    )
    return plan


@transaction.atomic
def plan_decide(*, plan: CollectionPlan, approve: bool, comment: str, by) -> CollectionPlan:
    """A supervisor who did not write the plan approves or rejects it (maker-checker)."""
    plan = decide(plan, approve=approve, comment=comment, by=by, rule=PLAN_APPROVAL)
    notify(
        [plan.author],
        "plan_approved" if approve else "plan_rejected",
        url=plan.loan.get_absolute_url(),
        loan=plan.loan.reference,
        comment=plan.decision_comment,
    )
    return plan


@transaction.atomic
def plan_step_done(*, step: CollectionStep, done_on: date, note: str, by) -> CollectionStep:
    """A step of an approved plan is done; the plan is completed with its last step."""
    # The plan first: two of its last steps done at once are then one after the other,
    # and the second sees the first done and completes the plan.
    plan = CollectionPlan.objects.select_for_update().select_related("loan").get(pk=step.plan_id)
    if not _may_write(by, plan.loan):
        raise PermissionDenied
    errors = {}
    if plan.status != CollectionPlan.Status.APPROVED:
        errors["__all__"] = [_("Only an approved plan is carried out.")]
    if done_on > timezone.localdate():
        errors["done_on"] = [_("A step cannot be done in the future.")]
    if errors:
        raise ValidationError(errors)
    # A step done already is refused by its table (STEP_TRANSITIONS).
    step = transition(
        step, CollectionStep.Status.DONE, by=by, why=note, on=done_on, table=STEP_TRANSITIONS
    )
    EarlyWarning.objects.filter(
        kind=EarlyWarning.Kind.MISSED_STEP, source_key=f"step-{step.pk}", resolved_on=None
    ).update(resolved_on=done_on)
    if not plan.steps.exclude(status=CollectionStep.Status.DONE).exists():
        transition(plan, CollectionPlan.Status.COMPLETED, by=by, table=PLAN_TRANSITIONS)
    return step


def detect_early_warnings(*, as_of: date | None = None) -> int:
    """Broken promises to pay and missed plan steps become early warnings (nightly)."""
    as_of = as_of or timezone.localdate()
    raised = 0
    with transaction.atomic():
        for attempt in ContactAttempt.objects.filter(
            promise_on__lt=as_of, promise_broken_on__isnull=True
        ).select_related("loan"):
            paid = Repayment.objects.filter(
                loan=attempt.loan,
                reversed_at__isnull=True,
                paid_on__gte=attempt.attempted_on,
                paid_on__lte=attempt.promise_on,
            ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
            if paid >= attempt.promise_amount:
                continue
            attempt.promise_broken_on = as_of
            attempt.save(update_fields=["promise_broken_on"])
            raised += _warn(
                attempt.loan,
                EarlyWarning.Kind.BROKEN_PROMISE,
                f"promise-{attempt.pk}",
                f"{attempt.promise_amount:.2f} / {attempt.promise_on:%Y-%m-%d} / {paid:.2f}",
                as_of,
            )
        for step in CollectionStep.objects.filter(
            plan__status=CollectionPlan.Status.APPROVED,
            status=CollectionStep.Status.PLANNED,
            target_on__lt=as_of,
        ).select_related("plan__loan"):
            transition(
                step, CollectionStep.Status.MISSED, by=None, on=as_of, table=STEP_TRANSITIONS
            )
            raised += _warn(
                step.plan.loan,
                EarlyWarning.Kind.MISSED_STEP,
                f"step-{step.pk}",
                f"{step.seq}: {step.action} / {step.target_on:%Y-%m-%d}",
                as_of,
            )
    return raised


def _warn(loan, kind, key, detail, as_of) -> int:
    try:
        with transaction.atomic():
            EarlyWarning.objects.create(
                loan=loan, kind=kind, source_key=key, detail=detail[:255], raised_on=as_of
            )
    except IntegrityError:
        return 0  # raised already
    notify(
        [loan.managing_officer],
        "early_warning",
        url=loan.get_absolute_url(),
        loan=loan.reference,
        what=detail,
    )
    return 1


# --- Closure evaluation (Sec. 7) -------------------------------------------------------------


@transaction.atomic
def closure_evaluate(
    *,
    loan: Loan,
    customer: str,
    loan_assessment: str,
    originating_officer: str,
    managing_officer: str,
    lessons: str,
    by,
) -> ClosureEvaluation:
    loan = _current(loan)
    if not (roles.manages_risk(by) or loan.managing_officer_id == by.pk):
        raise PermissionDenied
    errors: dict[str, list] = {}
    if loan.status == LoanStatus.ACTIVE:
        errors["__all__"] = [_("A loan is evaluated once it is settled or written off.")]
    if ClosureEvaluation.objects.filter(loan=loan).exists():
        errors["__all__"] = [_("This loan has been evaluated already.")]
    for name, value in [
        ("customer", customer),
        ("loan_assessment", loan_assessment),
        ("originating_officer", originating_officer),
        ("managing_officer", managing_officer),
        ("lessons", lessons),
    ]:
        if not (value or "").strip():
            errors[name] = [_("This part of the evaluation is required.")]
    if errors:
        raise ValidationError(errors)
    return ClosureEvaluation.objects.create(
        loan=loan,
        customer=customer.strip(),
        loan_assessment=loan_assessment.strip(),
        originating_officer=originating_officer.strip(),
        managing_officer=managing_officer.strip(),
        lessons=lessons.strip(),
        author=by,
    )
