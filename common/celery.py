"""Celery glue shared by every app."""

from __future__ import annotations

import logging
from typing import Any

import pghistory
from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)


class AuditedTask(Task):
    """Runs each task inside a pghistory context naming the task.

    Audit rows written by a task (a nightly reclassification, say) then carry
    `{"task": "postloan.tasks.classify_portfolio", "task_id": ...}` where a web
    request would carry the user and URL.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with pghistory.context(task=self.name, task_id=self.request.id):
            return super().__call__(*args, **kwargs)


def enqueue_on_commit(task: Task, *args: Any, **kwargs: Any) -> None:
    """Send `task` after the current transaction commits; never if it rolls back.

    Unlike Celery's `delay_on_commit`, a broker that is down does not turn a
    committed write into an error page: the failure is logged, and the nightly
    batch runs pick up whatever the task would have done.
    """

    def send() -> None:
        try:
            task.delay(*args, **kwargs)
        except Exception:
            logger.exception("could not enqueue %s%r", task.name, args)

    transaction.on_commit(send)
