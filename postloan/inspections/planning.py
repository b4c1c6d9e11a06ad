"""Planning inspections: as often as each loan's tier and security demand (docs/domain.md §5).

`schedule_inspections(as_of)` makes sure every active loan has, for the month of
`as_of`, the inspections its strictest policy rule requires, plus those that events
require (handover first contact, default follow-up, ad-hoc after a serious flag), and
cancels (never deletes) what a lighter tier no longer requires. Set-based: a few SQL
statements whatever the portfolio size; every insert is `ON CONFLICT DO NOTHING` on the
business key (loan, kind, slot), so running it twice creates nothing the second time and
a run killed half-way is completed by running it again.

Slots: "2026-11#1", "2026-11#2" (N a month; due by the 15th and by month end when
twice), "2026-01/12m" (once every 12 months, due at the period's end), "2026-11#sample"
(normal-loan sampling), "handover", "flag-<id>", "missed-2026-11".
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import connection, transaction
from django.utils import timezone

from borrowers.models import GuaranteeStatus
from common.calendar import working_day_calendar
from common.models import BusinessSettings
from common.sqlvalues import sql_literal
from loans.models import CollateralStatus, LoanStatus
from postloan.inspections import policy
from postloan.models import (
    MANUAL_VISIT,
    Inspection,
    InspectionPolicyRule,
    InspectionReason,
    InspectionStatus,
    PlanningRun,
)
from postloan.risk.nightly import computed_positions, latest_state_date

logger = logging.getLogger(__name__)

POLICY_KINDS_SQL = "('routine', 'key_tracking', 'return_visit')"
LOCK_KEY = 0x5C4ED01E
# The statuses the planning's SQL reads and writes, from their enums (common.sqlvalues).
OPEN = sql_literal(InspectionStatus.OPEN)
DONE = sql_literal(InspectionStatus.DONE)
CANCELLED = sql_literal(InspectionStatus.CANCELLED)
LOAN_ACTIVE = sql_literal(LoanStatus.ACTIVE)
GUARANTEE_ACTIVE = sql_literal(GuaranteeStatus.ACTIVE)
HELD = sql_literal(CollateralStatus.HELD)
REASON_MISSED = sql_literal(InspectionReason.MISSED)


@dataclass
class ScheduleResult:
    as_of: date
    created: int = 0
    reopened: int = 0
    rescheduled: int = 0
    cancelled: int = 0
    sampled: int = 0
    replanned: int = 0
    completed: int = 0
    # The date of the state when the tiers were computed as of `as_of` instead (a date
    # before the latest classification run); None when planned from the current state.
    state_as_of: date | None = None
    details: dict = field(default_factory=dict)


ANALYZE_AFTER = 50_000  # inserted rows


def month_bounds(day: date) -> tuple[date, date]:
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


# Each active loan's planning inputs: its key to the policy (tier; product, repayment method
# and collateral kinds held, as far as some rule names them; how many of the rules' amount
# thresholds its outstanding principal reaches), its managing officer and whether periods
# are missed. The tier, balance and missed periods come from {state}: the current state, or
# for a date before it the positions computed as of that date (see schedule_inspections).
INPUTS_SQL = f"""
SELECT l.id AS loan_id, l.managing_officer_id AS officer_id, s.tier,
       CASE WHEN l.product_id = ANY(%(products)s) THEN l.product_id ELSE 0 END AS product_key,
       CASE WHEN l.repayment_method = ANY(%(methods)s) THEN l.repayment_method ELSE '' END
           AS method_key,
       COALESCE(c.mask, 0) AS collateral_mask,
       width_bucket(s.outstanding_principal, %(thresholds)s::numeric[]) AS band,
       s.consecutive_missed > 0 AS missed
FROM loans_loan l
JOIN {{state}} s ON s.loan_id = l.id
LEFT JOIN (SELECT c.loan_id,
                  bit_or(1 << (array_position(%(kinds)s::text[], c.kind::text) - 1)) AS mask
           FROM loans_collateral c
           WHERE c.status = {HELD} AND c.kind = ANY(%(kinds)s)
           GROUP BY c.loan_id) c ON c.loan_id = l.id
