"""Portfolio import (issue 16): a header that is not the table's — unknown columns, missing
ones, none at all — is one translated error for its file, from the command, the function
and the upload page alike, for CSV files and workbook sheets; never a 500."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from loans.models import Loan
from portfolio.importing import TABLES, import_portfolio

pytestmark = pytest.mark.django_db

WRONG_HEADER = "reference,borrower,amount\nDK-1,KH-1,1000.00\nDK-2,KH-2,2000.00\n"
LOAN_COLUMNS = TABLES["loans"].column_names
REQUIRED = [c.name for c in TABLES["loans"].columns if c.required]


def _workbook(path, sheets: dict[str, list[list]]):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def _expected_message(unknown: list[str], missing: list[str]) -> str:
    quoted = lambda names: ", ".join(f"'{n}'" for n in names)  # noqa: E731
    return " ".join(
        [
            translation.ngettext(
                "Unknown column %(columns)s.", "Unknown columns %(columns)s.", len(unknown)
            )
            % {"columns": quoted(unknown)},
            translation.ngettext(
                "Missing column %(columns)s.", "Missing columns %(columns)s.", len(missing)
            )
            % {"columns": quoted(missing)},
            gettext("The columns of %(table)s are: %(columns)s.")
            % {"table": "loans", "columns": ", ".join(LOAN_COLUMNS)},
        ]
    )


def test_an_unexpected_csv_header_is_one_error_for_the_file(tmp_path):
    (tmp_path / "loans.csv").write_text(WRONG_HEADER, encoding="utf-8")
    with translation.override("zh-hans"):
        result = import_portfolio(tmp_path)
        expected = _expected_message(["reference", "borrower", "amount"], REQUIRED)
    assert [(e.file, e.row, e.column, e.message) for e in result.errors] == [
        ("loans.csv", 1, "", expected)
    ]
    assert "'amount'" in expected and "'borrower_ref'" in expected
    assert expected != _expected_message(["reference", "borrower", "amount"], REQUIRED)  # zh
    assert result.counts["loans"].rows == 2
    assert not Loan.objects.exists()


def test_one_misspelt_column_names_it_and_the_one_it_should_be(tmp_path):
    header = ",".join("princpal" if c == "principal" else c for c in REQUIRED)
    (tmp_path / "loans.csv").write_text(header + "\n", encoding="utf-8")
    result = import_portfolio(tmp_path)
    assert [e.message for e in result.errors] == [_expected_message(["princpal"], ["principal"])]
    assert result.errors[0].message.startswith("Unknown column 'princpal'. Missing column ")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "The table is empty: its first row must name its columns."),
        ("\n\n", "The table is empty: its first row must name its columns."),
        (",,\n", "The table is empty: its first row must name its columns."),
    ],
)
def test_an_empty_file_is_one_error_for_the_file(tmp_path, content, problem):
    (tmp_path / "loans.csv").write_text(content, encoding="utf-8")
    result = import_portfolio(tmp_path)
    assert [(e.file, e.row, e.column) for e in result.errors] == [("loans.csv", 1, "")]
    assert result.errors[0].message.startswith(problem)
    assert "ref, borrower_ref" in result.errors[0].message


def test_a_header_only_file_is_a_table_without_rows(tmp_path):
    # what an export writes for an empty table: nothing to import, and no error
    (tmp_path / "collateral.csv").write_text(
        ",".join(TABLES["collateral"].column_names) + "\n", encoding="utf-8"
    )
    (tmp_path / "guarantors.csv").write_text("reference,name\n", encoding="utf-8")
    result = import_portfolio(tmp_path)
    assert [(e.file, e.row) for e in result.errors] == [("guarantors.csv", 1)]
    assert "'reference'" in result.errors[0].message
    assert result.counts["collateral"].rows == 0


def test_a_workbook_sheet_with_an_unexpected_header_is_one_error(tmp_path):
    workbook = _workbook(
        tmp_path / "book.xlsx",
        {
            "loans": [[], ["reference", "borrower", "amount"], ["DK-1", "KH-1", 1000]],
            "repayments": [],
        },
    )
    result = import_portfolio(workbook)
    assert [(e.file, e.row, e.column) for e in result.errors] == [
        ("book.xlsx: loans", 2, ""),  # the header is the first row that has a value
        ("book.xlsx: repayments", 1, ""),
    ]
    assert result.errors[0].message == _expected_message(
        ["reference", "borrower", "amount"], REQUIRED
    )
    assert result.errors[1].message.startswith("The table is empty")


def test_the_command_reports_the_header_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "loans.csv").write_text(WRONG_HEADER, encoding="utf-8")
    with pytest.raises(CommandError, match="1 error"):
        call_command("import_portfolio", str(tmp_path))
    assert "loans.csv row 1: Unknown columns 'reference', 'borrower', 'amount'." in (
        capsys.readouterr().err
    )
    assert not Loan.objects.exists()


def test_the_upload_page_previews_an_unexpected_header_as_an_error(client, risk_manager):
    client.force_login(risk_manager)
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("loans.csv", WRONG_HEADER.encode(), content_type="text/csv")
    assert client.post(reverse("portfolio:import"), {"files": [upload]}).status_code == 302
    preview = client.get(reverse("portfolio:import_preview"), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert preview.status_code == 200
    with translation.override("zh-hans"):
        expected = _expected_message(["reference", "borrower", "amount"], REQUIRED)
    assert [(e.file, e.row, e.message) for e in preview.context["errors"]] == [
        ("loans.csv", 1, expected)
    ]
    assert b"confirm-import" not in preview.content
    # and confirming anyway (a stale page) writes nothing either
    done = client.post(reverse("portfolio:import_preview"), {"action": "confirm"})
    assert done.status_code == 200 and not done.context["done"]
    assert not Loan.objects.exists()
