"""Celery tasks: thin, each calls one service; safe to run twice."""

from __future__ import annotations

import logging
import os
from datetime import date

from celery import shared_task

from postloan import batch, nightly

logger = logging.getLogger(__name__)


# --- The night's chain (postloan.nightly) ------------------------------------------------------


@shared_task
def start_night(as_of: str | None = None) -> int:
    """Start the night's chain (beat: 00:30), or join it when it was started already."""
    night = nightly.night_start(as_of=date.fromisoformat(as_of) if as_of else None, trigger="beat")
    run_night.delay()
    return night.pk


@shared_task(bind=True)
def run_night(self) -> dict | None:
    """Run the next step of the oldest unfinished night, then queue the one after: each
    step is a message of its own (its own time limit). Nothing to do when a live worker is
    running the step; the watchdog queues this again when that worker is lost."""
    step = nightly.run_next_step(worker=f"{self.request.hostname} pid {os.getpid()}")
    if step is None:
        return None
    try:
        run_night.delay()
    except Exception:
        # The broker went away: the watchdog queues the chain again when it is back.
        logger.exception("night %s: could not queue the step after %s", step.night_id, step.name)
    return {"night": step.night_id, "step": step.name, "status": step.status}


@shared_task
def watch_night() -> bool:
    """The night's watchdog (beat: every minute): queue again a chain whose step lost its
    worker or that stalled."""
    night = nightly.watch_nights()
    if night is not None:
        run_night.delay()
    return night is not None


# --- Each step alone, for backfills and re-planning (the night runs them through the chain) ----
# Their connections get the batch timeouts too (postloan.batch.BATCH_SESSION_SQL).


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
    from postloan.scheduling import schedule_inspections as plan

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
    from postloan.reminders import send_inspection_reminders as send

    return send()


@shared_task
def detect_early_warnings() -> int:
    """Broken promises to pay and missed collection steps (the night's are in the chain)."""
    from postloan.visits import detect_early_warnings as detect

    return detect()


@shared_task
def snapshot_month_end() -> dict:
    """Keep the last month end's snapshot (idempotent per month; the night's is in the
    chain)."""
    from django.utils import timezone

    from postloan.dashboard import previous_month_end, refresh_dashboard, snapshot_portfolio

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
    from postloan.dashboard import refresh_dashboard as refresh

    batch.batch_session()
    return refresh()
