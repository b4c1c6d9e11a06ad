"""The suite runs in one process per core, each on databases of its own."""

import os

import pytest

from config.settings import redis_database
from devtools.__main__ import test_processes as processes_for


@pytest.mark.parametrize(
    "args",
    [["-n", "0"], ["-n0"], ["--numprocesses=3"], ["-p", "no:xdist"], ["--pdb"], ["-s"]],
)
def test_arguments_that_choose_or_debug_keep_their_choice(args):
    assert processes_for(["tests/loans", *args]) == []


def test_otherwise_one_process_per_core_at_most_eight(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert processes_for(["-q", "-m", "not browser", "-p", "no:cacheprovider"]) == ["-n", "2"]
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert processes_for([]) == ["-n", "8"]


def test_each_process_takes_a_redis_database_of_its_own_on_the_same_server():
    assert redis_database("redis://127.0.0.1:6379/5", offset=1) == "redis://127.0.0.1:6379/6"
    assert redis_database("redis://:secret@host:6380", offset=2) == "redis://:secret@host:6380/2"
    # A server has 16 databases: the numbers wrap round rather than name one it lacks.
    assert redis_database("redis://127.0.0.1:6379/15", offset=1) == "redis://127.0.0.1:6379/0"


def test_the_cache_the_broker_and_the_processes_started_share_the_moved_database(settings):
    if os.environ.get("PYTEST_XDIST_TESTRUNUID") is None:
        pytest.skip("run without pytest-xdist")
    # config/settings.py moved it once and handed the moved address to the processes it
    # starts (a Celery worker), which must not move it again.
    assert os.environ["REDIS_URL"] == settings.REDIS_URL
    assert settings.CACHES["default"]["LOCATION"] == settings.REDIS_URL
    assert settings.CELERY_BROKER_URL == settings.REDIS_URL
    assert "PYTEST_XDIST_WORKER" not in os.environ
