"""Pages for field visits: the report, default follow-up, collection plans, the ledger."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from common.roles import is_supervisor, keeps_records, manages_risk, role_required
from common.services import add_service_errors
from loans.selectors import get_loan_for_user, loans_actionable_by, loans_visible_to
from postloan import inspection_ledger, visits
from postloan.inspection_selectors import inspections_visible_to
from postloan.models import (
    CollectionPlan,
    CollectionStep,
    InspectionKind,
    InspectionReport,
    ReportAttachment,
)
from postloan.visit_forms import (
    AddendumForm,
    AttachmentForm,
    ClosureForm,
    ContactAttemptForm,
    DecisionForm,
    PlanForm,
    ReportForm,
    StepDoneForm,
)

PAGE_SIZE = 50
# The attempt form shares the report's page and a field name ("method"): its own ids.
ATTEMPT_IDS = "attempt_%s"


def _report_for(user, pk: int, *, write: bool = False) -> InspectionReport:
    """The report if the user may see (or write) its loan; 404 otherwise."""
    loans = loans_actionable_by(user) if write else loans_visible_to(user)
    report = (
        InspectionReport.objects.select_related("loan", "loan__borrower", "inspection", "author")
        .filter(pk=pk)
        .filter(loan__in=loans)
        .first()
    )
    if report is None:
        raise Http404
    return report


@role_required(keeps_records)
@require_POST
def report_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Start (or resume) the report of an inspection on the agenda."""
    inspection = inspections_visible_to(request.user).filter(pk=pk).select_related("loan").first()
    if inspection is None:
        raise Http404
    try:
        report = visits.report_start(inspection=inspection, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("postloan:agenda")
    return redirect("postloan:report_edit", pk=report.pk)


@role_required(keeps_records)
@require_POST
def visit_ad_hoc(request: HttpRequest, pk: int) -> HttpResponse:
    loan = get_loan_for_user(request.user, pk, act=True)
    try:
        report = visits.report_start_ad_hoc(loan=loan, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(loan)
    return redirect("postloan:report_edit", pk=report.pk)


def _report_form(request, report, data=None):
    loan = report.loan
    return ReportForm(
        data,
        initial=ReportForm.initial_for(report),
        report=report,
        items=list(report.answers.values_list("item", flat=True)),
        collateral=list(loan.collateral.filter(status="held")),
        guarantors=[
            g.guarantor for g in loan.guarantees.filter(status="active").select_related("guarantor")
        ],
    )


@require_http_methods(["GET", "POST"])
def report_edit(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report_for(request.user, pk, write=True)
    if report.is_final:
        if request.method == "POST":
            # A second tab (or a colleague) submitted it first: say so, not just redirect.
            messages.error(
                request,
                _(
                    "This report was submitted (perhaps from another tab) and is final; add an "
                    "addendum to correct it."
                ),
            )
        return redirect("postloan:report_detail", pk=report.pk)
    form = _report_form(request, report, request.POST or None)
    if request.method == "POST" and form.is_valid():
        submitting = request.POST.get("action") == "submit"
        saved = None
        try:
            # First the draft, in its own transaction: a submission refused below keeps it.
            saved = visits.report_save_draft(
                report=report,
                version=form.cleaned_data["version"],
                data=form.to_input(),
                by=request.user,
            )
            if submitting:
                saved = visits.report_submit(report=saved, version=saved.version, by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
            if saved is not None:
                # The draft half went through: the next try builds on that version. After
                # a conflict the version stays as it was, so that another click cannot
                # overwrite the other tab's work unseen.
                form.data = form.data.copy()
                form.data["version"] = saved.version
            messages.error(
                request,
                _("The report was not submitted; your draft is saved. See the fields marked.")
                if saved is not None
                else _("Not saved: see the fields marked."),
            )
        else:
            if submitting:
                messages.success(request, _("Report submitted; the inspection is done."))
                return redirect("postloan:report_detail", pk=saved.pk)
            messages.success(request, _("Draft saved."))
            return redirect("postloan:report_edit", pk=saved.pk)
    return render(request, "postloan/report_form.html", _report_context(request, report, form))


def _report_context(request, report, form) -> dict:
    return {
        "report": report,
        "loan": report.loan,
        "form": form,
        "attachment_form": AttachmentForm(),
        "attempt_form": ContactAttemptForm(auto_id=ATTEMPT_IDS),
        "attachments": list(report.attachments.all()),
        "attempts": list(report.contact_attempts.all()),
        "today": timezone.localdate(),
    }


def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report_for(request.user, pk)
    if not report.is_final and loans_actionable_by(request.user).filter(pk=report.loan_id).exists():
        return redirect("postloan:report_edit", pk=report.pk)
    return render(
        request,
        "postloan/report_detail.html",
        {
            "report": report,
            "loan": report.loan,
            "answers": list(report.answers.all()),
            "collateral_checks": list(report.collateral_checks.select_related("collateral")),
            "guarantor_checks": list(report.guarantor_checks.select_related("guarantor")),
            "factors": list(report.factors.all()),
            "attachments": list(report.attachments.all()),
            "attempts": list(report.contact_attempts.all()),
            "addenda": list(report.addenda.select_related("author")),
            "plans": list(report.plans.all()),
            "addendum_form": AddendumForm(),
            "can_amend": (
                can_amend := report.is_final
                and loans_actionable_by(request.user).filter(pk=report.loan_id).exists()
            ),
            "can_propose_plan": can_amend
            and report.loan.is_active
            and report.inspection.kind == InspectionKind.DEFAULT_FOLLOW_UP
            and keeps_records(request.user),
            "printing": request.GET.get("print") == "1",
        },
    )


@require_POST
def attachment_upload(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report_for(request.user, pk, write=True)
    form = AttachmentForm(request.POST, request.FILES)
    results = []  # (ok, message)
    if form.is_valid():
        try:
            visits.attachment_add(report=report, upload=form.cleaned_data["file"], by=request.user)
        except ValidationError as error:
            results += [(False, message) for message in error.messages]
        else:
            results.append((True, _("Attached.")))
    else:
        results += [(False, message) for errors in form.errors.values() for message in errors]
    if request.htmx:
        # Only the attachments card is replaced, so the unsaved report above is kept.
        return render(
            request,
            "postloan/partials/attachments.html",
            {
                "report": report,
                "attachments": list(report.attachments.all()),
                "upload_messages": [{"ok": ok, "text": text} for ok, text in results],
            },
        )
    for ok, text in results:
        (messages.success if ok else messages.error)(request, text)
    return redirect("postloan:report_edit", pk=report.pk)


def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    attachment = get_object_or_404(ReportAttachment.objects.select_related("report"), pk=pk)
    # The same check as the report's own page: may this user see the loan?
    _report_for(request.user, attachment.report_id)
    response = FileResponse(
        attachment.file.open("rb"),
        content_type=attachment.content_type,
        as_attachment=not attachment.is_image,
        filename=attachment.original_name,
    )
    response["Cache-Control"] = "private, max-age=0"
    return response


@require_POST
def attempt_add(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report_for(request.user, pk, write=True)
    form = ContactAttemptForm(request.POST, auto_id=ATTEMPT_IDS)
    if form.is_valid():
        try:
            visits.contact_attempt_add(report=report, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Attempt logged."))
            return redirect("postloan:report_edit", pk=report.pk)
    context = _report_context(request, report, _report_form(request, report))
    context["attempt_form"] = form
    return render(request, "postloan/report_form.html", context, status=400)


@require_POST
def addendum_add(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report_for(request.user, pk, write=True)
    form = AddendumForm(request.POST)
    if form.is_valid():
        try:
            visits.report_add_addendum(
                report=report, text=form.cleaned_data["text"], by=request.user
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Addendum added."))
    return redirect("postloan:report_detail", pk=report.pk)


# --- Collection plans ---------------------------------------------------------------------------


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
def plan_create(request: HttpRequest, pk: int) -> HttpResponse:
    loan = get_loan_for_user(request.user, pk, act=True)
    report = None
    if request.GET.get("report", "").isdigit():
        report = _report_for(request.user, int(request.GET["report"]), write=True)
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            plan = visits.plan_propose(
                loan=loan,
                kind=form.cleaned_data["kind"],
                summary=form.cleaned_data["summary"],
                steps=form.steps(),
                by=request.user,
                report=report,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Plan sent to a supervisor for approval."))
            return redirect("postloan:plan_detail", pk=plan.pk)
    return render(request, "postloan/plan_form.html", {"form": form, "loan": loan})


def _plan_for(user, pk: int) -> CollectionPlan:
    plan = (
        CollectionPlan.objects.select_related("loan", "loan__borrower", "author", "decided_by")
        .filter(pk=pk, loan__in=loans_visible_to(user))
        .first()
    )
    if plan is None:
        raise Http404
    return plan


def plan_list(request: HttpRequest) -> HttpResponse:
    plans = (
        CollectionPlan.objects.filter(loan__in=loans_visible_to(request.user))
        .select_related("loan", "loan__borrower", "author")
        .order_by("status", "created_at")
    )
    if request.GET.get("status"):
        plans = plans.filter(status=request.GET["status"])
    page = Paginator(plans, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "postloan/plan_list.html",
        {
            "page": page,
            "status": request.GET.get("status", ""),
            "statuses": CollectionPlan.Status.choices,
        },
    )


def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    plan = _plan_for(request.user, pk)
    return render(
        request,
        "postloan/plan_detail.html",
        {
            "plan": plan,
            "steps": list(plan.steps.all()),
            "decision_form": DecisionForm(),
            "step_form": StepDoneForm(),
            "can_decide": is_supervisor(request.user)
            and plan.author_id != request.user.pk
            and plan.status == CollectionPlan.Status.PENDING,
            "can_track": plan.status == CollectionPlan.Status.APPROVED
            and loans_actionable_by(request.user).filter(pk=plan.loan_id).exists(),
            "today": timezone.localdate(),
        },
    )


@role_required(is_supervisor)
@require_POST
def plan_decide(request: HttpRequest, pk: int) -> HttpResponse:
    plan = _plan_for(request.user, pk)
    form = DecisionForm(request.POST)
    form.is_valid()
    approve = request.POST.get("decision") == "approve"
    try:
        visits.plan_decide(
            plan=plan,
            approve=approve,
            comment=form.cleaned_data.get("comment", ""),
            by=request.user,
        )
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Plan approved.") if approve else _("Plan rejected."))
    return redirect("postloan:plan_detail", pk=plan.pk)


@require_POST
def step_done(request: HttpRequest, pk: int) -> HttpResponse:
    step = get_object_or_404(CollectionStep.objects.select_related("plan"), pk=pk)
    plan = _plan_for(request.user, step.plan_id)
    form = StepDoneForm(request.POST)
    if form.is_valid():
        try:
            visits.plan_step_done(step=step, by=request.user, **form.cleaned_data)
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        else:
            messages.success(request, _("Step done."))
    return redirect("postloan:plan_detail", pk=plan.pk)


# --- The ledger and the closure evaluation -------------------------------------------------------


def ledger(request: HttpRequest) -> HttpResponse:
    form = inspection_ledger.LedgerFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    rows = inspection_ledger.ledger(request.user, filters=filters)
    export = request.GET.get("export")
    if export in ("csv", "xlsx"):
        stamp = timezone.localdate().isoformat()
        if export == "csv":
            content, mime = inspection_ledger.export_csv(rows), "text/csv; charset=utf-8"
        else:
            content = inspection_ledger.export_xlsx(rows)
            mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        response = HttpResponse(content, content_type=mime)
        response["Content-Disposition"] = f'attachment; filename="ledger-{stamp}.{export}"'
        return response
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "postloan/ledger.html",
        {
            "form": form,
            "page": page,
            "today": timezone.localdate(),
            "query": request.GET.urlencode(),
        },
    )


@require_http_methods(["GET", "POST"])
def closure_create(request: HttpRequest, pk: int) -> HttpResponse:
    loan = get_loan_for_user(request.user, pk)
    if not (manages_risk(request.user) or loan.managing_officer_id == request.user.pk):
        raise PermissionDenied
    form = ClosureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            visits.closure_evaluate(loan=loan, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Closure evaluation saved."))
            return redirect(loan)
    return render(
        request,
        "common/form_page.html",
        {
            "form": form,
            "title": _("Closure evaluation of %(ref)s") % {"ref": loan.reference},
            "intro": _(
                "The customer, the loan, the originating and managing officers, and the "
                "lessons learned (Sec. 7)."
            ),
            "back_url": loan.get_absolute_url(),
            "back_label": loan.reference,
        },
    )
