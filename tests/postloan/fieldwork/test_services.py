"""Field visits (issue 7), the services: the inspection report from draft to final, its
uploads, the default follow-up with its collection plan, early warnings, the closure
evaluation and the customer maintenance log (docs/domain.md §5, §7)."""

from __future__ import annotations

import io
import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from PIL import ExifTags, Image, PngImagePlugin

from borrowers import services as borrower_services
from borrowers.models import GuarantorAssessment, MaintenanceLog
from common.models import BusinessSettings, Notification
from common.roles import Role
from common.services import ConcurrentEditError
from loans import services as loan_services
from loans.models import Valuation
from postloan.fieldwork import services as visits
from postloan.fieldwork.services import ReportInput
from postloan.models import (
    COLLATERAL_ITEM,
    GUARANTOR_ITEM,
    ClosureEvaluation,
    CollectionPlan,
    ContactAttempt,
    EarlyWarning,
    Inspection,
    InspectionReport,
    ReportAddendum,
    RiskFlag,
    TierAdjustment,
)
from tests.factories import book_loan, make_guarantor, make_person
from tests.postloan.helpers import pay

pytestmark = pytest.mark.django_db

_slots = itertools.count(1)
WITHOUT_SECURITY = [1, 2, 3, 4, 5, 6, 7, 10, 11, 12]


def _today():
    return timezone.localdate()


def _inspection(loan, *, due_on=None, kind="routine", officer=None) -> Inspection:
    return Inspection.objects.create(
        loan=loan,
        kind=kind,
        slot=f"visit-test-{next(_slots)}",
        due_on=due_on or _today(),
        assigned_to=officer or loan.managing_officer,
        reason="sample",
    )


def _report(loan, **kwargs) -> InspectionReport:
    inspection = _inspection(loan, **kwargs)
    return visits.report_start(inspection=inspection, by=inspection.assigned_to)


def _answers(report, answer="satisfactory") -> dict:
    return dict.fromkeys(report.answers.values_list("item", flat=True), (answer, ""))


def _complete(report, **fields) -> ReportInput:
    values = {
        "visited_at": timezone.now() - timedelta(hours=2),
        "method": "business",
        "place": "The borrower's shop",
        "people_met": "The borrower and his wife",
        "findings": "Trade is steady; stock as declared.",
        "answers": _answers(report),
    }
    values.update(fields)
    return ReportInput(**values)


def _save(report, data: ReportInput, by=None) -> InspectionReport:
    return visits.report_save_draft(
        report=report, version=report.version, data=data, by=by or report.author
    )


def _submit(report, data: ReportInput | None = None, by=None) -> InspectionReport:
    saved = _save(report, data or _complete(report), by)
    return visits.report_submit(report=saved, version=saved.version, by=by or report.author)


def _errors(caught) -> dict:
    return caught.value.message_dict


@pytest.fixture
def secured_loan(officer, product, branch):
    """A loan with one guarantor (assessed before) and a vehicle as collateral."""
    guarantor = make_guarantor("陈担保")
    loan = book_loan(
        borrower=make_person("林有担保"),
        officer=officer,
        product=product,
        branch=branch,
        guarantors=[guarantor],
    )
    borrower_services.guarantor_assess(
        guarantor=guarantor,
        assessed_on=loan.disbursed_on,
        monthly_income=Decimal("15000"),
        net_assets=Decimal("600000"),
        credit_standing=2,
    )
    loan_services.collateral_add(
        loan=loan,
        kind="vehicle",
        description="Light truck 闽A-12345",
        value=Decimal("90000"),
        valued_on=loan.disbursed_on,
        by=officer,
    )
    return loan


# --- Opening a report -------------------------------------------------------------------------


def test_a_report_opens_as_a_draft_with_only_the_applicable_checklist_items(loan, secured_loan):
    plain = _report(loan)
    assert plain.status == "draft" and plain.version == 1
    assert list(plain.answers.values_list("item", flat=True)) == WITHOUT_SECURITY
    secured = _report(secured_loan)
    items = list(secured.answers.values_list("item", flat=True))
    assert items == list(range(1, 13))
    assert GUARANTOR_ITEM in items and COLLATERAL_ITEM in items
    # opening it again resumes the same draft
    assert visits.report_start(inspection=plain.inspection, by=plain.author) == plain


