"""The inspections' Celery tasks: re-planning after a policy change (the night plans
through its chain) and the morning digest. Registered under postloan.tasks' names
(postloan/tasks.py). Thin, each calls one service; safe to run twice."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from postloan.inspections import planning, reminders
from postloan.risk.nightly import batch_session


@shared_task(name="postloan.tasks.schedule_inspections", max_retries=3, default_retry_delay=300)
def schedule_inspections(as_of: str | None = None) -> dict:
    """Plan the month's inspections (after a policy change; the night's is in the chain)."""
    batch_session()
    result = planning.schedule_inspections(as_of=date.fromisoformat(as_of) if as_of else None)
    return {
        "as_of": result.as_of.isoformat(),
        "created": result.created,
        "cancelled": result.cancelled,
        "sampled": result.sampled,
    }


@shared_task(
    name="postloan.tasks.send_inspection_reminders",
    autoretry_for=(Exception,),
    retry_backoff=300,
    retry_backoff_max=3600,
    max_retries=5,
)
def send_inspection_reminders() -> int:
    """The morning digest to each officer (beat: every morning)."""
    return reminders.send_inspection_reminders()
