"""The night's batch as one chain of steps, each after the previous one finished (issue 16).

The beat starts the night once (00:30, `night_start`); the steps then run in order,
whatever each takes: the month-end snapshot, the classification, the inspection
planning, the early warnings and the dashboard refresh. Each step is its own task
(`portfolio.tasks.run_night`), which claims the next step, runs it and queues the next
one; a night runs only after the nights before it finished, so two nights never overlap.

A step's row (NightStep) is its lease. Claiming it is a conditional update under a lock
on the night, so a second start of the night (a second beat, a manual start, the
watchdog, a redelivered message) never runs a step twice at once. While it runs, a
thread with its own database connection writes the step's heartbeat every
NIGHT_HEARTBEAT_SECONDS; a long transaction (the planning is one) cannot show that it is
alive from inside itself. When a worker is killed, the heartbeat stops; the beat's
watchdog (`watch_nights`, every minute) finds the step silent for NIGHT_STALE_SECONDS and
queues the chain again, and the next worker takes the step over (its attempts counted, at
most NIGHT_MAX_ATTEMPTS). Every step is idempotent, so one taken over half-way is
completed by running it again (postloan.risk.nightly, scheduling, dashboard say how).

A step that fails is recorded with its error; the steps that depend on it are not run and
say why (`blocked_by`); the others still run. The runs page reads the same rows.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection, connections, transaction
from django.db.models.functions import Now
from django.utils import timezone

from postloan.fieldwork.services import detect_early_warnings
from postloan.inspections.planning import schedule_inspections
from postloan.models import NightRun, NightStep, NightStepName
from postloan.reporting.snapshots import previous_month_end, refresh_dashboard, snapshot_portfolio
from postloan.risk import nightly as risk_nightly

logger = logging.getLogger(__name__)

FINISHED = (NightStep.Status.COMPLETED, NightStep.Status.FAILED, NightStep.Status.SKIPPED)
# Failures worth another attempt (by the watchdog, after NIGHT_STALE_SECONDS): the database
# went away or timed out, or another classification held the lock. Anything else is a fault
# that another attempt would meet again: the step fails at once.
RETRYABLE = (OperationalError, risk_nightly.RunInProgress)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[date], dict]
    # The steps whose outcome this one uses: if one of them fails, this one is not run.
    needs: tuple[str, ...] = ()


def _snapshot(as_of: date) -> dict:
    # Idempotent per month: a night missed around the month end is caught up the next one.
    result = snapshot_portfolio(month_end=previous_month_end(as_of))
    return {"month_end": result.month_end.isoformat(), "loans": result.loans}


def _classify(as_of: date) -> dict:
    # Waits for a classification someone started by hand rather than failing the night.
    run = risk_nightly.classify_portfolio(as_of=as_of, trigger="night", wait=True)
    return {"seen": run.loans_seen, "changed": run.changed, "updated_state": run.updated_state}


def _plan(as_of: date) -> dict:
    result = schedule_inspections(as_of=as_of)
    return {"created": result.created, "cancelled": result.cancelled, "sampled": result.sampled}


def _warn(as_of: date) -> dict:
    return {"raised": detect_early_warnings(as_of=as_of)}


def _refresh(as_of: date) -> dict:
    # The dashboard shows the newest night: a night re-run for an older date (a backfill)
    # refreshes it as of the newest one rather than turning it back.
    newest = NightRun.objects.order_by("-as_of").values_list("as_of", flat=True).first()
    return {"seconds": round(refresh_dashboard(as_of=max(as_of, newest or as_of)), 1)}


N = NightStepName
STEPS = (
    Step(N.SNAPSHOT_MONTH_END, _snapshot),
    # Not on the snapshot: the month end is computed from the repayments, not the state.
    Step(N.CLASSIFY_PORTFOLIO, _classify),
    Step(N.SCHEDULE_INSPECTIONS, _plan, needs=(N.CLASSIFY_PORTFOLIO,)),
    Step(N.DETECT_EARLY_WARNINGS, _warn),
    # The summaries are of everything the night changed, the month's migration measured
    # from the snapshot.
    Step(
        N.REFRESH_DASHBOARD,
        _refresh,
        needs=(
            N.SNAPSHOT_MONTH_END,
            N.CLASSIFY_PORTFOLIO,
            N.SCHEDULE_INSPECTIONS,
            N.DETECT_EARLY_WARNINGS,
        ),
    ),
)
STEPS_BY_NAME = {step.name: step for step in STEPS}


def _db_now() -> datetime:
    """The database's clock: heartbeats are written and judged by it, whichever machine
    the workers run on."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        return cursor.fetchone()[0]


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.NIGHT_STALE_SECONDS)


