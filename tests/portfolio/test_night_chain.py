"""The night as one chain (issue 16): the steps in order, each after the previous one
finished; a second start joins the night; a failed step stops what depends on it and says
so on the runs page and in the log; a step whose worker was lost is taken over."""

from __future__ import annotations

import itertools
import re
import time
import uuid
from datetime import date, timedelta
from io import StringIO

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.db.models.functions import Now
from django.urls import reverse

from config.celery import app
from portfolio import nightly, tasks
from postloan.models import (
    ClassificationRun,
    NightRun,
    NightStep,
    PlanningRun,
    PortfolioSummary,
    SnapshotRun,
)
from postloan.risk import nightly as risk_nightly
from tests.conftest import WorkerProcess
from tests.postloan.helpers import book, risk
from tests.utils import wait_for

NIGHT = date(2026, 10, 20)
STEP_NAMES = [
    "snapshot_month_end",
    "classify_portfolio",
    "schedule_inspections",
    "detect_early_warnings",
    "refresh_dashboard",
]

pytestmark = pytest.mark.clock(NIGHT)


def _loan(officer, product, branch):
    """A loan that has paid nothing since August: special mention on the night."""
    return book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 7, 1),
        first_due_on=date(2026, 8, 1),
    )


def _steps(as_of: date = NIGHT) -> list[tuple[str, str]]:
    return list(
        NightStep.objects.filter(night__as_of=as_of)
        .order_by("position")
        .values_list("name", "status")
    )


def _run_here() -> list[NightStep]:
    ran = []
    while (step := nightly.run_next_step(worker="test")) is not None:
        ran.append(step)
    return ran


def _age(step_name: str, seconds: float, as_of: date = NIGHT) -> None:
    """Make a step look as its worker left it `seconds` ago: running, heartbeat stopped."""
    # By the database's clock, which heartbeats are written and judged by.
    NightStep.objects.filter(night__as_of=as_of, name=step_name).update(
        status="running",
        attempts=1,
        heartbeat_at=Now() - timedelta(seconds=seconds),
        started_at=Now() - timedelta(seconds=seconds),
    )


# --- The beat ---------------------------------------------------------------------------------


def test_the_beat_starts_the_chain_once_a_night_and_watches_it_every_minute():
    schedule = settings.CELERY_BEAT_SCHEDULE
    app.loader.import_default_modules()
    assert schedule["night-chain"] == {
        "task": tasks.start_night.name,
        "schedule": crontab(hour=0, minute=30),
    }
    assert schedule["night-watchdog"] == {
        "task": tasks.watch_night.name,
        "schedule": crontab(minute="*"),
    }
    # The morning reminders stay an entry of their own; no step has a clock time any more.
    assert schedule["inspection-reminders-morning"]["schedule"] == crontab(hour=7, minute=30)
    assert sorted(schedule) == ["inspection-reminders-morning", "night-chain", "night-watchdog"]
    for entry in schedule.values():
        assert entry["task"] in app.tasks
    assert settings.NIGHT_STALE_SECONDS <= 180  # resumed within minutes


# --- In this process ----------------------------------------------------------------------------


def test_the_steps_run_in_order_and_a_second_start_joins_the_night(officer, product, branch):
    loan = _loan(officer, product, branch)
    # when the night is started twice (two beats) and run
    night = nightly.night_start(as_of=NIGHT, trigger="beat")
    again = nightly.night_start(as_of=NIGHT, trigger="beat")
    ran = _run_here()
    # then each step ran once, in order
    assert again.pk == night.pk and NightRun.objects.count() == 1
    assert [step.name for step in ran] == STEP_NAMES
    night.refresh_from_db()
    assert (night.status, night.starts) == ("completed", 2)
    steps = list(night.steps.order_by("position"))
    assert [(step.name, step.status, step.attempts) for step in steps] == [
        (name, "completed", 1) for name in STEP_NAMES
    ]
    for before, after in itertools.pairwise(steps):
        assert before.finished_at <= after.started_at
    # and the night's work is done as of its date
    assert ClassificationRun.objects.get().as_of == NIGHT
    assert risk(loan).tier == "special_mention"
    assert PlanningRun.objects.get().as_of == NIGHT
    assert SnapshotRun.objects.get().month_end == date(2026, 9, 30)
    assert PortfolioSummary.objects.filter(period__isnull=True).exists()
    assert steps[1].result == {"seen": 1, "changed": 1, "updated_state": True}
    # and a third start of a finished night runs nothing
    nightly.night_start(as_of=NIGHT, trigger="command")
    assert _run_here() == []
    assert NightStep.objects.filter(attempts__gt=1).count() == 0


