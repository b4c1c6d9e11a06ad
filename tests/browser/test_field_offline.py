"""The field app offline, in real Chromium on a phone (issue 18): the day taken along while
online opens without a network; a report, an attempt and a photo made offline survive a
reload and reach the portal exactly once, as the officer, when the network returns — also
when the connection drops mid-send and when the same queue is sent twice; a refusal keeps
the phone's copy and says why; logging out empties what the phone kept."""

from __future__ import annotations

import time
from datetime import date

import pytest
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from postloan.models import ContactAttempt, Inspection, InspectionReport, ReportAttachment
from tests.browser.report_sections import show_every_section
from tests.factories import book_loan, make_person
from tests.utils import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FINDINGS = "Typed in the shop, without signal: stock as last month."


@pytest.fixture
def follow_up(officer, product, branch):
    """A default follow-up on the officer's agenda today, for a borrower with a phone."""
    borrower = make_person("陈离线")
    borrower.mobile = "13912345678"
    borrower.business_address = "浙江省杭州市余杭区五常街道 18 号"
    borrower.save()
    loan = book_loan(borrower=borrower, officer=officer, product=product, branch=branch)
    Inspection.objects.filter(loan=loan).delete()  # the booking's own: only this one below
    return Inspection.objects.create(
        loan=loan,
        kind="default_follow_up",
        slot="offline-1",
        due_on=timezone.localdate(),
        assigned_to=officer,
        reason="missed",
    )


def _take_the_day_along(page) -> dict:
    page.goto("/risk/agenda/")
    page.wait_for_function("window.DaihouField && window.DaihouField.ready !== undefined")
    page.evaluate("window.DaihouField.ready")  # the phone keeps the day as it opens the agenda
    day = page.evaluate("DaihouQueue.day()")
    assert day, "the day was not kept"
    # Controlled by the service worker from the next page on.
    page.evaluate("navigator.serviceWorker.ready")
    page.reload()
    page.wait_for_function("!!navigator.serviceWorker.controller")
    return day


