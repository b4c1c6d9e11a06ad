"""The daily reminder: each officer's inspections due this week and those overdue."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from postloan.models import Inspection, InspectionStatus, ReminderDigest


def send_inspection_reminders(*, today: date | None = None) -> int:
    """Send one digest per officer per day (a second run the same day sends nothing)."""
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
    messages = []
    for officer_id, items in by_officer.items():
        officer = officers[officer_id]
        if not officer.email or not officer.is_active:
            continue
        try:
            with transaction.atomic():
                ReminderDigest.objects.create(officer=officer, sent_on=today, items=len(items))
        except IntegrityError:
            continue  # already sent today
        # The portal's default language; officers read Chinese and English alike here.
        with translation.override(settings.LANGUAGE_CODE):
            context = {
                "officer": officer,
                "overdue": [i for i in items if i.due_on < today],
                "due": [i for i in items if i.due_on >= today],
                "today": today,
            }
            subject = render_to_string("postloan/email/reminder_subject.txt", context).strip()
            body = render_to_string("postloan/email/reminder.txt", context)
        messages.append(
            EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, [officer.email])
        )
    if messages:
        get_connection().send_messages(messages)
    return len(messages)
