"""Writes for loans: status changes, repayments and reversals, collateral, officers, handover.

Each service is one transaction that validates everything first; a ValidationError keyed
by field reaches the form. Money stays Decimal throughout. This module is the loans' write
API: the booking (loans/booking.py, in steps) and the deferral of re-planning
(loans/replanning.py) are re-exported here, so callers write services.loan_book as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common import texts
from common.money import ZERO, format_cny
from common.roles import is_loan_officer
from common.transitions import Change, Transitions, transition
from loans import ledger
from loans.booking import loan_book
from loans.models import (
    Allocation,
    Channel,
    Collateral,
    CollateralKind,
    CollateralStatus,
    Handover,
    Instalment,
    Loan,
    LoanStatus,
    LoanStatusChange,
    OfficerAssignment,
    Repayment,
    Valuation,
)
from loans.replanning import replan, replanning_deferred
from loans.signals import loan_reassigned
from loans.terms import default_first_due_on, has_fen_precision

__all__ = [
    "COLLATERAL_TRANSITIONS",
    "LOAN_TRANSITIONS",
    "collateral_add",
    "collateral_record_progress",
    # The first due date's rule is loans.terms'; portfolio/importing/staging.py and
    # tests/portfolio/test_import.py (being edited by others) still import it from here.
    "default_first_due_on",
    "handover_record_contact",
    "loan_book",
    "loan_reassign",
    "loan_transition",
    "loan_write_off",
    "repayment_post",
    "repayment_reverse",
    "repayments_record_many",
    "replanning_deferred",
    "valuation_add",
]


# --- Status: one guarded transition ----------------------------------------------------------


def _record_loan_change(change: Change) -> list[str]:
    """A loan's move is one LoanStatusChange row (who, when, from, to, why); a closed loan
    keeps the day it closed."""
    loan = change.obj
    LoanStatusChange.objects.create(
        loan=loan,
        from_status=change.before,
        to_status=change.after,
        effective_on=change.on,
        changed_by=change.by,
        reason=change.why,
    )
    loan.closed_on = None if change.after == LoanStatus.ACTIVE else change.on
    return ["closed_on"]


LOAN_TRANSITIONS = Transitions(
    model=Loan,
    moves={
        LoanStatus.ACTIVE: {LoanStatus.SETTLED, LoanStatus.WRITTEN_OFF},
        # A settled loan reopens only when the repayment that settled it is reversed.
        LoanStatus.SETTLED: {LoanStatus.ACTIVE},
        LoanStatus.WRITTEN_OFF: set(),
    },
    refusal=_("A loan that is %(from)s cannot become %(to)s."),
    record=_record_loan_change,
)


@transaction.atomic
def loan_transition(*, loan: Loan, to: str, on: date, reason: str, by=None) -> Loan:
    """Move a loan to another status, refusing illegal moves, recording the change."""
    # common.transitions decides on the status in the database, not on the caller's copy
    # of the loan (which may be stale), and holds the row until the change is recorded.
    transition(loan, to, by=by, why=reason, on=on, table=LOAN_TRANSITIONS)
    replan(loan)  # a closed loan's open inspections are cancelled
    return loan


@transaction.atomic
def loan_write_off(*, loan: Loan, on: date, reason: str, by=None) -> Loan:
    loan = Loan.objects.select_for_update().get(pk=loan.pk)
    errors = {}
    if not reason.strip():
        errors["reason"] = [_("Say why the loan is written off.")]
    if on > timezone.localdate() or on < loan.disbursed_on:
        errors["on"] = [_("The date must lie between the disbursement and today.")]
    if errors:
        raise ValidationError(errors)
    return loan_transition(loan=loan, to=LoanStatus.WRITTEN_OFF, on=on, reason=reason, by=by)


# --- Repayments --------------------------------------------------------------------------------


def _instalment_dues(loan: Loan) -> list[Instalment]:
    return list(Instalment.objects.filter(loan=loan).order_by("seq"))


def _reallocate(loan: Loan, instalments: list[Instalment]) -> ledger.LoanPosition:
    """Rebuild the loan's allocation rows from its standing repayments."""
    payments = [
        ledger.Payment(key=r.pk, paid_on=r.paid_on, amount=r.amount)
        for r in Repayment.objects.filter(loan=loan, reversed_at__isnull=True)
    ]
    dues = [
        ledger.InstalmentDue(i.seq, i.due_on, i.principal_due, i.interest_due) for i in instalments
    ]
    lines, states = ledger.allocate(dues, payments)
    by_seq = {i.seq: i for i in instalments}
    # By the instalments' ids, not a join to them: inside a transaction that has just loaded
    # many rows (the demo, a test) the planner still believes the tables empty, and the join's
    # semi-join became a nested loop of sequential scans (minutes for one loan).
    Allocation.objects.filter(instalment_id__in=[i.pk for i in instalments]).delete()
    Allocation.objects.bulk_create(
        Allocation(
            repayment_id=line.payment_key,
            instalment=by_seq[line.seq],
            interest=line.interest,
            principal=line.principal,
        )
        for line in lines
        if line.interest or line.principal
    )
    changed = []
    for state in states:
        instalment = by_seq[state.seq]
        if (instalment.principal_paid, instalment.interest_paid) != (
            state.principal_paid,
            state.interest_paid,
        ):
            instalment.principal_paid = state.principal_paid
            instalment.interest_paid = state.interest_paid
            changed.append(instalment)
    Instalment.objects.bulk_update(changed, ["principal_paid", "interest_paid"])
    last_payment = max((p.paid_on for p in payments), default=loan.disbursed_on)
    return ledger.position(dues, payments, as_of=max(last_payment, timezone.localdate()))