def test_only_the_officer_of_the_book_opens_the_report(loan, other_officer, risk_manager):
    inspection = _inspection(loan)
    with pytest.raises(PermissionDenied):
        visits.report_start(inspection=inspection, by=other_officer)
    report = visits.report_start(inspection=inspection, by=loan.managing_officer)
    # nor may they read someone else's existing draft through the service
    with pytest.raises(PermissionDenied):
        visits.report_start(inspection=inspection, by=other_officer)
    assert visits.report_start(inspection=inspection, by=risk_manager) == report


def test_an_inspection_no_longer_open_gets_no_report(loan, officer):
    inspection = _inspection(loan)
    Inspection.objects.filter(pk=inspection.pk).update(
        status="cancelled", cancelled_on=_today(), cancel_reason="loan_closed"
    )
    with pytest.raises(ValidationError):
        visits.report_start(inspection=inspection, by=officer)
    assert not InspectionReport.objects.exists()


def test_an_ad_hoc_visit_creates_its_inspection_due_today(loan, officer, other_officer):
    first = visits.report_start_ad_hoc(loan=loan, by=officer)
    second = visits.report_start_ad_hoc(loan=loan, by=officer)
    assert first == second  # started again the same day, the open visit is resumed
    for report in (first, second):
        assert report.inspection.kind == "ad_hoc"
        assert report.inspection.due_on == _today()
        assert report.inspection.assigned_to == officer
    with pytest.raises(PermissionDenied):
        visits.report_start_ad_hoc(loan=loan, by=other_officer)
    loan_services.loan_write_off(loan=loan, on=_today(), reason="Fled abroad")
    with pytest.raises(ValidationError):
        visits.report_start_ad_hoc(loan=loan, by=officer)


# --- Drafts, bad input, two tabs -------------------------------------------------------------


def test_a_draft_saves_whatever_is_there_and_counts_its_versions(loan):
    report = _report(loan)
    saved = _save(report, ReportInput(place="Market stall", answers={1: ("concern", "late")}))
    assert saved.version == 2
    assert saved.place == "Market stall"
    assert saved.answers.get(item=1).answer == "concern"
    assert saved.answers.get(item=2).answer == ""
    # an inapplicable item sent anyway is not stored
    _save(saved, ReportInput(answers={COLLATERAL_ITEM: ("satisfactory", "")}))
    assert not saved.answers.filter(item=COLLATERAL_ITEM).exists()


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"visited_at": timezone.now() + timedelta(hours=3)}, "visited_at"),
        ({"visited_at": timezone.now() - timedelta(days=30)}, "visited_at"),
        ({"next_action_on": timezone.localdate() - timedelta(days=1)}, "next_action_on"),
        ({"recommended_tier": "excellent"}, "recommended_tier"),
        ({"latitude": Decimal("91")}, "latitude"),
    ],
    ids=["visit in the future", "visit before disbursement", "next action past", "tier", "lat"],
)
def test_bad_input_is_refused_and_the_saved_draft_kept(loan, fields, field):
    report = _save(_report(loan), ReportInput(place="Kept", findings="Kept findings"))
    with pytest.raises(ValidationError) as caught:
        _save(report, ReportInput(place="Lost", **fields))
    assert field in _errors(caught)
    report.refresh_from_db()
    assert (report.place, report.findings, report.version) == ("Kept", "Kept findings", 2)


def test_two_tabs_saving_the_same_draft_the_second_is_told_and_changes_nothing(loan):
    tab_one = _report(loan)
    tab_two = InspectionReport.objects.get(pk=tab_one.pk)  # opened at the same version
    _save(tab_one, ReportInput(findings="From the first tab"))
    with pytest.raises(ConcurrentEditError) as caught:
        _save(tab_two, ReportInput(findings="From the second tab"))
    assert "another tab" in caught.value.messages[0]
    tab_one.refresh_from_db()
    assert tab_one.findings == "From the first tab"


def test_two_tabs_submitting_the_same_report_one_wins(loan):
    tab_one = _report(loan)
    tab_two = InspectionReport.objects.get(pk=tab_one.pk)
    _submit(tab_one, _complete(tab_one, recommended_tier="special_mention"))
    with pytest.raises(ValidationError) as caught:
        _submit(tab_two, _complete(tab_two, recommended_tier="doubtful"))
    assert caught.value.error_list[0].code == "already_submitted"
    assert "another tab" in caught.value.messages[0]
    assert TierAdjustment.objects.filter(loan=loan).count() == 1
    tab_one.refresh_from_db()
    assert tab_one.recommended_tier == "special_mention"


