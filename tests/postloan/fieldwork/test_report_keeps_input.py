"""The report's page loses nothing typed (issue 16): every button on it — log an attempt,
attach a file, save, submit — sends the whole report, and the draft is saved in the same
transaction as the attempt or the file; a refusal anywhere shows everything as typed and
saves nothing. And the checklist stays whole, 1 to 12, where items do not apply."""

from __future__ import annotations

import io
import itertools
import re
from datetime import date, timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from loans import services as loan_services
from postloan.fieldwork import services as visits
from postloan.models import ContactAttempt, Inspection, InspectionReport, ReportAttachment
from tests.factories import book_loan, make_guarantor, make_person

pytestmark = [pytest.mark.django_db, pytest.mark.clock(date(2026, 11, 20))]

_slots = itertools.count(1)
# The items of a loan with neither guarantors nor collateral.
APPLICABLE = [1, 2, 3, 4, 5, 6, 7, 10, 11, 12]


def _report(loan, kind="routine") -> InspectionReport:
    inspection = Inspection.objects.create(
        loan=loan,
        kind=kind,
        slot=f"keeps-input-{next(_slots)}",
        due_on=timezone.localdate(),
        assigned_to=loan.managing_officer,
        reason="sample",
    )
    return visits.report_start(inspection=inspection, by=inspection.assigned_to)


def _typed(report, action: str, **fields) -> dict:
    """What an officer has typed: a checklist with comments, findings, a factor."""
    visited = timezone.localtime() - timedelta(hours=1)
    data = {
        "version": report.version,
        "action": action,
        "visited_at": visited.strftime("%Y-%m-%dT%H:%M"),
        "method": "home",
        "findings": "Stock down by a third since the summer.",
        "factor_1": "3",
        "factor_1_evidence": "Two suppliers unpaid",
    }
    for item in report.answers.values_list("item", flat=True):
        data[f"item_{item}"] = "concern" if item == 3 else "satisfactory"
        data[f"comment_{item}"] = f"Comment on item {item}"
    data.update(fields)
    return data


def _attempt(**fields) -> dict:
    return {
        "attempt-method": "phone",
        "attempt-attempted_on": timezone.localdate().isoformat(),
        "attempt-outcome": "Answered; asks for two weeks.",
    } | {f"attempt-{name}": value for name, value in fields.items()}


def _jpeg(name="shop.jpg") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _assert_typed_saved(report) -> None:
    report.refresh_from_db()
    assert report.findings == "Stock down by a third since the summer."
    answers = {a.item: (a.answer, a.comment) for a in report.answers.all()}
    assert answers[3] == ("concern", "Comment on item 3")
    assert answers[12] == ("satisfactory", "Comment on item 12")
    assert [(f.factor, f.evidence) for f in report.factors.all()] == [(3, "Two suppliers unpaid")]


def _assert_typed_shown(page: str) -> None:
    assert "Stock down by a third since the summer." in page
    assert "Comment on item 3" in page and "Comment on item 12" in page
    assert re.search(r'name="item_3" value="concern" checked', page)
    assert "Two suppliers unpaid" in page


# --- Logging an attempt ---------------------------------------------------------------------


def test_logging_an_attempt_saves_the_draft_with_it(client, loan, officer):
    report = _report(loan, kind="default_follow_up")
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])

    response = client.post(url, _typed(report, "attempt") | _attempt())

    assert response.status_code == 302 and response.url == url
    assert _messages(response) == ["Draft saved. Attempt logged."]
    _assert_typed_saved(report)
    assert report.version == 2
    attempt = ContactAttempt.objects.get(report=report)
    assert attempt.outcome == "Answered; asks for two weeks."
    # the page after the redirect shows the saved draft and the attempt
    page = client.get(url).content.decode()
    _assert_typed_shown(page)
    assert "Answered; asks for two weeks." in page


