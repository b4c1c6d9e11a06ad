"""Portfolio import (issue 9): the 100-loan fixture classified as the pure rule says, every
kind of row error with its place and nothing written, idempotent re-imports, dry runs,
XLSX = CSV, a BOM and Chinese names, access. The allocation held to the pure ledger, on
this file's `imported` fixture: tests/loans/test_ledger_sql.py."""

from __future__ import annotations

import csv
import io
import shutil
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
from django.apps import apps
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from borrowers.models import Borrower, BorrowerFactChange, Guarantee, Guarantor, JointGroup
from common.roles import Role
from loans import ledger
from loans.models import Allocation, Handover, Loan, LoanProduct, Repayment
from loans.schedule import generate_schedule
from loans.services import default_first_due_on
from portfolio import importing
from portfolio.exporting import TABLE_QUERIES, export_tables
from portfolio.importing import FIRST_LOAD_TABLES, TABLE_ORDER, import_portfolio, staging
from postloan.models import ClassificationRun, LoanRiskState
from postloan.risk.rules import quantitative_tier
from tests.factories import valid_resident_id

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "portfolio_100"
APPS = ("loans", "borrowers", "postloan", "auth", "common")


def _today() -> date:
    return timezone.localdate()


def read_table(folder: Path, table: str) -> list[dict]:
    path = folder / f"{table}.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def append_rows(folder: Path, table: str, rows: list[list]) -> list[int]:
    """Append rows to a CSV table; returns their row numbers (the header is row 1)."""
    path = folder / f"{table}.csv"
    with open(path, newline="", encoding="utf-8-sig") as handle:
        count = sum(1 for _ in csv.reader(handle))
    with open(path, "a", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return list(range(count + 1, count + 1 + len(rows)))


def set_cell(folder: Path, table: str, row_number: int, column: str, value: str) -> None:
    path = folder / f"{table}.csv"
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    rows[row_number - 1][rows[0].index(column)] = value
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def table_counts() -> dict[str, int]:
    """Every table of the apps an import touches, audit events included."""
    counts = {}
    with connection.cursor() as cursor:
        for model in apps.get_models():
            if model._meta.app_label in APPS and not model._meta.proxy:
                table = model._meta.db_table
                cursor.execute(f"SELECT COUNT(*) FROM {table}")
                counts[table] = cursor.fetchone()[0]
    return counts


@pytest.fixture
def book(tmp_path) -> Path:
    """A copy of the fixture that a test may change."""
    folder = tmp_path / "book"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns("*.py"))
    return folder


def schema_of(tables) -> list[tuple]:
    """The tables' indexes and constraints, by name and definition."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
               FROM pg_constraint WHERE conrelid = ANY (%(t)s::regclass[])
               UNION ALL
               SELECT tablename, indexname, indexdef FROM pg_indexes
               WHERE tablename = ANY (%(t)s)
               ORDER BY 1, 2, 3""",
            {"t": list(tables)},
        )
        return cursor.fetchall()


@pytest.fixture(params=["incremental", "first load"])
def imported(request, db, settings):
    """The fixture imported row by row into the indexes and keys, and as a first load
    (indexes and keys built after the rows: common.bulkload)."""
    first_load = request.param == "first load"
    settings.DAIHOU_IMPORT_FIRST_LOAD_MIN_LOANS = 1 if first_load else 10**9
    schema = schema_of(FIRST_LOAD_TABLES)
    result = import_portfolio(FIXTURE)
    assert result.ok, result.errors[:5]
    assert any("First load" in note for note in result.notes) == first_load
    if first_load:  # the note counts the loans the import creates: all of the fixture's
        loans = len(read_table(FIXTURE, "loans"))
        assert any(f"First load ({loans} new loans)" in note for note in result.notes)
    # Every index and key is back, under its name and with its definition.
    assert schema_of(FIRST_LOAD_TABLES) == schema
    return result


# --- The pure rule, computed from the files alone --------------------------------------------