# --- Starting a night -------------------------------------------------------------------------


def night_start(*, as_of: date | None = None, trigger: str = "", retry: bool = False) -> NightRun:
    """The night of `as_of` (default today), created with its steps waiting, or joined when
    it exists (a second beat, a manual start): nothing runs twice. `retry` gives its failed
    steps, and those not run because of them, another go. The caller queues `run_night`."""
    as_of = as_of or timezone.localdate()
    with transaction.atomic():
        now = _db_now()
        night, created = NightRun.objects.get_or_create(
            as_of=as_of, defaults={"started_at": now, "trigger": trigger, "nudged_at": now}
        )
        if created:
            NightStep.objects.bulk_create(
                NightStep(night=night, position=position, name=step.name)
                for position, step in enumerate(STEPS, start=1)
            )
            logger.info("night %s started (%s)", as_of, trigger or "-")
            return night
        night = NightRun.objects.select_for_update().get(pk=night.pk)
        night.starts += 1
        night.nudged_at = now
        fields = ["starts", "nudged_at"]
        if retry:
            again = night.steps.filter(
                status__in=[NightStep.Status.FAILED, NightStep.Status.SKIPPED]
            ).update(status=NightStep.Status.PENDING, attempts=0, blocked_by="", lease=None)
            if again:
                night.status, night.finished_at = NightRun.Status.RUNNING, None
                fields += ["status", "finished_at"]
                logger.info("night %s: %d step(s) to run again (%s)", as_of, again, trigger)
        night.save(update_fields=fields)
        logger.info("night %s started again (%s): joins the night under way", as_of, trigger)
    return night


# --- Running the next step --------------------------------------------------------------------


def run_next_step(*, worker: str = "") -> NightStep | None:
    """Claim the next step of the oldest unfinished night and run it; None when there is
    nothing to do now (every night finished, or a live worker is running the step)."""
    step = _claim(worker or _worker_name())
    if step is None:
        return None
    as_of = step.night.as_of
    logger.info("night %s: step %s started (attempt %d)", as_of, step.name, step.attempts)
    try:
        with _heartbeat(step):
            risk_nightly.batch_session()
            outcome = STEPS_BY_NAME[step.name].run(as_of)
    except RETRYABLE as error:
        if step.attempts >= settings.NIGHT_MAX_ATTEMPTS:
            _record_failure(step, error)
        else:
            _record_interruption(step, error)
    except Exception as error:
        _record_failure(step, error)
    else:
        # An earlier attempt's interruption is in the log; the record shows the outcome.
        _record(step, status=NightStep.Status.COMPLETED, result=outcome, error="")
        logger.info("night %s: step %s completed: %s", as_of, step.name, outcome)
    step.refresh_from_db()
    return step


def _worker_name() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


def _claim(worker: str) -> NightStep | None:
    with transaction.atomic():
        while True:
            # The night's row serialises whoever claims its steps.
            night = (
                NightRun.objects.select_for_update()
                .filter(status=NightRun.Status.RUNNING)
                .order_by("as_of")
                .first()
            )
            if night is None:
                return None
            steps = list(night.steps.order_by("position"))
            # Read after the lock and the steps: a step that another worker just finished
            # has finished before the time this one is stamped with.
            now = _db_now()
            step = _next_step(night, steps, now)
            if step is _BUSY:
                return None
            if step is None:
                _finish(night, steps)
                continue  # the next night, if one is waiting
            step.status = NightStep.Status.RUNNING
            step.attempts += 1
            step.started_at = step.heartbeat_at = now
            step.finished_at = None
            step.lease = uuid.uuid4()
            step.worker = worker[:200]
            step.save(
                update_fields=[
                    "status", "attempts", "started_at", "heartbeat_at", "finished_at",
                    "lease", "worker",
                ]
            )  # fmt: skip
            return step


