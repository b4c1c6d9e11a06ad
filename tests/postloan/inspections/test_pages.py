"""Pages for planned inspections (issue 6): the officer's agenda, the managers' list of open
inspections with its filters, the navbar badge, and the policy page with its history."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loans.models import Branch, Loan
from postloan.fieldwork import services as visits
from postloan.models import EarlyWarning, Inspection, InspectionPolicyRule
from tests.factories import make_person
from tests.postloan.fieldwork.test_services import CLOSURE
from tests.postloan.helpers import book, restore_default_inspection_policy, set_tier

pytestmark = pytest.mark.django_db

_slots = itertools.count(1)


@pytest.fixture(autouse=True)
def _default_policy(db):
    restore_default_inspection_policy()


@pytest.fixture
def today() -> date:
    return timezone.localdate()


def _loan(officer, product, branch, tier="normal", **terms):
    """A booked loan whose first contact is already done, so only what a test plans shows."""
    terms.setdefault("disbursed_on", date(2026, 6, 1))
    loan = book(officer, product=product, branch=branch, **terms)
    Inspection.objects.filter(loan=loan, kind="handover").update(
        status="done", completed_on=loan.disbursed_on
    )
    set_tier(loan, tier)
    return loan


def _inspection(loan, due_on, *, kind="routine", reason="policy", rule=None, officer=None):
    if reason == "policy" and rule is None:
        rule = InspectionPolicyRule.objects.filter(frequency="per_month").first()
    return Inspection.objects.create(
        loan=loan,
        kind=kind,
        slot=f"test-{next(_slots)}",
        due_on=due_on,
        assigned_to=officer or loan.managing_officer,
        reason=reason,
        rule=rule,
    )


def _listed(response, attribute="data-inspection") -> list[int]:
    return [int(pk) for pk in re.findall(rf'{attribute}="(\d+)"', response.content.decode())]


def _table_rows(response) -> list[str]:
    body = response.content.decode().split('data-testid="inspection-table"', 1)[1]
    return body.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]


# --- The officer's agenda ------------------------------------------------------------------------


def test_the_agenda_lists_the_officers_own_inspections_by_due_date_then_worst_tier(
    client, officer, other_officer, product, branch, today
):
    normal = _loan(officer, product, branch, "normal")
    doubtful = _loan(officer, product, branch, "doubtful")
    loss = _loan(officer, product, branch, "loss")
    theirs = _loan(other_officer, product, branch, "loss")
    # given: overdue, due soon (three loans on the same day), later, beyond the month
    late = _inspection(normal, today - timedelta(days=3))
    same_day = [
        _inspection(normal, today + timedelta(days=2), reason="sample"),
        _inspection(doubtful, today + timedelta(days=2), kind="key_tracking"),
        _inspection(loss, today + timedelta(days=2)),
    ]
    later = _inspection(
        normal, today + timedelta(days=20), kind="default_follow_up", reason="missed"
    )
    _inspection(normal, today + timedelta(days=45))  # not yet on the agenda
    done = _inspection(doubtful, today + timedelta(days=1))
    Inspection.objects.filter(pk=done.pk).update(status="done", completed_on=today)
    not_mine = _inspection(theirs, today + timedelta(days=2))
    client.force_login(officer)
    response = client.get(reverse("postloan:agenda"))
    assert response.status_code == 200
    # then: overdue first, then by due date and, on the same day, loss, doubtful, normal
    assert _listed(response) == [late.pk, same_day[2].pk, same_day[1].pk, same_day[0].pk, later.pk]
    assert not_mine.pk not in _listed(response)
    page = response.content.decode()
    overdue_section = page.split('data-testid="overdue-count"', 1)[1]
    assert overdue_section.startswith(">1<")
    # each with its tier and why it is due
    item = page.split(f'data-inspection="{same_day[1].pk}"', 1)[1].split("</li>", 1)[0]
    assert 'data-tier="doubtful"' in item
    assert "Key tracking visit" in item
    assert "Doubtful" in item and same_day[1].rule.name in item
    sample = page.split(f'data-inspection="{same_day[0].pk}"', 1)[1].split("</li>", 1)[0]
    assert "monthly sample of normal loans" in sample
    follow_up = page.split(f'data-inspection="{later.pk}"', 1)[1].split("</li>", 1)[0]
    assert "missed instalments" in follow_up


def test_a_serious_flag_raised_on_the_loan_page_is_on_the_agenda_at_once(
    client, officer, product, branch, today
):
    loan = _loan(officer, product, branch, "special_mention")
    client.force_login(officer)
    response = client.post(
        reverse("postloan:flag_loan", args=[loan.pk]),
        {
            "factor": "4",
            "evidence": "Hospitalised after an accident.",
            "is_serious": "on",
            "raised_on": today.isoformat(),
        },
    )
    assert response.status_code == 302
    (ad_hoc,) = Inspection.objects.filter(loan=loan, kind="ad_hoc")
    assert today < ad_hoc.due_on <= today + timedelta(days=14)
    page = client.get(reverse("postloan:agenda")).content.decode()
    item = page.split(f'data-inspection="{ad_hoc.pk}"', 1)[1].split("</li>", 1)[0]
    assert "Ad-hoc inspection" in item and "serious risk factor" in item


def test_another_officer_sees_only_their_own_agenda(
    client, officer, other_officer, product, branch, today
):
    mine = _inspection(_loan(officer, product, branch), today)
    theirs = _inspection(_loan(other_officer, product, branch), today)
    client.force_login(other_officer)
    assert _listed(client.get(reverse("postloan:agenda"))) == [theirs.pk]
    client.force_login(officer)
    assert _listed(client.get(reverse("postloan:agenda"))) == [mine.pk]


def test_the_agenda_links_the_closed_loans_awaiting_their_evaluation(
    client, officer, other_officer, product, branch, today
):
    """Closed loans the officer manages and has not evaluated yet, latest closed first, each
    linking to its closure form; an evaluated, an active or another officer's loan is not."""
    earlier, later, evaluated, active = (_loan(officer, product, branch) for _ in range(4))
    theirs = _loan(other_officer, product, branch)
    for loan, status, days in (
        (earlier, "settled", 9),
        (later, "written_off", 2),
        (evaluated, "settled", 5),
        (theirs, "settled", 1),
    ):
        Loan.objects.filter(pk=loan.pk).update(status=status, closed_on=today - timedelta(days))
    evaluated.refresh_from_db()
    visits.closure_evaluate(loan=evaluated, by=officer, **CLOSURE)
    client.force_login(officer)
    page = client.get(reverse("postloan:agenda")).content.decode()
    box = page.split('data-testid="agenda-closures"', 1)[1].split("</div>", 1)[0]
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', box)
    assert links == [
        (reverse("postloan:closure", args=[loan.pk]), loan.reference) for loan in (later, earlier)
    ]
    assert active.reference not in box


