"""common.bulkload: indexes and keys dropped for a load and re-created, every one, after it;
a row that breaks a key refuses the load; keys to the users table and keys other tables
rely on stay in place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from common.bulkload import deferred_indexes_and_keys, droppable
from loans.models import Instalment
from tests.factories import book_loan
from tests.portfolio.test_import import schema_of

TABLES = ("loans_loan", "loans_instalment", "loans_repayment", "loans_allocation")


def names(items, kind):
    return {item.name for item in items if item.kind == kind}


def test_what_is_dropped_and_what_stays(db):
    with connection.cursor() as cursor:
        dropped = droppable(cursor, TABLES, keep=["repayment_reference_unique_per_loan"])
    foreign = names(dropped, "foreign key")
    # Keys between the loaded tables, and to borrowers, go; keys to the users table stay.
    assert any(n.startswith("loans_instalment_loan_id_") for n in foreign)
    assert any(n.startswith("loans_allocation_repayment_id_") for n in foreign)
    assert any(n.startswith("loans_loan_borrower_id_") for n in foreign)
    assert not any("officer_id" in n or "recorded_by" in n for n in foreign)
    keys = names(dropped, "key")
    # The instalment's primary key only serves the allocation's key, which is dropped; the
    # loan's serves keys of tables outside the load, so it stays; `keep` is kept.
    assert {"loans_instalment_pkey", "instalment_unique_seq"} <= keys
    assert "loans_loan_pkey" not in keys
    assert "repayment_reference_unique_per_loan" not in keys
    assert "repayment_paid_on" in names(dropped, "index")
    # Re-created keys first, then indexes, then the foreign keys that need the keys.
    kinds = [item.kind for item in dropped]
    assert kinds == sorted(kinds, key=["key", "index", "foreign key"].index)


def test_the_load_ends_with_every_index_and_key_as_before(borrower, officer):
    loan = book_loan(borrower=borrower, officer=officer)
    before = schema_of(TABLES)
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        deferred_indexes_and_keys(cursor, TABLES) as dropped,
    ):
        assert dropped
        assert schema_of(TABLES) != before
        Instalment.objects.create(
            loan=loan,
            seq=99,
            due_on=timezone.localdate() + timedelta(days=999),
            principal_due=1,
            interest_due=0,
        )
    assert schema_of(TABLES) == before
    assert loan.instalments.filter(seq=99).exists()


@pytest.mark.parametrize("breach", ["missing loan", "duplicate seq"])
def test_a_row_that_breaks_a_key_refuses_the_load(borrower, officer, breach):
    loan = book_loan(borrower=borrower, officer=officer)
    before = schema_of(TABLES)
    count = Instalment.objects.count()
    with (
        pytest.raises(IntegrityError),
        transaction.atomic(),
        connection.cursor() as cursor,
        deferred_indexes_and_keys(cursor, TABLES),
    ):
        cursor.execute(
            """INSERT INTO loans_instalment (loan_id, seq, due_on, principal_due,
                       interest_due, principal_paid, interest_paid)
                   VALUES (%s, 1, CURRENT_DATE, 1, 0, 0, 0)""",
            [loan.pk + 1000 if breach == "missing loan" else loan.pk],
        )
    # Rolled back: the row is gone and the schema is whole.
    assert Instalment.objects.count() == count
    assert schema_of(TABLES) == before
