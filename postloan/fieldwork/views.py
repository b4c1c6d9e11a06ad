"""Pages for field visits: the report, default follow-up, collection plans, the ledger.
Each parses the request, calls one selector (postloan/fieldwork/selectors.py) or service
(services.py) and renders; the forms are in forms.py."""

from __future__ import annotations

import functools

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.decisions import decide_from_request
from common.forms import DecisionForm
from common.roles import is_supervisor, keeps_records, manages_risk, role_required
from common.services import ConcurrentEditError, add_service_errors
from common.submissions import submitted_once
from loans.selectors import get_loan_for_user
from postloan.fieldwork import offline, selectors, services, sync, uploads
from postloan.fieldwork.forms import (
    AddendumForm,
    AttachmentForm,
    ClosureForm,
    ContactAttemptForm,
    PlanForm,
    ReportForm,
    StepDoneForm,
)
from postloan.inspections import ledger as inspection_ledger
from postloan.inspections.forms import LedgerFilterForm
from postloan.models import CollectionPlan, InspectionKind
from postloan.risk.selectors import flags_for_loan

PAGE_SIZE = 50


@role_required(keeps_records)
@require_POST
def report_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Start (or resume) the report of an inspection on the agenda."""
    inspection = selectors.inspection_for(request.user, pk)
    try:
        report = services.report_start(inspection=inspection, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("postloan:agenda")
    return redirect("postloan:report_edit", pk=report.pk)


@role_required(keeps_records)
@require_POST
@submitted_once
def visit_ad_hoc(request: HttpRequest, pk: int) -> HttpResponse:
    loan = get_loan_for_user(request.user, pk, act=True)
    try:
        report = services.report_start_ad_hoc(loan=loan, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(loan)
    return redirect("postloan:report_edit", pk=report.pk)


def _report_form(report, data=None):
    initial = ReportForm.initial_for(report)
    return ReportForm(data, initial=initial, report=report, **selectors.report_form_choices(report))


@require_http_methods(["GET", "POST"])
@submitted_once
def report_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The report's page. Every button on it sends the whole form: logging an attempt or
    attaching a file (without JavaScript) saves the draft in the same transaction, and
    saving or submitting logs the attempt or attaches the file chosen but not yet sent —
    no button loses what was typed."""
    report = selectors.report_for(request.user, pk, write=True)
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
    data = request.POST if request.method == "POST" else None
    form = _report_form(report, data)
    attempt_form = ContactAttemptForm(data) if form.is_follow_up else None
    upload_problems: list[str] = []
    if request.method == "POST":
        done = _report_post(request, report, form, attempt_form, upload_problems)
        if done is not None:
            return done
    context = _report_context(request, report, form, attempt_form)
    context["upload_messages"] = [{"ok": False, "text": text} for text in upload_problems]
    return render(request, "postloan/report_form.html", context)


def _report_post(request, report, form, attempt_form, upload_problems) -> HttpResponse | None:
    """Save (and maybe submit) the report with what the other buttons add; None to show the
    form again, everything as typed, with what was wrong."""
    action, upload, with_attempt, valid = _posted(request, form, attempt_form)
    if action == "attach" and upload is None:
        upload_problems.append(_("Choose a photo or document to attach."))
        valid = False
    if not valid:
        if upload is not None:
            upload_problems.append(_("The file was not attached: choose it again."))
        return None
    saved = None
    try:
        # First the draft, with the attempt and the file: a submission refused below keeps it.
        saved = _save_draft(request, report, form, attempt_form if with_attempt else None, upload)
        if action == "submit":
            saved = services.report_submit(report=saved, version=saved.version, by=request.user)
    except ValidationError as error:
        _show_report_errors(form, attempt_form, upload_problems, error)
        if saved is not None:
            # The draft half went through: the next try builds on that version. After
            # a conflict the version stays as it was, so that another click cannot
            # overwrite the other tab's work unseen.
            form.data = form.data.copy()
            form.data["version"] = saved.version
        elif upload is not None:
            upload_problems.append(_("The file was not attached: choose it again."))
        messages.error(
            request,
            _("The report was not submitted; your draft is saved. See the fields marked.")
            if saved is not None
            else _("Not saved: see the fields marked."),
        )
        return None
    messages.success(request, _done_message(action, with_attempt, upload))
    if action == "submit":
        return redirect("postloan:report_detail", pk=saved.pk)
    return redirect("postloan:report_edit", pk=saved.pk)


