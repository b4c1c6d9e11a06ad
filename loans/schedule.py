"""Repayment schedules (还款计划): pure arithmetic, no ORM.

A schedule is a list of instalments, each with a due date, a principal part and an
interest part, in CNY rounded to the fen (0.01, half up). Rounding remainders always go
to the last instalment, so the principal parts sum exactly to the loan's principal.

Rules shared by every method:

* monthly rate ``r = annual_rate_percent / 100 / 12``, kept at full Decimal precision;
  only the resulting amounts are rounded to the fen (half up);
* every instalment period counts one whole month of interest. The first period is not
  prorated by day count even if disbursement and the first due date are not one month
  apart: a deliberate simplification, the contract's schedule is what the borrower signs;
* instalments fall due monthly on the day of month of ``first_due_on``; a day the month
  lacks moves to that month's last day (Jan 31, Feb 28, Mar 31, Apr 30 …).

The four methods (docs/domain.md §3):

* ``bullet`` — 到期还本付息: one instalment due on ``first_due_on`` (the maturity date)
  with all the principal and the interest of the whole term, ``P * r * term_months``.
* ``equal_installment`` — 等额本息: a constant payment
  ``A = P·r·(1+r)^n / ((1+r)^n - 1)`` rounded to the fen; each period's interest is
  ``remaining * r`` and its principal ``A - interest``. The last instalment takes all the
  remaining principal (plus ``remaining * r``), so its total may differ from ``A`` by a
  few fen. At a zero rate the principal is split as for equal principal.
* ``equal_principal`` — 等额本金: principal part ``P / n`` truncated to the fen, the
  remainder on the last instalment; interest ``remaining * r``.
* ``interest_first`` — 先息后本: interest ``P * r`` every month, all the principal on the
  last instalment.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum

from common.money import FEN, ZERO, to_fen, to_fen_down

# Enough digits that (1 + r)^n for n up to a few hundred months keeps every fen exact.
_PRECISION = 50


class RepaymentMethod(StrEnum):
    BULLET = "bullet"  # 到期还本付息
    EQUAL_INSTALLMENT = "equal_installment"  # 等额本息
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金
    INTEREST_FIRST = "interest_first"  # 先息后本


@dataclass(frozen=True)
class ScheduledInstalment:
    seq: int  # 1-based
    due_on: date
    principal: Decimal
    interest: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest


def add_months(day: date, months: int, *, anchor_day: int | None = None) -> date:
    """The date `months` later (or earlier, if negative) on day `anchor_day` of the month.

    `anchor_day` defaults to ``day.day``; it exists so that a month-end series keeps its
    anchor after a short month: with anchor 31, Feb 28 + 1 month is Mar 31, not Mar 28.
    A day the target month lacks moves to its last day (Jan 31 + 1 month = Feb 28/29).
    """
    anchor = day.day if anchor_day is None else anchor_day
    if not 1 <= anchor <= 31:
        raise ValueError(f"anchor_day must be between 1 and 31, not {anchor}")
    year, month_index = divmod(day.year * 12 + (day.month - 1) + months, 12)
    month = month_index + 1
    return date(year, month, min(anchor, calendar.monthrange(year, month)[1]))


def monthly_due_dates(first_due_on: date, count: int) -> list[date]:
    """`count` monthly due dates starting on `first_due_on`, anchored on its day of month."""
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    return [add_months(first_due_on, k, anchor_day=first_due_on.day) for k in range(count)]


def generate_schedule(
    *,
    principal: Decimal,
    annual_rate_percent: Decimal,
    term_months: int,
    method: RepaymentMethod | str,
    first_due_on: date,
) -> list[ScheduledInstalment]:
    """The repayment schedule of a loan; see the module docstring for the rules.

    Raises ValueError on a principal that is not positive or has more than two decimals,
    a term under one month, a negative rate or an unknown method; TypeError on a float.
    """
    principal = _decimal("principal", principal)
    rate_percent = _decimal("annual_rate_percent", annual_rate_percent)
    if not principal.is_finite() or principal <= 0:
        raise ValueError(f"principal must be a positive amount, not {principal}")
    if principal != principal.quantize(FEN):
        raise ValueError(f"principal must be whole fen (at most 2 decimals), not {principal}")
    principal = principal.quantize(FEN)
    if isinstance(term_months, bool) or not isinstance(term_months, int) or term_months < 1:
        raise ValueError(f"term_months must be a whole number of at least 1, not {term_months!r}")
    if not rate_percent.is_finite() or rate_percent < 0:
        raise ValueError(f"annual_rate_percent must not be negative, not {rate_percent}")
    try:
        method = RepaymentMethod(method)
    except ValueError:
        choices = ", ".join(m.value for m in RepaymentMethod)
        raise ValueError(f"unknown repayment method {method!r} (one of: {choices})") from None

    with localcontext() as context:
        context.prec = _PRECISION
        monthly_rate = rate_percent / 100 / 12
        if method is RepaymentMethod.BULLET:
            interest = to_fen(principal * monthly_rate * term_months)
            return [ScheduledInstalment(1, first_due_on, principal, interest)]

        due_dates = monthly_due_dates(first_due_on, term_months)
        if method is RepaymentMethod.EQUAL_INSTALLMENT and monthly_rate > 0:
            parts = _equal_installment_parts(principal, monthly_rate, term_months)
        elif method is RepaymentMethod.INTEREST_FIRST:
            parts = _interest_first_parts(principal, monthly_rate, term_months)
        else:
            # Equal principal; also equal instalments at a zero rate, where the two agree.
            parts = _equal_principal_parts(principal, monthly_rate, term_months)

    return [
        ScheduledInstalment(seq, due_on, part_principal, part_interest)
        for seq, (due_on, (part_principal, part_interest)) in enumerate(
            zip(due_dates, parts, strict=True), start=1
        )
    ]


def _decimal(name: str, value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{name} must be a Decimal, not a float: binary fractions are not money")
    try:
        return Decimal(value)
    except ArithmeticError:
        raise ValueError(f"{name} is not a number: {value!r}") from None


def _equal_installment_parts(
    principal: Decimal, monthly_rate: Decimal, term: int
) -> list[tuple[Decimal, Decimal]]:
    growth = (1 + monthly_rate) ** term
    payment = to_fen(principal * monthly_rate * growth / (growth - 1))
    parts = []
    remaining = principal
    for seq in range(1, term + 1):
        interest = to_fen(remaining * monthly_rate)
        # Rounding can, in corner cases, push a principal part outside [0, remaining]; a
        # schedule must never lend money back nor repay more than is owed.
        part = remaining if seq == term else min(max(payment - interest, ZERO), remaining)
        parts.append((part, interest))
        remaining -= part
    return parts


def _equal_principal_parts(
    principal: Decimal, monthly_rate: Decimal, term: int
) -> list[tuple[Decimal, Decimal]]:
    part = to_fen_down(principal / term)
    parts = []
    remaining = principal
    for seq in range(1, term + 1):
        this_part = remaining if seq == term else part
        parts.append((this_part, to_fen(remaining * monthly_rate)))
        remaining -= this_part
    return parts


def _interest_first_parts(
    principal: Decimal, monthly_rate: Decimal, term: int
) -> list[tuple[Decimal, Decimal]]:
    interest = to_fen(principal * monthly_rate)
    return [(principal if seq == term else ZERO, interest) for seq in range(1, term + 1)]
