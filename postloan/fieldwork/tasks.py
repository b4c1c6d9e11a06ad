"""Field work's Celery task: early warnings alone (the night's are in its chain).
Registered under postloan.tasks' names (postloan/tasks.py)."""

from __future__ import annotations

from celery import shared_task

from postloan.fieldwork import services


@shared_task(name="postloan.tasks.detect_early_warnings")
def detect_early_warnings() -> int:
    """Broken promises to pay and missed collection steps (the night's are in the chain)."""
    return services.detect_early_warnings()
