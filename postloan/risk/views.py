"""Classification's pages: proposals and their approval, risk flags, the watch list and
provision rates (the runs page is portfolio.views.runs). Each parses the request, calls one
selector or service (postloan/risk/selectors.py, services.py) and renders."""

from __future__ import annotations

import functools

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from borrowers.selectors import get_borrower_for_user, get_guarantor_for_user
from common.decisions import decide_from_request
from common.forms import DecisionForm
from common.roles import is_risk_manager, keeps_records, manages_risk, role_required
from common.services import add_service_errors
from common.submissions import submitted_once
from loans.selectors import get_loan_for_user
from postloan.models import ProvisionRate, TierAdjustment
from postloan.risk import selectors, services
from postloan.risk.forms import (
    FlagForm,
    ProposalForm,
    ProvisionRatesForm,
    ResolveForm,
    WatchListFilterForm,
)

# Re-exported: loans/views.py and postloan/seams.py import the loan page's panel from here.
from postloan.risk.selectors import loan_risk_context  # noqa: F401

PAGE_SIZE = 25


def _page(request, form, *, title, back_url, back_label, intro="", submit_label=None):
    return render(
        request,
        "common/form_page.html",
        {
            "form": form,
            "title": title,
            "intro": intro,
            "back_url": back_url,
            "back_label": back_label,
            "submit_label": submit_label,
        },
    )


# --- Qualitative adjustments (maker-checker) ----------------------------------------------------


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def propose(request: HttpRequest, pk: int) -> HttpResponse:
    loan = get_loan_for_user(request.user, pk)
    form = ProposalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.adjustment_propose(
                loan=loan,
                tier=data["tier"],
                reason=data["reason"],
                by=request.user,
                factor_numbers=data["factors"],
                loss_evidence=data["loss_evidence"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Proposal sent to the risk managers for approval."))
            return redirect(loan)
    risk = getattr(loan, "risk", None)
    return _page(
        request,
        form,
        title=_("Propose another tier for %(ref)s") % {"ref": loan.reference},
        intro=_(
            "The quantitative tier is %(tier)s (%(missed)d missed periods). A different tier "
            "needs a written reason and a second risk manager's approval."
        )
        % {
            "tier": risk.get_quantitative_tier_display() if risk else "—",
            "missed": risk.consecutive_missed if risk else 0,
        },
        back_url=loan.get_absolute_url(),
        back_label=loan.reference,
        submit_label=_("Send for approval"),
    )


@role_required(manages_risk)
def approval_queue(request: HttpRequest) -> HttpResponse:
    proposals = selectors.approval_queue()
    page = Paginator(proposals, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "postloan/approval_queue.html",
        {"page": page, "form": DecisionForm(), "can_decide": is_risk_manager(request.user)},
    )


@role_required(is_risk_manager)
@require_POST
@submitted_once
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    adjustment = get_object_or_404(TierAdjustment, pk=pk)
    names = {"ref": adjustment.loan.reference, "tier": adjustment.get_proposed_tier_display()}
    decide_from_request(
        request,
        functools.partial(services.adjustment_decide, adjustment=adjustment),
        approved=_("Approved: %(ref)s is now %(tier)s.") % names,
        rejected=_("Rejected: %(ref)s.") % names,
    )
    return redirect("postloan:queue")


@require_POST
@submitted_once
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    adjustment = get_object_or_404(TierAdjustment, pk=pk, proposed_by=request.user)
    try:
        services.adjustment_withdraw(adjustment=adjustment, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Proposal withdrawn."))
    return redirect(adjustment.loan)


# --- Risk flags ---------------------------------------------------------------------------------


def _raise_flag(request, *, subject_kwargs: dict, title: str, back) -> HttpResponse:
    form = FlagForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.flag_raise(by=request.user, **subject_kwargs, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Risk factor raised; the loan is on the watch list."))
            return redirect(back)
    return _page(
        request,
        form,
        title=title,
        back_url=back.get_absolute_url(),
        back_label=str(back),
        submit_label=_("Raise"),
    )


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def flag_loan(request: HttpRequest, pk: int) -> HttpResponse:
    loan = get_loan_for_user(request.user, pk)
    return _raise_flag(
        request,
        subject_kwargs={"loan": loan},
        title=_("Raise a risk factor on %(ref)s") % {"ref": loan.reference},
        back=loan,
    )


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def flag_borrower(request: HttpRequest, pk: int) -> HttpResponse:
    borrower = get_borrower_for_user(request.user, pk)
    return _raise_flag(
        request,
        subject_kwargs={"borrower": borrower},
        title=_("Raise a risk factor on %(name)s (all their loans)") % {"name": borrower.name},
        back=borrower,
    )


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def flag_guarantor(request: HttpRequest, pk: int) -> HttpResponse:
    guarantor = get_guarantor_for_user(request.user, pk)
    return _raise_flag(
        request,
        subject_kwargs={"guarantor": guarantor},
        title=_("Raise a risk factor on guarantor %(name)s") % {"name": guarantor.name},
        back=guarantor,
    )


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def flag_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    flag = selectors.get_flag_for_user(request.user, pk)
    back = flag.subject
    if flag.source == "automatic":
        raise PermissionDenied  # the nightly run resolves what it raised
    form = ResolveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.flag_resolve(flag=flag, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Risk factor resolved."))
            return redirect(back)
    return _page(
        request,
        form,
        title=_("Resolve: %(factor)s") % {"factor": flag.get_factor_display()},
        back_url=back.get_absolute_url(),
        back_label=str(back),
    )


def watch_list(request: HttpRequest) -> HttpResponse:
    form = WatchListFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    loans = selectors.watch_list(request.user, filters=filters)
    page = Paginator(loans, PAGE_SIZE).get_page(request.GET.get("page"))
    flags = selectors.open_flags_by_loan(page.object_list)
    rows = [{"loan": loan, "flags": flags[loan.pk]} for loan in page.object_list]
    return render(request, "postloan/watch_list.html", {"form": form, "page": page, "rows": rows})


# --- Provisions ---------------------------------------------------------------------------------


@role_required(manages_risk)
@require_http_methods(["GET", "POST"])
@submitted_once
def provision_rates(request: HttpRequest) -> HttpResponse:
    form = ProvisionRatesForm(request.POST or None, rates=ProvisionRate.as_dict())
    if request.method == "POST" and form.is_valid():
        try:
            services.provision_rates_update(rates=form.cleaned_data, by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Provision rates saved; every loan's provision updated."))
            return redirect("postloan:provisions")
    return render(
        request,
        "common/form_page.html",
        {
            "form": form,
            "title": _("Loan-loss provision rates"),
            "intro": _(
                "Each loan's provision is its outstanding principal times the rate of its "
                "tier. Defaults: People's Bank of China guidance (2002)."
            ),
        },
    )
