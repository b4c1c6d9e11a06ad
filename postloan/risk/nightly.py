"""The nightly classification run, set-based in SQL (docs/domain.md §4, §6).

The same rules as loans/ledger.py and postloan/risk/rules.py, written for the
whole portfolio at once: per id-range chunk, one statement computes every loan's
position as of the date (missed periods with the monthly ageing after maturity,
balances, days past due: loans.ledger_sql.positions_sql), one applies the qualitative
adjustments and the lapse rule, and a few write only what changed. Each chunk commits on
its own, so a run killed half-way is completed by running it again: committed chunks find
nothing left to change.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.utils import timezone

from borrowers.models import CONTACT_FACTS, EnterpriseStatus, GuaranteeStatus
from common.models import BusinessSettings
from common.notifications import notify
from common.sqlvalues import sql_list, sql_literal
from loans.ledger_sql import fewer_payments_before, positions_sql
from loans.models import CollateralStatus, LoanStatus
from postloan.models import ClassificationRun, ProvisionRate, TierAdjustment
from postloan.risk import factors
from postloan.risk.rules_sql import (
    NON_PERFORMING_SQL,
    adjustment_lapses_sql,
    final_tier_sql,
    quantitative_tier_sql,
)

logger = logging.getLogger(__name__)

# Advisory-lock key: one classification at a time, whichever process starts it.
LOCK_KEY = 0x5EC1A551


class RunInProgress(RuntimeError):
    pass


# A batch connection never outlives its process for long, whatever kills the process:
# the server checks every few seconds, even in the middle of a statement or a lock wait,
# that the client is still there (a worker killed by SIGKILL left its backend running the
# statement, or waiting on a lock, for as long as that took, its locks held); keepalives
# find a host that vanished without closing its sockets within about a minute; and a
# transaction left idle, or a statement running for half an hour, is ended by the server.
# No statement of the night takes a minute at a million loans (docs/benchmarks.md).
KEEPALIVE_SQL = (
    "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3"
)
BATCH_SESSION_SQL = (
    KEEPALIVE_SQL + "; SET client_connection_check_interval = '5s'; "
    "SET idle_in_transaction_session_timeout = '5min'; SET statement_timeout = '30min'"
)
# Fresh statistics for the tables the positions read, after a bulk load (the generator, the
# demo): without them the planner takes a just-filled ledger for a few rows.
ANALYZE_LEDGER_SQL = (
    "ANALYZE loans_loan; ANALYZE loans_instalment; ANALYZE loans_repayment; "
    "ANALYZE loans_allocation; ANALYZE postloan_loanriskstate"
)
# How long a classification waits for another one holding the lock, when it waits at all.
LOCK_WAIT = "30min"
LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock_timeout


def batch_session(using: str = DEFAULT_DB_ALIAS) -> None:
    """Put the timeouts of batch work on this process's connection (see BATCH_SESSION_SQL)."""
    with connections[using].cursor() as cursor:
        cursor.execute(BATCH_SESSION_SQL)


@contextmanager
def advisory_lock(key: int, *, wait: bool = False, what: str = "run") -> Iterator[None]:
    """Hold the PostgreSQL advisory lock `key` on a connection of its own that does nothing
    else, or raise RunInProgress.

    The connection is always idle, so the lock dies with the process that holds it: when a
    worker is killed (SIGKILL, the out-of-memory killer), the kernel closes its socket and
    the server, reading the end of an idle session at once, releases the lock; a vanished
    host is found by the keepalives. Held on the working connection instead, the lock lived
    as long as the server took to notice that a busy backend's client was gone, and the
    worker's retry met RunInProgress. `wait` waits up to LOCK_WAIT for another holder.
    """
    holder = connections.create_connection(DEFAULT_DB_ALIAS)
    locked = False
    try:
        with holder.cursor() as cursor:
            cursor.execute(KEEPALIVE_SQL)
            if wait:
                cursor.execute(f"SET lock_timeout = '{LOCK_WAIT}'")
                try:
                    cursor.execute("SELECT pg_advisory_lock(%s)", [key])
                except OperationalError as error:
                    if getattr(error.__cause__, "pgcode", None) != LOCK_NOT_AVAILABLE:
                        raise
                    raise RunInProgress(f"another {what} held the lock for {LOCK_WAIT}") from error
            else:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
                if not cursor.fetchone()[0]:
                    raise RunInProgress(f"another {what} is in progress")
            locked = True
        yield
    finally:
        if locked:
            # Released at once: closed, the session's backend lets the lock go only as it
            # exits, a moment later, and a run started right after met RunInProgress (seen
            # in the tests, which classify several days in a row).
            with contextlib.suppress(DatabaseError), holder.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        holder.close()  # and the lock goes with the session if the unlock could not run


