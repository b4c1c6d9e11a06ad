"""The field app's server side (issue 18): the day a phone takes along, a loan's card, the
report form of an inspection not started yet, and items sent from the phone's queue —
received once whatever happens to the connection, checked as an online post is, and
refused with a reason the phone can show."""

from __future__ import annotations

import io
import itertools
import threading
import uuid
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from postloan.fieldwork import services as visits
from postloan.models import (
    ContactAttempt,
    FieldReceipt,
    Inspection,
    InspectionReport,
    ReportAttachment,
)

pytestmark = [pytest.mark.django_db, pytest.mark.clock(date(2026, 11, 20))]

_slots = itertools.count(1)
# The items of a loan with neither guarantors nor collateral.
APPLICABLE = [1, 2, 3, 4, 5, 6, 7, 10, 11, 12]


def _inspection(loan, *, due_in=0, kind="routine", officer=None) -> Inspection:
    return Inspection.objects.create(
        loan=loan,
        kind=kind,
        slot=f"field-{next(_slots)}",
        due_on=timezone.localdate() + timedelta(days=due_in),
        assigned_to=officer or loan.managing_officer,
        reason="sample",
    )


def _typed(action: str, *, version=0, **fields) -> dict:
    """What the officer typed on the phone, as the report form sends it."""
    data = {
        "version": version,
        "action": action,
        "visited_at": (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "method": "home",
        "findings": "Shop open, stock as last month.",
    }
    for item in APPLICABLE:
        data[f"item_{item}"] = "satisfactory"
    return data | fields


def _send(client, inspection, data, *, client_id=None, **headers):
    return client.post(
        reverse("postloan:field_report", args=[inspection.pk]),
        data,
        headers={"X-Daihou-Client-Id": str(client_id or uuid.uuid4()), **headers},
    )


def _jpeg() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 120, 40)).save(buffer, "JPEG")
    return SimpleUploadedFile("shop.jpg", buffer.getvalue(), content_type="image/jpeg")


# --- The day to take along --------------------------------------------------------------------


def test_the_day_lists_the_officers_own_inspections_of_the_coming_week(
    client, officer, loan, other_loan
):
    Inspection.objects.all().delete()  # the booking's own first inspections: only these below
    today = _inspection(loan)
    overdue = _inspection(loan, due_in=-3)
    _inspection(loan, due_in=12)  # beyond the week: not taken along
    colleagues = _inspection(other_loan)
    client.force_login(officer)

    day = client.get(reverse("postloan:field_day")).json()

    assert day["user"] == officer.pk and day["keep_days"] == 7 and day["csrf"]
    report = "postloan:field_report"
    assert day["pages"] == [
        reverse("postloan:agenda"),
        reverse("field_outbox"),
        reverse("postloan:field_card", args=[loan.pk]),
        *(reverse(report, args=[i.pk]) for i in (overdue, today)),
    ]
    assert reverse(report, args=[colleagues.pk]) not in day["pages"]
    assert reverse("postloan:field_card", args=[other_loan.pk]) not in day["pages"]


def test_the_day_is_for_those_who_keep_records(client, supervisor):
    client.force_login(supervisor)
    assert client.get(reverse("postloan:field_day")).status_code == 403


# --- A loan's card -----------------------------------------------------------------------------


# The session, its user and the user's roles; the card's own reads: the loan with its
# guarantees and collateral (three), the last visit, an open promise, the officer's open
# inspections of the loan, the open flags; the navbar's count of the agenda.
CARD_QUERIES = 11


def test_a_card_holds_what_the_visit_needs(client, officer, loan):
    loan.borrower.mobile = "13800138000"
    loan.borrower.business_address = "浙江省杭州市西湖区文三路 90 号"
    loan.borrower.save()
    inspection = _inspection(loan)
    client.force_login(officer)
    url = reverse("postloan:field_card", args=[loan.pk])

    page = client.get(url).content.decode()

    assert 'href="tel:13800138000"' in page
    assert "geo:0,0?q=%E6%B5%99%E6%B1%9F" in page  # the address, for the phone's map app
    assert reverse("postloan:field_report", args=[inspection.pk]) in page
    assert _card_queries(client, url) == CARD_QUERIES