@transaction.atomic
def repayment_post(
    *,
    loan: Loan,
    paid_on: date,
    amount: Decimal,
    channel: str,
    reference: str,
    note: str = "",
    by=None,
    today: date | None = None,
) -> Repayment:
    """Record money received, allocated oldest instalment first (interest, then principal).

    Paying exactly what is left settles the loan; more than that is refused.
    """
    today = today or timezone.localdate()
    # Serialise postings on this loan: concurrent payments cannot lose an update.
    loan = Loan.objects.select_for_update().get(pk=loan.pk)
    errors: dict[str, list] = {}
    reference = (reference or "").strip()
    if loan.status != LoanStatus.ACTIVE:
        errors["__all__"] = [
            _("The loan is %(status)s; repayments are recorded on active loans only.")
            % {"status": loan.get_status_display()}
        ]
    if amount is None or amount <= 0:
        errors["amount"] = [_("Enter an amount above zero.")]
    elif not has_fen_precision(amount):
        errors["amount"] = [_("Amounts have at most two decimals (fen).")]
    if paid_on < loan.disbursed_on:
        errors["paid_on"] = [
            _("A repayment cannot predate the disbursement (%(date)s).")
            % {"date": loan.disbursed_on.isoformat()}
        ]
    elif paid_on > today:
        errors["paid_on"] = [_("A repayment cannot be dated in the future.")]
    if not reference:
        errors["reference"] = [_("Enter the payment's reference.")]
    elif Repayment.objects.filter(loan=loan, reference=reference).exists():
        errors["reference"] = [
            _("A repayment with this reference is already recorded on this loan.")
        ]
    instalments = _instalment_dues(loan)
    if "amount" not in errors:
        owed = sum((i.outstanding for i in instalments), ZERO)
        if amount > owed:
            errors["amount"] = [
                _("This is more than the %(owed)s still owed; settling means paying exactly that.")
                % {"owed": format_cny(owed)}
            ]
    if errors:
        raise ValidationError(errors)
    repayment = Repayment(
        loan=loan,
        paid_on=paid_on,
        amount=amount,
        channel=channel,
        reference=reference,
        note=note,
        recorded_by=by,
    )
    repayment.full_clean()
    repayment.save()
    position = _reallocate(loan, instalments)
    if position.outstanding_total == ZERO:
        last = max(
            Repayment.objects.filter(loan=loan, reversed_at__isnull=True).values_list(
                "paid_on", flat=True
            )
        )
        loan_transition(loan=loan, to=LoanStatus.SETTLED, on=last, reason=texts.PAID_IN_FULL, by=by)
    return repayment


