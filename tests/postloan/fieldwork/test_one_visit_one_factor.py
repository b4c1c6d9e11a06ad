"""The business keys behind the double-click fixes (issue 16, hole 5): one open unplanned
visit per loan and officer a day, and a risk factor once per report — in the database, the
services and the form."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from loans import services as loan_services
from postloan.fieldwork import services as visits
from postloan.fieldwork.services import ReportInput
from postloan.inspections.planning import follow_reassignment
from postloan.models import FoundFactor, Inspection, InspectionReport

pytestmark = [pytest.mark.django_db, pytest.mark.clock(date(2026, 11, 20))]


def _submit(report, by) -> InspectionReport:
    saved = visits.report_save_draft(
        report=report,
        version=report.version,
        data=ReportInput(
            visited_at=timezone.now() - timedelta(hours=1),
            method="home",
            findings="All as declared.",
            answers=dict.fromkeys(
                report.answers.values_list("item", flat=True), ("satisfactory", "")
            ),
        ),
        by=by,
    )
    return visits.report_submit(report=saved, version=saved.version, by=by)


# --- One open unplanned visit per loan and officer a day ---------------------------------------


def test_starting_an_unplanned_visit_again_the_same_day_resumes_it(loan, officer):
    first = visits.report_start_ad_hoc(loan=loan, by=officer)
    again = visits.report_start_ad_hoc(loan=loan, by=officer)
    assert again == first
    assert Inspection.objects.filter(loan=loan, kind="ad_hoc").count() == 1


def test_once_the_visit_is_reported_another_can_start_the_same_day(loan, officer):
    first = visits.report_start_ad_hoc(loan=loan, by=officer)
    _submit(first, officer)
    second = visits.report_start_ad_hoc(loan=loan, by=officer)
    assert second != first
    assert second.inspection.slot == "visit-2026-11-20-2"
    assert Inspection.objects.filter(loan=loan, kind="ad_hoc", status="open").get() == (
        second.inspection
    )


def test_the_next_day_is_a_new_visit(loan, officer, _clock):
    first = visits.report_start_ad_hoc(loan=loan, by=officer)
    _clock.shift(timedelta(days=1))
    second = visits.report_start_ad_hoc(loan=loan, by=officer)
    assert second != first and second.inspection.due_on == date(2026, 11, 21)


def test_each_person_visiting_has_their_own(loan, officer, risk_manager):
    officers = visits.report_start_ad_hoc(loan=loan, by=officer)
    managers = visits.report_start_ad_hoc(loan=loan, by=risk_manager)
    assert officers != managers
    assert {officers.inspection.assigned_to, managers.inspection.assigned_to} == {
        officer,
        risk_manager,
    }


def test_the_database_refuses_a_second_open_unplanned_visit(loan, officer):
    visits.report_start_ad_hoc(loan=loan, by=officer)
    with pytest.raises(IntegrityError), transaction.atomic():
        Inspection.objects.create(
            loan=loan,
            kind="ad_hoc",
            slot="visit-by-hand",
            due_on=timezone.localdate(),
            assigned_to=officer,
            reason="manual",
        )
    # planned inspections and those a serious flag brings are not limited
    for slot, reason in [("flag-1", "flag"), ("flag-2", "flag")]:
        Inspection.objects.create(
            loan=loan,
            kind="ad_hoc",
            slot=slot,
            due_on=timezone.localdate(),
            assigned_to=officer,
            reason=reason,
        )


def test_reassigning_a_loan_with_two_open_visits_of_the_day_keeps_both(loan, officer, risk_manager):
    # the officer and a risk manager both started a visit of the loan today, and the open
    # inspections then go to the risk manager: two open visits of theirs would break the key
    mine = visits.report_start_ad_hoc(loan=loan, by=officer)
    theirs = visits.report_start_ad_hoc(loan=loan, by=risk_manager)
    follow_reassignment(loan=loan, to_officer=risk_manager)
    mine.inspection.refresh_from_db()
    theirs.inspection.refresh_from_db()
    # the risk manager's own stays theirs, and the officer's is not merged into it
    assert theirs.inspection.assigned_to == risk_manager
    assert mine.inspection.assigned_to == officer
    assert Inspection.objects.filter(loan=loan, kind="ad_hoc", status="open").count() == 2
    # the other open inspections go over as before
    assert Inspection.objects.get(loan=loan, kind="handover").assigned_to == risk_manager


def test_reassigning_hands_the_open_visits_over(loan, officer, other_officer):
    visit = visits.report_start_ad_hoc(loan=loan, by=officer)
    loan_services.loan_reassign(
        loan=loan, to_officer=other_officer, effective_on=timezone.localdate(), reason="Leave"
    )
    visit.inspection.refresh_from_db()
    assert visit.inspection.assigned_to == other_officer


# --- A risk factor once per report -------------------------------------------------------------


def test_the_form_refuses_a_factor_listed_twice(client, loan, officer):
    report = visits.report_start_ad_hoc(loan=loan, by=officer)
    client.force_login(officer)
    url = reverse("postloan:report_edit", args=[report.pk])
    data = {
        "version": report.version,
        "action": "save",
        "findings": "Two suppliers unpaid.",
        "factor_1": "3",
        "factor_1_evidence": "Supplier A unpaid",
        "factor_2": "3",
        "factor_2_evidence": "Supplier B unpaid",
        "factor_3": "3",
        "factor_3_evidence": "Supplier C unpaid",
    }

    response = client.post(url, data)

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("This factor is listed above already") == 2
    assert "Supplier C unpaid" in page  # kept as typed
    assert not FoundFactor.objects.exists()
    report.refresh_from_db()
    assert report.findings == ""

    # once, the draft is saved and the submitted report raises one flag
    response = client.post(
        url,
        data
        | {
            "factor_1_evidence": "Suppliers A, B and C unpaid",
            "factor_2": "",
            "factor_2_evidence": "",
            "factor_3": "",
            "factor_3_evidence": "",
        },
    )
    assert response.status_code == 302
    assert list(report.factors.values_list("factor", "evidence")) == [
        (3, "Suppliers A, B and C unpaid")
    ]


def test_the_service_refuses_a_factor_listed_twice(loan, officer):
    report = visits.report_start_ad_hoc(loan=loan, by=officer)
    with pytest.raises(ValidationError) as caught:
        visits.report_save_draft(
            report=report,
            version=report.version,
            data=ReportInput(factors=[(3, "A", False), (3, "B", True)]),
            by=officer,
        )
    assert "factors" in caught.value.message_dict
    assert not FoundFactor.objects.exists()


def test_the_database_refuses_a_factor_twice_in_a_report(loan, officer):
    report = visits.report_start_ad_hoc(loan=loan, by=officer)
    FoundFactor.objects.create(report=report, factor=3, evidence="A")
    with pytest.raises(IntegrityError), transaction.atomic():
        FoundFactor.objects.create(report=report, factor=3, evidence="B")
    FoundFactor.objects.create(report=report, factor=4, evidence="Another factor")