def lock_is_held(key: int) -> bool:
    """Whether some session holds the advisory lock `key` (a bigint key: classid, objid)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND objsubid = 1 AND classid = %s AND objid = %s)",
            [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0]


QUANTITATIVE_TIER_SQL = quantitative_tier_sql("p.consecutive_missed")

# The qualitative adjustment in force on %(as_of)s for each loan that had one: the latest
# approved by then and not yet ended (an adjustment that lapsed or was superseded later
# was still in force that day).
_APPROVED_ONCE = (
    TierAdjustment.Status.APPROVED,
    TierAdjustment.Status.LAPSED,
    TierAdjustment.Status.SUPERSEDED,
)
ADJUSTMENTS_IN_FORCE_SQL = f"""SELECT DISTINCT ON (loan_id)
    loan_id, proposed_tier, quantitative_tier
    FROM postloan_tieradjustment
    WHERE status IN {sql_list(_APPROVED_ONCE)}
      AND effective_on <= %(as_of)s AND (ended_on IS NULL OR ended_on > %(as_of)s)
    ORDER BY loan_id, effective_on DESC, id DESC"""


def final_positions_sql(*, positions: str, adjustments: str, rates: dict) -> str:
    """Each loan of `positions` (a positions_sql table) with its tier as the classification
    would have decided it that day (the lapse rule included) and its provision: columns
    loan_id, tier, quantitative_tier, consecutive_missed, days_past_due,
    outstanding_principal, overdue_amount, provision. `adjustments`: a table of
    ADJUSTMENTS_IN_FORCE_SQL. The one copy the past-date positions and the snapshot use."""
    values = ", ".join(f"({sql_literal(tier)}, {percent})" for tier, percent in rates.items())
    final = final_tier_sql(
        "qt.quantitative_tier",
        "a.proposed_tier",
        "a.quantitative_tier",
        adjusted_in_force="a.loan_id IS NOT NULL",
    )
    return f"""SELECT q.loan_id, q.final_tier AS tier, q.quantitative_tier, q.consecutive_missed,
               q.days_past_due, q.outstanding_principal, q.overdue_amount,
               ROUND(q.outstanding_principal * r.percent / 100, 2) AS provision
        FROM (
            SELECT p.*, qt.quantitative_tier, {final} AS final_tier
            FROM {positions} p
            CROSS JOIN LATERAL (SELECT {QUANTITATIVE_TIER_SQL} AS quantitative_tier) qt
            LEFT JOIN {adjustments} a ON a.loan_id = p.loan_id
        ) q
        JOIN (VALUES {values}) AS r(tier, percent) ON r.tier = q.final_tier"""


def computed_positions(cursor, *, as_of: date, table: str, loan_filter: str = "") -> None:
    """Each loan's position and tiers as of `as_of`, computed and written to a temporary
    table `table` (dropped at commit), without touching the state or recording a run.

    Columns: loan_id, tier, quantitative_tier, consecutive_missed, days_past_due,
    outstanding_principal, overdue_amount, provision. The final tier is what the
    classification would have decided that day: the adjustment then in force, unless the
    quantitative tier had passed it (the lapse rule). For a past-date export and for
    planning a past month (postloan.inspections.planning).
    """
    today = timezone.localdate()
    params = {"as_of": as_of, "lo": 0, "hi": 2**62}
    cursor.execute(f"DROP TABLE IF EXISTS {table}_raw, {table}_adjustment, {table}")
    cursor.execute(
        f"CREATE TEMP TABLE {table}_raw ON COMMIT DROP AS "
        + positions_sql(
            use_cached_payments=as_of >= today,
            from_earlier=as_of < today and fewer_payments_before(cursor, as_of),
            loan_filter=loan_filter,
        ),
        params,
    )
    cursor.execute(
        f"CREATE TEMP TABLE {table}_adjustment ON COMMIT DROP AS {ADJUSTMENTS_IN_FORCE_SQL}",
        params,
    )
    cursor.execute(
        f"CREATE TEMP TABLE {table} ON COMMIT DROP AS "
        + final_positions_sql(
            positions=f"{table}_raw",
            adjustments=f"{table}_adjustment",
            rates=ProvisionRate.as_dict(),
        )
    )
    cursor.execute(f"CREATE UNIQUE INDEX ON {table} (loan_id)")
    cursor.execute(f"ANALYZE {table}")


def latest_state_date() -> date | None:
    """The date the current state (postloan_loanriskstate) was classified as of: that of
    the latest completed run that updated it."""
    return (
        ClassificationRun.objects.filter(
            status=ClassificationRun.Status.COMPLETED, updated_state=True
        )
        .order_by("-as_of")
        .values_list("as_of", flat=True)
        .first()
    )


@dataclass
class ChunkResult:
    seen: int = 0
    changed: int = 0
    lapsed: list = None


# Each loan of the chunk's positions (classify_positions) with its state's tier and
# adjustment, its quantitative tier, whether the adjustment lapses, and its new tier.
DECISIONS_SQL = f"""
        CREATE TEMP TABLE classify_decisions ON COMMIT DROP AS
        WITH q AS (
            SELECT p.*, {QUANTITATIVE_TIER_SQL} AS quantitative_tier,
                   s.tier AS old_tier, s.adjustment_id,
                   a.proposed_tier AS adjustment_tier,
                   a.quantitative_tier AS adjustment_basis
            FROM classify_positions p
            JOIN postloan_loanriskstate s ON s.loan_id = p.loan_id
            LEFT JOIN postloan_tieradjustment a ON a.id = s.adjustment_id
        ), f AS (
            SELECT q.*,
                   (q.adjustment_id IS NOT NULL AND {
    adjustment_lapses_sql("q.quantitative_tier", "q.adjustment_tier", "q.adjustment_basis")
}) AS lapsed
            FROM q
        )
        SELECT f.*,
               CASE WHEN f.adjustment_id IS NULL OR f.lapsed THEN f.quantitative_tier
                    ELSE f.adjustment_tier END AS new_tier
        FROM f"""

# A reclassification row's columns, as both inserts of RECLASSIFICATIONS_SQL give them.
_RECLASSIFICATION_COLUMNS = (
    "loan_id, from_tier, to_tier, basis, consecutive_missed, quantitative_tier,\n"
    "                 reason, run_id, adjustment_id, effective_on, created_at"
)
# A rerun of a killed run finds no change on the loans it already did (their state is
# written), so it writes no second row for them. A loan that changed again since an
# earlier attempt of this run (a payment, a reversal in between) already has its one
# row for this run: the new change is still history, kept without the run reference.
RECLASSIFICATIONS_SQL = f"""
        WITH changes AS (
            SELECT loan_id, old_tier, new_tier,
                   CASE WHEN lapsed THEN 'lapse' ELSE 'quantitative' END AS basis,
                   consecutive_missed, quantitative_tier,
                   CASE WHEN lapsed THEN adjustment_id END AS adjustment_id
            FROM classify_decisions
            WHERE new_tier <> old_tier
        ), with_run AS (
            INSERT INTO postloan_reclassification ({_RECLASSIFICATION_COLUMNS})
            SELECT loan_id, old_tier, new_tier, basis, consecutive_missed, quantitative_tier,
                   '', %(run)s, adjustment_id, %(as_of)s, now()
            FROM changes
            ON CONFLICT (loan_id, run_id) WHERE run_id IS NOT NULL DO NOTHING
            RETURNING loan_id
        ), again AS (
            INSERT INTO postloan_reclassification ({_RECLASSIFICATION_COLUMNS})
            SELECT loan_id, old_tier, new_tier, basis, consecutive_missed, quantitative_tier,
                   '', NULL, adjustment_id, %(as_of)s, now()
            FROM changes c
            WHERE NOT EXISTS (SELECT 1 FROM with_run w WHERE w.loan_id = c.loan_id)
            RETURNING loan_id
        )
        SELECT (SELECT COUNT(*) FROM with_run) + (SELECT COUNT(*) FROM again)"""

# The adjustments that lapse in this chunk, with whom to tell (see _notify_lapses).
LAPSED_SQL = """
        SELECT d.loan_id, d.adjustment_id, d.new_tier, a.proposed_by_id, l.managing_officer_id,
               l.reference
        FROM classify_decisions d
        JOIN postloan_tieradjustment a ON a.id = d.adjustment_id
        JOIN loans_loan l ON l.id = d.loan_id
        WHERE d.lapsed"""


def _state_update_sql(rate_values: str) -> str:
    """The UPDATE of the chunk's loans' state that changed, their provisions at the rates
    `rate_values` (a VALUES list of (tier, percent))."""
    return f"""
        UPDATE postloan_loanriskstate s SET
            tier = d.new_tier,
            quantitative_tier = d.quantitative_tier,
            consecutive_missed = d.consecutive_missed,
            days_past_due = d.days_past_due,
            outstanding_principal = d.outstanding_principal,
            overdue_amount = d.overdue_amount,
            provision = ROUND(d.outstanding_principal * r.percent / 100, 2),
            adjustment_id = CASE WHEN d.lapsed THEN NULL ELSE s.adjustment_id END,
            updated_at = now()
        FROM classify_decisions d
        JOIN (VALUES {rate_values}) AS r(tier, percent) ON r.tier = d.new_tier
        WHERE s.loan_id = d.loan_id
          AND (s.tier, s.quantitative_tier, s.consecutive_missed, s.days_past_due,
               s.outstanding_principal, s.overdue_amount,
               s.provision, s.adjustment_id)
              IS DISTINCT FROM
              (d.new_tier, d.quantitative_tier, d.consecutive_missed, d.days_past_due,
               d.outstanding_principal, d.overdue_amount,
               ROUND(d.outstanding_principal * r.percent / 100, 2),
               CASE WHEN d.lapsed THEN NULL ELSE s.adjustment_id END)"""


def _classify_chunk(
    cursor,
    *,
    run: ClassificationRun,
    lo: int,
    hi: int,
    rates: dict,
    use_cached: bool,
    write_state: bool,
    from_earlier: bool = False,
) -> ChunkResult:
    """Classify the loans with ids in [lo, hi] as of the run's date: decide each one's tier
    and, with `write_state`, record what changed."""
    params = {"as_of": run.as_of, "lo": lo, "hi": hi, "run": run.pk}
    seen = _decide(cursor, params, use_cached=use_cached, from_earlier=from_earlier)
    result = ChunkResult(seen=seen, lapsed=[])
    if not write_state:
        return result
    _write_decisions(cursor, params, rates, result)
    return result


def _decide(cursor, params: dict, *, use_cached: bool, from_earlier: bool) -> int:
    """The chunk's positions and decisions (temporary tables classify_positions and
    classify_decisions); returns how many loans the chunk classifies."""
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '256MB'")
    # ON COMMIT DROP is not enough: under an outer transaction (a caller's atomic block,
    # a test) the chunks are savepoints and the previous chunk's tables are still there.
    cursor.execute("DROP TABLE IF EXISTS classify_positions, classify_decisions")
    cursor.execute(
        "CREATE TEMP TABLE classify_positions ON COMMIT DROP AS "
        + positions_sql(use_cached_payments=use_cached, from_earlier=from_earlier),
        params,
    )
    cursor.execute("ANALYZE classify_positions")  # temporary tables have no statistics
    cursor.execute(DECISIONS_SQL, params)
    cursor.execute("ANALYZE classify_decisions")
    cursor.execute("SELECT COUNT(*) FROM classify_decisions")
    (seen,) = cursor.fetchone()
    return seen


def _write_decisions(cursor, params: dict, rates: dict, result: ChunkResult) -> None:
    """Record the chunk's decisions: the reclassifications (counted in `result.changed`),
    the lapsed adjustments (listed in `result.lapsed`), the state that changed."""
    rate_values = ", ".join(f"('{tier}', {percent})" for tier, percent in rates.items())
    cursor.execute(RECLASSIFICATIONS_SQL, params)
    (result.changed,) = cursor.fetchone()
    cursor.execute(LAPSED_SQL)
    result.lapsed = cursor.fetchall()
    if result.lapsed:
        lapsed = sql_literal(TierAdjustment.Status.LAPSED)
        cursor.execute(
            f"""UPDATE postloan_tieradjustment SET status = {lapsed}, ended_on = %(as_of)s
               WHERE id IN (SELECT adjustment_id FROM classify_decisions WHERE lapsed)""",
            params,
        )
    cursor.execute(_state_update_sql(rate_values))


def _loan_id_range(cursor) -> tuple[int, int]:
    cursor.execute("SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), -1) FROM loans_loan")
    return cursor.fetchone()


def classify_portfolio(
    *,
    as_of: date | None = None,
    trigger: str = "",
    chunk_size: int | None = None,
    wait: bool = False,
) -> ClassificationRun:
    """Classify every loan open on `as_of` (default today) and keep the watch list.

    A run dated before the latest completed run computes and reports but does not
    overwrite the current state (which is newer). One run at a time, whichever process
    starts it: another raises RunInProgress, or with `wait` waits for it first.
    """
    as_of = as_of or timezone.localdate()
    with advisory_lock(LOCK_KEY, wait=wait, what="classification run"):
        return _run(
            as_of=as_of, trigger=trigger, chunk_size=chunk_size or settings.CLASSIFY_CHUNK_SIZE
        )


def _run(*, as_of: date, trigger: str, chunk_size: int) -> ClassificationRun:
    now = timezone.now()
    run, created = ClassificationRun.objects.get_or_create(
        as_of=as_of,
        defaults={
            "status": ClassificationRun.Status.RUNNING,
            "started_at": now,
            "trigger": trigger,
        },
    )
    if not created:
        run.status = ClassificationRun.Status.RUNNING
        run.started_at = now
        run.attempts += 1
        run.errors = ""
        run.save(update_fields=["status", "started_at", "attempts", "errors"])
    newer = ClassificationRun.objects.filter(
        as_of__gt=as_of, status=ClassificationRun.Status.COMPLETED, updated_state=True
    ).exists()
    write_state = not newer
    rates = ProvisionRate.as_dict()
    use_cached = as_of >= timezone.localdate()
    seen = changed = 0
    try:
        with connection.cursor() as cursor:
            lo, hi = _loan_id_range(cursor)
            from_earlier = not use_cached and fewer_payments_before(cursor, as_of)
        for start in range(lo, hi + 1, chunk_size):
            with transaction.atomic(), connection.cursor() as cursor:
                result = _classify_chunk(
                    cursor,
                    run=run,
                    lo=start,
                    hi=start + chunk_size - 1,
                    rates=rates,
                    use_cached=use_cached,
                    from_earlier=from_earlier,
                    write_state=write_state,
                )
                seen += result.seen
                changed += result.changed
                _notify_lapses(result.lapsed)
        raised = resolved = 0
        if write_state:
            raised, resolved = refresh_data_driven_flags(as_of=as_of)
    except Exception as error:
        logger.exception("classification run as of %s failed", as_of)
        ClassificationRun.objects.filter(pk=run.pk).update(
            status=ClassificationRun.Status.FAILED,
            errors=repr(error)[:2000],
            finished_at=timezone.now(),
        )
        raise
    ClassificationRun.objects.filter(pk=run.pk).update(
        status=ClassificationRun.Status.COMPLETED,
        finished_at=timezone.now(),
        loans_seen=seen,
        changed=changed,  # this attempt's changes: a rerun of a completed date finds none
        flags_raised=raised,
        flags_resolved=resolved,
        updated_state=write_state,
    )
    run.refresh_from_db()
    return run


def _notify_lapses(lapsed_rows) -> None:
    from django.contrib.auth.models import User

    if not lapsed_rows:
        return
    users = User.objects.in_bulk({row[3] for row in lapsed_rows} | {row[4] for row in lapsed_rows})
    for loan_id, _adjustment_id, tier, proposer_id, officer_id, reference in lapsed_rows:
        notify(
            [users.get(proposer_id), users.get(officer_id)],
            "adjustment_lapsed",
            url=f"/loans/{loan_id}/",
            loan=reference,
            tier=tier,
        )


# --- The data-driven risk factors (docs/domain.md §6) ---------------------------------------------


def _factor_hits_sql(settings: BusinessSettings) -> str:
    """Every (loan, factor, evidence) that holds as of %(as_of)s, for open loans."""
    active = sql_literal(LoanStatus.ACTIVE)
    held = sql_literal(CollateralStatus.HELD)
    backing = sql_literal(GuaranteeStatus.ACTIVE)
    impaired = sql_list(
        (EnterpriseStatus.MERGED, EnterpriseStatus.RESTRUCTURING, EnterpriseStatus.BANKRUPT)
    )
    return f"""
    WITH open_loans AS (
        SELECT l.id, l.borrower_id, l.group_id, s.consecutive_missed, s.outstanding_principal,
               s.tier
        FROM loans_loan l JOIN postloan_loanriskstate s ON s.loan_id = l.id
        WHERE l.status = {active} AND l.disbursed_on <= %(as_of)s
    )
    SELECT id, {factors.MISSED_INSTALMENT}, 'missed_periods=' || consecutive_missed
    FROM open_loans WHERE consecutive_missed > 0
    UNION ALL
    SELECT o.id, {factors.CONTACT_CHANGES}, 'contact_changes=' || c.changes
    FROM open_loans o JOIN (
        SELECT borrower_id, COUNT(*) AS changes FROM borrowers_borrowerfactchange
        WHERE fact IN {sql_list(CONTACT_FACTS)}
          AND effective_on <= %(as_of)s
          AND effective_on > %(as_of)s::date - make_interval(months => %(window)s)
        GROUP BY borrower_id HAVING COUNT(*) >= %(threshold)s
    ) c ON c.borrower_id = o.borrower_id
    UNION ALL
    SELECT o.id, {factors.COLLATERAL_COVERAGE},
           'collateral_value=' || v.total || ';outstanding=' || o.outstanding_principal
    FROM open_loans o JOIN (
        SELECT c.loan_id, SUM(latest.value) AS total
        FROM loans_collateral c
        JOIN LATERAL (
            SELECT value FROM loans_valuation val
            WHERE val.collateral_id = c.id AND val.valued_on <= %(as_of)s
            ORDER BY val.valued_on DESC, val.id DESC LIMIT 1
        ) latest ON TRUE
        WHERE c.status = {held}
        GROUP BY c.loan_id
    ) v ON v.loan_id = o.id
    WHERE o.outstanding_principal > 0
      AND v.total <= o.outstanding_principal * %(coverage)s / 100
    UNION ALL
    SELECT DISTINCT ON (o.id) o.id, {factors.OFF_PLAN_OVERDUE},
           CASE WHEN c.expected_completion_on < %(as_of)s
                     AND (c.completed_on IS NULL OR c.completed_on > %(as_of)s)
                THEN 'completion_due=' || c.expected_completion_on
                ELSE 'registration_due=' || c.registration_due_on END
    FROM open_loans o JOIN loans_collateral c ON c.loan_id = o.id
    WHERE c.kind = 'off_plan' AND c.status = {held} AND (
        (c.expected_completion_on < %(as_of)s
         AND (c.completed_on IS NULL OR c.completed_on > %(as_of)s))
        OR (c.registration_due_on < %(as_of)s
            AND (c.registration_on IS NULL OR c.registration_on > %(as_of)s)))
    UNION ALL
    SELECT DISTINCT ON (o.id) o.id, {factors.GUARANTOR_IMPAIRED}, 'guarantor=' || g.reference
    FROM open_loans o
    JOIN borrowers_guarantee gt ON gt.loan_id = o.id AND gt.status = {backing}
    JOIN borrowers_guarantor g ON g.id = gt.guarantor_id
    JOIN LATERAL (
        SELECT capacity_lowered, enterprise_status FROM borrowers_guarantorassessment ga
        WHERE ga.guarantor_id = g.id AND ga.assessed_on <= %(as_of)s
        ORDER BY ga.assessed_on DESC, ga.id DESC LIMIT 1
    ) latest ON TRUE
    WHERE latest.capacity_lowered
       OR latest.enterprise_status IN {impaired}
    UNION ALL
    SELECT DISTINCT ON (o.id) o.id, {factors.GUARANTOR_IMPAIRED},
           'group_member_non_performing=' || other_loan.reference
    FROM open_loans o
    JOIN open_loans other ON other.group_id = o.group_id AND other.id <> o.id
                          AND other.borrower_id <> o.borrower_id
    JOIN loans_loan other_loan ON other_loan.id = other.id
    WHERE o.group_id IS NOT NULL
      AND other.tier IN {NON_PERFORMING_SQL}"""


def refresh_data_driven_flags(*, as_of: date) -> tuple[int, int]:
    """Raise the data-driven flags that now hold and resolve those that no longer do."""
    settings = BusinessSettings.current()
    params = {
        "as_of": as_of,
        "window": settings.contact_change_window_months,
        "threshold": settings.contact_change_threshold,
        "coverage": settings.collateral_coverage_percent,
    }
    data_driven = ", ".join(str(n) for n in sorted(factors.DATA_DRIVEN))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("DROP TABLE IF EXISTS factor_hits")
        cursor.execute(
            "CREATE TEMP TABLE factor_hits (loan_id bigint, factor smallint, evidence text) "
            "ON COMMIT DROP"
        )
        cursor.execute("INSERT INTO factor_hits " + _factor_hits_sql(settings), params)
        # Temporary tables have no statistics: without these the planner compares every open
        # flag with every hit (100,000 loans: 53 s instead of a fraction of a second).
        cursor.execute("CREATE INDEX ON factor_hits (loan_id, factor)")
        cursor.execute("ANALYZE factor_hits")
        cursor.execute(
            """
            INSERT INTO postloan_riskflag (factor, loan_id, source, evidence, is_serious,
                                           raised_on, raised_at, resolution)
            SELECT DISTINCT ON (loan_id, factor) factor, loan_id, 'automatic', evidence, false,
                   %(as_of)s, now(), ''
            FROM factor_hits
            ON CONFLICT (loan_id, factor) WHERE source = 'automatic' AND resolved_on IS NULL
            DO NOTHING""",
            params,
        )
        raised = cursor.rowcount
        cursor.execute(
            f"""
            UPDATE postloan_riskflag f SET resolved_on = %(as_of)s, resolution = 'cleared'
            WHERE f.source = 'automatic' AND f.resolved_on IS NULL
              AND f.factor IN ({data_driven})
              AND NOT EXISTS (SELECT 1 FROM factor_hits h
                              WHERE h.loan_id = f.loan_id AND h.factor = f.factor)""",
            params,
        )
        resolved = cursor.rowcount
    return raised, resolved
