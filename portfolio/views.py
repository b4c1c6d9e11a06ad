"""Portfolio import in the browser (admins and risk managers), and the per-loan export.

Upload (with the cut-over date, default today) → the files are kept under
MEDIA_ROOT/imports/<random token> (the token and the date in the session) → preview: a dry
run as of that date showing what would be created or updated and every error → "Confirm
import" runs the real import from the kept files, as of the same date, and shows the result.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from common.roles import manages_risk, role_required
from loans.selectors import loans_visible_to
from portfolio.exporting import (
    PER_LOAN_HEADER,
    csv_chunks,
    per_loan_rows,
    write_xlsx,
)
from portfolio.import_template import template_sheets
from portfolio.importing import TABLE_ORDER, TABLES, cut_over_problem, import_portfolio

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
SESSION_KEY = "portfolio_import"
PREVIEW_ERRORS = 1000
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_CSV_NAME = re.compile(r"[a-z_]+\.csv")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class ImportUploadForm(forms.Form):
    files = MultipleFileField(
        label=gettext_lazy("Files"),
        help_text=gettext_lazy(
            "Several CSV files named after their tables (loans.csv, repayments.csv …), or one "
            "XLSX workbook with one sheet per table. At most 50 MB in all."
        ),
        widget=MultipleFileInput(attrs={"accept": ".csv,.xlsx", "multiple": True}),
    )
    as_of = forms.DateField(
        label=gettext_lazy("Cut-over date"),
        required=False,
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=gettext_lazy(
            "The files are the book as it stood at the end of this day: no date in them may be "
            "later, and the import classifies the loans and plans their inspections as of it. "
            "Empty: today."
        ),
    )

    def clean_as_of(self):
        as_of = self.cleaned_data["as_of"] or timezone.localdate()
        problem = cut_over_problem(as_of)
        if problem:
            raise forms.ValidationError(problem)
        return as_of

    def clean_files(self):
        files = self.cleaned_data["files"]
        if not files:
            raise forms.ValidationError(_("Choose the files to import."))
        if sum(f.size for f in files) > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The files are larger than 50 MB in all."))
        names = [Path(f.name).name.lower() for f in files]
        workbooks = [n for n in names if n.endswith(".xlsx")]
        if workbooks and len(files) > 1:
            raise forms.ValidationError(_("Upload one workbook alone, or CSV files only."))
        if not workbooks:
            wrong = [n for n in names if not _CSV_NAME.fullmatch(n)]
            if wrong:
                raise forms.ValidationError(
                    _("Name each CSV file after its table (%(tables)s); not: %(names)s.")
                    % {"tables": ", ".join(TABLE_ORDER), "names": ", ".join(wrong)}
                )
            if len(set(names)) != len(names):
                raise forms.ValidationError(_("A table was chosen twice."))
        return files


def _imports_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def _stored(request: HttpRequest) -> tuple[Path, str] | None:
    """The kept upload of this session: (path to import, label), or None."""
    saved = request.session.get(SESSION_KEY) or {}
    token = saved.get("token", "")
    if not _TOKEN.fullmatch(token):
        return None
    folder = _imports_root() / token
    if not folder.is_dir():
        return None
    workbook = saved.get("workbook")
    if workbook:
        return folder / "upload.xlsx", workbook
    return folder, ""


def _forget_abandoned(older_than: timedelta = timedelta(days=1)) -> None:
    """Uploads nobody confirmed nor discarded: not kept beyond a day."""
    root = _imports_root()
    if not root.is_dir():
        return
    cutoff = time.time() - older_than.total_seconds()
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def _discard(request: HttpRequest) -> None:
    stored = _stored(request)
    if stored is not None:
        folder = stored[0] if stored[0].is_dir() else stored[0].parent
        shutil.rmtree(folder, ignore_errors=True)
    request.session.pop(SESSION_KEY, None)


@role_required(manages_risk)
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        _discard(request)
        _forget_abandoned()
        token = secrets.token_urlsafe(24)
        folder = _imports_root() / token
        folder.mkdir(parents=True)
        files = form.cleaned_data["files"]
        workbook = ""
        for upload in files:
            name = Path(upload.name).name.lower()
            if name.endswith(".xlsx"):
                workbook, name = Path(upload.name).name, "upload.xlsx"
            with open(folder / name, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
        request.session[SESSION_KEY] = {
            "token": token,
            "workbook": workbook,
            "as_of": form.cleaned_data["as_of"].isoformat(),
        }
        return redirect("portfolio:import_preview")
    return render(
        request,
        "loans/import_upload.html",
        {"form": form, "tables": [TABLES[name] for name in TABLE_ORDER]},
    )


@role_required(manages_risk)
@require_http_methods(["GET", "POST"])
def import_preview(request: HttpRequest) -> HttpResponse:
    stored = _stored(request)
    if stored is None:
        messages.info(request, _("Upload the files to import first."))
        return redirect("portfolio:import")
    path, label = stored
    if request.method == "POST" and request.POST.get("action") == "discard":
        _discard(request)
        messages.info(request, _("The uploaded files were discarded."))
        return redirect("portfolio:import")
    confirm = request.method == "POST" and request.POST.get("action") == "confirm"
    result = import_portfolio(path, dry_run=not confirm, label=label or None, as_of=_as_of(request))
    done = confirm and result.ok
    if done:
        _discard(request)
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


def _as_of(request: HttpRequest) -> date:
    """The cut-over date chosen with the kept upload (today for an upload kept before the
    date was asked)."""
    saved = request.session.get(SESSION_KEY) or {}
    try:
        return date.fromisoformat(saved.get("as_of") or "")
    except ValueError:
        return timezone.localdate()


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
