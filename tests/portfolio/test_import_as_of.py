"""Portfolio import (issue 16): a migration has a cut-over date. `import_portfolio --as-of D`
(and the upload page's date) reads the files as the book at the end of D: a fact dated after D
is a row error, and what the import dates itself — handovers, reassignments, facts on the
timeline, the classification and the month's planning — is dated D, not the machine's today.
The nights after it catch up, and the loan ends up as a loan booked in the portal would."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from borrowers.models import BorrowerFactChange
from common.calendar import add_working_days
from common.models import BusinessSettings
from loans import services as loan_services
from loans.models import Handover, Loan, OfficerAssignment
from portfolio.importing import import_portfolio
from postloan.inspections.planning import schedule_inspections
from postloan.models import ClassificationRun, Inspection, LoanRiskState, PlanningRun
from postloan.risk.nightly import classify_portfolio
from tests.factories import ProductFactory, book_loan, make_person, valid_resident_id
from tests.utils import frozen_on

pytestmark = pytest.mark.django_db

CUT_OVER = date(2025, 6, 30)
IMPORT_DAY = date(2025, 8, 12)  # the clock of these tests: the files come in weeks later

LOAN_HEADER = (
    "ref,borrower_ref,product_code,principal,annual_rate,term_months,disbursed_on,"
    "repayment_method,managing_officer,originating_officer,first_due_on,group_ref"
)


def write(folder: Path, table: str, header: str, rows: list[list]) -> list[int]:
    """A CSV table; returns the rows' numbers (the header is row 1)."""
    folder.mkdir(exist_ok=True)
    with open(folder / f"{table}.csv", "w", newline="", encoding="utf-8") as handle:
        handle.write(header + "\n")
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return list(range(2, 2 + len(rows)))


def to_workbook(folder: Path, path: Path) -> Path:
    """The CSV tables as one workbook, dates typed as Excel types them."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for file in sorted(folder.glob("*.csv")):
        sheet = workbook.create_sheet(file.stem)
        with open(file, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        sheet.append(rows[0])
        for row in rows[1:]:
            sheet.append(
                [
                    date.fromisoformat(v) if name.endswith("_on") and v else v
                    for name, v in zip(rows[0], row, strict=True)
                ]
            )
    workbook.save(path)
    return path


def a_book_with_facts_after_the_cut_over(folder: Path) -> set[tuple[str, int, str]]:
    """A small book in which some facts are dated after CUT_OVER (but none after the import
    day) and some dates look ahead by nature; returns where the first kind are."""
    write(folder, "products", "code,name,min_group_size", [["XW", "小微贷", "2"]])
    write(folder, "officers", "username,full_name,branch", [["zhou.li", "周丽", "GL01"]])
    write(
        folder,
        "borrowers",
        "ref,kind,name,id_number,phone,address",
        [
            [f"KH-{n}", "person", name, valid_resident_id(8100 + n), f"1380081000{n}", "福州"]
            for n, name in [(1, "欧阳娜娜"), (2, "陈明"), (3, "林芳")]
        ],
    )
    write(
        folder,
        "guarantors",
        "ref,kind,name,id_number,phone",
        [["DB-1", "person", "李秀英", valid_resident_id(8104), "13800810004"]],
    )
    groups = write(
        folder,
        "groups",
        "group_ref,member_ref,name,product_code,formed_on",
        [["LB-1", "KH-2", "两户联保", "XW", "2025-07-01"], ["LB-1", "KH-3", "", "", ""]],
    )
    officers = ["equal_installment", "zhou.li", "zhou.li"]
    loans = write(
        folder,
        "loans",
        LOAN_HEADER,
        [
            # the first instalment falls after the cut-over: a date that looks ahead
            ["DK-1", "KH-1", "XW", "12000.00", "12", "12", "2025-06-03", *officers,
             "2025-07-03", ""],
            ["DK-2", "KH-2", "XW", "12000.00", "12", "12", "2025-07-02", *officers, "", "LB-1"],
        ],
    )  # fmt: skip
    guarantees = write(
        folder, "guarantees", "loan_ref,guarantor_ref,signed_on", [["DK-1", "DB-1", "2025-07-01"]]
    )
    repayments = write(
        folder,
        "repayments",
        "loan_ref,paid_on,amount,reference,channel",
        [
            ["DK-1", "2025-06-20", "1000.00", "YH-1", "cash"],  # on time
            ["DK-1", "2025-07-05", "500.00", "YH-2", "cash"],
            ["DK-1", '"2025-07-06"', "500.00", "YH-3", "cash"],  # a quoted cell: checked alone
        ],
    )
    collateral = write(
        folder,
        "collateral",
        "loan_ref,kind,description,value,valued_on,developer,expected_completion_on,"
        "pre_registration_on,registration_due_on,completed_on,registration_on,"
        "title_certificate_number",
        [
            ["DK-1", "real_estate", "五四路1号", "80000.00", "2025-07-01", "", "", "", "", "",
             "", ""],
            # expected completion and the registration deadline look ahead; the rest happened
            ["DK-1", "off_plan", "期房", "90000.00", "2025-06-01", "福州建发", "2026-12-31",
             "2025-07-10", "2027-06-30", "2025-07-11", "2025-07-12", "闽(2025)001"],
        ],
    )  # fmt: skip
    # the quoted date is written as it is: undo csv's quoting of the quotes
    text = (folder / "repayments.csv").read_text(encoding="utf-8").replace('"""', '"')
    (folder / "repayments.csv").write_text(text, encoding="utf-8")
    return {
        ("groups.csv", groups[0], "formed_on"),
        ("loans.csv", loans[1], "disbursed_on"),
        ("guarantees.csv", guarantees[0], "signed_on"),
        ("repayments.csv", repayments[1], "paid_on"),
        ("repayments.csv", repayments[2], "paid_on"),
        ("collateral.csv", collateral[0], "valued_on"),
        ("collateral.csv", collateral[1], "pre_registration_on"),
        ("collateral.csv", collateral[1], "completed_on"),
        ("collateral.csv", collateral[1], "registration_on"),
    }