def test_submitting_with_items_unanswered_is_refused_and_the_draft_kept(loan):
    report = _report(loan)
    answers = _answers(report)
    answers[3] = ("", "")
    answers[5] = ("concern", "  ")  # a concern needs its comment
    with pytest.raises(ValidationError) as caught:
        _submit(report, _complete(report, answers=answers, findings=""))
    assert {"item_3", "item_5", "findings"} <= set(_errors(caught))
    report.refresh_from_db()
    assert report.status == "draft"
    assert report.place == "The borrower's shop"  # the draft half of the request is kept
    assert report.answers.get(item=1).answer == "satisfactory"
    assert report.inspection.status == "open"
    with pytest.raises(ValidationError) as caught:
        visits.report_submit(report=report, version=report.version, by=report.author)
    assert "item_3" in _errors(caught)


def test_not_checked_counts_as_an_answer(loan):
    report = _report(loan)
    submitted = _submit(report, _complete(report, answers=_answers(report, "not_checked")))
    assert submitted.status == "submitted"


# --- Submission and what follows from it -------------------------------------------------------


def test_submitting_records_the_valuation_the_reassessment_flags_and_a_proposal(
    secured_loan, officer
):
    report = _report(secured_loan, due_on=_today())
    collateral = secured_loan.collateral.get()
    guarantor = secured_loan.guarantees.get().guarantor
    data = _complete(
        report,
        recommended_tier="special_mention",
        collateral={collateral.pk: ("Dented, still in use", Decimal("70000.00"))},
        guarantors={
            guarantor.pk: {
                "situation": "Lost his job in March",
                "monthly_income": Decimal("4000"),
                "net_assets": None,
                "credit_standing": None,
            }
        },
        factors=[(3, "Income halved since the loan", False), (8, "Truck leased out", True)],
    )
    submitted = _submit(report, data)

    visit_day = timezone.localtime(submitted.visited_at).date()
    assert submitted.status == "submitted" and submitted.submitted_at is not None
    valuation = Valuation.objects.get(collateral=collateral, value=Decimal("70000.00"))
    assert (valuation.valued_on, valuation.method) == (visit_day, "officer")
    assert submitted.collateral_checks.get().valuation == valuation
    assessment = GuarantorAssessment.objects.filter(guarantor=guarantor).latest("id")
    assert submitted.guarantor_checks.get().assessment == assessment
    assert assessment.monthly_income == Decimal("4000") and assessment.capacity_lowered
    # a standing nobody re-assessed is carried over, not reset to "good"
    assert assessment.credit_standing == 2
    flags = RiskFlag.objects.filter(loan=secured_loan, source="inspection").order_by("factor")
    assert [(f.factor, f.is_serious, f.raised_on) for f in flags] == [
        (3, False, visit_day),
        (8, True, visit_day),
    ]
    assert all(found.flag_id for found in submitted.factors.all())
    # a serious factor brings an ad-hoc inspection at once
    assert Inspection.objects.filter(loan=secured_loan, kind="ad_hoc", status="open").exists()
    adjustment = submitted.adjustment
    assert (adjustment.proposed_tier, adjustment.status) == ("special_mention", "pending")
    assert adjustment.proposed_by == officer
    assert adjustment.factors == [3, 8]
    assert adjustment.source == f"inspection:{report.inspection_id}"
    inspection = Inspection.objects.get(pk=report.inspection_id)
    assert (inspection.status, inspection.completed_on) == ("done", visit_day)
    assert inspection.done_on_time is True


def test_a_report_submitted_after_the_due_date_marks_the_inspection_late(loan):
    report = _report(loan, due_on=_today() - timedelta(days=3))
    submitted = _submit(report)
    assert submitted.inspection.done_on_time is False
    assert submitted.adjustment is None  # no tier recommended, no proposal


def test_recommending_the_loans_own_tier_proposes_nothing(loan):
    report = _report(loan)
    submitted = _submit(report, _complete(report, recommended_tier="normal"))
    assert submitted.adjustment is None
    assert not TierAdjustment.objects.exists()


