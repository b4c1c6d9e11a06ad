"""Writes of the inspections' room: the inspection policy's rules. One transaction each."""

from __future__ import annotations

from django.db import transaction

from common.celery import enqueue_on_commit
from postloan.inspections.forms import PolicyRuleForm
from postloan.inspections.tasks import schedule_inspections
from postloan.models import InspectionPolicyRule


@transaction.atomic
def policy_rule_save(form: PolicyRuleForm) -> InspectionPolicyRule:
    """Save a new or edited policy rule (validated by its form) and, once the change is
    committed, re-plan the portfolio by the new policy (a task: over the whole book)."""
    rule = form.save()
    enqueue_on_commit(schedule_inspections)
    return rule
