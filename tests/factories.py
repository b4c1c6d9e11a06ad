"""factory_boy factories; fixtures in conftest.py compose them.

Loans are booked through the service (schedule, handover, guarantees), so a loan
from here is a loan as the portal makes it.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from borrowers import services as borrower_services
from borrowers.models import Borrower, Guarantor
from common import idnumbers
from loans import services as loan_services
from loans.models import Branch, LoanProduct

_serial = itertools.count(1)


def valid_resident_id(n: int | None = None, *, born: date = date(1985, 6, 15)) -> str:
    n = next(_serial) if n is None else n
    # The birth date moves on every 1000 numbers, so that the numbers stay distinct.
    first17 = f"350102{(born + timedelta(days=n // 1000)):%Y%m%d}{n % 1000:03d}"
    return first17 + idnumbers.resident_id_check_char(first17)


def valid_credit_code(n: int | None = None) -> str:
    n = next(_serial) if n is None else n
    first17 = f"91350100{n:09d}"
    return first17 + idnumbers.credit_code_check_char(first17)


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"B{n:03d}")
    name = factory.Sequence(lambda n: f"Branch {n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoanProduct
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"P{n:03d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    rate_min = Decimal("0")
    rate_max = Decimal("24")
    amount_min = Decimal("1000.00")
    amount_max = Decimal("2000000.00")
    term_min = 1
    term_max = 60
    min_guarantors = 0
    allows_joint_group = True
    min_group_size = 3
    per_person_limit = Decimal("500000.00")


def make_person(name: str = "", *, created_by=None, **data) -> Borrower:
    n = next(_serial)
    fields = {
        "kind": "person",
        "name": name or f"借款人{n}",
        "id_number": valid_resident_id(n),
        "mobile": f"138{n:08d}",
        "address": f"福州市鼓楼区五四路{n}号",
        "monthly_income": Decimal("20000.00"),
    }
    fields.update(data)
    return borrower_services.borrower_create(data=fields, created_by=created_by)


def make_enterprise(name: str = "", **data) -> Borrower:
    n = next(_serial)
    fields = {
        "kind": "enterprise",
        "name": name or f"福州测试{n}有限公司",
        "credit_code": valid_credit_code(n),
    }
    fields.update(data)
    return borrower_services.borrower_create(data=fields)


def make_guarantor(name: str = "", **kwargs) -> Guarantor:
    n = next(_serial)
    return borrower_services.guarantor_create(
        kind="person", name=name or f"担保人{n}", id_number=valid_resident_id(n), **kwargs
    )


def book_loan(
    *,
    borrower: Borrower,
    officer,
    product: LoanProduct | None = None,
    branch: Branch | None = None,
    principal: Decimal = Decimal("120000.00"),
    annual_rate: Decimal = Decimal("12"),
    term_months: int = 12,
    method: str = "equal_installment",
    disbursed_on: date | None = None,
    first_due_on: date | None = None,
    guarantors=(),
    originating_officer=None,
    **kwargs,
):
    return loan_services.loan_book(
        borrower=borrower,
        product=product or ProductFactory(),
        branch=branch or BranchFactory(),
        principal=principal,
        annual_rate=annual_rate,
        term_months=term_months,
        repayment_method=method,
        disbursed_on=disbursed_on or timezone.localdate() - timedelta(days=10),
        first_due_on=first_due_on,
        guarantors=list(guarantors),
        originating_officer=originating_officer or officer,
        managing_officer=officer,
        **kwargs,
    )