def test_a_submitted_report_is_final(loan, officer):
    report = _submit(_report(loan))
    with pytest.raises(ValidationError) as caught:
        _save(report, ReportInput(findings="Changed my mind"))
    assert caught.value.error_list[0].code == "already_submitted"
    with pytest.raises(ValidationError):
        visits.attachment_add(report=report, upload=_jpeg_upload(), by=officer)
    with pytest.raises(ValidationError):
        visits.contact_attempt_add(
            report=report, method="phone", attempted_on=_today(), outcome="x", by=officer
        )
    report.refresh_from_db()
    assert report.findings == "Trade is steady; stock as declared."


def test_corrections_are_addenda_with_who_and_when_and_cannot_be_changed(loan, officer):
    draft = _report(loan)
    with pytest.raises(ValidationError):
        visits.report_add_addendum(report=draft, text="Too early", by=officer)
    report = _submit(draft)
    with pytest.raises(ValidationError):
        visits.report_add_addendum(report=report, text="   ", by=officer)
    addendum = visits.report_add_addendum(report=report, text=" The shop is rented. ", by=officer)
    assert (addendum.text, addendum.author) == ("The shop is rented.", officer)
    assert addendum.created_at is not None
    # append-only in the database: neither UPDATE nor DELETE gets through
    with pytest.raises(DatabaseError), transaction.atomic():
        ReportAddendum.objects.filter(pk=addendum.pk).update(text="Rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        ReportAddendum.objects.filter(pk=addendum.pk).delete()
    assert ReportAddendum.objects.get(pk=addendum.pk).text == "The shop is rented."


def test_another_officer_cannot_write_on_the_report(loan, other_officer):
    report = _report(loan)
    with pytest.raises(PermissionDenied):
        _save(report, ReportInput(findings="Not mine"), by=other_officer)
    with pytest.raises(PermissionDenied):
        visits.attachment_add(report=report, upload=_jpeg_upload(), by=other_officer)


# --- Uploads ---------------------------------------------------------------------------------


def _jpeg_bytes(size=(64, 48), **save) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (180, 40, 40)).save(buffer, "JPEG", **save)
    return buffer.getvalue()


def _jpeg_upload(name="photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, _jpeg_bytes(), content_type="image/jpeg")


def _gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (26.0, 5.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (119.0, 18.0, 0.0)
    return exif


def _stored(attachment) -> bytes:
    with attachment.file.open("rb") as stored:
        return stored.read()


def test_a_photo_is_reencoded_without_its_exif_location_or_comment(loan, officer):
    original = _jpeg_bytes(exif=_gps_exif(), comment=b"<script>alert(1)</script>")
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    report = _report(loan)
    upload = SimpleUploadedFile("IMG_2041.JPG", original, content_type="image/jpeg")
    attachment = visits.attachment_add(report=report, upload=upload, by=officer)

    data = _stored(attachment)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (64, 48)
    assert not image.getexif()
    assert b"Exif" not in data and b"PhoneMaker" not in data and b"<script>" not in data
    assert (attachment.content_type, attachment.size) == ("image/jpeg", len(data))
    assert attachment.original_name == "IMG_2041.JPG"
    # stored under a name the server made up
    assert "IMG_2041" not in attachment.file.name
    assert attachment.file.name.endswith(".jpg")


def test_a_png_loses_a_payload_appended_after_the_image(loan, officer):
    buffer = io.BytesIO()
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "SECRET-TEXT")
    Image.new("RGBA", (20, 20), (0, 90, 200, 128)).save(buffer, "PNG", pnginfo=text)
    payload = b"<?php system($_GET['c']); ?>"
    upload = SimpleUploadedFile("map.png", buffer.getvalue() + payload, content_type="image/png")
    attachment = visits.attachment_add(report=_report(loan), upload=upload, by=officer)
    data = _stored(attachment)
    assert payload not in data and b"SECRET-TEXT" not in data
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.mode, image.getpixel((3, 3))) == ("PNG", "RGBA", (0, 90, 200, 128))


def test_a_pdf_is_kept_as_it_is(loan, officer):
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
    upload = SimpleUploadedFile("contract.pdf", pdf, content_type="application/pdf")
    attachment = visits.attachment_add(report=_report(loan), upload=upload, by=officer)
    assert _stored(attachment) == pdf
    assert attachment.content_type == "application/pdf" and not attachment.is_image