def _posted(request, form, attempt_form) -> tuple[str, object, bool, bool]:
    """What a post of the report asks for — the button pressed, the file chosen, whether an
    attempt is logged with it — and whether what it carries is valid."""
    action = form.data.get("action", "save")
    upload = request.FILES.get("file")
    with_attempt = attempt_form is not None and (action == "attempt" or attempt_form.has_input())
    valid = form.is_valid()
    valid = (attempt_form.is_valid() if with_attempt else True) and valid
    return action, upload, with_attempt, valid


def _save_draft(request, report, form, attempt_form, upload):
    """The draft as the (valid) form holds it, with the attempt and the file if any."""
    return services.report_save_draft(
        report=report,
        version=form.cleaned_data["version"],
        data=form.to_input(),
        by=request.user,
        attempt=attempt_form.to_input() if attempt_form is not None else None,
        upload=upload,
    )


def _show_report_errors(form, attempt_form, upload_problems, error: ValidationError) -> None:
    """A service's errors where they belong: the attempt's on its fields, the file's in the
    attachments card, the rest on the report."""
    if not hasattr(error, "error_dict"):
        add_service_errors(form, error)
        return
    rest = {}
    prefix = f"{services.ATTEMPT_PREFIX}-"
    for name, errors in error.error_dict.items():
        if name.startswith(prefix) and attempt_form is not None:
            field = name.removeprefix(prefix)
            for item in errors:
                attempt_form.add_error(field if field in attempt_form.fields else None, item)
        elif name == "file":
            upload_problems.extend(message for item in errors for message in item.messages)
        else:
            rest[name] = errors
    if rest:
        add_service_errors(form, ValidationError(rest))


def _report_context(request, report, form, attempt_form=None) -> dict:
    return {
        "report": report,
        "loan": report.loan,
        "form": form,
        "attempt_form": attempt_form or ContactAttemptForm(),
        **selectors.report_files(report),
        # The loan's factors already open, listed in the report (the loan page's own read).
        "open_factors": list(flags_for_loan(report.loan)),
        "today": timezone.localdate(),
    }


def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = selectors.report_for(request.user, pk)
    if not report.is_final and selectors.may_act_on(request.user, report.loan_id):
        return redirect("postloan:report_edit", pk=report.pk)
    return render(request, "postloan/report_detail.html", _detail_context(request, report))


def _detail_context(request, report, addendum_form=None) -> dict:
    can_amend = report.is_final and selectors.may_act_on(request.user, report.loan_id)
    record = selectors.report_record(report)
    return {
        "report": report,
        "loan": report.loan,
        "checklist": services.checklist_rows(record.pop("answers")),
        **record,
        "addendum_form": addendum_form or AddendumForm(),
        "can_amend": can_amend,
        "can_propose_plan": can_amend
        and report.loan.is_active
        and report.inspection.kind == InspectionKind.DEFAULT_FOLLOW_UP
        and keeps_records(request.user),
        "printing": request.GET.get("print") == "1",
    }


