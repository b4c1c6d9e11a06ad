"""`export_inspections` filters by status and kind (issue 16); the rows keep
loan_ref, kind, due_on, status, officer first."""

from __future__ import annotations

import csv
from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from postloan.models import Inspection
from tests.postloan.helpers import book

pytestmark = [pytest.mark.django_db, pytest.mark.clock(date(2026, 11, 20))]


@pytest.fixture
def inspections(officer, product, branch):
    loan = book(officer, product=product, branch=branch, disbursed_on=date(2026, 6, 1))
    Inspection.objects.filter(loan=loan).delete()
    rows = [
        ("routine", "2026-11#1", date(2026, 11, 15), "done"),
        ("routine", "2026-11#2", date(2026, 11, 30), "open"),
        ("key_tracking", "2026-11#k", date(2026, 11, 20), "open"),
        ("ad_hoc", "flag-1", date(2026, 11, 25), "cancelled"),
    ]
    for kind, slot, due_on, status in rows:
        Inspection.objects.create(
            loan=loan, kind=kind, slot=slot, due_on=due_on, status=status,
            assigned_to=officer, reason="policy",
            completed_on=due_on if status == "done" else None,
            cancelled_on=due_on if status == "cancelled" else None,
            cancel_reason="loan_closed" if status == "cancelled" else "",
        )  # fmt: skip
    return loan


def _export(tmp_path, *filters) -> tuple[list[dict], str]:
    out, stdout = tmp_path / "inspections.csv", StringIO()
    call_command(
        "export_inspections", "--from", "2026-11-01", "--to", "2026-11-30", "--out", str(out),
        *filters, stdout=stdout,
    )  # fmt: skip
    with out.open(encoding="utf-8", newline="") as exported:
        reader = csv.DictReader(exported)
        assert reader.fieldnames[:5] == ["loan_ref", "kind", "due_on", "status", "officer"]
        return list(reader), stdout.getvalue()


def test_the_export_keeps_only_the_statuses_and_kinds_asked_for(inspections, tmp_path):
    rows, said = _export(tmp_path, "--status", "open")
    assert [(row["kind"], row["due_on"]) for row in rows] == [
        ("key_tracking", "2026-11-20"),
        ("routine", "2026-11-30"),
    ]
    assert said.startswith("wrote 2 inspections")
    rows, _ = _export(tmp_path, "--status", "open", "--kind", "routine")
    assert [(row["kind"], row["status"], row["officer"]) for row in rows] == [
        ("routine", "open", "officer-a")
    ]
    rows, _ = _export(tmp_path, "--kind", "routine", "--kind", "ad_hoc")
    assert [row["kind"] for row in rows] == ["routine", "ad_hoc", "routine"]
    rows, _ = _export(tmp_path)
    assert len(rows) == 4 and rows[0]["loan_ref"] == inspections.reference


@pytest.mark.parametrize(
    ("option", "value", "choices"),
    [
        ("--status", "overdue", "'open', 'done', 'cancelled'"),
        ("--kind", "visit", "'routine', 'key_tracking', 'return_visit'"),
    ],
)
def test_an_unknown_status_or_kind_is_refused_with_the_choices(
    inspections, tmp_path, option, value, choices
):
    out = tmp_path / "inspections.csv"
    with pytest.raises(CommandError, match=f"invalid choice: '{value}'") as refused:
        call_command(
            "export_inspections", "--from", "2026-11-01", "--to", "2026-11-30", "--out",
            str(out), option, value,
        )  # fmt: skip
    assert choices in str(refused.value)
    assert not out.exists()
