"""The officer's pages on a phone (issue 18): at 360×740, in English and in Chinese, no page
scrolls sideways and no table header takes more than two lines; the report shows one section
at a time with its progress, previous/next and a submit bar that stays in view, and every
section without JavaScript or on a desk."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import expect

from loans import services as loan_services
from postloan.fieldwork import services as visits
from postloan.inspections.planning import schedule_inspections
from postloan.models import Inspection
from postloan.risk.nightly import classify_portfolio
from postloan.risk.services import flag_raise
from tests.factories import book_loan, make_guarantor, make_person
from tests.utils import PASSWORD, login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(date(2026, 11, 20)),
]

TODAY = date(2026, 11, 20)

# What a page may not do on a phone: scroll sideways; and a header of more than two lines
# (Chinese headers broken one character a line). A header's height is held to two of its
# own lines, its padding and border.
LAYOUT = """() => {
  const heights = Array.from(document.querySelectorAll("th")).map((th) => {
    const style = getComputedStyle(th);
    const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.5;
    const frame = ["paddingTop", "paddingBottom", "borderTopWidth", "borderBottomWidth"]
      .reduce((sum, side) => sum + parseFloat(style[side]), 0);
    const most = 2 * line + frame + 1;
    return {text: th.textContent.trim(), height: th.getBoundingClientRect().height, most};
  });
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    tallHeaders: heights.filter((h) => h.height > h.most).map((h) => h.text),
    // a table hiding its columns behind a sideways scroll of its own
    scrollingTables: Array.from(document.querySelectorAll(".table-responsive"))
      .filter((wrapper) => wrapper.scrollWidth > wrapper.clientWidth + 1)
      .map((wrapper) => wrapper.querySelector("table").dataset.testid),
    headers: heights.length,
  };
}"""


def _report(loan, officer, *, kind="routine"):
    inspection = Inspection.objects.create(
        loan=loan,
        kind=kind,
        slot=f"phone-{kind}",
        due_on=TODAY,
        assigned_to=officer,
        reason="sample" if kind == "routine" else "missed",
    )
    return visits.report_start(inspection=inspection, by=officer)


def _long_loan(officer, product, branch):
    """A loan with everything a page can show, long Chinese names and addresses included."""
    loan = book_loan(
        borrower=make_person(
            "欧阳建国",
            address="福建省福州市闽侯县上街镇大学城学府南路与乌龙江大道交叉口东南侧海西科技园",
            business_address="福建省福州市仓山区城门镇潘墩路188号海峡国际会展中心附近农贸市场三楼",
        ),
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 3, 1),
        guarantors=[make_guarantor("诸葛担保人")],
    )
    loan_services.collateral_add(
        loan=loan, kind="vehicle", description="重型载货汽车 闽A·12345 (2019)", by=officer
    )
    flag_raise(
        factor=3,
        evidence="主要供应商自十月起未付款,经营者称资金周转困难",
        by=officer,
        loan=loan,
        raised_on=TODAY,
    )
    return loan


@pytest.fixture
def book_officer(small_book, product, branch):
    """The generated book's officer, who may log in, with the night's tiers and the month's
    inspections planned, and one loan of every part."""
    officer = User.objects.get(username="generated.officer")
    officer.set_password(PASSWORD)
    officer.first_name, officer.last_name = "建华", "司马"
    officer.save()
    loan = _long_loan(officer, product, branch)
    classify_portfolio(as_of=TODAY)
    schedule_inspections(as_of=TODAY)
    return officer, loan, _report(loan, officer, kind="default_follow_up")


def _set_language(page, language: str) -> None:
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": page.url}]
    )


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_no_officer_page_scrolls_sideways_at_360_px(page, book_officer, supervisor, language):
    officer, loan, report = book_officer
    page.set_viewport_size({"width": 360, "height": 740})
    login(page, officer.username)
    expect(page.locator("[data-testid=login-form]")).to_have_count(0)
    _set_language(page, language)
    pages = [
        reverse("postloan:agenda"),
        reverse("loans:list"),
        loan.get_absolute_url(),
        reverse("postloan:report_edit", args=[report.pk]),
        reverse("postloan:ledger"),
        reverse("postloan:watchlist"),
        reverse("borrowers:list"),
        # the field app's own pages
        reverse("postloan:field_card", args=[loan.pk]),
        reverse("postloan:field_report", args=[report.inspection_id]),
        reverse("field_outbox"),
    ]
    for url in pages:
        _expect_phone_sized(page, url)
    page.goto(reverse("postloan:report_edit", args=[report.pk]))
    assert page.locator("html").get_attribute("lang") == language
    _expect_answers_on_one_line(page)

    # the open inspections are the managers' list, and a manager reads the dashboard and
    # the night's runs on a phone too
    page.context.clear_cookies()
    login(page, supervisor.username)
    expect(page.locator("[data-testid=login-form]")).to_have_count(0)
    _set_language(page, language)
    _expect_phone_sized(page, reverse("postloan:inspections"))
    # (their wide tables may scroll inside their box; the page itself may not)
    _expect_phone_sized(page, reverse("postloan:dashboard"), tables_may_scroll=True)
    _expect_phone_sized(page, reverse("portfolio:runs"), tables_may_scroll=True)


def _expect_phone_sized(page, url: str, *, tables_may_scroll: bool = False) -> None:
    page.goto(url)
    expect(page.locator("main")).to_be_visible()
    layout = page.evaluate(LAYOUT)
    assert layout["scrollWidth"] <= layout["innerWidth"], (url, layout)
    assert layout["tallHeaders"] == [], (url, layout)
    if not tables_may_scroll:
        assert layout["scrollingTables"] == [], (url, layout)


def _expect_answers_on_one_line(page) -> None:
    """Each item's three answers side by side, each a 44 px target, none wrapping or cut."""
    items = page.locator("[data-testid=checklist-item]:visible")
    assert items.count() > 0
    for n in range(items.count()):
        boxes = []
        for choice in items.nth(n).locator(".answer-choice").all():
            box = choice.bounding_box()
            fits = choice.evaluate("el => el.scrollWidth <= el.clientWidth")
            assert fits and box["height"] >= 44, (choice.inner_text(), box)
            boxes.append(box)
        assert len(boxes) == 3
        assert len({round(box["y"]) for box in boxes}) == 1, boxes


