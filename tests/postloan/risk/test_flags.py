"""Risk factors (Art. 5, docs/domain.md §6): the five the data reveals are raised and resolved
by the nightly run; people raise and resolve the rest."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from borrowers import services as borrower_services
from common.models import BusinessSettings
from loans import services as loan_services
from postloan.models import RiskFlag
from postloan.risk.services import flag_raise, flag_resolve
from tests.factories import make_guarantor, make_person
from tests.postloan.helpers import book, classify, pay_instalments, risk

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def current(officer, product, branch):
    """¥120,000 in monthly instalments from 2026-01-15, each paid on its due date by 2026-10."""
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    for month in range(1, 11):
        pay_instalments(loan, 1, date(2026, month, 15))
    return loan


def _open(loan, factor):
    return list(RiskFlag.objects.filter(loan=loan, factor=factor, resolved_on=None))


def _flags(loan, factor):
    return list(
        RiskFlag.objects.filter(loan=loan, factor=factor)
        .order_by("id")
        .values_list("source", "evidence", "raised_on", "resolved_on", "resolution")
    )


# --- Factor 1: instalment not paid as contracted -------------------------------------------------


def test_factor_1_raised_on_a_miss_and_resolved_after_the_catch_up(officer, product, branch):
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    pay_instalments(loan, 2, date(2026, 2, 28))
    run = classify(date(2026, 1, 15))
    assert (run.flags_raised, _flags(loan, 1)) == (0, [])
    run = classify(date(2026, 1, 16))
    assert run.flags_raised == 1
    assert _flags(loan, 1) == [("automatic", "missed_periods=1", date(2026, 1, 16), None, "")]
    # Still missed on the next run (two now): the open flag stays the only one.
    run = classify(date(2026, 2, 16))
    assert (run.flags_raised, run.flags_resolved) == (0, 0)
    assert len(_flags(loan, 1)) == 1
    run = classify(date(2026, 2, 28))  # caught up that day
    assert (run.flags_raised, run.flags_resolved) == (0, 1)
    assert _flags(loan, 1) == [
        ("automatic", "missed_periods=1", date(2026, 1, 16), date(2026, 2, 28), "cleared")
    ]
    # Missed again later: a new flag, the old one stays resolved.
    classify(date(2026, 3, 16))
    assert [flag[2:4] for flag in _flags(loan, 1)] == [
        (date(2026, 1, 16), date(2026, 2, 28)),
        (date(2026, 3, 16), None),
    ]


# --- Factor 10: contact details change often ------------------------------------------------------


def _change(borrower, effective_on, **data):
    borrower.refresh_from_db()
    return borrower_services.borrower_update(
        borrower=borrower, version=borrower.version, data=data, effective_on=effective_on
    )


def test_factor_10_contact_details_changing_often(current):
    borrower = current.borrower
    _change(borrower, date(2026, 1, 10), address="厦门市思明区一号")
    _change(borrower, date(2026, 2, 10), mobile="13900000001")
    classify(date(2026, 3, 9))
    assert _open(current, 10) == []  # two changes: below the threshold of three
    _change(borrower, date(2026, 3, 10), address="泉州市丰泽区二号")
    _change(borrower, date(2026, 3, 10), employer="New employer")  # not a contact detail
    classify(date(2026, 3, 11))
    assert [flag.evidence for flag in _open(current, 10)] == ["contact_changes=3"]
    # The window is the six months up to the run, (2026-01-10, 2026-07-10] on 07-10: by
    # then the January change has left it.
    classify(date(2026, 7, 9))
    assert len(_open(current, 10)) == 1
    classify(date(2026, 7, 10))
    assert _open(current, 10) == []
    assert _flags(current, 10)[0][3:] == (date(2026, 7, 10), "cleared")


def test_factor_10_follows_the_business_settings(current):
    settings = BusinessSettings.current()
    settings.contact_change_threshold = 2
    settings.contact_change_window_months = 1
    settings.save()
    borrower = current.borrower
    _change(borrower, date(2026, 1, 1), address="厦门市思明区一号")
    _change(borrower, date(2026, 2, 5), mobile="13900000001")
    classify(date(2026, 2, 6))
    assert _open(current, 10) == []  # 01-01 is more than a month before
    _change(borrower, date(2026, 2, 20), business_address="厦门市湖里区三号")
    classify(date(2026, 2, 21))
    assert [flag.evidence for flag in _open(current, 10)] == ["contact_changes=2"]


# --- Factor 11: collateral value near or below the loan -------------------------------------------


def test_factor_11_collateral_value_falls_towards_the_loan(current):
    # 120% of the outstanding principal: about ¥121,000 after two instalments, ¥110,000
    # after three.
    collateral = loan_services.collateral_add(
        loan=current,
        kind="real_estate",
        description="Shop, 五四路 8号",
        value=D("200000.00"),
        valued_on=date(2026, 1, 5),
    )
    classify(date(2026, 3, 2))
    assert _open(current, 11) == []
    loan_services.valuation_add(
        collateral=collateral, valued_on=date(2026, 3, 1), value=D("90000.00"), method="appraisal"
    )
    run = classify(date(2026, 3, 3))
    [flag] = _open(current, 11)
    outstanding = risk(current).outstanding_principal
    assert flag.evidence == f"collateral_value=90000.00;outstanding={outstanding}"
    assert run.flags_raised == 1
    loan_services.valuation_add(
        collateral=collateral, valued_on=date(2026, 4, 1), value=D("180000.00"), method="appraisal"
    )
    classify(date(2026, 3, 31))
    assert len(_open(current, 11)) == 1  # the higher valuation comes later
    classify(date(2026, 4, 1))
    assert _open(current, 11) == []


def test_factor_11_coverage_is_a_setting(current):
    loan_services.collateral_add(
        loan=current,
        kind="vehicle",
        description="Truck",
        value=D("130000.00"),
        valued_on=date(2026, 1, 5),
    )
    classify(date(2026, 1, 6))
    assert len(_open(current, 11)) == 1  # 130,000 ≤ 120% of ¥120,000 outstanding
    settings = BusinessSettings.current()
    settings.collateral_coverage_percent = 100
    settings.save()
    classify(date(2026, 1, 7))
    assert _open(current, 11) == []


# --- Factor 12: off-plan property late -----------------------------------------------------------


def test_factor_12_off_plan_property_not_completed_or_registered(current):
    off_plan = loan_services.collateral_add(
        loan=current,
        kind="off_plan",
        description="Flat 12-0301, 期房",
        developer="福州某地产",
        expected_completion_on=date(2026, 3, 31),
        registration_due_on=date(2026, 6, 30),
    )
    classify(date(2026, 3, 31))
    assert _open(current, 12) == []
    classify(date(2026, 4, 1))
    assert [flag.evidence for flag in _open(current, 12)] == ["completion_due=2026-03-31"]
    loan_services.collateral_record_progress(collateral=off_plan, completed_on=date(2026, 4, 20))
    classify(date(2026, 4, 21))
    assert _open(current, 12) == []
    # The formal registration is late in turn, then done.
    classify(date(2026, 7, 1))
    assert [flag.evidence for flag in _open(current, 12)] == ["registration_due=2026-06-30"]
    loan_services.collateral_record_progress(
        collateral=off_plan, registration_on=date(2026, 7, 10), title_certificate_number="闽2026-1"
    )
    classify(date(2026, 7, 11))
    assert _open(current, 12) == []
    assert len(_flags(current, 12)) == 2


# --- Factor 13: guarantor impaired ----------------------------------------------------------------


def test_factor_13_guarantor_reassessed_down(officer, product, branch):
    guarantor = make_guarantor()
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
        guarantors=[guarantor],
    )
    borrower_services.guarantor_assess(
        guarantor=guarantor, assessed_on=date(2026, 1, 5), monthly_income=D("20000")
    )
    classify(date(2026, 1, 6))
    assert _open(loan, 13) == []
    borrower_services.guarantor_assess(
        guarantor=guarantor, assessed_on=date(2026, 4, 1), monthly_income=D("9000")
    )
    classify(date(2026, 4, 2))
    assert [flag.evidence for flag in _open(loan, 13)] == [f"guarantor={guarantor.reference}"]
    borrower_services.guarantor_assess(
        guarantor=guarantor, assessed_on=date(2026, 6, 1), monthly_income=D("21000")
    )
    classify(date(2026, 6, 2))
    assert _open(loan, 13) == []


def test_factor_13_a_group_members_loan_non_performing(officer, product, branch):
    members = [make_person(name) for name in ("陈一", "陈二", "陈三")]
    borrower_services.group_form(
        name="三户联保", product=product, members=members, formed_on=date(2025, 12, 1)
    )
    loans = [
        book(
            officer,
            product=product,
            branch=branch,
            borrower=member,
            principal=D("50000.00"),
            disbursed_on=date(2025, 12, 15),
            first_due_on=date(2026, 1, 15),
        )
        for member in members
    ]
    assert {loan.group_id for loan in loans} != {None}
    weak, others = loans[0], loans[1:]
    for loan in others:
        for month in range(1, 6):
            pay_instalments(loan, 1, date(2026, month, 15))
    pay_instalments(weak, 5, date(2026, 5, 20))  # catches up on 05-20
    classify(date(2026, 4, 16))  # weak: four missed, substandard
    assert risk(weak).tier == "substandard"
    assert {risk(loan).tier for loan in others} == {"normal"}
    for loan in others:
        [flag] = _open(loan, 13)
        assert flag.evidence == f"group_member_non_performing={weak.reference}"
    assert _open(weak, 13) == []
    classify(date(2026, 5, 20))
    for loan in loans:
        assert _open(loan, 13) == []


# --- One open automatic flag per loan and factor --------------------------------------------------


def test_a_second_run_raises_nothing_new(officer, product, branch):
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    loan_services.collateral_add(
        loan=loan,
        kind="vehicle",
        description="Van",
        value=D("60000.00"),
        valued_on=date(2026, 1, 2),
    )
    first = classify(date(2026, 2, 16))
    assert first.flags_raised == 2  # factors 1 and 11
    flags = list(RiskFlag.objects.values_list("id", "factor", "resolved_on"))
    again = classify(date(2026, 2, 16))
    later = classify(date(2026, 3, 16))
    assert (again.flags_raised, later.flags_raised, later.flags_resolved) == (0, 0, 0)
    assert list(RiskFlag.objects.values_list("id", "factor", "resolved_on")) == flags
    # A person's flag for the same factor stands beside the automatic one.
    flag_raise(factor=1, evidence="Phoned; promised to pay.", by=officer, loan=loan)
    classify(date(2026, 4, 16))
    assert RiskFlag.objects.filter(loan=loan, factor=1, resolved_on=None).count() == 2


def test_the_run_resolves_only_what_it_raised(current, officer):
    manual = flag_raise(
        factor=11, evidence="Valuer says the shop is worth less.", by=officer, loan=current
    )
    classify(date(2026, 3, 2))
    manual.refresh_from_db()
    assert manual.is_open  # the run resolves only what it raised


# --- Flags people raise ---------------------------------------------------------------------------


def test_raising_a_flag_needs_evidence_one_subject_and_no_future_date(current, officer):
    with pytest.raises(ValidationError) as refused:
        flag_raise(factor=2, evidence=" ", by=officer, loan=current)
    assert "evidence" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        flag_raise(factor=2, evidence="x", by=officer, loan=current, borrower=current.borrower)
    assert "__all__" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        flag_raise(factor=99, evidence="x", by=officer, loan=current)
    assert "factor" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        flag_raise(
            factor=2,
            evidence="x",
            by=officer,
            loan=current,
            raised_on=timezone.localdate() + timedelta(days=1),
        )
    assert "raised_on" in refused.value.message_dict
    assert not RiskFlag.objects.exists()


def test_resolving_a_flag_needs_a_resolution(current, officer):
    flag = flag_raise(factor=9, evidence="Refused the visit.", by=officer, loan=current)
    with pytest.raises(ValidationError):
        flag_resolve(flag=flag, resolution="", by=officer)
    flag_resolve(flag=flag, resolution="Visited on the second try.", by=officer)
    flag.refresh_from_db()
    assert (flag.resolved_on, flag.resolved_by, flag.is_open) == (
        timezone.localdate(),
        officer,
        False,
    )
    with pytest.raises(ValidationError):
        flag_resolve(flag=flag, resolution="again", by=officer)


def test_raising_and_resolving_through_the_pages(current, officer, client):
    client.force_login(officer)
    response = client.post(
        reverse("postloan:flag_loan", args=[current.pk]),
        {
            "factor": "4",
            "evidence": "Hospitalised.",
            "is_serious": "on",
            "raised_on": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302
    flag = RiskFlag.objects.get(loan=current)
    assert (flag.factor, flag.is_serious, flag.source, flag.raised_by) == (
        4,
        True,
        "manual",
        officer,
    )
    response = client.post(
        reverse("postloan:flag_resolve", args=[flag.pk]), {"resolution": "Back at work."}
    )
    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.resolution == "Back at work."


def test_automatic_flags_are_resolved_only_by_the_run(officer, product, branch, client):
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    classify(date(2026, 1, 16))
    [flag] = _open(loan, 1)
    client.force_login(officer)
    response = client.post(
        reverse("postloan:flag_resolve", args=[flag.pk]), {"resolution": "Called him."}
    )
    assert response.status_code == 403
    assert _open(loan, 1) == [flag]


def test_officers_raise_flags_only_on_what_they_see(current, other_officer, client):
    client.force_login(other_officer)
    response = client.post(
        reverse("postloan:flag_loan", args=[current.pk]), {"factor": "2", "evidence": "x"}
    )
    assert response.status_code == 404
    assert not RiskFlag.objects.exists()
