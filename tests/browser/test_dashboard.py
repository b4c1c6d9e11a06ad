"""The risk manager on the dashboard (issue 8), on a phone: a past month end, a click on a
cell of the migration matrix, the loans in it; then the same in Chinese."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from postloan.reporting.snapshots import snapshot_portfolio
from tests.factories import make_person
from tests.postloan.helpers import book, pay_instalments
from tests.utils import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _loan(officer, product, branch, name):
    """¥120,000 at 0%, ¥10,000 of principal due on the 15th of each month from April."""
    return book(
        officer,
        product=product,
        branch=branch,
        borrower=make_person(name),
        principal=Decimal("120000"),
        annual_rate=Decimal("0"),
        method="equal_principal",
        disbursed_on=date(2026, 3, 15),
    )


def test_the_risk_manager_drills_into_a_migration_cell_in_english_and_chinese(
    page, risk_manager, officer, product, branch
):
    # given: one loan that kept paying, two that slipped from normal (2 missed) to special
    # mention (3 missed) during October
    kept = _loan(officer, product, branch, "陈守信")
    pay_instalments(kept, 6, date(2026, 9, 15))
    pay_instalments(kept, 1, date(2026, 10, 15))
    slipped = [_loan(officer, product, branch, name) for name in ("林晚还", "赵拖欠")]
    for loan in slipped:
        pay_instalments(loan, 4, date(2026, 9, 1))
    snapshot_portfolio(month_end=date(2026, 9, 30))
    snapshot_portfolio(month_end=date(2026, 10, 31))

    problems = []  # script errors and CSP violations (the chart is drawn without eval)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and not message.location["url"].endswith("/favicon.ico")
            else None
        ),
    )

    login(page, risk_manager.username)
    page.goto("/risk/dashboard/?period=2026-10-31")
    expect(page.locator("[data-testid=total-loans]")).to_have_text("3")
    expect(page.locator("#trend-chart")).to_be_visible()
    matrix = page.locator("[data-testid=migration-matrix]")
    expect(matrix.locator("[data-testid=cell-normal-normal]")).to_have_text("1")

    # when: the risk manager clicks the cell normal → special mention
    matrix.locator("[data-testid=cell-normal-special_mention]").click()

    # then: the two loans that slipped, and only those
    expect(page.locator("[data-testid=cell-title]")).to_contain_text("Normal → Special mention")
    rows = page.locator("[data-testid=cell-loans] tbody tr")
    expect(rows).to_have_count(2)
    for loan in slipped:
        expect(rows.filter(has_text=loan.reference)).to_contain_text(loan.borrower.name)
    expect(rows.filter(has_text=kept.reference)).to_have_count(0)

    # and in Chinese (the navbar is collapsed on a phone)
    page.click("button.navbar-toggler")
    with page.expect_navigation():
        page.select_option("#main-nav #language-select", "zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("[data-testid=cell-title]")).to_contain_text("正常 → 关注")
    expect(page.locator("[data-testid=cell-loans] tbody tr")).to_have_count(2)

    # back on the dashboard, the tiers by their Chinese names
    page.goto("/risk/dashboard/?period=2026-10-31")
    tiers = page.locator("[data-testid=tier-table]")
    for label in ("正常", "关注", "次级", "可疑", "损失"):
        expect(tiers).to_contain_text(label)
    page.locator("[data-testid=migration-matrix] [data-testid=cell-normal-normal]").click()
    expect(page.locator("[data-testid=cell-title]")).to_contain_text("正常 → 正常")
    expect(page.locator("[data-testid=cell-loans] tbody tr")).to_have_count(1)
    expect(page.locator("[data-testid=cell-loans]")).to_contain_text(kept.reference)
    assert problems == []


def test_with_many_officers_the_risk_manager_finds_one_by_name(page, risk_manager, make_user):
    from django.utils import timezone

    from common.roles import Role
    from postloan.models import OfficerScore

    for i in range(1, 56):
        user = make_user(
            f"lo-{i:02d}", Role.LOAN_OFFICER, first_name="Officer", last_name=f"{i:02d}"
        )
        OfficerScore.objects.create(
            officer=user, managed_loans=i, managed_balance=Decimal(i), as_of=timezone.localdate()
        )
    login(page, risk_manager.username)
    page.goto("/risk/dashboard/")
    expect(page.locator("[data-testid=scorecard-pages]")).to_contain_text("55")
    officer_select = page.locator("#id_officer option")
    expect(officer_select).to_have_count(1)  # "all" only: no select of every officer

    # when: the risk manager types part of a name, picks the officer and shows the dashboard
    page.fill("[data-testid=officer-search]", "Officer 42")
    expect(officer_select).to_have_count(2)
    page.select_option("#id_officer", label="Officer 42 (lo-42)")
    page.click("[data-testid=dashboard-filters] button[type=submit]")

    # then: that officer's scorecard alone, the choice kept in the filter
    rows = page.locator("[data-testid=scorecards] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Officer 42")
    expect(page.locator("#id_officer option:checked")).to_have_text("Officer 42")