@pytest.mark.parametrize(
    "name, content",
    [
        ("photo.jpg", b"just some text pretending to be a photo\n" * 20),
        ("photo.jpg", b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 20),
        ("page.html", b"<html><script>alert(1)</script></html>"),
    ],
    ids=["text named jpg", "jpeg header only", "html"],
)
def test_a_file_that_is_not_what_it_claims_is_refused(loan, officer, name, content):
    report = _report(loan)
    upload = SimpleUploadedFile(name, content, content_type="image/jpeg")
    with pytest.raises(ValidationError) as caught:
        visits.attachment_add(report=report, upload=upload, by=officer)
    assert "file" in _errors(caught)
    assert not report.attachments.exists()


def test_a_file_above_the_size_setting_is_refused(loan, officer):
    settings = BusinessSettings.current()
    settings.upload_max_megabytes = 1
    settings.save()
    report = _report(loan)
    big = b"%PDF-1.4\n" + b"0" * int(1.2 * 1024 * 1024)
    upload = SimpleUploadedFile("scan.pdf", big, content_type="application/pdf")
    with pytest.raises(ValidationError) as caught:
        visits.attachment_add(report=report, upload=upload, by=officer)
    assert "the limit is 1 MB" in _errors(caught)["file"][0]
    assert not report.attachments.exists()


# --- Default follow-up -------------------------------------------------------------------------


def test_a_default_follow_up_needs_the_reason_and_an_attempt(loan, officer):
    report = _report(loan, kind="default_follow_up")
    with pytest.raises(ValidationError) as caught:
        _submit(report)
    assert {"default_reason", "__all__"} <= set(_errors(caught))
    report.refresh_from_db()
    visits.contact_attempt_add(
        report=report,
        method="phone",
        attempted_on=_today(),
        outcome="Reached him; sales collapsed after the flood.",
        promise_on=_today() + timedelta(days=5),
        promise_amount=Decimal("3000"),
        by=officer,
    )
    submitted = _submit(
        report, _complete(report, default_reason="disaster", risk_judgement="Recoverable")
    )
    assert submitted.status == "submitted" and submitted.default_reason == "disaster"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"attempted_on": 1}, "attempted_on"),
        ({"promise_on": -1, "promise_amount": Decimal("100")}, "promise_on"),
        ({"promise_on": 3, "promise_amount": None}, "promise_on"),
        ({"promise_on": 3, "promise_amount": Decimal("0")}, "promise_amount"),
        ({"outcome": " "}, "outcome"),
    ],
    ids=["attempt in future", "promise before attempt", "half a promise", "nothing", "outcome"],
)
def test_a_contact_attempt_with_bad_input_is_refused(loan, officer, change, field):
    report = _report(loan, kind="default_follow_up")
    values = {"attempted_on": _today(), "outcome": "No answer", "method": "phone"}
    for key, value in change.items():
        values[key] = _today() + timedelta(days=value) if isinstance(value, int) else value
    values.setdefault("promise_on", None)
    values.setdefault("promise_amount", None)
    with pytest.raises(ValidationError) as caught:
        visits.contact_attempt_add(report=report, by=officer, **values)
    assert field in _errors(caught)
    assert not ContactAttempt.objects.exists()


# --- Collection plans: maker-checker and tracking ----------------------------------------------


def _steps(*days, amount=Decimal("5000")) -> list[dict]:
    return [
        {"action": f"Step {n}", "target_on": _today() + timedelta(days=d), "target_amount": amount}
        for n, d in enumerate(days, start=1)
    ]


def _plan(loan, by, *days) -> CollectionPlan:
    return visits.plan_propose(
        loan=loan,
        kind="collection",
        summary="Phone weekly, visit the shop, then the guarantor.",
        steps=_steps(*(days or (7, 14))),
        by=by,
    )


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"steps": []}, "steps"),
        ({"steps": [{"action": "Call", "target_on": None}]}, "steps"),
        ({"steps": _steps(-1)}, "steps"),
        ({"steps": _steps(3, amount=Decimal("-5"))}, "steps"),
        ({"summary": ""}, "summary"),
        ({"kind": "amnesty"}, "kind"),
    ],
    ids=["no steps", "no date", "past", "amount", "summary", "kind"],
)
def test_a_plan_with_bad_input_is_refused(loan, officer, kwargs, field):
    values = {"kind": "forced_recovery", "summary": "Sue", "steps": _steps(5)} | kwargs
    with pytest.raises(ValidationError) as caught:
        visits.plan_propose(loan=loan, by=officer, **values)
    assert field in _errors(caught)
    assert not CollectionPlan.objects.exists()


