"""Loading many rows at once: indexes and foreign keys built after the rows, not per row.

PostgreSQL's own advice for populating a database ("Populating a Database" in its manual:
remove indexes, remove foreign key constraints) applied inside one transaction: the
indexes and the foreign keys of the tables being filled are dropped, the rows written,
and every index and key re-created under its own name and definition before the
transaction ends. A re-created foreign key is checked in one pass over the table (a hash
anti-join) instead of one lookup and row lock per inserted row, and an index is built by
one sort instead of millions of insertions; if any row breaks a key or a unique index the
statement that re-creates it fails and the whole transaction rolls back, so nothing
weaker than the schema ever commits.

The price is the lock: dropping an index or a foreign key takes an ACCESS EXCLUSIVE lock on
the table (and, for a key, on the table it points to) until the transaction ends, so
other sessions' reads of those tables wait for the load. Callers use this for first loads
(docs/decisions.md), and never for a key that points to a table everyone reads at every
request (the users table): such keys and what they point to are left in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# Keys to these tables stay: dropping one would lock the table it points to, and every
# request reads the users table.
NEVER_LOCKED = frozenset({"auth_user", "auth_group", "django_content_type"})


@dataclass(frozen=True)
class Dropped:
    table: str
    name: str
    kind: str  # "index", "key" (primary / unique constraint) or "foreign key"
    definition: str

    def recreate_sql(self) -> str:
        if self.kind == "index":
            return self.definition
        return f'ALTER TABLE "{self.table}" ADD CONSTRAINT "{self.name}" {self.definition}'


def droppable(cursor, tables: Iterable[str], *, keep: Iterable[str] = ()) -> list[Dropped]:
    """What `deferred_indexes_and_keys` would drop from `tables`, in re-creation order.

    Kept: whatever `keep` names (an index or constraint an upsert's ON CONFLICT needs), a
    foreign key to a table outside `tables` that is in NEVER_LOCKED, and a primary or
    unique key that a kept foreign key (of any table) depends on.
    """
    tables, keep = list(tables), set(keep)
    cursor.execute(
        """SELECT c.conrelid::regclass::text, c.conname, c.contype,
                  pg_get_constraintdef(c.oid), c.confrelid::regclass::text, c.conindid
           FROM pg_constraint c
           WHERE c.conrelid = ANY (%s::regclass[]) AND c.contype IN ('p', 'u', 'f')
           ORDER BY c.conrelid::regclass::text, c.conname""",
        [tables],
    )
    constraints = cursor.fetchall()
    # Foreign keys anywhere in the database that point into `tables`: the keys they rely
    # on must stay unless the foreign key itself is dropped.
    cursor.execute(
        """SELECT c.conrelid::regclass::text, c.conname, c.conindid
           FROM pg_constraint c
           WHERE c.contype = 'f' AND c.confrelid = ANY (%s::regclass[])""",
        [tables],
    )
    pointing_in = cursor.fetchall()

    foreign = [
        Dropped(table, name, "foreign key", definition)
        for table, name, kind, definition, target, _index in constraints
        if kind == "f" and name not in keep and target not in NEVER_LOCKED
    ]
    dropped_fks = {(f.table, f.name) for f in foreign}
    needed_indexes = {
        index for table, name, index in pointing_in if (table, name) not in dropped_fks
    }
    keys = [
        Dropped(table, name, "key", definition)
        for table, name, kind, definition, _target, index in constraints
        if kind in ("p", "u") and name not in keep and index not in needed_indexes
    ]
    cursor.execute(
        """SELECT t.relname, i.relname, pg_get_indexdef(i.oid)
           FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid
           JOIN pg_class t ON t.oid = x.indrelid
           WHERE x.indrelid = ANY (%s::regclass[])
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid
                                                              AND c.conrelid = x.indrelid)
           ORDER BY t.relname, i.relname""",
        [tables],
    )
    indexes = [
        Dropped(table, name, "index", definition)
        for table, name, definition in cursor.fetchall()
        if name not in keep
    ]
    return [*keys, *indexes, *foreign]


@contextmanager
def deferred_indexes_and_keys(
    cursor, tables: Iterable[str], *, keep: Iterable[str] = ()
) -> Iterator[list[Dropped]]:
    """Within a transaction: drop the tables' indexes and keys, run the body, re-create them.

    If the body raises, nothing is re-created: the caller's transaction is rolling back and
    takes the drops back with it. A table with key checks still pending cannot be altered,
    so the transaction's deferred checks are run first (and constraints stay immediate).
    """
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    dropped = droppable(cursor, tables, keep=keep)
    for item in reversed(dropped):  # foreign keys before the keys they rely on
        if item.kind == "index":
            cursor.execute(f'DROP INDEX "{item.name}"')
        else:
            cursor.execute(f'ALTER TABLE "{item.table}" DROP CONSTRAINT "{item.name}"')
    yield dropped
    # Index builds sort in memory up to this much, per build (the default 64 MB spills).
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for item in dropped:
        cursor.execute(item.recreate_sql())
