"""The morning reminder (one digest per officer a day) and the inspection tasks: their beat
entries, and the planning and the reminders run end to end on a real Celery worker."""

from __future__ import annotations

import calendar
import itertools
from datetime import date, timedelta
from smtplib import SMTPException

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend

from config.celery import app
from portfolio import nightly
from postloan import tasks
from postloan.inspections.reminders import RemindersNotSent, send_inspection_reminders
from postloan.models import Inspection, InspectionPolicyRule, ReminderDigest
from tests.postloan.helpers import book, restore_default_inspection_policy, set_tier
from tests.utils import wait_for

TODAY = date(2026, 11, 10)  # a Tuesday
_slots = itertools.count(1)


@pytest.fixture(autouse=True)
def _default_policy(request):
    if request.node.get_closest_marker("django_db"):
        request.getfixturevalue("db")
        restore_default_inspection_policy()


def _loan(officer, product, branch, reference):
    loan = book(
        officer, product=product, branch=branch, disbursed_on=date(2026, 6, 1), reference=reference
    )
    Inspection.objects.filter(loan=loan, kind="handover").update(
        status="done", completed_on=date(2026, 6, 2)
    )
    return loan


def _inspection(loan, due_on, kind="routine"):
    return Inspection.objects.create(
        loan=loan,
        kind=kind,
        slot=f"test-{next(_slots)}",
        due_on=due_on,
        assigned_to=loan.managing_officer,
        reason="policy",
    )


@pytest.fixture
def agendas(make_user, officer, other_officer, product, branch):
    """Officer A (with an address): one overdue, two due this week, one later.
    Officer B has no address; officer C (with an address) has left the bank."""
    officer.email = "wang.qiang@daihou.test"
    officer.save()
    mine = _loan(officer, product, branch, "DK-MAIL-A")
    theirs = _loan(other_officer, product, branch, "DK-MAIL-B")
    from common.roles import Role

    gone = make_user("officer-c", Role.LOAN_OFFICER, email="c@daihou.test")
    left = _loan(gone, product, branch, "DK-MAIL-C")
    gone.is_active = False
    gone.save()
    return {
        "overdue": _inspection(mine, TODAY - timedelta(days=4), kind="key_tracking"),
        "today": _inspection(mine, TODAY),
        "in_a_week": _inspection(mine, TODAY + timedelta(days=7), kind="default_follow_up"),
        "later": _inspection(mine, TODAY + timedelta(days=8)),
        "no_address": _inspection(theirs, TODAY),
        "inactive": _inspection(left, TODAY),
    }


@pytest.mark.django_db
def test_one_digest_per_officer_lists_due_this_week_and_overdue(agendas, officer):
    assert send_inspection_reminders(today=TODAY) == 1
    (message,) = mail.outbox
    assert message.to == ["wang.qiang@daihou.test"]
    assert message.subject == "Daihou: 1 inspection overdue, 2 due this week"
    body = message.body
    overdue, due = body.split("Overdue:", 1)[1].split("Due this week:", 1)
    assert "2026-11-06  DK-MAIL-A" in overdue and "Key tracking visit" in overdue
    assert "2026-11-10  DK-MAIL-A" in due and "2026-11-17  DK-MAIL-A" in due
    assert "Default follow-up" in due
    assert due.index("2026-11-10") < due.index("2026-11-17")
    assert "2026-11-18" not in body  # beyond the week
    assert "DK-MAIL-B" not in body and "DK-MAIL-C" not in body
    assert "Qiang Wang" in body
    digest = ReminderDigest.objects.get()
    assert (digest.officer, digest.sent_on, digest.items) == (officer, TODAY, 3)


@pytest.mark.django_db
def test_a_second_send_the_same_day_sends_nothing(agendas):
    assert send_inspection_reminders(today=TODAY) == 1
    assert send_inspection_reminders(today=TODAY) == 0
    assert len(mail.outbox) == 1
    # The next morning brings the next digest.
    assert send_inspection_reminders(today=TODAY + timedelta(days=1)) == 1
    assert len(mail.outbox) == 2
    assert ReminderDigest.objects.count() == 2


