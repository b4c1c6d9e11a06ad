"""Field visits on a phone (issue 7): a report from the agenda to an approved reclassification,
and a default follow-up to an approved collection plan."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from postloan.inspections.planning import schedule_inspections
from postloan.models import CollectionPlan, Inspection, InspectionReport, LoanRiskState
from postloan.risk.nightly import classify_portfolio
from tests.browser.report_sections import show_every_section
from tests.factories import book_loan, make_person
from tests.utils import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _handover_done(loan) -> None:
    Inspection.objects.filter(loan=loan, kind="handover").update(
        status="done", completed_on=loan.disbursed_on
    )


def _switch_user(page, username: str) -> None:
    page.context.clear_cookies()
    login(page, username)
    expect(page.locator("[data-testid=login-form]")).to_have_count(0)


def _fill_visit(page, *, method: str) -> None:
    show_every_section(page)
    report = page.locator("[data-testid=report-form]")
    visited = timezone.localtime() - timedelta(hours=1)
    report.locator("input[name=visited_at]").fill(visited.strftime("%Y-%m-%dT%H:%M"))
    report.locator("select[name=method]").select_option(method)
    items = report.locator("[data-testid=checklist-item]")
    for n in range(items.count()):
        items.nth(n).locator("input[value=satisfactory]").check()


def test_a_report_from_the_agenda_to_an_approved_reclassification(
    page, officer, risk_manager, product, branch, tmp_path
):
    loan = book_loan(
        borrower=make_person("黄志强"), officer=officer, product=product, branch=branch
    )
    _handover_done(loan)
    Inspection.objects.create(
        loan=loan,
        kind="routine",
        slot="browser-1",
        due_on=timezone.localdate(),
        assigned_to=officer,
        reason="sample",
    )
    photo = tmp_path / "shopfront.jpg"
    Image.new("RGB", (120, 80), (200, 160, 40)).save(photo, "JPEG")

    # the officer starts the report from the agenda
    login(page, officer.username)
    page.goto("/risk/agenda/")
    item = page.locator("[data-testid=agenda-item]").filter(has_text=loan.reference)
    item.get_by_role("link", name="Start the report").click()
    expect(page.locator("[data-testid=report-form]")).to_be_visible()

    # the report, a photo attached half-way (the unsaved report stays as typed), the rest
    _fill_visit(page, method="business")
    page.locator("#id_place").fill("The shop on 五四路")
    page.locator("[data-testid=upload-form] input[type=file]").set_input_files(str(photo))
    page.locator("[data-testid=upload-form] button[type=submit]").click()
    expect(page.locator("[data-testid=attachments]")).to_contain_text("shopfront.jpg")
    # The agenda opens the report without starting it (the page the phone keeps): the first
    # photo starts it, saving the draft typed so far with the photo.
    expect(page.locator(".messages")).to_contain_text("Draft saved. Attached.")
    expect(page.locator("#id_place")).to_have_value("The shop on 五四路")
    page.locator("#id_findings").fill("Sales down by half since the new mall opened.")
    page.locator("#id_recommended_tier").select_option("special_mention")
    page.locator("[data-testid=submit-report]").click()

    expect(page.locator("[data-testid=report]")).to_contain_text("The shop on 五四路")
    expect(page.locator("img.report-photo")).to_have_count(1)
    report = InspectionReport.objects.get(loan=loan)
    assert report.status == "submitted"
    assert report.attachments.get().original_name == "shopfront.jpg"

    page.goto("/risk/ledger/")
    row = page.locator("[data-testid=ledger] tr").filter(has_text=loan.reference)
    expect(row.filter(has_text="Routine inspection")).to_contain_text("Submitted")

    # another person, a risk manager, approves the proposal the report made
    _switch_user(page, risk_manager.username)
    page.goto("/risk/proposals/")
    proposal = page.locator("[data-testid=proposal]").filter(has_text=loan.reference)
    expect(proposal).to_contain_text("Sales down by half")
    proposal.get_by_role("button", name="Approve").click()
    expect(page.locator("[data-testid=proposal]").filter(has_text=loan.reference)).to_have_count(0)

    page.goto(f"/loans/{loan.pk}/")
    expect(page.locator("[data-testid=final-tier]")).to_contain_text("Special mention")
    assert LoanRiskState.objects.get(loan=loan).tier == "special_mention"


def test_a_default_follow_up_to_an_approved_collection_plan(
    page, officer, supervisor, product, branch
):
    today = timezone.localdate()
    loan = book_loan(
        borrower=make_person("郑失联"),
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=today - timedelta(days=100),
    )
    _handover_done(loan)
    classify_portfolio(as_of=today)
    schedule_inspections(as_of=today)
    follow_up = Inspection.objects.get(loan=loan, kind="default_follow_up", status="open")

    login(page, officer.username)
    page.goto("/risk/agenda/")
    item = page.locator(f"[data-inspection='{follow_up.pk}']")
    expect(item).to_contain_text("Default follow-up")
    item.get_by_role("link", name="Start the report").click()

    # an attempt to reach the borrower, with a promise to pay
    attempt = page.locator("[data-testid=attempt-form]")
    attempt.locator("select[name=attempt-method]").select_option("phone")
    attempt.locator("textarea[name=attempt-outcome]").fill("Answered; lost his main customer.")
    attempt.locator("input[name=attempt-promise_on]").fill((today + timedelta(days=7)).isoformat())
    attempt.locator("input[name=attempt-promise_amount]").fill("3000")
    attempt.get_by_role("button", name="Log the attempt").click()
    expect(page.locator("[data-testid=attempts]")).to_contain_text("lost his main customer")

    _fill_visit(page, method="phone")
    page.locator("#id_default_reason").select_option("business")
    page.locator("#id_risk_judgement").fill("Willing, short of cash for three months.")
    page.locator("#id_findings").fill("Two instalments missed; business shrinking.")
    page.locator("[data-testid=submit-report]").click()

    # from the report, a collection plan for a supervisor to approve
    page.locator("[data-testid=propose-plan]").click()
    form = page.locator("[data-testid=plan-form]")
    form.locator("select[name=kind]").select_option("collection")
    form.locator("textarea[name=summary]").fill("Weekly calls; the guarantor after a month.")
    form.locator("input[name=step_1_action]").fill("Collect the promised 3000")
    form.locator("input[name=step_1_on]").fill((today + timedelta(days=7)).isoformat())
    form.locator("input[name=step_1_amount]").fill("3000")
    form.locator("input[name=step_2_action]").fill("Visit the guarantor")
    form.locator("input[name=step_2_on]").fill((today + timedelta(days=30)).isoformat())
    form.get_by_role("button", name="Send for approval").click()
    expect(page.locator("[data-testid=plan-status]")).to_have_text("Awaiting approval")
    expect(page.locator("[data-testid=plan-decide-form]")).to_have_count(0)

    _switch_user(page, supervisor.username)
    page.goto("/risk/plans/")
    page.locator("[data-testid=plans]").get_by_role("link", name=loan.reference).click()
    expect(page.locator("[data-testid=steps] tbody tr")).to_have_count(2)
    page.locator("[data-testid=plan-decide-form] textarea[name=comment]").fill("Agreed.")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("[data-testid=plan-status]")).to_have_text("Approved")

    plan = CollectionPlan.objects.get(loan=loan)
    assert (plan.status, plan.decided_by, plan.author) == ("approved", supervisor, officer)
    assert plan.report.inspection == follow_up
    follow_up.refresh_from_db()
    assert follow_up.status == "done"