def pure_book(folder: Path) -> dict[str, tuple]:
    """Each loan's (schedule, payments, grace days) from the CSV files, schedules that the
    files do not give generated by loans.schedule."""
    products = {row["code"]: row for row in read_table(folder, "products")}
    explicit = defaultdict(list)
    for row in read_table(folder, "schedule"):
        explicit[row["loan_ref"]].append(
            ledger.InstalmentDue(
                int(row["seq"]),
                date.fromisoformat(row["due_on"]),
                Decimal(row["principal_due"]),
                Decimal(row["interest_due"]),
            )
        )
    payments = defaultdict(list)
    for number, row in enumerate(read_table(folder, "repayments")):
        payments[row["loan_ref"]].append(
            ledger.Payment(number, date.fromisoformat(row["paid_on"]), Decimal(row["amount"]))
        )
    book = {}
    for row in read_table(folder, "loans"):
        ref = row["ref"]
        disbursed = date.fromisoformat(row["disbursed_on"])
        if ref in explicit:
            dues = explicit[ref]
        else:
            first_due = (
                date.fromisoformat(row["first_due_on"])
                if row.get("first_due_on")
                else default_first_due_on(
                    disbursed, row["repayment_method"], int(row["term_months"])
                )
            )
            dues = [
                ledger.InstalmentDue(r.seq, r.due_on, r.principal, r.interest)
                for r in generate_schedule(
                    principal=Decimal(row["principal"]),
                    annual_rate_percent=Decimal(row["annual_rate"]),
                    term_months=int(row["term_months"]),
                    method=row["repayment_method"],
                    first_due_on=first_due,
                )
            ]
        grace = row.get("grace_days") or products[row["product_code"]].get("grace_days") or "0"
        book[ref] = (dues, payments[ref], int(grace))
    return book


def test_the_fixture_classified_after_import_is_the_pure_rule(imported):
    # given the fixture imported (and so classified for today)
    today = _today()
    run = ClassificationRun.objects.get(as_of=today)
    assert run.trigger == "import" and run.status == "completed"
    assert imported.counts["loans"].created == 100
    states = {
        ref: (missed, tier, outstanding)
        for ref, missed, tier, outstanding in LoanRiskState.objects.values_list(
            "loan__reference", "consecutive_missed", "tier", "outstanding_principal"
        )
    }
    # then every loan's state is what loans.ledger and the tier rule say, from the files alone
    tiers = set()
    for ref, (dues, payments, grace) in pure_book(FIXTURE).items():
        position = ledger.position(dues, payments, as_of=today, grace_days=grace)
        expected_tier = quantitative_tier(position.consecutive_missed_periods)
        tiers.add(expected_tier)
        assert states[ref] == (
            position.consecutive_missed_periods,
            expected_tier,
            position.outstanding_principal,
        ), ref
    # the fixture's histories end on 2026-11-20: the tiers spread then, and age together later
    assert len(tiers) >= 2


def test_the_fixture_covers_what_it_should(imported):
    loans = Loan.objects.all()
    assert set(loans.values_list("repayment_method", flat=True)) == {
        "bullet",
        "equal_installment",
        "equal_principal",
        "interest_first",
    }
    assert loans.filter(schedule_source="explicit").count() >= 5
    assert loans.filter(status="settled").count() >= 5
    assert loans.filter(group__isnull=False).count() == 3
    group = JointGroup.objects.get(reference="LB-0001")
    assert group.memberships.filter(left_on__isnull=True).count() == 3
    # every member guarantees the other members' loans
    assert Guarantee.objects.filter(kind="joint_group", group=group).count() == 6
    assert Guarantee.objects.filter(kind="ordinary").count() == 93
    # the guarantor with a borrower's identity is that borrower
    assert Guarantor.objects.get(reference="DB-0041").borrower.reference == "KH-0002"
    # loans disbursed in the last 30 days are handed over; older ones were, elsewhere
    recent = loans.filter(disbursed_on__gte=_today() - timedelta(days=30))
    assert set(Handover.objects.values_list("loan_id", flat=True)) == set(
        recent.values_list("id", flat=True)
    )
    assert Repayment.objects.filter(paid_on__gt=timezone.localdate()).count() == 0