def test_nights_run_in_date_order_never_two_at_once(officer, product, branch):
    _loan(officer, product, branch)
    nightly.night_start(as_of=NIGHT, trigger="beat")
    nightly.night_start(as_of=NIGHT + timedelta(days=1), trigger="beat")
    # the first night's classification is running
    NightStep.objects.filter(night__as_of=NIGHT, name="snapshot_month_end").update(
        status="completed", finished_at=Now()
    )
    _age("classify_portfolio", seconds=1)
    # the second night waits for the first one
    assert nightly.run_next_step(worker="test") is None
    assert _steps(NIGHT + timedelta(days=1))[0] == ("snapshot_month_end", "pending")


def test_a_step_whose_worker_went_silent_is_taken_over(officer, product, branch, settings):
    settings.NIGHT_STALE_SECONDS = 60
    _loan(officer, product, branch)
    nightly.night_start(as_of=NIGHT, trigger="beat")
    NightStep.objects.filter(name="snapshot_month_end").update(
        status="completed", finished_at=Now()
    )
    # given a running classification with a recent heartbeat: left to its worker
    _age("classify_portfolio", seconds=30)
    assert nightly.run_next_step(worker="test") is None
    assert nightly.watch_nights() is None
    # when its heartbeat is older than the stale limit (and the night's start)
    _age("classify_portfolio", seconds=61)
    NightRun.objects.update(started_at=Now() - timedelta(seconds=61), nudged_at=None)
    # then the watchdog queues the night, once a stale period
    assert nightly.watch_nights().as_of == NIGHT
    assert nightly.watch_nights() is None
    # and the next worker takes the step over, as a second attempt
    step = nightly.run_next_step(worker="second")
    assert (step.name, step.status, step.attempts, step.worker) == (
        "classify_portfolio",
        "completed",
        2,
        "second",
    )


def test_a_step_lost_on_its_last_attempt_fails_and_its_dependants_are_not_run(
    officer, product, branch, settings
):
    settings.NIGHT_MAX_ATTEMPTS = 2
    _loan(officer, product, branch)
    nightly.night_start(as_of=NIGHT, trigger="beat")
    _age("snapshot_month_end", seconds=3600)
    NightStep.objects.filter(name="snapshot_month_end").update(attempts=2)
    ran = _run_here()
    assert [step.name for step in ran] == [
        "classify_portfolio",
        "schedule_inspections",
        "detect_early_warnings",
    ]
    assert _steps() == [
        ("snapshot_month_end", "failed"),
        ("classify_portfolio", "completed"),
        ("schedule_inspections", "completed"),
        ("detect_early_warnings", "completed"),
        ("refresh_dashboard", "skipped"),
    ]
    snapshot = NightStep.objects.get(name="snapshot_month_end")
    assert "gave up after 2 attempts" in snapshot.error
    assert NightStep.objects.get(name="refresh_dashboard").blocked_by == "snapshot_month_end"
    assert NightRun.objects.get().status == "failed"


@pytest.mark.real_timers  # the lock wait ends by the server's lock_timeout
def test_a_step_interrupted_by_a_passing_fault_is_resumed_not_failed(
    officer, product, branch, monkeypatch
):
    # given another classification holding the lock longer than the night waits for it
    loan = _loan(officer, product, branch)
    monkeypatch.setattr(risk_nightly, "LOCK_WAIT", "1s")
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [risk_nightly.LOCK_KEY])
        nightly.night_start(as_of=NIGHT, trigger="beat")
        out = StringIO()
        call_command("run_night", "--as-of", NIGHT.isoformat(), stdout=out)
    finally:
        other.close()
    # then the step is left to be resumed, with what interrupted it, and nothing after it ran
    step = NightStep.objects.get(name="classify_portfolio")
    assert (step.status, step.attempts, step.lease) == ("running", 1, None)
    assert step.error == "RunInProgress: another classification run held the lock for 1s"
    assert _steps()[2:] == [(name, "pending") for name in STEP_NAMES[2:]]
    assert (
        out.getvalue()
        .splitlines()[-1]
        .startswith(f"night {NIGHT}: classify_portfolio interrupted (RunInProgress")
    )
    # when the watchdog's stale period has passed, the next attempt completes the night
    _age("classify_portfolio", seconds=3600)
    assert [step.name for step in _run_here()] == STEP_NAMES[1:]
    step.refresh_from_db()
    assert (step.status, step.attempts, step.error) == ("completed", 2, "")
    assert risk(loan).tier == "special_mention"