WHERE l.status = {LOAN_ACTIVE} AND l.disbursed_on <= %(as_of)s {{loan_filter}}
"""

KEY = ("tier", "product_key", "method_key", "collateral_mask", "band")
PLANNED_COLUMNS = ("loan_id", "month", "officer_id", *KEY, "missed", "rule_id")
RULE_COLUMNS = "rule_id, frequency, times_per_month, every_months, sample_percent, kind"
# Each loan's strictest rule: the one of its key (see _policy_keys).
JOIN_BEST = f" LEFT JOIN sched_best USING ({', '.join(KEY)})"

# The loans to re-plan, with their inputs and the strictest rule for their key: every loan
# asked for ...
RULES_SQL = (
    f"INSERT INTO sched_rule SELECT i.*, {RULE_COLUMNS} FROM (" + INPUTS_SQL + ") i" + JOIN_BEST
)

# ... or, in a portfolio-wide run that re-plans every loan, straight into the planned loans
# (read back joined to their rules: `PLANNED_RULES`) ...
FULL_PLAN_SQL = (
    f"INSERT INTO postloan_plannedloan ({', '.join(PLANNED_COLUMNS)}) "
    f"SELECT i.loan_id, %(month_start)s, i.officer_id, {', '.join(KEY)}, i.missed, rule_id FROM ("
    + INPUTS_SQL
    + ") i"
    + JOIN_BEST
)
PLANNED_RULES = (
    "(SELECT p.loan_id, p.officer_id, p.tier, p.missed, p.rule_id, r.frequency, "
    "r.times_per_month, r.every_months, r.sample_percent, r.kind FROM postloan_plannedloan p "
    "LEFT JOIN postloan_inspectionpolicyrule r ON r.id = p.rule_id)"
)

# ... or, after the month's first run under the same policy, those whose inputs differ from
# what they were last planned by; and those planned before that are no longer active (closed,
# or not yet disbursed by the date: `gone`).
CHANGED_SQL = (
    "INSERT INTO sched_changed "
    "SELECT i.*, p.loan_id IS NOT NULL AND i.loan_id IS NULL AS gone, "
    "COALESCE(i.loan_id, p.loan_id) AS any_loan_id FROM ("
    + INPUTS_SQL
    + """) i
FULL JOIN postloan_plannedloan p ON p.loan_id = i.loan_id
WHERE i.loan_id IS NULL OR p.loan_id IS NULL OR p.month <> %(month_start)s
   OR (p.officer_id, p.tier, p.product_key, p.method_key, p.collateral_mask, p.band, p.missed)
      IS DISTINCT FROM
      (i.officer_id, i.tier, i.product_key, i.method_key, i.collateral_mask, i.band, i.missed)
"""
)
CHANGED_RULES_SQL = (
    "INSERT INTO sched_rule "
    f"SELECT i.loan_id, i.officer_id, {', '.join(KEY)}, i.missed, {RULE_COLUMNS} "
    "FROM sched_changed i" + JOIN_BEST + " WHERE NOT i.gone"
)


# The slots the mandatory rules require this month, with their due dates.
REQUIRED_SQL = """
INSERT INTO sched_required
SELECT r.loan_id, r.officer_id, r.kind, r.rule_id,
       to_char(%(month_start)s::date, 'YYYY-MM') || '#' || k AS slot,
       CASE WHEN k = r.times_per_month THEN %(month_end)s::date
            ELSE LEAST(%(month_start)s::date + (round(k * 30.0 / r.times_per_month)::int - 1),
                       %(month_end)s::date) END AS due_on
FROM {rules} r CROSS JOIN LATERAL generate_series(1, r.times_per_month) AS k
WHERE r.frequency = 'per_month'
UNION ALL
SELECT r.loan_id, r.officer_id, r.kind, r.rule_id,
       to_char(p.start, 'YYYY-MM') || '/' || r.every_months || 'm',
       (p.start + make_interval(months => r.every_months) - interval '1 day')::date
