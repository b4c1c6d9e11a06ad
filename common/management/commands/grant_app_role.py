"""Give the portal's database role what it needs and no more (issue 16, hole 2).

    python manage.py grant_app_role daihou_app

Run as the owner of the tables after every `migrate` (docker-compose's `migrate` service
does both): the grants are per table, so a table a migration adds has none until this
runs again. `ALTER DEFAULT PRIVILEGES` would not do: it cannot tell an audit table from
an ordinary one.

* ordinary tables: SELECT, INSERT, UPDATE, DELETE (and MAINTAIN from PostgreSQL 17 on, so
  the import's and the night's ANALYZE statements run; before 17 they are skipped with a
  warning and autovacuum's analyze catches up);
* audit tables (every pghistory event table and `pghistory_context`): SELECT and INSERT
  only, plus UPDATE of a context's metadata for pghistory's upsert, which the context's
  trigger limits (common/migrations/0008_audit_append_only.py);
* `django_migrations`: SELECT; sequences: USAGE and SELECT;
* the schema: USAGE and CREATE (the dashboard's refresh makes and drops a work table).

The role must be no superuser and no member of the tables' owner, or the triggers that
keep the audit append-only would be its to drop or skip; the command refuses such a role.
"""

from __future__ import annotations

import pghistory.models
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from psycopg2 import sql

READ_ONLY_TABLES = {"django_migrations"}


def audit_tables() -> set[str]:
    """The tables the portal may only append to: every pghistory event table and contexts."""
    events = {
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, pghistory.models.Event)
        and model._meta.managed
        and not model._meta.proxy
    }
    return events | {pghistory.models.Context._meta.db_table}


def _schema_tables(cursor) -> list[str]:
    cursor.execute(
        """SELECT c.relname FROM pg_class c
           WHERE c.relnamespace = current_schema()::regnamespace
             AND c.relkind IN ('r', 'p', 'v', 'm')
           ORDER BY c.relname"""
    )
    return [name for (name,) in cursor.fetchall()]


class Command(BaseCommand):
    help = (
        "Grant a database role the portal's privileges: read-write on ordinary tables, "
        "insert-only on the audit tables. Run as the tables' owner after every migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="the role the portal connects as, e.g. daihou_app")

    def handle(self, *args, role: str, **options):
        audit = audit_tables()
        with transaction.atomic(), connection.cursor() as cursor:
            self._refuse_a_powerful_role(cursor, role, audit)
            tables = _schema_tables(cursor)
            missing = audit - set(tables)
            if missing:
                raise CommandError(f"audit tables missing (run migrate first): {sorted(missing)}")
            cursor.execute("SELECT current_setting('server_version_num')::int >= 170000")
            (has_maintain,) = cursor.fetchone()
            grantee = sql.Identifier(role)
            cursor.execute("SELECT current_schema(), current_database()")
            schema, database = cursor.fetchone()

            def grant(privileges: str, table: str) -> None:
                cursor.execute(
                    sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                        sql.SQL(privileges), sql.Identifier(table), grantee
                    )
                )

            # From nothing, so that a privilege granted by hand earlier does not linger.
            for statement in (
                "REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
                "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}",
                "GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}",
                "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
                "GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role}",
            ):
                cursor.execute(
                    sql.SQL(statement).format(
                        schema=sql.Identifier(schema),
                        database=sql.Identifier(database),
                        role=grantee,
                    )
                )
            for table in tables:
                if table in audit:
                    grant("SELECT, INSERT", table)
                elif table in READ_ONLY_TABLES:
                    grant("SELECT", table)
                else:
                    grant(
                        "SELECT, INSERT, UPDATE, DELETE" + (", MAINTAIN" if has_maintain else ""),
                        table,
                    )
            grant("UPDATE (metadata, updated_at)", pghistory.models.Context._meta.db_table)
        self.stdout.write(
            f"{role}: {len(tables) - len(audit)} tables read-write or read-only, "
            f"{len(audit)} audit tables insert-only"
        )

    def _refuse_a_powerful_role(self, cursor, role: str, audit: set[str]) -> None:
        cursor.execute("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = %s", [role])
        row = cursor.fetchone()
        if row is None:
            raise CommandError(f"no database role {role!r} (create it first, as a superuser)")
        if row[0] or row[1]:
            raise CommandError(f"{role} is a superuser or may create roles: refused")
        # A member of the owner's role may act as the owner: drop or disable the triggers.
        cursor.execute(
            """SELECT c.relname FROM pg_class c
               WHERE c.relnamespace = current_schema()::regnamespace
                 AND c.relname = ANY(%s) AND pg_has_role(%s, c.relowner, 'MEMBER')
               ORDER BY c.relname""",
            [sorted(audit), role],
        )
        owned = [name for (name,) in cursor.fetchall()]
        if owned:
            raise CommandError(f"{role} owns (or is a member of the owner of) {owned}: refused")
