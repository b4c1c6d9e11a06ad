"""The seam to the work planned from a loan: a loan's change re-plans its inspections.

loans sits below postloan and imports nothing from it: a service that changes a loan (its
booking, a status change, the first contact) calls replan(), which sends loans_changed
(postloan/seams.py listens). replanning_deferred() gathers the changes of a long set-up into
one signal at its end. Its own module because both the booking (loans/booking.py) and the
other loan services (loans/services.py) use it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from loans.models import Loan
from loans.signals import loans_changed

_deferred_replans: ContextVar[set[int] | None] = ContextVar("deferred_replans", default=None)


def replan(loan: Loan) -> None:
    """Let the work planned from the loan (its inspections) follow a change at once."""
    deferred = _deferred_replans.get()
    if deferred is not None:
        deferred.add(loan.pk)
        return
    loans_changed.send(sender=Loan, loan_ids=[loan.pk])


@contextlib.contextmanager
def replanning_deferred() -> Iterator[None]:
    """Plan the loans changed inside the block once, together, when it ends without error.

    For set-ups that book or change hundreds of loans in a row (the demo book): one
    set-based planning run instead of one per change. The plan is the one the loans would
    have at the end anyway, except for inspections an earlier state would have planned and
    a later change cancelled (a loan booked and settled inside the block gets none).
    """
    loans: set[int] = set()
    token = _deferred_replans.set(loans)
    try:
        yield
    finally:
        _deferred_replans.reset(token)
    if loans:
        loans_changed.send(sender=Loan, loan_ids=sorted(loans))
