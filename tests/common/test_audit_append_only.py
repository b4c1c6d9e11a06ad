"""The audit trail cannot be wiped (issue 16, hole 2): no TRUNCATE of an event table, no
UPDATE, DELETE or TRUNCATE of the contexts (who, which URL), and a portal role that can
only append to them and cannot turn the guards off."""

from __future__ import annotations

import io
import uuid

import pghistory
import pghistory.models
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from common.management.commands.grant_app_role import audit_tables
from common.models import (
    BusinessSettings,
    BusinessSettingsEvent,
    CalendarOverride,
    CalendarOverrideEvent,
    UserEvent,
)

REFUSED = "P0001"  # the triggers' RAISE EXCEPTION
PERMISSION_DENIED = "42501"


def _attempt(statement: str) -> str | None:
    """Runs `statement` in a savepoint; the SQLSTATE it failed with, None if it passed."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    except DatabaseError as error:
        return error.__cause__.pgcode
    return None


def _context(event) -> dict:
    return pghistory.models.Context.objects.get(id=event.pgh_context_id).metadata


def _settings_events():
    return BusinessSettingsEvent.objects.order_by("pgh_id")


# --- Event tables -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE common_userevent",
        "TRUNCATE common_userevent CASCADE",
        "TRUNCATE loans_loanevent, common_userevent RESTART IDENTITY",
    ],
)
def test_truncating_an_event_table_is_refused_and_keeps_the_rows(officer, statement):
    before = UserEvent.objects.filter(pgh_obj_id=officer.pk).count()
    assert before
    assert _attempt(statement) == REFUSED
    assert UserEvent.objects.filter(pgh_obj_id=officer.pk).count() == before


@pytest.mark.django_db
def test_every_event_table_and_the_contexts_have_the_guards():
    # given every pghistory event table the models declare (a new one must be covered too)
    context = pghistory.models.Context._meta.db_table
    events = audit_tables() - {context}
    assert "common_userevent" in events and len(events) > 20
    # when the catalog is asked which enabled triggers refuse what
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
               WHERE NOT t.tgisinternal AND t.tgenabled = 'O'
                 AND t.tgname IN ('audit_no_truncate', 'audit_context_append_only')
                 -- BEFORE (2) and TRUNCATE (32), or BEFORE ROW (3) UPDATE (16) DELETE (8)
                 AND t.tgtype IN (2 | 32, 3 | 16 | 8)"""
        )
        triggers = set(cursor.fetchall())
    # then each refuses TRUNCATE, and the contexts refuse UPDATE and DELETE as well
    without = {
        table for table in events | {context} if (table, "audit_no_truncate") not in triggers
    }
    assert not without, (
        f"event tables without the TRUNCATE guard: {sorted(without)}; add a migration that "
        "runs protect_event_tables from common/migrations/0008_audit_append_only.py"
    )
    assert (context, "audit_context_append_only") in triggers


# --- Contexts: who and which URL ----------------------------------------------------------------


@pytest.fixture
def committed_context(transactional_db):
    """A change made in a request's context and committed: the context is history now."""
    with pghistory.context(user=7, url="/admin/common/businesssettings/1/change/"):
        BusinessSettings.objects.update_or_create(pk=1, defaults={"max_active_guarantees": 4})
    return _context(_settings_events().last())


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE pghistory_context SET metadata = '{}'",
        """UPDATE pghistory_context SET metadata = jsonb_set(metadata, '{user}', '1')""",
        """UPDATE pghistory_context SET metadata = metadata - 'url'""",
        "UPDATE pghistory_context SET created_at = created_at - interval '1 day'",
        "DELETE FROM pghistory_context",
        "TRUNCATE pghistory_context",
        "TRUNCATE pghistory_context, common_businesssettingsevent",
    ],
)
def test_a_recorded_context_cannot_be_changed_or_removed(committed_context, statement):
    assert _attempt(statement) == REFUSED
    assert _context(_settings_events().last()) == committed_context