@transaction.atomic
def repayment_reverse(*, repayment: Repayment, reason: str, by=None) -> Repayment:
    """Reverse a mistaken repayment (never delete it) and re-allocate the rest."""
    loan = Loan.objects.select_for_update().get(pk=repayment.loan_id)
    repayment = Repayment.objects.select_for_update().get(pk=repayment.pk)
    errors = {}
    if repayment.is_reversed:
        errors["__all__"] = [_("This repayment is already reversed.")]
    if not (reason or "").strip():
        errors["reason"] = [_("Say why the repayment is reversed.")]
    if loan.status == LoanStatus.WRITTEN_OFF:
        errors["__all__"] = [_("The loan is written off; its repayments are frozen.")]
    if errors:
        raise ValidationError(errors)
    repayment.reversed_at = timezone.now()
    repayment.reversed_by = by
    repayment.reversal_reason = reason.strip()
    repayment.save(update_fields=["reversed_at", "reversed_by", "reversal_reason"])
    position = _reallocate(loan, _instalment_dues(loan))
    if loan.status == LoanStatus.SETTLED and position.outstanding_total > ZERO:
        loan_transition(
            loan=loan,
            to=LoanStatus.ACTIVE,
            on=timezone.localdate(),
            reason=texts.REPAYMENT_REVERSED,
            by=by,
        )
    return repayment


# --- Collateral ---------------------------------------------------------------------------------


@transaction.atomic
def collateral_add(
    *,
    loan: Loan,
    kind: str,
    description: str,
    owner_is_borrower: bool = True,
    owner_name: str = "",
    custody: str = "registry",
    location: str = "",
    developer: str = "",
    expected_completion_on: date | None = None,
    pre_registration_on: date | None = None,
    registration_due_on: date | None = None,
    value: Decimal | None = None,
    valued_on: date | None = None,
    valuation_method: str = "appraisal",
    valued_by: str = "",
    by=None,
) -> Collateral:
    errors: dict[str, list] = {}
    if not loan.product.accepts_collateral(kind):
        errors["kind"] = [
            _("%(product)s does not accept %(kind)s as collateral.")
            % {"product": loan.product.name, "kind": CollateralKind(kind).label}
        ]
    if not owner_is_borrower and not owner_name.strip():
        errors["owner_name"] = [_("Name the third party who owns it.")]
    if kind == CollateralKind.OFF_PLAN:
        if not developer.strip():
            errors["developer"] = [_("Name the developer of the off-plan property.")]
        if expected_completion_on is None:
            errors["expected_completion_on"] = [_("Give the expected completion date.")]
    if (value is None) != (valued_on is None):
        errors["value"] = [_("Give both the value and the valuation date, or neither.")]
    if errors:
        raise ValidationError(errors)
    collateral = Collateral(
        loan=loan,
        kind=kind,
        description=description,
        owner_is_borrower=owner_is_borrower,
        owner_name=owner_name.strip(),
        custody=custody,
        location=location,
        developer=developer,
        expected_completion_on=expected_completion_on,
        pre_registration_on=pre_registration_on,
        registration_due_on=registration_due_on,
    )
    collateral.full_clean()
    collateral.save()
    if value is not None:
        valuation_add(
            collateral=collateral,
            valued_on=valued_on,
            value=value,
            method=valuation_method,
            valued_by=valued_by,
            by=by,
        )
    return collateral