def _card_queries(client, url) -> int:
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(db) as captured:
        client.get(url)
    return len(captured)


def test_a_card_does_not_grow_with_the_loans_guarantors_and_flags(client, officer, loan):
    from tests.factories import make_guarantor

    client.force_login(officer)
    url = reverse("postloan:field_card", args=[loan.pk])
    before = _card_queries(client, url)
    for n in range(3):
        guarantor = make_guarantor(f"担保人{n}")
        loan.guarantees.create(guarantor=guarantor, signed_on=loan.disbursed_on)
    assert _card_queries(client, url) == before


def test_a_colleagues_loan_has_no_card_for_me(client, officer, other_loan):
    client.force_login(officer)
    assert client.get(reverse("postloan:field_card", args=[other_loan.pk])).status_code == 404


# --- The report form of an inspection nobody started -------------------------------------------


def test_the_blank_report_opens_without_starting_one(client, officer, loan):
    inspection = _inspection(loan)
    client.force_login(officer)

    page = client.get(reverse("postloan:field_report", args=[inspection.pk])).content.decode()

    assert 'id="report-form"' in page and 'name="version" value="0"' in page
    assert not InspectionReport.objects.filter(inspection=inspection).exists()


def test_a_plain_post_of_the_blank_form_starts_and_saves_the_report(client, officer, loan):
    inspection = _inspection(loan)
    client.force_login(officer)
    page = client.get(reverse("postloan:field_report", args=[inspection.pk])).content.decode()
    key = page.split('name="submission_key" value="')[1].split('"')[0]

    response = client.post(
        reverse("postloan:field_report", args=[inspection.pk]),
        _typed("save") | {"submission_key": key},
    )

    report = InspectionReport.objects.get(inspection=inspection)
    assert response.status_code == 302
    assert response.url == reverse("postloan:report_edit", args=[report.pk])
    assert report.findings == "Shop open, stock as last month." and report.version == 2


# --- Items from the phone's queue ---------------------------------------------------------------


def test_a_submission_sent_twice_is_recorded_once(client, officer, loan):
    inspection = _inspection(loan)
    client.force_login(officer)
    item = uuid.uuid4()

    first = _send(client, inspection, _typed("submit"), client_id=item)
    again = _send(client, inspection, _typed("submit"), client_id=item)

    assert first.status_code == 200, first.json()
    assert first.json()["submitted"] is True
    assert again.status_code == 200 and again.json()["repeated"] is True
    assert again.json()["report"] == first.json()["report"]
    report = InspectionReport.objects.get(inspection=inspection)
    assert report.is_final and report.author == officer
    inspection.refresh_from_db()
    assert inspection.status == "done"
    assert FieldReceipt.objects.filter(pk=item, user=officer).count() == 1


def test_items_sent_in_order_build_on_each_other(client, officer, loan):
    inspection = _inspection(loan, kind="default_follow_up")
    client.force_login(officer)
    attempt = {
        "attempt-method": "phone",
        "attempt-attempted_on": timezone.localdate().isoformat(),
        "attempt-outcome": "No answer.",
    }

    saved = _send(client, inspection, _typed("attempt") | attempt).json()
    photo = _send(
        client, inspection, _typed("attach", version=saved["version"]) | {"file": _jpeg()}
    )

    assert photo.status_code == 200, photo.json()
    report = InspectionReport.objects.get(inspection=inspection)
    assert ContactAttempt.objects.filter(report=report).count() == 1
    assert ReportAttachment.objects.filter(report=report).count() == 1
    assert report.version == photo.json()["version"] == saved["version"] + 1


def test_a_refused_item_saves_nothing_and_says_why(client, officer, loan):
    inspection = _inspection(loan)
    client.force_login(officer)
    item = uuid.uuid4()
    typed = _typed("save", visited_at="not a time")

    response = _send(client, inspection, typed, client_id=item)

    assert response.status_code == 409
    answer = response.json()
    assert answer["ok"] is False and answer["conflict"] is False
    assert any("visit date and time" in reason for reason in answer["reasons"])
    assert not InspectionReport.objects.filter(inspection=inspection).exists()
    assert not FieldReceipt.objects.filter(pk=item).exists()  # corrected, it can be sent again
    assert _send(client, inspection, _typed("save"), client_id=item).status_code == 200


