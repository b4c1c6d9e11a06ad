"""Post-loan risk control: classification, risk flags, adjustments (docs/domain.md §4, §6)."""

from __future__ import annotations

from decimal import Decimal

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from postloan.risk import factors
from postloan.risk.rules import DEFAULT_PROVISION_PERCENT, TIER_LABELS, TIER_ORDER

TIER_CHOICES = [(tier.value, TIER_LABELS[tier]) for tier in TIER_ORDER]
TIER_VALUES = [tier.value for tier in TIER_ORDER]


def _tier_check(field: str, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{field}__in": TIER_VALUES}), name=name)


@pghistory.track()
class ProvisionRate(models.Model):
    """Loan-loss provision per tier, as a share of the outstanding principal."""

    tier = models.CharField(_("tier"), max_length=16, choices=TIER_CHOICES, unique=True)
    percent = models.DecimalField(_("provision (%)"), max_digits=5, decimal_places=2)

    class Meta:
        ordering = ["id"]
        verbose_name = _("provision rate")
        verbose_name_plural = _("provision rates")
        constraints = [
            _tier_check("tier", "provision_rate_tier_valid"),
            models.CheckConstraint(
                condition=Q(percent__gte=0) & Q(percent__lte=100), name="provision_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_tier_display()}: {self.percent}%"

    @classmethod
    def as_dict(cls) -> dict[str, Decimal]:
        rates = {tier.value: pct for tier, pct in DEFAULT_PROVISION_PERCENT.items()}
        rates.update(dict(cls.objects.values_list("tier", "percent")))
        return rates


class LoanRiskState(models.Model):
    """Where each loan stands: one row per loan, written by a database trigger when the
    loan is created, so a loan is in exactly one tier at any time.

    The nightly run keeps it current (set-based). Its history is the append-only
    Reclassification table, so this table is not tracked row by row.
    """

    loan = models.OneToOneField(
        "loans.Loan", on_delete=models.CASCADE, primary_key=True, related_name="risk"
    )
    tier = models.CharField(_("tier"), max_length=16, choices=TIER_CHOICES, default="normal")
    quantitative_tier = models.CharField(
        _("quantitative tier"), max_length=16, choices=TIER_CHOICES, default="normal"
    )
    consecutive_missed = models.PositiveIntegerField(_("consecutive missed periods"), default=0)
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0)
    outstanding_principal = models.DecimalField(
        _("outstanding principal"), max_digits=16, decimal_places=2, default=Decimal("0")
    )
    overdue_amount = models.DecimalField(
        _("overdue amount"), max_digits=16, decimal_places=2, default=Decimal("0")
    )
    provision = models.DecimalField(
        _("provision"), max_digits=16, decimal_places=2, default=Decimal("0")
    )
    adjustment = models.ForeignKey(
        "postloan.TierAdjustment",
        verbose_name=_("adjustment in force"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("loan risk state")
        verbose_name_plural = _("loan risk states")
        constraints = [
            _tier_check("tier", "risk_state_tier_valid"),
            _tier_check("quantitative_tier", "risk_state_quantitative_tier_valid"),
        ]
        indexes = [models.Index(fields=["tier"])]

    def __str__(self) -> str:
        return f"{self.loan_id}: {self.tier}"


class ClassificationRun(models.Model):
    """One classification of the portfolio as of a date (nightly, or a backfill)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    as_of = models.DateField(_("as of"), unique=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=1)
    loans_seen = models.PositiveIntegerField(_("loans seen"), default=0)
    changed = models.PositiveIntegerField(_("tiers changed"), default=0)
    flags_raised = models.PositiveIntegerField(_("flags raised"), default=0)
    flags_resolved = models.PositiveIntegerField(_("flags resolved"), default=0)
    updated_state = models.BooleanField(
        _("updated the current state"),
        default=True,
        help_text=_("False for a run dated before the latest one: it computes, not overwrites."),
    )
    errors = models.TextField(_("errors"), blank=True)
    trigger = models.CharField(_("started by"), max_length=60, blank=True)

    class Meta:
        ordering = ["-as_of"]
        verbose_name = _("classification run")
        verbose_name_plural = _("classification runs")

    def __str__(self) -> str:
        return f"{self.as_of} {self.status}"


class Basis(models.TextChoices):
    QUANTITATIVE = "quantitative", _("Quantitative run (missed periods)")
    ADJUSTMENT = "adjustment", _("Approved qualitative adjustment")
    LAPSE = "lapse", _("Adjustment lapsed: the count wins")


@pgtrigger.register(
    pgtrigger.Protect(
        name="reclassification_append_only", operation=pgtrigger.Update | pgtrigger.Delete
    )
)
class Reclassification(models.Model):
    """Every change of a loan's tier: from, to, basis, count, why, who, when. Append-only."""

    loan = models.ForeignKey(
        "loans.Loan", on_delete=models.PROTECT, related_name="reclassifications"
    )
    from_tier = models.CharField(_("from"), max_length=16, choices=TIER_CHOICES)
    to_tier = models.CharField(_("to"), max_length=16, choices=TIER_CHOICES)
    basis = models.CharField(_("basis"), max_length=16, choices=Basis.choices)
    consecutive_missed = models.PositiveIntegerField(_("missed periods"))
    quantitative_tier = models.CharField(
        _("quantitative tier"), max_length=16, choices=TIER_CHOICES
    )
    reason = models.TextField(_("reason"), blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("proposed by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    adjustment = models.ForeignKey(
        "postloan.TierAdjustment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reclassifications",
    )
    run = models.ForeignKey(
        ClassificationRun, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    effective_on = models.DateField(_("effective"))
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        ordering = ["-effective_on", "-id"]
        verbose_name = _("reclassification")
        verbose_name_plural = _("reclassifications")
        constraints = [
            _tier_check("from_tier", "reclassification_from_valid"),
            _tier_check("to_tier", "reclassification_to_valid"),
            # A run writes at most one change per loan (a rerun finds nothing new).
            models.UniqueConstraint(
                fields=["loan", "run"],
                condition=Q(run__isnull=False),
                name="one_reclassification_per_loan_and_run",
            ),
        ]
        indexes = [models.Index(fields=["loan", "effective_on"])]

    def __str__(self) -> str:
        return f"{self.loan_id}: {self.from_tier} → {self.to_tier}"


class LossEvidence(models.TextChoices):
    ENFORCEMENT = (
        "enforcement",
        _("Unrecoverable after the guarantees and collateral were enforced"),
    )
    DEATH_OR_MISSING = (
        "death_or_missing",
        _("Borrower died or was declared missing or dead, and the estate cannot repay"),
    )


@pghistory.track()
class TierAdjustment(models.Model):
    """A qualitative adjustment (Art. 7): proposed with a reason, approved by a second
    risk manager. Approved, it sets the loan's tier until superseded or lapsed."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting approval")
        APPROVED = "approved", _("Approved, in force")
        REJECTED = "rejected", _("Rejected")
        LAPSED = "lapsed", _("Lapsed")
        SUPERSEDED = "superseded", _("Superseded")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    loan = models.ForeignKey("loans.Loan", on_delete=models.PROTECT, related_name="adjustments")
    proposed_tier = models.CharField(_("proposed tier"), max_length=16, choices=TIER_CHOICES)
    quantitative_tier = models.CharField(
        _("quantitative tier when proposed"), max_length=16, choices=TIER_CHOICES
    )
    consecutive_missed = models.PositiveIntegerField(_("missed periods when proposed"))
    reason = models.TextField(_("reason"))
    factors = models.JSONField(_("risk factors"), default=list, blank=True)
    loss_evidence = models.CharField(
        _("loss evidence"), max_length=20, choices=LossEvidence.choices, blank=True
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("proposed by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    proposed_at = models.DateTimeField(_("proposed"), auto_now_add=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default="pending")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_comment = models.TextField(_("comment"), blank=True)
    effective_on = models.DateField(_("effective"), null=True, blank=True)
    ended_on = models.DateField(_("ended"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=40, blank=True)

    class Meta:
        ordering = ["-proposed_at", "-id"]
        verbose_name = _("tier adjustment")
        verbose_name_plural = _("tier adjustments")
        constraints = [
            _tier_check("proposed_tier", "adjustment_tier_valid"),
            # Maker-checker, in the database too: nobody approves their own proposal.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("proposed_by")),
                name="adjustment_decider_is_not_proposer",
            ),
            models.UniqueConstraint(
                fields=["loan"],
                condition=Q(status="pending"),
                name="one_pending_adjustment_per_loan",
            ),
            models.UniqueConstraint(
                fields=["loan"],
                condition=Q(status="approved"),
                name="one_adjustment_in_force_per_loan",
            ),
            models.CheckConstraint(
                condition=~Q(proposed_tier="loss") | ~Q(loss_evidence=""),
                name="adjustment_loss_needs_evidence",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} → {self.proposed_tier} ({self.status})"

    @property
    def factor_labels(self) -> list[str]:
        return [factors.label(n) for n in self.factors if n in factors.FACTORS]


class FlagSource(models.TextChoices):
    MANUAL = "manual", _("Raised by a person")
    AUTOMATIC = "automatic", _("Detected from the data")
    INSPECTION = "inspection", _("Found on an inspection")


class RiskFlag(models.Model):
    """A risk factor raised on a loan — or on a borrower or guarantor, reaching all their
    loans. Open until resolved; a loan with an open flag is on the watch list.

    A flag is written once and resolved once, each with who and when on the row itself;
    it is not trigger-tracked because the nightly run raises and resolves them in bulk."""

    factor = models.PositiveSmallIntegerField(_("risk factor"), choices=factors.CHOICES)
    loan = models.ForeignKey(
        "loans.Loan", on_delete=models.PROTECT, related_name="risk_flags", null=True, blank=True
    )
    borrower = models.ForeignKey(
        "borrowers.Borrower",
        on_delete=models.PROTECT,
        related_name="risk_flags",
        null=True,
        blank=True,
    )
    guarantor = models.ForeignKey(
        "borrowers.Guarantor",
        on_delete=models.PROTECT,
        related_name="risk_flags",
        null=True,
        blank=True,
    )
    source = models.CharField(_("source"), max_length=12, choices=FlagSource.choices)
    evidence = models.TextField(_("evidence"))
    is_serious = models.BooleanField(
        _("sudden or serious"),
        default=False,
        help_text=_("A sudden or serious event: an ad-hoc inspection is due at once."),
    )
    raised_on = models.DateField(_("raised on"))
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("raised by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    raised_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    resolved_on = models.DateField(_("resolved on"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("resolved by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    resolution = models.TextField(_("resolution"), blank=True)

    class Meta:
        ordering = ["-raised_on", "-id"]
        verbose_name = _("risk flag")
        verbose_name_plural = _("risk flags")
        constraints = [
            models.CheckConstraint(
                name="risk_flag_has_one_subject",
                condition=(
                    Q(loan__isnull=False, borrower__isnull=True, guarantor__isnull=True)
                    | Q(loan__isnull=True, borrower__isnull=False, guarantor__isnull=True)
                    | Q(loan__isnull=True, borrower__isnull=True, guarantor__isnull=False)
                ),
            ),
            # The nightly run keeps one open flag per loan and data-driven factor.
            models.UniqueConstraint(
                fields=["loan", "factor"],
                condition=Q(source="automatic", resolved_on__isnull=True),
                name="one_open_automatic_flag_per_loan_and_factor",
            ),
            models.CheckConstraint(
                name="risk_flag_resolution_complete",
                condition=Q(resolved_on__isnull=True) | ~Q(resolution=""),
            ),
        ]
        indexes = [
            models.Index(
                fields=["loan"], condition=Q(resolved_on__isnull=True), name="open_flags_by_loan"
            ),
            models.Index(
                fields=["borrower"],
                condition=Q(resolved_on__isnull=True),
                name="open_flags_by_borrower",
            ),
            models.Index(
                fields=["guarantor"],
                condition=Q(resolved_on__isnull=True),
                name="open_flags_by_guarantor",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.factor} on {self.loan_id or self.borrower_id or self.guarantor_id}"

    @property
    def is_open(self) -> bool:
        return self.resolved_on is None

    @property
    def subject(self):
        return self.loan or self.borrower or self.guarantor
