"""Upkeep of the dashboard's tables: month-end snapshots and the summaries (issue 8).

Set-based SQL. `snapshot_portfolio(month_end)` stores every loan open at the month end as
it stood then (positions as of that date, the adjustment then in force, today's
provision rates) and the month's summaries; it is idempotent per month.
`refresh_dashboard(as_of)` rebuilds the "current" summaries from the live state after
the nightly classification and planning: what the dashboard shows "as of today".
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection, transaction
from django.utils import timezone

from borrowers.models import GuaranteeStatus
from common.sqlvalues import sql_literal
from loans.ledger_sql import fewer_payments_before, positions_sql
from loans.models import CollateralStatus, LoanStatus
from postloan.models import InspectionStatus, ProvisionRate, SnapshotRun, Structure
from postloan.risk.nightly import ADJUSTMENTS_IN_FORCE_SQL, final_positions_sql
from postloan.risk.rules_sql import NON_PERFORMING_SQL

REFRESH_LOCK_KEY = 0xDA5B0A4D  # advisory lock: one refresh of the summaries at a time
DIMENSIONS = "branch_id, officer_id, product_id, structure, cohort"
# The nightly refresh's working table: every loan's dimensions, tier and watch.
WORK_LOANS = "postloan_refresh_loans"

# How a loan is secured: the strongest form wins.
# IN (subquery) rather than EXISTS: over the whole book the planner hashes each subquery
# once instead of probing an index per loan (the nightly refresh: 2.5 s → 1.2 s at a
# million loans); for a page of loans it still probes.
STRUCTURE_SQL = f"""CASE
    WHEN l.group_id IS NOT NULL THEN {sql_literal(Structure.JOINT_GROUP)}
    WHEN l.id IN (SELECT c.loan_id FROM loans_collateral c
                  WHERE c.status = {sql_literal(CollateralStatus.HELD)})
        THEN {sql_literal(Structure.COLLATERAL)}
    WHEN l.id IN (SELECT g.loan_id FROM borrowers_guarantee g
                  WHERE g.status = {sql_literal(GuaranteeStatus.ACTIVE)})
        THEN {sql_literal(Structure.ORDINARY)}
    ELSE {sql_literal(Structure.UNSECURED)} END"""

LOAN_DIMENSIONS_SQL = f"""l.branch_id, l.managing_officer_id AS officer_id, l.product_id,
    {STRUCTURE_SQL} AS structure, EXTRACT(YEAR FROM l.disbursed_on)::int AS cohort"""


@dataclass
class SnapshotResult:
    month_end: date
    loans: int
    seconds: float
    created: bool


def month_end_of(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def previous_month_end(day: date) -> date:
    return day.replace(day=1) - timedelta(days=1)


def snapshot_portfolio(*, month_end: date) -> SnapshotResult:
    """Keep each loan's position at `month_end` and the month's summaries (once a month)."""
    if month_end != month_end_of(month_end):
        raise ValueError(f"{month_end} is not the last day of its month")
    started = time.monotonic()
    SnapshotRun.objects.get_or_create(month_end=month_end)
    params = {"as_of": month_end, "lo": 0, "hi": 2**62}
    with transaction.atomic(), connection.cursor() as cursor:
        # Two runs of the same month (the beat and a backfill) take turns on the run's row;
        # the second finds it finished.
        run = SnapshotRun.objects.select_for_update().get(month_end=month_end)
        if run.finished_at is not None:
            return SnapshotResult(month_end, run.loans, 0.0, False)
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # A run killed half-way left nothing (one transaction); clear any partial rows.
        cursor.execute("DELETE FROM postloan_portfoliosnapshot WHERE month_end = %s", [month_end])
        cursor.execute("DROP TABLE IF EXISTS snap_positions, snap_adjustment")
        cached = month_end >= timezone.localdate()
        cursor.execute(
            "CREATE TEMP TABLE snap_positions ON COMMIT DROP AS "
            + positions_sql(
                use_cached_payments=cached,
                from_earlier=not cached and fewer_payments_before(cursor, month_end),
            ),
            params,
        )
        cursor.execute("ANALYZE snap_positions")
        cursor.execute(
            f"CREATE TEMP TABLE snap_adjustment ON COMMIT DROP AS {ADJUSTMENTS_IN_FORCE_SQL}",
            params,
        )
        final = final_positions_sql(
            positions="snap_positions", adjustments="snap_adjustment", rates=ProvisionRate.as_dict()
        )
        cursor.execute(
            f"""
            INSERT INTO postloan_portfoliosnapshot (month_end, loan_id, tier, quantitative_tier,
                consecutive_missed, outstanding_principal, provision, branch_id, officer_id,
                originating_officer_id, product_id, structure, cohort)
            SELECT %(as_of)s::date, q.loan_id, q.tier, q.quantitative_tier,
                   q.consecutive_missed, q.outstanding_principal, q.provision,
                   l.branch_id, l.managing_officer_id, l.originating_officer_id, l.product_id,
                   {STRUCTURE_SQL}, EXTRACT(YEAR FROM l.disbursed_on)::int
            FROM ({final}) q
            JOIN loans_loan l ON l.id = q.loan_id
            -- positions_sql also yields a settled loan whose live state is stale (for the
            -- nightly run to clean it); at a month end a loan closed by then is not held.
            WHERE l.closed_on IS NULL OR l.closed_on > %(as_of)s""",
            params,
        )
        loans = cursor.rowcount
        # The month's rows are read at once below (and by the next month's migration):
        # statistics that predate them would plan those reads for an empty month.
        cursor.execute("ANALYZE postloan_portfoliosnapshot")
        cursor.execute("DELETE FROM postloan_portfoliosummary WHERE period = %s", [month_end])
        cursor.execute(
            f"""
            INSERT INTO postloan_portfoliosummary ({DIMENSIONS}, period, tier, loans,
                outstanding_principal, provision, watched, warnings)
            SELECT {DIMENSIONS}, month_end, tier, COUNT(*), SUM(outstanding_principal),
                   SUM(provision), 0, 0
            FROM postloan_portfoliosnapshot WHERE month_end = %(as_of)s
            GROUP BY {DIMENSIONS}, month_end, tier""",
            params,
        )
        rebuild_rollups(cursor, "postloan_portfoliosummary", month_end)
        SnapshotRun.objects.filter(pk=run.pk).update(loans=loans, finished_at=timezone.now())
        _migration_from_snapshots(cursor, month_end)
        # A backfill of an earlier month end is the start the following month lacked.
        following = month_end_of(month_end + timedelta(days=1))
        if SnapshotRun.objects.filter(month_end=following, finished_at__isnull=False).exists():
            _migration_from_snapshots(cursor, following)
    return SnapshotResult(month_end, loans, time.monotonic() - started, True)


# GROUPING(branch_id, officer_id, product_id, structure, cohort): a bit set per dimension
# summed over; the level is the one dimension left, or none.
ROLLUP_LEVEL_SQL = """CASE GROUPING(branch_id, officer_id, product_id, structure, cohort)
    WHEN 31 THEN 'all' WHEN 15 THEN 'branch' WHEN 23 THEN 'officer' WHEN 27 THEN 'product'
    WHEN 29 THEN 'structure' WHEN 30 THEN 'cohort' END"""
ROLLUP_TABLES = {
    # summary table: (roll-up table, period column, keys, sums)
    "postloan_portfoliosummary": (
        "postloan_portfoliorollup",
        "period",
        "tier",
        "loans, outstanding_principal, provision, watched, warnings",
    ),
    "postloan_migrationsummary": (
        "postloan_migrationrollup",
        "month_end",
        "from_tier, to_tier",
        "loans, balance_start, balance_end",
    ),
}


def rebuild_rollups(cursor, summary: str, period: date | None) -> None:
    """Sum one period of a summary table (None: the current rows) to its roll-up levels."""
    rollup, column, keys, sums = ROLLUP_TABLES[summary]
    where = f"{column} IS NULL" if period is None else f"{column} = %(period)s"
    cursor.execute(f"DELETE FROM {rollup} WHERE {where}", {"period": period})
    sets = ", ".join(
        f"({column}, {keys}{', ' + dim if dim else ''})"
        for dim in ("", "branch_id", "officer_id", "product_id", "structure", "cohort")
    )
    totals = ", ".join(f"SUM({name.strip()})" for name in sums.split(","))
    cursor.execute(
        f"""
        INSERT INTO {rollup} (level, {DIMENSIONS}, {column}, {keys}, {sums})
        SELECT {ROLLUP_LEVEL_SQL}, {DIMENSIONS}, {column}, {keys}, {totals}
        FROM {summary} WHERE {where}
        GROUP BY GROUPING SETS ({sets})""",
        {"period": period},
    )


def _migration_from_snapshots(cursor, month_end: date) -> None:
    start = previous_month_end(month_end)
    cursor.execute("DELETE FROM postloan_migrationsummary WHERE month_end = %s", [month_end])
    cursor.execute("SELECT 1 FROM postloan_snapshotrun WHERE month_end = %s AND finished_at "
                   "IS NOT NULL", [start])  # fmt: skip
    if cursor.fetchone() is None:
        rebuild_rollups(cursor, "postloan_migrationsummary", month_end)  # cleared
        return  # no start snapshot: the month's migration cannot be known
    cursor.execute(
        f"INSERT INTO postloan_migrationsummary ({MIGRATION_COLUMNS}) "
        + _migration_sql("postloan_portfoliosnapshot", "e.month_end = %(end)s", "%(end)s::date"),
        {"start": start, "end": month_end},
    )
    rebuild_rollups(cursor, "postloan_migrationsummary", month_end)


MIGRATION_COLUMNS = (
    f"{DIMENSIONS}, month_end, from_tier, to_tier, loans, balance_start, balance_end"
)


def _migration_sql(end_table: str, end_rows: str, month_end: str) -> str:
    """A month's migration rows: each loan of the start snapshot (`%(start)s`) with where it
    stands at the end (closed when the end does not hold it), and each loan the end holds
    that the start did not (new). The end is the rows of `end_table` (alias e) that
    `end_rows` selects. A full join, written as a left join and an anti-join, which
    PostgreSQL 15 can run in parallel."""
    return f"""
        SELECT {DIMENSIONS}, {month_end}, from_tier, to_tier, COUNT(*),
               SUM(balance_start), SUM(balance_end)
        FROM (
            SELECT COALESCE(e.branch_id, s.branch_id) AS branch_id,
                   COALESCE(e.officer_id, s.officer_id) AS officer_id,
                   COALESCE(e.product_id, s.product_id) AS product_id,
                   COALESCE(e.structure, s.structure) AS structure,
                   COALESCE(e.cohort, s.cohort) AS cohort,
                   s.tier AS from_tier, COALESCE(e.tier, 'closed') AS to_tier,
                   s.outstanding_principal AS balance_start,
                   COALESCE(e.outstanding_principal, 0) AS balance_end
            FROM postloan_portfoliosnapshot s
            LEFT JOIN {end_table} e ON e.loan_id = s.loan_id AND {end_rows}
            WHERE s.month_end = %(start)s
            UNION ALL
            SELECT {DIMENSIONS}, 'new', tier, 0, outstanding_principal
            FROM {end_table} e
            WHERE {end_rows} AND NOT EXISTS (
                SELECT FROM postloan_portfoliosnapshot s
                WHERE s.month_end = %(start)s AND s.loan_id = e.loan_id)
        ) m
        GROUP BY {DIMENSIONS}, from_tier, to_tier"""


def latest_snapshot() -> date | None:
    run = SnapshotRun.objects.filter(finished_at__isnull=False).order_by("-month_end").first()
    return run.month_end if run else None


def refresh_dashboard(*, as_of: date | None = None) -> float:
    """Rebuild the current summaries, the month in progress' migration, the inspection
    summaries of this and last month, and the officers' scorecards (one transaction, one
    refresh at a time); the seconds it took."""
    as_of = as_of or timezone.localdate()
    started = time.monotonic()
    start_snapshot = latest_snapshot()
    month = as_of.replace(day=1)
    last_month = previous_month_end(month).replace(day=1)
    params = {"as_of": as_of, "start": start_snapshot, "month": month, "last_month": last_month}
    with transaction.atomic(), connection.cursor() as cursor:
        _refresh_session(cursor)
        _build_work_loans(cursor)
        _refresh_portfolio(cursor)
        _refresh_migration(cursor, params)
        _refresh_inspections(cursor, params)
        _refresh_scores(cursor, params)
        cursor.execute(f"DROP TABLE {WORK_LOANS}")
    return time.monotonic() - started


def _refresh_session(cursor) -> None:
    """The refresh's lock and settings, for the rest of its transaction."""
    # One refresh at a time: two would each delete, then each insert, the same rows.
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REFRESH_LOCK_KEY])
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '256MB'")
    # The night's batch has the server to itself: each pass over the whole book below
    # is worth splitting across the parallel workers, which the planner's default costs
    # leave idle (at a million loans, profiled: 7.9 s with them, 6.0 s without).
    cursor.execute("SET LOCAL parallel_setup_cost = 0")
    cursor.execute("SET LOCAL parallel_tuple_cost = 0.001")