def test_a_loan_paid_in_full_is_settled_on_its_last_payment(imported):
    settled = Loan.objects.filter(status="settled")
    assert settled.exists()
    for loan in settled:
        last = max(loan.repayments.values_list("paid_on", flat=True))
        assert loan.closed_on == last
        assert loan.status_changes.get().to_status == "settled"
        assert sum(i.outstanding for i in loan.instalments.all()) == 0


# --- Re-imports ---------------------------------------------------------------------------------


def test_importing_the_same_files_again_changes_nothing(imported):
    before = table_counts()
    # when
    again = import_portfolio(FIXTURE)
    # then
    assert again.ok
    assert {t: (c.created, c.updated) for t, c in again.counts.items()} == dict.fromkeys(
        imported.counts, (0, 0)
    )
    after = table_counts()
    # the second classification run is a new run row of the same date; the planning after it
    # logs its run; nothing else grows
    grown = {t: n for t, n in after.items() if n != before[t]}
    assert grown.pop("postloan_planningrun") > before["postloan_planningrun"]
    assert grown == {}


def test_an_enterprise_guarantor_with_a_borrowers_credit_code_is_that_borrower(book, db):
    # given a guarantor row naming, by its unified social credit code, a borrowing company
    append_rows(
        book,
        "guarantors",
        [
            [
                "DB-0900",
                "enterprise",
                "福州杨氏贸易有限公司",
                "913501000000000051",
                "13900000005",
                "",
            ]
        ],
    )
    # when
    assert import_portfolio(book).ok
    # then
    assert Guarantor.objects.get(reference="DB-0900").borrower.reference == "KH-0005"
    assert Guarantor.objects.get(reference="DB-0041").borrower.reference == "KH-0002"


def test_a_changed_row_is_updated_and_reported(book, db):
    assert import_portfolio(book).ok
    # given a borrower who moved and a loan whose purpose was corrected
    borrower_row = next(
        i for i, row in enumerate(read_table(book, "borrowers"), 2) if row["ref"] == "KH-0007"
    )
    set_cell(book, "borrowers", borrower_row, "address", "福州市仓山区新地址8号")
    set_cell(book, "loans", 2, "purpose", "新的用途")
    # when
    result = import_portfolio(book)
    # then
    assert result.ok
    assert (result.counts["borrowers"].created, result.counts["borrowers"].updated) == (0, 1)
    assert (result.counts["loans"].created, result.counts["loans"].updated) == (0, 1)
    assert result.changed == 2
    borrower = Borrower.objects.get(reference="KH-0007")
    assert borrower.address == "福州市仓山区新地址8号" and borrower.version == 2
    change = BorrowerFactChange.objects.get(borrower=borrower)
    assert (change.fact, change.new_value) == ("address", "福州市仓山区新地址8号")
    assert Loan.objects.get(reference="DK-0001").purpose == "新的用途"
    assert Borrower.objects.count() == 100 and Loan.objects.count() == 100


def test_a_changed_repayment_rebuilds_the_loans_allocation(book, db):
    assert import_portfolio(book).ok
    # given one payment of a loan entered with the wrong amount: it was less
    rows = read_table(book, "repayments")
    number, row = next((n, r) for n, r in enumerate(rows, 2) if r["loan_ref"] == "DK-0010")
    set_cell(book, "repayments", number, "amount", "100.00")
    # when
    result = import_portfolio(book)
    # then
    assert result.ok and result.counts["repayments"].updated == 1
    loan = Loan.objects.get(reference="DK-0010")
    dues = [
        ledger.InstalmentDue(i.seq, i.due_on, i.principal_due, i.interest_due)
        for i in loan.instalments.all()
    ]
    payments = [ledger.Payment(r.pk, r.paid_on, r.amount) for r in loan.repayments.all()]
    _, states = ledger.allocate(dues, payments)
    assert [(i.principal_paid, i.interest_paid) for i in loan.instalments.order_by("seq")] == [
        (s.principal_paid, s.interest_paid) for s in sorted(states, key=lambda s: s.seq)
    ]
    assert Allocation.objects.filter(repayment__reference=row["reference"]).get().interest <= 100


