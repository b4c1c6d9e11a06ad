"""Each role sees its landing page in English and Chinese; five failed logins lock the account."""

import logging

import pytest
from axes.models import AccessFailureLog

from tests.utils import PASSWORD, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANDINGS = {
    "officer": ("landing-loan-officer", "My work today", "今日工作"),
    "risk_manager": ("landing-risk-manager", "Portfolio risk", "资产风险"),
    "supervisor": ("landing-supervisor", "Collection plans", "催收方案"),
    "admin_user": ("landing-admin", "Administration", "系统管理"),
}


@pytest.mark.parametrize("role_fixture", list(LANDINGS))
def test_each_role_sees_its_landing_page_in_both_languages(page, request, role_fixture):
    user = request.getfixturevalue(role_fixture)
    testid, english, chinese = LANDINGS[role_fixture]

    login(page, user.username)
    section = page.locator(f"[data-testid={testid}]")
    section.wait_for()
    assert english in section.inner_text()

    # Switch language from the navbar (collapsed on a phone).
    page.click("button.navbar-toggler")
    with page.expect_navigation():
        page.select_option("#main-nav #language-select", "zh-hans")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert chinese in page.locator(f"[data-testid={testid}]").inner_text()


def test_five_failed_logins_lock_the_account(page, officer, caplog):
    caplog.set_level(logging.WARNING, logger="daihou.security")
    for _ in range(5):
        login(page, officer.username, "not-the-password")
    assert page.locator("[data-testid=locked-out]").is_visible()

    login(page, officer.username, PASSWORD)
    assert page.locator("[data-testid=locked-out]").is_visible()
    assert AccessFailureLog.objects.filter(username=officer.username, locked_out=True).exists()
    assert any(officer.username in r.getMessage() for r in caplog.records)
