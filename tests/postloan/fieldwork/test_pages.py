"""Field visits (issue 7), the pages: the report form and its two tabs, attachments served
only to those who may see the loan, collection plans and their approval, the inspection
ledger with its exports, the printable report, and a fixed number of queries per page."""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from PIL import Image

from borrowers import services as borrower_services
from borrowers.models import MaintenanceLog
from loans import services as loan_services
from postloan.fieldwork import services as visits
from postloan.fieldwork.services import ReportInput
from postloan.models import (
    CollectionPlan,
    EarlyWarning,
    Inspection,
    InspectionReport,
    ReportAttachment,
)
from tests.factories import BranchFactory, book_loan, make_guarantor, make_person

pytestmark = pytest.mark.django_db

_slots = itertools.count(1)


def _today():
    return timezone.localdate()


def _inspection(loan, *, due_on=None, kind="routine") -> Inspection:
    return Inspection.objects.create(
        loan=loan,
        kind=kind,
        slot=f"page-test-{next(_slots)}",
        due_on=due_on or _today(),
        assigned_to=loan.managing_officer,
        reason="sample",
    )


def _report(loan, **kwargs) -> InspectionReport:
    inspection = _inspection(loan, **kwargs)
    return visits.report_start(inspection=inspection, by=inspection.assigned_to)


def _form_data(report, action="save", **fields) -> dict:
    visited = timezone.localtime() - timedelta(hours=1)
    data = {
        "version": report.version,
        "action": action,
        "visited_at": visited.strftime("%Y-%m-%dT%H:%M"),
        "method": "home",
        "place": "Home, 五四路 12",
        "people_met": "The borrower",
        "findings": "All as declared.",
        "recommended_tier": "",
    }
    for item in report.answers.values_list("item", flat=True):
        data[f"item_{item}"] = "satisfactory"
    data.update(fields)
    return data


def _all_satisfactory(report) -> dict:
    return dict.fromkeys(report.answers.values_list("item", flat=True), ("satisfactory", ""))


def _submitted(loan, **fields) -> InspectionReport:
    report = _report(loan)
    values = {
        "visited_at": timezone.now() - timedelta(hours=1),
        "method": "business",
        "findings": "Steady.",
        "answers": _all_satisfactory(report),
    } | fields
    saved = visits.report_save_draft(
        report=report, version=report.version, data=ReportInput(**values), by=report.author
    )
    return visits.report_submit(report=saved, version=saved.version, by=report.author)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _jpeg(name="site.jpg") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 60)).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


# --- The report form ----------------------------------------------------------------------------


def test_the_officer_opens_the_report_from_the_agenda_and_only_they_may(
    client, loan, officer, other_officer, supervisor
):
    inspection = _inspection(loan)
    client.force_login(officer)
    agenda = client.get(reverse("postloan:agenda")).content.decode()
    # The agenda links the report's page the field app keeps (shown, not started, until
    # something is saved); starting it by a post remains for the pages that post.
    assert reverse("postloan:field_report", args=[inspection.pk]) in agenda
    response = client.post(reverse("postloan:report_open", args=[inspection.pk]))
    report = InspectionReport.objects.get(inspection=inspection)
    assert response.url == reverse("postloan:report_edit", args=[report.pk])
    page = client.get(response.url).content.decode()
    assert len(re.findall(r'data-testid="checklist-item"', page)) == 10
    assert "Default follow-up (Art. 4)" not in page
    assert "Continue the report" in client.get(reverse("postloan:agenda")).content.decode()

    client.force_login(other_officer)
    assert client.post(reverse("postloan:report_open", args=[inspection.pk])).status_code == 404
    assert client.get(reverse("postloan:report_edit", args=[report.pk])).status_code == 404
    assert client.get(reverse("postloan:report_detail", args=[report.pk])).status_code == 404
    client.force_login(supervisor)  # reads, does not record
    assert client.post(reverse("postloan:report_open", args=[inspection.pk])).status_code == 403


def test_an_unplanned_visit_starts_from_the_loan_page(client, loan, officer, other_officer):
    client.force_login(officer)
    assert (
        reverse("postloan:visit_ad_hoc", args=[loan.pk])
        in client.get(loan.get_absolute_url()).content.decode()
    )
    response = client.post(reverse("postloan:visit_ad_hoc", args=[loan.pk]))
    report = InspectionReport.objects.get(inspection__kind="ad_hoc")
    assert response.url == reverse("postloan:report_edit", args=[report.pk])
    client.force_login(other_officer)
    assert client.post(reverse("postloan:visit_ad_hoc", args=[loan.pk])).status_code == 404
    assert InspectionReport.objects.count() == 1