def test_a_corrected_explicit_schedule_replaces_the_old_one(book, db):
    assert import_portfolio(book).ok
    # given an explicit schedule whose first two instalments were entered the wrong way round
    rows = read_table(book, "schedule")
    ref = rows[0]["loan_ref"]
    first, second = rows[0], rows[1]
    set_cell(book, "schedule", 2, "principal_due", second["principal_due"])
    set_cell(book, "schedule", 3, "principal_due", first["principal_due"])
    set_cell(book, "schedule", 2, "interest_due", "0.00")
    # when
    result = import_portfolio(book)
    # then the loan's whole schedule is rewritten and its payments applied again
    assert result.ok, result.errors
    count = sum(1 for row in rows if row["loan_ref"] == ref)
    assert (result.counts["schedule"].created, result.counts["schedule"].updated) == (0, count)
    loan = Loan.objects.get(reference=ref)
    instalments = list(loan.instalments.order_by("seq"))
    assert instalments[0].interest_due == 0
    assert str(instalments[1].principal_due) == first["principal_due"]
    dues = [
        ledger.InstalmentDue(i.seq, i.due_on, i.principal_due, i.interest_due) for i in instalments
    ]
    payments = [ledger.Payment(r.pk, r.paid_on, r.amount) for r in loan.repayments.all()]
    _, states = ledger.allocate(dues, payments)
    assert [(i.principal_paid, i.interest_paid) for i in instalments] == [
        (s.principal_paid, s.interest_paid) for s in states
    ]
    assert Allocation.objects.filter(instalment__loan=loan).exists() == bool(payments)


def test_a_dry_run_writes_nothing_and_reports_what_would_be_done(db):
    before = table_counts()
    result = import_portfolio(FIXTURE, dry_run=True)
    assert result.ok and result.dry_run
    assert result.counts["loans"].created == 100
    assert result.counts["repayments"].created == result.counts["repayments"].rows
    assert result.classification is None
    assert table_counts() == before


# --- Errors -------------------------------------------------------------------------------------

NEW_LOAN = ["MORT", "100000.00", "12", "12", "2026-01-10", "equal_installment", "wang.qiang"]


def _loan(ref: str, **changes) -> list[str]:
    row = dict(
        zip(
            [
                "ref",
                "borrower_ref",
                "product_code",
                "principal",
                "annual_rate",
                "term_months",
                "disbursed_on",
                "repayment_method",
                "managing_officer",
                "originating_officer",
                "first_due_on",
                "grace_days",
                "group_ref",
                "branch",
                "purpose",
            ],
            [ref, "KH-0001", *NEW_LOAN, "wang.qiang", "", "", "", "", ""],
            strict=True,
        )
    )
    row.update(changes)
    return list(row.values())


