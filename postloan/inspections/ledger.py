"""The inspection ledger (贷后检查台账): every inspection with filters, and its exports."""

from __future__ import annotations

import csv
import io
from datetime import date

from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from common.csvsafe import neutralise
from postloan.inspections.selectors import inspections_visible_to
from postloan.models import InspectionStatus


def ledger(user, *, filters: dict | None = None, today: date | None = None):
    filters = filters or {}
    today = today or timezone.localdate()
    rows = inspections_visible_to(user)
    if filters.get("start"):
        rows = rows.filter(due_on__gte=filters["start"])
    if filters.get("end"):
        rows = rows.filter(due_on__lte=filters["end"])
    if filters.get("officer"):
        rows = rows.filter(assigned_to=filters["officer"])
    if filters.get("branch"):
        rows = rows.filter(loan__branch=filters["branch"])
    if filters.get("kind"):
        rows = rows.filter(kind=filters["kind"])
    if filters.get("tier"):
        rows = rows.filter(loan__risk__tier=filters["tier"])
    if filters.get("status"):
        rows = rows.filter(status=filters["status"])
    timing = filters.get("timing")
    if timing == "on_time":
        rows = rows.filter(status=InspectionStatus.DONE, completed_on__lte=F("due_on"))
    elif timing == "late":
        rows = rows.filter(status=InspectionStatus.DONE, completed_on__gt=F("due_on"))
    elif timing == "overdue":
        rows = rows.filter(Q(status=InspectionStatus.OPEN) & Q(due_on__lt=today))
    return rows.select_related(
        "loan", "loan__borrower", "loan__branch", "loan__risk", "assigned_to", "report"
    ).order_by("-due_on", "loan__reference", "kind")


HEADER = [
    "loan_ref",
    "borrower",
    "branch",
    "kind",
    "due_on",
    "status",
    "completed_on",
    "on_time",
    "tier",
    "officer",
    "report",
]


def _row(inspection) -> list:
    report = getattr(inspection, "report", None)
    on_time = inspection.done_on_time
    return [
        inspection.loan.reference,
        inspection.loan.borrower.name,
        inspection.loan.branch.name,
        inspection.get_kind_display(),
        inspection.due_on.isoformat(),
        inspection.get_status_display(),
        inspection.completed_on.isoformat() if inspection.completed_on else "",
        "" if on_time is None else (_("yes") if on_time else _("no")),
        inspection.loan.risk.get_tier_display() if hasattr(inspection.loan, "risk") else "",
        inspection.assigned_to.get_full_name() or inspection.assigned_to.get_username(),
        report.get_status_display() if report else "",
    ]


def export_csv(rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for inspection in rows.iterator(chunk_size=2000):
        writer.writerow([neutralise(v) for v in _row(inspection)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel opens it as UTF-8


def export_xlsx(rows) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title="ledger")
    sheet.append(HEADER)
    for inspection in rows.iterator(chunk_size=2000):
        sheet.append([neutralise(v) for v in _row(inspection)])
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
