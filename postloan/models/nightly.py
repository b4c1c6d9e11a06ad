"""The night's batch as one chain (issue 16): a record of each night and of its steps.

The chain (portfolio/nightly.py) runs the steps in order, each after the previous one
finished. A step's row is also its lease: the attempt running it writes its `heartbeat_at`
every few seconds from a thread of its own, so the beat's watchdog can tell a step whose
worker was killed (its heartbeat stops) from a long one, and hand it to another worker.
The runs page reads the same rows.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class NightStepName(models.TextChoices):
    """The night's steps, in the order they run."""

    SNAPSHOT_MONTH_END = "snapshot_month_end", _("Month-end snapshot")  # 月末快照
    CLASSIFY_PORTFOLIO = "classify_portfolio", _("Classification")  # 风险分类
    SCHEDULE_INSPECTIONS = "schedule_inspections", _("Inspection planning")  # 检查计划
    DETECT_EARLY_WARNINGS = "detect_early_warnings", _("Early warnings")  # 预警
    REFRESH_DASHBOARD = "refresh_dashboard", _("Dashboard refresh")  # 仪表板刷新


class NightRun(models.Model):
    """One night's chain, for a date (`as_of`: the day the beat started it, Asia/Shanghai)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    as_of = models.DateField(_("as of"), unique=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    trigger = models.CharField(_("started by"), max_length=60, blank=True)
    starts = models.PositiveIntegerField(
        _("times started"),
        default=1,
        help_text=_("A second start (a second beat, a manual start) joins the night under way."),
    )
    nudged_at = models.DateTimeField(
        _("last started or resumed"), null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["-as_of"]
        verbose_name = _("night run")
        verbose_name_plural = _("night runs")
        indexes = [
            models.Index(fields=["as_of"], name="night_unfinished", condition=Q(status="running"))
        ]

    def __str__(self) -> str:
        return f"{self.as_of} {self.status}"


class NightStep(models.Model):
    """One step of a night: its state, its lease (who runs it, last heartbeat) and outcome."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Not run")

    night = models.ForeignKey(NightRun, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("order"))
    name = models.CharField(_("step"), max_length=40, choices=NightStepName.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    blocked_by = models.CharField(
        _("not run because"),
        max_length=40,
        choices=NightStepName.choices,
        blank=True,
        help_text=_("The failed step this one depends on."),
    )
    lease = models.UUIDField(_("lease"), null=True, blank=True, editable=False)
    worker = models.CharField(_("worker"), max_length=200, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)

    class Meta:
        ordering = ["night", "position"]
        verbose_name = _("night step")
        verbose_name_plural = _("night steps")
        constraints = [
            models.UniqueConstraint(fields=["night", "name"], name="night_step_once"),
            models.UniqueConstraint(fields=["night", "position"], name="night_step_position"),
        ]

    def __str__(self) -> str:
        return f"{self.night.as_of} {self.name} {self.status}"
