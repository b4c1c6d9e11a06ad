"""Operational tasks shared by the whole portal."""

import time

from celery import shared_task
from django.core.cache import cache

HEARTBEAT_TTL = 3600


def heartbeat_key(token: str) -> str:
    return f"worker-heartbeat:{token}"


@shared_task
def worker_heartbeat(token: str) -> None:
    """Record that a worker picked up this token (`manage.py check_worker` waits for it)."""
    cache.set(heartbeat_key(token), time.time(), HEARTBEAT_TTL)