@require_POST
@submitted_once(field="upload_key")
def attachment_upload(request: HttpRequest, pk: int) -> HttpResponse:
    report = selectors.report_for(request.user, pk, write=True)
    form = AttachmentForm(request.POST, request.FILES)
    results = []  # (ok, message)
    if form.is_valid():
        try:
            services.attachment_add(
                report=report, upload=form.cleaned_data["file"], by=request.user
            )
        except ValidationError as error:
            results += [(False, message) for message in error.messages]
        else:
            results.append((True, _("Attached.")))
    else:
        results += [(False, message) for errors in form.errors.values() for message in errors]
    if request.htmx:
        # Only the attachments card is replaced, so the unsaved report around it is kept.
        response = render(
            request,
            "postloan/partials/attachments.html",
            {
                "report": report,
                "attachments": selectors.report_files(report)["attachments"],
                "upload_messages": [{"ok": ok, "text": text} for ok, text in results],
            },
        )
        response.submission_done = any(ok for ok, _text in results)
        return response
    for ok, text in results:
        (messages.success if ok else messages.error)(request, text)
    return redirect("postloan:report_edit", pk=report.pk)


def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    # The same check as the report's own page: may this user see the loan?
    attachment = selectors.attachment_for(request.user, pk)
    # The type is read from the stored bytes, and the name given the type's extension, so a
    # row saved before names were corrected at upload ("evil.html" holding a PDF) is still
    # served as what it is (uploads.download_name).
    handle = attachment.file.open("rb")
    content_type, _extension = uploads.sniff(handle.read(16)) or uploads.UNKNOWN_TYPE
    handle.seek(0)
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=not content_type.startswith("image/"),
        filename=uploads.download_name(attachment.original_name, content_type),
    )
    response["Cache-Control"] = "private, max-age=0"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@submitted_once