# --- Dates after the cut-over -------------------------------------------------------------------


@pytest.mark.clock(IMPORT_DAY)
@pytest.mark.parametrize("source", ["csv", "xlsx"])
def test_a_fact_dated_after_the_cut_over_is_refused_where_it_is(tmp_path, source):
    expected = a_book_with_facts_after_the_cut_over(tmp_path / "book")
    path = tmp_path / "book"
    if source == "xlsx":
        path = to_workbook(path, tmp_path / "book.xlsx")
        expected = {(f"book.xlsx: {file[:-4]}", row, column) for file, row, column in expected}
    # when
    with translation.override("zh-hans"):
        result = import_portfolio(path, as_of=CUT_OVER)
        message = gettext("This date is after the cut-over date %(date)s.") % {"date": "2025-06-30"}
    # then every such date is an error where it is, in the user's language, and only those
    assert {(e.file, e.row, e.column) for e in result.errors} == expected
    assert {e.message for e in result.errors} == {message}
    assert message != "This date is after the cut-over date 2025-06-30."
    assert not Loan.objects.exists() and not ClassificationRun.objects.exists()


@pytest.mark.clock(IMPORT_DAY)
def test_without_a_cut_over_the_files_are_the_book_as_of_today(tmp_path):
    a_book_with_facts_after_the_cut_over(tmp_path / "book")
    result = import_portfolio(tmp_path / "book")
    assert result.ok, result.errors
    assert result.as_of == IMPORT_DAY
    assert ClassificationRun.objects.get().as_of == IMPORT_DAY
    assert PlanningRun.objects.get().as_of == IMPORT_DAY
    # disbursed 70 and 41 days before today: handed over in the old system
    assert not Handover.objects.exists()


@pytest.mark.clock(IMPORT_DAY)
def test_a_cut_over_in_the_future_is_refused(tmp_path, capsys):
    a_book_with_facts_after_the_cut_over(tmp_path / "book")
    tomorrow = IMPORT_DAY + timedelta(days=1)
    result = import_portfolio(tmp_path / "book", as_of=tomorrow)
    assert [(e.file, e.row, e.column) for e in result.errors] == [("book", None, "")]
    assert "2025-08-13" in result.errors[0].message and "future" in result.errors[0].message
    assert not Loan.objects.exists()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_portfolio", str(tmp_path / "book"), "--as-of", "2025-08-13")
    assert "The cut-over date 2025-08-13 is in the future" in capsys.readouterr().err
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("import_portfolio", str(tmp_path / "book"), "--as-of", "2025-02-30")
    assert not Loan.objects.exists()


