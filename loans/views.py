from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from borrowers.models import Guarantee
from borrowers.selectors import borrowers_visible_to, guarantors_visible_to
from borrowers.services import guarantee_add, guarantee_set_status
from common import roles
from common.models import BusinessSettings
from common.roles import keeps_records, manages_risk, role_required
from common.services import add_service_errors
from common.submissions import submitted_once
from common.templatetags.daihou import money, state_badge
from common.urltools import pk_url
from loans import selectors, services
from loans.forms import (
    CollateralForm,
    CollateralProgressForm,
    GuaranteeForm,
    GuaranteeStatusForm,
    HandoverContactForm,
    LoanBookForm,
    LoanFilterForm,
    ReassignForm,
    RepaymentForm,
    ReversalForm,
    ValuationForm,
    WriteOffForm,
)
from loans.models import Collateral, LoanStatus, Repayment
from loans.signals import loan_page_context

PAGE_SIZE = 25


def _form_page(request, form, *, title, loan, intro="", submit_label=None) -> HttpResponse:
    return render(
        request,
        "common/form_page.html",
        {
            "form": form,
            "title": title,
            "intro": intro,
            "back_url": loan.get_absolute_url(),
            "back_label": loan.reference,
            "submit_label": submit_label,
        },
    )


def _handle(request, form, action: Callable, success: str, redirect_to):
    """Run a service with the form's data; on a business error, show it on the form."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        action(form.cleaned_data)
    except ValidationError as error:
        add_service_errors(form, error)
        return None
    messages.success(request, success)
    return redirect(redirect_to)


# --- Lists and the loan page -------------------------------------------------------------------


def _loan_rows(loans) -> list[dict]:
    """What each row of the loan list shows, worked out here rather than tag by tag in the
    template (a page officers open many times a day)."""
    detail_url = pk_url("loans:detail")
    overdue = state_badge("overdue", _("overdue"))
    # Once a page, not once a row: get_status_display translates every status on each call.
    statuses = {value: state_badge(value, label) for value, label in LoanStatus.choices}
    rows = []
    for loan in loans:
        status = statuses[loan.status]
        officer = loan.managing_officer
        rows.append(
            {
                "url": detail_url(loan.pk),
                "reference": loan.reference,
                "borrower": loan.borrower.name,
                "product": loan.product.name,
                "principal": money(loan.principal),
                "outstanding": money(loan.outstanding_principal),
                "next_due": loan.next_due_on.isoformat() if loan.next_due_on else "—",
                "status": (
                    format_html("{} {}", status, overdue)
                    if loan.is_overdue and loan.is_active
                    else status
                ),
                "officer": officer.get_full_name() or officer.get_username(),
            }
        )
    return rows


def loan_list(request: HttpRequest) -> HttpResponse:
    form = LoanFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = selectors.loan_list_page(request.user, filters=filters, page=request.GET.get("page"))
    own_book = not roles.sees_whole_portfolio(request.user)
    return render(
        request,
        "loans/loan_list.html",
        {
            "form": form,
            "page": page,
            "rows": _loan_rows(page.object_list),
            "own_book": own_book,
            "can_book": keeps_records(request.user),
        },
    )


def loan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    loan = selectors.get_loan_for_user(request.user, pk)
    can_act = selectors.can_act_on(request.user, loan)
    return render(
        request,
        "loans/loan_detail.html",
        {
            "loan": loan,
            **selectors.loan_detail(loan),
            **loan_page_context(request, loan),
            "can_act": can_act and loan.is_active,
            "can_manage": manages_risk(request.user),
            "is_managing_officer": loan.managing_officer_id == request.user.pk,
            "today": timezone.localdate(),
        },
    )


def handover_list(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    handovers = list(selectors.handovers_for(request.user, today=today)[:200])
    return render(
        request,
        "loans/handover_list.html",
        {"handovers": handovers, "today": today},
    )


# --- Booking -----------------------------------------------------------------------------------


@role_required(keeps_records)
@require_http_methods(["GET", "POST"])
@submitted_once
def loan_book(request: HttpRequest) -> HttpResponse:
    initial = {}
    if roles.is_loan_officer(request.user):
        initial = {"originating_officer": request.user, "managing_officer": request.user}
        profile = getattr(request.user, "officer_profile", None)
        if profile:
            initial["branch"] = profile.branch
    form = LoanBookForm(
        request.POST or None,
        initial=initial,
        borrowers=borrowers_visible_to(request.user),
        guarantors=guarantors_visible_to(request.user),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            loan = services.loan_book(
                borrower=data["borrower"],
                product=data["product"],
                branch=data["branch"],
                principal=data["principal"],
                annual_rate=data["annual_rate"],
                term_months=data["term_months"],
                repayment_method=data["repayment_method"],
                disbursed_on=data["disbursed_on"],
                first_due_on=data["first_due_on"],
                purpose=data["purpose"],
                guarantors=list(data["guarantors"]),
                originating_officer=data["originating_officer"],
                managing_officer=data["managing_officer"],
                by=request.user,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Loan %(ref)s booked.") % {"ref": loan.reference})
            return redirect(loan)
    return render(
        request,
        "common/form_page.html",
        {
            "form": form,
            "title": _("Book a disbursed loan"),
            "intro": _(
                "The schedule, the guarantees and the handover to the managing officer are "
                "created with the loan."
            ),
            "submit_label": _("Book the loan"),
        },
    )


# --- Repayments --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@submitted_once
def repayment_create(request: HttpRequest, pk: int) -> HttpResponse:
    loan = selectors.get_loan_for_user(request.user, pk, act=True)
    form = RepaymentForm(request.POST or None)
    done = _handle(
        request,
        form,
        lambda data: services.repayment_post(loan=loan, by=request.user, **data),
        _("Repayment recorded."),
        loan,
    )
    return done or _form_page(
        request,
        form,
        title=_("Record a repayment on %(ref)s") % {"ref": loan.reference},
        loan=loan,
        intro=_("Payments go to the oldest instalment first: interest, then principal."),
    )


@role_required(manages_risk)
@require_http_methods(["GET", "POST"])
@submitted_once
def repayment_reverse(request: HttpRequest, pk: int) -> HttpResponse:
    repayment = get_object_or_404(Repayment, pk=pk)
    loan = selectors.get_loan_for_user(request.user, repayment.loan_id, act=True)
    form = ReversalForm(request.POST or None)
    done = _handle(
        request,
        form,
        lambda data: services.repayment_reverse(repayment=repayment, by=request.user, **data),
        _("Repayment reversed; the allocation was recomputed."),
        loan,
    )
    return done or _form_page(
        request,
        form,
        title=_("Reverse repayment %(ref)s of %(amount)s")
        % {"ref": repayment.reference, "amount": f"¥{repayment.amount:,.2f}"},
        loan=loan,
        intro=_("A reversed repayment stays on record with who reversed it and why."),
        submit_label=_("Reverse"),
    )


@role_required(manages_risk)
@require_http_methods(["GET", "POST"])
@submitted_once
def loan_write_off(request: HttpRequest, pk: int) -> HttpResponse:
    loan = selectors.get_loan_for_user(request.user, pk, act=True)
    form = WriteOffForm(request.POST or None)
    done = _handle(
        request,
        form,
        lambda data: services.loan_write_off(loan=loan, by=request.user, **data),
        _("Loan written off."),
        loan,
    )
    return done or _form_page(
        request,
        form,
        title=_("Write off %(ref)s") % {"ref": loan.reference},
        loan=loan,
        submit_label=_("Write off"),
    )


# --- Collateral ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@submitted_once
def collateral_create(request: HttpRequest, pk: int) -> HttpResponse:
    loan = selectors.get_loan_for_user(request.user, pk, act=True)
    form = CollateralForm(request.POST or None)
    done = _handle(
        request,
        form,
        lambda data: services.collateral_add(loan=loan, by=request.user, **data),
        _("Collateral recorded."),
        loan,
    )
    return done or _form_page(
        request, form, title=_("Add collateral to %(ref)s") % {"ref": loan.reference}, loan=loan
    )


def _collateral_for(request, pk: int) -> tuple[Collateral, object]:
    collateral = get_object_or_404(Collateral, pk=pk)
    loan = selectors.get_loan_for_user(request.user, collateral.loan_id, act=True)
    return collateral, loan


@require_http_methods(["GET", "POST"])
@submitted_once
def valuation_create(request: HttpRequest, pk: int) -> HttpResponse:
    collateral, loan = _collateral_for(request, pk)
    form = ValuationForm(request.POST or None)
    done = _handle(
        request,
        form,
        lambda data: services.valuation_add(collateral=collateral, by=request.user, **data),
        _("Valuation recorded."),
        loan,
    )
    return done or _form_page(
        request, form, title=_("New valuation of %(what)s") % {"what": collateral}, loan=loan
    )


@require_http_methods(["GET", "POST"])
@submitted_once
def collateral_progress(request: HttpRequest, pk: int) -> HttpResponse:
    collateral, loan = _collateral_for(request, pk)
    form = CollateralProgressForm(
        request.POST or None,
        initial={
            "completed_on": collateral.completed_on,
            "pre_registration_on": collateral.pre_registration_on,
            "registration_on": collateral.registration_on,
            "title_certificate_number": collateral.title_certificate_number,
            "status": collateral.status,
        },
    )
    done = _handle(
        request,
        form,
        lambda data: services.collateral_record_progress(
            collateral=collateral, by=request.user, **data
        ),
        _("Collateral updated."),
        loan,
    )
    return done or _form_page(
        request,
        form,
        title=_("Construction, registration and status of %(what)s") % {"what": collateral},
        loan=loan,
    )


# --- Guarantees -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@submitted_once
def guarantee_create(request: HttpRequest, pk: int) -> HttpResponse:
    loan = selectors.get_loan_for_user(request.user, pk, act=True)
    form = GuaranteeForm(request.POST or None, guarantors=guarantors_visible_to(request.user))
    done = _handle(
        request,
        form,
        lambda data: guarantee_add(loan=loan, **data),
        _("Guarantee added."),
        loan,
    )
    return done or _form_page(
        request, form, title=_("Add a guarantor to %(ref)s") % {"ref": loan.reference}, loan=loan
    )


@role_required(manages_risk)
@require_http_methods(["GET", "POST"])
@submitted_once
def guarantee_status(request: HttpRequest, pk: int) -> HttpResponse:
    guarantee = get_object_or_404(Guarantee.objects.select_related("guarantor"), pk=pk)
    loan = selectors.get_loan_for_user(request.user, guarantee.loan_id, act=True)
    form = GuaranteeStatusForm(request.POST or None)
    done = _handle(
        request,
        form,
        lambda data: guarantee_set_status(guarantee=guarantee, by=request.user, **data),
        _("Guarantee updated."),
        loan,
    )
    return done or _form_page(
        request,
        form,
        title=_("Release or call the guarantee of %(name)s") % {"name": guarantee.guarantor.name},
        loan=loan,
    )


# --- Officers and handover -----------------------------------------------------------------------


@role_required(manages_risk)
@require_http_methods(["GET", "POST"])
@submitted_once
def loan_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    loan = selectors.get_loan_for_user(request.user, pk, act=True)
    form = ReassignForm(request.POST or None)
    done = _handle(
        request,
        form,
        lambda data: services.loan_reassign(loan=loan, by=request.user, **data),
        _("The loan has a new managing officer."),
        loan,
    )
    return done or _form_page(
        request, form, title=_("Reassign %(ref)s") % {"ref": loan.reference}, loan=loan
    )


@require_http_methods(["GET", "POST"])
@submitted_once
def handover_contact(request: HttpRequest, pk: int) -> HttpResponse:
    loan = selectors.get_loan_for_user(request.user, pk, act=True)
    handover = getattr(loan, "handover", None)
    if handover is None:
        raise Http404
    if handover.to_officer_id != request.user.pk and not manages_risk(request.user):
        raise PermissionDenied
    form = HandoverContactForm(request.POST or None)
    done = _handle(
        request,
        form,
        lambda data: services.handover_record_contact(handover=handover, by=request.user, **data),
        _("First contact recorded."),
        loan,
    )
    return done or _form_page(
        request,
        form,
        title=_("First contact with %(name)s") % {"name": loan.borrower.name},
        loan=loan,
        intro=_("Reach the borrower within %(days)s working days of disbursement (due %(due)s)")
        % {
            "days": BusinessSettings.current().handover_working_days,
            "due": handover.due_on.isoformat(),
        },
    )
