"""Portfolio export (issue 9): the round trip export → import into an empty database →
export again gives identical files; per-loan values are the classification's, for today
and for a past date; what the browser export shows; CSV injection neutralised."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from loans import ledger
from loans.models import Instalment, Loan, Repayment
from portfolio.exporting import PER_LOAN_HEADER, export_loans, export_tables
from portfolio.importing import TABLE_ORDER, import_portfolio
from postloan.models import ClassificationRun, Inspection, LoanRiskState, RiskFlag
from postloan.risk.rules import quantitative_tier
from tests.factories import book_loan, make_guarantor, make_person

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "portfolio_100"
# Settings and policies the migrations create: an empty book keeps them.
KEEP = {
    "loans_loanproduct",
    "postloan_inspectionpolicyrule",
    "postloan_provisionrate",
}


def _empty_database() -> None:
    """Every loan, party, officer and post-loan record gone, ids starting again at 1."""
    tables = [
        model._meta.db_table
        for model in apps.get_models()
        if model._meta.app_label in ("loans", "borrowers", "postloan")
        and not model._meta.proxy
        and model._meta.db_table not in KEEP
        and not model._meta.db_table.endswith("event")
    ]
    with connection.cursor() as cursor:
        # The test's transaction holds deferred foreign-key checks: run them first.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {', '.join(tables)}, auth_user RESTART IDENTITY CASCADE")
        cursor.execute("DELETE FROM loans_loanproduct")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    assert not Loan.objects.exists()


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.reader(handle))


def _files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / f"{name}.csv").read_bytes() for name in TABLE_ORDER}


@pytest.fixture
def imported(db):
    result = import_portfolio(FIXTURE)
    assert result.ok, result.errors[:5]
    return result


def test_the_round_trip_gives_identical_files(db, tmp_path):
    # given the book imported into an empty database (ids from 1: the monthly inspection
    # sample is drawn by a hash of the loan id), exported as tables and per loan
    _empty_database()
    assert import_portfolio(FIXTURE).ok
    call_command("export_portfolio", "--tables", "--out", str(tmp_path / "first"))
    call_command("export_portfolio", "--out", str(tmp_path / "first.csv"))
    # when it is imported into an empty database and exported again
    _empty_database()
    result = import_portfolio(tmp_path / "first")
    assert result.ok, result.errors[:5]
    call_command("export_portfolio", "--tables", "--out", str(tmp_path / "second"))
    call_command("export_portfolio", "--out", str(tmp_path / "second.csv"))
    # then
    first, second = _files(tmp_path / "first"), _files(tmp_path / "second")
    for name in TABLE_ORDER:
        assert first[name] == second[name], name
    assert len(_read(tmp_path / "first" / "loans.csv")) == 101
    assert (tmp_path / "first.csv").read_bytes() == (tmp_path / "second.csv").read_bytes()
    assert len(_read(tmp_path / "first.csv")) == 101


def test_the_round_trip_through_a_workbook(imported, tmp_path):
    export_tables(tmp_path / "book.xlsx")
    export_tables(tmp_path / "first")
    _empty_database()
    assert import_portfolio(tmp_path / "book.xlsx", classify=False).ok
    export_tables(tmp_path / "second")
    assert _files(tmp_path / "first") == _files(tmp_path / "second")


def test_per_loan_values_are_the_classification_of_today(imported, tmp_path):
    # given a flag raised on a borrower, reaching their loan with the automatic ones
    loan = Loan.objects.get(reference="DK-0001")
    RiskFlag.objects.create(
        factor=3,
        borrower=loan.borrower,
        source="manual",
        evidence="employer closed",
        raised_on=timezone.localdate(),
    )
    # when
    export_loans(as_of=timezone.localdate(), out=tmp_path / "today.csv")
    rows = _read(tmp_path / "today.csv")
    # then
    assert rows[0] == PER_LOAN_HEADER
    by_ref = {row[0]: dict(zip(PER_LOAN_HEADER, row, strict=True)) for row in rows[1:]}
    assert len(by_ref) == 100
    for state in LoanRiskState.objects.select_related("loan", "loan__borrower"):
        row = by_ref[state.loan.reference]
        assert row["borrower_ref"] == state.loan.borrower.reference
        assert row["status"] == state.loan.status
        assert Decimal(row["outstanding_principal"]) == state.outstanding_principal
        assert int(row["consecutive_missed"]) == state.consecutive_missed
        assert (row["tier"], row["quantitative_tier"]) == (state.tier, state.quantitative_tier)
        assert row["non_performing"] == (
            "true" if state.tier in ("substandard", "doubtful", "loss") else "false"
        )
        factors = sorted(
            set(
                RiskFlag.objects.filter(loan=state.loan, resolved_on=None).values_list(
                    "factor", flat=True
                )
            )
            | ({3} if state.loan.borrower_id == loan.borrower_id else set())
        )
        assert row["open_risk_factors"] == ";".join(str(f) for f in factors)
        due = (
            Inspection.objects.filter(loan=state.loan, status="open")
            .order_by("due_on")
            .values_list("due_on", flat=True)
            .first()
        )
        assert row["next_inspection_due"] == (due.isoformat() if due else "")
    assert (
        by_ref["DK-0001"]["open_risk_factors"].startswith("1;3")
        or by_ref["DK-0001"]["open_risk_factors"] == "3"
    )


def test_a_past_date_is_computed_without_a_run_or_touching_the_state(imported, tmp_path):
    past = date(2026, 6, 30)
    state_before = list(LoanRiskState.objects.order_by("loan_id").values_list())
    runs_before = list(ClassificationRun.objects.values_list())
    # when
    count = export_loans(as_of=past, out=tmp_path / "past.csv")
    # then the date was computed, not classified: no run recorded, the state is today's
    assert list(ClassificationRun.objects.values_list()) == runs_before
    assert list(LoanRiskState.objects.order_by("loan_id").values_list()) == state_before
    # and every loan disbursed by then is as the pure rule says on that date
    rows = {row[0]: row for row in _read(tmp_path / "past.csv")[1:]}
    loans = Loan.objects.filter(disbursed_on__lte=past)
    assert count == loans.count() == len(rows)
    dues, payments = defaultdict(list), defaultdict(list)
    for i in Instalment.objects.all():
        dues[i.loan_id].append(
            ledger.InstalmentDue(i.seq, i.due_on, i.principal_due, i.interest_due)
        )
    for r in Repayment.objects.all():
        payments[r.loan_id].append(ledger.Payment(r.pk, r.paid_on, r.amount))
    for loan in loans:
        position = ledger.position(
            dues[loan.pk], payments[loan.pk], as_of=past, grace_days=loan.grace_days
        )
        row = dict(zip(PER_LOAN_HEADER, rows[loan.reference], strict=True))
        assert int(row["consecutive_missed"]) == position.consecutive_missed_periods
        assert row["quantitative_tier"] == quantitative_tier(position.consecutive_missed_periods)
        assert Decimal(row["outstanding_principal"]) == position.outstanding_principal
        closed = loan.closed_on is not None and loan.closed_on <= past
        assert row["status"] == (loan.status if closed else "active")


def test_the_export_as_xlsx(imported, tmp_path):
    from openpyxl import load_workbook

    call_command("export_portfolio", "--out", str(tmp_path / "today.xlsx"))
    sheet = load_workbook(tmp_path / "today.xlsx", read_only=True)["portfolio"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == PER_LOAN_HEADER and len(rows) == 101


# --- In the browser ----------------------------------------------------------------------------


def _csv_response(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_the_export_shows_only_the_loans_a_user_may_see(
    client, officer, other_officer, risk_manager, product, branch
):
    mine = book_loan(borrower=make_person("吴明"), officer=officer, product=product, branch=branch)
    theirs = book_loan(
        borrower=make_person("郑丽"), officer=other_officer, product=product, branch=branch
    )
    client.force_login(officer)
    rows = _csv_response(client.get(reverse("portfolio:export"), {"format": "csv"}))
    assert [row[0] for row in rows[1:]] == [mine.reference]
    client.force_login(risk_manager)
    rows = _csv_response(client.get(reverse("portfolio:export")))
    assert sorted(row[0] for row in rows[1:]) == sorted([mine.reference, theirs.reference])
    response = client.get(reverse("portfolio:export"), {"format": "xlsx", "as_of": "2099-01-01"})
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f'portfolio-{timezone.localdate()}.xlsx"')


def test_the_loan_list_links_to_the_export_of_the_book_it_shows(
    client, officer, other_officer, product, branch
):
    mine = book_loan(borrower=make_person("冯伟"), officer=officer, product=product, branch=branch)
    book_loan(borrower=make_person("陈静"), officer=other_officer, product=product, branch=branch)
    client.force_login(officer)
    page = client.get(reverse("loans:list")).content.decode()
    links = re.findall(r'href="([^"]*/export/[^"]*)"', page)
    assert sorted(link.split("format=")[1] for link in links) == ["csv", "xlsx"]
    (csv_link,) = [link for link in links if link.endswith("csv")]
    rows = _csv_response(client.get(csv_link.replace("&amp;", "&")))
    assert [row[0] for row in rows[1:]] == [mine.reference]


def test_text_that_a_spreadsheet_would_run_is_neutralised(client, risk_manager, tmp_path):
    folder = tmp_path / "book"
    folder.mkdir()
    from tests.factories import valid_resident_id

    (folder / "officers.csv").write_text("username,full_name,branch\nli.na,李娜,FZ01\n")
    (folder / "products.csv").write_text("code,name\nXW,小微贷\n")
    (folder / "borrowers.csv").write_text(
        "ref,kind,name,id_number,phone,address\n"
        f"=HYPERLINK(1),person,张三,{valid_resident_id(8001)},,\n"
    )
    (folder / "loans.csv").write_text(
        "ref,borrower_ref,product_code,principal,annual_rate,term_months,disbursed_on,"
        "repayment_method,managing_officer,originating_officer\n"
        "@SUM(1),=HYPERLINK(1),XW,10000.00,12,6,2026-05-01,bullet,li.na,li.na\n"
    )
    assert import_portfolio(folder).ok
    client.force_login(risk_manager)
    rows = _csv_response(client.get(reverse("portfolio:export")))
    assert rows[1][:2] == ["'@SUM(1)", "'=HYPERLINK(1)"]
    # the import format keeps values as they are (to be imported again), as text cells
    export_tables(tmp_path / "out.xlsx")
    from openpyxl import load_workbook

    cell = load_workbook(tmp_path / "out.xlsx")["loans"]["A2"]
    assert (cell.value, cell.data_type) == ("@SUM(1)", "s")


def test_a_guarantors_flag_reaches_the_loans_it_backs(tmp_path, officer, product, branch):
    guarantor = make_guarantor("冯强")
    loan = book_loan(
        borrower=make_person("韩梅"),
        officer=officer,
        product=product,
        branch=branch,
        guarantors=[guarantor],
    )
    RiskFlag.objects.create(
        factor=13,
        guarantor=guarantor,
        source="manual",
        evidence="bankrupt",
        raised_on=timezone.localdate(),
    )
    export_loans(as_of=timezone.localdate(), out=tmp_path / "out.csv")
    row = dict(zip(PER_LOAN_HEADER, _read(tmp_path / "out.csv")[1], strict=True))
    assert (row["loan_ref"], row["open_risk_factors"]) == (loan.reference, "13")
