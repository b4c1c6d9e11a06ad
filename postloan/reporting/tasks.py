"""Reporting's Celery tasks: a month end's snapshot and the dashboard's refresh alone (the
night runs both through its chain). Registered under postloan.tasks' names
(postloan/tasks.py). Thin, each calls one service; safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from postloan.reporting import snapshots
from postloan.risk.nightly import batch_session


@shared_task(name="postloan.tasks.snapshot_month_end")
def snapshot_month_end() -> dict:
    """Keep the last month end's snapshot (idempotent per month; the night's is in the
    chain)."""
    batch_session()
    result = snapshots.snapshot_portfolio(
        month_end=snapshots.previous_month_end(timezone.localdate())
    )
    if result.created:
        # The month in progress is now measured from this snapshot: rebuild its migration
        # at once, so that the matrix and its drill-down agree.
        snapshots.refresh_dashboard()
    return {"month_end": result.month_end.isoformat(), "loans": result.loans}


@shared_task(name="postloan.tasks.refresh_dashboard")
def refresh_dashboard() -> float:
    """Rebuild the dashboard's current summaries (the night's is in the chain)."""
    batch_session()
    return snapshots.refresh_dashboard()