# --- What the import dates itself ---------------------------------------------------------------


def a_small_book(folder: Path, *, officer: str = "zhou.li", address: str = "福州") -> None:
    write(folder, "products", "code,name", [["XW", "小微贷"]])
    write(
        folder,
        "officers",
        "username,full_name,branch",
        [["zhou.li", "周丽", "GL01"], ["chen.jie", "陈杰", "GL01"]],
    )
    write(
        folder,
        "borrowers",
        "ref,kind,name,id_number,phone,address",
        [
            ["KH-1", "person", "欧阳娜娜", valid_resident_id(8201), "13800820001", address],
            ["KH-2", "person", "陈明", valid_resident_id(8202), "13800820002", "福州"],
        ],
    )
    terms = ["XW", "12000.00", "12", "12"]
    write(
        folder,
        "loans",
        LOAN_HEADER,
        [
            # 27 days before the cut-over, 70 before the import day: to be handed over
            ["DK-NEW", "KH-1", *terms, "2025-06-03", "equal_installment", officer, "zhou.li", "",
             ""],
            # its first instalment (1 June) unpaid at the cut-over; three unpaid by the import
            ["DK-OLD", "KH-2", *terms, "2025-05-01", "equal_installment", "zhou.li", "zhou.li",
             "", ""],
        ],
    )  # fmt: skip
    write(
        folder,
        "repayments",
        "loan_ref,paid_on,amount,reference",
        [["DK-NEW", "2025-06-20", "1000.00", "YH-1"]],
    )


@pytest.mark.clock(IMPORT_DAY)
def test_an_import_as_of_a_past_day_hands_over_classifies_and_plans_as_of_that_day(tmp_path):
    a_small_book(tmp_path / "book")
    # when
    result = import_portfolio(tmp_path / "book", as_of=CUT_OVER)
    # then
    assert result.ok, result.errors
    run = ClassificationRun.objects.get()
    assert (run.as_of, run.trigger, run.updated_state) == (CUT_OVER, "import", True)
    assert result.classification.as_of == CUT_OVER
    planning = PlanningRun.objects.get()
    assert (planning.as_of, planning.month) == (CUT_OVER, date(2025, 6, 1))
    new, old = Loan.objects.get(reference="DK-NEW"), Loan.objects.get(reference="DK-OLD")
    # the tiers as they stood at the cut-over, not today (three instalments unpaid by now)
    old_state = LoanRiskState.objects.get(loan=old)
    assert (old_state.consecutive_missed, old_state.days_past_due) == (1, 29)
    new_state = LoanRiskState.objects.get(loan=new)
    assert (new_state.consecutive_missed, new_state.days_past_due) == (0, 0)
    # the loan disbursed in the 30 days up to the cut-over is handed over, due as booking
    # would have it; the older one was handed over in the old system
    due = add_working_days(new.disbursed_on, BusinessSettings.current().handover_working_days)
    handover = Handover.objects.get()
    assert (handover.loan, handover.due_on) == (new, due.day)
    assert list(OfficerAssignment.objects.values_list("loan__reference", "effective_on")) == [
        ("DK-NEW", date(2025, 6, 3))
    ]
    # the inspections are the cut-over month's: the handover's first contact, the follow-up
    # of DK-OLD's missed instalment (due within working days of the cut-over), the sample
    planned = Inspection.objects.values_list("loan__reference", "kind", "slot", "due_on")
    follow_up = add_working_days(CUT_OVER, BusinessSettings.current().followup_working_days)
    assert {row for row in planned if not row[2].endswith("#sample")} == {
        ("DK-NEW", "handover", "handover", due.day),
        ("DK-OLD", "default_follow_up", "missed-2025-06", follow_up.day),
    }
    assert {slot for _ref, _kind, slot, _due in planned if slot.endswith("#sample")} <= {
        "2025-06#sample"
    }