def test_even_pghistorys_own_upsert_cannot_change_what_an_earlier_transaction_recorded(
    committed_context,
):
    # given the committed context's id, as a client could read it
    event = _settings_events().last()
    # when a later transaction claims that context with another user and makes a change
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pghistory.context_id', %s, false), "
            "set_config('pghistory.context_metadata', %s, false)",
            [str(event.pgh_context_id), '{"user": 1, "url": "/elsewhere/"}'],
        )
    try:
        with pytest.raises(DatabaseError, match="append-only"):
            BusinessSettings.objects.filter(pk=1).update(max_active_guarantees=5)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET pghistory.context_id; RESET pghistory.context_metadata")
    # then the context still names who made the change
    assert _context(event) == committed_context
    assert BusinessSettings.objects.get(pk=1).max_active_guarantees == 4


def test_audited_changes_in_nested_atomic_blocks_record_their_events_and_context(
    transactional_db, officer
):
    calendar_day = "2026-10-08"
    with pghistory.context(user=officer.pk, url="/admin/common/businesssettings/1/change/"):
        # given changes in savepoints of one transaction, the context's metadata changing
        # between them (the context row is written inside the first savepoint)
        with transaction.atomic():
            with transaction.atomic():
                BusinessSettings.objects.update_or_create(
                    pk=1, defaults={"max_active_guarantees": 2}
                )
            with transaction.atomic(), transaction.atomic():
                pghistory.context(url="/admin/common/businesssettings/1/change/?again")
                BusinessSettings.objects.filter(pk=1).update(max_active_guarantees=3)
        # and a later transaction of the same context that adds to the metadata
        with transaction.atomic():
            pghistory.context(command="import_portfolio book.xlsx")
            CalendarOverride.objects.create(day=calendar_day, is_working_day=True)

    events = list(_settings_events().values_list("max_active_guarantees", "pgh_context_id"))
    assert [guarantees for guarantees, _ in events[-2:]] == [2, 3]
    override = CalendarOverrideEvent.objects.get(day=calendar_day)
    # then every change is recorded, under one context holding all that was said
    assert {context for _, context in events[-2:]} == {override.pgh_context_id}
    assert _context(override) == {
        "user": officer.pk,
        "url": "/admin/common/businesssettings/1/change/?again",
        "command": "import_portfolio book.xlsx",
    }


# --- The portal's database role -----------------------------------------------------------------


@pytest.fixture
def app_role(db):
    """A role as production's `daihou_app`, made by the grant command; gone with the test's
    transaction (CREATE ROLE is transactional)."""
    role = f"daihou_app_test_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOCREATEROLE')
    call_command("grant_app_role", role, stdout=io.StringIO())
    return role


@pytest.fixture
def as_app_role(app_role, officer):
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{app_role}"')
    try:
        yield app_role
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


@pytest.mark.django_db
def test_the_app_role_writes_ordinary_rows_and_their_history(as_app_role):
    with pghistory.context(user=1, url="/admin/common/calendaroverride/add/"):
        with transaction.atomic():
            override = CalendarOverride.objects.create(day="2026-10-09", is_working_day=True)
        with transaction.atomic():
            pghistory.context(note="corrected")
            override.note = "State Council notice"
            override.save()
    events = CalendarOverrideEvent.objects.filter(pgh_obj_id=override.pk)
    assert list(events.order_by("pgh_id").values_list("pgh_label", "note")) == [
        ("insert", ""),
        ("update", "State Council notice"),
    ]
    assert _context(events.last())["note"] == "corrected"
    override.delete()
    assert not CalendarOverride.objects.filter(pk=override.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE common_userevent SET first_name = 'forged'",
        "DELETE FROM common_userevent",
        "TRUNCATE common_userevent",
        "UPDATE pghistory_context SET created_at = now()",
        "DELETE FROM pghistory_context",
        "TRUNCATE pghistory_context",
        "DROP TRIGGER audit_no_truncate ON common_userevent",
        "DROP TRIGGER audit_context_append_only ON pghistory_context",
        "ALTER TABLE common_userevent DISABLE TRIGGER ALL",
        "DROP FUNCTION audit_guard_context() CASCADE",
        "SET session_replication_role = replica",
        "DELETE FROM django_migrations",
    ],
)
def test_the_app_role_cannot_wipe_the_audit_or_turn_its_guards_off(as_app_role, statement):
    assert _attempt(statement) == PERMISSION_DENIED
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
    assert UserEvent.objects.exists()


@pytest.mark.django_db
def test_the_grant_command_refuses_a_superuser():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (superuser,) = cursor.fetchone()
    with pytest.raises(CommandError, match="superuser"):
        call_command("grant_app_role", superuser)
