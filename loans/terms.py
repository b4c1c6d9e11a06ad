"""What a loan's terms may be: the product's ranges, the dates, an explicit schedule.

Pure checks, no queries: each returns the problems as translated messages (by field for the
terms) for the caller to raise; the booking (loans/booking.py) raises them with its own,
the other services check amounts with has_fen_precision. default_first_due_on is the one
rule for a loan's first due date when none is given (the booking and the import use it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from itertools import pairwise

from django.utils.translation import gettext_lazy as _

from common.money import ZERO, format_cny
from loans.models import LoanProduct, RepaymentMethod
from loans.schedule import ScheduledInstalment, add_months


def has_fen_precision(value: Decimal) -> bool:
    """Whether an amount has at most two decimals: money is counted in fen."""
    return value == value.quantize(Decimal("0.01"))


def validate_loan_terms(
    *,
    product: LoanProduct,
    principal: Decimal | None,
    annual_rate: Decimal | None,
    term_months: int | None,
    repayment_method: str,
    disbursed_on: date | None,
    first_due_on: date | None,
    today: date,
) -> dict[str, list]:
    """The product's ranges and the dates, as field errors (empty when all is well)."""
    errors: dict[str, list] = {}

    def add(field, message):
        errors.setdefault(field, []).append(message)

    if principal is not None:
        if principal <= 0:
            add("principal", _("The principal must be above zero."))
        elif not has_fen_precision(principal):
            add("principal", _("Amounts have at most two decimals (fen)."))
        elif not product.amount_min <= principal <= product.amount_max:
            add(
                "principal",
                _("%(product)s lends between %(min)s and %(max)s.")
                % {
                    "product": product.name,
                    "min": format_cny(product.amount_min),
                    "max": format_cny(product.amount_max),
                },
            )
    if annual_rate is not None and not product.rate_min <= annual_rate <= product.rate_max:
        add(
            "annual_rate",
            _("%(product)s charges between %(min)s%% and %(max)s%% a year.")
            % {"product": product.name, "min": product.rate_min, "max": product.rate_max},
        )
    if term_months is not None and not product.term_min <= term_months <= product.term_max:
        add(
            "term_months",
            _("%(product)s runs from %(min)d to %(max)d months.")
            % {"product": product.name, "min": product.term_min, "max": product.term_max},
        )
    if repayment_method not in RepaymentMethod.values:
        add("repayment_method", _("Choose one of the repayment methods."))
    elif not product.allows_method(repayment_method):
        add(
            "repayment_method",
            _("%(product)s does not offer this repayment method.") % {"product": product.name},
        )
    if disbursed_on and disbursed_on > today:
        add("disbursed_on", _("Only loans already paid out are booked: not a future date."))
    if disbursed_on and first_due_on and first_due_on <= disbursed_on:
        add("first_due_on", _("The first due date must come after the disbursement."))
    return errors


def default_first_due_on(disbursed_on: date, method: str, term_months: int) -> date:
    """One month after disbursement; for a bullet loan the maturity."""
    months = term_months if method == "bullet" else 1
    return add_months(disbursed_on, months)


def validate_explicit_schedule(
    rows: Sequence[ScheduledInstalment], *, principal: Decimal, disbursed_on: date
) -> list:
    """The problems of a schedule given row by row (empty when all is well)."""
    problems = []
    if not rows:
        return [_("The schedule has no instalments.")]
    if [r.seq for r in rows] != list(range(1, len(rows) + 1)):
        problems.append(_("Instalments must be numbered 1, 2, 3, … without gaps."))
    dates = [r.due_on for r in rows]
    if any(b <= a for a, b in pairwise(dates)):
        problems.append(_("Due dates must strictly increase."))
    if dates[0] <= disbursed_on:
        problems.append(_("The first due date must come after the disbursement."))
    if any(r.principal < 0 or r.interest < 0 for r in rows):
        problems.append(_("Amounts cannot be negative."))
    total = sum((r.principal for r in rows), ZERO)
    if total != principal:
        problems.append(
            _("The instalments' principal adds up to %(total)s, not the loan's %(principal)s.")
            % {"total": format_cny(total), "principal": format_cny(principal)}
        )
    return problems