def test_an_inspection_reassigned_meanwhile_is_a_conflict_with_its_reason(
    client, officer, other_officer, loan
):
    inspection = _inspection(loan)
    client.force_login(officer)
    page = reverse("postloan:field_report", args=[inspection.pk])
    assert client.get(page).status_code == 200  # taken along
    loan.managing_officer = other_officer
    loan.save(update_fields=["managing_officer"])
    Inspection.objects.filter(pk=inspection.pk).update(assigned_to=other_officer)

    response = _send(client, inspection, _typed("submit"))

    assert response.status_code in (404, 409)
    assert not InspectionReport.objects.filter(inspection=inspection).exists()


def test_a_report_submitted_from_another_device_is_a_conflict(client, officer, loan):
    inspection = _inspection(loan)
    client.force_login(officer)
    assert _send(client, inspection, _typed("submit")).status_code == 200

    response = _send(client, inspection, _typed("save"))

    assert response.status_code == 409
    assert response.json()["conflict"] is True
    assert "already submitted" in response.json()["reasons"][0]


def test_a_draft_saved_elsewhere_is_not_overwritten_unless_the_officer_says_so(
    client, officer, loan
):
    inspection = _inspection(loan)
    client.force_login(officer)
    report = visits.report_start(inspection=inspection, by=officer)
    Other = Client()
    Other.force_login(officer)
    assert _send(Other, inspection, _typed("save", findings="typed at the desk")).status_code == 200

    refused = _send(client, inspection, _typed("save", findings="typed on the phone"))
    forced = _send(
        client, inspection, _typed("save", findings="typed on the phone"), X_Daihou_Overwrite="1"
    )

    assert refused.status_code == 409 and refused.json()["conflict"] is True
    assert forced.status_code == 200
    report.refresh_from_db()
    assert report.findings == "typed on the phone"


def test_another_users_item_id_is_not_an_answer(client, officer, other_officer, loan, other_loan):
    item = uuid.uuid4()
    client.force_login(officer)
    assert _send(client, _inspection(loan), _typed("save"), client_id=item).status_code == 200
    client.force_login(other_officer)

    response = _send(client, _inspection(other_loan), _typed("save"), client_id=item)

    assert response.status_code == 409 and "already used" in response.json()["reasons"][0]
    assert not InspectionReport.objects.filter(loan=other_loan).exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_item_arriving_at_once_on_ten_connections_is_recorded_once(officer, loan):
    inspection = _inspection(loan, kind="default_follow_up")
    item = uuid.uuid4()
    data = _typed("attempt") | {
        "attempt-method": "phone",
        "attempt-attempted_on": timezone.localdate().isoformat(),
        "attempt-outcome": "Met the wife; pays Friday.",
    }
    ready = threading.Barrier(10)
    statuses, failures = [], []

    def send() -> None:
        try:
            client = Client()
            client.force_login(officer)
            ready.wait(timeout=30)
            response = _send(client, inspection, data, client_id=item)
            statuses.append((response.status_code, response.json().get("reasons")))
        except Exception as error:  # reported in the test's thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not failures and statuses == [(200, None)] * 10
    assert ContactAttempt.objects.filter(loan=loan).count() == 1
    assert InspectionReport.objects.get(inspection=inspection).version == 2


def test_a_refused_submission_says_which_items_each_reason_is_about(client, officer, loan):
    from postloan.models import CHECKLIST

    inspection = _inspection(loan)
    client.force_login(officer)
    typed = _typed("submit")
    del typed["item_3"], typed["item_4"]

    answer = _send(client, inspection, typed).json()

    reasons = answer["reasons"]
    assert any(reason.startswith(f"3. {CHECKLIST[3]}: ") for reason in reasons), reasons
    assert any(reason.startswith(f"4. {CHECKLIST[4]}: ") for reason in reasons), reasons
    assert len(reasons) == len(set(reasons))
    assert not InspectionReport.objects.filter(inspection=inspection).exists()