def addendum_add(request: HttpRequest, pk: int) -> HttpResponse:
    report = selectors.report_for(request.user, pk, write=True)
    form = AddendumForm(request.POST)
    if form.is_valid():
        try:
            services.report_add_addendum(
                report=report, text=form.cleaned_data["text"], by=request.user
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Addendum added."))
            return redirect("postloan:report_detail", pk=report.pk)
    # The report again, with the addendum as typed and what is wrong with it.
    return render(
        request, "postloan/report_detail.html", _detail_context(request, report, form), status=400
    )


# --- Collection plans ---------------------------------------------------------------------------


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def plan_create(request: HttpRequest, pk: int) -> HttpResponse:
    loan = get_loan_for_user(request.user, pk, act=True)
    report = None
    if request.GET.get("report", "").isdigit():
        report = selectors.report_for(request.user, int(request.GET["report"]), write=True)
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            plan = services.plan_propose(
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


def plan_list(request: HttpRequest) -> HttpResponse:
    plans = selectors.plans_visible_to(request.user, status=request.GET.get("status", ""))
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
    plan = selectors.plan_for(request.user, pk, with_steps=True)
    return render(
        request,
        "postloan/plan_detail.html",
        {
            "plan": plan,
            "steps": plan.steps.all(),
            "decision_form": DecisionForm(),
            "step_form": StepDoneForm(),
            "can_decide": is_supervisor(request.user)
            and plan.author_id != request.user.pk
            and plan.status == CollectionPlan.Status.PENDING,
            "can_track": plan.status == CollectionPlan.Status.APPROVED
            and selectors.may_act_on(request.user, plan.loan_id),
            "today": timezone.localdate(),
        },
    )


@role_required(is_supervisor)
@require_POST
@submitted_once
def plan_decide(request: HttpRequest, pk: int) -> HttpResponse:
    plan = selectors.plan_for(request.user, pk)
    decide_from_request(
        request,
        functools.partial(services.plan_decide, plan=plan),
        approved=_("Plan approved."),
        rejected=_("Plan rejected."),
    )
    return redirect("postloan:plan_detail", pk=plan.pk)


@require_POST
@submitted_once
def step_done(request: HttpRequest, pk: int) -> HttpResponse:
    step, plan = selectors.step_for(request.user, pk)
    form = StepDoneForm(request.POST)
    if form.is_valid():
        try:
            services.plan_step_done(step=step, by=request.user, **form.cleaned_data)
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        else:
            messages.success(request, _("Step done."))
    return redirect("postloan:plan_detail", pk=plan.pk)


# --- The ledger and the closure evaluation -------------------------------------------------------


def ledger(request: HttpRequest) -> HttpResponse:
    form = LedgerFilterForm(request.GET or None)
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
@submitted_once
def closure_create(request: HttpRequest, pk: int) -> HttpResponse:
    loan = get_loan_for_user(request.user, pk)
    if not (manages_risk(request.user) or loan.managing_officer_id == request.user.pk):
        raise PermissionDenied
    form = ClosureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.closure_evaluate(loan=loan, by=request.user, **form.cleaned_data)
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


# --- The field app (offline on the phone; postloan/fieldwork/offline.py and sync.py) ------------


@role_required(keeps_records)
@require_GET
@never_cache
def field_day(request: HttpRequest) -> JsonResponse:
    """What the phone keeps of the officer's day, and a fresh CSRF token for what it sends
    (a page kept for days may carry a token from before the last login)."""
    day = offline.day_to_take_along(request.user)
    return JsonResponse({**day, "csrf": get_token(request)})


@role_required(keeps_records)
@require_GET
def field_card(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "postloan/field_card.html", offline.loan_card(request.user, pk))


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
def field_report(request: HttpRequest, pk: int) -> HttpResponse:
    """An inspection's report, whether or not it was started: the page the phone keeps for
    each inspection of the day. GET shows the draft, or a blank form without starting one
    (opening a page changes nothing). A post starts the report if need be and saves it as
    the report page does; sent by the field app (with its item id) it is received once and
    answered in JSON."""
    client_id = sync.client_id_of(request) if request.method == "POST" else None
    try:
        inspection = selectors.inspection_for(request.user, pk)
        if not selectors.may_act_on(request.user, inspection.loan_id):
            raise Http404  # as the report page: a loan the officer may see but not write on
    except Http404:
        if client_id is None:
            raise
        # From the phone's queue: say why, in words the outbox can show.
        return JsonResponse(_refusal([_NOT_YOURS], conflict=True), status=409)
    if client_id is not None:
        return _field_report_received(request, inspection, client_id)
    existing = selectors.report_of(inspection)
    if existing is not None and existing.is_final:
        return redirect("postloan:report_detail", pk=existing.pk)
    if request.method == "POST":
        report = _started(request, inspection)
        if report is None:
            return redirect("postloan:agenda")
        request.POST = _with_version(request.POST, report, overwrite=False)
        return report_edit(request, report.pk)
    report = existing or selectors.unstarted_report(inspection, by=request.user)
    if report.pk:
        initial = ReportForm.initial_for(report)
    else:  # nothing saved yet: the visit is now, unless the officer says otherwise
        initial = {
            "version": 0,
            "visited_at": timezone.localtime().replace(second=0, microsecond=0),
        }
    form = ReportForm(None, initial=initial, report=report, **selectors.report_form_choices(report))
    attempt_form = ContactAttemptForm() if form.is_follow_up else None
    context = _report_context(request, report, form, attempt_form)
    context["field_inspection"] = inspection
    return render(request, "postloan/report_form.html", context)


_NOT_YOURS = gettext_lazy(
    "This inspection is no longer yours to report: it was reassigned or cancelled meanwhile. "
    "Copy what you wrote into an ad-hoc visit, or ask your supervisor."
)


def _started(request, inspection):
    try:
        return services.report_start(inspection=inspection, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return None


def _with_version(data, report, *, overwrite: bool):
    """The version a post from a kept page edits. A blank form (version 0) edits a report
    only started, never saved (version 1): the phone's is then the first content. After a
    save elsewhere, the posted version stays and the save is refused as a concurrent edit,
    unless the officer chose to send theirs anyway (`overwrite`)."""
    data = data.copy()
    posted = data.get("version") or "0"
    if overwrite or (posted == "0" and report.version == 1):
        data["version"] = str(report.version)
    return data


def _field_report_received(request, inspection, client_id) -> JsonResponse:
    overwrite = request.headers.get("X-Daihou-Overwrite") == "1"

    def work() -> tuple[bool, dict]:
        try:
            report = services.report_start(inspection=inspection, by=request.user)
        except ValidationError as error:
            return False, _refusal(error.messages, conflict=True)
        if report.is_final:
            return False, _refusal(
                [_("This report was already submitted (perhaps from another device).")],
                conflict=True,
                url=reverse("postloan:report_detail", args=[report.pk]),
            )
        data = _with_version(request.POST, report, overwrite=overwrite)
        return _field_save(request, report, data)

    try:
        accepted, answer = sync.receive_once(
            client_id=client_id, user=request.user, path=request.path, work=work
        )
    except PermissionDenied:
        accepted, answer = False, _refusal([_NOT_YOURS], conflict=True)
    return JsonResponse(answer, status=200 if accepted else 409)


def _field_save(request, report, data) -> tuple[bool, dict]:
    """Save (and maybe submit) a report as the phone sent it: the same form, the same
    services and the same checks as the report page; all of it or nothing."""
    form = _report_form(report, data)
    attempt_form = ContactAttemptForm(data) if form.is_follow_up else None
    action, upload, with_attempt, valid = _posted(request, form, attempt_form)
    if not valid:
        errors = _form_messages(form) + (_form_messages(attempt_form) if with_attempt else [])
        return False, _refusal(errors)
    try:
        saved = _save_draft(request, report, form, attempt_form if with_attempt else None, upload)
        if action == "submit":
            saved = services.report_submit(report=saved, version=saved.version, by=request.user)
    except ConcurrentEditError:
        refusal = _refusal(
            [_("This report was saved on another device after you took it along.")],
            conflict=True,
        )
        return False, {**refusal, "overwritable": True}  # "Send anyway" may replace it
    except ValidationError as error:
        return False, _refusal(_service_messages(form, attempt_form, error))
    # No flash message: the phone says what happened, and an item sent in the background
    # would leave its message on whatever page the officer opens next.
    return True, {
        "ok": True,
        "report": saved.pk,
        "version": saved.version,
        "submitted": saved.is_final,
        "url": reverse(
            "postloan:report_detail" if saved.is_final else "postloan:report_edit",
            args=[saved.pk],
        ),
        "saved_at": timezone.localtime(saved.updated_at).strftime("%H:%M"),
    }


def _done_message(action: str, with_attempt: bool, upload) -> str:
    if action == "submit":
        return _("Report submitted; the inspection is done.")
    done = [_("Draft saved.")]
    if with_attempt:
        done.append(_("Attempt logged."))
    if upload is not None:
        done.append(_("Attached."))
    return " ".join(done)


def _form_messages(form, errors=None) -> list[str]:
    """Errors in words the outbox can show without the form beside it: each with its
    field's label (a checklist item with its number), each said once."""
    messages_ = []
    for name, field_errors in (form.errors if errors is None else errors).items():
        field = form.fields.get(name)
        label = str(field.label) if field is not None and field.label else ""
        if label and name.startswith("item_"):
            label = f"{name.removeprefix('item_')}. {label}"
        messages_.extend(f"{label}: {error}" if label else str(error) for error in field_errors)
    return list(dict.fromkeys(messages_))


def _service_messages(form, attempt_form, error: ValidationError) -> list[str]:
    """A service's refusal, labelled as the form's own errors are (the attempt's fields
    carry the attempt's prefix)."""
    if not hasattr(error, "error_dict"):
        return error.messages
    prefix = f"{services.ATTEMPT_PREFIX}-"
    mine, attempt = {}, {}
    for name, items in error.error_dict.items():
        said = [message for item in items for message in item.messages]
        if name.startswith(prefix) and attempt_form is not None:
            attempt[name.removeprefix(prefix)] = said
        else:
            mine[name] = said
    labelled = _form_messages(form, mine)
    if attempt:
        labelled += _form_messages(attempt_form, attempt)
    return labelled


def _refusal(reasons, *, conflict: bool = False, url: str = "") -> dict:
    return {"ok": False, "conflict": conflict, "reasons": [str(r) for r in reasons], "url": url}