def _build_work_loans(cursor) -> None:
    """Every loan's dimensions, tier and watch, worked out once: the inspections of the
    month need them for settled loans too, the other summaries for the active ones.
    An unlogged table made and dropped in this transaction, not a temporary one:
    PostgreSQL scans a temporary table in one process only."""
    cursor.execute(f"DROP TABLE IF EXISTS {WORK_LOANS}")
    cursor.execute(
        f"""
        CREATE UNLOGGED TABLE {WORK_LOANS} AS
        SELECT l.id AS loan_id, l.status = {sql_literal(LoanStatus.ACTIVE)} AS active,
               l.originating_officer_id,
               {LOAN_DIMENSIONS_SQL}, s.tier, s.outstanding_principal, s.provision,
               w.loan_id IS NOT NULL AS watched, COALESCE(ew.open_warnings, 0) AS warnings
        FROM loans_loan l JOIN postloan_loanriskstate s ON s.loan_id = l.id
        LEFT JOIN ({_watched_sql()}) w ON w.loan_id = l.id
        LEFT JOIN (SELECT loan_id, COUNT(*) AS open_warnings FROM postloan_earlywarning
                   WHERE resolved_on IS NULL GROUP BY loan_id) ew ON ew.loan_id = l.id"""
    )
    cursor.execute(f"ANALYZE {WORK_LOANS}")