def test_every_kind_of_row_error_is_reported_where_it_is_and_nothing_is_written(book, db):
    tomorrow = (_today() + timedelta(days=1)).isoformat()
    bad_id = valid_resident_id(9001)[:-1] + ("0" if valid_resident_id(9001)[-1] != "0" else "1")
    b = append_rows(
        book,
        "borrowers",
        [
            ["KH-9001", "person", "钱多多", bad_id, "13800009001", "福州", ""],
            ["KH-9002", "person", "孙少", valid_resident_id(9002), "12345", "福州", ""],
            ["KH-9003", "company", "某公司", valid_resident_id(9003), "", "", ""],
        ],
    )
    loans = append_rows(
        book,
        "loans",
        [
            _loan("DK-9001", disbursed_on="2026/01/10"),
            _loan("DK-9002", principal="1000.555"),
            _loan("DK-9003", repayment_method="weekly"),
            _loan("DK-9004", borrower_ref="KH-NOBODY"),
            _loan("DK-0001"),
            _loan("DK-9006", principal="5000000.00"),
            _loan("DK-9007", first_due_on="2026-01-01"),
            _loan("DK-9008", disbursed_on=tomorrow),
            _loan("DK-9010"),
            _loan("DK-9011"),
            _loan("DK-9012"),
            _loan("DK-9013"),
            _loan("DK-9014", managing_officer="nobody.here"),
            _loan("DK-9015", first_due_on="2026-03-10"),
        ],
    )
    s = append_rows(
        book,
        "schedule",
        [
            ["DK-9010", "1", "2026-02-10", "50000.00", "1000.00"],
            ["DK-9010", "3", "2026-04-10", "50000.00", "500.00"],
            ["DK-9011", "1", "2026-02-10", "50000.00", "1000.00"],
            ["DK-9011", "2", "2026-02-10", "50000.00", "500.00"],
            ["DK-9012", "1", "2026-02-10", "50000.00", "1000.00"],
            ["DK-9012", "2", "2026-03-10", "40000.00", "500.00"],
            # a number given twice: one duplicate, and no gap in 1, 2
            ["DK-9015", "1", "2026-02-10", "25000.00", "1000.00"],
            ["DK-9015", "1", "2026-02-10", "25000.00", "0.00"],
            ["DK-9015", "2", "2026-03-10", "50000.00", "500.00"],
        ],
    )
    first_payment = read_table(book, "repayments")[0]
    r = append_rows(
        book,
        "repayments",
        [
            ["DK-0001", "2026-01-01", "100.00", "EARLY-1", "cash"],
            [first_payment["loan_ref"], "2026-10-30", "1.00", first_payment["reference"], "cash"],
            ["DK-9013", "2026-03-01", "9000000.00", "TOO-MUCH", "cash"],
            ["DK-0005", "2026-10-01", "-5", "NEGATIVE", "cash"],
        ],
    )
    backed = Counter(row["guarantor_ref"] for row in read_table(book, "guarantees"))
    full = next(ref for ref, count in backed.items() if count == 3)
    g = append_rows(
        book,
        "guarantees",
        [
            ["DK-0002", "DB-0041"],  # DB-0041 is borrower KH-0002 themself
            ["DK-0004", full],  # a fourth active guarantee, over the cap of 3
            ["DK-0004", "NOBODY"],
        ],
    )
    groups = append_rows(book, "groups", [["LB-0002", "KH-0050", "小组", "JOINT", "2025-05-01"]])
    c = append_rows(
        book, "collateral", [["DK-0002", "real_estate", "测试房产", "100000.00", "", "", "", ""]]
    )
    with open(book / "officers.csv", encoding="utf-8") as handle:
        text = handle.read().replace("branch\n", "branch,nickname\n", 1)
    with open(book / "officers.csv", "w", encoding="utf-8") as handle:
        handle.write(text)
    before = table_counts()
    # when
    with translation.override("zh-hans"):
        result = import_portfolio(book)
    # then
    assert not result.ok
    found = {(e.file, e.row, e.column) for e in result.errors}
    expected = {
        ("borrowers.csv", b[0], "id_number"),
        ("borrowers.csv", b[1], "phone"),
        ("borrowers.csv", b[2], "kind"),
        ("loans.csv", loans[0], "disbursed_on"),
        ("loans.csv", loans[1], "principal"),
        ("loans.csv", loans[2], "repayment_method"),
        ("loans.csv", loans[3], "borrower_ref"),
        ("loans.csv", loans[4], "ref"),
        ("loans.csv", loans[5], "principal"),
        ("loans.csv", loans[6], "first_due_on"),
        ("loans.csv", loans[7], "disbursed_on"),
        ("loans.csv", loans[12], "managing_officer"),
        ("loans.csv", loans[13], "first_due_on"),
        ("schedule.csv", s[0], "seq"),
        ("schedule.csv", s[7], "seq"),
        ("schedule.csv", s[3], "due_on"),
        ("schedule.csv", s[4], "principal_due"),
        ("repayments.csv", r[0], "paid_on"),
        ("repayments.csv", r[1], "reference"),
        ("repayments.csv", r[2], "amount"),
        ("repayments.csv", r[3], "amount"),
        ("guarantees.csv", g[0], "guarantor_ref"),
        ("guarantees.csv", g[1], "guarantor_ref"),
        ("guarantees.csv", g[2], "guarantor_ref"),
        ("groups.csv", groups[0], "group_ref"),
        ("collateral.csv", c[0], "value"),
        ("officers.csv", 1, ""),  # the header: an unknown column, named in the message
    }
    assert expected <= found, sorted(expected - found)
    assert ("schedule.csv", s[6], "seq") not in found  # 1, 1, 2 has a repeat, not a gap
    messages = {(e.file, e.row, e.column): e.message for e in result.errors}
    assert "'nickname'" in messages["officers.csv", 1, ""]
    with translation.override("zh-hans"):
        assert messages["loans.csv", loans[13], "first_due_on"] == (
            gettext("The schedule's first instalment is due on %(date)s.") % {"date": "2026-02-10"}
        )
    assert all(e.message for e in result.errors)
    # in the user's language
    with translation.override("zh-hans"):
        chinese = gettext("A borrower cannot guarantee their own loan.")
    assert chinese != "A borrower cannot guarantee their own loan."
    assert any(e.message == chinese for e in result.errors)
    # and nothing was written
    assert table_counts() == before
    assert not Loan.objects.exists()


