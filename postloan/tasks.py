"""Celery tasks: thin, each calls one service; safe to run twice."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from postloan import batch


@shared_task(bind=True, max_retries=3, default_retry_delay=300)
def classify_portfolio(self, as_of: str | None = None) -> dict:
    """The nightly classification (beat: every night). Rerunning completes a killed run."""
    try:
        run = batch.classify_portfolio(
            as_of=date.fromisoformat(as_of) if as_of else None, trigger="beat"
        )
    except batch.RunInProgress as busy:
        raise self.retry(exc=busy) from busy
    return {"as_of": run.as_of.isoformat(), "seen": run.loans_seen, "changed": run.changed}


@shared_task(max_retries=3, default_retry_delay=300)
def schedule_inspections(as_of: str | None = None) -> dict:
    """Plan the month's inspections (beat: every night, after the classification)."""
    from postloan.scheduling import schedule_inspections as plan

    result = plan(as_of=date.fromisoformat(as_of) if as_of else None)
    return {
        "as_of": result.as_of.isoformat(),
        "created": result.created,
        "cancelled": result.cancelled,
        "sampled": result.sampled,
    }


@shared_task(autoretry_for=(Exception,), retry_backoff=300, retry_backoff_max=3600, max_retries=5)
def send_inspection_reminders() -> int:
    """The morning digest to each officer (beat: every morning)."""
    from postloan.reminders import send_inspection_reminders as send

    return send()


@shared_task
def detect_early_warnings() -> int:
    """Broken promises to pay and missed collection steps (beat: every night)."""
    from postloan.visits import detect_early_warnings as detect

    return detect()


@shared_task
def snapshot_month_end() -> dict:
    """Keep the last month end's snapshot (beat: every night; idempotent per month, so a
    night missed around the month end is caught up the next night)."""
    from django.utils import timezone

    from postloan.dashboard import previous_month_end, refresh_dashboard, snapshot_portfolio

    result = snapshot_portfolio(month_end=previous_month_end(timezone.localdate()))
    if result.created:
        # The month in progress is now measured from this snapshot: rebuild its migration
        # at once rather than at 03:00, so that the matrix and its drill-down agree.
        refresh_dashboard()
    return {"month_end": result.month_end.isoformat(), "loans": result.loans}


@shared_task
def refresh_dashboard() -> float:
    """Rebuild the dashboard's current summaries (beat: every night, after the planning)."""
    from postloan.dashboard import refresh_dashboard as refresh

    return refresh()