def _refresh_portfolio(cursor) -> None:
    """The current portfolio summary (period NULL) of the active loans, and its roll-ups."""
    cursor.execute("DELETE FROM postloan_portfoliosummary WHERE period IS NULL")
    _insert_computed(
        cursor,
        "postloan_portfoliosummary",
        f"""{DIMENSIONS}, period, tier, loans,
            outstanding_principal, provision, watched, warnings""",
        f"""
        SELECT {DIMENSIONS}, NULL::date, tier, COUNT(*), SUM(outstanding_principal),
               SUM(provision), COUNT(*) FILTER (WHERE watched), SUM(warnings)
        FROM {WORK_LOANS} WHERE active
        GROUP BY {DIMENSIONS}, tier""",
    )
    rebuild_rollups(cursor, "postloan_portfoliosummary", None)


def _refresh_migration(cursor, params) -> None:
    """The month in progress' migration: from the last snapshot (`params["start"]`; none,
    no rows) to the loans active now, and its roll-ups."""
    cursor.execute("DELETE FROM postloan_migrationsummary WHERE month_end IS NULL")
    if params["start"] is not None:
        _insert_computed(
            cursor,
            "postloan_migrationsummary",
            MIGRATION_COLUMNS,
            _migration_sql(WORK_LOANS, "e.active", "NULL::date"),
            params,
        )
    rebuild_rollups(cursor, "postloan_migrationsummary", None)


