"""The report made for a phone (issue 18), the server's part: the visit's time starts as now
on a new report, the checklist is cut into the seven sections in its own order, and the risk
factors already open on the loan are listed in the report."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from postloan.fieldwork import services as visits
from postloan.fieldwork.forms import REPORT_SECTIONS, ReportForm
from postloan.models import CHECKLIST, Inspection
from postloan.risk.services import flag_raise, flag_resolve
from tests.utils import SHANGHAI

pytestmark = pytest.mark.django_db


def _report(loan):
    inspection = Inspection.objects.create(
        loan=loan,
        kind="routine",
        slot="phone-1",
        due_on=timezone.localdate(),
        assigned_to=loan.managing_officer,
        reason="sample",
    )
    return visits.report_start(inspection=inspection, by=loan.managing_officer)


@pytest.mark.clock(date(2026, 11, 20), hour=14)
def test_a_new_report_starts_with_the_visit_at_now_to_the_minute(client, loan, officer):
    report = _report(loan)
    assert report.visited_at is None
    initial = ReportForm.initial_for(report)["visited_at"]
    # the clock ticks from 14:00:00 Shanghai: the minute it is, seconds dropped, local time
    assert initial.tzinfo is not None
    assert initial.utcoffset() == timedelta(hours=8)
    assert (initial.second, initial.microsecond) == (0, 0)
    assert initial.replace(tzinfo=None) == datetime(2026, 11, 20, 14, 0)

    client.force_login(officer)
    page = client.get(reverse("postloan:report_edit", args=[report.pk])).content.decode()
    assert re.search(r'name="visited_at" value="2026-11-20T14:00"', page), "the input is prefilled"


@pytest.mark.clock(date(2026, 11, 20), hour=14)
def test_a_saved_visit_time_is_kept_not_replaced_by_now(loan):
    report = _report(loan)
    visited = datetime(2026, 11, 19, 9, 30, tzinfo=SHANGHAI)
    saved = visits.report_save_draft(
        report=report,
        version=report.version,
        data=visits.ReportInput(visited_at=visited),
        by=loan.managing_officer,
    )
    initial = ReportForm.initial_for(saved)["visited_at"]
    assert initial == visited and initial.utcoffset() == timedelta(hours=8)


def test_the_sections_hold_every_item_once_in_the_checklists_order():
    numbered = [item for _key, _title, items in REPORT_SECTIONS for item in items]
    assert numbered == sorted(CHECKLIST) == list(range(1, 13))
    assert len(REPORT_SECTIONS) == 7


def test_the_page_shows_seven_sections_in_order_with_the_photos_inside(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    page = client.get(reverse("postloan:report_edit", args=[report.pk])).content.decode()
    keys = re.findall(r'data-report-section="(\w+)"', page)
    assert keys == [key for key, _title, _items in REPORT_SECTIONS]
    # photos, risk factors and the findings come before the submit bar, inside the form
    form = page.split('id="report-form"', 1)[1].split("</form>", 1)[0]
    bar = form.index('data-testid="submit-bar"')
    for inside in ('data-testid="upload-form"', 'name="factor_1"', 'name="findings"'):
        assert form.index(inside) < bar, inside
    files = page.split('data-report-section="files"', 1)[1].split("</section>", 1)[0]
    assert 'data-testid="upload-form"' in files and 'name="factor_1"' in files


def test_the_factors_already_open_are_listed_in_the_report(client, loan, officer):
    flag_raise(
        factor=3,
        evidence="Two suppliers unpaid since October.",
        by=officer,
        loan=loan,
        raised_on=timezone.localdate(),
    )
    resolved = flag_raise(
        factor=5,
        evidence="Resolved long ago.",
        by=officer,
        loan=loan,
        raised_on=timezone.localdate(),
    )
    flag_resolve(flag=resolved, resolution="Paid up.", by=officer)
    report = _report(loan)
    client.force_login(officer)
    page = client.get(reverse("postloan:report_edit", args=[report.pk])).content.decode()
    listed = page.split('data-testid="open-factors"', 1)[1].split("</ul>", 1)[0]
    assert "Two suppliers unpaid since October." in listed
    assert "Resolved long ago." not in listed