def _until(page, expression: str, timeout: float = 20_000) -> None:
    """Poll an expression (a promise is awaited: wait_for_function would take the promise
    itself as true) until it is true."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {timeout} ms: {expression}"
        page.wait_for_timeout(100)


def _counts(page) -> dict:
    return page.evaluate("DaihouQueue.counts()")


def _fill(page) -> None:
    show_every_section(page)
    form = page.locator("[data-testid=report-form]")
    form.locator("select[name=method]").select_option("home")
    for n in range(form.locator("[data-testid=checklist-item]").count()):
        form.locator("[data-testid=checklist-item]").nth(n).locator(
            "input[value=satisfactory]"
        ).check()
    form.locator("textarea[name=findings]").fill(FINDINGS)


def _log_attempt_and_photo(page, tmp_path) -> None:
    form = page.locator("[data-testid=report-form]")
    form.locator("select[name=attempt-method]").select_option("phone")
    form.locator("textarea[name=attempt-outcome], input[name=attempt-outcome]").first.fill(
        "Answered; pays on Friday."
    )
    page.get_by_role("button", name="Log the attempt").click()
    expect(page.locator("[data-testid=attempt-waiting]")).to_have_count(1)
    photo = tmp_path / "shop.jpg"
    Image.new("RGB", (3200, 2400), (30, 120, 60)).save(photo, "JPEG")
    form.locator("[data-testid=upload-form] input[type=file]").set_input_files(str(photo))
    form.locator("[data-testid=upload-form] button[value=attach]").click()
    both = "['attempt', 'attach'].every(a => l.some(i => i.action === a))"
    _until(page, f"DaihouQueue.items().then(l => {both})")


def _submitted_offline(page, officer, follow_up) -> None:
    """The day taken along, then offline: the report filled and submitted, waiting."""
    login(page, officer.username)
    _take_the_day_along(page)
    page.context.set_offline(True)
    page.goto(f"/risk/field/inspections/{follow_up.pk}/report/")
    _fill(page)
    page.locator("[data-testid=submit-report]").click()
    _until(page, "DaihouQueue.counts().then(c => c.waiting === 1)")


def _online_and_sent(page) -> None:
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    _until(page, "DaihouQueue.counts().then(c => c.total === 0)", timeout=30_000)


@pytest.mark.clock(date(2026, 11, 20), hour=10)
def test_a_report_made_offline_reaches_the_portal_once_as_the_officer(
    page, officer, follow_up, tmp_path
):
    login(page, officer.username)
    day = _take_the_day_along(page)
    card = f"/risk/field/loans/{follow_up.loan_id}/"
    report = f"/risk/field/inspections/{follow_up.pk}/report/"
    assert card in day["pages"] and report in day["pages"]

    # offline: the card and the report open from the phone
    page.context.set_offline(True)
    page.goto(card)
    expect(page.locator("[data-testid=card-borrower]")).to_have_text("陈离线")
    expect(page.locator("[data-testid=card-call]")).to_have_attribute("href", "tel:13912345678")
    page.goto(report)
    _fill(page)
    _log_attempt_and_photo(page, tmp_path)
    expect(page.locator("[data-testid=field-status]")).to_contain_text("offline")

    # a reload offline loses nothing
    page.reload()
    show_every_section(page)
    expect(page.locator("textarea[name=findings]")).to_have_value(FINDINGS)
    assert _counts(page)["waiting"] >= 2
    assert not InspectionReport.objects.filter(inspection=follow_up).exists()

    _online_and_sent(page)

    report_row = InspectionReport.objects.get(inspection=follow_up)
    assert report_row.author == officer and report_row.findings == FINDINGS
    assert ContactAttempt.objects.filter(report=report_row).count() == 1
    attachment = ReportAttachment.objects.get(report=report_row)
    assert attachment.uploaded_by == officer
    with Image.open(attachment.file.path) as stored:
        assert max(stored.size) <= 1600 and stored.format == "JPEG"  # made smaller on the phone


@pytest.mark.clock(date(2026, 11, 20), hour=10)
def test_a_dropped_connection_and_a_second_sending_record_nothing_twice(
    browser, live_server, officer, follow_up, tmp_path
):
    # Without the service worker: the page itself sends, through the route that drops the
    # first answer (a worker's own requests would not pass through it).
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, base_url=live_server.url, service_workers="block"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    login(page, officer.username)
    page.goto(f"/risk/field/inspections/{follow_up.pk}/report/")
    context.set_offline(True)
    _fill(page)
    _log_attempt_and_photo(page, tmp_path)
    queued = page.evaluate("DaihouQueue.items()")

    # The first item reaches the portal, but its answer never reaches the phone.
    dropped, seen = [], []

    def drop_the_answer(route):
        seen.append(route.request.headers.get("x-daihou-client-id"))
        if not dropped:
            route.fetch()  # the portal receives and records it
            dropped.append(seen[-1])
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/risk/field/inspections/*/report/", drop_the_answer)
    context.set_offline(False)  # the page sends as the network returns
    page.evaluate("DaihouField.send()")  # and again, as after a "Send now"
    _until(page, "DaihouQueue.counts().then(c => c.total === 0)")
    assert dropped == [queued[0]["id"]]
    assert seen.count(dropped[0]) == 2  # its answer lost, the phone sent it again
    # The same queue, sent again (a second tab, Background Sync after the page).
    page.evaluate(
        "items => Promise.all(items.map(i => DaihouQueue.add(i))).then(() => DaihouField.send())",
        queued,
    )
    _until(page, "DaihouQueue.counts().then(c => c.total === 0)")
    context.close()

    report_row = InspectionReport.objects.get(inspection=follow_up)
    assert ContactAttempt.objects.filter(report=report_row).count() == 1
    assert ReportAttachment.objects.filter(report=report_row).count() == 1
    assert report_row.findings == FINDINGS


@pytest.mark.clock(date(2026, 11, 20), hour=10)
def test_an_inspection_reassigned_meanwhile_keeps_the_phones_copy_and_says_why(
    page, officer, other_officer, follow_up
):
    _submitted_offline(page, officer, follow_up)
    # meanwhile, at the office, the loan goes to a colleague
    loan = follow_up.loan
    loan.managing_officer = other_officer
    loan.save(update_fields=["managing_officer"])
    Inspection.objects.filter(pk=follow_up.pk).update(assigned_to=other_officer)

    page.context.set_offline(False)
    page.evaluate("DaihouField.send()")
    _until(page, "DaihouQueue.counts().then(c => c.refused === 1)")

    assert _counts(page) == {"waiting": 0, "refused": 1, "total": 1}
    assert not InspectionReport.objects.filter(inspection=follow_up).exists()
    page.goto("/outbox/")
    item = page.locator("[data-testid=outbox-item]")
    expect(item).to_have_attribute("data-state", "refused")
    expect(item.locator("[data-testid=outbox-reason]")).not_to_be_empty()
    expect(page.locator("[data-testid=field-status]")).to_contain_text("refused")


@pytest.mark.clock(date(2026, 11, 20), hour=10)
def test_logging_out_empties_what_the_phone_kept(page, officer, follow_up):
    login(page, officer.username)
    _take_the_day_along(page)
    assert page.evaluate("caches.open('daihou-day').then(c => c.keys()).then(k => k.length)") > 0

    page.set_viewport_size({"width": 1366, "height": 768})  # the menu unfolded
    page.locator("[data-testid=user-menu]").click()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/**")

    kept_pages = page.evaluate("caches.keys().then(names => names.filter(n => n === 'daihou-day'))")
    kept_keys = page.evaluate(KEPT_KEYS)
    assert kept_pages == [] and kept_keys == []


# The keys left in the field app's IndexedDB store (none when the store or database is gone).
KEPT_KEYS = """new Promise(resolve => {
  const opening = indexedDB.open('daihou-field');
  opening.onsuccess = () => {
    const db = opening.result;
    if (!db.objectStoreNames.contains('kv')) { resolve([]); return; }
    const keys = db.transaction('kv').objectStore('kv').getAllKeys();
    keys.onsuccess = () => resolve(keys.result);
  };
})"""


@pytest.mark.clock(date(2026, 11, 20), hour=10)
def test_a_day_not_synced_for_longer_than_kept_is_not_shown_offline(page, officer, follow_up):
    login(page, officer.username)
    _take_the_day_along(page)
    card = f"/risk/field/loans/{follow_up.loan_id}/"
    # The last sync was eight days ago (FIELD_CACHE_DAYS is 7).
    page.evaluate(
        "DaihouQueue.day().then(d => { d.syncedAt -= 8 * 864e5; return DaihouQueue.setDay(d); })"
    )
    page.context.set_offline(True)

    page.goto(card)

    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
    assert page.evaluate("caches.open('daihou-day').then(c => c.keys()).then(k => k.length)") == 0


@pytest.mark.clock(date(2026, 11, 20), hour=10)
def test_a_draft_is_saved_as_the_officer_types_and_the_page_says_when(page, officer, follow_up):
    login(page, officer.username)
    page.goto(f"/risk/field/inspections/{follow_up.pk}/report/")
    show_every_section(page)

    page.locator("textarea[name=findings]").fill(FINDINGS)  # and nothing pressed

    expect(page.locator("[data-testid=draft-status]")).to_contain_text("Draft saved at")
    report_row = InspectionReport.objects.get(inspection=follow_up)
    assert report_row.findings == FINDINGS and report_row.status == "draft"
    # reopened, the page says when it was saved
    page.goto(f"/risk/reports/{report_row.pk}/edit/")
    expect(page.locator("[data-testid=draft-status]")).to_contain_text("Draft saved at 10:00")


@pytest.mark.clock(date(2026, 11, 20), hour=10)
def test_a_report_for_an_inspection_cancelled_meanwhile_can_become_an_ad_hoc_visit(
    page, officer, follow_up
):
    _submitted_offline(page, officer, follow_up)
    Inspection.objects.filter(pk=follow_up.pk).update(  # at the office
        status="cancelled", cancelled_on=timezone.localdate(), cancel_reason="loan repaid"
    )
    page.context.set_offline(False)
    page.evaluate("DaihouField.send()")
    _until(page, "DaihouQueue.counts().then(c => c.refused === 1)")

    page.goto("/outbox/")
    page.get_by_role("button", name="Copy into an ad-hoc visit").click()

    page.wait_for_url("**/risk/reports/*/edit/")
    show_every_section(page)
    expect(page.locator("textarea[name=findings]")).to_have_value(FINDINGS)
    expect(page.locator("[data-testid=draft-status]")).to_contain_text("Restored")
    visit = Inspection.objects.get(loan=follow_up.loan, kind="ad_hoc")
    assert visit.assigned_to == officer and _counts(page)["refused"] == 0


@pytest.mark.clock(date(2026, 11, 20), hour=10)
def test_another_officer_logging_in_on_the_phone_finds_nothing_of_the_first(
    page, officer, other_officer, follow_up
):
    login(page, officer.username)
    _take_the_day_along(page)
    page.evaluate("DaihouQueue.add({url: '/x/', inspection: 1, action: 'save', fields: []})")
    page.context.clear_cookies()  # the session ended without logging out

    login(page, other_officer.username)
    page.wait_for_function("window.DaihouField && window.DaihouField.ready !== undefined")
    page.evaluate("DaihouField.ready")

    assert page.evaluate("DaihouQueue.items()") == []
    assert page.evaluate("DaihouQueue.owner()") == str(other_officer.pk)
    kept = page.evaluate(
        "caches.open('daihou-day').then(c => c.keys()).then(k => k.map(r => r.url))"
    )
    assert not any(f"/field/loans/{follow_up.loan_id}/" in url for url in kept)


@pytest.mark.clock(date(2026, 11, 20), hour=10)
def test_a_session_ended_meanwhile_keeps_the_queue_and_asks_for_a_login(page, officer, follow_up):
    _submitted_offline(page, officer, follow_up)
    page.context.clear_cookies()  # the session expired while the phone was offline
    page.context.set_offline(False)

    page.evaluate("DaihouField.send()")

    expect(page.locator("[data-testid=field-status]")).to_contain_text("log in again")
    assert _counts(page) == {"waiting": 1, "refused": 0, "total": 1}
    assert not InspectionReport.objects.filter(inspection=follow_up).exists()
    login(page, officer.username)  # logged in again, the next page sends it
    expect(page.locator("[data-testid=login-form]")).to_have_count(0)
    page.wait_for_function("window.DaihouField && window.DaihouField.ready !== undefined")
    page.evaluate("DaihouField.ready")
    # it reached the portal, which answered as it does to any submission (a default
    # follow-up without an attempt is incomplete): the reasons are on the phone now
    _until(page, "DaihouQueue.counts().then(c => c.waiting === 0)")
    reasons = page.evaluate("DaihouQueue.items().then(l => l[0].reasons)")
    assert "Log at least one attempt to reach the borrower." in reasons
