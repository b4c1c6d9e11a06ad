"""A loan's ledger: how payments are applied, and where the loan stands on a date.

Pure arithmetic, no ORM: the caller loads the schedule and the (non-reversed) payments
and gets back the allocation and the position — outstanding balance, overdue amounts,
days past due and the consecutive missed periods (连续违约期数) that drive the
quantitative step of the five-tier classification (docs/domain.md §4).

Allocation (docs/domain.md §3): payments are applied in (paid_on, key) order; each one goes
to the oldest instalment with anything outstanding — its interest first, then its
principal — then to the next, whatever the due dates. A payment made before an
instalment falls due therefore pays it in advance, and a payment that covers two
overdue instalments clears both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from common.money import FEN, ZERO
from loans.schedule import add_months


class OverpaymentError(ValueError):
    """The payments exceed everything the schedule asks for; the repayment is refused."""


@dataclass(frozen=True)
class InstalmentDue:
    """One instalment of the schedule (a `schedule.ScheduledInstalment` fits too)."""

    seq: int
    due_on: date
    principal: Decimal
    interest: Decimal


@dataclass(frozen=True)
class Payment:
    key: object  # the repayment's id; breaks ties between payments on the same day
    paid_on: date
    amount: Decimal


@dataclass(frozen=True)
class AllocationLine:
    """The part of one payment applied to one instalment."""

    payment_key: object
    seq: int
    interest: Decimal
    principal: Decimal

    @property
    def amount(self) -> Decimal:
        return self.interest + self.principal


@dataclass(frozen=True)
class InstalmentState:
    seq: int
    due_on: date
    principal_due: Decimal
    interest_due: Decimal
    principal_paid: Decimal
    interest_paid: Decimal

    @property
    def outstanding_principal(self) -> Decimal:
        return self.principal_due - self.principal_paid

    @property
    def outstanding_interest(self) -> Decimal:
        return self.interest_due - self.interest_paid

    @property
    def outstanding(self) -> Decimal:
        return self.outstanding_principal + self.outstanding_interest

    @property
    def is_paid(self) -> bool:
        return self.outstanding == 0


@dataclass(frozen=True)
class LoanPosition:
    """Where a loan stands at the end of `as_of`.

    `outstanding_total` is everything still owed under the schedule (principal and the
    scheduled interest of all instalments, due or not). The overdue amounts are the
    outstanding amounts of the missed instalments. `instalments` are oldest first.
    """

    as_of: date
    outstanding_principal: Decimal
    outstanding_total: Decimal
    overdue_principal: Decimal
    overdue_interest: Decimal
    overdue_amount: Decimal
    days_past_due: int
    consecutive_missed_periods: int
    missed_seqs: tuple[int, ...]
    paid_in_full: bool
    instalments: tuple[InstalmentState, ...]


def allocate(
    instalments: Sequence[InstalmentDue], payments: Iterable[Payment]
) -> tuple[list[AllocationLine], list[InstalmentState]]:
    """Apply `payments` to `instalments`, oldest instalment first, interest before principal.

    Returns the allocation lines (in the order the payments were applied) and the state of
    every instalment, oldest first (by due date, then seq).

    Raises OverpaymentError if the payments add up to more than the whole schedule
    (principal and interest), and ValueError on a payment that is not a positive amount
    in whole fen or on a malformed schedule.
    """
    schedule = _oldest_first(instalments)
    ordered = sorted(payments, key=lambda payment: (payment.paid_on, payment.key))
    for payment in ordered:
        if not payment.amount.is_finite() or payment.amount <= 0:
            raise ValueError(f"payment {payment.key!r} must be a positive amount")
        if payment.amount != payment.amount.quantize(FEN):
            raise ValueError(f"payment {payment.key!r} must be whole fen, not {payment.amount}")
    total_scheduled = sum((i.principal + i.interest for i in schedule), ZERO)
    total_paid = sum((p.amount for p in ordered), ZERO)
    if total_paid > total_scheduled:
        raise OverpaymentError(
            f"payments of {total_paid} exceed the {total_scheduled} the schedule asks for"
        )

    interest_paid = [ZERO] * len(schedule)
    principal_paid = [ZERO] * len(schedule)
    lines: list[AllocationLine] = []
    oldest_open = 0
    for payment in ordered:
        left = payment.amount
        while left > 0:
            # Never runs past the end: the overpayment check above guarantees room.
            instalment = schedule[oldest_open]
            to_interest = min(left, instalment.interest - interest_paid[oldest_open])
            left -= to_interest
            to_principal = min(left, instalment.principal - principal_paid[oldest_open])
            left -= to_principal
            if to_interest or to_principal:
                interest_paid[oldest_open] += to_interest
                principal_paid[oldest_open] += to_principal
                lines.append(AllocationLine(payment.key, instalment.seq, to_interest, to_principal))
            if left > 0:
                oldest_open += 1

    states = [
        InstalmentState(
            seq=instalment.seq,
            due_on=instalment.due_on,
            principal_due=instalment.principal,
            interest_due=instalment.interest,
            principal_paid=principal_paid[index],
            interest_paid=interest_paid[index],
        )
        for index, instalment in enumerate(schedule)
    ]
    return lines, states


def position(
    instalments: Sequence[InstalmentDue],
    payments: Iterable[Payment],
    *,
    as_of: date,
    grace_days: int = 0,
) -> LoanPosition:
    """The loan's position at the end of `as_of`, counting only payments dated on or before it.

    The caller has already dropped reversed payments.

    Consecutive missed periods (docs/domain.md §4): an instalment is missed when
    ``as_of > due_on + grace_days`` and it is not fully paid (interest and principal).
    Payments go to the oldest instalment first, so the missed instalments form one run and
    its length is the count. Once the last scheduled instalment is missed, each monthly
    anniversary of its due date on or before `as_of` (same day of month, or the month's
    last day) adds one more period, so a loan past maturity keeps ageing: a bullet loan
    due 2026-01-15 and unpaid has 0 missed periods on 01-15, 1 on 01-16, 2 on 02-15 and 3
    on 03-15. The anniversaries stop counting once the last instalment is paid.

    `days_past_due` runs from the due date (not the end of grace) of the oldest missed
    instalment; 0 when none is missed.
    """
    if grace_days < 0:
        raise ValueError(f"grace_days must not be negative, not {grace_days}")
    counted = [payment for payment in payments if payment.paid_on <= as_of]
    _, states = allocate(instalments, counted)
    grace = timedelta(days=grace_days)
    missed = [s for s in states if not s.is_paid and s.due_on + grace < as_of]

    missed_periods = len(missed)
    last = states[-1]
    if missed and missed[-1] is last:
        missed_periods += _monthly_anniversaries_passed(last.due_on, as_of)

    return LoanPosition(
        as_of=as_of,
        outstanding_principal=sum((s.outstanding_principal for s in states), ZERO),
        outstanding_total=sum((s.outstanding for s in states), ZERO),
        overdue_principal=sum((s.outstanding_principal for s in missed), ZERO),
        overdue_interest=sum((s.outstanding_interest for s in missed), ZERO),
        overdue_amount=sum((s.outstanding for s in missed), ZERO),
        days_past_due=(as_of - missed[0].due_on).days if missed else 0,
        consecutive_missed_periods=missed_periods,
        missed_seqs=tuple(s.seq for s in missed),
        paid_in_full=all(s.is_paid for s in states),
        instalments=tuple(states),
    )


def consecutive_missed_periods(
    instalments: Sequence[InstalmentDue],
    payments: Iterable[Payment],
    *,
    as_of: date,
    grace_days: int = 0,
) -> int:
    """连续违约期数 at the end of `as_of`; the rule is documented on `position`."""
    return position(
        instalments, payments, as_of=as_of, grace_days=grace_days
    ).consecutive_missed_periods


def _oldest_first(instalments: Sequence[InstalmentDue]) -> list[InstalmentDue]:
    if not instalments:
        raise ValueError("a loan's schedule has at least one instalment")
    seqs = [instalment.seq for instalment in instalments]
    if len(set(seqs)) != len(seqs):
        raise ValueError(f"instalment seqs must be unique: {sorted(seqs)}")
    for instalment in instalments:
        if instalment.principal < 0 or instalment.interest < 0:
            raise ValueError(f"instalment {instalment.seq} has a negative amount")
    return sorted(instalments, key=lambda instalment: (instalment.due_on, instalment.seq))


def _monthly_anniversaries_passed(last_due_on: date, as_of: date) -> int:
    """How many monthly anniversaries of `last_due_on` fall on or before `as_of`."""
    months = (as_of.year - last_due_on.year) * 12 + (as_of.month - last_due_on.month)
    if months > 0 and add_months(last_due_on, months, anchor_day=last_due_on.day) > as_of:
        months -= 1
    return max(months, 0)