_BUSY = object()


def _next_step(night: NightRun, steps: list[NightStep], now: datetime):
    """The step to run now, _BUSY when a live worker runs it, None when all are finished.
    Steps left behind by a lost worker are taken over, or failed after the last attempt;
    steps whose needs failed are marked not run."""
    for step in steps:
        if step.status in FINISHED:
            continue
        if step.status == NightStep.Status.RUNNING:
            if step.heartbeat_at and step.heartbeat_at >= _stale_before(now):
                return _BUSY
            if step.attempts >= settings.NIGHT_MAX_ATTEMPTS:
                step.error = (step.error + "\n" if step.error else "") + (
                    f"gave up after {step.attempts} attempts: the worker was lost each time"
                )
                _fail(night, steps, step, now)
                continue
            logger.warning(
                "night %s: step %s lost its worker (%s; last heartbeat %s): taking it over",
                night.as_of, step.name, step.worker, step.heartbeat_at,
            )  # fmt: skip
            return step
        blocker = _blocker(step, steps)
        if blocker:
            _skip(night, step, blocker, now)
            continue
        return step
    return None


def _blocker(step: NightStep, steps: list[NightStep]) -> str:
    """The failed step that keeps `step` from running, or ''."""
    by_name = {other.name: other for other in steps}
    for need in STEPS_BY_NAME[step.name].needs:
        other = by_name[need]
        if other.status == NightStep.Status.FAILED:
            return other.name
        if other.status == NightStep.Status.SKIPPED:
            return other.blocked_by
    return ""


def _skip(night: NightRun, step: NightStep, blocker: str, now: datetime) -> None:
    step.status, step.blocked_by, step.finished_at = NightStep.Status.SKIPPED, blocker, now
    step.save(update_fields=["status", "blocked_by", "finished_at"])
    logger.error("night %s: step %s not run: %s failed", night.as_of, step.name, blocker)


def _fail(night: NightRun, steps: list[NightStep], step: NightStep, now: datetime) -> None:
    step.status, step.finished_at, step.lease = NightStep.Status.FAILED, now, None
    step.save(update_fields=["status", "finished_at", "lease", "error"])
    logger.error("night %s: step %s failed: %s", night.as_of, step.name, step.error)
    # Say at once which steps will not run, rather than when the chain reaches them.
    for other in steps:
        if other.status == NightStep.Status.PENDING:
            blocker = _blocker(other, steps)
            if blocker:
                _skip(night, other, blocker, now)


def _finish(night: NightRun, steps: list[NightStep]) -> None:
    failed = [step.name for step in steps if step.status != NightStep.Status.COMPLETED]
    night.status = NightRun.Status.FAILED if failed else NightRun.Status.COMPLETED
    night.finished_at = _db_now()
    night.save(update_fields=["status", "finished_at"])
    if failed:
        logger.error("night %s finished with steps failed or not run: %s", night.as_of, failed)
    else:
        logger.info("night %s completed", night.as_of)


def _record(step: NightStep, **fields) -> bool:
    """Write the attempt's outcome, if it still holds the lease (a worker that was thought
    lost and taken over must not overwrite its successor's record)."""
    held = NightStep.objects.filter(pk=step.pk, lease=step.lease).update(
        finished_at=Now(), heartbeat_at=Now(), lease=None, **fields
    )
    if not held:
        logger.warning(
            "night %s: step %s was taken over by another worker; this attempt's outcome "
            "(%s) is not recorded",
            step.night.as_of, step.name, fields.get("status"),
        )  # fmt: skip
    return bool(held)


def _record_failure(step: NightStep, error: BaseException) -> None:
    logger.error(
        "night %s: step %s failed (attempt %d)",
        step.night.as_of, step.name, step.attempts, exc_info=error,
    )  # fmt: skip
    with transaction.atomic():
        night = NightRun.objects.select_for_update().get(pk=step.night_id)
        if not _record(step, status=NightStep.Status.FAILED, error=_describe(error)):
            return
        steps = list(night.steps.order_by("position"))
        now = _db_now()
        for other in steps:
            if other.status == NightStep.Status.PENDING:
                blocker = _blocker(other, steps)
                if blocker:
                    _skip(night, other, blocker, now)


