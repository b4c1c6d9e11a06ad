"""Celery tasks: thin, each calls one service; safe to run twice."""

from __future__ import annotations

import logging
from datetime import date

from celery import shared_task

from postloan.risk import nightly as batch

logger = logging.getLogger(__name__)


# --- Each step alone, for backfills and re-planning (the night runs them through the chain) ----
# Their connections get the batch timeouts too (postloan.risk.nightly.BATCH_SESSION_SQL).


@shared_task(bind=True, max_retries=3, default_retry_delay=300)
def classify_portfolio(self, as_of: str | None = None) -> dict:
    """A classification (the night's runs in the chain). Rerunning completes a killed run."""
    batch.batch_session()
    try:
        run = batch.classify_portfolio(
            as_of=date.fromisoformat(as_of) if as_of else None, trigger="task"
        )
    except batch.RunInProgress as busy:
        raise self.retry(exc=busy) from busy
    return {"as_of": run.as_of.isoformat(), "seen": run.loans_seen, "changed": run.changed}


@shared_task(max_retries=3, default_retry_delay=300)
def schedule_inspections(as_of: str | None = None) -> dict:
    """Plan the month's inspections (after a policy change; the night's is in the chain)."""
    from postloan.inspections.planning import schedule_inspections as plan

    batch.batch_session()
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
    from postloan.inspections.reminders import send_inspection_reminders as send

    return send()


@shared_task
def detect_early_warnings() -> int:
    """Broken promises to pay and missed collection steps (the night's are in the chain)."""
    from postloan.fieldwork.services import detect_early_warnings as detect

    return detect()


@shared_task
def snapshot_month_end() -> dict:
    """Keep the last month end's snapshot (idempotent per month; the night's is in the
    chain)."""
    from django.utils import timezone

    from postloan.reporting.snapshots import (
        previous_month_end,
        refresh_dashboard,
        snapshot_portfolio,
    )

    batch.batch_session()
    result = snapshot_portfolio(month_end=previous_month_end(timezone.localdate()))
    if result.created:
        # The month in progress is now measured from this snapshot: rebuild its migration
        # at once, so that the matrix and its drill-down agree.
        refresh_dashboard()
    return {"month_end": result.month_end.isoformat(), "loans": result.loans}


@shared_task
def refresh_dashboard() -> float:
    """Rebuild the dashboard's current summaries (the night's is in the chain)."""
    from postloan.reporting.snapshots import refresh_dashboard as refresh

    batch.batch_session()
    return refresh()