@transaction.atomic
def valuation_add(
    *,
    collateral: Collateral,
    valued_on: date,
    value: Decimal,
    method: str,
    valued_by: str = "",
    note: str = "",
    by=None,
) -> Valuation:
    errors = {}
    if value is None or value < 0:
        errors["value"] = [_("A value cannot be negative.")]
    elif not has_fen_precision(value):
        errors["value"] = [_("Amounts have at most two decimals (fen).")]
    if valued_on > timezone.localdate():
        errors["valued_on"] = [_("A valuation cannot be dated in the future.")]
    if errors:
        raise ValidationError(errors)
    valuation = Valuation(
        collateral=collateral,
        valued_on=valued_on,
        value=value,
        method=method,
        valued_by=valued_by,
        note=note,
        recorded_by=by,
    )
    valuation.full_clean()
    valuation.save()
    return valuation


# Held collateral is released (the loan repaid, or a substitution) or enforced, once: a new
# pledge after a release is new collateral, with its own registration (docs/decisions.md).
COLLATERAL_TRANSITIONS = Transitions(
    model=Collateral,
    moves={CollateralStatus.HELD: {CollateralStatus.RELEASED, CollateralStatus.ENFORCED}},
    refusal=_("Collateral that is %(from)s cannot become %(to)s."),
    error_key="status",
)


@transaction.atomic
def collateral_record_progress(
    *,
    collateral: Collateral,
    completed_on: date | None = None,
    pre_registration_on: date | None = None,
    registration_on: date | None = None,
    title_certificate_number: str = "",
    status: str | None = None,
    by=None,
) -> Collateral:
    """Off-plan construction and registration milestones; release or enforcement (held
    collateral is released or enforced once: COLLATERAL_TRANSITIONS)."""
    collateral = Collateral.objects.select_for_update().get(pk=collateral.pk)
    today = timezone.localdate()
    errors = {}
    for field, value in [
        ("completed_on", completed_on),
        ("pre_registration_on", pre_registration_on),
        ("registration_on", registration_on),
    ]:
        if value is not None and value > today:
            errors[field] = [_("This date cannot be in the future.")]
        elif value is not None:
            setattr(collateral, field, value)
    if title_certificate_number:
        collateral.title_certificate_number = title_certificate_number.strip()
    if registration_on and not collateral.title_certificate_number:
        errors["title_certificate_number"] = [
            _("Give the title certificate number with the formal registration.")
        ]
    if errors:
        raise ValidationError(errors)
    collateral.full_clean()
    collateral.save()
    if status and status != collateral.status:
        transition(collateral, status, by=by, table=COLLATERAL_TRANSITIONS)
    return collateral


# --- Officers and the handover --------------------------------------------------------------


@transaction.atomic
def loan_reassign(
    *, loan: Loan, to_officer, effective_on: date, reason: str, by=None
) -> OfficerAssignment:
    """Give the loan another managing officer; the history keeps from, to, when, who, why."""
    loan = Loan.objects.select_for_update().get(pk=loan.pk)
    errors: dict[str, list] = {}
    if to_officer is None or not to_officer.is_active or not is_loan_officer(to_officer):
        errors["to_officer"] = [_("Choose an active loan officer.")]
    elif to_officer.pk == loan.managing_officer_id:
        errors["to_officer"] = [_("This officer already manages the loan.")]
    if not (reason or "").strip():
        errors["reason"] = [_("Say why the loan changes hands.")]
    if effective_on > timezone.localdate() or effective_on < loan.disbursed_on:
        errors["effective_on"] = [_("The date must lie between the disbursement and today.")]
    if errors:
        raise ValidationError(errors)
    assignment = OfficerAssignment.objects.create(
        loan=loan,
        from_officer_id=loan.managing_officer_id,
        to_officer=to_officer,
        effective_on=effective_on,
        assigned_by=by,
        reason=reason.strip(),
    )
    loan.managing_officer = to_officer
    loan.save(update_fields=["managing_officer"])
    Handover.objects.filter(loan=loan, contacted_on__isnull=True).update(to_officer=to_officer)
    loan_reassigned.send(sender=Loan, loan=loan, to_officer=to_officer)
    return assignment


