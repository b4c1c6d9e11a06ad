"""Loan services: booking, repayments and reversals, status, collateral, officers, handover.

Expected amounts are worked out by hand here, not taken from loans/schedule.py: the
¥120,000 / 12% / 12-month equal-instalment loan pays ¥10,661.85 a month (the last
¥10,661.91); its first instalment is ¥1,200.00 interest and ¥9,461.85 principal, the
second ¥1,105.38 interest (1% of the ¥110,538.15 left) and ¥9,556.47 principal.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils import timezone

from borrowers import services as borrower_services
from borrowers.models import Borrower, Guarantee
from loans import services
from loans.models import (
    Allocation,
    Collateral,
    Handover,
    Instalment,
    Loan,
    LoanStatus,
    LoanStatusChange,
    OfficerAssignment,
    Repayment,
    Valuation,
)
from loans.schedule import ScheduledInstalment
from loans.selectors import loan_detail, loan_position
from tests.factories import ProductFactory, book_loan, make_guarantor, make_person

D = Decimal
MONTHLY = D("10661.85")
LAST = D("10661.91")
SCHEDULE_TOTAL = 11 * MONTHLY + LAST  # principal 120,000 plus all the interest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The role fixtures create users with passwords nobody types here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def today() -> date:
    return timezone.localdate()


def counts() -> dict[str, int]:
    """Rows a refused booking or repayment must leave untouched."""
    return {
        model.__name__: model.objects.count()
        for model in (
            Loan,
            Instalment,
            Handover,
            OfficerAssignment,
            Repayment,
            Allocation,
            LoanStatusChange,
            Guarantee,
            Collateral,
            Valuation,
        )
    }


def pay(loan, amount, *, paid_on=None, reference=None, **kwargs) -> Repayment:
    return services.repayment_post(
        loan=loan,
        paid_on=paid_on or today(),
        amount=D(amount),
        channel="bank_transfer",
        reference=reference or f"REF-{Repayment.objects.count() + 1}",
        **kwargs,
    )


def paid(loan) -> list[tuple[int, Decimal, Decimal]]:
    """(seq, interest paid, principal paid) of every instalment, oldest first."""
    return list(
        Instalment.objects.filter(loan=loan)
        .order_by("seq")
        .values_list("seq", "interest_paid", "principal_paid")
    )


def allocations(repayment) -> list[tuple[int, Decimal, Decimal]]:
    return list(
        Allocation.objects.filter(repayment=repayment)
        .order_by("instalment__seq")
        .values_list("instalment__seq", "interest", "principal")
    )


@pytest.fixture
def old_loan(officer, product, branch):
    """The ¥120,000 loan disbursed 2026-01-10, due on the 10th from 2026-02-10."""
    return book_loan(
        borrower=make_person("陈老贷"),
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 1, 10),
    )


# --- Booking ---------------------------------------------------------------------------------


def test_booking_creates_the_schedule_the_reference_the_assignment_and_the_handover(
    officer, other_officer, borrower, product, branch
):
    loan = book_loan(
        borrower=borrower,
        officer=officer,
        originating_officer=other_officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 3, 2),
    )

    instalments = list(loan.instalments.order_by("seq"))
    assert [i.seq for i in instalments] == list(range(1, 13))
    assert [i.due_on for i in instalments] == [date(2026, m, 2) for m in range(4, 13)] + [
        date(2027, m, 2) for m in range(1, 4)
    ]
    assert (instalments[0].interest_due, instalments[0].principal_due) == (
        D("1200.00"),
        D("9461.85"),
    )
    assert (instalments[1].interest_due, instalments[1].principal_due) == (
        D("1105.38"),
        D("9556.47"),
    )
    assert all(i.amount_due == MONTHLY for i in instalments[:-1])
    assert instalments[-1].amount_due == LAST
    assert sum(i.principal_due for i in instalments) == D("120000.00")
    assert loan.first_due_on == date(2026, 4, 2)
    assert loan.maturity_on == date(2027, 3, 2)
    assert loan.status == LoanStatus.ACTIVE and loan.closed_on is None
    assert loan.schedule_source == "generated"
    assert re.fullmatch(r"DK-2026-\d{6}", loan.reference)

    (assignment,) = OfficerAssignment.objects.filter(loan=loan)
    assert assignment.from_officer is None
    assert assignment.to_officer == officer
    assert assignment.effective_on == date(2026, 3, 2)

    handover = Handover.objects.get(loan=loan)
    assert (handover.from_officer, handover.to_officer) == (other_officer, officer)
    # Mon 2026-03-02 + 5 working days (an ordinary week in the package's calendar).
    assert handover.due_on == date(2026, 3, 9)
    assert handover.due_is_provisional is False
    assert handover.contacted_on is None


def test_references_come_from_a_sequence_and_never_repeat(officer, product, branch):
    loans = [
        book_loan(borrower=make_person(), officer=officer, product=product, branch=branch)
        for _ in range(3)
    ]
    numbers = [int(loan.reference.rsplit("-", 1)[1]) for loan in loans]
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"principal": D("999.99")}, "principal"),
        ({"principal": D("2000000.01")}, "principal"),
        ({"principal": D("0")}, "principal"),
        ({"principal": D("5000.001")}, "principal"),
        ({"annual_rate": D("24.001")}, "annual_rate"),
        ({"term_months": 61}, "term_months"),
        ({"first_due_on": date(2026, 3, 1)}, "first_due_on"),  # before disbursement
        ({"first_due_on": date(2026, 3, 2)}, "first_due_on"),  # the same day
        ({"disbursed_on": date(2026, 3, 2), "today": date(2026, 3, 1)}, "disbursed_on"),
        ({"method": "bullet"}, "repayment_method"),  # the product offers equal instalments only
        ({"method": "balloon"}, "repayment_method"),  # no such method
    ],
)
def test_terms_outside_the_product_are_refused_per_field_and_nothing_is_saved(
    officer, borrower, branch, changes, field
):
    product = ProductFactory(repayment_methods=["equal_installment"])
    before = counts()
    arguments = {"disbursed_on": date(2026, 3, 2)} | changes

    with pytest.raises(ValidationError) as refused:
        book_loan(borrower=borrower, officer=officer, product=product, branch=branch, **arguments)

    assert field in refused.value.message_dict
    assert counts() == before


def test_an_unknown_repayment_method_is_a_field_error_even_when_every_method_is_offered(
    officer, borrower, product, branch
):
    assert product.repayment_methods == []
    before = counts()
    with pytest.raises(ValidationError) as refused:
        book_loan(
            borrower=borrower, officer=officer, product=product, branch=branch, method="balloon"
        )
    assert "repayment_method" in refused.value.message_dict
    assert counts() == before


def test_the_product_limits_themselves_are_accepted(officer, branch):
    product = ProductFactory(per_person_limit=D("3000000.00"))
    low = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        principal=D("1000.00"),
        annual_rate=D("0"),
        term_months=1,
    )
    high = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        principal=D("2000000.00"),
        annual_rate=D("24"),
        term_months=60,
    )
    assert low.instalments.get().principal_due == D("1000.00")
    assert high.instalments.count() == 60


def test_a_borrower_whose_legal_status_is_not_normal_cannot_borrow(officer, product, branch):
    borrower = make_person()
    Borrower.objects.filter(pk=borrower.pk).update(legal_status="deceased")
    borrower.refresh_from_db()
    before = counts()

    with pytest.raises(ValidationError) as refused:
        book_loan(borrower=borrower, officer=officer, product=product, branch=branch)

    assert "borrower" in refused.value.message_dict
    assert counts() == before


def test_a_product_needing_a_guarantor_refuses_a_loan_without_one(officer, borrower, branch):
    product = ProductFactory(min_guarantors=1)
    before = counts()
    with pytest.raises(ValidationError) as refused:
        book_loan(borrower=borrower, officer=officer, product=product, branch=branch)
    assert "guarantors" in refused.value.message_dict
    assert counts() == before

    guarantor = make_guarantor("赵担保")
    loan = book_loan(
        borrower=borrower, officer=officer, product=product, branch=branch, guarantors=[guarantor]
    )
    (guarantee,) = Guarantee.objects.filter(loan=loan)
    assert (guarantee.guarantor, guarantee.kind, guarantee.status) == (
        guarantor,
        "ordinary",
        "active",
    )


def test_a_joint_group_member_needs_no_ordinary_guarantor(officer, branch):
    product = ProductFactory(min_guarantors=1, allows_joint_group=True, min_group_size=3)
    members = [make_person(f"联保{n}") for n in range(3)]
    group = borrower_services.group_form(
        name="三户联保", product=product, members=members, formed_on=date(2026, 1, 5)
    )

    loan = book_loan(borrower=members[0], officer=officer, product=product, branch=branch)

    assert loan.group == group
    guarantors = set(
        Guarantee.objects.filter(loan=loan, kind="joint_group").values_list(
            "guarantor__borrower", flat=True
        )
    )
    assert guarantors == {members[1].pk, members[2].pk}


def test_the_per_person_limit_counts_what_the_borrower_still_owes(officer, borrower, branch):
    product = ProductFactory(per_person_limit=D("500000.00"))
    first = book_loan(borrower=borrower, officer=officer, product=product, branch=branch)
    before = counts()

    with pytest.raises(ValidationError) as refused:
        book_loan(
            borrower=borrower,
            officer=officer,
            product=product,
            branch=branch,
            principal=D("380000.01"),
        )
    assert "principal" in refused.value.message_dict
    assert counts() == before

    # A repayment of principal frees limit: ¥9,461.85 of the first instalment.
    pay(first, MONTHLY)
    book_loan(
        borrower=borrower,
        officer=officer,
        product=product,
        branch=branch,
        principal=D("380000.00") + D("9461.85"),
    )


def test_the_limit_check_can_be_switched_off_for_migrated_loans(officer, borrower, branch):
    product = ProductFactory(per_person_limit=D("100000.00"))
    loan = book_loan(
        borrower=borrower, officer=officer, product=product, branch=branch, enforce_limit=False
    )
    assert loan.principal == D("120000.00")


def test_officers_must_be_active_loan_officers(officer, risk_manager, make_user, borrower, branch):
    from common.roles import Role

    inactive = make_user("gone", Role.LOAN_OFFICER, is_active=False)
    before = counts()
    for managing, originating, field in [
        (risk_manager, officer, "managing_officer"),
        (officer, risk_manager, "originating_officer"),
        (inactive, officer, "managing_officer"),
    ]:
        with pytest.raises(ValidationError) as refused:
            book_loan(
                borrower=borrower,
                officer=managing,
                originating_officer=originating,
                branch=branch,
            )
        assert field in refused.value.message_dict
    assert counts() == before


def _explicit(*rows):
    return [
        ScheduledInstalment(seq, due_on, D(principal), D(interest))
        for seq, due_on, principal, interest in rows
    ]


def test_an_explicit_schedule_is_stored_as_given(officer, borrower, product, branch):
    rows = _explicit(
        (1, date(2026, 2, 20), "30000.00", "900.00"),
        (2, date(2026, 4, 20), "30000.00", "600.00"),
        (3, date(2026, 7, 1), "60000.00", "720.50"),
    )
    loan = book_loan(
        borrower=borrower,
        officer=officer,
        product=product,
        branch=branch,
        term_months=6,
        disbursed_on=date(2026, 1, 20),
        explicit_schedule=rows,
    )
    stored = list(
        loan.instalments.order_by("seq").values_list("due_on", "principal_due", "interest_due")
    )
    assert stored == [(r.due_on, r.principal, r.interest) for r in rows]
    assert loan.schedule_source == "explicit"
    assert (loan.first_due_on, loan.maturity_on) == (date(2026, 2, 20), date(2026, 7, 1))


@pytest.mark.parametrize(
    "rows",
    [
        # numbered with a gap
        _explicit((1, date(2026, 2, 20), "60000.00", "0"), (3, date(2026, 3, 20), "60000.00", "0")),
        # dates not strictly increasing
        _explicit((1, date(2026, 2, 20), "60000.00", "0"), (2, date(2026, 2, 20), "60000.00", "0")),
        # one fen short of the principal
        _explicit((1, date(2026, 2, 20), "60000.00", "0"), (2, date(2026, 3, 20), "59999.99", "0")),
        # one fen over
        _explicit((1, date(2026, 2, 20), "60000.00", "0"), (2, date(2026, 3, 20), "60000.01", "0")),
        # first due on the disbursement day
        _explicit((1, date(2026, 1, 20), "60000.00", "0"), (2, date(2026, 3, 20), "60000.00", "0")),
        [],
    ],
)
def test_a_malformed_explicit_schedule_is_refused(officer, borrower, product, branch, rows):
    before = counts()
    with pytest.raises(ValidationError) as refused:
        book_loan(
            borrower=borrower,
            officer=officer,
            product=product,
            branch=branch,
            disbursed_on=date(2026, 1, 20),
            explicit_schedule=rows,
        )
    assert set(refused.value.message_dict) & {"schedule", "first_due_on"}
    assert counts() == before


# --- Repayments -----------------------------------------------------------------------------


def test_a_payment_goes_to_the_oldest_instalment_interest_first(loan):
    repayment = pay(loan, "500.00")
    assert allocations(repayment) == [(1, D("500.00"), D("0.00"))]

    second = pay(loan, "15000.00")
    # 700 interest + 9,461.85 principal finish instalment 1; 1,105.38 interest of
    # instalment 2; the remaining 3,732.77 go to its principal.
    assert allocations(second) == [
        (1, D("700.00"), D("9461.85")),
        (2, D("1105.38"), D("3732.77")),
    ]
    assert paid(loan)[:3] == [
        (1, D("1200.00"), D("9461.85")),
        (2, D("1105.38"), D("3732.77")),
        (3, D("0.00"), D("0.00")),
    ]
    position = loan_position(loan)
    assert position.outstanding_principal == D("120000.00") - D("9461.85") - D("3732.77")
    assert position.outstanding_total == SCHEDULE_TOTAL - D("15500.00")
    loan.refresh_from_db()
    assert loan.status == LoanStatus.ACTIVE


def test_a_backdated_payment_is_allocated_in_date_order(old_loan):
    later = pay(old_loan, "1000.00", paid_on=date(2026, 2, 5))
    earlier = pay(old_loan, "500.00", paid_on=date(2026, 2, 1))

    # The allocation is rebuilt from every standing payment in the order they were paid.
    assert allocations(earlier) == [(1, D("500.00"), D("0.00"))]
    assert allocations(later) == [(1, D("700.00"), D("300.00"))]
    assert paid(old_loan)[0] == (1, D("1200.00"), D("300.00"))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": D("0")}, "amount"),
        ({"amount": D("-100.00")}, "amount"),
        ({"amount": D("100.001")}, "amount"),
        ({"paid_on": date(2026, 1, 9)}, "paid_on"),  # the day before disbursement
        ({"paid_on": "tomorrow"}, "paid_on"),
        ({"reference": ""}, "reference"),
        ({"reference": "   "}, "reference"),
        ({"reference": "DUP-1"}, "reference"),
        ({"reference": " DUP-1 "}, "reference"),
        ({"channel": "barter"}, "channel"),
    ],
)
def test_bad_repayments_are_refused_per_field_and_nothing_is_saved(old_loan, changes, field):
    pay(old_loan, "500.00", paid_on=date(2026, 2, 1), reference="DUP-1")
    before = counts()
    before_paid = paid(old_loan)
    arguments = {
        "loan": old_loan,
        "paid_on": date(2026, 3, 10),
        "amount": D("100.00"),
        "channel": "bank_transfer",
        "reference": "NEW-1",
    } | changes
    if arguments["paid_on"] == "tomorrow":
        arguments["paid_on"] = today() + timedelta(days=1)

    with pytest.raises(ValidationError) as refused:
        services.repayment_post(**arguments)

    assert field in refused.value.message_dict
    assert counts() == before
    assert paid(old_loan) == before_paid


def test_the_same_reference_may_be_used_on_another_loan(loan, other_loan):
    pay(loan, "100.00", reference="BANK-778")
    pay(other_loan, "100.00", reference="BANK-778")
    assert Repayment.objects.filter(reference="BANK-778").count() == 2


def test_a_payment_on_the_disbursement_day_and_today_is_accepted(loan):
    pay(loan, "100.00", paid_on=loan.disbursed_on)
    pay(loan, "100.00", paid_on=today())
    assert Repayment.objects.filter(loan=loan).count() == 2


def test_paying_more_than_everything_owed_is_refused(loan):
    pay(loan, "1000.00")
    before = counts()
    with pytest.raises(ValidationError) as refused:
        pay(loan, SCHEDULE_TOTAL - D("1000.00") + D("0.01"))
    assert "amount" in refused.value.message_dict
    assert counts() == before


def test_paying_exactly_everything_settles_the_loan(old_loan):
    pay(old_loan, "1000.00", paid_on=date(2026, 2, 1))
    pay(old_loan, SCHEDULE_TOTAL - D("1000.00"), paid_on=date(2026, 6, 30))

    old_loan.refresh_from_db()
    assert old_loan.status == LoanStatus.SETTLED
    assert old_loan.closed_on == date(2026, 6, 30)
    (change,) = LoanStatusChange.objects.filter(loan=old_loan)
    assert (change.from_status, change.to_status, change.effective_on) == (
        "active",
        "settled",
        date(2026, 6, 30),
    )
    assert all(i.outstanding == 0 for i in old_loan.instalments.all())
    # Every fen went somewhere: the allocation adds up to the payments.
    allocated = sum(
        a.interest + a.principal for a in Allocation.objects.filter(repayment__loan=old_loan)
    )
    assert allocated == SCHEDULE_TOTAL

    with pytest.raises(ValidationError) as refused:
        pay(old_loan, "1.00")
    assert "__all__" in refused.value.message_dict


def test_no_repayment_on_a_written_off_loan(old_loan, risk_manager):
    services.loan_write_off(
        loan=old_loan, on=date(2026, 8, 1), reason="借款人失联", by=risk_manager
    )
    before = counts()
    with pytest.raises(ValidationError) as refused:
        pay(old_loan, "100.00", paid_on=date(2026, 8, 2))
    assert "__all__" in refused.value.message_dict
    assert counts() == before


def test_a_reversal_keeps_the_row_and_reallocates_the_rest(old_loan, risk_manager):
    first = pay(old_loan, "1000.00", paid_on=date(2026, 2, 1))
    second = pay(old_loan, "1000.00", paid_on=date(2026, 2, 5))
    assert allocations(second) == [(1, D("200.00"), D("800.00"))]

    services.repayment_reverse(repayment=first, reason="录入错误", by=risk_manager)

    first.refresh_from_db()
    assert first.is_reversed
    assert (first.reversed_by, first.reversal_reason) == (risk_manager, "录入错误")
    assert first.amount == D("1000.00")  # kept, never deleted
    assert allocations(first) == []
    assert allocations(second) == [(1, D("1000.00"), D("0.00"))]
    assert paid(old_loan)[0] == (1, D("1000.00"), D("0.00"))
    assert loan_position(old_loan).outstanding_total == SCHEDULE_TOTAL - D("1000.00")

    # The reference stays taken: the bank's record exists.
    with pytest.raises(ValidationError) as refused:
        pay(old_loan, "5.00", paid_on=date(2026, 3, 1), reference=first.reference)
    assert "reference" in refused.value.message_dict


def test_a_reversal_needs_a_reason_and_happens_once(loan, risk_manager):
    repayment = pay(loan, "100.00")
    with pytest.raises(ValidationError) as refused:
        services.repayment_reverse(repayment=repayment, reason="  ", by=risk_manager)
    assert "reason" in refused.value.message_dict
    repayment.refresh_from_db()
    assert not repayment.is_reversed

    services.repayment_reverse(repayment=repayment, reason="重复", by=risk_manager)
    with pytest.raises(ValidationError) as refused:
        services.repayment_reverse(repayment=repayment, reason="again", by=risk_manager)
    assert "__all__" in refused.value.message_dict


def test_reversing_the_settling_payment_reopens_the_loan(old_loan, risk_manager):
    pay(old_loan, "1000.00", paid_on=date(2026, 2, 1))
    settling = pay(old_loan, SCHEDULE_TOTAL - D("1000.00"), paid_on=date(2026, 6, 30))
    old_loan.refresh_from_db()
    assert old_loan.status == LoanStatus.SETTLED

    services.repayment_reverse(repayment=settling, reason="退票", by=risk_manager)

    old_loan.refresh_from_db()
    assert old_loan.status == LoanStatus.ACTIVE
    assert old_loan.closed_on is None
    changes = list(
        LoanStatusChange.objects.filter(loan=old_loan).values_list("from_status", "to_status")
    )
    assert changes == [("active", "settled"), ("settled", "active")]
    assert loan_position(old_loan).outstanding_total == SCHEDULE_TOTAL - D("1000.00")
    # Open again: it takes repayments again.
    pay(old_loan, "10.00", paid_on=date(2026, 7, 1))


def test_repayments_on_a_written_off_loan_cannot_be_reversed(old_loan, risk_manager):
    repayment = pay(old_loan, "100.00", paid_on=date(2026, 2, 1))
    services.loan_write_off(loan=old_loan, on=date(2026, 8, 1), reason="核销", by=risk_manager)
    with pytest.raises(ValidationError):
        services.repayment_reverse(repayment=repayment, reason="x", by=risk_manager)
    repayment.refresh_from_db()
    assert not repayment.is_reversed


def test_record_many_checks_every_row_then_allocates_once(old_loan):
    rows = [
        {"paid_on": date(2026, 2, 10), "amount": MONTHLY, "reference": "M-1"},
        {"paid_on": date(2026, 3, 10), "amount": MONTHLY, "reference": "M-2"},
        {"paid_on": date(2026, 4, 12), "amount": D("500.00"), "reference": "M-3"},
    ]
    created = services.repayments_record_many(loan=old_loan, rows=rows)

    assert [r.reference for r in created] == ["M-1", "M-2", "M-3"]
    assert paid(old_loan)[:3] == [
        (1, D("1200.00"), D("9461.85")),
        (2, D("1105.38"), D("9556.47")),
        (3, D("500.00"), D("0.00")),  # instalment 3's interest is 1,009.82
    ]


@pytest.mark.parametrize(
    "bad_row",
    [
        {"paid_on": date(2026, 3, 10), "amount": D("0"), "reference": "B-1"},
        {"paid_on": date(2026, 3, 10), "amount": D("1.005"), "reference": "B-1"},
        {"paid_on": date(2026, 1, 9), "amount": D("10.00"), "reference": "B-1"},
        {"paid_on": date(2099, 1, 1), "amount": D("10.00"), "reference": "B-1"},
        {"paid_on": date(2026, 3, 10), "amount": D("10.00"), "reference": "M-1"},  # repeated
        {"paid_on": date(2026, 3, 10), "amount": D("10.00"), "reference": "OLD-1"},  # taken
        {"paid_on": date(2026, 3, 10), "amount": SCHEDULE_TOTAL, "reference": "B-1"},  # too much
    ],
)
def test_record_many_saves_nothing_when_one_row_is_wrong(old_loan, bad_row):
    pay(old_loan, "10.00", paid_on=date(2026, 2, 1), reference="OLD-1")
    before = counts()
    rows = [{"paid_on": date(2026, 2, 10), "amount": D("100.00"), "reference": "M-1"}, bad_row]
    with pytest.raises(ValidationError) as refused:
        services.repayments_record_many(loan=old_loan, rows=rows)
    assert "repayments" in refused.value.message_dict
    assert counts() == before


def test_record_many_refuses_an_unknown_channel(old_loan):
    before = counts()
    with pytest.raises(ValidationError) as refused:
        services.repayments_record_many(
            loan=old_loan,
            rows=[
                {
                    "paid_on": date(2026, 2, 10),
                    "amount": D("10.00"),
                    "reference": "C-1",
                    "channel": "barter",
                }
            ],
        )
    assert "repayments" in refused.value.message_dict
    assert counts() == before


def test_record_many_settles_a_loan_paid_in_full(old_loan):
    rows = [
        {"paid_on": date(2026, 2, 10), "amount": D("60000.00"), "reference": "S-1"},
        {
            "paid_on": date(2026, 5, 10),
            "amount": SCHEDULE_TOTAL - D("60000.00"),
            "reference": "S-2",
        },
    ]
    services.repayments_record_many(loan=old_loan, rows=rows)
    old_loan.refresh_from_db()
    assert (old_loan.status, old_loan.closed_on) == (LoanStatus.SETTLED, date(2026, 5, 10))


def test_record_many_refuses_a_loan_that_is_not_active(old_loan, risk_manager):
    services.loan_write_off(loan=old_loan, on=date(2026, 8, 1), reason="核销", by=risk_manager)
    before = counts()
    with pytest.raises(ValidationError):
        services.repayments_record_many(
            loan=old_loan,
            rows=[{"paid_on": date(2026, 8, 2), "amount": D("10.00"), "reference": "W-1"}],
        )
    assert counts() == before


# --- Status ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "legal"),
    [
        (["written_off"], True),
        (["settled"], True),
        (["settled", "active"], True),
        (["settled", "written_off"], False),
        (["written_off", "active"], False),
        (["written_off", "settled"], False),
        (["active"], False),
        (["settled", "settled"], False),
    ],
)
def test_status_moves_only_along_the_allowed_transitions(loan, risk_manager, path, legal):
    *allowed, last = path
    for status in allowed:
        services.loan_transition(loan=loan, to=status, on=today(), reason="test", by=risk_manager)
    before = LoanStatusChange.objects.count()
    if legal:
        services.loan_transition(loan=loan, to=last, on=today(), reason="test", by=risk_manager)
        loan.refresh_from_db()
        assert loan.status == last
        assert (loan.closed_on is None) == (last == "active")
        assert LoanStatusChange.objects.count() == before + 1
    else:
        with pytest.raises(ValidationError):
            services.loan_transition(loan=loan, to=last, on=today(), reason="x", by=risk_manager)
        assert Loan.objects.get(pk=loan.pk).status == (allowed[-1] if allowed else "active")
        assert LoanStatusChange.objects.count() == before


def test_a_transition_decides_on_the_stored_status_not_a_stale_copy(loan, risk_manager):
    stale = Loan.objects.get(pk=loan.pk)
    services.loan_transition(loan=loan, to="written_off", on=today(), reason="核销")
    assert stale.status == "active"

    with pytest.raises(ValidationError):
        services.loan_transition(loan=stale, to="settled", on=today(), reason="x")

    assert Loan.objects.get(pk=loan.pk).status == "written_off"
    assert LoanStatusChange.objects.filter(loan=loan).count() == 1


def test_an_unknown_status_is_an_illegal_transition(loan):
    with pytest.raises(ValidationError):
        services.loan_transition(loan=loan, to="frozen", on=today(), reason="x")
    assert Loan.objects.get(pk=loan.pk).status == "active"


def test_a_write_off_needs_a_reason_and_a_date_between_disbursement_and_today(
    old_loan, risk_manager
):
    for on, reason, field in [
        (date(2026, 8, 1), " ", "reason"),
        (today() + timedelta(days=1), "x", "on"),
        (date(2026, 1, 9), "x", "on"),
    ]:
        with pytest.raises(ValidationError) as refused:
            services.loan_write_off(loan=old_loan, on=on, reason=reason, by=risk_manager)
        assert field in refused.value.message_dict
    services.loan_write_off(loan=old_loan, on=date(2026, 8, 1), reason="失联", by=risk_manager)
    old_loan.refresh_from_db()
    assert (old_loan.status, old_loan.closed_on) == ("written_off", date(2026, 8, 1))
    change = LoanStatusChange.objects.get(loan=old_loan)
    assert (change.changed_by, change.reason) == (risk_manager, "失联")


# --- Position as of a date ---------------------------------------------------------------------


def test_the_position_counts_consecutive_missed_periods_as_of_any_date(old_loan):
    # Instalment 1 (due 2026-02-10) paid on time; nothing after.
    pay(old_loan, MONTHLY, paid_on=date(2026, 2, 9))

    assert loan_position(old_loan, as_of=date(2026, 2, 9)).consecutive_missed_periods == 0
    assert loan_position(old_loan, as_of=date(2026, 3, 10)).consecutive_missed_periods == 0
    on_11_march = loan_position(old_loan, as_of=date(2026, 3, 11))
    assert on_11_march.consecutive_missed_periods == 1
    assert on_11_march.missed_seqs == (2,)
    assert on_11_march.overdue_amount == MONTHLY
    assert on_11_march.days_past_due == 1
    assert loan_position(old_loan, as_of=date(2026, 6, 11)).consecutive_missed_periods == 4
    # A payment dated after as_of does not count yet.
    pay(old_loan, MONTHLY, paid_on=date(2026, 6, 20))
    assert loan_position(old_loan, as_of=date(2026, 6, 11)).consecutive_missed_periods == 4
    # Instalments are paid oldest first: the run shrinks from its old end.
    assert loan_position(old_loan, as_of=date(2026, 6, 20)).missed_seqs == (3, 4, 5)


def test_a_bullet_loan_keeps_ageing_monthly_after_maturity(officer, product, branch):
    loan = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        method="bullet",
        term_months=3,
        disbursed_on=date(2025, 10, 15),
    )
    assert loan.maturity_on == date(2026, 1, 15)
    expectations = {
        date(2026, 1, 15): 0,
        date(2026, 1, 16): 1,
        date(2026, 2, 14): 1,
        date(2026, 2, 15): 2,
        date(2026, 3, 15): 3,
        date(2026, 11, 15): 11,
    }
    for as_of, periods in expectations.items():
        assert loan_position(loan, as_of=as_of).consecutive_missed_periods == periods, as_of


def test_grace_days_delay_a_miss(officer, branch):
    product = ProductFactory(grace_days=5)
    loan = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 1, 10),
    )
    assert loan.grace_days == 5
    assert loan_position(loan, as_of=date(2026, 2, 15)).consecutive_missed_periods == 0
    assert loan_position(loan, as_of=date(2026, 2, 16)).consecutive_missed_periods == 1


def test_a_reversed_payment_no_longer_counts_in_the_position(old_loan, risk_manager):
    repayment = pay(old_loan, MONTHLY, paid_on=date(2026, 2, 9))
    assert loan_position(old_loan, as_of=date(2026, 2, 11)).consecutive_missed_periods == 0
    services.repayment_reverse(repayment=repayment, reason="退票", by=risk_manager)
    assert loan_position(old_loan, as_of=date(2026, 2, 11)).consecutive_missed_periods == 1


# --- Collateral ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"kind": "vehicle"}, {"kind"}),
        ({"owner_is_borrower": False, "owner_name": " "}, {"owner_name"}),
        ({"kind": "off_plan"}, {"developer", "expected_completion_on"}),
        ({"value": D("500000.00")}, {"value"}),
        ({"valued_on": date(2026, 1, 5)}, {"value"}),
        ({"value": D("-1.00"), "valued_on": date(2026, 1, 5)}, {"value"}),
        ({"value": D("1.00"), "valued_on": date(2099, 1, 5)}, {"valued_on"}),
    ],
)
def test_bad_collateral_is_refused_per_field_and_nothing_is_saved(officer, branch, data, fields):
    product = ProductFactory(collateral_kinds=["real_estate", "off_plan"])
    loan = book_loan(borrower=make_person(), officer=officer, product=product, branch=branch)
    before = counts()
    with pytest.raises(ValidationError) as refused:
        services.collateral_add(
            loan=loan, **({"kind": "real_estate", "description": "鼓楼区某小区 3-201"} | data)
        )
    assert fields <= set(refused.value.message_dict)
    assert counts() == before


def test_collateral_with_a_third_party_owner_and_a_first_valuation(loan, officer):
    collateral = services.collateral_add(
        loan=loan,
        kind="off_plan",
        description="某楼盘 5 号楼 1201",
        owner_is_borrower=False,
        owner_name="王母",
        developer="福州某置业",
        expected_completion_on=date(2027, 6, 30),
        value=D("800000.00"),
        valued_on=date(2026, 11, 1),
        by=officer,
    )
    assert (collateral.owner_name, collateral.status) == ("王母", "held")
    (valuation,) = collateral.valuations.all()
    assert (valuation.value, valuation.valued_on, valuation.recorded_by) == (
        D("800000.00"),
        date(2026, 11, 1),
        officer,
    )


def test_off_plan_progress_needs_past_dates_and_a_title_with_registration(loan):
    collateral = services.collateral_add(
        loan=loan,
        kind="off_plan",
        description="期房",
        developer="开发商",
        expected_completion_on=date(2027, 6, 30),
    )
    with pytest.raises(ValidationError) as refused:
        services.collateral_record_progress(
            collateral=collateral, completed_on=today() + timedelta(days=1)
        )
    assert "completed_on" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        services.collateral_record_progress(collateral=collateral, registration_on=date(2026, 5, 1))
    assert "title_certificate_number" in refused.value.message_dict
    collateral.refresh_from_db()
    assert (collateral.completed_on, collateral.registration_on) == (None, None)

    services.collateral_record_progress(
        collateral=collateral,
        completed_on=date(2026, 4, 1),
        pre_registration_on=date(2026, 2, 1),
        registration_on=date(2026, 5, 1),
        title_certificate_number=" 闽(2026)福州市不动产权第0001号 ",
    )
    collateral.refresh_from_db()
    assert collateral.registration_on == date(2026, 5, 1)
    assert collateral.title_certificate_number == "闽(2026)福州市不动产权第0001号"
    assert collateral.completed_on == date(2026, 4, 1)


def test_held_collateral_is_released_or_enforced_once_and_the_move_is_recorded(loan, officer):
    collateral = services.collateral_add(loan=loan, kind="vehicle", description="车")
    # The form sends the current status with every milestone: no move, nothing refused.
    services.collateral_record_progress(collateral=collateral, status="held", by=officer)
    services.collateral_record_progress(collateral=collateral, status="released", by=officer)
    collateral.refresh_from_db()
    assert collateral.status == "released"
    events = apps.get_model("loans", "CollateralEvent").objects.filter(pgh_obj_id=collateral.pk)
    assert list(events.order_by("pgh_id").values_list("status", flat=True)) == ["held", "released"]
    with pytest.raises(ValidationError) as refused:
        services.collateral_record_progress(collateral=collateral, status="enforced", by=officer)
    assert refused.value.message_dict == {
        "status": ["Collateral that is Released cannot become Enforced."]
    }
    collateral.refresh_from_db()
    assert collateral.status == "released"


def test_loan_to_value_uses_the_latest_valuation_of_held_collateral(loan):
    house = services.collateral_add(
        loan=loan,
        kind="real_estate",
        description="房产",
        value=D("100000.00"),
        valued_on=date(2026, 1, 1),
    )
    services.valuation_add(
        collateral=house, valued_on=date(2026, 9, 1), value=D("90000.00"), method="market"
    )
    # Entered later but valued earlier: not the latest.
    services.valuation_add(
        collateral=house, valued_on=date(2026, 5, 1), value=D("500000.00"), method="market"
    )
    car = services.collateral_add(
        loan=loan, kind="vehicle", description="车", value=D("60000.00"), valued_on=today()
    )
    released = services.collateral_add(
        loan=loan, kind="machinery", description="设备", value=D("1000000.00"), valued_on=today()
    )
    services.collateral_record_progress(collateral=released, status="released")
    pay(loan, MONTHLY)  # principal 120,000 - 9,461.85 = 110,538.15 outstanding

    detail = loan_detail(loan)

    assert detail["collateral_value"] == D("150000.00")
    # 110,538.15 / 150,000 = 73.69 %
    assert detail["loan_to_value"] == D("73.7")
    assert {c.pk for c in detail["collateral"]} == {house.pk, car.pk, released.pk}


def test_loan_to_value_rounds_half_up_to_a_tenth_of_a_percent(officer, product, branch):
    loan = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        principal=D("12250.00"),
    )
    services.collateral_add(
        loan=loan, kind="deposit", description="存单", value=D("100000.00"), valued_on=today()
    )
    # 12,250 / 100,000 = 12.25 %: half up, as money is rounded, not to the even 12.2.
    assert loan_detail(loan)["loan_to_value"] == D("12.3")


def test_no_loan_to_value_without_a_valuation(loan):
    services.collateral_add(loan=loan, kind="real_estate", description="未评估")
    assert loan_detail(loan)["loan_to_value"] is None


# --- Officers and the handover --------------------------------------------------------------


def test_reassignment_keeps_history_and_moves_the_pending_handover(
    loan, officer, other_officer, risk_manager
):
    services.loan_reassign(
        loan=loan, to_officer=other_officer, effective_on=today(), reason="调岗", by=risk_manager
    )

    loan.refresh_from_db()
    assert loan.managing_officer == other_officer
    assert loan.originating_officer == officer
    history = list(
        OfficerAssignment.objects.filter(loan=loan)
        .order_by("id")
        .values_list("from_officer", "to_officer", "assigned_by", "reason", "effective_on")
    )
    assert history == [
        (None, officer.pk, None, "Disbursement", loan.disbursed_on),
        (officer.pk, other_officer.pk, risk_manager.pk, "调岗", today()),
    ]
    assert Handover.objects.get(loan=loan).to_officer == other_officer


def test_a_completed_handover_stays_with_the_officer_who_made_it(
    loan, officer, other_officer, risk_manager
):
    services.handover_record_contact(
        handover=loan.handover,
        contacted_on=today(),
        contact_method="phone",
        fixed_contact="13800000000",
        by=officer,
    )
    services.loan_reassign(
        loan=loan, to_officer=other_officer, effective_on=today(), reason="调岗", by=risk_manager
    )
    assert Handover.objects.get(loan=loan).to_officer == officer


def test_reassignment_is_refused_with_field_errors(
    loan, officer, supervisor, make_user, risk_manager, other_officer
):
    from common.roles import Role

    inactive = make_user("left", Role.LOAN_OFFICER, is_active=False)
    cases = [
        ({"to_officer": officer}, "to_officer"),  # already manages it
        ({"to_officer": supervisor}, "to_officer"),
        ({"to_officer": inactive}, "to_officer"),
        ({"reason": " "}, "reason"),
        ({"effective_on": today() + timedelta(days=1)}, "effective_on"),
        ({"effective_on": loan.disbursed_on - timedelta(days=1)}, "effective_on"),
    ]
    for changes, field in cases:
        arguments = {
            "loan": loan,
            "to_officer": other_officer,
            "effective_on": today(),
            "reason": "调岗",
            "by": risk_manager,
        } | changes
        with pytest.raises(ValidationError) as refused:
            services.loan_reassign(**arguments)
        assert field in refused.value.message_dict, changes
    assert OfficerAssignment.objects.filter(loan=loan).count() == 1
    assert Loan.objects.get(pk=loan.pk).managing_officer == officer


def test_the_first_contact_is_recorded_once_with_a_fixed_contact(loan, officer):
    handover = loan.handover
    for changes, field in [
        ({"fixed_contact": " "}, "fixed_contact"),
        ({"contact_method": ""}, "contact_method"),
        ({"contacted_on": today() + timedelta(days=1)}, "contacted_on"),
        ({"contacted_on": loan.disbursed_on - timedelta(days=1)}, "contacted_on"),
    ]:
        arguments = {
            "handover": handover,
            "contacted_on": today(),
            "contact_method": "visit",
            "fixed_contact": "138 0000 0000",
            "by": officer,
        } | changes
        with pytest.raises(ValidationError) as refused:
            services.handover_record_contact(**arguments)
        assert field in refused.value.message_dict
    assert Handover.objects.get(pk=handover.pk).contacted_on is None

    services.handover_record_contact(
        handover=handover,
        contacted_on=loan.disbursed_on + timedelta(days=1),
        contact_method="visit",
        fixed_contact="138 0000 0000",
        by=officer,
    )
    handover.refresh_from_db()
    assert handover.contacted_on == loan.disbursed_on + timedelta(days=1)
    assert (handover.contact_method, handover.fixed_contact, handover.recorded_by) == (
        "visit",
        "138 0000 0000",
        officer,
    )
    with pytest.raises(ValidationError):
        services.handover_record_contact(
            handover=handover,
            contacted_on=today(),
            contact_method="phone",
            fixed_contact="x",
            by=officer,
        )
