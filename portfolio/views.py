"""Portfolio import in the browser (admins and risk managers), and the per-loan export.

Upload (with the cut-over date, default today) → the files are kept under
MEDIA_ROOT/imports/<random token> (the token and the date in the session) → preview: a dry
run as of that date showing what would be created or updated and every error → "Confirm
import" runs the real import from the kept files, as of the same date, and shows the result.
"""

from __future__ import annotations

import tempfile
from datetime import date

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from common.roles import manages_risk, role_required
from loans.selectors import loans_visible_to
from portfolio import uploads
from portfolio.exporting import (
    PER_LOAN_HEADER,
    csv_chunks,
    per_loan_rows,
    write_xlsx,
)
from portfolio.forms import ImportUploadForm
from portfolio.import_template import template_sheets
from portfolio.importing import TABLE_ORDER, TABLES, import_portfolio
from portfolio.nightly import mark_stalled
from postloan.risk.selectors import runs_pages

PREVIEW_ERRORS = 1000


@role_required(manages_risk)
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        uploads.keep(request, form.cleaned_data["files"], as_of=form.cleaned_data["as_of"])
        return redirect("portfolio:import_preview")
    return render(
        request,
        "loans/import_upload.html",
        {"form": form, "tables": [TABLES[name] for name in TABLE_ORDER]},
    )


@role_required(manages_risk)
@require_http_methods(["GET", "POST"])
def import_preview(request: HttpRequest) -> HttpResponse:
    stored = uploads.stored(request)
    if stored is None:
        messages.info(request, _("Upload the files to import first."))
        return redirect("portfolio:import")
    path, label = stored
    if request.method == "POST" and request.POST.get("action") == "discard":
        uploads.discard(request)
        messages.info(request, _("The uploaded files were discarded."))
        return redirect("portfolio:import")
    confirm = request.method == "POST" and request.POST.get("action") == "confirm"
    result = import_portfolio(
        path, dry_run=not confirm, label=label or None, as_of=uploads.as_of(request)
    )
    done = confirm and result.ok
    if done:
        uploads.discard(request)
    return render(
        request,
        "loans/import_preview.html",
        {
            "result": result,
            "done": done,
            "errors": result.errors[:PREVIEW_ERRORS],
            "more_errors": max(result.error_count - PREVIEW_ERRORS, 0),
            "label": label or _("CSV files"),
        },
    )


@role_required(manages_risk)
@require_GET
def import_template(request: HttpRequest) -> HttpResponse:
    """A workbook with each table's columns and a small example book that imports as it is
    (portfolio.import_template)."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
    write_xlsx(handle, template_sheets(timezone.localdate()), neutralise_text=False)
    handle.seek(0)
    return FileResponse(
        handle,
        as_attachment=True,
        filename="daihou-import-template.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@require_GET
def loan_export(request: HttpRequest) -> HttpResponse:
    """The per-loan export of the loans the user may see, as classified on a date.

    Read-only whatever the date: another date than the state's is computed for the
    user's loans in the export's transaction (portfolio.exporting), never classified and
    recorded, so a GET starts no book-wide work."""
    today = timezone.localdate()
    try:
        as_of = date.fromisoformat(request.GET.get("as_of") or today.isoformat())
    except ValueError:
        as_of = today
    as_of = min(as_of, today)
    visible = loans_visible_to(request.user)
    filename = f"portfolio-{as_of.isoformat()}"
    if request.GET.get("format") == "xlsx":
        handle = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
        rows = per_loan_rows(as_of=as_of, visible=visible)
        write_xlsx(handle, [("portfolio", PER_LOAN_HEADER, rows)])
        handle.seek(0)
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"{filename}.xlsx",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response = StreamingHttpResponse(
        csv_chunks(PER_LOAN_HEADER, per_loan_rows(as_of=as_of, visible=visible)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


@role_required(manages_risk)
def runs(request: HttpRequest) -> HttpResponse:
    """The nights' chains, step by step, and the classification runs (one page each)."""
    context = runs_pages(request.GET.get("page"))
    mark_stalled(context["nights"])
    return render(request, "postloan/runs.html", context)