@pytest.mark.clock(IMPORT_DAY)
def test_a_re_import_dates_its_changes_on_its_cut_over_day(tmp_path):
    a_small_book(tmp_path / "first")
    assert import_portfolio(tmp_path / "first", as_of=CUT_OVER).ok
    # the next cut-over: KH-1 moved, DK-NEW changed hands
    later = date(2025, 7, 15)
    a_small_book(tmp_path / "second", officer="chen.jie", address="厦门")
    result = import_portfolio(tmp_path / "second", as_of=later)
    assert result.ok, result.errors
    fact = BorrowerFactChange.objects.get(borrower__reference="KH-1", fact="address")
    assert (fact.old_value, fact.new_value, fact.effective_on) == ("福州", "厦门", later)
    reassignment = OfficerAssignment.objects.get(
        loan__reference="DK-NEW", to_officer__username="chen.jie"
    )
    assert reassignment.effective_on == later
    assert set(ClassificationRun.objects.values_list("as_of", flat=True)) == {CUT_OVER, later}


@pytest.mark.clock(IMPORT_DAY)
def test_a_cut_over_before_the_portals_last_night_catches_the_new_loans_up(tmp_path):
    # a live portal: its night ran on the import day, after the cut-over
    classify_portfolio(as_of=IMPORT_DAY)
    a_small_book(tmp_path / "book")
    result = import_portfolio(tmp_path / "book", as_of=CUT_OVER)
    assert result.ok, result.errors
    # its own run as of the cut-over changes no newer state: the import brings the new loans
    # up to the portal's day at once, as the next night would
    runs = dict(ClassificationRun.objects.values_list("as_of", "updated_state"))
    assert runs == {CUT_OVER: False, IMPORT_DAY: True}
    old_state = LoanRiskState.objects.get(loan__reference="DK-OLD")
    assert old_state.consecutive_missed == 3  # 1 June, 1 July, 1 August
    assert any("2025-08-12" in note for note in result.notes)
    assert PlanningRun.objects.order_by("-id").values_list("as_of", flat=True)[0] == IMPORT_DAY


# --- The nights after it ------------------------------------------------------------------------


def _night(day: date) -> None:
    with frozen_on(day, hour=1):
        classify_portfolio(as_of=day)
        schedule_inspections(as_of=day)


def _pay(loan: Loan, day: date, amount: str, reference: str) -> None:
    with frozen_on(day):
        loan_services.repayment_post(
            loan=loan,
            paid_on=day,
            amount=Decimal(amount),
            channel="bank_transfer",
            reference=reference,
        )


def _as_it_stands(loan: Loan) -> dict:
    """What a loan's servicing is made of, without its identity."""
    loan.refresh_from_db()
    state = LoanRiskState.objects.get(loan=loan)
    handover = Handover.objects.filter(loan=loan).first()
    return {
        "loan": (loan.status, loan.first_due_on, loan.maturity_on, loan.schedule_source),
        "state": (
            state.tier,
            state.quantitative_tier,
            state.consecutive_missed,
            state.days_past_due,
            state.outstanding_principal,
            state.overdue_amount,
            state.provision,
        ),
        "instalments": list(
            loan.instalments.order_by("seq").values_list(
                "seq", "due_on", "principal_due", "interest_due", "principal_paid", "interest_paid"
            )
        ),
        # the monthly sample is a draw: which of two loans it picks is chance, not the rule
        "inspections": sorted(
            Inspection.objects.filter(loan=loan)
            .exclude(slot__endswith="#sample")
            .values_list("kind", "slot", "due_on", "status", "assigned_to__username")
        ),
        "handover": handover and (handover.due_on, handover.due_is_provisional),
        "assignments": list(
            OfficerAssignment.objects.filter(loan=loan).values_list(
                "from_officer", "to_officer__username", "effective_on", "reason"
            )
        ),
    }


