"""On a phone, nothing typed into a report is lost by another button (issue 16): logging an
attempt saves the draft with it, a refused attempt keeps everything on the screen, a photo
chosen is attached by "Save draft", and leaving the page with changes not sent (the language
switcher) asks first — on the report and on the addendum of a submitted one."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from postloan.fieldwork import services as visits
from postloan.models import ContactAttempt, Inspection, InspectionReport
from tests.browser.report_sections import show_every_section
from tests.factories import book_loan, make_person
from tests.utils import login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(date(2026, 11, 20)),
]

FINDINGS = "Sales down by half since the new mall opened."
COMMENT = "Two suppliers unpaid since October."


@pytest.fixture
def follow_up(officer, product, branch) -> InspectionReport:
    loan = book_loan(
        borrower=make_person("郑失联"),
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 8, 1),
    )
    inspection = Inspection.objects.create(
        loan=loan,
        kind="default_follow_up",
        slot="missed-2026-11",
        due_on=date(2026, 11, 25),
        assigned_to=officer,
        reason="missed",
    )
    return visits.report_start(inspection=inspection, by=officer)


def _type_report(page) -> None:
    show_every_section(page)
    report = page.locator("[data-testid=report-form]")
    visited = timezone.localtime() - timedelta(hours=1)
    report.locator("input[name=visited_at]").fill(visited.strftime("%Y-%m-%dT%H:%M"))
    report.locator("select[name=method]").select_option("phone")
    items = report.locator("[data-testid=checklist-item]")
    for n in range(items.count()):
        items.nth(n).locator("input[value=satisfactory]").check()
    item_3 = report.locator("[data-testid=checklist-item][data-item='3']")
    item_3.locator("input[value=concern]").check()
    item_3.locator("textarea").fill(COMMENT)
    report.locator("#id_factor_1").select_option("3")
    report.locator("#id_factor_1_evidence").fill("Supplier complaints")
    report.locator("#id_findings").fill(FINDINGS)


def _expect_report_typed(page) -> None:
    item_3 = page.locator("[data-testid=checklist-item][data-item='3']")
    expect(item_3.locator("input[value=concern]")).to_be_checked()
    expect(item_3.locator("textarea")).to_have_value(COMMENT)
    expect(
        page.locator("[data-testid=checklist-item][data-item='12'] input[value=satisfactory]")
    ).to_be_checked()
    expect(page.locator("#id_factor_1")).to_have_value("3")
    expect(page.locator("#id_factor_1_evidence")).to_have_value("Supplier complaints")
    expect(page.locator("#id_findings")).to_have_value(FINDINGS)


def _switch_language(page, code: str) -> None:
    """The navigation bar's language switcher (behind the menu button on a phone)."""
    page.locator(".navbar-toggler").click()
    page.locator("#language-select").select_option(code)


def _type_attempt(page, *, promise_on: date, amount: str = "3000") -> None:
    attempt = page.locator("[data-testid=attempt-form]")
    attempt.locator("select[name=attempt-method]").select_option("phone")
    attempt.locator("textarea[name=attempt-outcome]").fill("Answered; lost his main customer.")
    attempt.locator("input[name=attempt-promise_on]").fill(promise_on.isoformat())
    attempt.locator("input[name=attempt-promise_amount]").fill(amount)


def test_logging_an_attempt_keeps_and_saves_the_report_typed(page, officer, follow_up):
    login(page, officer.username)
    page.goto(reverse("postloan:report_edit", args=[follow_up.pk]))
    _type_report(page)

    # first a refused attempt: a promise dated before the call
    _type_attempt(page, promise_on=date(2026, 11, 18))
    page.get_by_role("button", name="Log the attempt").click()
    expect(page.locator("[data-testid=attempt-form]")).to_contain_text(
        "A promise to pay cannot be dated before it was made."
    )
    _expect_report_typed(page)
    expect(page.locator("textarea[name=attempt-outcome]")).to_have_value(
        "Answered; lost his main customer."
    )
    assert not ContactAttempt.objects.exists()

    # corrected, it is logged, with the draft
    page.locator("input[name=attempt-promise_on]").fill("2026-11-27")
    page.get_by_role("button", name="Log the attempt").click()
    expect(page.locator(".messages")).to_contain_text("Draft saved. Attempt logged.")
    expect(page.locator("[data-testid=attempts]")).to_contain_text("lost his main customer")
    _expect_report_typed(page)

    page.reload()
    _expect_report_typed(page)
    follow_up.refresh_from_db()
    assert (follow_up.status, follow_up.findings) == ("draft", FINDINGS)
    assert follow_up.answers.get(item=3).comment == COMMENT
    assert ContactAttempt.objects.get().promise_on == date(2026, 11, 27)


def test_save_draft_attaches_a_photo_chosen_and_not_sent(page, officer, follow_up, tmp_path):
    photo = tmp_path / "shopfront.jpg"
    Image.new("RGB", (120, 80), (200, 160, 40)).save(photo, "JPEG")
    login(page, officer.username)
    page.goto(reverse("postloan:report_edit", args=[follow_up.pk]))
    _type_report(page)
    page.locator("[data-testid=upload-form] input[type=file]").set_input_files(str(photo))

    page.locator("[data-testid=save-draft]").click()

    expect(page.locator(".messages")).to_contain_text("Draft saved. Attached.")
    expect(page.locator("[data-testid=attachments]")).to_contain_text("shopfront.jpg")
    _expect_report_typed(page)


def test_leaving_with_changes_not_sent_asks_first(page, officer, follow_up):
    login(page, officer.username)
    page.goto(reverse("postloan:report_edit", args=[follow_up.pk]))
    asked = []

    def stay(dialog):
        asked.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)
    _type_report(page)
    # another button of the page: the language switcher in the navigation bar
    _switch_language(page, "zh-hans")
    expect(page.locator("#id_findings")).to_have_value(FINDINGS)
    assert asked == ["beforeunload"]
    _expect_report_typed(page)

    # sending the form itself does not ask
    page.locator("[data-testid=save-draft]").click()
    expect(page.locator(".messages")).to_contain_text("Draft saved.")
    assert asked == ["beforeunload"]


def test_an_addendum_typed_is_not_lost_by_leaving_the_report(page, officer, follow_up):
    visits.contact_attempt_add(
        report=follow_up,
        method="phone",
        attempted_on=date(2026, 11, 19),
        outcome="No answer",
        by=officer,
    )
    saved = visits.report_save_draft(
        report=follow_up,
        version=follow_up.version,
        data=visits.ReportInput(
            visited_at=timezone.now() - timedelta(hours=1),
            method="phone",
            findings=FINDINGS,
            default_reason="business",
            answers=dict.fromkeys(
                follow_up.answers.values_list("item", flat=True), ("satisfactory", "")
            ),
        ),
        by=officer,
    )
    visits.report_submit(report=saved, version=saved.version, by=officer)
    login(page, officer.username)
    page.goto(reverse("postloan:report_detail", args=[follow_up.pk]))
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))

    page.locator("#addendum-text").fill("The shop is rented, not owned.")
    _switch_language(page, "zh-hans")
    expect(page.locator("#addendum-text")).to_have_value("The shop is rented, not owned.")
    assert asked == ["beforeunload"]

    page.get_by_role("button", name="Add addendum").click()
    expect(page.locator("[data-testid=addenda]")).to_contain_text("The shop is rented, not owned.")
    assert follow_up.addenda.get().text == "The shop is rented, not owned."
