"""Tasks reach a real worker through real Redis, and only after their transaction commits."""

import time
import uuid

import pytest
from celery import Celery
from django.core.cache import cache
from django.db import transaction
from kombu.exceptions import OperationalError

from common.celery import enqueue_on_commit
from common.tasks import heartbeat_key, worker_heartbeat
from tests.utils import wait_for

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def test_a_task_enqueued_in_a_committed_transaction_runs(celery_worker):
    token = uuid.uuid4().hex
    with transaction.atomic():
        enqueue_on_commit(worker_heartbeat, token)
        assert cache.get(heartbeat_key(token)) is None  # not sent before the commit
    wait_for(lambda: cache.get(heartbeat_key(token)) is not None)


def test_a_task_enqueued_in_a_rolled_back_transaction_never_runs(celery_worker):
    rolled_back, committed = uuid.uuid4().hex, uuid.uuid4().hex

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        enqueue_on_commit(worker_heartbeat, rolled_back)
        raise Abort
    # A later committed task is processed: had the first been sent, it would have run by now
    # (one worker, one queue, in order).
    with transaction.atomic():
        enqueue_on_commit(worker_heartbeat, committed)
    wait_for(lambda: cache.get(heartbeat_key(committed)) is not None)
    assert cache.get(heartbeat_key(rolled_back)) is None


def test_check_worker_command_sees_the_worker(celery_worker, capsys):
    from django.core.management import call_command

    call_command("check_worker", timeout=20)
    assert "worker answered" in capsys.readouterr().out


def _app_with_redis_down() -> Celery:
    """A Celery app with our settings, pointed at a port where nothing listens."""
    app = Celery("daihou-down", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = "redis://127.0.0.1:9/0"
    return app


@pytest.mark.timeout(30)
def test_publishing_fails_fast_when_redis_is_down():
    app = _app_with_redis_down()
    started = time.monotonic()
    with pytest.raises(OperationalError):
        app.send_task("common.tasks.worker_heartbeat", args=["x"])
    assert time.monotonic() - started < 20


@pytest.mark.timeout(30)
def test_a_committed_write_survives_a_broker_that_is_down(caplog, officer):
    def nothing() -> None:
        pass

    unreachable = _app_with_redis_down().task(name="tests.unreachable")(nothing)
    with transaction.atomic():
        officer.first_name = "Kept"
        officer.save()
        enqueue_on_commit(unreachable)
    officer.refresh_from_db()
    assert officer.first_name == "Kept"
    assert "could not enqueue tests.unreachable" in caplog.text