FROM {rules} r
CROSS JOIN LATERAL (
    SELECT make_date(idx / 12, idx %% 12 + 1, 1) AS start
    FROM (SELECT ((EXTRACT(YEAR FROM %(as_of)s::date)::int * 12
                   + EXTRACT(MONTH FROM %(as_of)s::date)::int - 1) / r.every_months)
                 * r.every_months AS idx) i
) p
WHERE r.frequency = 'every_n_months'
"""

INSERT_REQUIRED_SQL = f"""
INSERT INTO postloan_inspection (loan_id, kind, slot, due_on, assigned_to_id, status, reason,
                                 rule_id, created_at, cancel_reason)
SELECT loan_id, kind, slot, due_on, officer_id, {OPEN}, 'policy', rule_id, now(), ''
FROM sched_required
ON CONFLICT (loan_id, kind, slot) DO NOTHING
"""

# Required slots that exist already follow their requirement, in one pass: a slot cancelled
# when the tier fell is reopened when it is required again in the same period (for the
# loan's officer now); an open slot whose due date or rule changed moves (a loan that became
# doubtful has the month's first visit due by the 15th, no longer at month end, and back
# when it becomes lighter; an edited rule moves its slots the same way). Returns how many
# of each.
FOLLOW_REQUIRED_SQL = f"""
WITH changed AS (
    UPDATE postloan_inspection i
    SET status = {OPEN}, cancelled_on = NULL, cancel_reason = '',
        assigned_to_id = CASE WHEN x.was = {CANCELLED} THEN x.officer_id
                              ELSE i.assigned_to_id END,
        due_on = x.due_on, rule_id = x.rule_id
    FROM (SELECT r.*, i.id AS inspection_id, i.status AS was
          FROM sched_required r
          JOIN postloan_inspection i
            ON i.loan_id = r.loan_id AND i.kind = r.kind AND i.slot = r.slot
          WHERE i.status = {CANCELLED}
             OR (i.status = {OPEN}
                 AND (i.due_on <> r.due_on OR i.rule_id IS DISTINCT FROM r.rule_id))) x
    WHERE i.id = x.inspection_id
    RETURNING x.was
)
SELECT COUNT(*) FILTER (WHERE was = {CANCELLED}), COUNT(*) FILTER (WHERE was = {OPEN})
FROM changed
"""

# Normal-loan sampling: per sample rule, draw the share still missing this month from the
# loans longest without an inspection (never inspected first; ties by a hash of the month,
# so the draw is reproducible for that month).
SAMPLE_WANTED_SQL = f"""
INSERT INTO sched_sample
WITH population AS (
    SELECT p.loan_id, p.rule_id, r.sample_percent
    FROM postloan_plannedloan p
    JOIN postloan_inspectionpolicyrule r ON r.id = p.rule_id AND r.frequency = 'sample'
), sampled AS (
    SELECT p.rule_id, COUNT(*) AS already
    FROM population p JOIN postloan_inspection i
      ON i.loan_id = p.loan_id AND i.slot = %(sample_slot)s AND i.status <> {CANCELLED}
    GROUP BY p.rule_id
)
SELECT p.rule_id,
       CEIL(COUNT(*) * MAX(p.sample_percent) / 100)::int - COALESCE(MAX(s.already), 0)
           AS still_needed
