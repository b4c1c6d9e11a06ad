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