def test_a_refused_attempt_keeps_everything_typed_and_saves_nothing(client, loan, officer):
    report = _report(loan, kind="default_follow_up")
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])
    promise_before = (timezone.localdate() - timedelta(days=2)).isoformat()

    response = client.post(
        url,
        _typed(report, "attempt") | _attempt(promise_on=promise_before, promise_amount="800"),
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "A promise to pay cannot be dated before it was made." in page
    _assert_typed_shown(page)
    assert "Answered; asks for two weeks." in page and 'value="800"' in page
    # nothing half-way: neither the draft nor the attempt
    report.refresh_from_db()
    assert (report.version, report.findings) == (1, "")
    assert not ContactAttempt.objects.exists()
    # and leaving the page now would lose it: the page says so to its script
    assert 'data-keep-typed="unsaved"' in page


def test_a_refused_draft_keeps_the_attempt_typed_and_logs_nothing(client, loan, officer):
    report = _report(loan, kind="default_follow_up")
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])
    tomorrow = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    response = client.post(url, _typed(report, "attempt", visited_at=tomorrow) | _attempt())

    assert response.status_code == 200
    page = response.content.decode()
    assert "A visit cannot be in the future." in page
    _assert_typed_shown(page)
    assert "Answered; asks for two weeks." in page
    assert not ContactAttempt.objects.exists()
    assert InspectionReport.objects.get(pk=report.pk).version == 1


def test_saving_the_draft_logs_an_attempt_typed_but_not_logged(client, loan, officer):
    report = _report(loan, kind="default_follow_up")
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])

    response = client.post(url, _typed(report, "save") | _attempt())

    assert response.status_code == 302
    _assert_typed_saved(report)
    assert ContactAttempt.objects.get(report=report).outcome == "Answered; asks for two weeks."


def test_saving_the_draft_with_the_attempt_left_as_it_came_logs_none(client, loan, officer):
    report = _report(loan, kind="default_follow_up")
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])

    # the method and the date come filled in; nothing was typed into the attempt
    response = client.post(url, _typed(report, "save") | _attempt(outcome=""))

    assert response.status_code == 302
    _assert_typed_saved(report)
    assert not ContactAttempt.objects.exists()


# --- Photos and documents --------------------------------------------------------------------


def test_attaching_without_javascript_saves_the_draft_with_the_file(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])

    response = client.post(url, _typed(report, "attach") | {"file": _jpeg()})

    assert response.status_code == 302 and response.url == url
    assert _messages(response) == ["Draft saved. Attached."]
    _assert_typed_saved(report)
    assert ReportAttachment.objects.get(report=report).original_name == "shop.jpg"


def test_saving_the_draft_attaches_a_file_chosen_but_not_sent(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])

    client.post(url, _typed(report, "save") | {"file": _jpeg("counter.jpg")})

    _assert_typed_saved(report)
    assert ReportAttachment.objects.get(report=report).original_name == "counter.jpg"


def test_a_refused_file_keeps_everything_typed_and_saves_nothing(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])
    fake = SimpleUploadedFile("notes.jpg", b"not a picture", content_type="image/jpeg")

    response = client.post(url, _typed(report, "attach") | {"file": fake})

    assert response.status_code == 200
    page = response.content.decode()
    _assert_typed_shown(page)
    assert 'data-testid="upload-message"' in page
    assert InspectionReport.objects.get(pk=report.pk).version == 1
    assert not ReportAttachment.objects.exists()