def test_the_agenda_lists_the_open_early_warnings_on_the_officers_loans(
    client, officer, other_officer, product, branch, today
):
    """Oldest first, each naming its loan (linked), borrower, kind and date, in the reader's
    language; resolved warnings and other officers' loans are left out."""
    mine, also_mine = _loan(officer, product, branch), _loan(officer, product, branch)
    theirs = _loan(other_officer, product, branch)
    for key, (loan, kind, days, resolved) in enumerate(
        [
            (also_mine, "missed_step", 1, False),
            (mine, "broken_promise", 5, False),
            (mine, "missed_step", 9, True),
            (theirs, "broken_promise", 3, False),
        ]
    ):
        EarlyWarning.objects.create(
            loan=loan,
            kind=kind,
            source_key=f"k-{key}",
            detail="",
            raised_on=today - timedelta(days=days),
            resolved_on=today if resolved else None,
        )
    client.force_login(officer)
    for language, broken, missed in (
        ("en", "Promise to pay broken", "Collection plan step missed"),
        ("zh-hans", "未履行还款承诺", "催收方案步骤未按期完成"),
    ):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        page = client.get(reverse("postloan:agenda")).content.decode()
        box = page.split('data-testid="agenda-warnings"', 1)[1].split("</ul>", 1)[0]
        items = re.findall(r"<li>(.*?)</li>", box)
        assert items == [
            f'<a href="{reverse("loans:detail", args=[loan.pk])}">{loan.reference}</a> · '
            f"{loan.borrower.name} · {kind} · {(today - timedelta(days=days)).isoformat()}"
            for loan, kind, days in ((mine, broken, 5), (also_mine, missed, 1))
        ]