FROM population p LEFT JOIN sampled s ON s.rule_id = p.rule_id
GROUP BY p.rule_id
"""

SAMPLE_SQL = f"""
WITH population AS (
    SELECT p.loan_id, p.officer_id, p.rule_id, r.kind
    FROM postloan_plannedloan p
    JOIN postloan_inspectionpolicyrule r ON r.id = p.rule_id
    WHERE p.rule_id = %(rule_id)s
), last_seen AS (
    SELECT i.loan_id, MAX(COALESCE(i.completed_on, i.due_on)) AS last_on
    FROM postloan_inspection i JOIN population p ON p.loan_id = i.loan_id
    WHERE i.status <> {CANCELLED}
    GROUP BY i.loan_id
), candidates AS (
    SELECT p.*
    FROM population p LEFT JOIN last_seen ls ON ls.loan_id = p.loan_id
    WHERE NOT EXISTS (SELECT 1 FROM postloan_inspection i WHERE i.loan_id = p.loan_id
                      AND i.slot = %(sample_slot)s)
    ORDER BY ls.last_on NULLS FIRST, md5(p.loan_id::text || %(sample_slot)s)::uuid
    LIMIT %(still_needed)s
)
INSERT INTO postloan_inspection (loan_id, kind, slot, due_on, assigned_to_id, status, reason,
                                 rule_id, created_at, cancel_reason)
SELECT c.loan_id, c.kind, %(sample_slot)s, %(month_end)s, c.officer_id, {OPEN}, 'sample',
       c.rule_id, now(), ''
FROM candidates c
ORDER BY c.loan_id  -- in the order of the key's index, not of the draw
ON CONFLICT (loan_id, kind, slot) DO NOTHING
"""

# The status changes here (cancel, reopen, the handover's done) are set-based SQL over the
# whole book, not common.transitions' one locked row at a time, which would slow the night;
# they move only along postloan.transitions.INSPECTION_TRANSITIONS (open -> cancelled, done;
# cancelled -> open) and each row says why (cancel_reason) and when (cancelled_on).
#
# What a lighter requirement no longer asks for in the periods under way (this month's
# slots, and longer periods that began by now and end later); a sampled loan keeps its
# sample slot unless a stricter rule now applies. Slots of periods still to come (a later
# month planned before an earlier one is backfilled) are that period's run's business.
# The reason names the loan's tier, also when no rule applies to it any more.
CANCEL_SURPLUS_SQL = f"""
UPDATE postloan_inspection i SET status = {CANCELLED}, cancelled_on = %(as_of)s,
       cancel_reason = 'no_longer_required:' || r.tier
FROM {{rules}} r
WHERE i.loan_id = r.loan_id AND i.status = {OPEN}
  AND i.kind IN {POLICY_KINDS_SQL}
  AND i.due_on >= %(month_start)s
  AND left(i.slot, 7) <= to_char(%(month_start)s::date, 'YYYY-MM')
  AND NOT EXISTS (SELECT 1 FROM sched_required q
                  WHERE q.loan_id = i.loan_id AND q.kind = i.kind AND q.slot = i.slot)
  AND NOT (i.slot = %(sample_slot)s AND r.frequency = 'sample')
"""

# Loans that closed (settled, written off) have nothing left to inspect.
CANCEL_CLOSED_SQL = f"""
UPDATE postloan_inspection i SET status = {CANCELLED}, cancelled_on = %(as_of)s,
       cancel_reason = 'loan_closed'
FROM loans_loan l
WHERE l.id = i.loan_id AND i.status = {OPEN} AND l.status <> {LOAN_ACTIVE} {{loan_filter}}
"""

HANDOVER_SQL = f"""
INSERT INTO postloan_inspection (loan_id, kind, slot, due_on, assigned_to_id, status, reason,
                                 created_at, cancel_reason)
SELECT h.loan_id, 'handover', 'handover', h.due_on, h.to_officer_id, {OPEN}, 'handover',
       now(), ''
FROM loans_handover h JOIN loans_loan l ON l.id = h.loan_id
WHERE h.contacted_on IS NULL AND l.status = {LOAN_ACTIVE} {{loan_filter}}
ON CONFLICT (loan_id, kind, slot) DO NOTHING
"""

# A recorded first contact completes the handover inspection, on time or late.
HANDOVER_DONE_SQL = f"""
UPDATE postloan_inspection i SET status = {DONE}, completed_on = h.contacted_on
FROM loans_handover h
WHERE i.loan_id = h.loan_id AND i.kind = 'handover' AND i.status = {OPEN}
  AND h.contacted_on IS NOT NULL {{loan_filter_h}}