@transaction.atomic
def handover_record_contact(
    *,
    handover: Handover,
    contacted_on: date,
    contact_method: str,
    fixed_contact: str,
    note: str = "",
    by=None,
) -> Handover:
    """The managing officer reached the borrower and agreed a fixed contact (Art. 3)."""
    handover = Handover.objects.select_for_update().select_related("loan").get(pk=handover.pk)
    errors = {}
    if handover.contacted_on is not None:
        errors["__all__"] = [_("The first contact is already recorded.")]
    if contacted_on > timezone.localdate():
        errors["contacted_on"] = [_("The contact cannot be dated in the future.")]
    elif contacted_on < handover.loan.disbursed_on:
        errors["contacted_on"] = [_("The contact cannot predate the disbursement.")]
    if not (fixed_contact or "").strip():
        errors["fixed_contact"] = [_("Record the fixed contact the borrower agreed to.")]
    if not contact_method:
        errors["contact_method"] = [_("Choose how the borrower was reached.")]
    if errors:
        raise ValidationError(errors)
    handover.contacted_on = contacted_on
    handover.contact_method = contact_method
    handover.fixed_contact = fixed_contact.strip()
    handover.note = note
    handover.recorded_by = by
    handover.full_clean()
    handover.save()
    replan(handover.loan)  # completes the first-contact inspection, on time or late
    return handover


@transaction.atomic
def repayments_record_many(
    *, loan: Loan, rows: Sequence[dict], by=None, today: date | None = None
) -> list[Repayment]:
    """Record a loan's repayment history at once (migration, demo data): every row is
    checked like a single posting, the allocation is computed once at the end."""
    today = today or timezone.localdate()
    loan = Loan.objects.select_for_update().get(pk=loan.pk)
    instalments = _instalment_dues(loan)
    owed = sum((i.outstanding for i in instalments), ZERO)
    taken = set(Repayment.objects.filter(loan=loan).values_list("reference", flat=True))
    problems: list[str] = []
    if loan.status != LoanStatus.ACTIVE:
        problems.append(
            _("the loan is %(status)s; repayments are recorded on active loans only")
            % {"status": loan.get_status_display()}
        )
    total = ZERO
    for number, row in enumerate(rows, start=1):
        amount, paid_on, reference = row["amount"], row["paid_on"], row["reference"].strip()
        if amount <= 0 or not has_fen_precision(amount):
            problems.append(_("row %(n)d: the amount must be above zero, in fen") % {"n": number})
        if not loan.disbursed_on <= paid_on <= today:
            problems.append(
                _("row %(n)d: the date must lie between the disbursement and today") % {"n": number}
            )
        if not reference or reference in taken:
            problems.append(_("row %(n)d: missing or duplicate reference") % {"n": number})
        if row.get("channel", Channel.BANK_TRANSFER) not in Channel.values:
            problems.append(_("row %(n)d: unknown payment channel") % {"n": number})
        taken.add(reference)
        total += amount
    if total > owed:
        problems.append(
            _("the repayments add up to %(total)s, more than the %(owed)s owed")
            % {"total": format_cny(total), "owed": format_cny(owed)}
        )
    if problems:
        raise ValidationError({"repayments": problems})
    created = Repayment.objects.bulk_create(
        Repayment(
            loan=loan,
            paid_on=row["paid_on"],
            amount=row["amount"],
            channel=row.get("channel", Channel.BANK_TRANSFER),
            reference=row["reference"].strip(),
            note=row.get("note", ""),
            recorded_by=by,
        )
        for row in rows
    )
    position = _reallocate(loan, instalments)
    if position.outstanding_total == ZERO and loan.status == LoanStatus.ACTIVE:
        last = max(row["paid_on"] for row in rows)
        loan_transition(loan=loan, to=LoanStatus.SETTLED, on=last, reason=texts.PAID_IN_FULL, by=by)
    return created