def test_the_agenda_needs_a_login(client):
    response = client.get(reverse("postloan:agenda"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_navbar_badge_counts_what_is_due_within_a_week_or_late(
    client, officer, other_officer, product, branch, today
):
    loan = _loan(officer, product, branch)
    _inspection(loan, today - timedelta(days=10))
    _inspection(loan, today)
    _inspection(loan, today + timedelta(days=7))
    _inspection(loan, today + timedelta(days=8))  # not this week
    cancelled = _inspection(loan, today)
    Inspection.objects.filter(pk=cancelled.pk).update(
        status="cancelled", cancelled_on=today, cancel_reason="loan_closed"
    )
    _inspection(_loan(other_officer, product, branch), today)  # someone else's
    client.force_login(officer)
    page = client.get(reverse("home")).content.decode()
    entry = page.split(f'href="{reverse("postloan:agenda")}"', 1)[1].split("</a>", 1)[0]
    assert re.search(r'data-testid="nav-badge">3<', entry), entry


def test_no_badge_when_nothing_is_due(client, officer):
    client.force_login(officer)
    page = client.get(reverse("home")).content.decode()
    assert reverse("postloan:agenda") in page
    assert 'data-testid="nav-badge"' not in page


# --- The managers' list of open inspections ----------------------------------------------------


@pytest.fixture
def open_inspections(officer, other_officer, product, branch, today):
    other_branch = Branch.objects.create(code="GL", name="鼓楼支行")
    loans = {
        "doubtful": _loan(officer, product, branch, "doubtful"),
        "normal": _loan(other_officer, product, other_branch, "normal"),
    }
    return {
        "overdue": _inspection(loans["doubtful"], today - timedelta(days=1), kind="key_tracking"),
        "soon": _inspection(loans["normal"], today + timedelta(days=3), reason="sample"),
        "flag": _inspection(
            loans["doubtful"], today + timedelta(days=1), kind="ad_hoc", reason="flag"
        ),
        "other_branch": other_branch,
    }


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["overdue", "flag", "soon"]),
        ({"officer": "officer-b"}, ["soon"]),
        ({"branch": "other"}, ["soon"]),
        ({"kind": "ad_hoc"}, ["flag"]),
        ({"tier": "doubtful"}, ["overdue", "flag"]),
        ({"overdue": "yes"}, ["overdue"]),
        ({"overdue": "no"}, ["flag", "soon"]),
        ({"tier": "doubtful", "overdue": "no"}, ["flag"]),
    ],
)
def test_risk_managers_filter_open_inspections(
    filters, expected, client, risk_manager, officer, other_officer, open_inspections
):
    params = dict(filters)
    if "officer" in params:
        params["officer"] = {"officer-a": officer, "officer-b": other_officer}[params["officer"]].pk
    if "branch" in params:
        params["branch"] = open_inspections["other_branch"].pk
    client.force_login(risk_manager)
    response = client.get(reverse("postloan:inspections"), params)
    assert response.status_code == 200
    rows = _table_rows(response)
    loans = [open_inspections[name].loan.reference for name in expected]
    assert [re.search(r">(DK-[^<]+)</a>", row).group(1) for row in rows] == loans
    due = [open_inspections[name].due_on.isoformat() for name in expected]
    assert [row.split("</td>", 1)[0].split(">", 1)[1][:10] for row in rows] == due


def test_the_list_shows_tier_reason_officer_and_overdue(
    client, supervisor, open_inspections, today
):
    client.force_login(supervisor)  # supervisors read it too
    response = client.get(reverse("postloan:inspections"))
    assert response.status_code == 200
    (overdue_row,) = [
        r
        for r in _table_rows(response)
        if today.isoformat() not in r and (today - timedelta(days=1)).isoformat() in r
    ]
    assert "overdue" in overdue_row
    assert 'data-tier="doubtful"' in overdue_row
    assert "Qiang Wang" in overdue_row
    assert "Key tracking visit" in overdue_row
    assert "3 open inspections" in response.content.decode()


def test_officers_cannot_see_the_managers_list(client, officer, open_inspections):
    client.force_login(officer)
    assert client.get(reverse("postloan:inspections")).status_code == 403


# --- Query counts ---------------------------------------------------------------------------


