"""The audit trail cannot be wiped (issue 16, hole 2).

pghistory's `append_only` triggers refuse UPDATE and DELETE on the event tables, but not
TRUNCATE (a row trigger never sees it), and nothing guarded `pghistory_context`, the
rows that say who (user) and where (URL, command, task) each event came from. Here:

* every event table and `pghistory_context` refuse TRUNCATE (a statement trigger);
* `pghistory_context` refuses DELETE, and refuses UPDATE except the two that pghistory
  itself makes. pghistory writes a context with an upsert from the event triggers
  (`_pgh_attach_context`: `INSERT … ON CONFLICT (id) DO UPDATE SET metadata = …`) each
  time a tracked change runs while the context's metadata differs from the stored row:

  - within the transaction that wrote the row, anything goes: the row is not history
    yet (nobody else sees it, and a rollback would take it away). "Written by this
    transaction" is read from the row's `xmin`, which a client cannot forge; a row
    written inside a savepoint carries the savepoint's own transaction id, so the test
    is PostgreSQL's `pg_xact_status(...) = 'in progress'` of that id, true for the
    current transaction and its subtransactions only (a row of another transaction
    still in progress is never the old row of an UPDATE: PostgreSQL waits for it);
  - a later transaction of the same context (a request or task spans several) may only
    add to the metadata (`NEW.metadata @> OLD.metadata`, same id and created_at): a
    nested context adds its keys (a command's import adds `portfolio_import`), but a
    recorded user, URL or command is never changed or removed.

  Allowing only the first would break pghistory's upsert whenever a context's metadata
  grows after an earlier commit; allowing any upsert-shaped UPDATE would let a client
  set `pghistory.context_id` to an old context and rewrite who. The one flow refused is
  changing a key already recorded by an earlier transaction of the same context, which
  nothing in the portal does.

Superusers are refused too: the test suite's flushes, which TRUNCATE every table, set
`session_replication_role = replica` first (superuser only; tests/conftest.py). The
production role is no superuser, owns no table and has only SELECT and INSERT on these
tables (`manage.py grant_app_role`), so it can neither skip nor drop these triggers.

The event tables are read from the models, so each one that exists now is covered; a
later event model's migration calls `protect_event_tables` the same way, and
tests/common/test_audit_append_only.py fails for an event table without the trigger.
"""

from django.db import migrations

TRUNCATE_TRIGGER = "audit_no_truncate"
CONTEXT_TRIGGER = "audit_context_append_only"

FUNCTIONS_SQL = """
CREATE FUNCTION audit_refuse_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    RAISE EXCEPTION 'audit table % is append-only: TRUNCATE refused', TG_TABLE_NAME;
END $$;

CREATE FUNCTION audit_guard_context() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.created_at = OLD.created_at AND (
        NEW.metadata @> OLD.metadata
        -- OLD.xmin widened to 64 bits: age() is its distance from the current
        -- transaction's id (negative for this transaction's savepoints)
        OR pg_xact_status(
            (pg_current_xact_id()::text::bigint - age(OLD.xmin))::text::xid8
        ) = 'in progress'
    ) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP;
END $$;
"""

DROP_FUNCTIONS_SQL = """
DROP FUNCTION audit_guard_context();
DROP FUNCTION audit_refuse_truncate();
"""

CONTEXT_SQL = f"""
CREATE TRIGGER {CONTEXT_TRIGGER} BEFORE UPDATE OR DELETE ON pghistory_context
    FOR EACH ROW EXECUTE FUNCTION audit_guard_context();
CREATE TRIGGER {TRUNCATE_TRIGGER} BEFORE TRUNCATE ON pghistory_context
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate();
"""

DROP_CONTEXT_SQL = f"""
DROP TRIGGER {TRUNCATE_TRIGGER} ON pghistory_context;
DROP TRIGGER {CONTEXT_TRIGGER} ON pghistory_context;
"""

EVENT_FIELDS = {"pgh_id", "pgh_created_at", "pgh_label"}


def event_tables(apps) -> list[str]:
    """The tables of the pghistory event models (their pgh_* fields mark them; the
    historical models of a migration are not subclasses of pghistory's Event)."""
    return sorted(
        model._meta.db_table
        for model in apps.get_models()
        if model._meta.managed
        and not model._meta.proxy
        and EVENT_FIELDS.issubset(field.name for field in model._meta.get_fields())
    )


def protect_event_tables(apps, schema_editor):
    quote = schema_editor.quote_name
    for table in event_tables(apps):
        schema_editor.execute(
            f"CREATE OR REPLACE TRIGGER {TRUNCATE_TRIGGER} BEFORE TRUNCATE ON {quote(table)} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate()"
        )


def unprotect_event_tables(apps, schema_editor):
    quote = schema_editor.quote_name
    for table in event_tables(apps):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRUNCATE_TRIGGER} ON {quote(table)}")


class Migration(migrations.Migration):
    dependencies = [
        ("common", "0007_submission_keys"),
        ("borrowers", "0005_statement_level_history"),
        ("loans", "0006_leaner_ledger_indexes"),
        ("postloan", "0015_night_chain"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [
        migrations.RunSQL(FUNCTIONS_SQL, DROP_FUNCTIONS_SQL),
        migrations.RunSQL(CONTEXT_SQL, DROP_CONTEXT_SQL),
        migrations.RunPython(protect_event_tables, unprotect_event_tables),
    ]
