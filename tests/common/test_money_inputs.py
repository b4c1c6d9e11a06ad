"""Every money input of every form takes plain decimal notation only (issue 16, hole 6):
the portal's forms, the admin's, and a page that records an amount."""

from __future__ import annotations

import importlib
import inspect
from datetime import date
from decimal import Decimal

import pytest
from django import forms
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from common.forms import PlainDecimalField
from loans.models import Repayment

pytestmark = pytest.mark.clock(date(2026, 3, 16))

FORM_MODULES = [
    "borrowers.forms",
    "loans.forms",
    "portfolio.forms",
    "postloan.risk.forms",
    "postloan.fieldwork.forms",
    "postloan.inspections.forms",
]
# Coordinates are filled in by the browser's geolocation, not typed, and may be negative.
NOT_TYPED = {"latitude", "longitude", "location_accuracy"}


def _portal_forms():
    for name in FORM_MODULES:
        module = importlib.import_module(name)
        for _name, form in inspect.getmembers(module, inspect.isclass):
            if issubclass(form, forms.BaseForm) and form.__module__ == name:
                yield form


def test_every_decimal_field_of_the_portals_forms_takes_plain_notation():
    found = []
    for form in _portal_forms():
        for name, field in form.base_fields.items():
            if isinstance(field, forms.DecimalField) and name not in NOT_TYPED:
                found.append(f"{form.__name__}.{name}")
                assert isinstance(field, PlainDecimalField), f"{form.__name__}.{name}"
    # The borrower's money facts come from the model, the principal and rate are declared.
    assert {
        "BorrowerForm.monthly_income",
        "BorrowerForm.assets",
        "BorrowerForm.bank_credit",
        "LoanBookForm.principal",
        "LoanBookForm.annual_rate",
        "RepaymentForm.amount",
        "PolicyRuleForm.min_outstanding",
    } <= set(found)


@pytest.mark.django_db
def test_every_decimal_field_of_the_admins_forms_takes_plain_notation(admin_user):
    request = RequestFactory().get("/")
    request.user = admin_user
    checked = 0
    for model, model_admin in admin.site._registry.items():
        form = model_admin.get_form(request)
        for name, field in form.base_fields.items():
            if isinstance(field, forms.DecimalField):
                assert isinstance(field, PlainDecimalField), f"{model.__name__}.{name}"
                checked += 1
        for inline in model_admin.get_inline_instances(request):
            formset = inline.get_formset(request)
            for name, field in formset.form.base_fields.items():
                if isinstance(field, forms.DecimalField):
                    assert isinstance(field, PlainDecimalField), f"{inline.model.__name__}.{name}"
    assert checked >= 5  # products, loans, repayments, collateral, settings...


@pytest.fixture
def loan(officer, product):
    from tests.factories import book_loan, make_person

    return book_loan(
        borrower=make_person("王建国"),
        officer=officer,
        product=product,
        disbursed_on=date(2026, 1, 5),
    )


def _repay(client, loan, amount: str, reference: str):
    return client.post(
        reverse("loans:repayment_create", args=[loan.pk]),
        {
            "paid_on": "2026-03-10",
            "amount": amount,
            "channel": "cash",
            "reference": reference,
            "note": "",
        },
    )


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["1e3", "１０００", "1000.005", "1,00"])
def test_a_repayment_in_another_notation_is_refused_on_the_form(client, officer, typed, loan):
    client.force_login(officer)

    response = _repay(client, loan, typed, "R-1")

    assert response.status_code == 200
    with translation.override("en"):
        errors = list(response.context["form"].errors["amount"])
    assert errors == [
        "Enter the number in plain digits, with at most 2 decimal places: "
        "for example 1234.56 or 1,234.56."
    ]
    assert not Repayment.objects.exists()


@pytest.mark.django_db
def test_a_repayment_with_thousands_separators_is_recorded(client, officer, loan):
    client.force_login(officer)

    response = _repay(client, loan, "1,234.56", "R-2")

    assert response.status_code == 302
    assert Repayment.objects.get().amount == Decimal("1234.56")


@pytest.mark.django_db
def test_the_chinese_page_explains_the_notation(client, officer, loan):
    client.force_login(officer)
    client.cookies["django_language"] = "zh-hans"

    response = _repay(client, loan, "１０００", "R-3")

    [message] = response.context["form"].errors["amount"]
    assert "1,234.56" in message and "Enter the number" not in message
    assert message in response.content.decode()
