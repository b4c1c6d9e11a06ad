"""Audit tracking for Django's own user model.

Every app registers its own models with `pghistory.track`; here we track the user
records themselves (who was made staff, deactivated or moved between roles).
Password hashes and login times are not copied into the history.
"""

from __future__ import annotations

import pghistory
from django.contrib.auth.models import User
from django.db import models
from django.utils.translation import gettext_lazy as _

from common.notification_texts import render


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    exclude=["password", "last_login"],
    model_name="UserEvent",
)
class AuditedUser(User):
    """A proxy, so that the history triggers on auth_user live in this app's migrations."""

    class Meta:
        proxy = True
        verbose_name = _("user")


@pghistory.track()
class CalendarOverride(models.Model):
    """A date whose working-day status the holiday package does not know (or gets wrong).

    `chinese-calendar` covers the years published so far; admins add the State Council's
    holiday notice for a new year here until the package catches up.
    """

    day = models.DateField(_("date"), unique=True)
    is_working_day = models.BooleanField(_("working day"))
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["day"]
        verbose_name = _("calendar override")
        verbose_name_plural = _("calendar overrides")

    def __str__(self) -> str:
        kind = _("working day") if self.is_working_day else _("holiday")
        return f"{self.day:%Y-%m-%d} {kind}"


@pghistory.track()
class BusinessSettings(models.Model):
    """The company's own parameters, edited by admins (one row; every change is audited)."""

    max_active_guarantees = models.PositiveSmallIntegerField(
        _("active guarantees per guarantor"),
        default=3,
        help_text=_("A guarantor may back at most this many active guarantees."),
    )
    guarantor_income_drop_percent = models.PositiveSmallIntegerField(
        _("guarantor income / assets drop that counts as lower capacity (%)"),
        default=20,
    )
    contact_change_threshold = models.PositiveSmallIntegerField(
        _("contact changes that raise risk factor 10"), default=3
    )
    contact_change_window_months = models.PositiveSmallIntegerField(
        _("window for counting contact changes (months)"), default=6
    )
    collateral_coverage_percent = models.PositiveSmallIntegerField(
        _("collateral value at or below this share of the principal raises factor 11 (%)"),
        default=120,
    )
    handover_working_days = models.PositiveSmallIntegerField(
        _("working days to reach the borrower after disbursement"), default=5
    )
    adhoc_inspection_working_days = models.PositiveSmallIntegerField(
        _("working days to inspect after a serious risk flag"), default=2
    )
    followup_working_days = models.PositiveSmallIntegerField(
        _("working days to start the follow-up of a missed instalment"), default=5
    )
    upload_max_megabytes = models.PositiveSmallIntegerField(
        _("largest photo or document (MB)"), default=10
    )

    class Meta:
        verbose_name = _("business settings")
        verbose_name_plural = _("business settings")
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="business_settings_single_row")
        ]

    def __str__(self) -> str:
        return str(_("Business settings"))

    @classmethod
    def current(cls) -> BusinessSettings:
        settings, _created = cls.objects.get_or_create(id=1)
        return settings


class Notification(models.Model):
    """A message for one user: shown in the navbar and in the daily digest.

    Stored as a kind and parameters, not as text, so that each reader sees it in their
    own language; each app registers its kinds' texts (common/notification_texts.py).
    """

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(_("kind"), max_length=40)
    params = models.JSONField(_("details"), default=dict, blank=True)
    url = models.CharField(_("link"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return render(self.kind, self.params)


class SubmissionKey(models.Model):
    """One sending of a form: its one-time key and a digest of what was sent (the key is a
    hidden field each rendering of the form gets anew; common/submissions.py).

    Claimed in the same transaction as the write the form makes, so that a second sending
    of the same form with the same content (a double click, a retried request) waits for
    the first, finds this row and is answered with the first one's result instead of
    doing the work again. A form refused for its input keeps no row: corrected, it is sent
    again under the same key.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64)  # sha256 of the key, the path and the content
    path = models.CharField(max_length=255)
    result_url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("form submission")
        verbose_name_plural = _("form submissions")
        constraints = [
            models.UniqueConstraint(fields=["user", "digest"], name="one_submission_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.path} {self.created_at:%Y-%m-%d %H:%M}"