def _refresh_inspections(cursor, params) -> None:
    """The inspection summaries of this month and last: due, done on time, done late and
    overdue as of `params["as_of"]`, per dimension, tier, officer and kind."""
    done = sql_literal(InspectionStatus.DONE)
    cursor.execute(
        "DELETE FROM postloan_inspectionsummary WHERE month IN (%(month)s, %(last_month)s)",
        params,
    )
    _insert_computed(
        cursor,
        "postloan_inspectionsummary",
        f"""{DIMENSIONS}, month, tier, assigned_to_id, kind,
            due, done_on_time, done_late, overdue""",
        f"""
        SELECT {DIMENSIONS},
               date_trunc('month', i.due_on)::date, l.tier, i.assigned_to_id, i.kind,
               COUNT(*),
               COUNT(*) FILTER (WHERE i.status = {done} AND i.completed_on <= i.due_on),
               COUNT(*) FILTER (WHERE i.status = {done} AND i.completed_on > i.due_on),
               COUNT(*) FILTER (WHERE i.status = {sql_literal(InspectionStatus.OPEN)}
                                  AND i.due_on < %(as_of)s)
        FROM postloan_inspection i
        JOIN {WORK_LOANS} l ON l.loan_id = i.loan_id
        WHERE i.status <> {sql_literal(InspectionStatus.CANCELLED)}
          AND i.due_on >= %(last_month)s
          AND i.due_on < %(month)s::date + interval '1 month'
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9""",
        params,
    )


def _insert_computed(cursor, table: str, columns: str, select: str, params=None) -> None:
    """INSERT INTO `table` the rows of `select`, worked out in parallel: PostgreSQL 15 runs
    no INSERT … SELECT in parallel, but does run the query of a CREATE TABLE … AS."""
    cursor.execute("DROP TABLE IF EXISTS dash_rows")
    cursor.execute(f"CREATE TEMP TABLE dash_rows ({columns}) AS {select}", params)
    cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM dash_rows")
    cursor.execute("DROP TABLE dash_rows")