def test_a_missing_column_or_table_and_a_file_that_is_not_utf8(tmp_path, db):
    (tmp_path / "loans.csv").write_text("ref,borrower_ref\nDK-1,KH-1\n", encoding="utf-8")
    (tmp_path / "payments.csv").write_text("a\n1\n", encoding="utf-8")
    (tmp_path / "borrowers.csv").write_bytes(
        b"ref,kind,name,id_number,phone,address\nKH-1,person," + "王".encode("gb18030")
    )
    result = import_portfolio(tmp_path)
    found = {(e.file, e.row, e.column) for e in result.errors}
    assert ("loans.csv", 1, "") in found  # the header lacks the other required columns
    assert any("'principal'" in e.message for e in result.errors if e.file == "loans.csv")
    assert ("payments.csv", None, "") in found
    assert any(e.file == "borrowers.csv" and "UTF-8" in e.message for e in result.errors)
    assert not Loan.objects.exists()


# --- Formats ------------------------------------------------------------------------------------


def test_a_bom_and_chinese_names_survive(tmp_path, db):
    folder = tmp_path / "bom"
    folder.mkdir()
    rows = {
        "products": "code,name\nXW,小微贷\n",
        "officers": "username,full_name,branch\nzhou.li,周丽,GL01\n",
        "borrowers": "ref,kind,name,id_number,phone,address\n"
        f"客户-甲,person,欧阳娜娜,{valid_resident_id(7001)},13800007001,福州市台江区“五一”路\n",
        "loans": "ref,borrower_ref,product_code,principal,annual_rate,term_months,disbursed_on,"
        "repayment_method,managing_officer,originating_officer\n"
        "贷-001,客户-甲,XW,36000.00,12,12,2026-02-01,equal_principal,zhou.li,zhou.li\n",
    }
    for table, text in rows.items():
        (folder / f"{table}.csv").write_text("\ufeff" + text, encoding="utf-8")
    result = import_portfolio(folder)
    assert result.ok, result.errors
    borrower = Borrower.objects.get(reference="客户-甲")
    assert borrower.name == "欧阳娜娜" and borrower.address == "福州市台江区“五一”路"
    loan = Loan.objects.get(reference="贷-001")
    assert loan.product.name == "小微贷" and loan.managing_officer.get_full_name() == "周丽"
    assert loan.branch.code == "GL01" and loan.instalments.count() == 12
    assert not loan.managing_officer.has_usable_password()
    assert loan.managing_officer.groups.filter(name=Role.LOAN_OFFICER.value).exists()
    # and out again, intact
    export_tables(tmp_path / "out")
    assert read_table(tmp_path / "out", "borrowers")[0]["name"] == "欧阳娜娜"


