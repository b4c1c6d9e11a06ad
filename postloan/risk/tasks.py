"""Risk's Celery task: a classification alone (the night runs it through its chain).

Registered under postloan.tasks' names (postloan/tasks.py imports every room's tasks for
Celery's autodiscovery). Thin, each calls one service; safe to run twice."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from postloan.risk import nightly


@shared_task(
    name="postloan.tasks.classify_portfolio", bind=True, max_retries=3, default_retry_delay=300
)
def classify_portfolio(self, as_of: str | None = None) -> dict:
    """A classification (the night's runs in the chain). Rerunning completes a killed run.
    Its connection gets the batch timeouts (postloan.risk.nightly.BATCH_SESSION_SQL)."""
    nightly.batch_session()
    try:
        run = nightly.classify_portfolio(
            as_of=date.fromisoformat(as_of) if as_of else None, trigger="task"
        )
    except nightly.RunInProgress as busy:
        raise self.retry(exc=busy) from busy
    return {"as_of": run.as_of.isoformat(), "seen": run.loans_seen, "changed": run.changed}