"""

FOLLOW_UP_SQL = f"""
INSERT INTO postloan_inspection (loan_id, kind, slot, due_on, assigned_to_id, status, reason,
                                 created_at, cancel_reason)
SELECT r.loan_id, 'default_follow_up', 'missed-' || to_char(%(as_of)s::date, 'YYYY-MM'),
       %(follow_up_due)s, r.officer_id, {OPEN}, {REASON_MISSED}, now(), ''
FROM {{source}} r
WHERE r.missed
  AND NOT EXISTS (SELECT 1 FROM postloan_inspection i WHERE i.loan_id = r.loan_id
                  AND i.kind = 'default_follow_up' AND i.status = {OPEN})
ON CONFLICT (loan_id, kind, slot) DO NOTHING
"""


def _ad_hoc_sql(loan_filter: str) -> str:
    """Serious open flags: an ad-hoc inspection of every active loan they reach."""
    return f"""
    INSERT INTO postloan_inspection (loan_id, kind, slot, due_on, assigned_to_id, status,
                                     reason, flag_id, created_at, cancel_reason)
    SELECT l.id, 'ad_hoc', 'flag-' || f.id, d.due_on, l.managing_officer_id, {OPEN}, 'flag',
           f.id, now(), ''
    FROM postloan_riskflag f
    JOIN loans_loan l ON l.status = {LOAN_ACTIVE} AND (
            f.loan_id = l.id OR f.borrower_id = l.borrower_id
            OR f.guarantor_id IN (SELECT g.guarantor_id FROM borrowers_guarantee g
                                  WHERE g.loan_id = l.id AND g.status = {GUARANTEE_ACTIVE}))
    -- Counted from the flag, or from the disbursement of a loan booked after it, so that a
    -- new loan of a flagged borrower is not born overdue.
    JOIN ad_hoc_due d ON d.raised_on = GREATEST(f.raised_on, l.disbursed_on)
    WHERE f.is_serious AND f.resolved_on IS NULL {loan_filter}
    ON CONFLICT (loan_id, kind, slot) DO NOTHING
    """


def _ad_hoc_due_dates(cursor, settings: BusinessSettings) -> None:
    """Due dates for the serious flags' dates, in Chinese working days (computed here)."""
    cursor.execute(
        "SELECT DISTINCT raised_on FROM postloan_riskflag WHERE is_serious AND resolved_on IS NULL "
        f"UNION SELECT DISTINCT disbursed_on FROM loans_loan WHERE status = {LOAN_ACTIVE} AND "
        "disbursed_on >= (SELECT MIN(raised_on) FROM postloan_riskflag WHERE is_serious "
        "AND resolved_on IS NULL)"
    )
    days = [row[0] for row in cursor.fetchall()]
    if not days:
        return
    workdays = working_day_calendar()
    values = [
        (day, workdays.add_working_days(day, settings.adhoc_inspection_working_days).day)
        for day in days
    ]
    # One statement (executemany does not mix with the audit context the request adds).
    placeholders = ", ".join(["(%s, %s)"] * len(values))
    cursor.execute(
        f"INSERT INTO ad_hoc_due VALUES {placeholders}", [x for pair in values for x in pair]
    )


# The planner's working tables: created once per transaction and emptied for each call, so
# that re-planning loan after loan in one transaction (a demo, an import) does not create a
# new set of tables (and hold a lock on each) every time.
WORK_TABLES = {
    "sched_best": "tier text, product_key bigint, method_key text, collateral_mask int, "
    "band int, rule_id bigint, frequency text, times_per_month int, every_months int, "
    "sample_percent numeric, kind text",
    "sched_rule": "loan_id bigint, officer_id int, tier text, product_key bigint, "
    "method_key text, collateral_mask int, band int, missed bool, rule_id bigint, "
    "frequency text, times_per_month int, every_months int, sample_percent numeric, kind text",
    "sched_changed": "loan_id bigint, officer_id int, tier text, product_key bigint, "
    "method_key text, collateral_mask int, band int, missed bool, gone bool, any_loan_id bigint",
    "sched_required": "loan_id bigint, officer_id int, kind text, rule_id bigint, slot text, "
    "due_on date",
    "sched_sample": "rule_id bigint, still_needed int",
    "ad_hoc_due": "raised_on date PRIMARY KEY, due_on date",
}