@pytest.fixture
def report(officer, product, branch):
    loan = _long_loan(officer, product, branch)
    return _report(loan, officer)


def _visible_sections(page) -> list[str]:
    # after a navigation, once the page's script has run (it runs before the load event)
    page.wait_for_load_state()
    return page.eval_on_selector_all(
        "[data-testid=report-section]",
        "all => all.filter((s) => s.checkVisibility()).map((s) => s.dataset.reportSection)",
    )


def test_the_report_shows_one_section_at_a_time_on_a_phone(page, officer, report):
    login(page, officer.username)
    page.goto(reverse("postloan:report_edit", args=[report.pk]))
    progress = page.locator("[data-testid=section-progress] [data-section-count]")
    bar = page.locator("[data-testid=submit-bar]")

    # the first section, the visit with it, its time prefilled with now (the clock is fixed)
    assert _visible_sections(page) == ["repayment"]
    expect(progress).to_have_text("1 / 7")
    expect(page.locator("[data-testid=section-prev]")).to_be_disabled()
    expect(page.locator("input[name=visited_at]")).to_have_value(re.compile(r"^2026-11-20T10:0\d$"))

    # next, and next again: one section at a time, the progress follows
    page.locator("[data-testid=section-next]").click()
    assert _visible_sections(page) == ["business"]
    expect(progress).to_have_text("2 / 7")
    for _ in range(2):
        page.locator("[data-testid=section-next]").click()
    assert _visible_sections(page) == ["people"]
    expect(progress).to_have_text("4 / 7")
    # the longest section scrolled to its end: the submit bar is still in view
    page.locator("[data-report-section=people] textarea").last.scroll_into_view_if_needed()
    page.mouse.wheel(0, 2000)
    expect(bar).to_be_in_viewport(ratio=1)
    expect(page.locator("[data-testid=save-draft]")).to_be_in_viewport()
    expect(page.locator("[data-testid=submit-report]")).to_be_in_viewport()

    # back
    page.locator("[data-testid=section-prev]").click()
    assert _visible_sections(page) == ["finances"]
    expect(progress).to_have_text("3 / 7")

    # the list goes straight to a section: the photos and risk factors, before the bar
    page.locator("[data-testid=section-jump]").select_option(index=5)
    assert _visible_sections(page) == ["files"]
    expect(page.locator("[data-testid=upload-form]")).to_be_visible()
    expect(page.locator("[data-testid=open-factors]")).to_contain_text("主要供应商")
    page.locator("[data-testid=section-next]").click()
    expect(progress).to_have_text("7 / 7")
    expect(page.locator("[data-testid=section-next]")).to_be_disabled()

    # "Show all" shows every section, and the page keeps the choice when it comes back
    page.locator("[data-testid=show-all-sections]").click()
    assert len(_visible_sections(page)) == 7
    expect(progress).to_be_hidden()
    page.reload()
    assert len(_visible_sections(page)) == 7
    page.locator("[data-testid=show-all-sections]").click()
    assert _visible_sections(page) == ["findings"]  # where the officer was


def test_a_refused_report_opens_at_the_section_to_correct(page, officer, report):
    login(page, officer.username)
    page.goto(reverse("postloan:report_edit", args=[report.pk]))
    # nothing answered: the submission is refused, the first item is marked
    page.locator("[data-testid=submit-report]").click()
    expect(page.locator(".messages")).to_contain_text("See the fields marked")
    assert _visible_sections(page) == ["repayment"]
    page.locator("[data-testid=section-jump]").select_option(index=2)
    page.locator("[data-testid=checklist-item][data-item='4'] input[value=concern]").check()
    page.locator("[data-testid=save-draft]").click()
    expect(page.locator(".messages")).to_contain_text("Draft saved.")
    assert _visible_sections(page) == ["finances"]  # back where the officer was


def test_every_section_shows_without_javascript_and_on_a_desk(
    browser, live_server, officer, report
):
    url = live_server.url + reverse("postloan:report_edit", args=[report.pk])
    for options in (
        {"viewport": {"width": 390, "height": 844}, "java_script_enabled": False},
        {"viewport": {"width": 1366, "height": 768}},
    ):
        context = browser.new_context(base_url=live_server.url, **options)
        page = context.new_page()
        login(page, officer.username)
        page.goto(url)
        assert len(_visible_sections(page)) == 7, options
        expect(page.locator("[data-testid=section-progress]")).to_be_hidden()
        expect(page.locator("[data-testid=section-jump]")).to_be_hidden()
        context.close()
