"""A worker killed in the middle of the night never leaves it stuck (issue 16).

Real worker processes on the real PostgreSQL and Redis: a first worker is stopped half-way
through a step (held there by a lock this test takes, so that "half-way" is seen in the
database, not guessed from a sleep), then SIGKILLed with its pool children; a second
worker, queued by the watchdog as beat would every minute, completes the night within
five minutes, and nothing is recorded twice.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import date

import pytest
from django.db import connection, connections

from config.celery import app
from postloan.models import (
    ClassificationRun,
    Inspection,
    NightRun,
    NightStep,
    PlanningRun,
    Reclassification,
    RiskFlag,
)
from postloan.risk import nightly as risk_nightly
from tests.conftest import WorkerProcess
from tests.postloan.helpers import assert_state_is_the_ledger, book
from tests.utils import wait_for

NIGHT = date(2026, 10, 20)
LOANS = 20
# The workers' settings: a heartbeat twice a second, a step silent for 3 s is stale, and
# the classification commits every 5 loans (so that it can be stopped after some chunks).
WORKER_ENV = {
    "NIGHT_HEARTBEAT_SECONDS": "0.5",
    "NIGHT_STALE_SECONDS": "3",
    "CLASSIFY_CHUNK_SIZE": "5",
}
RECOVERY_LIMIT = 300  # seconds: the five minutes

# real_timers: the server's dead-client check and the heartbeat thread's timed waits.
pytestmark = [pytest.mark.celery, pytest.mark.clock(NIGHT), pytest.mark.real_timers]


@pytest.fixture
def night_queue():
    """A queue of this test's own: the session's shared worker must not take the night."""
    app.loader.import_default_modules()
    name = f"night-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = name
    yield name
    app.conf.task_default_queue = previous


@pytest.fixture
def start_worker(transactional_db, night_queue, tmp_path):
    """Start a worker of the night's queue in a process group of its own."""
    started: list[WorkerProcess] = []

    def start(name: str) -> WorkerProcess:
        worker = WorkerProcess(
            night_queue,
            connection.settings_dict["NAME"],
            tmp_path / f"{name}.log",
            env=WORKER_ENV | {"CELERY_TASK_DEFAULT_QUEUE": night_queue},
            new_session=True,
        )
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def loans(officer, product, branch):
    """Twenty loans that have paid nothing since June: the night changes every one's tier."""
    return [
        book(
            officer,
            product=product,
            branch=branch,
            disbursed_on=date(2026, 6, 1),
            first_due_on=date(2026, 7, 1),
        )
        for _ in range(LOANS)
    ]


@pytest.fixture
def blocker():
    """A connection of the test's own, to hold a lock the night's step will wait on."""
    other = connections.create_connection("default")
    other.set_autocommit(False)
    yield other
    other.rollback()
    other.close()


def _backend_pid(holder) -> int:
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _waiting_on(blocking_pid: int) -> int | None:
    """The backend waiting on a lock that `blocking_pid` holds, if any."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND %s = ANY(pg_blocking_pids(pid))",
            [blocking_pid],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", [pid])
        return cursor.fetchone()[0]


def _step(name: str) -> NightStep:
    return NightStep.objects.get(night__as_of=NIGHT, name=name)


def _beating(name: str) -> bool:
    """Whether the step's heartbeat moved on since it started: written from a thread of
    its own while the step's connection waits inside a statement."""
    step = _step(name)
    return step.heartbeat_at > step.started_at


def _resume_with_watchdog(worker: WorkerProcess, killed_at: float) -> float:
    """Send the watchdog's task every second, as beat would every minute, until the night
    is finished; returns the seconds from the kill."""
    watchdog = app.tasks["portfolio.tasks.watch_night"]
    deadline = killed_at + RECOVERY_LIMIT
    while time.monotonic() < deadline:
        if NightRun.objects.filter(as_of=NIGHT).exclude(status="running").exists():
            return time.monotonic() - killed_at
        watchdog.delay()
        time.sleep(1)
    pytest.fail(f"the night was not completed within {RECOVERY_LIMIT} s:\n{worker.output()}")