def _record_interruption(step: NightStep, error: BaseException) -> None:
    """A failure worth another attempt: the step stays running with no one holding it, and
    the watchdog resumes it once its heartbeat is stale (a pause of NIGHT_STALE_SECONDS)."""
    logger.warning(
        "night %s: step %s interrupted (attempt %d of %d), to be resumed: %s",
        step.night.as_of, step.name, step.attempts, settings.NIGHT_MAX_ATTEMPTS, error,
    )  # fmt: skip
    NightStep.objects.filter(pk=step.pk, lease=step.lease).update(
        lease=None, heartbeat_at=Now(), error=_describe(error)
    )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


@contextmanager
def _heartbeat(step: NightStep) -> Iterator[None]:
    """Write the step's heartbeat from a thread of its own, on a connection of its own,
    while the step runs (its own connection may be inside one long statement)."""
    if connection.in_atomic_block:
        # Run inside a caller's transaction (a test, a shell): nobody else could see the
        # step's row anyway, and the heartbeat's update would wait on its lock.
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SET statement_timeout = '10s'; SET lock_timeout = '5s'")
            while not stop.wait(settings.NIGHT_HEARTBEAT_SECONDS):
                try:
                    held = NightStep.objects.filter(pk=step.pk, lease=step.lease).update(
                        heartbeat_at=Now()
                    )
                except Exception:
                    logger.exception("night step %s: heartbeat not written", step.name)
                    connections["default"].close()  # a new one next time
                    continue
                if not held:
                    logger.warning("night step %s: lease lost, heartbeat stops", step.name)
                    return
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=beat, name=f"night-heartbeat-{step.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


# --- The watchdog -----------------------------------------------------------------------------


def watch_nights() -> NightRun | None:
    """The oldest unfinished night, when its chain stalled and must be queued again: its
    running step's heartbeat stopped (the worker was killed, or the machine lost), or its
    next step has waited with nothing under way (a message lost with a broker, say) for
    NIGHT_STALE_SECONDS. Marks it nudged, so that it is queued once a stale period."""
    with transaction.atomic():
        night = (
            NightRun.objects.select_for_update(skip_locked=True)
            .filter(status=NightRun.Status.RUNNING)
            .order_by("as_of")
            .first()
        )
        if night is None:
            return None
        now = _db_now()
        stale_before = _stale_before(now)
        steps = list(night.steps.order_by("position"))
        current = next((step for step in steps if step.status not in FINISHED), None)
        # When did anything last happen to it: the running step's heartbeat; for a step
        # waiting (or a night whose steps all finished), the last step's end or the start.
        # A nudge counts too: a chain queued again waits a stale period for a worker.
        if current is not None and current.status == NightStep.Status.RUNNING:
            moments = [current.heartbeat_at]
        else:
            moments = [night.started_at] + [step.finished_at for step in steps]
        since = max((moment for moment in moments if moment is not None), default=None)
        last = max((moment for moment in (since, night.nudged_at) if moment), default=None)
        if last is not None and last >= stale_before:
            return None
        night.nudged_at = now
        night.save(update_fields=["nudged_at"])
    logger.warning(
        "night %s stalled at %s (%s since %s): queued again",
        night.as_of, current.name if current else "its end",
        current.status if current else "-", since,
    )  # fmt: skip
    return night


# --- The runs page ----------------------------------------------------------------------------


def mark_stalled(nights) -> None:
    """Set `stalled` on each step of `nights` (prefetched): running, but silent for longer
    than NIGHT_STALE_SECONDS (its worker lost; the watchdog resumes it)."""
    stale_before = _stale_before(_db_now())
    for night in nights:
        for step in night.steps.all():
            step.stalled = step.status == NightStep.Status.RUNNING and (
                step.heartbeat_at is None or step.heartbeat_at < stale_before
            )
