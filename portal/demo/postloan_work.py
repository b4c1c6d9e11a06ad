"""Demo data for classification: a classified book, a proposal waiting, an approved one."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from loans.models import Loan
from postloan.fieldwork import services as visits
from postloan.inspections.planning import schedule_inspections
from postloan.models import (
    ClassificationRun,
    Inspection,
    InspectionReport,
    LoanRiskState,
    TierAdjustment,
)
from postloan.reporting.snapshots import previous_month_end, refresh_dashboard, snapshot_portfolio
from postloan.risk import nightly as risk_nightly
from postloan.risk import services


@transaction.atomic
def _adjustments() -> int:
    officer = User.objects.get(username="officer")
    risk = User.objects.get(username="risk")
    second = User.objects.get(username="risk2")  # maker-checker: not the proposer
    normal = LoanRiskState.objects.filter(
        tier="normal",
        consecutive_missed__gte=1,
        loan__managing_officer=officer,
        loan__status="active",
    ).select_related("loan")[:2]
    if len(normal) < 2:
        return 0
    waiting, approved = normal[0].loan, normal[1].loan
    services.adjustment_propose(
        loan=waiting,
        tier="special_mention",
        by=officer,
        factor_numbers=[3],
        reason="借款人所在批发市场整体搬迁,经营收入明显下降,虽仅逾期一期,建议列入关注类。",
    )
    proposal = services.adjustment_propose(
        loan=approved,
        tier="special_mention",
        by=risk,
        factor_numbers=[1, 9],
        reason="连续两次电话催收未接,实地走访时借款人回避检查,调整为关注类。",
    )
    services.adjustment_decide(
        adjustment=proposal, approve=True, comment="同意,加强跟踪。", by=second
    )
    return 2


def _field_work() -> str:
    """Plan the month, report one visit, and leave a collection plan for the supervisor."""
    planned = schedule_inspections()
    officer = User.objects.get(username="officer")
    today = timezone.localdate()
    inspection = (
        Inspection.objects.filter(assigned_to=officer, status="open", kind="key_tracking")
        .select_related("loan")
        .first()
    )
    if inspection and not InspectionReport.objects.exists():
        report = visits.report_start(inspection=inspection, by=officer)
        data = visits.ReportInput()
        data.visited_at = timezone.make_aware(
            datetime.combine(today - timedelta(days=1), time(10, 0))
        )
        data.method = "business"
        data.place = "借款人店铺"
        data.people_met = "借款人本人及其配偶"
        data.findings = "店铺正常营业，但客流较去年明显减少；借款人表示下月起可恢复按期还款。"
        data.answers = dict.fromkeys(visits.applicable_items(report.loan), ("satisfactory", ""))
        data.answers[1] = ("concern", "已连续多期未按时还款。")
        data.answers[3] = ("concern", "营业额较去年同期下降约三成。")
        saved = visits.report_save_draft(
            report=report, version=report.version, data=data, by=officer
        )
        visits.report_submit(report=saved, version=saved.version, by=officer)
        visits.plan_propose(
            loan=inspection.loan,
            kind="collection",
            by=officer,
            summary="每周电话催收，月底前上门面谈并与担保人沟通，督促借款人补足欠款。",
            steps=[
                {"action": "电话催收并发送书面催收函", "target_on": today + timedelta(days=3)},
                {
                    "action": "上门面谈，约见担保人",
                    "target_on": today + timedelta(days=10),
                    "target_amount": None,
                },
            ],
        )
        return f"{planned.created} inspections planned, one visit reported, one plan proposed"
    return f"{planned.created} inspections planned"


def _history() -> str:
    """Month-end snapshots of the last six months, so the dashboard has trends."""
    # The book was loaded moments ago, in this transaction when a test loads it: without
    # statistics the planner took the snapshots' positions for a few rows and chose nested
    # loops over the whole ledger (a demo set-up held for minutes on one statement).
    with connection.cursor() as cursor:
        cursor.execute(risk_nightly.ANALYZE_LEDGER_SQL)
    month_end = previous_month_end(timezone.localdate())
    ends = []
    for _ in range(6):
        ends.append(month_end)
        month_end = previous_month_end(month_end)
    for month_end in sorted(ends):
        snapshot_portfolio(month_end=month_end)
    refresh_dashboard()
    return "six month-end snapshots, summaries refreshed"


def load(steps) -> None:
    if ClassificationRun.objects.exists() or not Loan.objects.exists():
        steps.write(f"{steps.indent}Classification, inspections, dashboard: already loaded")
        return
    with steps.step("Classification") as step:
        run = risk_nightly.classify_portfolio(trigger="demo")
        adjusted = 0 if TierAdjustment.objects.exists() else _adjustments()
        step.summary = f"{run.loans_seen} loans, {run.changed} tier changes, {adjusted} proposals"
    with steps.step("Inspection plan and field work") as step:
        step.summary = _field_work()
    with steps.step("Dashboard history") as step:
        step.summary = _history()