def _assert_nothing_twice(loans) -> None:
    night = NightRun.objects.get()
    assert night.status == "completed"
    assert [(step.name, step.status) for step in night.steps.order_by("position")] == [
        ("snapshot_month_end", "completed"),
        ("classify_portfolio", "completed"),
        ("schedule_inspections", "completed"),
        ("detect_early_warnings", "completed"),
        ("refresh_dashboard", "completed"),
    ]
    run = ClassificationRun.objects.get()
    assert (run.as_of, run.status, run.updated_state) == (NIGHT, "completed", True)
    # one reclassification of each loan, recorded against the run
    changes = Counter(Reclassification.objects.values_list("loan_id", "run_id"))
    assert changes == Counter({(loan.pk, run.pk): 1 for loan in loans})
    # each loan's state is what the pure ledger says on the night
    tiers = {assert_state_is_the_ledger(loan, NIGHT).tier for loan in loans}
    assert len(tiers) == 1 and tiers != {"normal"}
    # one open automatic flag per loan and factor (missed instalments)
    flags = Counter(
        RiskFlag.objects.filter(source="automatic", resolved_on=None).values_list(
            "loan_id", "factor"
        )
    )
    assert sorted(flags.values()) == [1] * LOANS
    # the month planned once: one planning run, each loan's visit of the month once
    assert PlanningRun.objects.count() == 1
    slots = Counter(
        Inspection.objects.filter(reason="policy", status="open").values_list("loan_id", "slot")
    )
    assert slots == Counter({(loan.pk, f"{NIGHT:%Y-%m}#1"): 1 for loan in loans})


def test_a_worker_killed_mid_classification_is_replaced_within_minutes(
    start_worker, loans, blocker
):
    # given the twelfth loan's state held by the test: the run commits two chunks of five
    # loans, then waits on that row in the third
    held = sorted(loans, key=lambda loan: loan.pk)[11]
    with blocker.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM postloan_loanriskstate WHERE loan_id = %s FOR UPDATE", [held.pk]
        )
    first = start_worker("first")
    app.tasks["portfolio.tasks.start_night"].delay(NIGHT.isoformat())
    orphan = wait_for(lambda: _waiting_on(_backend_pid(blocker)), timeout=60)
    assert _step("classify_portfolio").status == "running"
    assert Reclassification.objects.count() == 10  # two chunks committed, mid-way
    assert risk_nightly.lock_is_held(risk_nightly.LOCK_KEY)
    wait_for(lambda: _beating("classify_portfolio"), timeout=10)

    # when the worker, its pool child and all, is killed
    first.kill()
    killed_at = time.monotonic()

    # then its lock is released with its idle connection at once, its working connection's
    # backend gives up within seconds although it is waiting on a lock, and the row is
    # released only then: the killed attempt commits nothing more
    wait_for(lambda: not risk_nightly.lock_is_held(risk_nightly.LOCK_KEY), timeout=5)
    wait_for(lambda: not _backend_alive(orphan), timeout=30)
    blocker.rollback()
    assert Reclassification.objects.count() == 10
    assert _step("classify_portfolio").status == "running"  # stuck, until the watchdog

    # and a second worker, queued by the watchdog, completes the night within minutes
    second = start_worker("second")
    seconds = _resume_with_watchdog(second, killed_at)
    assert seconds < RECOVERY_LIMIT
    _assert_nothing_twice(loans)
    step = _step("classify_portfolio")
    assert (step.attempts, step.error) == (2, "")
    assert ClassificationRun.objects.get().attempts == 2
    assert "lost its worker" in second.output()
    print(f"mid-classification: night completed {seconds:.1f} s after the kill")


def test_a_worker_killed_mid_planning_is_replaced_within_minutes(start_worker, loans, blocker):
    # given the planning run table locked by the test: the planning, one transaction, does
    # all its work and then waits to record its run
    with blocker.cursor() as cursor:
        cursor.execute("LOCK TABLE postloan_planningrun IN EXCLUSIVE MODE")
    first = start_worker("first")
    app.tasks["portfolio.tasks.start_night"].delay(NIGHT.isoformat())
    orphan = wait_for(lambda: _waiting_on(_backend_pid(blocker)), timeout=60)
    assert _step("classify_portfolio").status == "completed"
    assert _step("schedule_inspections").status == "running"
    assert not Inspection.objects.filter(reason="policy").exists()  # nothing committed yet
    wait_for(lambda: _beating("schedule_inspections"), timeout=10)

    # when
    first.kill()
    killed_at = time.monotonic()

    # then the killed planning's transaction dies with its connection
    wait_for(lambda: not _backend_alive(orphan), timeout=30)
    blocker.rollback()
    assert not Inspection.objects.filter(reason="policy").exists()
    assert not PlanningRun.objects.exists()

    # and a second worker completes the night within minutes, planning the month once
    second = start_worker("second")
    seconds = _resume_with_watchdog(second, killed_at)
    assert seconds < RECOVERY_LIMIT
    _assert_nothing_twice(loans)
    assert _step("schedule_inspections").attempts == 2
    assert _step("classify_portfolio").attempts == 1
    print(f"mid-planning: night completed {seconds:.1f} s after the kill")
