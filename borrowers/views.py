from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from borrowers import limits, selectors, services
from borrowers.capacity import capacity_reductions
from borrowers.forms import (
    AddMemberForm,
    AssessmentForm,
    BorrowerFilterForm,
    BorrowerForm,
    GroupForm,
    GuarantorForm,
    LeaveForm,
    LimitCalculatorForm,
    MaintenanceForm,
)
from borrowers.loanbook import loan_book
from borrowers.models import Borrower, GroupMembership, GuaranteeStatus
from common import roles
from common.models import BusinessSettings
from common.roles import keeps_records, role_required
from common.services import add_service_errors
from common.submissions import submitted_once

PAGE_SIZE = 25


# --- Borrowers ----------------------------------------------------------------------------------


def borrower_list(request: HttpRequest) -> HttpResponse:
    form = BorrowerFilterForm(request.GET or None)
    borrowers = selectors.borrowers_visible_to(request.user)
    if form.is_valid():
        borrowers = borrowers.search(form.cleaned_data["q"])
        if form.cleaned_data["kind"]:
            borrowers = borrowers.filter(kind=form.cleaned_data["kind"])
        if form.cleaned_data["legal_status"]:
            borrowers = borrowers.filter(legal_status=form.cleaned_data["legal_status"])
    page = Paginator(borrowers.order_by("name", "id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "borrowers/borrower_list.html",
        {"form": form, "page": page, "can_create": keeps_records(request.user)},
    )


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def borrower_create(request: HttpRequest) -> HttpResponse:
    form = BorrowerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            borrower = services.borrower_create(data=form.cleaned_data, created_by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Borrower %(name)s created.") % {"name": borrower.name})
            return redirect(borrower)
    return render(request, "borrowers/borrower_form.html", {"form": form, "creating": True})


def borrower_detail(request: HttpRequest, pk: int) -> HttpResponse:
    borrower = selectors.get_borrower_for_user(request.user, pk)
    loans = loan_book().with_balances(
        loan_book()
        .loans_visible_to(request.user)
        .filter(borrower=borrower)
        .select_related("product")
    )
    guarantor = getattr(borrower, "guarantor", None)  # None unless they also guarantee
    # Only guarantees of loans the user may see: the other loans' borrowers are not theirs.
    guarantees_given = (
        guarantor.guarantees.filter(loan__in=loan_book().loans_visible_to(request.user))
        .select_related("loan", "loan__borrower")
        .order_by("status", "-id")
        if guarantor
        else []
    )
    memberships = GroupMembership.objects.filter(borrower=borrower).select_related("group")
    can_edit = selectors.borrowers_actionable_by(request.user).filter(pk=borrower.pk).exists()
    return render(
        request,
        "borrowers/borrower_detail.html",
        {
            "borrower": borrower,
            "loans": loans,
            "guarantor": guarantor,
            "guarantees_given": guarantees_given,
            "memberships": memberships,
            "timeline": selectors.borrower_timeline(borrower),
            "maintenance": borrower.maintenance.select_related("officer")[:20],
            "can_edit": can_edit,
        },
    )


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def borrower_edit(request: HttpRequest, pk: int) -> HttpResponse:
    borrower = selectors.get_borrower_for_user(request.user, pk, edit=True)
    form = BorrowerForm(request.POST or None, instance=borrower, editing=True)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            services.borrower_update(
                borrower=borrower,
                version=data.pop("version") or 0,
                data=data,
                by=request.user,
                effective_on=data.pop("effective_on"),
                note=data.pop("change_note"),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Changes saved."))
            return redirect(borrower)
    return render(request, "borrowers/borrower_form.html", {"form": form, "borrower": borrower})


# --- Guarantors ---------------------------------------------------------------------------------


def guarantor_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    guarantors = selectors.guarantors_visible_to(request.user).select_related("borrower")
    if query:
        guarantors = guarantors.filter(
            Q(name__icontains=query)
            | Q(id_number__iexact=query.upper())
            | Q(credit_code__iexact=query.upper())
        )
    page = Paginator(guarantors.order_by("name", "id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "borrowers/guarantor_list.html",
        {"page": page, "query": query, "can_create": keeps_records(request.user)},
    )


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def guarantor_create(request: HttpRequest) -> HttpResponse:
    visible = selectors.borrowers_visible_to(request.user)
    form = GuarantorForm(request.POST or None, borrowers=visible)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            guarantor = services.guarantor_create(
                borrower=data["borrower"],
                kind=data["kind"],
                name=data["name"],
                id_number=data["id_number"],
                credit_code=data["credit_code"],
                mobile=data["mobile"],
                address=data["address"],
                created_by=request.user,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Guarantor %(name)s saved.") % {"name": guarantor.name})
            return redirect(guarantor)
    return render(
        request,
        "common/form_page.html",
        {
            "form": form,
            "title": _("New guarantor"),
            "back_url": reverse("borrowers:guarantor_list"),
            "back_label": _("Guarantors"),
        },
    )


def guarantor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    guarantor = selectors.get_guarantor_for_user(request.user, pk)
    visible_loans = loan_book().loans_visible_to(request.user)
    guarantees = (
        guarantor.guarantees.filter(loan__in=visible_loans)
        .select_related("loan", "loan__borrower", "group")
        .order_by("status", "-signed_on")
    )
    active = guarantor.guarantees.filter(status=GuaranteeStatus.ACTIVE).count()
    return render(
        request,
        "borrowers/guarantor_detail.html",
        {
            "guarantor": guarantor,
            "guarantees": guarantees,
            "active_count": active,
            "assessments": _with_reasons(list(guarantor.assessments.select_related("assessed_by"))),
            "can_assess": keeps_records(request.user)
            and not selectors.beyond_reach(request.user, guarantors=[guarantor]),
        },
    )


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def guarantor_assess(request: HttpRequest, pk: int) -> HttpResponse:
    guarantor = selectors.get_guarantor_for_user(request.user, pk)
    selectors.ensure_may_act(request.user, guarantors=[guarantor])
    form = AssessmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            assessment = services.guarantor_assess(
                guarantor=guarantor, by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if assessment.capacity_lowered:
                messages.warning(
                    request,
                    _("Capacity lowered: %(why)s. The loans this guarantor backs will be flagged.")
                    % {"why": "; ".join(map(str, _reasons_of(guarantor, assessment)))},
                )
            else:
                messages.success(request, _("Assessment recorded."))
            return redirect(guarantor)
    return render(
        request,
        "common/form_page.html",
        {
            "form": form,
            "title": _("Re-assess %(name)s") % {"name": guarantor.name},
            "intro": _(
                "An assessment worse than the previous one (income or assets down, worse "
                "credit or rating, an enterprise merged, restructuring or bankrupt) flags "
                "every loan this guarantor backs."
            ),
            "back_url": guarantor.get_absolute_url(),
            "back_label": guarantor.name,
        },
    )


def _with_reasons(assessments: list) -> list:
    """Attach to each lowered assessment why it is lower than the one before, worded in
    the reader's language (the row keeps an English copy for the audit trail)."""
    drop = BusinessSettings.current().guarantor_income_drop_percent
    previous = None
    for assessment in sorted(assessments, key=lambda a: (a.assessed_on, a.pk)):
        assessment.reasons = (
            capacity_reductions(
                services._capacity(previous) if previous else None,
                services._capacity(assessment),
                drop_percent=drop,
            )
            if assessment.capacity_lowered
            else []
        )
        previous = assessment
    return assessments


def _reasons_of(guarantor, assessment) -> list:
    for candidate in _with_reasons(list(guarantor.assessments.all())):
        if candidate.pk == assessment.pk:
            return candidate.reasons
    return []


# --- Joint-guarantee groups -------------------------------------------------------------------


def group_list(request: HttpRequest) -> HttpResponse:
    groups = (
        selectors.groups_visible_to(request.user)
        .select_related("product", "lead")
        .order_by("status", "name")
    )
    page = Paginator(groups, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "borrowers/group_list.html",
        {"page": page, "can_create": keeps_records(request.user)},
    )


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def group_create(request: HttpRequest) -> HttpResponse:
    # Only borrowers the user may act on: forming a group binds every member.
    form = GroupForm(
        request.POST or None,
        products=loan_book().products_for_groups(),
        borrowers=selectors.borrowers_actionable_by(request.user),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            group = services.group_form(
                name=data["name"],
                product=data["product"],
                members=list(data["members"]),
                lead=data["lead"],
                formed_on=data["formed_on"],
                by=request.user,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Group %(name)s formed.") % {"name": group.name})
            return redirect(group)
    return render(
        request,
        "common/form_page.html",
        {
            "form": form,
            "title": _("Form a joint-guarantee group"),
            "intro": _(
                "Every member borrows and guarantees every other member's loan. Check the "
                "limits with the limit calculator first."
            ),
            "back_url": reverse("borrowers:group_list"),
            "back_label": _("Joint-guarantee groups"),
        },
    )


def _group_limits(group):
    members = [m.borrower for m in group.memberships.all() if m.left_on is None]
    rules = _rules(group.product)
    people = selectors.people_for_limits(members, group=group)
    return limits.group_limits(people, rules), limits.drop_out_scenarios(people, rules)


def _rules(product) -> limits.LimitRules:
    return limits.LimitRules(
        per_person_limit=product.per_person_limit,
        min_guarantors=product.min_guarantors,
        allows_joint_group=product.allows_joint_group,
        min_group_size=product.min_group_size,
        enterprises_may_join_groups=product.group_members_may_be_enterprises,
    )


def group_detail(request: HttpRequest, pk: int) -> HttpResponse:
    group = selectors.get_group_for_user(request.user, pk)
    memberships = list(group.memberships.select_related("borrower").order_by("joined_on", "id"))
    group._prefetched_objects_cache = {"memberships": memberships}
    current, scenarios = _group_limits(group) if group.is_active else (None, [])
    loans = loan_book().with_balances(
        loan_book().loans_visible_to(request.user).filter(group=group).select_related("borrower")
    )
    records = keeps_records(request.user) and group.is_active
    reachable = set(
        selectors.borrowers_actionable_by(request.user)
        .filter(pk__in=[m.borrower_id for m in memberships])
        .values_list("pk", flat=True)
    )
    for membership in memberships:
        membership.can_leave = records and membership.borrower_id in reachable
    return render(
        request,
        "borrowers/group_detail.html",
        {
            "group": group,
            "memberships": memberships,
            "limits": current,
            "scenarios": scenarios,
            "loans": loans,
            "guarantees": group.guarantees.select_related("guarantor", "loan").order_by("loan_id"),
            # Adding a member changes every member's guarantees: the whole group must be
            # the user's to change.
            "can_edit": records
            and all(m.borrower_id in reachable for m in memberships if m.left_on is None),
        },
    )


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def group_add_member(request: HttpRequest, pk: int) -> HttpResponse:
    group = selectors.get_group_for_user(request.user, pk)
    selectors.ensure_may_act(
        request.user,
        borrowers=[
            m.borrower for m in group.memberships.filter(left_on=None).select_related("borrower")
        ],
    )
    form = AddMemberForm(
        request.POST or None, borrowers=selectors.borrowers_actionable_by(request.user)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.group_add_member(group=group, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Member added."))
            return redirect(group)
    return render(
        request,
        "common/form_page.html",
        {
            "form": form,
            "title": _("Add a member to %(group)s") % {"group": group.name},
            "back_url": group.get_absolute_url(),
            "back_label": group.name,
        },
    )


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
def group_member_leave(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    group = selectors.get_group_for_user(request.user, pk)
    membership = get_object_or_404(
        GroupMembership.objects.select_related("borrower"), pk=membership_pk, group=group
    )
    # Seeing the group is not enough: the member must be in the user's book.
    selectors.ensure_may_act(request.user, borrowers=[membership.borrower])
    form = LeaveForm(request.POST or None)
    # Show what leaving does to everyone's limits before anything is submitted.
    _current, scenarios = _group_limits(group) if group.is_active else (None, [])
    scenario = next((s for s in scenarios if s.leaving.key == membership.borrower_id), None)
    if request.method == "POST" and form.is_valid():
        try:
            result = services.group_member_leave(
                membership=membership, by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if result.dissolved:
                messages.warning(
                    request,
                    _(
                        "%(name)s left and the group fell below its minimum size: it is "
                        "dissolved, and %(count)d cross-guarantees continue as ordinary "
                        "guarantees."
                    )
                    % {"name": membership.borrower.name, "count": result.converted_guarantees},
                )
            else:
                messages.success(
                    request, _("%(name)s left the group.") % {"name": membership.borrower.name}
                )
            return redirect(group)
    return render(
        request,
        "borrowers/leave_form.html",
        {"form": form, "group": group, "membership": membership, "scenario": scenario},
    )


# --- The limit calculator ------------------------------------------------------------------------


@role_required(keeps_records, roles.is_supervisor)
def limit_calculator(request: HttpRequest) -> HttpResponse:
    visible = selectors.borrowers_visible_to(request.user)
    form = LimitCalculatorForm(
        request.GET or None, products=loan_book().active_products(), borrowers=visible
    )
    context = {"form": form, **_limit_result(form)}
    template = (
        "borrowers/partials/limit_result.html"
        if request.htmx
        else "borrowers/limit_calculator.html"
    )
    return render(request, template, context)


def _limit_result(form: LimitCalculatorForm) -> dict:
    if not form.is_bound or not form.is_valid():
        return {"result": None}
    data = form.cleaned_data
    rules = _rules(data["product"])
    if data["structure"] == "joint_group":
        members = list(data["members"])
        if not members:
            return {"result": None}
        people = selectors.people_for_limits(members)
        return {
            "result": limits.group_limits(people, rules),
            "scenarios": limits.drop_out_scenarios(people, rules),
            "rules": rules,
        }
    borrower: Borrower | None = data["borrower"]
    if borrower is None:
        return {"result": None}
    guarantors = list(data["guarantors"])
    people = selectors.people_for_limits([borrower, *guarantors])
    return {
        "result": limits.ordinary_limits(people[0], people[1:], rules),
        "rules": rules,
    }


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def maintenance_add(request: HttpRequest, pk: int) -> HttpResponse:
    borrower = selectors.get_borrower_for_user(request.user, pk, edit=True)
    form = MaintenanceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.maintenance_add(borrower=borrower, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Logged."))
            return redirect(borrower)
    return render(
        request,
        "common/form_page.html",
        {
            "form": form,
            "title": _("Customer maintenance: %(name)s") % {"name": borrower.name},
            "intro": _(
                "Opinions collected, policy and market information shared, products "
                "recommended, advice on cash planning (Sec. 6)."
            ),
            "back_url": borrower.get_absolute_url(),
            "back_label": borrower.name,
        },
    )
