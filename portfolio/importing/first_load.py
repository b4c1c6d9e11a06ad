"""A first load: an import that fills an (almost) empty portal builds its tables' indexes
and keys after its rows (common.bulkload) instead of checking them row by row."""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from common.bulkload import deferred_indexes_and_keys
from portfolio.importing.results import ImportResult

# A first load (see first_load): these tables' indexes and keys are built after the rows.
FIRST_LOAD_TABLES = (
    "borrowers_borrower",
    "borrowers_borrowerevent",
    "borrowers_guarantor",
    "borrowers_guarantorevent",
    "borrowers_guarantee",
    "borrowers_guaranteeevent",
    "loans_loan",
    "loans_loanevent",
    "loans_instalment",
    "loans_repayment",
    "loans_repaymentevent",
    "loans_allocation",
)
# What an ON CONFLICT clause of the writes needs while they run (joint-group guarantees).
FIRST_LOAD_KEEP = ("one_active_guarantee_per_loan_and_guarantor",)


def first_load(cursor, result: ImportResult, *, new: int):
    """A first load builds its tables' indexes and keys after its rows (common.bulkload).

    It is one when the import creates at least settings.DAIHOU_IMPORT_FIRST_LOAD_MIN_LOANS loans
    and at least as many as the portal already holds: re-checking every key in one pass then
    costs at most about twice the rows written, against one lookup and lock per row (at
    100,000 loans, 7 million of them). Until it commits, such an import keeps other
    sessions from reading the borrower, loan and ledger tables (docs/decisions.md).
    """
    cursor.execute("SELECT COUNT(*) FROM loans_loan")
    existing = cursor.fetchone()[0]
    if new < settings.DAIHOU_IMPORT_FIRST_LOAD_MIN_LOANS or new < existing:
        return contextlib.nullcontext()
    result.notes.append(
        str(
            _(
                "First load (%(count)s new loans): the indexes and keys of the borrower and "
                "loan tables are built after the rows; other users' pages wait until the "
                "import ends."
            )
            % {"count": new}
        )
    )
    return deferred_indexes_and_keys(cursor, FIRST_LOAD_TABLES, keep=FIRST_LOAD_KEEP)