def test_a_plan_is_proposed_for_the_officers_own_active_loans_only(
    loan, other_loan, officer, other_officer
):
    plan = _plan(loan, officer, 3, 10)
    assert plan.status == "pending"
    assert list(plan.steps.values_list("seq", "action")) == [(1, "Step 1"), (2, "Step 2")]
    with pytest.raises(PermissionDenied):
        _plan(other_loan, officer)
    # a report of another loan cannot be attached to the plan
    with pytest.raises(ValidationError):
        visits.plan_propose(
            loan=loan,
            kind="collection",
            summary="x",
            steps=_steps(3),
            by=officer,
            report=_report(other_loan),
        )
    loan_services.loan_write_off(loan=loan, on=_today(), reason="Gone")
    with pytest.raises(ValidationError):
        _plan(loan, officer)


def test_a_supervisor_who_did_not_write_the_plan_decides_it(loan, officer, supervisor, make_user):
    plan = _plan(loan, officer)
    with pytest.raises(PermissionDenied):
        visits.plan_decide(plan=plan, approve=True, comment="", by=officer)
    with pytest.raises(ValidationError) as caught:
        visits.plan_decide(plan=plan, approve=False, comment="", by=supervisor)
    assert "comment" in _errors(caught)
    decided = visits.plan_decide(plan=plan, approve=True, comment="Go ahead", by=supervisor)
    assert (decided.status, decided.decided_by, decided.decision_comment) == (
        "approved",
        supervisor,
        "Go ahead",
    )
    assert Notification.objects.filter(recipient=officer, kind="plan_approved").exists()
    with pytest.raises(ValidationError):
        visits.plan_decide(plan=plan, approve=False, comment="Too late", by=supervisor)
    # an officer who is also a supervisor does not approve their own plan
    both = make_user("officer-supervisor", Role.LOAN_OFFICER, Role.SUPERVISOR)
    own_loan = book_loan(borrower=make_person(), officer=both, product=loan.product)
    own_plan = _plan(own_loan, both)
    with pytest.raises(ValidationError):
        visits.plan_decide(plan=own_plan, approve=True, comment="", by=both)
    # and the database holds the rule too
    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionPlan.objects.filter(pk=own_plan.pk).update(decided_by=both, status="approved")


def test_a_rejected_plan_is_not_carried_out(loan, officer, supervisor):
    plan = _plan(loan, officer)
    visits.plan_decide(plan=plan, approve=False, comment="Forced recovery instead", by=supervisor)
    assert Notification.objects.filter(recipient=officer, kind="plan_rejected").exists()
    with pytest.raises(ValidationError):
        visits.plan_step_done(step=plan.steps.first(), done_on=_today(), note="", by=officer)


def test_an_approved_plan_is_tracked_step_by_step_until_completed(loan, officer, supervisor):
    plan = _plan(loan, officer)
    first, second = plan.steps.all()
    with pytest.raises(ValidationError):  # not approved yet
        visits.plan_step_done(step=first, done_on=_today(), note="", by=officer)
    visits.plan_decide(plan=plan, approve=True, comment="", by=supervisor)
    with pytest.raises(ValidationError):
        visits.plan_step_done(step=first, done_on=_today() + timedelta(days=1), note="", by=officer)
    with pytest.raises(PermissionDenied):
        visits.plan_step_done(step=first, done_on=_today(), note="", by=supervisor)
    visits.plan_step_done(step=first, done_on=_today(), note="Paid 5000", by=officer)
    with pytest.raises(ValidationError):
        visits.plan_step_done(step=first, done_on=_today(), note="again", by=officer)
    plan.refresh_from_db()
    assert plan.status == "approved"
    visits.plan_step_done(step=second, done_on=_today(), note="", by=officer)
    plan.refresh_from_db()
    assert plan.status == "completed"
    assert list(plan.steps.values_list("status", flat=True)) == ["done", "done"]


# --- Early warnings ----------------------------------------------------------------------------


def _promise(loan, officer, *, days=3, amount=Decimal("1000")) -> ContactAttempt:
    report = _report(loan, kind="default_follow_up")
    return visits.contact_attempt_add(
        report=report,
        method="meeting",
        attempted_on=_today(),
        outcome="Promised to pay",
        promise_on=_today() + timedelta(days=days),
        promise_amount=amount,
        by=officer,
    )


