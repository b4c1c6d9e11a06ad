"""The nightly run as a beat entry, a task on a real worker, and a management command."""

from __future__ import annotations

import re
from datetime import date
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from config.celery import app
from portfolio import nightly
from postloan import tasks
from postloan.models import ClassificationRun
from postloan.risk import nightly as risk_nightly
from tests.postloan.helpers import book, classify, risk
from tests.utils import wait_for


def test_the_classification_runs_every_night_in_the_chain_not_at_a_clock_time():
    # The night's chain (portfolio.nightly) runs it after the snapshot; the task stays for
    # backfills.
    assert "classify_portfolio" in [step.name for step in nightly.STEPS]
    assert all(
        entry["task"] != tasks.classify_portfolio.name
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
    )
    assert tasks.classify_portfolio.name == "postloan.tasks.classify_portfolio"
    app.loader.import_default_modules()
    assert tasks.classify_portfolio.name in app.tasks


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_the_task_classifies_the_portfolio_on_a_real_worker(
    celery_worker, officer, product, branch
):
    app.loader.import_default_modules()
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    # Through the project's app by the task's name: another test may have made a
    # different Celery app current, and the shared-task proxy would follow it.
    task = app.tasks[tasks.classify_portfolio.name]
    task.delay()
    today = timezone.localdate()
    run = wait_for(
        lambda: ClassificationRun.objects.filter(as_of=today, status="completed").first(),
        timeout=60,
    )
    assert (run.trigger, run.loans_seen, run.attempts, run.updated_state) == ("task", 1, 1, True)
    assert risk(loan).consecutive_missed > 7
    assert risk(loan).tier == "doubtful"
    # A backfill for a given date goes through the same task.
    task.delay("2026-03-16")
    backfill = wait_for(
        lambda: ClassificationRun.objects.filter(
            as_of=date(2026, 3, 16), status="completed"
        ).first(),
        timeout=60,
    )
    assert backfill.updated_state is False  # a newer run exists: computed only
    assert risk(loan).tier == "doubtful"
    assert "classify_portfolio" in celery_worker.output()


@pytest.mark.django_db
def test_the_command_classifies_as_of_a_date(officer, product, branch):
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    out = StringIO()
    call_command("classify_portfolio", "--as-of", "2026-03-16", stdout=out)
    assert re.fullmatch(
        r"classified 1 loans as of 2026-03-16 in \d+\.\ds: 1 tier changes, "
        r"1 flags raised, 0 resolved\n",
        out.getvalue(),
    ), out.getvalue()
    run = ClassificationRun.objects.get(as_of=date(2026, 3, 16))
    assert run.trigger == "command"
    assert (risk(loan).consecutive_missed, risk(loan).tier) == (3, "special_mention")


@pytest.mark.django_db
def test_the_command_says_when_a_newer_run_kept_the_state(officer, product, branch):
    book(officer, product=product, branch=branch, disbursed_on=date(2025, 12, 15))
    classify(date(2026, 5, 1))
    out = StringIO()
    call_command("classify_portfolio", "--as-of", "2026-03-16", stdout=out)
    assert out.getvalue().rstrip().endswith("(a newer run exists: state left unchanged)")


@pytest.mark.django_db
def test_the_command_defaults_to_today():
    out = StringIO()
    call_command("classify_portfolio", stdout=out)
    assert f"as of {timezone.localdate().isoformat()}" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_command_refuses_while_another_run_holds_the_lock():
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [risk_nightly.LOCK_KEY])
        with pytest.raises(CommandError, match="in progress"):
            call_command("classify_portfolio", "--as-of", "2026-03-16", stdout=StringIO())
    finally:
        other.close()
