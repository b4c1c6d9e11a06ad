"""The portfolio import in the browser (issue 9): a risk manager uploads the CSV files, sees
every error of a broken set, uploads the corrected one, sees the preview, confirms."""

from __future__ import annotations

import csv
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect

from loans.models import Loan
from portfolio.importing import TABLE_ORDER
from postloan.models import ClassificationRun
from tests.utils import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "portfolio_100"


def _files(folder: Path) -> list[str]:
    return [str(folder / f"{name}.csv") for name in TABLE_ORDER]


def test_a_risk_manager_imports_a_book_after_fixing_its_errors(page, risk_manager, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(FIXTURE, broken, ignore=shutil.ignore_patterns("*.py"))
    with open(broken / "loans.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[1][rows[0].index("principal")] = "12.345"
    with open(broken / "loans.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)

    # at a desk: importing a book is no phone job (and the menu is not collapsed)
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, risk_manager.username)
    page.goto("/")
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page).to_have_url(re.compile(r"/loans/import/$"))

    # a broken set: every error with its place, nothing to confirm
    page.locator("[data-testid=import-form] input[type=file]").set_input_files(_files(broken))
    page.locator("[data-testid=import-form] button[type=submit]").click()
    error = page.locator("[data-testid=import-error]")
    expect(error).to_have_count(1)
    expect(error).to_contain_text("loans.csv")
    expect(error).to_contain_text("principal")
    expect(error.locator("td").nth(1)).to_have_text("2")
    expect(page.locator("[data-testid=confirm-import]")).to_have_count(0)
    page.get_by_role("button", name="Start again").click()

    # the corrected set: what would be created, then the import itself
    page.locator("[data-testid=import-form] input[type=file]").set_input_files(_files(FIXTURE))
    page.locator("[data-testid=import-form] button[type=submit]").click()
    loans = page.locator("[data-testid=count-loans]")
    expect(loans.locator("[data-testid=created]")).to_have_text("100")
    expect(page.locator("[data-testid=count-repayments] [data-testid=updated]")).to_have_text("0")
    assert not Loan.objects.exists()
    page.locator("[data-testid=confirm-import]").click()
    expect(page.locator("[data-testid=import-done]")).to_contain_text("classified")
    expect(loans.locator("[data-testid=created]")).to_have_text("100")
    assert Loan.objects.count() == 100
    assert ClassificationRun.objects.filter(trigger="import").exists()


@pytest.mark.clock(date(2025, 8, 12))
def test_a_risk_manager_imports_as_of_a_cut_over_date_after_a_wrong_header(
    page, risk_manager, tmp_path
):
    from tests.portfolio.test_import_as_of import a_small_book

    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, risk_manager.username)
    page.goto("/loans/import/")
    form = page.locator("[data-testid=import-form]")
    # a loans.csv whose header is not the table's: the preview says so, no error page
    wrong = tmp_path / "wrong" / "loans.csv"
    wrong.parent.mkdir()
    wrong.write_text("reference,borrower,amount\nDK-1,KH-1,1000.00\n", encoding="utf-8")
    form.locator("input[type=file]").set_input_files([str(wrong)])
    form.locator("button[type=submit]").click()
    error = page.locator("[data-testid=import-error]")
    expect(error).to_have_count(1)
    expect(error).to_contain_text("Unknown columns 'reference', 'borrower', 'amount'.")
    expect(error).to_contain_text("Missing columns 'ref', 'borrower_ref'")
    page.get_by_role("button", name="Start again").click()
    # the book as it stood at the end of 30 June, a date chosen on the form (today by default)
    date_field = page.locator("[data-testid=import-form] input[name=as_of]")
    expect(date_field).to_have_value("2025-08-12")
    date_field.fill("2025-06-30")
    a_small_book(tmp_path / "book")
    files = sorted(str(file) for file in (tmp_path / "book").glob("*.csv"))
    form.locator("input[type=file]").set_input_files(files)
    form.locator("button[type=submit]").click()
    expect(page.locator("[data-testid=import-as-of]")).to_contain_text("2025-06-30")
    page.locator("[data-testid=confirm-import]").click()
    expect(page.locator("[data-testid=import-done]")).to_contain_text("classified as of 2025-06-30")
    assert ClassificationRun.objects.get().as_of == date(2025, 6, 30)
    assert Loan.objects.count() == 2
