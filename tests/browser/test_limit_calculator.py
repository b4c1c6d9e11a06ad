"""The conversation the case study says went wrong: show the limits before anything is filed."""

import pytest
from playwright.sync_api import expect

from borrowers.models import Borrower
from tests.factories import make_person
from tests.utils import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_group_limits_and_the_drop_out_are_shown_live(page, risk_manager, product):
    yan, chen, lin = make_person("严国华"), make_person("陈美玲"), make_person("林阿福")
    login(page, risk_manager.username)
    page.goto("/borrowers/limits/")

    page.select_option("#id_product", str(product.pk))
    page.check("input[name=structure][value=joint_group]")
    page.select_option("#id_members", [str(yan.pk), str(chen.pk), str(lin.pk)])

    total = page.locator("[data-testid=limit-result] > .table-responsive [data-testid=limit-total]")
    expect(total).to_have_text("¥1,500,000.00")
    scenarios = page.locator("[data-testid=drop-out-scenario]")
    assert scenarios.count() == 3
    without_lin = scenarios.filter(has_text="林阿福").first.inner_text()
    assert "¥500,000.00" in without_lin
    assert "no longer a joint group" in without_lin


def test_one_guarantor_adds_no_limit(page, officer, product):
    borrower, guarantor = make_person("严国华"), make_person("陈美玲")
    Borrower.objects.filter(pk__in=[borrower.pk, guarantor.pk]).update(created_by=officer)
    login(page, officer.username)
    page.goto("/borrowers/limits/")
    page.select_option("#id_product", str(product.pk))
    page.select_option("#id_borrower", str(borrower.pk))
    page.select_option("#id_guarantors", [str(guarantor.pk)])
    rows = page.locator("[data-testid=limit-row]")
    expect(rows).to_have_count(2)
    assert "¥500,000.00" in rows.nth(0).inner_text()
    assert "¥0.00" in rows.nth(1).inner_text()
    assert "¥500,000.00" in page.locator("[data-testid=limit-total]").inner_text()
