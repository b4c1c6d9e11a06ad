"""Notifications: leave a message for users, of a kind an app registered
(common/notification_texts.py says what each kind says)."""

from __future__ import annotations

from django.db import transaction

from common.models import Notification
from common.notification_texts import KINDS, register, render

__all__ = ["notify", "register", "render"]


def notify(recipients, kind: str, *, url: str = "", **params) -> None:
    """Leave a notification for each distinct, active recipient."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    seen = set()
    rows = []
    for user in recipients:
        if user is None or user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        rows.append(Notification(recipient=user, kind=kind, params=params, url=url))
    with transaction.atomic():
        Notification.objects.bulk_create(rows)