def test_saving_a_draft_then_submitting_it(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])
    response = client.post(url, _form_data(report, findings="Draft findings"))
    assert response.status_code == 302 and response.url == url
    report.refresh_from_db()
    assert (report.status, report.version, report.findings) == ("draft", 2, "Draft findings")

    response = client.post(url, _form_data(report, action="submit", recommended_tier="substandard"))
    assert response.url == reverse("postloan:report_detail", args=[report.pk])
    report.refresh_from_db()
    assert report.status == "submitted"
    assert report.adjustment.proposed_tier == "substandard"
    assert report.inspection.status == "done"
    # the final report only shows; the edit page leads there
    assert client.get(url).url == reverse("postloan:report_detail", args=[report.pk])


def test_the_form_carries_location_collateral_guarantors_and_factors(
    client, officer, product, branch
):
    guarantor = make_guarantor("陈担保")
    loan = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        guarantors=[guarantor],
    )
    collateral = loan_services.collateral_add(
        loan=loan, kind="vehicle", description="Truck", by=officer
    )
    report = _report(loan)
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])
    page = client.get(url).content.decode()
    assert len(re.findall(r'data-testid="checklist-item"', page)) == 12
    assert "Truck" in page and "陈担保" in page
    data = _form_data(
        report,
        latitude="26.074500",
        longitude="119.296500",
        location_accuracy="12.5",
        **{
            f"collateral_{collateral.pk}_condition": "Rusty",
            f"collateral_{collateral.pk}_value": "45000.00",
            f"guarantor_{guarantor.pk}_situation": "Retired",
            f"guarantor_{guarantor.pk}_income": "3000",
            f"guarantor_{guarantor.pk}_credit": "3",
            "factor_1": "13",
            "factor_1_evidence": "Guarantor retired",
            "factor_2": "8",  # a factor without its evidence is refused
        },
    )
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Describe what you found." in response.content.decode()
    del data["factor_2"]
    assert client.post(url, data | {"action": "submit"}).status_code == 302
    report.refresh_from_db()
    assert (report.latitude, report.longitude) == (Decimal("26.074500"), Decimal("119.296500"))
    check = report.collateral_checks.get()
    assert (check.condition, check.valuation.value) == ("Rusty", Decimal("45000.00"))
    assessment = report.guarantor_checks.get().assessment
    assert (assessment.monthly_income, assessment.credit_standing) == (Decimal("3000"), 3)
    assert report.factors.get().flag.factor == 13
    detail = client.get(reverse("postloan:report_detail", args=[report.pk])).content.decode()
    assert "26.074500" in detail and "re-assessed" in detail


def test_a_refused_submission_keeps_the_draft_and_says_what_is_missing(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    data = _form_data(report, action="submit", place="Saved anyway")
    del data["item_4"]
    response = client.post(reverse("postloan:report_edit", args=[report.pk]), data)
    assert response.status_code == 200
    page = response.content.decode()
    item = page.split('data-item="4"', 1)[1].split('data-testid="checklist-item"', 1)[0]
    assert "Answer this item before submitting." in item
    assert "your draft is saved" in " ".join(_messages(response))
    report.refresh_from_db()
    assert (report.status, report.place, report.version) == ("draft", "Saved anyway", 2)
    # the form goes on from the saved version: answering the item submits
    assert 'name="version" value="2"' in page
    data["item_4"] = "concern"
    data["comment_4"] = "Payables doubled"
    data["version"] = 2
    response = client.post(reverse("postloan:report_edit", args=[report.pk]), data)
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == "submitted"


def test_a_visit_in_the_future_is_refused_on_its_field(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    future = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("postloan:report_edit", args=[report.pk]), _form_data(report, visited_at=future)
    )
    assert response.status_code == 200
    assert "A visit cannot be in the future." in response.content.decode()
    report.refresh_from_db()
    assert report.version == 1 and report.visited_at is None


def test_two_tabs_the_second_is_told_and_cannot_overwrite_by_clicking_again(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])
    stale = _form_data(report, findings="Second tab")
    client.post(url, _form_data(report, findings="First tab"))
    response = client.post(url, stale)
    assert response.status_code == 200
    assert "saved in another tab" in response.content.decode()
    assert 'name="version" value="1"' in response.content.decode()
    client.post(url, stale)  # clicking again changes nothing
    report.refresh_from_db()
    assert report.findings == "First tab"
    # once the first tab submitted, the second tab is told so
    client.post(url, _form_data(report, action="submit", findings="First tab"))
    response = client.post(url, stale | {"action": "submit"}, follow=True)
    assert "perhaps from another tab" in " ".join(_messages(response))
    report.refresh_from_db()
    assert (report.status, report.findings) == ("submitted", "First tab")


