"""Post-loan management's receivers for the seam loans offers (loans/signals.py): the
inspection plan follows a loan's changes and its new officer, and the loan page shows the
risk panel and the field work."""

from __future__ import annotations

from loans.signals import loan_page, loan_reassigned, loans_changed
from postloan.inspections.planning import follow_reassignment, schedule_for_loans
from postloan.risk.views import loan_risk_context


def _replan(sender, *, loan_ids, **kwargs) -> None:
    schedule_for_loans(loan_ids)


def _follow(sender, *, loan, to_officer, **kwargs) -> None:
    follow_reassignment(loan=loan, to_officer=to_officer)


def _loan_page(sender, *, request, loan, **kwargs) -> dict:
    return loan_risk_context(request, loan)


def connect() -> None:
    loans_changed.connect(_replan, dispatch_uid="postloan.replan")
    loan_reassigned.connect(_follow, dispatch_uid="postloan.follow_reassignment")
    loan_page.connect(_loan_page, dispatch_uid="postloan.loan_page")
