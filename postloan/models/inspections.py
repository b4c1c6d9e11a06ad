"""Planned inspections and the policy that plans them (docs/domain.md §5)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loans.models import CollateralKind, RepaymentMethod
from postloan.models.classification import TIER_CHOICES, TIER_VALUES, RiskFlag


class InspectionKind(models.TextChoices):
    ROUTINE = "routine", _("Routine inspection")  # 日常检查
    KEY_TRACKING = "key_tracking", _("Key tracking visit")  # 重点跟踪检查
    RETURN_VISIT = "return_visit", _("Return visit")  # 贷后回访
    DEFAULT_FOLLOW_UP = "default_follow_up", _("Default follow-up")  # 违约跟进
    HANDOVER = "handover", _("Handover first contact")  # 移交首次联系
    AD_HOC = "ad_hoc", _("Ad-hoc inspection")  # 临时检查


# The kinds a policy rule may require; the others come from events.
POLICY_KINDS = [
    (InspectionKind.ROUTINE.value, InspectionKind.ROUTINE.label),
    (InspectionKind.KEY_TRACKING.value, InspectionKind.KEY_TRACKING.label),
    (InspectionKind.RETURN_VISIT.value, InspectionKind.RETURN_VISIT.label),
]


class Frequency(models.TextChoices):
    PER_MONTH = "per_month", _("N times a month")
    EVERY_N_MONTHS = "every_n_months", _("Once every N months")
    SAMPLE = "sample", _("A monthly sample")


@pghistory.track()
class InspectionPolicyRule(models.Model):
    """How often loans matching a condition are inspected (Sec. 4, Art. 2–3).

    Empty conditions match every loan. Where several rules match, the strictest (most
    inspections a month) wins. Risk managers edit the rules; every change is audited.
    """

    name = models.CharField(_("name"), max_length=120)
    is_active = models.BooleanField(_("in force"), default=True)
    tier = models.CharField(
        _("tier"), max_length=16, choices=TIER_CHOICES, blank=True, help_text=_("Empty: any tier")
    )
    collateral_kind = models.CharField(
        _("secured by"),
        max_length=20,
        blank=True,
        choices=CollateralKind.choices,
        help_text=_("Empty: with or without collateral"),
    )
    min_outstanding = models.DecimalField(
        _("outstanding principal at least"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
    )
    product = models.ForeignKey(
        "loans.LoanProduct",
        verbose_name=_("product"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    repayment_method = models.CharField(
        _("repayment method"), max_length=20, blank=True, choices=RepaymentMethod.choices
    )
    frequency = models.CharField(_("how often"), max_length=16, choices=Frequency.choices)
    times_per_month = models.PositiveSmallIntegerField(_("times a month"), null=True, blank=True)
    every_months = models.PositiveSmallIntegerField(_("every N months"), null=True, blank=True)
    sample_percent = models.DecimalField(
        _("sample share (%)"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    kind = models.CharField(
        _("inspection kind"), max_length=20, choices=POLICY_KINDS, default="routine"
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("inspection policy rule")
        verbose_name_plural = _("inspection policy")
        constraints = [
            models.CheckConstraint(
                name="policy_rule_frequency_complete",
                condition=(
                    Q(frequency="per_month", times_per_month__gte=1, times_per_month__lte=8)
                    | Q(frequency="every_n_months", every_months__gte=1, every_months__lte=36)
                    | Q(frequency="sample", sample_percent__gt=0, sample_percent__lte=100)
                ),
            ),
            models.CheckConstraint(
                name="policy_rule_tier_valid", condition=Q(tier="") | Q(tier__in=TIER_VALUES)
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def per_month(self) -> Decimal:
        """How strict the rule is: expected inspections a month (the strictest wins)."""
        if self.frequency == Frequency.PER_MONTH:
            return Decimal(self.times_per_month or 0)
        if self.frequency == Frequency.EVERY_N_MONTHS:
            return Decimal(1) / Decimal(self.every_months or 1)
        return (self.sample_percent or Decimal(0)) / Decimal(100)


# The `reason` of an inspection an officer started themselves ("Start an unplanned visit").
MANUAL_VISIT = "manual"


class InspectionStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class InspectionReason(StrEnum):
    """Why an inspection is due (Inspection.reason; shown in words by the risk template
    tags). Not a field's choices: a rule's name may stand in for "policy" on the page."""

    POLICY = "policy"
    SAMPLE = "sample"
    HANDOVER = "handover"
    MISSED = "missed"
    FLAG = "flag"
    MANUAL = "manual"


class Inspection(models.Model):
    """One inspection a loan is due (贷后检查): planned by the policy or by an event.

    The business key is (loan, kind, slot): the slot names the period or the event
    ("2026-11#1", "2026-11#sample", "handover", "flag-42", "missed-2026-10"), so
    planning twice creates nothing the second time. Never deleted: a surplus inspection
    is cancelled with its reason.
    """

    # No index of its own: the unique (loan, kind, slot) key leads with the loan. Every index
    # is paid on each of the million rows a month's planning inserts, and so is every
    # database-level foreign key check (14 of the 42 s of a month's first planning at a
    # million loans): no foreign key of this table is a database constraint. The planner
    # takes loans, officers, rules and flags from their own tables, and the ORM's PROTECT
    # keeps a loan or an officer with inspections from being deleted (docs/decisions.md).
    loan = models.ForeignKey(
        "loans.Loan",
        on_delete=models.PROTECT,
        related_name="inspections",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(_("kind"), max_length=20, choices=InspectionKind.choices)
    slot = models.CharField(_("period or event"), max_length=40)
    due_on = models.DateField(_("due"))
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("officer"),
        on_delete=models.PROTECT,
        related_name="inspections",
        db_constraint=False,
        db_index=False,  # the officer's index below leads with it
    )
    status = models.CharField(
        _("status"), max_length=10, choices=InspectionStatus.choices, default="open"
    )
    reason = models.CharField(_("why it is due"), max_length=200, blank=True)
    rule = models.ForeignKey(
        InspectionPolicyRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,  # only a rule's deletion looks inspections up by it
    )
    flag = models.ForeignKey(
        RiskFlag,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inspections",
        db_index=False,  # indexed where set (ad-hoc inspections) only, below
        db_constraint=False,
    )
    completed_on = models.DateField(_("done on"), null=True, blank=True)
    cancelled_on = models.DateField(_("cancelled on"), null=True, blank=True)
    cancel_reason = models.CharField(_("why cancelled"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("planned"), auto_now_add=True)

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("inspection")
        verbose_name_plural = _("inspections")
        constraints = [
            models.UniqueConstraint(
                fields=["loan", "kind", "slot"], name="one_inspection_per_loan_kind_and_slot"
            ),
            models.CheckConstraint(
                name="inspection_status_dates",
                condition=(
                    Q(status="open", completed_on__isnull=True, cancelled_on__isnull=True)
                    | Q(status="done", completed_on__isnull=False)
                    | (Q(status="cancelled", cancelled_on__isnull=False) & ~Q(cancel_reason=""))
                ),
            ),
            # One open unplanned visit per loan and officer a day: a double click on "Start
            # an unplanned visit" resumes it (postloan.fieldwork.services). Partial, so the planned
            # rows (a million a month) add no entry and cost only the predicate.
            models.UniqueConstraint(
                fields=["loan", "assigned_to", "due_on"],
                condition=Q(kind="ad_hoc", reason=MANUAL_VISIT, status="open"),
                name="one_open_unplanned_visit_a_day",
            ),
        ]
        indexes = [
            # An officer's agenda (open, by due date) and all their inspections: one index
            # for both, rather than one each on every planned row.
            models.Index(fields=["assigned_to", "status", "due_on"], name="inspections_by_officer"),
            models.Index(
                fields=["due_on"], condition=Q(status="open"), name="open_inspections_by_due"
            ),
            models.Index(
                fields=["flag"], condition=Q(flag__isnull=False), name="inspections_by_flag"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.kind} {self.slot}"

    @property
    def is_open(self) -> bool:
        return self.status == InspectionStatus.OPEN

    def is_overdue(self, today) -> bool:
        return self.is_open and self.due_on < today

    @property
    def done_on_time(self) -> bool | None:
        if self.completed_on is None:
            return None
        return self.completed_on <= self.due_on


class ReminderDigest(models.Model):
    """One reminder e-mail sent to an officer on a day (so a rerun sends no second one)."""

    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    sent_on = models.DateField(_("sent on"))
    items = models.PositiveIntegerField(_("inspections listed"))

    class Meta:
        verbose_name = _("reminder digest")
        verbose_name_plural = _("reminder digests")
        constraints = [
            models.UniqueConstraint(fields=["officer", "sent_on"], name="one_digest_a_day")
        ]

    def __str__(self) -> str:
        return f"{self.officer_id} {self.sent_on}"


class PlanningRun(models.Model):
    """One portfolio-wide planning of a month's inspections (nightly, or the command).

    A run re-plans every loan (`full`) when it is the month's first under the policy in
    force; after it, a run re-plans only the loans whose rule, managing officer or tier
    changed since (`PlannedLoan`), which is what makes the nightly re-run cheap.
    """

    as_of = models.DateField(_("as of"))
    month = models.DateField(_("month"))
    policy = models.CharField(_("policy fingerprint"), max_length=32)
    full = models.BooleanField(_("every loan re-planned"))
    replanned = models.PositiveIntegerField(_("loans re-planned"), default=0)
    created = models.PositiveIntegerField(_("inspections created"), default=0)
    cancelled = models.PositiveIntegerField(_("inspections cancelled"), default=0)
    finished_at = models.DateTimeField(_("finished"), auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("inspection planning run")
        verbose_name_plural = _("inspection planning runs")

    def __str__(self) -> str:
        return f"{self.as_of} ({'full' if self.full else 'changes'})"


class PlannedLoan(models.Model):
    """What the latest planning planned an active loan by: the month, the loan's key to the
    policy (its tier; its product, repayment method and collateral kinds as far as some rule
    names them; its outstanding band between the rules' thresholds), its managing officer,
    whether periods are missed, and the rule that won.

    A cache for the planner, rebuilt by every full run (plain ids rather than foreign keys:
    a row per active loan, rewritten in bulk each month; unlogged, since a lost row only
    makes its loan look changed). A run compares each loan's inputs with its row and
    re-plans the loans whose inputs differ.
    """

    loan_id = models.BigIntegerField(primary_key=True)
    month = models.DateField()
    officer_id = models.IntegerField()
    tier = models.CharField(max_length=16)
    product_key = models.BigIntegerField()  # the product if a rule names it, else 0
    method_key = models.CharField(max_length=20)  # the method if a rule names it, else ''
    collateral_mask = models.IntegerField()  # a bit per collateral kind a rule names
    band = models.SmallIntegerField()  # how many of the rules' amount thresholds it reaches
    missed = models.BooleanField()
    rule_id = models.BigIntegerField(null=True)

    class Meta:
        verbose_name = _("planned loan")
        verbose_name_plural = _("planned loans")

    def __str__(self) -> str:
        return f"{self.loan_id} {self.month:%Y-%m} rule {self.rule_id}"
