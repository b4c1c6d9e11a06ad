"""Portfolio import (issue 16): the template workbook that the upload page offers imports as it
is downloaded into the demo portal (`manage.py setup_demo`) — preview clean, confirm, the loans
found, and nothing the demo had changed."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from borrowers.models import Borrower, Guarantee
from loans.models import Handover, Loan, LoanProduct
from portfolio import import_template
from postloan.models import LoanRiskState

pytestmark = pytest.mark.django_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(client) -> bytes:
    response = client.get(reverse("portfolio:import_template"))
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    return b"".join(response.streaming_content)


@pytest.mark.clock(date(2026, 3, 18))
def test_the_template_imports_unchanged_into_the_demo_portal(client):
    # given the demo portal, as `make run` sets it up
    call_command("setup_demo", allow_production=True, stdout=io.StringIO())
    products = list(LoanProduct.objects.order_by("code").values())
    borrowers, loans = Borrower.objects.count(), Loan.objects.count()
    client.force_login(User.objects.get(username="risk"))
    # when a risk manager downloads the template and uploads it unchanged
    workbook = _download(client)
    upload = SimpleUploadedFile("daihou-import-template.xlsx", workbook, content_type=XLSX)
    assert client.post(reverse("portfolio:import"), {"files": [upload]}).status_code == 302
    preview = client.get(reverse("portfolio:import_preview"))
    # then the preview is clean and creates the example book, changing nothing of the demo's
    result = preview.context["result"]
    assert result.ok, result.errors
    assert {table: count.updated for table, count in result.counts.items()} == dict.fromkeys(
        result.counts, 0
    )
    assert {table: count.created for table, count in result.counts.items()} == {
        "products": 1,
        "officers": 1,
        "borrowers": 2,
        "guarantors": 1,
        "groups": 2,
        "loans": 1,
        "schedule": 12,
        "guarantees": 1,
        "repayments": 3,  # due on 15 January, February and March, each paid on the day
        "collateral": 1,
    }
    assert b"confirm-import" in preview.content
    done = client.post(reverse("portfolio:import_preview"), {"action": "confirm"})
    assert done.status_code == 200 and done.context["done"]
    # the loans are there, current and paid up to date
    loan = Loan.objects.get(reference=import_template.LOAN)
    assert loan.product.code == import_template.PRODUCT and loan.branch.code == "HQ"
    assert loan.disbursed_on == date(2025, 12, 15) and loan.instalments.count() == 12
    assert sum(i.principal_due for i in loan.instalments.all()) == loan.principal
    assert loan.group.reference == import_template.GROUP
    assert set(
        Guarantee.objects.filter(loan=loan, status="active").values_list(
            "guarantor__reference", flat=True
        )
    ) >= {"DB-0001"}
    assert loan.repayments.count() == 3
    state = LoanRiskState.objects.get(loan=loan)
    assert (state.tier, state.consecutive_missed, state.days_past_due) == ("normal", 0, 0)
    assert state.outstanding_principal == loan.principal - sum(
        i.principal_paid for i in loan.instalments.all()
    )
    assert state.outstanding_principal < Decimal("120000.00")
    assert not Handover.objects.filter(loan=loan).exists()  # disbursed over 30 days ago
    assert Borrower.objects.count() == borrowers + 2 and Loan.objects.count() == loans + 1
    # and the demo's products are as they were
    assert (
        list(LoanProduct.objects.exclude(code=import_template.PRODUCT).order_by("code").values())
        == products
    )
    # uploading it again changes nothing
    upload = SimpleUploadedFile("daihou-import-template.xlsx", workbook, content_type=XLSX)
    client.post(reverse("portfolio:import"), {"files": [upload]})
    again = client.get(reverse("portfolio:import_preview")).context["result"]
    assert again.ok and again.changed == 0


@pytest.mark.parametrize(
    "today", [date(2026, 1, 31), date(2026, 3, 1), date(2028, 2, 29), date(2026, 12, 15)]
)
def test_the_template_is_consistent_whatever_the_day(today):
    rows = import_template.template_rows(today)
    schedule = rows["schedule"]
    (loan,) = rows["loans"]
    assert sum(Decimal(row[3]) for row in schedule) == Decimal(loan[3])
    assert date.fromisoformat(loan[6]) < date.fromisoformat(schedule[0][2])
    paid = rows["repayments"]
    assert paid and all(date.fromisoformat(row[1]) <= today for row in paid)
    assert all(
        date.fromisoformat(day) <= today
        for table, column in [("groups", 4), ("guarantees", 2), ("collateral", 4)]
        for row in rows[table]
        if (day := row[column])
    )
