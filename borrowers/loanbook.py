"""What borrowers needs to know of the loans above it, asked through one registered hook.

borrowers sits below loans (README, Architecture) and imports nothing of it. Yet its book
rule is written in loans (an officer's borrowers are the borrowers of the loans they manage
or originated), a borrower's limit depends on what they still owe, and a borrower's and a
group's page list their loans. Those few questions are this protocol; the loans app answers
them with its own selectors, registered at start-up (`LoansConfig.ready`), so each stays
written once, in loans, and borrowers asks for it by name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet


class LoanBook(Protocol):
    def loans_visible_to(self, user) -> QuerySet: ...

    def loans_actionable_by(self, user) -> QuerySet: ...

    def loans_managed_by_others(self, user) -> QuerySet: ...

    def outstanding_by_borrower(self, borrower_ids) -> dict[int, Decimal]: ...

    def with_balances(self, queryset: QuerySet) -> QuerySet: ...

    def active_products(self) -> QuerySet: ...

    def products_for_groups(self) -> QuerySet: ...


_book: LoanBook | None = None


def provide(book: LoanBook) -> None:
    """Called once by the loans app when Django starts."""
    global _book
    _book = book


def loan_book() -> LoanBook:
    if _book is None:
        raise ImproperlyConfigured(
            "The loans app provides the loan book: add it to INSTALLED_APPS."
        )
    return _book
