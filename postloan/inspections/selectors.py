"""Reads about inspections: the officer's agenda, the managers' view, overdue counts, the
inspection policy and its history."""

from __future__ import annotations

from datetime import date, timedelta

from django.apps import apps
from django.contrib.auth.models import User
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from common import roles
from loans.models import Loan, LoanProduct
from loans.selectors import loans_visible_to
from postloan.models import EarlyWarning, Inspection, InspectionPolicyRule, InspectionStatus
from postloan.risk.rules import TIER_ORDER

TIER_RANK = Case(
    *[When(loan__risk__tier=tier.value, then=Value(-rank)) for rank, tier in enumerate(TIER_ORDER)],
    default=Value(0),
    output_field=IntegerField(),
)


def inspections_visible_to(user):
    """Officers: the inspections of their own book and those assigned to them."""
    if roles.sees_whole_portfolio(user):
        return Inspection.objects.all()
    if roles.is_loan_officer(user):
        return Inspection.objects.filter(Q(assigned_to=user) | Q(loan__in=loans_visible_to(user)))
    return Inspection.objects.none()


def _open_assigned(user, today: date, days_ahead: int):
    """Open inspections assigned to the user, overdue or due within `days_ahead` days."""
    return Inspection.objects.filter(
        assigned_to=user,
        status=InspectionStatus.OPEN,
        due_on__lte=today + timedelta(days=days_ahead),
    )


def agenda_counts(user, *, today: date | None = None, days_ahead: int = 31) -> dict:
    """How many inspections the agenda holds and how many of them are overdue: one query
    on the officer's index, without the joins the agenda's order needs."""
    today = today or timezone.localdate()
    return _open_assigned(user, today, days_ahead).aggregate(
        total=Count("id"), overdue=Count("id", filter=Q(due_on__lt=today))
    )


def agenda(user, *, today: date | None = None, days_ahead: int = 31):
    """What an officer has to do: open inspections due within a month or overdue, by due
    date and, on the same day, worst tier first."""
    today = today or timezone.localdate()
    return (
        _open_assigned(user, today, days_ahead)
        .select_related("loan", "loan__borrower", "loan__risk", "rule", "report")
        # What the agenda shows, not every column of six tables: it is the page an officer
        # opens most, often on a phone.
        .only(
            "loan_id",
            "kind",
            "due_on",
            "status",
            "reason",
            "rule_id",
            "loan__reference",
            "loan__borrower__name",
            # the phone's call and map links, and the area the agenda groups by
            "loan__borrower__mobile",
            "loan__borrower__address",
            "loan__borrower__business_address",
            "loan__risk__tier",
            "rule__name",
            "report__id",
        )
        .annotate(tier_rank=TIER_RANK)
        .order_by("due_on", "tier_rank", "loan__reference")
    )


def open_inspections(user, *, filters: dict | None = None, today: date | None = None):
    filters = filters or {}
    today = today or timezone.localdate()
    queryset = inspections_visible_to(user).filter(status=InspectionStatus.OPEN)
    if filters.get("officer"):
        queryset = queryset.filter(assigned_to=filters["officer"])
    if filters.get("branch"):
        queryset = queryset.filter(loan__branch=filters["branch"])
    if filters.get("kind"):
        queryset = queryset.filter(kind=filters["kind"])
    if filters.get("tier"):
        queryset = queryset.filter(loan__risk__tier=filters["tier"])
    if filters.get("overdue") == "yes":
        queryset = queryset.filter(due_on__lt=today)
    elif filters.get("overdue") == "no":
        queryset = queryset.filter(due_on__gte=today)
    return queryset.select_related(
        "loan", "loan__borrower", "loan__risk", "loan__branch", "assigned_to", "rule"
    ).order_by("due_on", "loan__reference")


def due_count(user, *, today: date | None = None) -> int:
    """The navbar badge: open inspections assigned to the user due within a week or late."""
    return _open_assigned(user, today or timezone.localdate(), 7).count()


def overdue_by_officer(*, today: date | None = None):
    """Open inspections past their due date, per officer (dashboard and scorecards)."""
    today = today or timezone.localdate()
    return (
        Inspection.objects.filter(status=InspectionStatus.OPEN, due_on__lt=today)
        .values(
            "assigned_to",
            "assigned_to__username",
            "assigned_to__first_name",
            "assigned_to__last_name",
        )
        .annotate(overdue=Count("id"))
        .order_by("-overdue")
    )


def open_warnings(user):
    """Broken promises and missed plan steps on the loans the user manages."""
    return (
        EarlyWarning.objects.filter(resolved_on__isnull=True, loan__managing_officer=user)
        .select_related("loan", "loan__borrower")
        .only("loan_id", "kind", "raised_on", "loan__reference", "loan__borrower__name")
        .order_by("raised_on", "id")
    )


def closures_to_write(user):
    """Closed loans the user manages that still lack their closure evaluation (Sec. 7)."""
    return (
        Loan.objects.filter(managing_officer=user, closure__isnull=True)
        .exclude(status="active")
        .only("reference", "closed_on")
        .order_by("-closed_on")[:20]
    )


def policy_rules():
    """The inspection policy's rules, the active first."""
    return InspectionPolicyRule.objects.select_related("product").order_by("-is_active", "id")


def policy_history(*, limit: int) -> list[dict]:
    """The latest changes, newest first, each with who, when, and the fields that changed
    (before → after, in the reader's words)."""
    Event = apps.get_model("postloan", "InspectionPolicyRuleEvent")
    events = list(Event.objects.select_related("pgh_context").order_by("-pgh_id")[:limit])
    if not events:
        return []
    # What each rule looked like before the oldest change shown: its previous event may lie
    # outside the window (the window is the latest events, so it is the rule's last one
    # before the window).
    by_rule: dict[int, object] = {
        event.pgh_obj_id: event
        for event in Event.objects.filter(
            pgh_obj_id__in={e.pgh_obj_id for e in events}, pgh_id__lt=events[-1].pgh_id
        )
        .order_by("pgh_obj_id", "-pgh_id")
        .distinct("pgh_obj_id")
    }
    users = User.objects.in_bulk(
        {e.pgh_context.metadata.get("user") for e in events if e.pgh_context_id} - {None}
    )
    products = LoanProduct.objects.in_bulk(
        ({e.product_id for e in events} | {e.product_id for e in by_rule.values()}) - {None}
    )
    fields = [f for f in InspectionPolicyRule._meta.fields if f.name != "id"]
    history = []
    for event in reversed(events):
        previous = by_rule.get(event.pgh_obj_id)
        changes = []
        for field in fields:
            after = getattr(event, field.attname)
            before = getattr(previous, field.attname) if previous is not None else None
            if previous is None or before != after:
                changes.append(
                    {
                        "field": field.verbose_name,
                        "before": "" if previous is None else _shown(field, before, products),
                        "after": _shown(field, after, products),
                    }
                )
        by_rule[event.pgh_obj_id] = event
        user_id = event.pgh_context.metadata.get("user") if event.pgh_context_id else None
        history.append(
            {
                "event": event,
                "user": users.get(user_id),
                "changes": changes,
                "created": event.pgh_label == "insert",
            }
        )
    return list(reversed(history))


def _shown(field, value, products) -> str:
    if value is None or value == "":
        return ""
    if field.name == "product":
        product = products.get(value)
        return product.name if product else str(value)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)