def _work_tables(cursor) -> None:
    cursor.execute(
        "".join(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DROP; "
            for name, columns in WORK_TABLES.items()
        )
        + "CREATE INDEX IF NOT EXISTS sched_required_key ON sched_required (loan_id, kind, slot); "
        + f"TRUNCATE {', '.join(WORK_TABLES)}"
    )


def _policy_keys(cursor) -> tuple[dict, str]:
    """The active policy as a lookup table (sched_best): for every key a loan can have, its
    strictest rule (postloan/inspections/policy.py). Returns the parameters that compute a
    loan's key in SQL and the policy's fingerprint."""
    rules = list(InspectionPolicyRule.objects.filter(is_active=True).order_by("id"))
    keys = policy.policy_keys(rules)
    best = policy.strictest_rules(rules, keys)
    cursor.execute(
        "INSERT INTO sched_best "
        f"SELECT {', '.join('k.' + column for column in KEY)}, r.id, r.frequency, "
        "r.times_per_month, r.every_months, r.sample_percent, r.kind "
        "FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::int[], %s::int[], %s::bigint[]) "
        f"AS k({', '.join(KEY)}, best_rule_id) "
        "JOIN postloan_inspectionpolicyrule r ON r.id = k.best_rule_id",
        [list(column) for column in zip(*best, strict=True)] if best else [[]] * 6,
    )
    cursor.execute("ANALYZE sched_best")  # a few rows: joined by hash, not by sorting loans
    params = {
        "products": keys.products,
        "methods": keys.methods,
        "kinds": keys.kinds,
        "thresholds": keys.thresholds,
    }
    return params, policy.fingerprint(rules)


def schedule_inspections(
    *, as_of: date | None = None, loan_ids: list[int] | None = None, full: bool = False
) -> ScheduleResult:
    """Plan the month of `as_of` for every active loan (or just `loan_ids`).

    A portfolio-wide run after another one of the same month under the same policy
    re-plans only the loans whose planning inputs changed since (and those that closed);
    `full=True` re-plans every loan whatever came before.

    A portfolio-wide run dated before the latest classification run plans from the loans'
    tiers, balances and missed periods as of `as_of`, computed as that day's classification
    decided them (postloan.risk.nightly.computed_positions), never from today's state: a past
    month is planned as it stood. The rest is as it is now: the loans' officers, which
    loans are active, the open flags and handovers. Re-planning some loans after an event
    (`loan_ids`) follows the current state.
    """
    as_of = as_of or timezone.localdate()
    month_start, month_end = month_bounds(as_of)
    settings = BusinessSettings.current()
    follow_up_due = (
        working_day_calendar().add_working_days(as_of, settings.followup_working_days).day
    )
    params = {
        "as_of": as_of,
        "month_start": month_start,
        "month_end": month_end,
        "sample_slot": f"{month_start:%Y-%m}#sample",
        "follow_up_due": follow_up_due,
        "ids": loan_ids or [],
    }
    portfolio = loan_ids is None
    loan_filter = "" if portfolio else "AND l.id = ANY(%(ids)s)"
    result = ScheduleResult(as_of=as_of)
    with transaction.atomic(), connection.cursor() as cursor:
        state, policy, full = _begin(cursor, params, result, portfolio=portfolio, full=full)
        incremental = portfolio and not full
        rules = _plan_loans(
            cursor,
            params,
            result,
            state=state,
            portfolio=portfolio,
            incremental=incremental,
            loan_filter=loan_filter,
        )
        _plan_required(
            cursor, params, result, rules=rules, incremental=incremental, loan_filter=loan_filter
        )
        if rules == "sched_rule":
            _remember_plans(cursor, params, portfolio=portfolio)
        if portfolio:
            # The monthly draw is portfolio-wide: re-planning one loan never samples it.
            result.sampled = _draw_samples(cursor, params)
        _plan_events(cursor, params, result, settings, portfolio=portfolio, loan_filter=loan_filter)
        if portfolio:
            PlanningRun.objects.create(
                as_of=as_of,
                month=month_start,
                policy=policy,
                full=full,
                replanned=result.replanned,
                created=result.created + result.sampled,
                cancelled=result.cancelled,
            )
    return result


