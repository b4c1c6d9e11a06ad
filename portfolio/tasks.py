"""The night's chain as Celery tasks (portfolio.nightly): beat starts it, each step is a
message of its own, the watchdog resumes a chain whose worker was lost."""

from __future__ import annotations

import logging
import os
from datetime import date

from celery import shared_task

from portfolio import nightly

logger = logging.getLogger(__name__)


# --- The night's chain (portfolio.nightly) ------------------------------------------------------


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
