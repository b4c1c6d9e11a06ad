"""Helpers for tests (fixtures live in conftest.py)."""

from __future__ import annotations

import time
from datetime import date, datetime
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import pytest
import time_machine

PASSWORD = "correct-horse-battery-9"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def frozen_on(day: date, hour: int = 10):
    """Fix the clock (Python's: `timezone.now()`, `localdate()`, `date.today()`) at `hour`
    Asia/Shanghai on `day`, for a test whose outcome would otherwise change with the date.
    Usable as a decorator or a context manager; the clock still ticks from there."""
    return time_machine.travel(datetime.combine(day, clock_time(hour), SHANGHAI), tick=True)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Poll until `predicate()` is truthy; return its value or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")


def login(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("[data-testid=login-form] button[type=submit]")