def _begin(
    cursor, params: dict, result: ScheduleResult, *, portfolio: bool, full: bool
) -> tuple[str, str, bool]:
    """Open the run: the lock, the session's settings, the table of tiers and balances to
    plan from, the work tables and the policy (its keys go into `params`).

    Returns that table, the policy's fingerprint and whether the run plans every loan.
    """
    if portfolio:
        # One portfolio-wide planning at a time; single-loan re-planning needs no lock.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '256MB'")
    state = "postloan_loanriskstate"
    if portfolio:
        state_as_of = latest_state_date()
        if state_as_of is not None and params["as_of"] < state_as_of:
            computed_positions(cursor, as_of=params["as_of"], table="sched_state")
            state, result.state_as_of = "sched_state", state_as_of
    _work_tables(cursor)
    keys, policy = _policy_keys(cursor)
    params.update(keys)
    if portfolio and not full:
        last = PlanningRun.objects.order_by("-id").values("month", "policy").first()
        full = last != {"month": params["month_start"], "policy": policy}
    return state, policy, full


def _plan_loans(
    cursor,
    params: dict,
    result: ScheduleResult,
    *,
    state: str,
    portfolio: bool,
    incremental: bool,
    loan_filter: str,
) -> str:
    """Each re-planned loan's strictest rule: those whose inputs changed (a rerun in the
    month), every loan (postloan_plannedloan, a first or full run) or the loans asked for.

    Returns the table the rules are in.
    """
    rules = "sched_rule"
    if incremental:
        cursor.execute(CHANGED_SQL.format(loan_filter="", state=state), params)
        cursor.execute(CHANGED_RULES_SQL, params)
    elif portfolio:
        cursor.execute("TRUNCATE postloan_plannedloan")
        cursor.execute(FULL_PLAN_SQL.format(loan_filter="", state=state), params)
        rules = PLANNED_RULES
    else:
        cursor.execute(RULES_SQL.format(loan_filter=loan_filter, state=state), params)
    result.replanned = cursor.rowcount
    cursor.execute(
        "ANALYZE sched_rule" if rules == "sched_rule" else "ANALYZE postloan_plannedloan"
    )
    return rules


def _plan_required(
    cursor, params: dict, result: ScheduleResult, *, rules: str, incremental: bool, loan_filter: str
) -> None:
    """The inspections the rules require: create the missing, reopen a cancelled one that is
    required again, move an open one whose due date or rule changed; then cancel a closed
    loan's open inspections and those a lighter rule no longer asks for."""
    cursor.execute(REQUIRED_SQL.format(rules=rules), params)
    cursor.execute("ANALYZE sched_required")
    cursor.execute(INSERT_REQUIRED_SQL, params)
    result.created += cursor.rowcount
    if result.created > ANALYZE_AFTER:
        # The first planning of a month adds a row per loan: the statements below
        # must not plan for the table as it was (20 s instead of 4 at a million loans).
        cursor.execute("ANALYZE postloan_inspection")
    cursor.execute(FOLLOW_REQUIRED_SQL, params)
    result.reopened, result.rescheduled = cursor.fetchone()
    gone = "AND l.id IN (SELECT any_loan_id FROM sched_changed WHERE gone)"
    closed_filter = gone if incremental else loan_filter
    cursor.execute(CANCEL_CLOSED_SQL.format(loan_filter=closed_filter), params)
    result.cancelled = cursor.rowcount
    cursor.execute(CANCEL_SURPLUS_SQL.format(rules=rules), params)
    result.cancelled += cursor.rowcount