def test_the_watchdog_queues_a_chain_that_stalled_between_steps(db, settings):
    settings.NIGHT_STALE_SECONDS = 60
    night = nightly.night_start(as_of=NIGHT, trigger="beat")
    assert nightly.watch_nights() is None  # just started: its message is on its way
    # when nothing happened to it for longer than the stale limit (its message was lost)
    long_ago = Now() - timedelta(minutes=5)
    NightRun.objects.filter(pk=night.pk).update(started_at=long_ago, nudged_at=long_ago)
    # then
    assert nightly.watch_nights().pk == night.pk


def test_the_command_runs_the_night_here_and_reports_each_step(officer, product, branch):
    _loan(officer, product, branch)
    out = StringIO()
    call_command("run_night", "--as-of", NIGHT.isoformat(), stdout=out)
    assert out.getvalue().splitlines() == [
        *(f"night {NIGHT}: {name} completed" for name in STEP_NAMES),
        f"night {NIGHT}: completed",
    ]
    assert NightRun.objects.get().trigger == "command"


def test_the_command_refuses_a_night_in_the_future(db):
    with pytest.raises(CommandError, match="in the future"):
        call_command("run_night", "--as-of", "2026-10-21", stdout=StringIO())


# --- The runs page ----------------------------------------------------------------------------


def test_the_runs_page_shows_each_step_and_what_was_not_run(
    client, officer, risk_manager, product, branch
):
    _loan(officer, product, branch)
    nightly.night_start(as_of=NIGHT, trigger="beat")
    NightStep.objects.filter(name="classify_portfolio").update(
        status="failed", attempts=1, error="InternalError: disk full"
    )
    _run_here()
    assert _steps() == [
        ("snapshot_month_end", "completed"),
        ("classify_portfolio", "failed"),
        ("schedule_inspections", "skipped"),
        ("detect_early_warnings", "completed"),
        ("refresh_dashboard", "skipped"),
    ]
    client.force_login(officer)
    assert client.get(reverse("portfolio:runs")).status_code == 403
    client.force_login(risk_manager)
    for language, failed, not_run, status_of_night in (
        ("en", "Failed", "Not run: Classification failed", "Failed"),
        ("zh-hans", "失败", "未运行：五级分类失败", "失败"),
    ):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        html = client.get(reverse("portfolio:runs")).content.decode()
        night = html.split('data-testid="night"', 1)[1].split("</section>", 1)[0]
        status = re.search(r'data-testid="night-status">([^<]*)<', night).group(1)
        assert status == status_of_night
        rows = dict(
            re.findall(
                r'data-step="([a-z_]+)" data-status="[a-z]+">'
                r"\s*<td[^>]*>[^<]*</td>\s*<td>(.*?)</td>",
                night,
                re.S,
            )
        )
        assert failed in rows["classify_portfolio"]
        assert not_run in rows["schedule_inspections"]
        assert not_run in rows["refresh_dashboard"]
        assert "InternalError: disk full" in night


def test_the_runs_page_says_when_a_step_lost_its_worker(client, risk_manager, settings):
    settings.NIGHT_STALE_SECONDS = 60
    nightly.night_start(as_of=NIGHT, trigger="beat")
    _age("snapshot_month_end", seconds=120)
    client.force_login(risk_manager)
    html = client.get(reverse("portfolio:runs")).content.decode()
    assert "no heartbeat: its worker was lost; it will be resumed" in html


# --- On real workers ----------------------------------------------------------------------------