def test_a_broken_promise_becomes_one_early_warning(loan, other_loan, officer, other_officer):
    broken = _promise(loan, officer)
    kept = _promise(other_loan, other_officer)
    pay(other_loan, Decimal("1000"), _today())
    as_of = _today() + timedelta(days=4)

    assert visits.detect_early_warnings(as_of=_today() + timedelta(days=3)) == 0  # not yet due
    assert visits.detect_early_warnings(as_of=as_of) == 1
    warning = EarlyWarning.objects.get()
    assert (warning.loan, warning.kind, warning.raised_on) == (loan, "broken_promise", as_of)
    broken.refresh_from_db()
    kept.refresh_from_db()
    assert (broken.promise_broken_on, kept.promise_broken_on) == (as_of, None)
    assert Notification.objects.filter(recipient=officer, kind="early_warning").count() == 1
    # idempotent: a second run finds nothing new
    assert visits.detect_early_warnings(as_of=as_of + timedelta(days=1)) == 0
    assert EarlyWarning.objects.count() == 1


def test_a_missed_step_of_an_approved_plan_becomes_an_early_warning(loan, officer, supervisor):
    approved = _plan(loan, officer, 2, 20)
    visits.plan_decide(plan=approved, approve=True, comment="", by=supervisor)
    pending = _plan(loan, officer, 2)  # nobody approved it: nothing to miss
    as_of = _today() + timedelta(days=3)

    assert visits.detect_early_warnings(as_of=as_of) == 1
    first, second = approved.steps.all()
    assert (first.status, second.status) == ("missed", "planned")
    assert pending.steps.get().status == "planned"
    warning = EarlyWarning.objects.get()
    assert (warning.kind, warning.source_key) == ("missed_step", f"step-{first.pk}")
    assert visits.detect_early_warnings(as_of=as_of) == 0
    # doing the missed step late resolves the warning
    visits.plan_step_done(step=first, done_on=_today(), note="Late but done", by=officer)
    warning.refresh_from_db()
    assert warning.resolved_on == _today()


# --- Closure evaluation and customer maintenance ---------------------------------------------

CLOSURE = {
    "customer": "Reliable once the shop recovered.",
    "loan_assessment": "Repaid in full, two months late at worst.",
    "originating_officer": "Thorough file.",
    "managing_officer": "Followed up promptly.",
    "lessons": "Flood insurance should be a condition.",
}


def test_a_closure_evaluation_is_written_once_for_a_closed_loan(
    loan, officer, other_officer, risk_manager
):
    with pytest.raises(ValidationError):
        visits.closure_evaluate(loan=loan, by=officer, **CLOSURE)
    loan_services.loan_write_off(loan=loan, on=_today(), reason="Uncollectable")
    with pytest.raises(PermissionDenied):
        visits.closure_evaluate(loan=loan, by=other_officer, **CLOSURE)
    with pytest.raises(ValidationError) as caught:
        visits.closure_evaluate(loan=loan, by=officer, **(CLOSURE | {"lessons": " "}))
    assert "lessons" in _errors(caught)
    evaluation = visits.closure_evaluate(loan=loan, by=officer, **CLOSURE)
    assert (evaluation.author, evaluation.lessons) == (officer, CLOSURE["lessons"])
    with pytest.raises(ValidationError):
        visits.closure_evaluate(loan=loan, by=risk_manager, **CLOSURE)
    assert ClosureEvaluation.objects.count() == 1


def test_the_maintenance_log_records_what_the_officer_did(loan, officer, other_officer):
    entry = borrower_services.maintenance_add(
        borrower=loan.borrower,
        happened_on=_today(),
        kind="product",
        notes=" Recommended the equipment loan. ",
        by=officer,
    )
    assert (entry.officer, entry.notes) == (officer, "Recommended the equipment loan.")
    for bad, field in [
        ({"happened_on": _today() + timedelta(days=1)}, "happened_on"),
        ({"kind": "gossip"}, "kind"),
        ({"notes": ""}, "notes"),
    ]:
        values = {"happened_on": _today(), "kind": "advice", "notes": "ok"} | bad
        with pytest.raises(ValidationError) as caught:
            borrower_services.maintenance_add(borrower=loan.borrower, by=officer, **values)
        assert field in _errors(caught)
    with pytest.raises(PermissionDenied):
        borrower_services.maintenance_add(
            borrower=loan.borrower,
            happened_on=_today(),
            kind="advice",
            notes="x",
            by=other_officer,
        )
    assert list(MaintenanceLog.objects.values_list("kind", flat=True)) == ["product"]
