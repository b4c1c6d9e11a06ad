"""The import reads amounts as the portal's forms do (issue 16, hole 6): plain digits, at
most two decimals, optional thousands separators; never "1e3" or full-width digits."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from loans.models import Loan
from portfolio.importing import import_portfolio
from tests.portfolio.test_import import FIXTURE, _loan, append_rows

pytestmark = [pytest.mark.django_db, pytest.mark.clock(date(2026, 11, 20))]  # the fixture's day


@pytest.fixture
def book(tmp_path) -> Path:
    folder = tmp_path / "book"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns("*.py"))
    return folder


def test_amounts_and_rates_in_another_notation_are_refused_cell_by_cell(book):
    rows = append_rows(
        book,
        "loans",
        [
            _loan("DK-9101", principal="1e5"),
            _loan("DK-9102", principal="１０００００.００"),  # full-width digits
            _loan("DK-9103", annual_rate="１２"),
            _loan("DK-9104", term_months="１２"),
            _loan("DK-9105", principal="100,000.00"),  # plain, with separators: fine
            _loan("DK-9106", principal="10,00,000"),  # not grouped in thousands
        ],
    )

    result = import_portfolio(book, dry_run=True)

    found = {(e.row, e.column) for e in result.errors if e.file == "loans.csv"}
    assert found == {
        (rows[0], "principal"),
        (rows[1], "principal"),
        (rows[2], "annual_rate"),
        (rows[3], "term_months"),
        (rows[5], "principal"),
    }
    messages = {(e.row, e.column): e.message for e in result.errors}
    assert "1,234.56" in messages[rows[0], "principal"]


def test_an_amount_with_thousands_separators_is_imported(book):
    append_rows(book, "loans", [_loan("DK-9105", principal="100,000.00")])

    result = import_portfolio(book, classify=False)

    assert result.ok, result.errors[:3]
    assert Loan.objects.get(reference="DK-9105").principal == Decimal("100000.00")
