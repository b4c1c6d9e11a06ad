"""A double click creates nothing twice (issue 16, hole 5), with real concurrency: ten
threads post at once, each through its own test client and database connection.

The unplanned visit holds by its business key (one open ad-hoc visit per loan and officer a
day) whatever the client sends; every other creating form of the portal holds by its
one-time key (common/submissions.py), which each rendering of the form carries."""

from __future__ import annotations

import io
import re
import threading
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from borrowers.models import GuarantorAssessment, MaintenanceLog
from loans.models import Collateral, Loan
from postloan.fieldwork import services as visits
from postloan.models import (
    CollectionPlan,
    ContactAttempt,
    Inspection,
    InspectionReport,
    ReportAddendum,
    ReportAttachment,
    RiskFlag,
)
from tests.factories import make_guarantor

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock(date(2026, 11, 20))]

AT_ONCE = 10


def _post_at_once(user, url: str, data=lambda: {}, headers=None) -> list:
    """POST `data()` to `url` from AT_ONCE threads released together; their responses."""
    ready = threading.Barrier(AT_ONCE)
    responses: list = [None] * AT_ONCE
    failures: list = []

    def send(n: int) -> None:
        try:
            client = Client()
            client.force_login(user)
            body = data()
            ready.wait(timeout=30)
            responses[n] = client.post(url, body, headers=headers or {})
        except Exception as error:  # reported below, in the test thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    return responses


def _key(client, url: str, name: str = "submission_key") -> str:
    """The one-time key the form's page rendered."""
    page = client.get(url).content.decode()
    keys = re.findall(rf'name="{name}" value="([0-9a-f]+)"', page)
    assert keys, f"no {name} on {url}"
    return keys[0]


def _redirects(responses) -> set[str]:
    assert all(r.status_code == 302 for r in responses), [r.status_code for r in responses]
    return {r["Location"] for r in responses}


# --- The unplanned visit: a business key ----------------------------------------------------


def test_ten_unplanned_visits_at_once_make_one_inspection(loan, officer):
    url = reverse("postloan:visit_ad_hoc", args=[loan.pk])

    responses = _post_at_once(officer, url)  # no key: what a script or an attacker sends

    visit = Inspection.objects.get(loan=loan, kind="ad_hoc")
    assert (visit.assigned_to, visit.due_on, visit.status) == (officer, date(2026, 11, 20), "open")
    report = InspectionReport.objects.get(inspection=visit)
    assert _redirects(responses) == {reverse("postloan:report_edit", args=[report.pk])}


def test_ten_clicks_on_the_loan_page_start_one_visit(loan, officer):
    client = Client()
    client.force_login(officer)
    key = _key(client, loan.get_absolute_url())
    url = reverse("postloan:visit_ad_hoc", args=[loan.pk])

    responses = _post_at_once(officer, url, lambda: {"submission_key": key})

    report = InspectionReport.objects.get(inspection__loan=loan, inspection__kind="ad_hoc")
    assert _redirects(responses) == {reverse("postloan:report_edit", args=[report.pk])}


# --- Every other creating form: its one-time key ------------------------------------------------


def _jpeg() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (20, 90, 160)).save(buffer, "JPEG")
    return SimpleUploadedFile("site.jpg", buffer.getvalue(), content_type="image/jpeg")


def _draft(loan, kind="routine") -> InspectionReport:
    inspection = Inspection.objects.create(
        loan=loan,
        kind=kind,
        slot=f"double-{kind}",
        due_on=timezone.localdate(),
        assigned_to=loan.managing_officer,
        reason="sample",
    )
    return visits.report_start(inspection=inspection, by=loan.managing_officer)


