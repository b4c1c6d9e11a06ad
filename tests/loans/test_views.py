"""Loan pages: who sees and does what, field errors on bad input, fixed query counts."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from borrowers import services as borrower_services
from borrowers.models import Guarantee
from loans import services
from loans.models import (
    Allocation,
    Collateral,
    Handover,
    Instalment,
    Loan,
    LoanStatusChange,
    OfficerAssignment,
    Repayment,
    Valuation,
)
from tests.factories import BranchFactory, ProductFactory, book_loan, make_guarantor, make_person

D = Decimal
MONTHLY = D("10661.85")
LAST = D("10661.91")
SCHEDULE_TOTAL = 11 * MONTHLY + LAST

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Users are logged in with force_login; hashing their passwords slowly buys nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def today() -> date:
    return timezone.localdate()


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Loan,
            Instalment,
            Repayment,
            Allocation,
            LoanStatusChange,
            OfficerAssignment,
            Handover,
            Collateral,
            Valuation,
            Guarantee,
        )
    }


def pay(loan, amount, *, paid_on=None, reference=None) -> Repayment:
    return services.repayment_post(
        loan=loan,
        paid_on=paid_on or today(),
        amount=D(amount),
        channel="bank_transfer",
        reference=reference or f"REF-{Repayment.objects.count() + 1}",
    )


def detail_url(loan) -> str:
    return reverse("loans:detail", args=[loan.pk])


def references_on(response) -> set[str]:
    return set(re.findall(r"DK-\d{4}-\d{6}", response.content.decode()))


# --- The list --------------------------------------------------------------------------------


def test_an_officer_sees_my_loans_only(client, officer, loan, other_loan):
    client.force_login(officer)
    response = client.get(reverse("loans:list"))
    assert response.status_code == 200
    assert "My loans" in response.content.decode()
    assert references_on(response) == {loan.reference}


@pytest.mark.parametrize("role", ["risk_manager", "supervisor", "admin_user"])
def test_managers_see_the_whole_portfolio(client, request, role, loan, other_loan):
    client.force_login(request.getfixturevalue(role))
    response = client.get(reverse("loans:list"))
    assert response.status_code == 200
    assert "My loans" not in response.content.decode()
    assert references_on(response) == {loan.reference, other_loan.reference}


def test_a_user_without_a_role_sees_no_loans(client, make_user, loan):
    client.force_login(make_user("nobody"))
    response = client.get(reverse("loans:list"))
    assert references_on(response) == set()
    assert client.get(detail_url(loan)).status_code == 404


@pytest.fixture
def portfolio(officer, product, branch):
    """Four loans that differ in product, branch, status and arrears."""
    other_product = ProductFactory(code="BIZ", name="经营贷")
    other_branch = BranchFactory(code="GL", name="鼓楼支行")
    current = book_loan(
        borrower=make_person("林当前"), officer=officer, product=product, branch=branch
    )
    elsewhere = book_loan(
        borrower=make_person("黄别处"), officer=officer, product=other_product, branch=other_branch
    )
    overdue = book_loan(
        borrower=make_person("吴逾期"),
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 1, 10),
    )
    settled = book_loan(
        borrower=make_person("郑结清"),
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 1, 10),
    )
    pay(settled, SCHEDULE_TOTAL, paid_on=date(2026, 1, 20))
    return {
        "current": current,
        "elsewhere": elsewhere,
        "overdue": overdue,
        "settled": settled,
        "other_product": other_product,
        "other_branch": other_branch,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (lambda p: {}, {"current", "elsewhere", "overdue", "settled"}),
        (lambda p: {"product": p["other_product"].pk}, {"elsewhere"}),
        (lambda p: {"branch": p["other_branch"].pk}, {"elsewhere"}),
        (lambda p: {"status": "settled"}, {"settled"}),
        (lambda p: {"status": "active"}, {"current", "elsewhere", "overdue"}),
        (lambda p: {"overdue": "yes"}, {"overdue"}),
        (lambda p: {"overdue": "no"}, {"current", "elsewhere", "settled"}),
        (lambda p: {"q": "吴逾"}, {"overdue"}),
        (lambda p: {"q": p["settled"].reference}, {"settled"}),
        (lambda p: {"q": p["current"].borrower.id_number}, {"current"}),
        (lambda p: {"q": p["elsewhere"].borrower.mobile}, {"elsewhere"}),
    ],
)
def test_the_list_filters(client, risk_manager, portfolio, query, expected):
    client.force_login(risk_manager)
    response = client.get(reverse("loans:list"), query(portfolio))
    assert response.status_code == 200
    assert references_on(response) == {portfolio[name].reference for name in expected}


def test_the_list_marks_overdue_loans_and_runs_a_fixed_number_of_queries(
    client, risk_manager, portfolio, officer, product, branch, django_assert_max_num_queries
):
    client.force_login(risk_manager)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("loans:list"))
    for _ in range(6):
        book_loan(borrower=make_person(), officer=officer, product=product, branch=branch)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("loans:list"), {"overdue": "yes"})
    rows = response.content.decode().split("<tr>")
    (overdue_row,) = [row for row in rows if portfolio["overdue"].reference in row]
    # the status and the overdue mark, as badges (not as escaped text)
    assert '<span class="badge text-bg-danger">overdue</span>' in overdue_row
    assert '<span class="badge text-bg-primary">' in overdue_row


def test_the_list_columns_agree_with_the_ledger_including_grace_days(
    client, risk_manager, officer, branch
):
    from loans.selectors import loan_list, loan_position

    product = ProductFactory(code="GRACE", grace_days=5)

    def loan_first_due(days_ago: int):
        first_due = today() - timedelta(days=days_ago)
        return book_loan(
            borrower=make_person(),
            officer=officer,
            product=product,
            branch=branch,
            disbursed_on=first_due - timedelta(days=30),
            first_due_on=first_due,
        )

    within_grace = loan_first_due(5)  # due 5 days ago, grace 5: not missed yet
    past_grace = loan_first_due(6)
    interest_only = loan_first_due(40)
    pay(interest_only, "1200.00")  # instalment 1's interest; its principal is still owed
    ahead = loan_first_due(40)
    pay(ahead, MONTHLY + MONTHLY)  # instalments 1 and 2, both due, are paid

    rows = {loan.pk: loan for loan in loan_list(risk_manager)}
    for loan in (within_grace, past_grace, interest_only, ahead):
        position = loan_position(loan)
        row = rows[loan.pk]
        assert row.is_overdue is (position.consecutive_missed_periods > 0), loan
        assert row.outstanding_principal == position.outstanding_principal
    assert [
        rows[loan.pk].is_overdue for loan in (within_grace, past_grace, interest_only, ahead)
    ] == [False, True, True, False]
    assert rows[ahead.pk].next_due_on == ahead.instalments.get(seq=3).due_on
    assert rows[within_grace.pk].next_due_on == within_grace.instalments.get(seq=2).due_on

    client.force_login(risk_manager)
    response = client.get(reverse("loans:list"), {"overdue": "yes", "product": product.pk})
    assert references_on(response) == {past_grace.reference, interest_only.reference}


# --- The loan page ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("officer", 200),
        ("other_officer", 404),
        ("risk_manager", 200),
        ("supervisor", 200),
        ("admin_user", 200),
    ],
)
def test_who_may_open_a_loan(client, request, loan, role, status):
    client.force_login(request.getfixturevalue(role))
    assert client.get(detail_url(loan)).status_code == status


@pytest.mark.clock(date(2026, 11, 20))
def test_the_loan_page_shows_schedule_states_repayments_allocations_and_handover(
    client, officer, product, branch
):
    loan = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 6, 10),
    )
    # Instalments due 07-10 … : two paid, one missed from 09-10, the rest still to come;
    # the extra ¥100 after 10-10 leaves nothing paid ahead.
    first = pay(loan, MONTHLY, paid_on=date(2026, 7, 10), reference="BANK-1")
    pay(loan, MONTHLY, paid_on=date(2026, 8, 10), reference="BANK-2")
    client.force_login(officer)

    response = client.get(detail_url(loan))

    assert response.status_code == 200
    html = response.content.decode()
    states = re.findall(r'<tr data-state="(\w+)">', html)
    # On 11-20, 09-10, 10-10 and 11-10 are missed; 12-10 onwards are still to come.
    missed = 3
    assert states[:2] == ["paid", "paid"]
    assert states[2 : 2 + missed] == ["overdue"] * missed
    assert set(states[2 + missed :]) == {"scheduled"}
    assert len(states) == 12
    assert "BANK-1" in html and "BANK-2" in html
    assert "#1: interest 1,200.00, principal 9,461.85" in html
    assert "#2: interest 1,105.38, principal 9,556.47" in html
    assert 'data-testid="handover"' in html
    assert response.context["position"].consecutive_missed_periods == missed
    assert response.context["repayments"][0] == first


def test_the_loan_page_lists_guarantees_collateral_valuations_and_reversals(
    client, officer, risk_manager, loan
):
    guarantor = make_guarantor("孙保证")
    borrower_services.guarantee_add(loan=loan, guarantor=guarantor, signed_on=today())
    house = services.collateral_add(
        loan=loan,
        kind="real_estate",
        description="鼓楼区 3-201",
        value=D("300000.00"),
        valued_on=date(2026, 1, 5),
    )
    services.valuation_add(
        collateral=house, valued_on=date(2026, 10, 5), value=D("240000.00"), method="market"
    )
    kept = pay(loan, "300.00", reference="KEEP")
    wrong = pay(loan, "200.00", reference="WRONG")
    services.repayment_reverse(repayment=wrong, reason="录错金额", by=risk_manager)

    client.force_login(officer)
    html = client.get(detail_url(loan)).content.decode()
    guarantees = html.split('data-testid="guarantees"')[1].split("</ul>")[0]
    assert "孙保证" in guarantees
    collateral = html.split('data-testid="collateral"')[1]
    assert "鼓楼区 3-201" in collateral
    assert "2026-10-05: ¥240,000.00" in collateral and "2026-01-05: ¥300,000.00" in collateral
    # ¥120,000 outstanding against the latest ¥240,000: 50.0 %.
    assert "loan-to-value 50.0%" in html
    assert "录错金额" in html and "<s>200.00</s>" in html
    # Officers see no reversal link; risk managers do, for standing repayments only.
    assert reverse("loans:repayment_reverse", args=[kept.pk]) not in html
    client.force_login(risk_manager)
    html = client.get(detail_url(loan)).content.decode()
    assert reverse("loans:repayment_reverse", args=[kept.pk]) in html
    assert reverse("loans:repayment_reverse", args=[wrong.pk]) not in html


def test_a_partly_paid_future_instalment_shows_part_paid(client, officer, loan):
    pay(loan, "100.00")
    client.force_login(officer)
    response = client.get(detail_url(loan))
    states = [row["state"] for row in response.context["schedule_rows"]]
    assert states == ["part_paid"] + ["scheduled"] * 11


def _loan_with_history(officer, product, branch, risk_manager, *, months, payments, extras):
    """A loan with `payments` repayments (one reversed), and `extras` guarantees, collateral
    and valuations each: everything the loan page lists."""
    loan = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        term_months=months,
        disbursed_on=date(2024, 1, 10),
        enforce_limit=False,
    )
    services.repayments_record_many(
        loan=loan,
        rows=[
            {
                "paid_on": date(2024, 1, 20) + timedelta(days=20 * n),
                "amount": D("1000.00"),
                "reference": f"H-{n}",
            }
            for n in range(payments)
        ],
    )
    services.repayment_reverse(
        repayment=Repayment.objects.filter(loan=loan).first(), reason="退票", by=risk_manager
    )
    for n in range(extras):
        services.collateral_add(
            loan=loan,
            kind="real_estate",
            description=f"房产 {n}",
            value=D("90000.00"),
            valued_on=date(2025, 1, 1),
        )
        collateral = Collateral.objects.filter(loan=loan).last()
        services.valuation_add(
            collateral=collateral, valued_on=date(2025, 6, 1), value=D("80000.00"), method="market"
        )
        borrower_services.guarantee_add(
            loan=loan, guarantor=make_guarantor(), signed_on=date(2024, 1, 10)
        )
    return loan


# Session, user, roles, the loan, the may-act check, then one query each for the instalments,
# repayments, allocations (with their instalments), collateral, valuations, guarantees,
# officer history, status changes and the handover (with both officers): 14; and the
# post-loan risk panel (risk state, tier adjustments, risk flags, reclassifications): 4; the
# field work (inspections, collection plans, early warnings, closure evaluation): 4; and the
# navbar's agenda badge for loan officers: 1.
MAX_LOAN_PAGE_QUERIES = 23


@pytest.mark.parametrize("viewer", ["officer", "risk_manager"])
def test_the_loan_page_runs_the_same_queries_whatever_the_loan_size(
    client, request, viewer, officer, product, branch, risk_manager, django_assert_max_num_queries
):
    small = _loan_with_history(
        officer, product, branch, risk_manager, months=3, payments=2, extras=1
    )
    big = _loan_with_history(
        officer, product, branch, risk_manager, months=36, payments=21, extras=4
    )
    assert small.instalments.count() == 3 and big.instalments.count() == 36
    assert Repayment.objects.filter(loan=small, reversed_at__isnull=True).count() == 1
    assert Repayment.objects.filter(loan=big, reversed_at__isnull=True).count() == 20
    client.force_login(request.getfixturevalue(viewer))

    queries = []
    for loan in (small, big):
        with (
            django_assert_max_num_queries(MAX_LOAN_PAGE_QUERIES),
            CaptureQueriesContext(connection) as captured,
        ):
            response = client.get(detail_url(loan))
        assert response.status_code == 200
        queries.append(len(captured.captured_queries))
    assert queries[0] == queries[1], queries


# --- Repayments through the form ------------------------------------------------------------


def test_an_officer_records_a_repayment_on_a_loan_they_manage(client, officer, loan):
    client.force_login(officer)
    url = reverse("loans:repayment_create", args=[loan.pk])
    assert client.get(url).status_code == 200

    response = client.post(
        url,
        {
            "paid_on": today().isoformat(),
            "amount": "1500.00",
            "channel": "wechat",
            "reference": "WX-20261129-01",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == detail_url(loan)
    repayment = Repayment.objects.get(loan=loan)
    assert (repayment.amount, repayment.channel, repayment.recorded_by) == (
        D("1500.00"),
        "wechat",
        officer,
    )
    assert Instalment.objects.get(loan=loan, seq=1).interest_paid == D("1200.00")
    assert Instalment.objects.get(loan=loan, seq=1).principal_paid == D("300.00")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "-50.00"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"amount": ""}, "amount"),
        ({"amount": str(SCHEDULE_TOTAL + D("0.01"))}, "amount"),
        ({"paid_on": "disbursement-1"}, "paid_on"),
        ({"paid_on": "tomorrow"}, "paid_on"),
        ({"reference": "DUP-1"}, "reference"),
        ({"reference": ""}, "reference"),
    ],
)
def test_bad_repayments_show_field_errors_and_save_nothing(client, officer, loan, changes, field):
    pay(loan, "10.00", reference="DUP-1")
    client.force_login(officer)
    before = counts()
    data = {
        "paid_on": today().isoformat(),
        "amount": "100.00",
        "channel": "bank_transfer",
        "reference": "NEW-1",
    } | changes
    if data["paid_on"] == "disbursement-1":
        data["paid_on"] = (loan.disbursed_on - timedelta(days=1)).isoformat()
    elif data["paid_on"] == "tomorrow":
        data["paid_on"] = (today() + timedelta(days=1)).isoformat()

    response = client.post(reverse("loans:repayment_create", args=[loan.pk]), data)

    assert response.status_code == 200
    form = response.context["form"]
    assert field in form.errors, form.errors
    assert not form.non_field_errors()
    assert escape(form.errors[field][0]) in response.content.decode()  # shown at the field
    assert counts() == before


def test_a_repayment_on_a_settled_loan_is_refused_on_the_form(client, officer, loan):
    pay(loan, SCHEDULE_TOTAL)
    client.force_login(officer)
    before = counts()
    response = client.post(
        reverse("loans:repayment_create", args=[loan.pk]),
        {"paid_on": today().isoformat(), "amount": "1.00", "channel": "cash", "reference": "X"},
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert "repayments are recorded on active loans only" in response.content.decode()
    assert counts() == before


@pytest.mark.parametrize(("role", "status"), [("other_officer", 404), ("supervisor", 404)])
def test_only_those_who_act_on_the_loan_record_repayments(client, request, loan, role, status):
    client.force_login(request.getfixturevalue(role))
    url = reverse("loans:repayment_create", args=[loan.pk])
    data = {"paid_on": today().isoformat(), "amount": "100.00", "channel": "cash", "reference": "R"}
    assert client.get(url).status_code == status
    assert client.post(url, data).status_code == status
    assert not Repayment.objects.exists()


def test_an_originating_officer_reads_but_no_longer_acts_after_reassignment(
    client, loan, officer, other_officer, risk_manager
):
    services.loan_reassign(
        loan=loan, to_officer=other_officer, effective_on=today(), reason="调岗", by=risk_manager
    )
    client.force_login(officer)
    response = client.get(detail_url(loan))
    assert response.status_code == 200
    assert reverse("loans:repayment_create", args=[loan.pk]) not in response.content.decode()
    response = client.post(
        reverse("loans:repayment_create", args=[loan.pk]),
        {"paid_on": today().isoformat(), "amount": "1.00", "channel": "cash", "reference": "X"},
    )
    assert response.status_code == 404

    client.force_login(other_officer)
    assert client.get(reverse("loans:repayment_create", args=[loan.pk])).status_code == 200


def test_a_risk_manager_records_a_repayment_on_any_loan(client, risk_manager, other_loan):
    client.force_login(risk_manager)
    response = client.post(
        reverse("loans:repayment_create", args=[other_loan.pk]),
        {"paid_on": today().isoformat(), "amount": "1.00", "channel": "cash", "reference": "X"},
    )
    assert response.status_code == 302
    assert Repayment.objects.filter(loan=other_loan).count() == 1


# --- Reversal and write-off: risk managers and admins ------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("officer", 403), ("supervisor", 403), ("risk_manager", 302), ("admin_user", 302)],
)
def test_only_risk_managers_and_admins_reverse_repayments(client, request, loan, role, status):
    repayment = pay(loan, "500.00")
    user = request.getfixturevalue(role)
    client.force_login(user)

    response = client.post(
        reverse("loans:repayment_reverse", args=[repayment.pk]), {"reason": "重复录入"}
    )

    assert response.status_code == status
    repayment.refresh_from_db()
    assert repayment.is_reversed is (status == 302)
    if status == 302:
        assert (repayment.reversed_by, repayment.reversal_reason) == (user, "重复录入")
        assert not Allocation.objects.filter(repayment=repayment).exists()
        assert Instalment.objects.get(loan=loan, seq=1).interest_paid == 0


def test_a_reversal_without_a_reason_is_a_field_error(client, risk_manager, loan):
    repayment = pay(loan, "500.00")
    client.force_login(risk_manager)
    response = client.post(reverse("loans:repayment_reverse", args=[repayment.pk]), {"reason": ""})
    assert "reason" in response.context["form"].errors
    repayment.refresh_from_db()
    assert not repayment.is_reversed


@pytest.mark.parametrize(
    ("role", "status"),
    [("officer", 403), ("supervisor", 403), ("risk_manager", 302), ("admin_user", 302)],
)
def test_only_risk_managers_and_admins_write_off(client, request, loan, role, status):
    client.force_login(request.getfixturevalue(role))
    response = client.post(
        reverse("loans:write_off", args=[loan.pk]), {"on": today().isoformat(), "reason": "失联"}
    )
    assert response.status_code == status
    loan.refresh_from_db()
    assert loan.status == ("written_off" if status == 302 else "active")


def test_a_write_off_with_a_future_date_is_a_field_error(client, risk_manager, loan):
    client.force_login(risk_manager)
    response = client.post(
        reverse("loans:write_off", args=[loan.pk]),
        {"on": (today() + timedelta(days=1)).isoformat(), "reason": "失联"},
    )
    assert "on" in response.context["form"].errors
    assert Loan.objects.get(pk=loan.pk).status == "active"


# --- Booking --------------------------------------------------------------------------------


@pytest.fixture
def booking(officer, product, branch, borrower):
    return {
        "borrower": borrower.pk,
        "product": product.pk,
        "branch": branch.pk,
        "principal": "80000.00",
        "annual_rate": "9.6",
        "term_months": "6",
        "repayment_method": "equal_principal",
        "disbursed_on": (today() - timedelta(days=3)).isoformat(),
        "first_due_on": "",
        "purpose": "进货",
        "originating_officer": officer.pk,
        "managing_officer": officer.pk,
    }


def test_an_officer_books_a_loan(client, officer, borrower, booking, loan):
    client.force_login(officer)
    assert client.get(reverse("loans:create")).status_code == 200

    response = client.post(reverse("loans:create"), booking)

    assert response.status_code == 302, response.context["form"].errors
    loan = Loan.objects.exclude(pk=loan.pk).get()
    assert response["Location"] == detail_url(loan)
    assert (loan.borrower, loan.principal, loan.term_months, loan.managing_officer) == (
        borrower,
        D("80000.00"),
        6,
        officer,
    )
    # Equal principal: ¥13,333.33 five times, ¥13,333.35 last; first interest 0.8% of 80,000.
    principals = list(loan.instalments.order_by("seq").values_list("principal_due", flat=True))
    assert principals == [D("13333.33")] * 5 + [D("13333.35")]
    assert loan.instalments.get(seq=1).interest_due == D("640.00")
    assert Handover.objects.filter(loan=loan, to_officer=officer).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"principal": "999.99"}, "principal"),
        ({"principal": "2000000.01"}, "principal"),
        ({"principal": "-5"}, "principal"),
        ({"annual_rate": "24.5"}, "annual_rate"),
        ({"term_months": "61"}, "term_months"),
        ({"first_due_on": "disbursement"}, "first_due_on"),
        ({"first_due_on": "disbursement-1"}, "first_due_on"),
        ({"disbursed_on": "tomorrow"}, "disbursed_on"),
        ({"principal": "480000.01"}, "principal"),  # over the limit with what is owed
    ],
)
def test_bad_bookings_show_field_errors_and_save_nothing(
    client, officer, loan, booking, changes, field
):
    client.force_login(officer)
    before = counts()
    data = booking | changes
    disbursed = date.fromisoformat(booking["disbursed_on"])
    replacements = {
        "disbursement": disbursed.isoformat(),
        "disbursement-1": (disbursed - timedelta(days=1)).isoformat(),
        "tomorrow": (today() + timedelta(days=1)).isoformat(),
    }
    data = {key: replacements.get(value, value) for key, value in data.items()}

    response = client.post(reverse("loans:create"), data)

    assert response.status_code == 200
    assert field in response.context["form"].errors, response.context["form"].errors
    assert counts() == before


def test_supervisors_do_not_book_loans(client, supervisor, booking):
    client.force_login(supervisor)
    assert client.get(reverse("loans:create")).status_code == 403
    assert client.post(reverse("loans:create"), booking).status_code == 403
    assert not Loan.objects.exists()


# --- Collateral, valuations, progress -----------------------------------------------------------


def test_an_officer_adds_collateral_a_valuation_and_progress(client, officer, loan):
    client.force_login(officer)
    response = client.post(
        reverse("loans:collateral_create", args=[loan.pk]),
        {
            "kind": "off_plan",
            "description": "某楼盘 2-1801",
            "owner_is_borrower": "on",
            "custody": "registry",
            "developer": "福州某置业",
            "expected_completion_on": "2027-12-31",
            "value": "200000.00",
            "valued_on": "2026-11-01",
            "valuation_method": "appraisal",
        },
    )
    assert response.status_code == 302
    collateral = Collateral.objects.get(loan=loan)
    assert collateral.valuations.get().value == D("200000.00")

    response = client.post(
        reverse("loans:valuation_create", args=[collateral.pk]),
        {"valued_on": today().isoformat(), "value": "150000.00", "method": "market"},
    )
    assert response.status_code == 302
    page = client.get(detail_url(loan))
    # Latest value ¥150,000 against ¥120,000 outstanding: 80.0 %.
    assert page.context["loan_to_value"] == D("80.0")
    assert "loan-to-value 80.0%" in page.content.decode()

    response = client.post(
        reverse("loans:collateral_progress", args=[collateral.pk]),
        {"registration_on": "2026-11-20", "title_certificate_number": "", "status": "held"},
    )
    assert "title_certificate_number" in response.context["form"].errors
    response = client.post(
        reverse("loans:collateral_progress", args=[collateral.pk]),
        {"registration_on": "2026-11-20", "title_certificate_number": "No.1", "status": "held"},
    )
    assert response.status_code == 302
    collateral.refresh_from_db()
    assert (collateral.registration_on, collateral.title_certificate_number) == (
        date(2026, 11, 20),
        "No.1",
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"owner_is_borrower": "", "owner_name": ""}, "owner_name"),
        ({"kind": "off_plan"}, "developer"),
        ({"value": "1000.00", "valued_on": ""}, "value"),
        ({"value": "-1.00", "valued_on": "2026-11-01"}, "value"),
    ],
)
def test_bad_collateral_shows_field_errors(client, officer, loan, changes, field):
    client.force_login(officer)
    data = {
        "kind": "real_estate",
        "description": "房产",
        "owner_is_borrower": "on",
        "custody": "registry",
        "valuation_method": "appraisal",
    } | changes
    response = client.post(reverse("loans:collateral_create", args=[loan.pk]), data)
    assert response.status_code == 200
    assert field in response.context["form"].errors, response.context["form"].errors
    assert not Collateral.objects.exists() and not Valuation.objects.exists()


def test_another_officer_cannot_touch_the_collateral(client, other_officer, loan):
    collateral = services.collateral_add(loan=loan, kind="vehicle", description="车")
    client.force_login(other_officer)
    for url, data in [
        (reverse("loans:collateral_create", args=[loan.pk]), {"kind": "vehicle"}),
        (reverse("loans:valuation_create", args=[collateral.pk]), {"value": "1"}),
        (reverse("loans:collateral_progress", args=[collateral.pk]), {"status": "released"}),
    ]:
        assert client.post(url, data).status_code == 404
    collateral.refresh_from_db()
    assert collateral.status == "held"


# --- Guarantees -------------------------------------------------------------------------------


def test_guarantees_are_added_by_the_officer_and_released_by_a_risk_manager(
    client, officer, risk_manager, loan
):
    guarantor = make_guarantor("钱担保", created_by=officer)
    client.force_login(officer)
    response = client.post(
        reverse("loans:guarantee_create", args=[loan.pk]),
        {"guarantor": guarantor.pk, "signed_on": today().isoformat(), "amount": ""},
    )
    assert response.status_code == 302
    guarantee = Guarantee.objects.get(loan=loan)
    assert (guarantee.guarantor, guarantee.status) == (guarantor, "active")

    status_url = reverse("loans:guarantee_status", args=[guarantee.pk])
    assert (
        client.post(status_url, {"status": "released", "on": today().isoformat()}).status_code
        == 403
    )
    client.force_login(risk_manager)
    response = client.post(status_url, {"status": "released", "on": today().isoformat()})
    assert response.status_code == 302
    guarantee.refresh_from_db()
    assert (guarantee.status, guarantee.released_on) == ("released", today())


# --- Reassignment and handover ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"), [("officer", 403), ("supervisor", 403), ("risk_manager", 302)]
)
def test_only_risk_managers_reassign(client, request, loan, other_officer, role, status):
    client.force_login(request.getfixturevalue(role))
    response = client.post(
        reverse("loans:reassign", args=[loan.pk]),
        {"to_officer": other_officer.pk, "effective_on": today().isoformat(), "reason": "调岗"},
    )
    assert response.status_code == status
    loan.refresh_from_db()
    assert (loan.managing_officer == other_officer) is (status == 302)
    assert (loan.handover.to_officer == other_officer) is (status == 302)


def test_the_loan_page_shows_the_officer_history(client, risk_manager, loan, other_officer):
    services.loan_reassign(
        loan=loan, to_officer=other_officer, effective_on=today(), reason="调岗", by=risk_manager
    )
    client.force_login(risk_manager)
    response = client.get(detail_url(loan))
    history = response.content.decode().split('data-testid="assignments"')[1].split("</ul>")[0]
    assert "Qiang Wang → Fang Liu · 调岗 (Min Li)" in history


@pytest.mark.parametrize(
    ("role", "status"),
    [("officer", 302), ("risk_manager", 302), ("other_officer", 404), ("supervisor", 404)],
)
def test_who_records_the_first_contact(client, request, loan, role, status):
    client.force_login(request.getfixturevalue(role))
    response = client.post(
        reverse("loans:handover_contact", args=[loan.pk]),
        {
            "contacted_on": today().isoformat(),
            "contact_method": "phone",
            "fixed_contact": "13900000000",
        },
    )
    assert response.status_code == status
    loan.handover.refresh_from_db()
    assert (loan.handover.contacted_on is not None) is (status == 302)


def test_a_first_contact_without_a_fixed_contact_is_a_field_error(client, officer, loan):
    client.force_login(officer)
    response = client.post(
        reverse("loans:handover_contact", args=[loan.pk]),
        {"contacted_on": today().isoformat(), "contact_method": "phone", "fixed_contact": ""},
    )
    assert "fixed_contact" in response.context["form"].errors
    assert Handover.objects.get(loan=loan).contacted_on is None


def test_the_handover_list_shows_pending_and_late_handovers(
    client, officer, other_officer, risk_manager, product, branch
):
    pending = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=today() - timedelta(days=1),
    )
    late = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 9, 1),
    )
    on_time = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 9, 1),
    )
    done_late = book_loan(
        borrower=make_person(),
        officer=officer,
        product=product,
        branch=branch,
        disbursed_on=date(2026, 9, 1),
    )
    theirs = book_loan(
        borrower=make_person(), officer=other_officer, product=product, branch=branch
    )
    # 2026-09-01 (Tue) + 5 working days = 2026-09-08.
    assert late.handover.due_on == date(2026, 9, 8)
    services.handover_record_contact(
        handover=on_time.handover,
        contacted_on=date(2026, 9, 8),
        contact_method="phone",
        fixed_contact="1",
    )
    services.handover_record_contact(
        handover=done_late.handover,
        contacted_on=date(2026, 9, 9),
        contact_method="phone",
        fixed_contact="1",
    )

    client.force_login(officer)
    response = client.get(reverse("loans:handovers"))
    assert references_on(response) == {pending.reference, late.reference, done_late.reference}
    rows = {h.loan_id: h for h in response.context["handovers"]}
    assert not rows[pending.pk].is_late(today())
    assert rows[late.pk].is_late(today()) and rows[done_late.pk].is_late(today())

    client.force_login(risk_manager)
    response = client.get(reverse("loans:handovers"))
    assert references_on(response) == {
        pending.reference,
        late.reference,
        done_late.reference,
        theirs.reference,
    }


# --- Supervisors read only ------------------------------------------------------------------


def test_supervisors_change_nothing_anywhere(client, supervisor, loan, risk_manager):
    repayment = pay(loan, "100.00")
    collateral = services.collateral_add(loan=loan, kind="vehicle", description="车")
    guarantee = borrower_services.guarantee_add(
        loan=loan, guarantor=make_guarantor(), signed_on=today()
    )
    client.force_login(supervisor)
    assert client.get(detail_url(loan)).status_code == 200
    posts = {
        reverse("loans:repayment_create", args=[loan.pk]): {
            "paid_on": today().isoformat(),
            "amount": "1",
            "channel": "cash",
            "reference": "S",
        },
        reverse("loans:repayment_reverse", args=[repayment.pk]): {"reason": "x"},
        reverse("loans:write_off", args=[loan.pk]): {"on": today().isoformat(), "reason": "x"},
        reverse("loans:collateral_create", args=[loan.pk]): {
            "kind": "vehicle",
            "description": "车",
            "custody": "owner",
            "valuation_method": "market",
        },
        reverse("loans:valuation_create", args=[collateral.pk]): {
            "valued_on": today().isoformat(),
            "value": "1",
            "method": "market",
        },
        reverse("loans:collateral_progress", args=[collateral.pk]): {"status": "released"},
        reverse("loans:guarantee_create", args=[loan.pk]): {
            "guarantor": make_guarantor().pk,
            "signed_on": today().isoformat(),
        },
        reverse("loans:guarantee_status", args=[guarantee.pk]): {
            "status": "released",
            "on": today().isoformat(),
        },
        reverse("loans:reassign", args=[loan.pk]): {
            "to_officer": risk_manager.pk,
            "effective_on": today().isoformat(),
            "reason": "x",
        },
        reverse("loans:handover_contact", args=[loan.pk]): {
            "contacted_on": today().isoformat(),
            "contact_method": "phone",
            "fixed_contact": "1",
        },
    }
    before = counts()
    for url, data in posts.items():
        assert client.post(url, data).status_code in (403, 404), url
    assert counts() == before
    collateral.refresh_from_db()
    guarantee.refresh_from_db()
    loan.refresh_from_db()
    assert (collateral.status, guarantee.status, loan.status) == ("held", "active", "active")
    assert loan.handover.contacted_on is None