@pytest.fixture
def night_workers(transactional_db, tmp_path):
    """Start workers of a queue of this test's own (the session's shared worker must not
    take the night), with a fast heartbeat."""
    app.loader.import_default_modules()
    queue = f"night-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    started: list[WorkerProcess] = []

    def start(name: str) -> WorkerProcess:
        worker = WorkerProcess(
            queue,
            connection.settings_dict["NAME"],
            tmp_path / f"{name}.log",
            env={
                "CELERY_TASK_DEFAULT_QUEUE": queue,
                "NIGHT_HEARTBEAT_SECONDS": "0.5",
                "NIGHT_STALE_SECONDS": "3",
            },
        )
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    app.conf.task_default_queue = previous


@pytest.mark.celery
def test_two_workers_and_three_starts_run_each_step_once_in_order(
    night_workers, officer, product, branch
):
    loan = _loan(officer, product, branch)
    workers = [night_workers("one"), night_workers("two")]
    start = app.tasks[settings.CELERY_BEAT_SCHEDULE["night-chain"]["task"]]
    # when the night is started three times at once (two beats and a manual start)
    for _ in range(2):
        start.delay(NIGHT.isoformat())
    call_command("run_night", "--as-of", NIGHT.isoformat(), "--queue", stdout=StringIO())
    night = wait_for(
        lambda: NightRun.objects.filter(as_of=NIGHT).exclude(status="running").first(),
        timeout=120,
    )
    # then every step ran once, each after the previous one finished
    assert (night.status, night.starts) == ("completed", 3)
    steps = list(night.steps.order_by("position"))
    assert [(step.name, step.status, step.attempts) for step in steps] == [
        (name, "completed", 1) for name in STEP_NAMES
    ]
    for before, after in itertools.pairwise(steps):
        assert before.finished_at <= after.started_at
    assert ClassificationRun.objects.count() == 1 and PlanningRun.objects.count() == 1
    assert risk(loan).tier == "special_mention"
    logs = "".join(worker.output() for worker in workers)
    for name in STEP_NAMES:
        assert logs.count(f"step {name} started") == 1, name


@pytest.mark.celery
def test_a_failing_step_stops_its_dependants_on_a_real_worker_and_a_retry_completes(
    night_workers, officer, product, branch, client, risk_manager
):
    loan = _loan(officer, product, branch)
    # given a database that refuses the classification's writes (as a full disk would)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER test_refuse BEFORE INSERT ON postloan_reclassification "
            "FOR EACH STATEMENT EXECUTE FUNCTION test_refuse()"
        )
    try:
        worker = night_workers("one")
        app.tasks["portfolio.tasks.start_night"].delay(NIGHT.isoformat())
        night = wait_for(
            lambda: NightRun.objects.filter(as_of=NIGHT).exclude(status="running").first(),
            timeout=120,
        )
        # then the classification failed, and what depends on it was not run; the rest ran
        assert night.status == "failed"
        assert _steps() == [
            ("snapshot_month_end", "completed"),
            ("classify_portfolio", "failed"),
            ("schedule_inspections", "skipped"),
            ("detect_early_warnings", "completed"),
            ("refresh_dashboard", "skipped"),
        ]
        failed = NightStep.objects.get(name="classify_portfolio")
        assert failed.attempts == 1
        assert "No space left on device" in failed.error
        assert not PlanningRun.objects.exists()
        # and the log and the runs page say so
        log = worker.output()
        assert "step classify_portfolio failed" in log
        assert "step schedule_inspections not run: classify_portfolio failed" in log
        assert "step refresh_dashboard not run: classify_portfolio failed" in log
        client.force_login(risk_manager)
        html = client.get(reverse("portfolio:runs")).content.decode()
        assert html.count("Not run: Classification failed") == 2
        assert "No space left on device" in html
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS test_refuse ON postloan_reclassification")
            cursor.execute("DROP FUNCTION IF EXISTS test_refuse()")
    # when the operator runs the night again for its failed steps
    call_command("run_night", "--as-of", NIGHT.isoformat(), "--retry", "--queue", stdout=StringIO())
    started = time.monotonic()
    night = wait_for(
        lambda: NightRun.objects.filter(as_of=NIGHT, status="completed").first(), timeout=120
    )
    # then the failed steps and their dependants ran; the others were not run again
    assert time.monotonic() - started < 120
    assert _steps() == [(name, "completed") for name in STEP_NAMES]
    assert NightStep.objects.get(name="snapshot_month_end").attempts == 1
    assert NightStep.objects.get(name="detect_early_warnings").attempts == 1
    assert risk(loan).tier == "special_mention"