@pytest.mark.django_db
def test_officers_without_an_address_or_with_nothing_due_get_nothing(
    agendas, make_user, other_officer
):
    from common.roles import Role

    make_user("officer-d", Role.LOAN_OFFICER, email="d@daihou.test")  # nothing due
    other_officer.email = "liu.fang@daihou.test"
    other_officer.save()
    assert send_inspection_reminders(today=TODAY) == 2
    assert sorted(m.to[0] for m in mail.outbox) == [
        "liu.fang@daihou.test",
        "wang.qiang@daihou.test",
    ]


@pytest.mark.django_db
def test_a_digest_the_mail_server_refused_is_sent_by_the_next_run(
    agendas, other_officer, monkeypatch
):
    other_officer.email = "liu.fang@daihou.test"
    other_officer.save()
    send = EmailBackend.send_messages

    def refuse_liu(self, messages):
        if messages[0].to == ["liu.fang@daihou.test"]:
            raise SMTPException("mailbox unavailable")
        return send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", refuse_liu)
    with pytest.raises(RemindersNotSent) as failed:
        send_inspection_reminders(today=TODAY)
    assert (failed.value.officers, failed.value.sent) == (["officer-b"], 1)
    assert [m.to for m in mail.outbox] == [["wang.qiang@daihou.test"]]
    assert list(ReminderDigest.objects.values_list("officer__username", flat=True)) == ["officer-a"]
    # The server is back: the rerun sends only the digest that was not sent.
    monkeypatch.undo()
    assert send_inspection_reminders(today=TODAY) == 1
    assert [m.to for m in mail.outbox] == [["wang.qiang@daihou.test"], ["liu.fang@daihou.test"]]


# --- Beat and the worker ----------------------------------------------------------------------


def test_beat_sends_the_reminders_in_the_morning_and_the_planning_runs_in_the_nights_chain():
    beat = settings.CELERY_BEAT_SCHEDULE["inspection-reminders-morning"]
    assert beat["task"] == tasks.send_inspection_reminders.name
    assert beat["schedule"] == crontab(hour=7, minute=30)
    app.loader.import_default_modules()
    assert beat["task"] in app.tasks
    assert tasks.schedule_inspections.name in app.tasks
    # The planning runs after the night's classification, so that it follows tonight's tiers.
    names = [step.name for step in nightly.STEPS]
    assert names.index("classify_portfolio") < names.index("schedule_inspections")
    assert "classify_portfolio" in nightly.STEPS_BY_NAME["schedule_inspections"].needs


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_the_worker_plans_the_month_and_sends_the_reminders(
    celery_worker, officer, product, branch
):
    from django.utils import timezone

    assert InspectionPolicyRule.objects.filter(tier="doubtful").exists()
    officer.email = "wang.qiang@daihou.test"
    officer.save()
    loan = book(officer, product=product, branch=branch, disbursed_on=date(2026, 6, 1))
    set_tier(loan, "doubtful")
    today = timezone.localdate()
    month_end = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    # when the planning task is sent by name to the worker
    app.send_task(tasks.schedule_inspections.name)
    # then the month's two visits are planned for the loan
    visits = wait_for(
        lambda: (
            sorted(
                Inspection.objects.filter(loan=loan, kind="key_tracking").values_list(
                    "slot", "due_on", "assigned_to"
                )
            )
            or None
        ),
        timeout=60,
    )
    assert visits == [
        (f"{today:%Y-%m}#1", today.replace(day=15), officer.pk),
        (f"{today:%Y-%m}#2", month_end, officer.pk),
    ]
    # and the morning task sends the officer's digest (recorded once for the day)
    app.send_task(settings.CELERY_BEAT_SCHEDULE["inspection-reminders-morning"]["task"])
    digest = wait_for(lambda: ReminderDigest.objects.filter(officer=officer).first(), timeout=60)
    assert digest.sent_on == today
    output = celery_worker.output()
    assert "postloan.tasks.schedule_inspections" in output
    assert "postloan.tasks.send_inspection_reminders" in output