# --- Attachments ------------------------------------------------------------------------------


def test_attachments_are_served_only_to_those_who_may_see_the_loan(
    client, loan, officer, other_officer, risk_manager, supervisor
):
    report = _report(loan)
    client.force_login(officer)
    response = client.post(
        reverse("postloan:attachment_upload", args=[report.pk]), {"file": _jpeg()}
    )
    assert response.url == reverse("postloan:report_edit", args=[report.pk])
    photo = ReportAttachment.objects.get()
    pdf = visits.attachment_add(
        report=report,
        upload=SimpleUploadedFile("deed.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"),
        by=officer,
    )
    assert "site.jpg" in client.get(reverse("postloan:report_edit", args=[report.pk])).text

    response = client.get(reverse("postloan:attachment", args=[photo.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content)[:3] == b"\xff\xd8\xff"
    download = client.get(reverse("postloan:attachment", args=[pdf.pk]))
    assert download["Content-Disposition"].startswith("attachment")

    for reader in (risk_manager, supervisor):
        client.force_login(reader)
        assert client.get(reverse("postloan:attachment", args=[photo.pk])).status_code == 200
    client.force_login(other_officer)
    assert client.get(reverse("postloan:attachment", args=[photo.pk])).status_code == 404
    response = client.post(
        reverse("postloan:attachment_upload", args=[report.pk]), {"file": _jpeg("mine.jpg")}
    )
    assert response.status_code == 404
    assert ReportAttachment.objects.count() == 2


def test_a_refused_upload_is_explained(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    fake = SimpleUploadedFile("photo.jpg", b"plain text, not a photo", content_type="image/jpeg")
    response = client.post(
        reverse("postloan:attachment_upload", args=[report.pk]), {"file": fake}, follow=True
    )
    assert "Only JPEG and PNG photos and PDF documents" in " ".join(_messages(response))
    assert not ReportAttachment.objects.exists()


def test_an_upload_from_the_page_replaces_only_the_attachments_card(client, loan, officer):
    """htmx posts the upload and swaps the card: the report's unsaved answers stay on the
    page. A refused file is explained in the card, in the user's language."""
    report = _report(loan)
    client.force_login(officer)
    url = reverse("postloan:attachment_upload", args=[report.pk])
    response = client.post(url, {"file": _jpeg("shop.jpg")}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.text
    assert html.lstrip().startswith('<div class="card mb-3" id="attachments-card">')
    assert "shop.jpg" in html and "Attached." in html and "report-form" not in html
    assert ReportAttachment.objects.count() == 1

    fake = SimpleUploadedFile("x.png", b"not a picture", content_type="image/png")
    refused = client.post(
        url, {"file": fake}, headers={"HX-Request": "true", "Accept-Language": "zh-hans"}
    )
    assert refused.status_code == 200 and 'role="alert"' in refused.text
    assert "shop.jpg" in refused.text and ReportAttachment.objects.count() == 1
    assert "Only JPEG" not in refused.text  # translated


# --- Default follow-up and collection plans ----------------------------------------------------


def test_a_promise_to_pay_before_the_attempt_is_refused_on_the_page(client, loan, officer):
    report = _report(loan, kind="default_follow_up")
    client.force_login(officer)
    page = client.get(reverse("postloan:report_edit", args=[report.pk])).content.decode()
    assert "Default follow-up (Art. 4)" in page and 'data-testid="attempt-form"' in page
    url = reverse("postloan:report_edit", args=[report.pk])
    attempt = {"attempt-method": "phone", "attempt-attempted_on": _today().isoformat()}
    response = client.post(
        url,
        _form_data(report, action="attempt")
        | attempt
        | {
            "attempt-outcome": "Promised",
            "attempt-promise_on": (_today() - timedelta(days=2)).isoformat(),
            "attempt-promise_amount": "800",
        },
    )
    assert response.status_code == 200
    assert "cannot be dated before it was made" in response.content.decode()
    response = client.post(
        url, _form_data(report, action="attempt") | attempt | {"attempt-outcome": "No answer"}
    )
    assert response.status_code == 302
    assert report.contact_attempts.count() == 1


def test_a_plan_goes_from_the_officer_to_a_supervisor(
    client, loan, other_loan, officer, other_officer, supervisor
):
    client.force_login(officer)
    response = client.post(
        reverse("postloan:plan_create", args=[loan.pk]),
        {
            "kind": "collection",
            "summary": "Weekly calls, then the guarantor.",
            "step_1_action": "Call the borrower",
            "step_1_on": (_today() + timedelta(days=3)).isoformat(),
            "step_1_amount": "2000",
            "step_2_action": "Visit the guarantor",
            "step_2_on": (_today() + timedelta(days=10)).isoformat(),
        },
    )
    plan = CollectionPlan.objects.get()
    assert response.url == reverse("postloan:plan_detail", args=[plan.pk])
    assert plan.steps.count() == 2
    theirs = visits.plan_propose(
        loan=other_loan,
        kind="forced_recovery",
        summary="Sue",
        steps=[{"action": "File suit", "target_on": _today() + timedelta(days=5)}],
        by=other_officer,
    )
    listed = client.get(reverse("postloan:plans")).content.decode()
    assert other_loan.reference not in listed and loan.reference in listed
    assert client.get(reverse("postloan:plan_detail", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("postloan:plan_create", args=[other_loan.pk])).status_code == 404
    # the officer cannot decide
    decide = reverse("postloan:plan_decide", args=[plan.pk])
    assert client.post(decide, {"decision": "approve"}).status_code == 403
    plan_url = response.url
    assert "plan-decide-form" not in client.get(plan_url).content.decode()

    client.force_login(supervisor)
    page = client.get(plan_url).content.decode()
    assert 'data-testid="plan-decide-form"' in page
    client.post(decide, {"decision": "approve", "comment": "Agreed"})
    plan.refresh_from_db()
    assert (plan.status, plan.decided_by) == ("approved", supervisor)

    client.force_login(officer)
    step = plan.steps.get(seq=1)
    client.post(reverse("postloan:step_done", args=[step.pk]), {"done_on": _today().isoformat()})
    step.refresh_from_db()
    assert step.status == "done"


def test_the_loan_page_shows_early_warnings_plans_and_reports(client, loan, officer, supervisor):
    plan = visits.plan_propose(
        loan=loan,
        kind="collection",
        summary="Calls",
        steps=[{"action": "Call", "target_on": _today() + timedelta(days=1)}],
        by=officer,
    )
    visits.plan_decide(plan=plan, approve=True, comment="", by=supervisor)
    visits.detect_early_warnings(as_of=_today() + timedelta(days=2))
    report = _submitted(loan)
    assert EarlyWarning.objects.filter(loan=loan).count() == 1
    client.force_login(officer)
    page = client.get(loan.get_absolute_url()).content.decode()
    warnings = page.split('data-testid="early-warnings"', 1)[1].split("</div></div>", 1)[0]
    assert "Collection plan step missed" in warnings
    assert reverse("postloan:plan_detail", args=[plan.pk]) in page
    assert reverse("postloan:report_detail", args=[report.pk]) in page


# --- The ledger and its exports -----------------------------------------------------------------


@pytest.fixture
def ledger_book(officer, other_officer, product):
    """Two officers' loans in two branches; a borrower whose name would run as a formula."""
    north = BranchFactory(code="N1", name='=HYPERLINK("http://evil")')
    south = BranchFactory(code="S1", name="南区支行")
    mine = book_loan(
        borrower=make_person("+86 王小明"), officer=officer, product=product, branch=north
    )
    theirs = book_loan(
        borrower=make_person("刘大海"), officer=other_officer, product=product, branch=south
    )
    late = _inspection(mine, due_on=_today() - timedelta(days=5))
    on_time = _inspection(mine, due_on=_today() + timedelta(days=5), kind="key_tracking")
    for inspection in (late, on_time):
        report = visits.report_start(inspection=inspection, by=officer)
        answers = _all_satisfactory(report)
        saved = visits.report_save_draft(
            report=report,
            version=1,
            data=ReportInput(
                visited_at=timezone.now() - timedelta(minutes=5),
                method="home",
                findings="ok",
                answers=answers,
            ),
            by=officer,
        )
        visits.report_submit(report=saved, version=saved.version, by=officer)
    open_theirs = _inspection(theirs, due_on=_today() - timedelta(days=1))
    return {"mine": mine, "theirs": theirs, "late": late, "on_time": on_time, "open": open_theirs}


def _ledger_loans(response) -> list[str]:
    body = response.content.decode().split('data-testid="ledger"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"DK-\d{4}-\d+", body)


def test_the_ledger_shows_officers_their_own_book_and_managers_everything(
    client, ledger_book, officer, other_officer, risk_manager
):
    mine, theirs = ledger_book["mine"].reference, ledger_book["theirs"].reference
    client.force_login(officer)
    listed = _ledger_loans(client.get(reverse("postloan:ledger")))
    assert mine in listed and theirs not in listed
    report = ledger_book["late"].report
    client.force_login(other_officer)
    assert client.get(reverse("postloan:report_detail", args=[report.pk])).status_code == 404
    assert mine not in _ledger_loans(client.get(reverse("postloan:ledger")))
    client.force_login(risk_manager)
    listed = _ledger_loans(client.get(reverse("postloan:ledger")))
    assert mine in listed and theirs in listed


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"timing": "late"}, {"late"}),
        ({"timing": "on_time"}, {"on_time"}),
        ({"timing": "overdue"}, {"open"}),
        ({"status": "open"}, {"open"}),
        ({"kind": "key_tracking"}, {"on_time"}),
        ({"branch": "S1"}, {"open"}),
        ({"officer": "other"}, {"open"}),
        ({"start": 1, "end": 10}, {"on_time"}),
        ({"tier": "normal", "status": "done"}, {"late", "on_time"}),
    ],
)
def test_the_ledger_filters(client, ledger_book, risk_manager, other_officer, query, expected):
    params = dict(query)
    if params.get("branch"):
        params["branch"] = ledger_book["theirs"].branch_id
    if params.get("officer"):
        params["officer"] = other_officer.pk
    for key in ("start", "end"):
        if key in params:
            params[key] = (_today() + timedelta(days=params[key])).isoformat()
    client.force_login(risk_manager)
    response = client.get(reverse("postloan:ledger"), params | {"export": "csv"})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]
    # handover inspections of the booked loans are in the ledger too; count ours
    wanted = {ledger_book[name] for name in expected}
    found = {(row[0], row[4]) for row in rows if row[3] != "Handover first contact"}
    assert found == {(i.loan.reference, i.due_on.isoformat()) for i in wanted}


def test_the_exports_hold_the_rows_with_formulas_neutralised(
    client, ledger_book, officer, risk_manager
):
    client.force_login(officer)
    response = client.get(reverse("postloan:ledger"), {"export": "csv", "kind": "routine"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    header, *rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert header[:3] == ["loan_ref", "borrower", "branch"]
    assert [row[0] for row in rows] == [ledger_book["mine"].reference]
    (row,) = rows
    assert row[1] == "'+86 王小明"
    assert row[2] == '\'=HYPERLINK("http://evil")'
    assert (row[5], row[7], row[10]) == ("Done", "no", "Submitted")

    client.force_login(risk_manager)
    response = client.get(reverse("postloan:ledger"), {"export": "xlsx"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][0] == "loan_ref"
    refs = {row[0] for row in values[1:]}
    assert {ledger_book["mine"].reference, ledger_book["theirs"].reference} <= refs
    cells = [value for row in values for value in row if isinstance(value, str)]
    assert not any(value.startswith(("=", "+", "-", "@")) for value in cells)
    assert '\'=HYPERLINK("http://evil")' in cells
    # nothing in the sheet is stored as a formula
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_the_printable_report(client, loan, officer, supervisor):
    report = _submitted(loan, place="Shop 3", recommended_tier="special_mention")
    visits.report_add_addendum(report=report, text="Stock count corrected", by=officer)
    client.force_login(supervisor)
    response = client.get(reverse("postloan:report_detail", args=[report.pk]), {"print": "1"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "js/print.js" in page
    assert "Post-loan inspection report" in page and "Shop 3" in page
    assert "Stock count corrected" in page and "Officer's signature" in page
    assert 'data-testid="addendum-form"' not in page  # a supervisor reads
    plain = client.get(reverse("postloan:report_detail", args=[report.pk])).content.decode()
    assert "js/print.js" not in plain


# --- Closure and customer maintenance pages ------------------------------------------------------


def test_the_closure_page_for_a_written_off_loan(client, loan, officer):
    client.force_login(officer)
    url = reverse("postloan:closure", args=[loan.pk])
    response = client.post(url, {"customer": "x"})
    assert response.status_code == 200  # active loan, and four parts missing
    loan_services.loan_write_off(loan=loan, on=_today(), reason="Gone")
    data = {
        "customer": "Cooperative",
        "loan_assessment": "Unsecured, too large",
        "originating_officer": "Missed the debts",
        "managing_officer": "Acted fast",
        "lessons": "Check other lenders",
    }
    assert client.post(url, data).status_code == 302
    assert "Check other lenders" in client.get(loan.get_absolute_url()).content.decode()


def test_maintenance_is_logged_by_the_officer_who_manages_the_borrower(
    client, officer, other_officer, product, branch
):
    loan = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        originating_officer=other_officer,
    )
    url = reverse("borrowers:maintenance_add", args=[loan.borrower_id])
    data = {"happened_on": _today().isoformat(), "kind": "opinion", "notes": "Wants a top-up"}
    client.force_login(other_officer)  # originated the loan: reads the borrower, logs nothing
    assert client.get(loan.borrower.get_absolute_url()).status_code == 200
    assert client.post(url, data).status_code == 404
    client.force_login(officer)
    assert client.post(url, data).status_code == 302
    assert MaintenanceLog.objects.get().officer == officer
    page = client.get(loan.borrower.get_absolute_url()).content.decode()
    assert "Wants a top-up" in page


# --- A fixed number of queries -------------------------------------------------------------------


def _enlarge(loan, report, officer):
    """More collateral, guarantors, attachments, attempts and addenda on the same report."""
    for n in range(3):
        loan_services.collateral_add(loan=loan, kind="vehicle", description=f"Van {n}", by=officer)
        borrower_services.guarantee_add(
            loan=loan, guarantor=make_guarantor(), signed_on=loan.disbursed_on
        )
        visits.attachment_add(report=report, upload=_jpeg(f"p{n}.jpg"), by=officer)


@pytest.mark.parametrize("page", ["edit", "detail"])
def test_the_report_pages_run_a_fixed_number_of_queries(
    client, loan, officer, page, django_assert_max_num_queries
):
    report = _report(loan, kind="default_follow_up")
    client.force_login(officer)

    def load():
        if page == "detail" and report.status == "draft":
            return client.get(reverse("postloan:report_edit", args=[report.pk]))
        return client.get(reverse(f"postloan:report_{page}", args=[report.pk]))

    if page == "detail":
        report = _submitted_from(report)
    with CaptureQueriesContext(connection) as few:
        assert load().status_code == 200
    if page == "detail":
        for n in range(3):
            visits.report_add_addendum(report=report, text=f"Note {n}", by=officer)
            ReportAttachment.objects.create(
                report=report,
                file=f"reports/x{n}.jpg",
                original_name=f"x{n}.jpg",
                content_type="image/jpeg",
                size=10,
                uploaded_by=officer,
            )
    else:
        _enlarge(loan, report, officer)
        for n in range(3):
            visits.contact_attempt_add(
                report=report, method="phone", attempted_on=_today(), outcome=f"#{n}", by=officer
            )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert load().status_code == 200


def _submitted_from(report) -> InspectionReport:
    answers = _all_satisfactory(report)
    visits.contact_attempt_add(
        report=report,
        method="phone",
        attempted_on=_today(),
        outcome="Reached",
        by=report.author,
    )
    saved = visits.report_save_draft(
        report=report,
        version=report.version,
        data=ReportInput(
            visited_at=timezone.now() - timedelta(hours=1),
            method="phone",
            findings="Lost his main customer",
            default_reason="business",
            answers=answers,
        ),
        by=report.author,
    )
    return visits.report_submit(report=saved, version=saved.version, by=report.author)


def test_the_ledger_runs_a_fixed_number_of_queries(
    client, ledger_book, officer, product, risk_manager, django_assert_max_num_queries
):
    client.force_login(risk_manager)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("postloan:ledger"))
    for n in range(5):
        loan = book_loan(borrower=make_person(), officer=officer, product=product)
        _submitted(loan, findings=f"Visit {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("postloan:ledger"))
    assert len(_ledger_loans(response)) > 10