def _plan_events(
    cursor,
    params: dict,
    result: ScheduleResult,
    settings: BusinessSettings,
    *,
    portfolio: bool,
    loan_filter: str,
) -> None:
    """The inspections events require: the handover's first contact (completed once the
    contact is recorded), the follow-up of a missed period, the ad-hoc visit after a flag."""
    cursor.execute(HANDOVER_SQL.format(loan_filter=loan_filter), params)
    result.created += cursor.rowcount
    cursor.execute(
        HANDOVER_DONE_SQL.format(loan_filter_h="" if portfolio else "AND h.loan_id = ANY(%(ids)s)"),
        params,
    )
    result.completed = cursor.rowcount
    # Every active loan's inputs are in the planned loans now; one asked for, in sched_rule.
    source = "postloan_plannedloan" if portfolio else "sched_rule"
    cursor.execute(FOLLOW_UP_SQL.format(source=source), params)
    result.created += cursor.rowcount
    _ad_hoc_due_dates(cursor, settings)
    cursor.execute(_ad_hoc_sql(loan_filter), params)
    result.created += cursor.rowcount


def _remember_plans(cursor, params: dict, *, portfolio: bool) -> None:
    """Record what each re-planned loan was planned by, for the next run to compare."""
    columns = ", ".join(PLANNED_COLUMNS)
    select = f"SELECT {columns.replace('month', '%(month_start)s')} FROM sched_rule"
    if portfolio:
        gone = "SELECT any_loan_id FROM sched_changed WHERE gone"
    else:
        # Loans asked for that are not active (any more) are forgotten.
        gone = "SELECT unnest(%(ids)s::bigint[]) EXCEPT SELECT loan_id FROM sched_rule"
    cursor.execute(f"DELETE FROM postloan_plannedloan WHERE loan_id IN ({gone})", params)
    cursor.execute(
        f"INSERT INTO postloan_plannedloan ({columns}) {select} "
        "ON CONFLICT (loan_id) DO UPDATE SET "
        + ", ".join(f"{column} = EXCLUDED.{column}" for column in PLANNED_COLUMNS[1:]),
        params,
    )


def _draw_samples(cursor, params: dict) -> int:
    """The month's sample of each sampling rule's loans, as far as it is still short."""
    cursor.execute(SAMPLE_WANTED_SQL, params)
    cursor.execute("SELECT rule_id, still_needed FROM sched_sample WHERE still_needed > 0")
    drawn = 0
    for rule_id, still_needed in cursor.fetchall():
        cursor.execute(SAMPLE_SQL, {**params, "rule_id": rule_id, "still_needed": still_needed})
        drawn += cursor.rowcount
    return drawn


def schedule_for_loans(loan_ids, *, as_of: date | None = None) -> ScheduleResult:
    """Re-plan some loans at once (a tier change, a serious flag, a new loan)."""
    return schedule_inspections(as_of=as_of, loan_ids=list(loan_ids))


def follow_reassignment(*, loan, to_officer) -> int:
    """A new managing officer takes over the loan's open inspections."""
    open_inspections = Inspection.objects.filter(loan=loan, status=InspectionStatus.OPEN)
    # An unplanned visit someone else started on a day the new officer has one open on this
    # loan too stays with whoever started it: one open unplanned visit per loan and officer
    # a day (a unique constraint).
    theirs = open_inspections.filter(
        kind="ad_hoc", reason=MANUAL_VISIT, assigned_to=to_officer
    ).values("due_on")
    taken_over = open_inspections.exclude(kind="ad_hoc", reason=MANUAL_VISIT, due_on__in=theirs)
    return taken_over.update(assigned_to=to_officer)


def week_ahead(today: date) -> date:
    return today + timedelta(days=7)
