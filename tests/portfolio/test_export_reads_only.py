"""A GET starts no book-wide work (issue 16): `/loans/export/?as_of=<past date>` computes
the positions of that date for the user's loans and writes nothing, no classification run,
no state, no flag, no history, however often it is asked for; the figures are still those
of the date."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from loans import ledger
from loans.models import Instalment, Repayment
from portfolio.exporting import PER_LOAN_HEADER
from postloan.risk.rules import quantitative_tier
from tests.factories import make_person
from tests.postloan.helpers import book, classify, pay_instalments, risk

TODAY = date(2026, 11, 10)
PAST = date(2026, 10, 15)

pytestmark = [pytest.mark.django_db, pytest.mark.clock(TODAY)]


def _row_counts() -> dict[str, int]:
    """Every table's row count: the runs, the state, the flags, the audit's history."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        tables = [name for (name,) in cursor.fetchall()]
        counts = {}
        for table in tables:
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


def _state() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM postloan_loanriskstate ORDER BY loan_id")
        return cursor.fetchall()


def _rows(response) -> dict[str, dict[str, str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == PER_LOAN_HEADER
    return {row[0]: dict(zip(PER_LOAN_HEADER, row, strict=True)) for row in rows[1:]}


@pytest.fixture
def book_of_two(officer, other_officer, product, branch):
    """The officer's loan missed four instalments by 15 October and caught up on 1 November;
    another officer's loan. Classified today: the state is today's."""
    mine = book(
        officer,
        product=product,
        branch=branch,
        borrower=make_person("吴明"),
        disbursed_on=date(2026, 6, 1),
        first_due_on=date(2026, 7, 1),
    )
    pay_instalments(mine, 4, date(2026, 11, 1))
    theirs = book(
        other_officer,
        product=product,
        branch=branch,
        borrower=make_person("郑丽"),
        disbursed_on=date(2026, 6, 1),
        first_due_on=date(2026, 7, 1),
    )
    classify(TODAY)
    assert risk(mine).tier == "normal"
    return mine, theirs


def test_a_past_date_export_writes_nothing_and_gives_that_dates_figures(
    client, officer, book_of_two
):
    mine, _theirs = book_of_two
    client.force_login(officer)
    counts, state = _row_counts(), _state()
    # when the officer exports a past date, again and again
    for _ in range(3):
        response = client.get(reverse("portfolio:export"), {"as_of": PAST.isoformat()})
        assert response.status_code == 200
        rows = _rows(response)
    # then no table has a row more or less, and the state is as it was
    assert _row_counts() == counts
    assert _state() == state
    # and the export has the officer's loan as it stood that day
    assert list(rows) == [mine.reference]
    row = rows[mine.reference]
    dues = [
        ledger.InstalmentDue(i.seq, i.due_on, i.principal_due, i.interest_due)
        for i in Instalment.objects.filter(loan=mine).order_by("seq")
    ]
    payments = [
        ledger.Payment(r.pk, r.paid_on, r.amount) for r in Repayment.objects.filter(loan=mine)
    ]
    position = ledger.position(dues, payments, as_of=PAST, grace_days=mine.grace_days)
    assert position.consecutive_missed_periods == 4
    assert int(row["consecutive_missed"]) == 4
    assert row["quantitative_tier"] == row["tier"] == quantitative_tier(4) == "substandard"
    assert row["non_performing"] == "true"
    assert Decimal(row["outstanding_principal"]) == position.outstanding_principal
    assert Decimal(row["overdue_amount"]) == position.overdue_amount
    assert int(row["days_past_due"]) == position.days_past_due


def test_the_workbook_of_a_past_date_writes_nothing_either(client, risk_manager, book_of_two):
    client.force_login(risk_manager)
    counts = _row_counts()
    response = client.get(
        reverse("portfolio:export"), {"as_of": PAST.isoformat(), "format": "xlsx"}
    )
    assert response.status_code == 200
    b"".join(response.streaming_content)
    assert _row_counts() == counts


def test_todays_export_reads_the_state(client, risk_manager, book_of_two):
    mine, theirs = book_of_two
    client.force_login(risk_manager)
    counts = _row_counts()
    rows = _rows(client.get(reverse("portfolio:export")))
    assert _row_counts() == counts
    assert sorted(rows) == sorted([mine.reference, theirs.reference])
    assert rows[mine.reference]["tier"] == risk(mine).tier == "normal"
    assert rows[theirs.reference]["tier"] == risk(theirs).tier
