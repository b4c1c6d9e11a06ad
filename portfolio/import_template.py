"""The template workbook of the portfolio import (docs/import-format.md): every table's
columns and a small book that imports as it is downloaded.

The example is a book of its own — its product, officer, borrowers, guarantor, group and
loan have refs the portal does not give (the portal's are KH-000001, DK-2026-000001 …), so
it imports into an empty portal or the demo alike and changes nothing already there; its
officer works at the demo's head office (HQ, created when missing). It is dated from the
day it is downloaded: the loan was disbursed on the 15th three months before, its schedule
is the one its repayment method generates (so its instalments add up to its principal),
and every instalment due so far was paid on its due date. A person who downloads it and
uploads it unchanged sees a clean preview, then a current, performing loan.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from loans.schedule import add_months, generate_schedule
from loans.terms import default_first_due_on
from portfolio.importing import TABLE_ORDER, TABLES

PRODUCT = "XWD"
OFFICER = "wang.qiang"
BRANCH = "HQ"
LOAN = "DK-0001"
GROUP = "LB-0001"
PRINCIPAL = Decimal("120000.00")
RATE = Decimal("12")
TERM = 12
METHOD = "equal_installment"


def template_rows(today: date) -> dict[str, list[tuple[str, ...]]]:
    """Each table's example rows, as the text a person would type, dated from `today`."""
    disbursed = add_months(today.replace(day=15), -3)
    first_due = default_first_due_on(disbursed, METHOD, TERM)
    schedule = generate_schedule(
        principal=PRINCIPAL,
        annual_rate_percent=RATE,
        term_months=TERM,
        method=METHOD,
        first_due_on=first_due,
    )
    paid = [row for row in schedule if row.due_on <= today]
    return {
        "products": [
            (PRODUCT, "小微经营贷", "6", "24", "10000.00", "1000000.00", "3", "36",
             "equal_installment;equal_principal", "0", "1", "true", "2", "false",
             "500000.00", "false", ""),
        ],
        "officers": [(OFFICER, "王强", BRANCH)],
        "borrowers": [
            ("KH-0001", "person", "王建国", "35010219850615001X", "13800138000",
             "福州市鼓楼区五四路1号", "茶叶批发", "福州市鼓楼区五四路1号", "", "20000.00", "",
             "normal"),
            ("KH-0002", "person", "陈志强", "350102198809230033", "13700137000",
             "福州市台江区八一七中路3号", "服装零售", "", "", "15000.00", "", "normal"),
        ],
        "guarantors": [
            ("DB-0001", "person", "李秀英", "35010219800312002X", "13900139000",
             "福州市鼓楼区湖东路2号"),
        ],
        # One row per member, the lead first; the product lets groups of two.
        "groups": [
            (GROUP, "KH-0001", "鼓楼茶商两户联保", PRODUCT, _day(disbursed - timedelta(days=30))),
            (GROUP, "KH-0002", "", "", ""),
        ],
        "loans": [
            (LOAN, "KH-0001", PRODUCT, f"{PRINCIPAL}", f"{RATE}", f"{TERM}", _day(disbursed),
             METHOD, OFFICER, OFFICER, _day(first_due), "", GROUP, BRANCH, "经营周转"),
        ],
        "schedule": [
            (LOAN, f"{row.seq}", _day(row.due_on), f"{row.principal}", f"{row.interest}")
            for row in schedule
        ],
        "guarantees": [(LOAN, "DB-0001", _day(disbursed), "")],
        "repayments": [
            (LOAN, _day(row.due_on), f"{row.total}", f"YH{row.due_on:%Y%m%d}{row.seq:03d}",
             "bank_transfer", "")
            for row in paid
        ],
        "collateral": [
            (LOAN, "real_estate", "鼓楼区五四路1号房产", "800000.00",
             _day(disbursed - timedelta(days=10)), "appraisal", "", "registry",
             "福州市鼓楼区五四路1号", "held", "", "", "", "", "", "", ""),
        ],
    }  # fmt: skip


def template_sheets(today: date) -> list[tuple[str, list[str], list[tuple[str, ...]]]]:
    """(sheet, header, rows) for every table, in import order."""
    rows = template_rows(today)
    return [(name, TABLES[name].column_names, rows[name]) for name in TABLE_ORDER]


def _day(day: date) -> str:
    return day.isoformat()
