"""The risk managers' dashboard: month-end snapshots and the summary tables behind it
(docs/domain.md §4, §5, §7; issue 8).

A snapshot keeps each loan's position at a month end as it was. The summaries are what
the dashboard reads: counts and balances by the dashboard's filter dimensions (branch,
managing officer, product, guarantee structure, disbursement year) and tier, for every
month end and for the current state ("current" rows, rebuilt by the nightly run). They
are derived data, rebuilt set-based; none is edited by hand.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Structure(models.TextChoices):
    """How a loan is secured, for the dashboard's filter (the strongest form wins)."""

    JOINT_GROUP = "joint_group", _("Joint group")
    COLLATERAL = "collateral", _("Collateral")
    ORDINARY = "ordinary", _("Ordinary guarantee")
    UNSECURED = "unsecured", _("Unsecured")


class PortfolioSnapshot(models.Model):
    """One loan at one month end: tier, missed periods, balance, provision — as they were."""

    month_end = models.DateField(_("month end"))
    loan = models.ForeignKey(
        "loans.Loan", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    tier = models.CharField(_("tier"), max_length=16)
    quantitative_tier = models.CharField(_("quantitative tier"), max_length=16)
    consecutive_missed = models.PositiveIntegerField(_("missed periods"))
    outstanding_principal = models.DecimalField(max_digits=16, decimal_places=2)
    provision = models.DecimalField(max_digits=16, decimal_places=2)
    branch_id = models.BigIntegerField()
    officer_id = models.BigIntegerField()
    originating_officer_id = models.BigIntegerField()
    product_id = models.BigIntegerField()
    structure = models.CharField(max_length=12, choices=Structure.choices)
    cohort = models.PositiveSmallIntegerField(_("disbursement year"))

    class Meta:
        verbose_name = _("portfolio snapshot")
        verbose_name_plural = _("portfolio snapshots")
        constraints = [
            models.UniqueConstraint(fields=["month_end", "loan"], name="one_snapshot_per_loan")
        ]
        indexes = [models.Index(fields=["month_end", "tier", "loan"], name="snapshot_cell")]

    def __str__(self) -> str:
        return f"{self.month_end} {self.loan_id} {self.tier}"


class SummaryDimensions(models.Model):
    """The dashboard's filters: every summary row is one combination of them."""

    branch_id = models.BigIntegerField()
    officer_id = models.BigIntegerField()
    product_id = models.BigIntegerField()
    structure = models.CharField(max_length=12, choices=Structure.choices)
    cohort = models.PositiveSmallIntegerField()

    class Meta:
        abstract = True


class PortfolioFigures(models.Model):
    """Loans, balances and provisions per tier: at a month end, or now (`period` null)."""

    period = models.DateField(_("month end"), null=True, blank=True)
    tier = models.CharField(max_length=16)
    loans = models.PositiveIntegerField()
    outstanding_principal = models.DecimalField(max_digits=18, decimal_places=2)
    provision = models.DecimalField(max_digits=18, decimal_places=2)
    watched = models.PositiveIntegerField(default=0)  # loans with an open risk flag
    warnings = models.PositiveIntegerField(default=0)  # open early warnings

    class Meta:
        abstract = True


class MigrationFigures(models.Model):
    """Tier at the start of a month against tier at its end ('new' and 'closed' included);
    `month_end` null is the month in progress, against the current state."""

    month_end = models.DateField(_("month end"), null=True, blank=True)
    from_tier = models.CharField(max_length=16)
    to_tier = models.CharField(max_length=16)
    loans = models.PositiveIntegerField()
    balance_start = models.DecimalField(max_digits=18, decimal_places=2)
    balance_end = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        abstract = True


class PortfolioSummary(SummaryDimensions, PortfolioFigures):
    """Loans, balances and provisions per tier and combination of the dashboard's filters."""

    class Meta:
        verbose_name = _("portfolio summary")
        verbose_name_plural = _("portfolio summaries")
        indexes = [models.Index(fields=["period", "tier"], name="portfolio_summary_period")]

    def __str__(self) -> str:
        return f"{self.period or 'current'} {self.tier}: {self.loans}"


class MigrationSummary(SummaryDimensions, MigrationFigures):
    """The month's tier migration per combination of the dashboard's filters."""

    class Meta:
        verbose_name = _("migration summary")
        verbose_name_plural = _("migration summaries")
        indexes = [models.Index(fields=["month_end"], name="migration_summary_month")]

    def __str__(self) -> str:
        return f"{self.month_end or 'current'} {self.from_tier}→{self.to_tier}"


class RollupLevel(models.TextChoices):
    """Which of the dashboard's filters a roll-up row is summed over: none ("all") or one."""

    ALL = "all"
    BRANCH = "branch"
    OFFICER = "officer"
    PRODUCT = "product"
    STRUCTURE = "structure"
    COHORT = "cohort"


class RollupDimensions(models.Model):
    """A summary summed to one filter (or none): the dimension of the level is set, the
    others are null. The dashboard without a filter, or with one, reads a few hundred of
    these instead of summing a month's tens of thousands of summary rows."""

    level = models.CharField(max_length=12, choices=RollupLevel.choices)
    branch_id = models.BigIntegerField(null=True)
    officer_id = models.BigIntegerField(null=True)
    product_id = models.BigIntegerField(null=True)
    structure = models.CharField(max_length=12, choices=Structure.choices, null=True)
    cohort = models.PositiveSmallIntegerField(null=True)

    class Meta:
        abstract = True


class PortfolioRollup(RollupDimensions, PortfolioFigures):
    """PortfolioSummary summed per level (postloan.reporting.snapshots.rebuild_rollups)."""

    class Meta:
        verbose_name = _("portfolio roll-up")
        verbose_name_plural = _("portfolio roll-ups")
        indexes = [models.Index(fields=["level", "period"], name="portfolio_rollup_level")]

    def __str__(self) -> str:
        return f"{self.level} {self.period or 'current'} {self.tier}: {self.loans}"


class MigrationRollup(RollupDimensions, MigrationFigures):
    """MigrationSummary summed per level (postloan.reporting.snapshots.rebuild_rollups)."""

    class Meta:
        verbose_name = _("migration roll-up")
        verbose_name_plural = _("migration roll-ups")
        indexes = [models.Index(fields=["level", "month_end"], name="migration_rollup_level")]

    def __str__(self) -> str:
        return f"{self.level} {self.month_end or 'current'} {self.from_tier}→{self.to_tier}"


class InspectionSummary(SummaryDimensions):
    """Inspections due in a month per officer and tier: done on time, late, overdue."""

    month = models.DateField(_("month"))
    tier = models.CharField(max_length=16)
    assigned_to_id = models.BigIntegerField()
    kind = models.CharField(max_length=20)
    due = models.PositiveIntegerField()
    done_on_time = models.PositiveIntegerField()
    done_late = models.PositiveIntegerField()
    overdue = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("inspection summary")
        verbose_name_plural = _("inspection summaries")
        indexes = [models.Index(fields=["month"], name="inspection_summary_month")]

    def __str__(self) -> str:
        return f"{self.month} {self.assigned_to_id} {self.tier}"


class OfficerScore(models.Model):
    """An officer's scorecard (Sec. 8), rebuilt nightly."""

    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    branch_id = models.BigIntegerField(null=True)
    managed_loans = models.PositiveIntegerField(default=0)
    managed_balance = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    managed_npl_loans = models.PositiveIntegerField(default=0)
    managed_npl_balance = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    originated_loans = models.PositiveIntegerField(default=0)
    originated_balance = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    originated_npl_loans = models.PositiveIntegerField(default=0)
    originated_npl_balance = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    inspections_due = models.PositiveIntegerField(default=0)
    inspections_on_time = models.PositiveIntegerField(default=0)
    inspections_late = models.PositiveIntegerField(default=0)
    inspections_overdue = models.PositiveIntegerField(default=0)
    handovers_overdue = models.PositiveIntegerField(default=0)
    as_of = models.DateField(_("as of"))

    class Meta:
        verbose_name = _("officer scorecard")
        verbose_name_plural = _("officer scorecards")
        constraints = [models.UniqueConstraint(fields=["officer"], name="one_score_per_officer")]

    def __str__(self) -> str:
        return f"{self.officer_id} {self.as_of}"


class SnapshotRun(models.Model):
    """A month end that has been snapshotted (idempotent per month)."""

    month_end = models.DateField(_("month end"), unique=True)
    loans = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-month_end"]
        verbose_name = _("month-end snapshot")
        verbose_name_plural = _("month-end snapshots")
        constraints = [
            models.CheckConstraint(
                name="snapshot_run_month_end",
                condition=Q(month_end__day__gte=28),
            )
        ]

    def __str__(self) -> str:
        return str(self.month_end)
