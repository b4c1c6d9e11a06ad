"""The import: one transaction in three passes (format and staging, references and totals,
writes), then the classification as of the cut-over date and that month's inspections."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pghistory
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portfolio.importing.checks import run_checks
from portfolio.importing.first_load import first_load
from portfolio.importing.format import TABLE_ORDER
from portfolio.importing.ledger_writes import write_ledger
from portfolio.importing.reading import open_source
from portfolio.importing.resolve import resolve
from portfolio.importing.results import Errors, ImportFailed, ImportResult, TableCount
from portfolio.importing.staging import STAGING_INDEXES, create_staging, stage, stage_schedules
from portfolio.importing.writes import (
    new_loans,
    write_collateral,
    write_dimensions,
    write_groups,
    write_guarantees,
    write_handovers,
    write_loans,
    write_parties,
)
from postloan.inspections.planning import schedule_inspections
from postloan.risk.nightly import RunInProgress, classify_portfolio, latest_state_date

IMPORT_LOCK = 0x1A90_27F1


def import_portfolio(
    path: Path | str,
    *,
    dry_run: bool = False,
    as_of: date | None = None,
    label: str | None = None,
    classify: bool = True,
) -> ImportResult:
    """Import the book at `path` (a folder of CSV files or an .xlsx workbook), as it stood
    at the end of `as_of` (the cut-over date; default today).

    Nothing is written when any row has an error, nor on a dry run (which does all the
    work and rolls back, so its counts are those of the real import). After a real import
    the portfolio is classified as of `as_of` and that month's inspections planned.
    """
    started = time.monotonic()
    as_of = as_of or timezone.localdate()
    result = ImportResult(dry_run=dry_run, as_of=as_of)
    errors = Errors(result)
    problem = cut_over_problem(as_of)
    if problem:
        errors.add(label or Path(path).name, None, "", problem)
        return result
    sheets = open_source(path, errors, label=label)
    labels = {sheet.table: sheet.label for sheet in sheets}
    # The audit context names the import (within a command's or a request's, if any). It
    # also keeps the audit triggers cheap: without a context each row's trigger raises and
    # catches an error, whose subtransaction abort scans every pending trigger event.
    with pghistory.context(portfolio_import=label or Path(path).name):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                _import(cursor, sheets, labels, errors, result, as_of=as_of, dry_run=dry_run)
        except ImportFailed:
            pass
    if result.ok and not dry_run and classify:
        result.classification = _classify(as_of, result)
    result.seconds = time.monotonic() - started
    return result


def cut_over_problem(as_of: date) -> str | None:
    """Why the files cannot be the book as it stood at the end of `as_of`, or None: the
    book of a day that is not over yet is not known."""
    today = timezone.localdate()
    if as_of > today:
        return str(
            _(
                "The cut-over date %(date)s is in the future: give today (%(today)s) or an "
                "earlier day."
            )
            % {"date": as_of.isoformat(), "today": today.isoformat()}
        )
    return None


def _import(cursor, sheets, labels, errors: Errors, result: ImportResult, *, as_of, dry_run):
    # One import at a time: two imports of the same refs would race on the checks.
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK])
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '128MB'")
    create_staging(cursor)
    present: dict[str, set[str]] = {name: set() for name in TABLE_ORDER}
    for sheet in sheets:
        rows, present[sheet.table] = stage(cursor, sheet, errors, as_of)
        result.counts[sheet.table] = TableCount(rows=rows)
    for statement in STAGING_INDEXES:
        cursor.execute(statement)
    stage_schedules(cursor, has_schedule_table="schedule" in labels)
    for name in TABLE_ORDER:
        cursor.execute(f"ANALYZE imp_{name}")
    resolve(cursor, present, as_of)
    run_checks(cursor, labels, errors, as_of)
    if errors:
        raise ImportFailed
    try:
        with transaction.atomic():
            # Foreign keys checked statement by statement, not millions of them queued
            # for the commit.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            with first_load(cursor, result, new=new_loans(cursor)):
                write_dimensions(cursor, present, result)
                write_parties(cursor, present, result, as_of)
                write_groups(cursor, present, result)
                write_loans(cursor, present, result, as_of)
                write_ledger(cursor, present, result, as_of)
                write_guarantees(cursor, present, result)
                write_collateral(cursor, present, result)
                write_handovers(cursor, result, as_of)
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    except DatabaseError as error:
        # A rule the checks above missed, caught by a database constraint.
        errors.add(
            "",
            None,
            "",
            _("The database refused the import: %(error)s")
            % {"error": str(error).strip().splitlines()[0]},
        )
        raise ImportFailed from error
    if dry_run:
        transaction.set_rollback(True)


def _classify(as_of: date, result: ImportResult):
    """Classify the portfolio as of the cut-over date, so the dashboard is right at once, and
    plan that month's inspections; the nightly run catches up from there."""
    # The import may have changed these tables more than autovacuum has seen yet: without
    # fresh statistics the planning's anti-joins were planned for empty tables (measured:
    # 37 s instead of 0.6 s on a re-import of 100,000 loans).
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE loans_loan, loans_instalment, loans_repayment, loans_collateral, "
            "borrowers_guarantee, postloan_loanriskstate, postloan_riskflag, postloan_inspection"
        )
    try:
        run = classify_portfolio(as_of=as_of, trigger="import")
    except RunInProgress:
        result.notes.append(
            str(_("A classification run was in progress: the new loans are classified by it."))
        )
        return None
    schedule_inspections(as_of=as_of)
    if not run.updated_state:
        # The portal's loans are classified as of a later day (a portal already live: its
        # night ran after the cut-over). A run dated before that one changes no state, so
        # the new loans would wait unclassified for the next night: catch them up now, as
        # that night would (the latest run again, and its month's planning).
        latest = latest_state_date()
        if latest is not None and latest > as_of:
            classify_portfolio(as_of=latest, trigger="import")
            schedule_inspections(as_of=latest)
            result.notes.append(
                str(
                    _(
                        "The portal's loans were already classified as of %(latest)s, after the "
                        "cut-over date: the portfolio was classified and planned as of "
                        "%(latest)s too."
                    )
                    % {"latest": latest.isoformat()}
                )
            )
    return run