def _report_data(report, action: str) -> dict:
    data = {
        "version": report.version,
        "action": action,
        "visited_at": (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "method": "home",
        "findings": "All as declared.",
    }
    for item in report.answers.values_list("item", flat=True):
        data[f"item_{item}"] = "satisfactory"
    return data


def _contact_attempt(loan, officer):
    report = _draft(loan, kind="default_follow_up")
    url = reverse("postloan:report_edit", args=[report.pk])
    attempt = {
        "attempt-method": "phone",
        "attempt-attempted_on": timezone.localdate().isoformat(),
        "attempt-outcome": "No answer.",
    }
    return url, url, lambda: _report_data(report, "attempt") | attempt, ContactAttempt.objects


def _addendum(loan, officer):
    report = _draft(loan)
    visits.report_save_draft(
        report=report,
        version=report.version,
        data=visits.ReportInput(
            visited_at=timezone.now() - timedelta(hours=1),
            method="home",
            findings="All as declared.",
            answers=dict.fromkeys(
                report.answers.values_list("item", flat=True), ("satisfactory", "")
            ),
        ),
        by=officer,
    )
    report.refresh_from_db()
    visits.report_submit(report=report, version=report.version, by=officer)
    page = reverse("postloan:report_detail", args=[report.pk])
    url = reverse("postloan:addendum_add", args=[report.pk])
    return page, url, lambda: {"text": "The shop is rented."}, ReportAddendum.objects


def _flag(loan, officer):
    url = reverse("postloan:flag_loan", args=[loan.pk])
    data = {"factor": "3", "evidence": "Supplier unpaid", "raised_on": "2026-11-19"}
    return url, url, lambda: data, RiskFlag.objects.filter(source="manual")


def _plan(loan, officer):
    url = reverse("postloan:plan_create", args=[loan.pk])
    data = {
        "kind": "collection",
        "summary": "Weekly calls.",
        "step_1_action": "Call",
        "step_1_on": "2026-11-27",
    }
    return url, url, lambda: data, CollectionPlan.objects


def _maintenance(loan, officer):
    url = reverse("borrowers:maintenance_add", args=[loan.borrower_id])
    data = {"happened_on": "2026-11-19", "kind": "opinion", "notes": "Asked about rates."}
    return url, url, lambda: data, MaintenanceLog.objects


def _collateral(loan, officer):
    url = reverse("loans:collateral_create", args=[loan.pk])
    data = {
        "kind": "vehicle",
        "description": "Truck",
        "owner_is_borrower": "on",
        "custody": "owner",
        "valuation_method": "appraisal",
    }
    return url, url, lambda: data, Collateral.objects


def _assessment(loan, officer):
    guarantor = make_guarantor("张保", created_by=officer)
    url = reverse("borrowers:guarantor_assess", args=[guarantor.pk])
    data = {"assessed_on": "2026-11-19", "monthly_income": "9000", "credit_standing": "1"}
    return url, url, lambda: data, GuarantorAssessment.objects.filter(guarantor=guarantor)


def _booking(loan, officer):
    url = reverse("loans:create")
    data = {
        "borrower": loan.borrower_id,
        "product": loan.product_id,
        "branch": loan.branch_id,
        "principal": "20000.00",
        "annual_rate": "9.6",
        "term_months": "6",
        "repayment_method": "equal_principal",
        "disbursed_on": "2026-11-18",
        "purpose": "进货",
        "originating_officer": officer.pk,
        "managing_officer": officer.pk,
    }
    return url, url, lambda: data, Loan.objects.exclude(pk=loan.pk)


def _repayment(loan, officer):
    url = reverse("loans:repayment_create", args=[loan.pk])
    data = {"paid_on": "2026-11-19", "amount": "500.00", "channel": "cash", "reference": "R-1"}
    return url, url, lambda: data, loan.repayments


@pytest.mark.parametrize(
    "scenario",
    [
        _contact_attempt,
        _addendum,
        _flag,
        _plan,
        _maintenance,
        _collateral,
        _assessment,
        _booking,
        _repayment,  # its reference was a business key already; now the clicks all succeed
    ],
    ids=lambda s: s.__name__.strip("_"),
)
def test_ten_clicks_on_a_form_create_one_row(scenario, loan, officer):
    page, url, data, rows = scenario(loan, officer)
    client = Client()
    client.force_login(officer)
    key = _key(client, page)
    before = rows.count()

    responses = _post_at_once(officer, url, lambda: data() | {"submission_key": key})

    assert rows.count() == before + 1
    # every click is answered with the first one's page, none with an error
    assert len(_redirects(responses)) == 1


def test_ten_clicks_on_attach_store_one_photo(loan, officer):
    report = _draft(loan)
    client = Client()
    client.force_login(officer)
    key = _key(client, reverse("postloan:report_edit", args=[report.pk]), name="upload_key")
    url = reverse("postloan:attachment_upload", args=[report.pk])

    responses = _post_at_once(
        officer, url, lambda: {"file": _jpeg(), "upload_key": key}, headers={"HX-Request": "true"}
    )

    assert ReportAttachment.objects.filter(report=report).count() == 1
    # one answer replaces the card; the others change nothing on the page
    assert sorted(r.status_code for r in responses) == [200] + [204] * (AT_ONCE - 1)


def test_a_form_sent_again_with_other_content_is_a_new_submission(loan, officer):
    """The key is a page's, the digest its content: changed after Back, it is meant."""
    client = Client()
    client.force_login(officer)
    url = reverse("loans:collateral_create", args=[loan.pk])
    key = _key(client, url)
    data = {
        "kind": "vehicle",
        "owner_is_borrower": "on",
        "custody": "owner",
        "valuation_method": "appraisal",
    }

    client.post(url, data | {"submission_key": key, "description": "Truck"})
    client.post(url, data | {"submission_key": key, "description": "Truck"})
    client.post(url, data | {"submission_key": key, "description": "Van"})

    assert sorted(Collateral.objects.values_list("description", flat=True)) == ["Truck", "Van"]
