"""Pages for planned inspections: the officer's agenda, the managers' view, the policy.
Each parses the request, calls its selectors (postloan/inspections/selectors.py) and
renders; the forms are in forms.py."""

from __future__ import annotations

import itertools
from datetime import timedelta
from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from common.roles import manages_risk, role_required, sees_whole_portfolio
from common.services import add_service_errors
from common.submissions import submitted_once
from common.urltools import pk_url
from postloan.inspections import selectors, services
from postloan.inspections.areas import area_of
from postloan.inspections.forms import InspectionFilterForm, PolicyRuleForm
from postloan.models import (
    EarlyWarning,
    InspectionKind,
    InspectionPolicyRule,
)
from postloan.templatetags.risk import inspection_reason, tier_badge

PAGE_SIZE = 50
AGENDA_PAGE = 25


def _labels(choices) -> dict[str, str]:
    """A choice field's labels by value, translated once for a page: a model's get_…_display
    translates every label of the field's choices on each call, once a row."""
    return {value: str(label) for value, label in choices}


def _agenda_rows(items, today) -> list[dict]:
    """What each agenda row shows, worked out here rather than tag by tag in the template
    (the agenda is the page officers open most, often on a phone)."""
    # The visit's card and its report: pages the field app keeps, so that both open offline
    # (the report is shown, not started, until something is saved).
    loan_url, report_url = pk_url("postloan:field_card"), pk_url("postloan:field_report")
    start, resume = _("Start the report"), _("Continue the report")
    kinds = _labels(InspectionKind.choices)
    badges = {tier: tier_badge(tier) for tier in {i.loan.risk.tier for i in items}}
    rows = []
    for i in items:
        borrower = i.loan.borrower
        # The visit is usually at the business; a borrower without one is seen at home.
        address = borrower.business_address or borrower.address
        rows.append(
            {
                "pk": i.pk,
                "loan_url": loan_url(i.loan_id),
                "reference": i.loan.reference,
                "borrower": borrower.name,
                "tier_badge": badges[i.loan.risk.tier],
                "kind": kinds.get(i.kind, i.kind),
                "reason": inspection_reason(i),
                "overdue": i.due_on < today,
                "due_on": i.due_on,
                "due": _("due %(date)s") % {"date": i.due_on.isoformat()},
                "report_url": report_url(i.pk),
                "button": resume if getattr(i, "report", None) else start,
                "phone": borrower.mobile,
                "address": address,
                # geo: opens the phone's map app; the address is shown as text beside it for
                # the apps (and desks) that do not take the link.
                "map_url": f"geo:0,0?q={quote(address)}" if address else "",
                "area": area_of(address),
            }
        )
    return rows


def _by_area(rows: list[dict]) -> list[dict]:
    """Rows grouped by area (district or county), so that one trip covers one area. An area
    comes where its first row came: the rows arrive worst tier first, and so do the areas."""
    areas: dict[str, list[dict]] = {}
    for row in rows:
        areas.setdefault(row["area"], []).append(row)
    return [
        {"name": name or _("Area not recorded"), "items": items} for name, items in areas.items()
    ]


def _by_day_and_area(rows: list[dict], today) -> list[dict]:
    """The coming visits by day (the rows arrive in date order), then by area."""
    tomorrow = today + timedelta(days=1)
    days = []
    for day, day_rows in itertools.groupby(rows, key=lambda row: row["due_on"]):
        if day == today:
            name = _("Today")
        elif day == tomorrow:
            name = _("Tomorrow")
        else:
            name = date_format(day, "l")
        days.append({"name": name, "date": day.isoformat(), "areas": _by_area(list(day_rows))})
    return days


def _warning_rows(warnings) -> list[dict]:
    """The open early warnings, each with its loan's URL (one reversal)."""
    loan_url = pk_url("loans:detail")
    kinds = _labels(EarlyWarning.Kind.choices)
    return [
        {
            "url": loan_url(w.loan_id),
            "reference": w.loan.reference,
            "borrower": w.loan.borrower.name,
            "kind": kinds.get(w.kind, w.kind),
            "raised_on": w.raised_on.isoformat(),
        }
        for w in warnings
    ]


def _closure_links(loans) -> list[dict]:
    """The closed loans awaiting their evaluation, each with its form's URL (one reversal)."""
    closure_url = pk_url("postloan:closure")
    return [{"url": closure_url(loan.pk), "reference": loan.reference} for loan in loans]


def agenda(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    # A page at a time: an officer with a large book must not wait for hundreds of rows.
    inspections = selectors.agenda(request.user, today=today)
    counts = selectors.agenda_counts(request.user, today=today)
    paginator = Paginator(inspections, AGENDA_PAGE)
    paginator.count = counts["total"]  # counted above, with the overdue ones
    page = paginator.get_page(request.GET.get("page"))
    items = list(page.object_list)
    return render(
        request,
        "postloan/agenda.html",
        {
            "page": page,
            "overdue_total": counts["overdue"],
            # Overdue visits are all due now: grouped by area only, to be fitted into the
            # day's trips; the coming ones by day, then by area.
            "overdue_areas": _by_area(_agenda_rows([i for i in items if i.due_on < today], today)),
            "upcoming_days": _by_day_and_area(
                _agenda_rows([i for i in items if i.due_on >= today], today), today
            ),
            "warnings": _warning_rows(selectors.open_warnings(request.user)),
            "closures": _closure_links(selectors.closures_to_write(request.user)),
            "today": today,
        },
    )


@role_required(sees_whole_portfolio)
def inspection_list(request: HttpRequest) -> HttpResponse:
    form = InspectionFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    today = timezone.localdate()
    inspections = selectors.open_inspections(request.user, filters=filters, today=today)
    page = Paginator(inspections, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "postloan/inspection_list.html",
        {"form": form, "page": page, "today": today},
    )


@role_required(sees_whole_portfolio)
def policy(request: HttpRequest) -> HttpResponse:
    rules = selectors.policy_rules()
    return render(
        request,
        "postloan/policy.html",
        {
            "rules": rules,
            "history": selectors.policy_history(limit=100),
            "can_edit": manages_risk(request.user),
        },
    )


@role_required(manages_risk)
@require_http_methods(["GET", "POST"])
@submitted_once
def policy_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(InspectionPolicyRule, pk=pk) if pk else None
    form = PolicyRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.policy_rule_save(form)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("Rule “%(name)s” saved; the inspection plan is being updated.")
                % {"name": saved.name},
            )
            return redirect("postloan:policy")
    return render(
        request,
        "common/form_page.html",
        {
            "form": form,
            "title": _("Edit an inspection rule") if rule else _("New inspection rule"),
            "intro": _(
                "Empty conditions match every loan. Where several rules apply to a loan, the "
                "strictest (most inspections a month) wins."
            ),
            "back_url": "/risk/policy/",
            "back_label": _("Inspection policy"),
        },
    )