def test_the_nights_after_the_cut_over_catch_up_as_for_a_loan_booked_in_the_portal(
    tmp_path, officer, branch
):
    product = ProductFactory(code="XW", min_guarantors=0)
    disbursed = date(2025, 6, 3)
    # a loan booked in the portal on its disbursement day, paid a first 1,000 on 20 June ...
    with frozen_on(disbursed):
        booked = book_loan(
            borrower=make_person("陈明"),
            officer=officer,
            product=product,
            branch=branch,
            principal=Decimal("12000.00"),
            disbursed_on=disbursed,
        )
    _pay(booked, date(2025, 6, 20), "1000.00", "YH-1")
    # ... and its twin in the files of a migration as of 30 June, imported on 2 July
    borrower = make_person("欧阳娜娜")
    write(
        tmp_path,
        "loans",
        LOAN_HEADER + ",branch",
        [["DK-IMP", borrower.reference, "XW", "12000.00", "12", "12", "2025-06-03",
          "equal_installment", officer.username, officer.username, "", "", "HQ"]],
    )  # fmt: skip
    write(tmp_path, "repayments", "loan_ref,paid_on,amount,reference", [
        ["DK-IMP", "2025-06-20", "1000.00", "YH-1"]
    ])  # fmt: skip
    with frozen_on(date(2025, 7, 2)):
        result = import_portfolio(tmp_path, as_of=CUT_OVER)
    assert result.ok, result.errors
    imported = Loan.objects.get(reference="DK-IMP")
    assert _as_it_stands(imported) == _as_it_stands(booked)
    # when the nights go on: a late payment on both, then August
    _pay(booked, date(2025, 7, 20), "500.00", "YH-2")
    _pay(imported, date(2025, 7, 20), "500.00", "YH-2")
    _night(date(2025, 7, 20))
    _night(date(2025, 8, 12))
    # then the imported loan stands where the booked one does
    now = _as_it_stands(imported)
    assert now == _as_it_stands(booked)
    assert now["state"][2:4] == (1, 9)  # the August instalment, unpaid for 9 days
    assert [row[:2] for row in now["inspections"]] == [
        ("default_follow_up", "missed-2025-08"),
        ("handover", "handover"),  # due on 10 June, still open: contact not recorded
    ]


# --- The upload page ----------------------------------------------------------------------------


def _upload(client, folder: Path, **data):
    files = [
        SimpleUploadedFile(file.name, file.read_bytes(), content_type="text/csv")
        for file in sorted(folder.glob("*.csv"))
    ]
    return client.post(reverse("portfolio:import"), {"files": files, **data})


@pytest.mark.clock(IMPORT_DAY)
def test_the_upload_pages_cut_over_date_is_carried_to_the_preview_and_the_import(
    client, risk_manager, tmp_path
):
    client.force_login(risk_manager)
    page = client.get(reverse("portfolio:import"))
    assert 'type="date" name="as_of" value="2025-08-12"' in page.content.decode()  # today
    a_small_book(tmp_path / "book")
    # a day to come is refused on the form, with nothing kept
    refused = _upload(client, tmp_path / "book", as_of="2025-08-13")
    assert refused.status_code == 200
    assert "2025-08-13" in refused.context["form"].errors["as_of"][0]
    # the cut-over chosen is the preview's ...
    assert _upload(client, tmp_path / "book", as_of="2025-06-30").status_code == 302
    preview = client.get(reverse("portfolio:import_preview"), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert preview.context["result"].ok and preview.context["result"].as_of == CUT_OVER
    with translation.override("zh-hans"):
        shown = gettext("Cut-over date: %(day)s — the book as it stood at the end of that day.")
    assert shown % {"day": "2025-06-30"} in preview.content.decode()
    assert not Loan.objects.exists()
    # ... and the import's
    done = client.post(reverse("portfolio:import_preview"), {"action": "confirm"})
    assert done.context["done"]
    assert list(ClassificationRun.objects.values_list("as_of", "trigger")) == [(CUT_OVER, "import")]
    assert Handover.objects.get().loan.reference == "DK-NEW"


@pytest.mark.clock(IMPORT_DAY)
def test_the_upload_page_shows_a_date_after_its_cut_over_as_a_row_error(
    client, risk_manager, tmp_path
):
    client.force_login(risk_manager)
    expected = a_book_with_facts_after_the_cut_over(tmp_path / "book")
    assert _upload(client, tmp_path / "book", as_of="2025-06-30").status_code == 302
    preview = client.get(reverse("portfolio:import_preview"))
    assert {(e.file, e.row, e.column) for e in preview.context["errors"]} == expected
    assert b"confirm-import" not in preview.content
    # the same files as of today (the field left empty) are a clean book
    assert _upload(client, tmp_path / "book", as_of="").status_code == 302
    assert client.get(reverse("portfolio:import_preview")).context["result"].ok
