"""Demo data for classification: a classified book, a proposal waiting, an approved one."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from loans.models import Loan
from postloan import batch, services
from postloan.models import ClassificationRun, LoanRiskState, TierAdjustment


@transaction.atomic
def _adjustments(stdout) -> None:
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
        return
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


def load(stdout) -> None:
    if ClassificationRun.objects.exists() or not Loan.objects.exists():
        return
    run = batch.classify_portfolio(trigger="demo")
    stdout.write(f"Classified {run.loans_seen} loans: {run.changed} tier changes.")
    if not TierAdjustment.objects.exists():
        _adjustments(stdout)
