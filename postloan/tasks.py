"""Post-loan management's Celery tasks, each in its room, gathered here for Celery's
autodiscovery (it reads each app's tasks module) under the names beat, the runs page and
queued messages know: postloan.tasks.<name>. The night's chain is portfolio.tasks."""

from postloan.fieldwork.tasks import detect_early_warnings
from postloan.inspections.tasks import schedule_inspections, send_inspection_reminders
from postloan.reporting.tasks import refresh_dashboard, snapshot_month_end
from postloan.risk.tasks import classify_portfolio

__all__ = [
    "classify_portfolio",
    "detect_early_warnings",
    "refresh_dashboard",
    "schedule_inspections",
    "send_inspection_reminders",
    "snapshot_month_end",
]
