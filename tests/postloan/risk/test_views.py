"""Classification pages: the loan's risk panel, the watch list, provisions, runs; who sees
what, and query counts that do not grow with the data."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from borrowers import services as borrower_services
from loans.models import Branch
from postloan.models import Basis, LoanRiskState, Reclassification, RiskFlag
from postloan.risk.services import adjustment_decide, adjustment_propose, flag_raise, flag_resolve
from tests.factories import make_guarantor, make_person
from tests.postloan.helpers import book, classify, pay_instalments, risk

pytestmark = pytest.mark.django_db

D = Decimal


def _part(html: str, testid: str) -> str:
    """The markup of the element marked data-testid=…, up to its first closing tag of that kind."""
    match = re.search(rf'<(\w+)[^>]*data-testid="{testid}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no {testid} on the page"
    return match.group(2)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.fixture
def behind(officer, product, branch):
    """Never paid from 2026-01-15; on 2026-04-16 four missed periods, substandard."""
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    classify(date(2026, 3, 16))
    classify(date(2026, 4, 16))
    return loan


# --- The loan page ------------------------------------------------------------------------------


def test_the_loan_page_shows_the_classification(behind, officer, risk_manager, client):
    proposal = adjustment_propose(
        loan=behind, tier="special_mention", reason="Harvest sold; pays again.", by=officer
    )
    adjustment_decide(adjustment=proposal, approve=True, comment="", by=risk_manager)
    flag_raise(
        factor=3, evidence="Employer closed.", by=officer, borrower=behind.borrower
    )  # on the borrower: reaches the loan
    client.force_login(officer)
    html = client.get(behind.get_absolute_url()).content.decode()

    assert 'data-tier="special_mention"' in _part(html, "final-tier")
    quantitative = _part(html, "quantitative-tier")
    assert 'data-tier="substandard"' in quantitative
    assert "4 missed periods" in _text(quantitative)
    state = risk(behind)
    assert state.provision > 0
    assert _text(_part(html, "provision")) == f"¥{state.provision:,.2f}"
    flags = _text(_part(html, "risk-flags"))
    assert "1. Instalment not paid as contracted" in flags
    assert "3. Unstable job or sharply lower income" in flags
    assert "on the borrower" in flags
    history = _part(html, "reclassifications")
    rows = re.findall(r"<tr>(.*?)</tr>", history.split("<tbody>")[1], re.S)
    assert len(rows) == 3
    newest = _text(rows[0])
    assert "Approved qualitative adjustment" in newest
    assert "Harvest sold; pays again." in newest
    assert "proposed by Qiang Wang, approved by Min Li" in newest
    assert "Quantitative run" in _text(rows[2]) and "2026-03-16" in _text(rows[2])


def test_the_loan_page_offers_proposals_and_flags_to_those_who_keep_records(
    behind, officer, supervisor, client
):
    client.force_login(officer)
    html = client.get(behind.get_absolute_url()).content.decode()
    assert reverse("postloan:propose", args=[behind.pk]) in html
    assert reverse("postloan:flag_loan", args=[behind.pk]) in html
    client.force_login(supervisor)
    html = client.get(behind.get_absolute_url()).content.decode()
    assert reverse("postloan:propose", args=[behind.pk]) not in html


def _decorate(loan, count: int, *, officer, risk_manager, other_risk_manager, guarantor):
    """`count` of everything the risk panel lists: tier changes, flags of every subject,
    adjustments."""
    tiers = ["normal", "special_mention", "substandard", "doubtful"]
    for n in range(count):
        Reclassification.objects.create(
            loan=loan,
            from_tier=tiers[n % 4],
            to_tier=tiers[(n + 1) % 4],
            basis=Basis.ADJUSTMENT,
            consecutive_missed=n,
            quantitative_tier="normal",
            reason=f"change {n}",
            proposed_by=officer,
            approved_by=risk_manager,
            effective_on=date(2026, 1, 1),
        )
        for subject in ({"loan": loan}, {"borrower": loan.borrower}, {"guarantor": guarantor}):
            flag = flag_raise(factor=1 + n % 16, evidence=f"evidence {n}", by=officer, **subject)
            if n % 3 == 0:
                flag_resolve(flag=flag, resolution="done", by=risk_manager)
    for n in range(count):
        proposal = adjustment_propose(
            loan=loan, tier="doubtful" if n % 2 else "substandard", reason=f"why {n}", by=officer
        )
        if n == count - 1:
            break  # the last one stays pending
        adjustment_decide(adjustment=proposal, approve=False, comment="no", by=other_risk_manager)


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_the_loan_page_query_count_does_not_grow_with_the_history(
    officer,
    risk_manager,
    other_risk_manager,
    product,
    branch,
    client,
    django_assert_max_num_queries,
):
    guarantor = make_guarantor()
    loans = [
        book(
            officer,
            product=product,
            branch=branch,
            disbursed_on=date(2025, 12, 15),
            first_due_on=date(2026, 1, 15),
            guarantors=[guarantor],
        )
        for _ in range(2)
    ]
    for loan, count in zip(loans, (1, 15), strict=True):
        _decorate(
            loan,
            count,
            officer=officer,
            risk_manager=risk_manager,
            other_risk_manager=other_risk_manager,
            guarantor=guarantor,
        )
        pay_instalments(loan, 1, date(2026, 3, 1))
    classify(date(2026, 4, 16))
    client.force_login(officer)
    few, many = (_queries(client, loan.get_absolute_url()) for loan in loans)
    assert few == many
    # 17 when written; a little room for the loan page's other panels, none for a per-row query.
    with django_assert_max_num_queries(24):
        html = client.get(loans[1].get_absolute_url()).content.decode()
    assert html.count("change ") >= 15  # all of the history is there


# --- The watch list ------------------------------------------------------------------------------


@pytest.fixture
def book_with_flags(officer, other_officer, product, branch):
    """Loans of two officers in two branches, flagged on the loan, borrower or guarantor."""
    east = Branch.objects.create(code="EAST", name="东区支行")
    guarantor = make_guarantor()
    shared = make_person("共用借款人")

    def loan(by, in_branch, first_due_on=date(2026, 11, 15), **terms):
        return book(
            by,
            product=product,
            branch=in_branch,
            disbursed_on=date(2025, 12, 15),
            first_due_on=first_due_on,
            **terms,
        )

    half = {"borrower": shared, "principal": D("50000.00")}
    loans = {
        "missed": loan(officer, branch, first_due_on=date(2026, 1, 15)),
        "other": loan(other_officer, east),
        "clean": loan(officer, branch),
        "borrower_1": loan(officer, branch, **half),
        "borrower_2": loan(other_officer, east, **half),
        "guaranteed": loan(officer, branch, guarantors=[guarantor]),
    }
    classify(date(2026, 4, 16))  # "missed": four missed, substandard, factor 1
    flag_raise(factor=9, evidence="Refused a visit.", by=other_officer, loan=loans["other"])
    flag_raise(factor=2, evidence="Fined.", by=officer, borrower=shared)
    flag_raise(factor=13, evidence="Lost his job.", by=officer, guarantor=guarantor)
    return {"loans": loans, "east": east, "guarantor": guarantor}


def _listed(client, user, **filters) -> set[str]:
    client.force_login(user)
    html = client.get(reverse("postloan:watchlist"), filters).content.decode()
    return set(re.findall(r'<a href="/loans/\d+/">([^<]+)</a>', _part(html, "watch-list")))


def _refs(book_with_flags, *names) -> set[str]:
    return {book_with_flags["loans"][name].reference for name in names}


def test_the_watch_list_holds_every_loan_a_flag_reaches(book_with_flags, risk_manager, client):
    assert _listed(client, risk_manager) == _refs(
        book_with_flags, "missed", "other", "borrower_1", "borrower_2", "guaranteed"
    )


def test_the_watch_list_filters(book_with_flags, risk_manager, other_officer, branch, client):
    east = book_with_flags["east"]
    assert _listed(client, risk_manager, factor=1) == _refs(book_with_flags, "missed")
    assert _listed(client, risk_manager, factor=2) == _refs(
        book_with_flags, "borrower_1", "borrower_2"
    )
    assert _listed(client, risk_manager, factor=13) == _refs(book_with_flags, "guaranteed")
    assert _listed(client, risk_manager, tier="substandard") == _refs(book_with_flags, "missed")
    assert _listed(client, risk_manager, officer=other_officer.pk) == _refs(
        book_with_flags, "other", "borrower_2"
    )
    assert _listed(client, risk_manager, branch=east.pk) == _refs(
        book_with_flags, "other", "borrower_2"
    )
    assert _listed(client, risk_manager, branch=branch.pk, factor=2) == _refs(
        book_with_flags, "borrower_1"
    )


def test_loan_officers_see_only_their_own_book(book_with_flags, officer, other_officer, client):
    assert _listed(client, officer) == _refs(book_with_flags, "missed", "borrower_1", "guaranteed")
    assert _listed(client, other_officer) == _refs(book_with_flags, "other", "borrower_2")


def test_a_resolved_flag_takes_the_loan_off_the_list(
    book_with_flags, officer, risk_manager, client
):
    flag = RiskFlag.objects.get(guarantor=book_with_flags["guarantor"])
    flag_resolve(flag=flag, resolution="New job found.", by=officer)
    assert _listed(client, risk_manager) == _refs(
        book_with_flags, "missed", "other", "borrower_1", "borrower_2"
    )


def test_a_released_guarantee_no_longer_carries_the_guarantors_flag(
    book_with_flags, risk_manager, client
):
    loan = book_with_flags["loans"]["guaranteed"]
    borrower_services.guarantee_set_status(
        guarantee=loan.guarantees.get(), status="released", on=date(2026, 5, 1)
    )
    assert loan.reference not in _listed(client, risk_manager)


def test_the_watch_list_query_count_does_not_grow(
    book_with_flags, officer, risk_manager, product, branch, client
):
    client.force_login(risk_manager)
    url = reverse("postloan:watchlist")
    few = _queries(client, url)
    for _ in range(12):
        loan = book(officer, product=product, branch=branch, disbursed_on=date(2025, 12, 15))
        flag_raise(factor=15, evidence="File lost.", by=officer, loan=loan)
    assert _queries(client, url) == few


# --- Provisions, runs and the queue ---------------------------------------------------------------


def test_changing_the_provision_rates_recomputes_every_loan(
    book_with_flags, risk_manager, officer, client
):
    rates = {
        "normal": "1",
        "special_mention": "3",
        "substandard": "40",
        "doubtful": "60",
        "loss": "100",
    }
    client.force_login(officer)
    assert client.post(reverse("postloan:provisions"), rates).status_code == 403
    client.force_login(risk_manager)
    assert client.get(reverse("postloan:provisions")).status_code == 200
    response = client.post(reverse("postloan:provisions"), rates)
    assert response.status_code == 302
    for state in LoanRiskState.objects.all():
        expected = (state.outstanding_principal * D(rates[state.tier]) / 100).quantize(D("0.01"))
        assert state.provision == expected, state.loan_id
    assert LoanRiskState.objects.filter(tier="substandard").exists()
    response = client.post(reverse("postloan:provisions"), {**rates, "loss": "120"})
    assert response.status_code == 200  # a field error, nothing saved
    assert LoanRiskState.objects.filter(tier="normal", provision=0).count() == 0


def test_the_runs_page(behind, risk_manager, officer, client):
    client.force_login(officer)
    assert client.get(reverse("portfolio:runs")).status_code == 403
    client.force_login(risk_manager)
    html = client.get(reverse("portfolio:runs")).content.decode()
    assert "2026-04-16" in html and "2026-03-16" in html


def test_the_queue_is_for_risk_managers(behind, officer, risk_manager, client):
    adjustment_propose(loan=behind, tier="doubtful", reason="Shop closed.", by=officer)
    client.force_login(officer)
    assert client.get(reverse("postloan:queue")).status_code == 403
    client.force_login(risk_manager)
    html = client.get(reverse("postloan:queue")).content.decode()
    assert "Shop closed." in html and 'data-testid="decide-form"' in html
