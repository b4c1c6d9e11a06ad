"""The daily reminder: each officer's inspections due this week and those overdue."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from postloan.models import Inspection, InspectionStatus, ReminderDigest

logger = logging.getLogger(__name__)


def send_inspection_reminders(*, today: date | None = None) -> int:
    """Send one digest per officer per day (a second run the same day sends nothing).

    Returns how many were sent; raises RemindersNotSent, after trying every officer, when
    the mail server refused some.
    """
    today = today or timezone.localdate()
    inspections = (
        Inspection.objects.filter(
            status=InspectionStatus.OPEN, due_on__lte=today + timedelta(days=7)
        )
        .select_related("loan", "loan__borrower", "loan__risk", "assigned_to")
        .order_by("due_on", "loan__reference")
    )
    by_officer: dict[int, list[Inspection]] = defaultdict(list)
    for inspection in inspections:
        by_officer[inspection.assigned_to_id].append(inspection)
    officers = User.objects.in_bulk(list(by_officer))
    sent, failed = 0, []
    with get_connection() as mail:  # one connection for the whole morning's digests
        for officer_id, items in by_officer.items():
            officer = officers[officer_id]
            if not officer.email or not officer.is_active:
                continue
            message = _digest(officer, items, today)
            try:
                # The day's record and the sending stand or fall together: a digest the
                # mail server refused is not recorded, so running again sends it.
                with transaction.atomic():
                    _digest_row, created = ReminderDigest.objects.get_or_create(
                        officer=officer, sent_on=today, defaults={"items": len(items)}
                    )
                    if not created:
                        continue  # already sent today
                    mail.send_messages([message])
            except Exception:
                logger.exception("inspection reminder to %s not sent", officer.username)
                failed.append(officer.username)
                continue
            sent += 1
    if failed:
        raise RemindersNotSent(failed, sent)
    return sent


class RemindersNotSent(RuntimeError):
    """Some digests could not be sent (the others were); running again sends just those."""

    def __init__(self, officers: list[str], sent: int):
        super().__init__(f"{sent} reminders sent; not sent to {', '.join(officers)}")
        self.officers = officers
        self.sent = sent


def _digest(officer: User, items: list[Inspection], today: date) -> EmailMultiAlternatives:
    # The portal's default language; officers read Chinese and English alike here.
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "officer": officer,
            "site_url": settings.SITE_URL,
            "overdue": [i for i in items if i.due_on < today],
            "due": [i for i in items if i.due_on >= today],
            "today": today,
        }
        subject = render_to_string("postloan/email/reminder_subject.txt", context).strip()
        body = render_to_string("postloan/email/reminder.txt", context)
    return EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, [officer.email])
