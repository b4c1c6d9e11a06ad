"""Field visits: inspection reports, default follow-up, collection plans (docs/domain.md §5, §7)."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from postloan.models.classification import (
    TIER_CHOICES,
    TIER_VALUES,
    RiskFlag,
    TierAdjustment,
)
from postloan.models.inspections import Inspection
from postloan.risk import factors


class VisitMethod(models.TextChoices):
    PHONE = "phone", _("Phone call")
    OFFICE = "office", _("Meeting at the office")
    HOME = "home", _("On site at the borrower's home")
    BUSINESS = "business", _("On site at the borrower's business")
    EMPLOYER = "employer", _("Visit to the employer")


class Answer(models.TextChoices):
    SATISFACTORY = "satisfactory", _("Satisfactory")
    CONCERN = "concern", _("Concern")
    NOT_CHECKED = "not_checked", _("Not checked")


# What an inspection checks (docs/domain.md §5): number → label. Items 8 and 9 apply only to loans
# with guarantors and with collateral respectively.
CHECKLIST = {
    1: _("Repayment of principal and interest as contracted"),
    2: _("Use of the funds as declared; no diversion, no fraud on credit"),
    3: _("Supply, production, sales and turnover; how the business changed and why"),
    4: _("Assets, liabilities, cash flow and guarantees given to others"),
    5: _("Organisation, management and strategy"),
    6: _("Products, technology, business model, industry policy: prospects"),
    7: _("The borrower's character, job, income and residence"),
    8: _("Each guarantor's eligibility and capacity"),
    9: _("Collateral custody and value; off-plan construction and registrations"),
    10: _("Completeness and validity of contracts and files"),
    11: _("The loan's risk level and its trend"),
    12: _("Anything else that bears on recovering the debt"),
}
GUARANTOR_ITEM, COLLATERAL_ITEM = 8, 9
# What the form and the printed report say in their place when they do not apply: the
# numbering stays whole, 1 to 12.
NOT_APPLICABLE = {
    GUARANTOR_ITEM: _("Not applicable: no guarantor"),
    COLLATERAL_ITEM: _("Not applicable: no collateral"),
}


class DefaultReason(models.TextChoices):
    BUSINESS = "business", _("Business downturn or lost customers")
    HEALTH = "health", _("Illness, injury or death in the family")
    DIVERSION = "diversion", _("Funds diverted from the declared purpose")
    UNWILLING = "unwilling", _("Able but unwilling to pay")
    DISASTER = "disaster", _("Natural or social disaster")
    DISPUTE = "dispute", _("Dispute with the company")
    OTHER = "other", _("Other")


@pghistory.track()
class InspectionReport(models.Model):
    """The officer's report of a visit (贷后检查报告): a draft until submitted, then final;
    corrections are addenda."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted")

    inspection = models.OneToOneField(Inspection, on_delete=models.PROTECT, related_name="report")
    loan = models.ForeignKey("loans.Loan", on_delete=models.PROTECT, related_name="reports")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("officer"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default="draft")
    version = models.PositiveIntegerField(default=1, editable=False)
    visited_at = models.DateTimeField(_("visit date and time"), null=True, blank=True)
    method = models.CharField(_("method"), max_length=10, choices=VisitMethod.choices, blank=True)
    place = models.CharField(_("place"), max_length=255, blank=True)
    people_met = models.CharField(_("people met"), max_length=255, blank=True)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    location_accuracy = models.DecimalField(
        _("accuracy (m)"), max_digits=8, decimal_places=1, null=True, blank=True
    )
    findings = models.TextField(_("findings"), blank=True)
    recommended_tier = models.CharField(
        _("recommended tier"), max_length=16, choices=TIER_CHOICES, blank=True
    )
    next_action = models.CharField(_("next action"), max_length=255, blank=True)
    next_action_on = models.DateField(_("next action by"), null=True, blank=True)
    # Default follow-up (Art. 4)
    default_reason = models.CharField(
        _("main reason for the default"), max_length=12, choices=DefaultReason.choices, blank=True
    )
    default_reason_detail = models.TextField(_("about the default"), blank=True)
    risk_judgement = models.TextField(_("risk judgement"), blank=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    adjustment = models.ForeignKey(
        TierAdjustment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The reclassification proposal this report created."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-visited_at", "-id"]
        verbose_name = _("inspection report")
        verbose_name_plural = _("inspection reports")
        constraints = [
            models.CheckConstraint(
                name="report_submitted_complete",
                condition=Q(status="draft")
                | Q(status="submitted", submitted_at__isnull=False, visited_at__isnull=False),
            ),
            models.CheckConstraint(
                name="report_recommended_tier_valid",
                condition=Q(recommended_tier="") | Q(recommended_tier__in=TIER_VALUES),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.inspection_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status == self.Status.SUBMITTED


class ChecklistAnswer(models.Model):
    report = models.ForeignKey(InspectionReport, on_delete=models.CASCADE, related_name="answers")
    item = models.PositiveSmallIntegerField(_("item"), choices=list(CHECKLIST.items()))
    answer = models.CharField(_("answer"), max_length=12, choices=Answer.choices, blank=True)
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        ordering = ["item"]
        verbose_name = _("checklist answer")
        verbose_name_plural = _("checklist answers")
        constraints = [
            models.UniqueConstraint(fields=["report", "item"], name="one_answer_per_item")
        ]

    def __str__(self) -> str:
        return f"{self.report_id}#{self.item}: {self.answer}"


class CollateralCheck(models.Model):
    """The state of one piece of collateral found on the visit (optionally a new value)."""

    report = models.ForeignKey(
        InspectionReport, on_delete=models.CASCADE, related_name="collateral_checks"
    )
    collateral = models.ForeignKey("loans.Collateral", on_delete=models.PROTECT, related_name="+")
    condition = models.TextField(_("condition"), blank=True)
    new_value = models.DecimalField(
        _("new value"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    valuation = models.ForeignKey(
        "loans.Valuation", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("collateral check")
        verbose_name_plural = _("collateral checks")
        constraints = [
            models.UniqueConstraint(
                fields=["report", "collateral"], name="one_check_per_collateral"
            )
        ]

    def __str__(self) -> str:
        return f"{self.report_id}: {self.collateral_id}"


class GuarantorCheck(models.Model):
    """A guarantor's situation found on the visit, optionally a capacity re-assessment."""

    report = models.ForeignKey(
        InspectionReport, on_delete=models.CASCADE, related_name="guarantor_checks"
    )
    guarantor = models.ForeignKey("borrowers.Guarantor", on_delete=models.PROTECT, related_name="+")
    situation = models.TextField(_("situation"), blank=True)
    monthly_income = models.DecimalField(
        _("monthly income"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    net_assets = models.DecimalField(
        _("net assets"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    credit_standing = models.PositiveSmallIntegerField(_("credit standing"), null=True, blank=True)
    assessment = models.ForeignKey(
        "borrowers.GuarantorAssessment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("guarantor check")
        verbose_name_plural = _("guarantor checks")
        constraints = [
            models.UniqueConstraint(fields=["report", "guarantor"], name="one_check_per_guarantor")
        ]

    def __str__(self) -> str:
        return f"{self.report_id}: {self.guarantor_id}"


class FoundFactor(models.Model):
    """A risk factor the officer found; raised as a flag when the report is submitted."""

    report = models.ForeignKey(InspectionReport, on_delete=models.CASCADE, related_name="factors")
    factor = models.PositiveSmallIntegerField(_("risk factor"), choices=factors.CHOICES)
    evidence = models.TextField(_("evidence"))
    is_serious = models.BooleanField(_("sudden or serious"), default=False)
    flag = models.ForeignKey(
        RiskFlag, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("risk factor found")
        verbose_name_plural = _("risk factors found")
        constraints = [
            # A factor is raised once per report (one flag each when it is submitted).
            models.UniqueConstraint(fields=["report", "factor"], name="one_factor_per_report")
        ]

    def __str__(self) -> str:
        return f"{self.report_id}: {self.factor}"


class ReportAttachment(models.Model):
    """A photo or document of a visit, stored under a server-generated name and served
    only through a view that checks the reader may see the loan."""

    report = models.ForeignKey(
        InspectionReport, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(_("file"), upload_to="reports/%Y/%m/")
    original_name = models.CharField(_("original name"), max_length=255)
    content_type = models.CharField(_("type"), max_length=40)
    size = models.PositiveIntegerField(_("size (bytes)"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


@pgtrigger.register(
    pgtrigger.Protect(name="addendum_append_only", operation=pgtrigger.Update | pgtrigger.Delete)
)
class ReportAddendum(models.Model):
    """A correction to a submitted report: who and when, never edited or deleted."""

    report = models.ForeignKey(InspectionReport, on_delete=models.PROTECT, related_name="addenda")
    text = models.TextField(_("addendum"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("written"), auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("addendum")
        verbose_name_plural = _("addenda")

    def __str__(self) -> str:
        return f"{self.report_id} {self.created_at:%Y-%m-%d}"


class ContactMethodDefault(models.TextChoices):
    PHONE = "phone", _("Phone reminder")
    MEETING = "meeting", _("Meeting the borrower")
    ON_SITE = "on_site", _("On-site verification")
    EMPLOYER = "employer", _("Visit to the employer")


@pghistory.track()
class ContactAttempt(models.Model):
    """One attempt to reach a defaulting borrower (Art. 4 (1)), with any promise to pay."""

    report = models.ForeignKey(
        InspectionReport, on_delete=models.CASCADE, related_name="contact_attempts"
    )
    loan = models.ForeignKey("loans.Loan", on_delete=models.PROTECT, related_name="+")
    method = models.CharField(_("how"), max_length=10, choices=ContactMethodDefault.choices)
    attempted_on = models.DateField(_("on"))
    outcome = models.TextField(_("outcome"))
    promise_on = models.DateField(_("promised to pay by"), null=True, blank=True)
    promise_amount = models.DecimalField(
        _("promised amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    promise_broken_on = models.DateField(_("promise broken on"), null=True, blank=True)

    class Meta:
        ordering = ["attempted_on", "id"]
        verbose_name = _("contact attempt")
        verbose_name_plural = _("contact attempts")
        constraints = [
            models.CheckConstraint(
                name="promise_complete",
                condition=Q(promise_on__isnull=True, promise_amount__isnull=True)
                | Q(promise_on__isnull=False, promise_amount__gt=0),
            )
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.attempted_on} {self.method}"


@pghistory.track()
class CollectionPlan(models.Model):
    """A collection (催收) or forced-recovery (强制清收) plan; a supervisor who is not its
    author approves or rejects it, and an approved plan is tracked step by step."""

    class Kind(models.TextChoices):
        COLLECTION = "collection", _("Collection (催收)")
        FORCED_RECOVERY = "forced_recovery", _("Forced recovery (强制清收)")

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        COMPLETED = "completed", _("Completed")

    loan = models.ForeignKey(
        "loans.Loan", on_delete=models.PROTECT, related_name="collection_plans"
    )
    report = models.ForeignKey(
        InspectionReport, on_delete=models.SET_NULL, null=True, blank=True, related_name="plans"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    summary = models.TextField(_("plan"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("proposed"), auto_now_add=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default="pending")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_comment = models.TextField(_("comment"), blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("collection plan")
        verbose_name_plural = _("collection plans")
        constraints = [
            models.CheckConstraint(
                name="plan_decider_is_not_author",
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("author")),
            )
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.kind} ({self.status})"


@pghistory.track()
class CollectionStep(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        DONE = "done", _("Done")
        MISSED = "missed", _("Not done in time")

    plan = models.ForeignKey(CollectionPlan, on_delete=models.CASCADE, related_name="steps")
    seq = models.PositiveSmallIntegerField(_("step"))
    action = models.CharField(_("action"), max_length=255)
    target_on = models.DateField(_("by"))
    target_amount = models.DecimalField(
        _("amount to recover"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default="planned")
    done_on = models.DateField(_("done on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        ordering = ["plan_id", "seq"]
        verbose_name = _("collection step")
        verbose_name_plural = _("collection steps")
        constraints = [
            models.UniqueConstraint(fields=["plan", "seq"], name="one_step_per_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id}#{self.seq}"


class EarlyWarning(models.Model):
    """A broken promise to pay or a missed collection step: shown on the loan, the agenda
    and the dashboard until resolved."""

    class Kind(models.TextChoices):
        BROKEN_PROMISE = "broken_promise", _("Promise to pay broken")
        MISSED_STEP = "missed_step", _("Collection plan step missed")

    loan = models.ForeignKey("loans.Loan", on_delete=models.PROTECT, related_name="early_warnings")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    source_key = models.CharField(max_length=40)
    detail = models.CharField(_("detail"), max_length=255)
    raised_on = models.DateField(_("raised on"))
    resolved_on = models.DateField(_("resolved on"), null=True, blank=True)

    class Meta:
        ordering = ["-raised_on", "-id"]
        verbose_name = _("early warning")
        verbose_name_plural = _("early warnings")
        constraints = [
            models.UniqueConstraint(fields=["kind", "source_key"], name="one_warning_per_source")
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.kind}"


@pghistory.track()
class ClosureEvaluation(models.Model):
    """When a loan is settled or written off (Sec. 7): the customer, the loan, both officers,
    and the lessons learned."""

    loan = models.OneToOneField("loans.Loan", on_delete=models.PROTECT, related_name="closure")
    customer = models.TextField(_("the customer"))
    loan_assessment = models.TextField(_("the loan"))
    originating_officer = models.TextField(_("the originating officer"))
    managing_officer = models.TextField(_("the managing officer"))
    lessons = models.TextField(_("lessons learned"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("written"), auto_now_add=True)

    class Meta:
        verbose_name = _("closure evaluation")
        verbose_name_plural = _("closure evaluations")

    def __str__(self) -> str:
        return f"{self.loan_id}"