def _inspections_for(officer, product, branch, count, today):
    tiers = ["normal", "special_mention", "substandard", "doubtful", "loss"]
    for n in range(count):
        loan = _loan(officer, product, branch, tiers[n % 5], borrower=make_person())
        reason, kind = [("policy", "routine"), ("sample", "routine"), ("flag", "ad_hoc")][n % 3]
        _inspection(loan, today + timedelta(days=n % 9 - 3), kind=kind, reason=reason)


@pytest.mark.parametrize(
    ("user", "url"),
    [("officer", "postloan:agenda"), ("risk_manager", "postloan:inspections")],
)
def test_the_pages_run_a_fixed_number_of_queries(
    user, url, request, client, officer, product, branch, today, django_assert_max_num_queries
):
    client.force_login(request.getfixturevalue(user))
    _inspections_for(officer, product, branch, 3, today)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse(url)).status_code == 200
    _inspections_for(officer, product, branch, 27, today)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse(url))
    if url == "postloan:agenda":
        # a page of 25, the rest on the next
        assert len(_listed(response)) == 25
        assert len(_listed(client.get(reverse(url), {"page": 2}))) == 5
    else:
        assert len(_table_rows(response)) == 30


# --- The policy page -----------------------------------------------------------------------------


def _form_data(rule: InspectionPolicyRule, **changes) -> dict:
    data = {
        "name": rule.name,
        "is_active": "on" if rule.is_active else "",
        "tier": rule.tier,
        "collateral_kind": rule.collateral_kind,
        "min_outstanding": rule.min_outstanding or "",
        "product": rule.product_id or "",
        "repayment_method": rule.repayment_method,
        "frequency": rule.frequency,
        "times_per_month": rule.times_per_month or "",
        "every_months": rule.every_months or "",
        "sample_percent": rule.sample_percent or "",
        "kind": rule.kind,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_the_policy_page_lists_the_default_rules(client, supervisor):
    client.force_login(supervisor)
    response = client.get(reverse("postloan:policy"))
    assert response.status_code == 200
    page = response.content.decode()
    rules = page.split('data-testid="policy-rules"', 1)[1].split("</table>", 1)[0]
    for text in ("10", "2 a month", "once every 12 months", "Machinery and equipment"):
        assert text in rules
    assert rules.count("<tr") == 7  # the header and the six default rules
    # Supervisors read the policy; they do not edit it.
    assert reverse("postloan:policy_new") not in page
    assert "/edit/" not in page


@pytest.mark.parametrize(
    ("role", "reads", "edits"),
    [
        ("officer", 403, 403),
        ("supervisor", 200, 403),
        ("risk_manager", 200, 200),
        ("admin_user", 200, 200),
    ],
)
def test_who_reads_and_who_edits_the_policy(role, reads, edits, request, client):
    client.force_login(request.getfixturevalue(role))
    rule = InspectionPolicyRule.objects.get(tier="doubtful")
    assert client.get(reverse("postloan:policy")).status_code == reads
    assert client.get(reverse("postloan:policy_edit", args=[rule.pk])).status_code == edits
    assert client.get(reverse("postloan:policy_new")).status_code == edits
    response = client.post(
        reverse("postloan:policy_edit", args=[rule.pk]), _form_data(rule, times_per_month=3)
    )
    assert response.status_code == (302 if edits == 200 else 403)
    rule.refresh_from_db()
    assert rule.times_per_month == (3 if edits == 200 else 2)


def test_a_policy_change_is_recorded_with_who_before_and_after(
    client, risk_manager, django_capture_on_commit_callbacks
):
    rule = InspectionPolicyRule.objects.get(tier="doubtful")
    client.force_login(risk_manager)
    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(
            reverse("postloan:policy_edit", args=[rule.pk]), _form_data(rule, times_per_month=3)
        )
    assert response.status_code == 302
    assert response["Location"] == reverse("postloan:policy")
    # The plan is re-done with the new policy once the change is committed.
    assert len(enqueued) == 1
    page = client.get(reverse("postloan:policy")).content.decode()
    history = page.split('data-testid="policy-history"', 1)[1].split("</ul>", 1)[0]
    latest = history.split("<li", 2)[1]
    assert "Min Li" in latest
    assert f"changed “{rule.name}”" in latest
    assert re.search(r"times a month: 2 → 3", latest), latest
    assert "how often" not in latest  # only what changed
    event = (
        apps.get_model("postloan", "InspectionPolicyRuleEvent")
        .objects.filter(pgh_obj_id=rule.pk)
        .latest("pgh_id")
    )
    assert (event.times_per_month, event.pgh_context.metadata["user"]) == (3, risk_manager.pk)


def _latest_change(client) -> str:
    page = client.get(reverse("postloan:policy")).content.decode()
    return page.split('data-testid="policy-history"', 1)[1].split("<li", 2)[1]


def test_the_history_says_before_and_after_in_words(client, risk_manager, product):
    rule = InspectionPolicyRule.objects.get(tier="doubtful")
    client.force_login(risk_manager)
    client.post(
        reverse("postloan:policy_edit", args=[rule.pk]),
        _form_data(rule, tier="loss", kind="routine", product=product.pk, is_active=""),
    )
    latest = _latest_change(client)
    assert "tier: Doubtful → Loss" in latest
    assert "inspection kind: Key tracking visit → Routine inspection" in latest
    assert f"product: — → {product.name}" in latest
    assert "in force: yes → no" in latest


def test_an_old_rules_change_is_not_shown_as_its_creation(client, risk_manager):
    doubtful = InspectionPolicyRule.objects.get(tier="doubtful")
    other = InspectionPolicyRule.objects.get(tier="loss")
    # given more than a page of history since the doubtful rule was created
    for n in range(100):
        InspectionPolicyRule.objects.filter(pk=other.pk).update(name=f"Loss, version {n}")
    client.force_login(risk_manager)
    client.post(
        reverse("postloan:policy_edit", args=[doubtful.pk]),
        _form_data(doubtful, times_per_month=4),
    )
    latest = _latest_change(client)
    assert f"changed “{doubtful.name}”" in latest
    assert "times a month: 2 → 4" in latest
    assert "how often" not in latest


def test_a_new_rule_is_recorded_as_created(client, admin_user, product):
    client.force_login(admin_user)
    response = client.post(
        reverse("postloan:policy_new"),
        {
            "name": "Large loans: a return visit every 3 months",
            "is_active": "on",
            "min_outstanding": "500000.00",
            "frequency": "every_n_months",
            "every_months": "3",
            "kind": "return_visit",
        },
    )
    assert response.status_code == 302
    rule = InspectionPolicyRule.objects.get(kind="return_visit")
    assert (rule.min_outstanding, rule.every_months, rule.times_per_month) == (
        Decimal("500000.00"),
        3,
        None,
    )
    page = client.get(reverse("postloan:policy")).content.decode()
    latest = page.split('data-testid="policy-history"', 1)[1].split("<li", 2)[1]
    assert "created “Large loans: a return visit every 3 months”" in latest
    assert "admin-a" in latest


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"frequency": "per_month", "times_per_month": ""}, "times_per_month"),
        ({"frequency": "per_month", "times_per_month": "9"}, "times_per_month"),
        ({"frequency": "every_n_months", "every_months": "0"}, "every_months"),
        ({"frequency": "sample", "sample_percent": "0"}, "sample_percent"),
        ({"frequency": "sample", "sample_percent": "101"}, "sample_percent"),
    ],
)
def test_the_rule_form_refuses_an_incomplete_frequency(changes, field, client, risk_manager):
    rule = InspectionPolicyRule.objects.get(tier="doubtful")
    client.force_login(risk_manager)
    response = client.post(
        reverse("postloan:policy_edit", args=[rule.pk]), _form_data(rule, **changes)
    )
    assert response.status_code == 200
    assert field in response.context["form"].errors
    rule.refresh_from_db()
    assert (rule.frequency, rule.times_per_month) == ("per_month", 2)


def test_changing_the_frequency_clears_the_other_numbers(client, risk_manager):
    rule = InspectionPolicyRule.objects.get(tier="doubtful")
    client.force_login(risk_manager)
    client.post(
        reverse("postloan:policy_edit", args=[rule.pk]),
        _form_data(rule, frequency="every_n_months", every_months="6"),
    )
    rule.refresh_from_db()
    assert (rule.frequency, rule.times_per_month, rule.every_months) == ("every_n_months", None, 6)