def _to_workbook(folder: Path, path: Path) -> None:
    """The CSV tables as one workbook, with dates and numbers as Excel would type them."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for table in TABLE_ORDER:
        rows = read_table(folder, table)
        if not (folder / f"{table}.csv").exists():
            continue
        sheet = workbook.create_sheet(table)
        with open(folder / f"{table}.csv", newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle))
        sheet.append(header)
        for row in rows:
            cells = []
            for column in header:
                value = row[column]
                if column.endswith("_on") and value:
                    cells.append(date.fromisoformat(value))
                elif column in ("seq", "term_months") and value:
                    cells.append(int(value))
                else:
                    cells.append(value)
            sheet.append(cells)
    workbook.save(path)


def _dump_tables() -> dict[str, list[tuple]]:
    with connection.cursor() as cursor:
        dump = {}
        for table, sql in TABLE_QUERIES.items():
            cursor.execute(sql)
            dump[table] = cursor.fetchall()
        return dump


def test_an_xlsx_workbook_imports_as_the_csv_files_do(tmp_path, db):
    workbook = tmp_path / "book.xlsx"
    _to_workbook(FIXTURE, workbook)
    result = import_portfolio(workbook, classify=False)
    assert result.ok, result.errors[:5]
    from_xlsx = _dump_tables()
    states_xlsx = list(
        LoanRiskState.objects.order_by("loan__reference").values_list(
            "loan__reference", "outstanding_principal"
        )
    )
    # the same book from CSV, over it, changes nothing
    again = import_portfolio(FIXTURE, classify=False)
    assert again.ok and again.changed == 0
    assert _dump_tables() == from_xlsx
    assert states_xlsx[0][0] == "DK-0001"


def test_an_xlsx_error_names_the_workbook_and_sheet(tmp_path, db):
    workbook = tmp_path / "book.xlsx"
    _to_workbook(FIXTURE, workbook)
    from openpyxl import load_workbook

    wb = load_workbook(workbook)
    wb["loans"]["D2"] = "12.345"
    wb.save(workbook)
    result = import_portfolio(workbook, label="迁移.xlsx")
    assert [(e.file, e.row, e.column) for e in result.errors] == [
        ("迁移.xlsx: loans", 2, "principal")
    ]
    assert not LoanProduct.objects.exists()


# --- The browser upload (without a browser) ----------------------------------------------------


def _upload(client, folder: Path, names=None):
    handles = [open(folder / f"{n}.csv", "rb") for n in names or TABLE_ORDER]  # noqa: SIM115
    try:
        return client.post(reverse("portfolio:import"), {"files": handles})
    finally:
        for handle in handles:
            handle.close()


def test_officers_cannot_import(client, officer):
    client.force_login(officer)
    assert client.get(reverse("portfolio:import")).status_code == 403
    assert client.get(reverse("portfolio:import_template")).status_code == 403
    assert (
        client.post(reverse("portfolio:import_preview"), {"action": "confirm"}).status_code == 403
    )


def test_a_risk_manager_uploads_previews_and_confirms(client, risk_manager, settings):
    client.force_login(risk_manager)
    response = _upload(client, FIXTURE)
    assert response.status_code == 302
    preview = client.get(reverse("portfolio:import_preview"))
    assert preview.status_code == 200
    assert preview.context["result"].ok and preview.context["result"].dry_run
    assert preview.context["result"].counts["loans"].created == 100
    assert not Loan.objects.exists()
    # what the import derives is named in the reader's language too
    chinese = client.get(reverse("portfolio:import_preview"), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert "写入的还款计划: 100" in chinese.content.decode()
    done = client.post(reverse("portfolio:import_preview"), {"action": "confirm"})
    assert done.status_code == 200 and done.context["done"]
    assert Loan.objects.count() == 100
    # the kept files are gone with the session's token
    assert not any((Path(settings.MEDIA_ROOT) / "imports").iterdir())


def test_the_template_workbook_has_every_table(client, admin_user):
    from io import BytesIO

    from openpyxl import load_workbook

    client.force_login(admin_user)
    response = client.get(reverse("portfolio:import_template"))
    workbook = load_workbook(BytesIO(b"".join(response.streaming_content)), read_only=True)
    assert workbook.sheetnames == list(TABLE_ORDER)
    loans = list(workbook["loans"].iter_rows(values_only=True))
    assert loans[0][:3] == ("ref", "borrower_ref", "product_code") and len(loans) == 2


def test_a_workbook_uploaded_in_the_browser_is_previewed_under_its_name(
    client, risk_manager, tmp_path
):
    workbook = tmp_path / "迁移.xlsx"
    _to_workbook(FIXTURE, workbook)
    from openpyxl import load_workbook

    wb = load_workbook(workbook)
    wb["repayments"]["C2"] = "-1"
    wb.save(workbook)
    client.force_login(risk_manager)
    with open(workbook, "rb") as handle:
        assert client.post(reverse("portfolio:import"), {"files": [handle]}).status_code == 302
    preview = client.get(reverse("portfolio:import_preview"))
    assert [(e.file, e.row, e.column) for e in preview.context["errors"]] == [
        ("迁移.xlsx: repayments", 2, "amount")
    ]
    assert b"Confirm import" not in preview.content
    assert (
        client.post(reverse("portfolio:import_preview"), {"action": "discard"}).status_code == 302
    )
    assert not Loan.objects.exists()


def _batch(text: str) -> io.StringIO:
    buffer = io.StringIO()
    buffer.write(text)
    return buffer


def test_a_copy_refused_on_the_copy_thread_fails_the_staging_and_frees_the_connection(db):
    # The staging COPYs on a thread of its own while the next batch is checked.
    table, columns = importing.TABLES["schedule"], ["loan_ref", "seq"]
    with connection.cursor() as cursor:
        staging.create_staging(cursor)
        with (
            pytest.raises(psycopg2.DataError),
            transaction.atomic(),
            staging.Copier(cursor, table, columns) as copier,
        ):
            copier.send(_batch("2,DK-1,1\n"))
            copier.send(_batch("3,DK-1,one\n"))  # not a number: COPY refuses it
        # the connection is the caller's again, and the copies rolled back with the import
        with staging.Copier(cursor, table, columns) as copier:
            copier.send(_batch("2,DK-1,1\n3,DK-1,2\n"))
            copier.send(_batch(""))  # nothing to send
        cursor.execute("SELECT row_no, loan_ref, seq FROM imp_schedule ORDER BY row_no")
        assert cursor.fetchall() == [(2, "DK-1", 1), (3, "DK-1", 2)]


def test_an_error_while_checking_stops_the_copy_thread_and_keeps_that_error(db):
    table, columns = importing.TABLES["schedule"], ["loan_ref", "seq"]
    with connection.cursor() as cursor:
        staging.create_staging(cursor)
        with pytest.raises(KeyError), staging.Copier(cursor, table, columns) as copier:
            copier.send(_batch("2,DK-1,1\n"))
            raise KeyError("a bug in the checks")
        assert not copier._thread.is_alive()
        cursor.execute("SELECT COUNT(*) FROM imp_schedule")
        assert cursor.fetchone() == (1,)