def _watched_sql() -> str:
    """Active loans reached by an open flag (as postloan.risk.selectors.watched, in SQL)."""
    return f"""
        SELECT f.loan_id FROM postloan_riskflag f
        WHERE f.resolved_on IS NULL AND f.loan_id IS NOT NULL
        UNION
        SELECT l.id FROM loans_loan l JOIN postloan_riskflag f ON f.borrower_id = l.borrower_id
        WHERE f.resolved_on IS NULL AND f.borrower_id IS NOT NULL
        UNION
        SELECT g.loan_id FROM borrowers_guarantee g
        JOIN postloan_riskflag f ON f.guarantor_id = g.guarantor_id
        WHERE f.resolved_on IS NULL AND f.guarantor_id IS NOT NULL
          AND g.status = {sql_literal(GuaranteeStatus.ACTIVE)}"""


def _refresh_scores(cursor, params) -> None:
    """The officers' scorecards as of `params["as_of"]`: what each manages and originated
    (and how much of it is non-performing), this month's inspections, overdue handovers."""
    npl = NON_PERFORMING_SQL
    cursor.execute("DELETE FROM postloan_officerscore")
    _insert_computed(
        cursor,
        "postloan_officerscore",
        """officer_id, branch_id, managed_loans, managed_balance, managed_npl_loans,
            managed_npl_balance, originated_loans, originated_balance, originated_npl_loans,
            originated_npl_balance, inspections_due, inspections_on_time, inspections_late,
            inspections_overdue, handovers_overdue, as_of""",
        f"""
        SELECT u.id, p.branch_id,
               COALESCE(m.loans, 0), COALESCE(m.balance, 0), COALESCE(m.npl_loans, 0),
               COALESCE(m.npl_balance, 0), COALESCE(o.loans, 0), COALESCE(o.balance, 0),
               COALESCE(o.npl_loans, 0), COALESCE(o.npl_balance, 0),
               COALESCE(i.due, 0), COALESCE(i.on_time, 0), COALESCE(i.late, 0),
               COALESCE(i.overdue, 0), COALESCE(h.overdue, 0), %(as_of)s
        FROM auth_user u
        LEFT JOIN loans_officerprofile p ON p.user_id = u.id
        -- What each officer manages: the officer roll-up of the current summary, just built
        -- (a few rows per officer instead of every active loan again).
        LEFT JOIN (SELECT officer_id, SUM(loans) AS loans, SUM(outstanding_principal) AS balance,
                          COALESCE(SUM(loans) FILTER (WHERE tier IN {npl}), 0) AS npl_loans,
                          COALESCE(SUM(outstanding_principal) FILTER (WHERE tier IN {npl}), 0)
                              AS npl_balance
                   FROM postloan_portfoliorollup WHERE level = 'officer' AND period IS NULL
                   GROUP BY officer_id) m ON m.officer_id = u.id
        LEFT JOIN (SELECT originating_officer_id, COUNT(*) AS loans,
                          SUM(outstanding_principal) AS balance,
                          COUNT(*) FILTER (WHERE tier IN {npl}) AS npl_loans,
                          COALESCE(SUM(outstanding_principal) FILTER (WHERE tier IN {npl}), 0)
                              AS npl_balance
                   FROM {WORK_LOANS} WHERE active
                   GROUP BY originating_officer_id) o
            ON o.originating_officer_id = u.id
        LEFT JOIN (SELECT assigned_to_id, SUM(due) AS due, SUM(done_on_time) AS on_time,
                          SUM(done_late) AS late, SUM(overdue) AS overdue
                   FROM postloan_inspectionsummary WHERE month = %(month)s
                   GROUP BY assigned_to_id) i ON i.assigned_to_id = u.id
        LEFT JOIN (SELECT to_officer_id, COUNT(*) AS overdue FROM loans_handover h
                   JOIN loans_loan l ON l.id = h.loan_id
                       AND l.status = {sql_literal(LoanStatus.ACTIVE)}
                   WHERE h.contacted_on IS NULL AND h.due_on < %(as_of)s
                   GROUP BY to_officer_id) h ON h.to_officer_id = u.id
        WHERE m.officer_id IS NOT NULL OR o.originating_officer_id IS NOT NULL
           OR i.assigned_to_id IS NOT NULL OR h.to_officer_id IS NOT NULL""",
        params,
    )