def test_attach_without_a_file_says_so_and_keeps_everything_typed(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])

    response = client.post(url, _typed(report, "attach"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Choose a photo or document to attach." in page
    _assert_typed_shown(page)
    assert InspectionReport.objects.get(pk=report.pk).version == 1


def test_every_button_of_the_report_page_is_inside_its_form(client, loan, officer):
    """No second form on the page whose button would post without the report."""
    report = _report(loan, kind="default_follow_up")
    client.force_login(officer)
    page = client.get(reverse("postloan:report_edit", args=[report.pk])).content.decode()
    main = page[page.index("<main") : page.index("</main>")]
    assert main.count("<form") == 1
    form = main[main.index('id="report-form"') : main.index("</form>")]
    for action in ("save", "submit", "attempt", "attach"):
        assert f'name="action" value="{action}"' in form
    assert 'enctype="multipart/form-data"' in main


# --- The addendum on the printed report --------------------------------------------------------


def test_a_refused_addendum_is_shown_on_the_report_with_its_error(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    client.post(reverse("postloan:report_edit", args=[report.pk]), _typed(report, "submit"))
    report.refresh_from_db()
    assert report.is_final

    response = client.post(reverse("postloan:addendum_add", args=[report.pk]), {"text": "  "})

    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="addendum-error"' in page and 'data-testid="report"' in page
    assert not report.addenda.exists()
    response = client.post(
        reverse("postloan:addendum_add", args=[report.pk]), {"text": "Stock counted again: 40%."}
    )
    assert response.url == reverse("postloan:report_detail", args=[report.pk])
    assert report.addenda.get().text == "Stock counted again: 40%."


# --- The checklist stays whole --------------------------------------------------------------


def _items(page: str, testid: str) -> list[int]:
    return [int(n) for n in re.findall(rf'data-testid="{testid}" data-item="(\d+)"', page)]


@pytest.mark.parametrize(
    "language, no_collateral, no_guarantor",
    [
        ("en", "Not applicable: no collateral", "Not applicable: no guarantor"),
        ("zh-hans", "不适用：无抵质押物", "不适用：无担保人"),
    ],
)
def test_items_that_do_not_apply_keep_their_number_on_the_form_and_the_report(
    client, loan, officer, language, no_collateral, no_guarantor
):
    # the loan has neither collateral nor guarantors: items 8 and 9 do not apply
    report = _report(loan)
    assert sorted(report.answers.values_list("item", flat=True)) == APPLICABLE
    client.force_login(officer)
    headers = {"Accept-Language": language}
    url = reverse("postloan:report_edit", args=[report.pk])

    page = client.get(url, headers=headers).content.decode()
    assert _items(page, "checklist-item") == APPLICABLE
    assert _items(page, "checklist-item-na") == [8, 9]
    numbered = [int(n) for n in re.findall(r'data-item="(\d+)"', page)]
    assert numbered == list(range(1, 13))  # in order, none missing
    assert no_collateral in page and no_guarantor in page
    assert 'name="item_9"' not in page  # nothing to answer there

    client.post(url, _typed(report, "submit"), headers=headers)
    detail = client.get(reverse("postloan:report_detail", args=[report.pk]), headers=headers)
    checklist = detail.content.decode().split('data-testid="checklist"')[1].split("</table>")[0]
    assert [int(n) for n in re.findall(r'data-item="(\d+)"', checklist)] == list(range(1, 13))
    assert re.search(rf"<td>9\. [^<]+</td><td[^>]*>{no_collateral}</td>", checklist)
    assert re.search(rf"<td>8\. [^<]+</td><td[^>]*>{no_guarantor}</td>", checklist)
    # the printable version is the same page
    printed = client.get(
        reverse("postloan:report_detail", args=[report.pk]) + "?print=1", headers=headers
    ).content.decode()
    assert no_collateral in printed


def test_a_secured_loan_answers_all_twelve(client, officer, product, branch):
    guarantor = make_guarantor("陈担保")
    loan = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        guarantors=[guarantor],
    )
    loan_services.collateral_add(loan=loan, kind="vehicle", description="Truck", by=officer)
    report = _report(loan)
    client.force_login(officer)
    page = client.get(reverse("postloan:report_edit", args=[report.pk])).content.decode()
    assert _items(page, "checklist-item") == list(range(1, 13))
    assert _items(page, "checklist-item-na") == []
