"""Planning inspections: as often as each loan's tier and security demand (DOMAIN.md §5).

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

from common.calendar import working_day_calendar
from common.models import BusinessSettings

logger = logging.getLogger(__name__)

POLICY_KINDS_SQL = "('routine', 'key_tracking', 'return_visit')"
LOCK_KEY = 0x5C4ED01E


@dataclass
class ScheduleResult:
    as_of: date
    created: int = 0
    reopened: int = 0
    rescheduled: int = 0
    cancelled: int = 0
    sampled: int = 0
    completed: int = 0
    details: dict = field(default_factory=dict)


ANALYZE_AFTER = 50_000  # inserted rows


def month_bounds(day: date) -> tuple[date, date]:
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


def _rules_sql(loan_filter: str) -> str:
    """Each active loan's strictest matching rule (most inspections a month wins)."""
    return f"""
    CREATE TEMP TABLE sched_rule ON COMMIT DROP AS
    SELECT DISTINCT ON (l.id) l.id AS loan_id, l.managing_officer_id AS officer_id,
           s.tier, r.id AS rule_id, r.frequency, r.times_per_month, r.every_months,
           r.sample_percent, r.kind
    FROM loans_loan l
    JOIN postloan_loanriskstate s ON s.loan_id = l.id
    JOIN postloan_inspectionpolicyrule r ON r.is_active
        AND (r.tier = '' OR r.tier = s.tier)
        AND (r.collateral_kind = '' OR EXISTS (
                SELECT 1 FROM loans_collateral c
                WHERE c.loan_id = l.id AND c.kind = r.collateral_kind AND c.status = 'held'))
        AND (r.min_outstanding IS NULL OR s.outstanding_principal >= r.min_outstanding)
        AND (r.product_id IS NULL OR r.product_id = l.product_id)
        AND (r.repayment_method = '' OR r.repayment_method = l.repayment_method)
    WHERE l.status = 'active' AND l.disbursed_on <= %(as_of)s {loan_filter}
    ORDER BY l.id,
             CASE r.frequency WHEN 'per_month' THEN r.times_per_month::numeric
                              WHEN 'every_n_months' THEN 1.0 / r.every_months
                              ELSE r.sample_percent / 100 END DESC,
             r.id
    """


# The slots the mandatory rules require this month, with their due dates.
REQUIRED_SQL = """
CREATE TEMP TABLE sched_required ON COMMIT DROP AS
SELECT r.loan_id, r.officer_id, r.kind, r.rule_id,
       to_char(%(month_start)s::date, 'YYYY-MM') || '#' || k AS slot,
       CASE WHEN k = r.times_per_month THEN %(month_end)s::date
            ELSE LEAST(%(month_start)s::date + (round(k * 30.0 / r.times_per_month)::int - 1),
                       %(month_end)s::date) END AS due_on
FROM sched_rule r CROSS JOIN LATERAL generate_series(1, r.times_per_month) AS k
WHERE r.frequency = 'per_month'
UNION ALL
SELECT r.loan_id, r.officer_id, r.kind, r.rule_id,
       to_char(p.start, 'YYYY-MM') || '/' || r.every_months || 'm',
       (p.start + make_interval(months => r.every_months) - interval '1 day')::date
FROM sched_rule r
CROSS JOIN LATERAL (
    SELECT make_date(idx / 12, idx %% 12 + 1, 1) AS start
    FROM (SELECT ((EXTRACT(YEAR FROM %(as_of)s::date)::int * 12
                   + EXTRACT(MONTH FROM %(as_of)s::date)::int - 1) / r.every_months)
                 * r.every_months AS idx) i
) p
WHERE r.frequency = 'every_n_months'
"""

INSERT_REQUIRED_SQL = """
INSERT INTO postloan_inspection (loan_id, kind, slot, due_on, assigned_to_id, status, reason,
                                 rule_id, created_at, cancel_reason)
SELECT loan_id, kind, slot, due_on, officer_id, 'open', 'policy', rule_id, now(), ''
FROM sched_required
ON CONFLICT (loan_id, kind, slot) DO NOTHING
"""

# A slot cancelled when the tier fell is required again when it rises in the same period.
REOPEN_SQL = """
UPDATE postloan_inspection i SET status = 'open', cancelled_on = NULL, cancel_reason = '',
       assigned_to_id = r.officer_id
FROM sched_required r
WHERE i.loan_id = r.loan_id AND i.kind = r.kind AND i.slot = r.slot AND i.status = 'cancelled'
"""

# An open slot follows its requirement when that changed: a loan that became doubtful has
# the first visit of the month it already had due by the 15th, no longer at month end (and
# back when it becomes lighter); an edited rule moves its slots' due dates the same way.
RESCHEDULE_SQL = """
UPDATE postloan_inspection i SET due_on = r.due_on, rule_id = r.rule_id
FROM sched_required r
WHERE i.loan_id = r.loan_id AND i.kind = r.kind AND i.slot = r.slot AND i.status = 'open'
  AND (i.due_on <> r.due_on OR i.rule_id IS DISTINCT FROM r.rule_id)
"""

# Normal-loan sampling: per sample rule, draw the share still missing this month from the
# loans longest without an inspection (never inspected first; ties by a hash of the month,
# so the draw is reproducible for that month).
SAMPLE_SQL = """
WITH population AS (
    SELECT r.loan_id, r.officer_id, r.rule_id, r.kind, r.sample_percent
    FROM sched_rule r WHERE r.frequency = 'sample'
), sampled AS (
    SELECT p.rule_id, COUNT(*) AS already
    FROM population p JOIN postloan_inspection i
      ON i.loan_id = p.loan_id AND i.slot = %(sample_slot)s AND i.status <> 'cancelled'
    GROUP BY p.rule_id
), wanted AS (
    SELECT p.rule_id,
           CEIL(COUNT(*) * MAX(p.sample_percent) / 100)::int - COALESCE(MAX(s.already), 0)
               AS still_needed
    FROM population p LEFT JOIN sampled s ON s.rule_id = p.rule_id
    GROUP BY p.rule_id
), last_seen AS (
    SELECT i.loan_id, MAX(COALESCE(i.completed_on, i.due_on)) AS last_on
    FROM postloan_inspection i JOIN population p ON p.loan_id = i.loan_id
    WHERE i.status <> 'cancelled'
    GROUP BY i.loan_id
), ranked AS (
    SELECT p.*, ROW_NUMBER() OVER (
               PARTITION BY p.rule_id
               ORDER BY ls.last_on NULLS FIRST, md5(p.loan_id::text || %(sample_slot)s)
           ) AS position
    FROM population p LEFT JOIN last_seen ls ON ls.loan_id = p.loan_id
    WHERE NOT EXISTS (SELECT 1 FROM postloan_inspection i WHERE i.loan_id = p.loan_id
                      AND i.slot = %(sample_slot)s)
)
INSERT INTO postloan_inspection (loan_id, kind, slot, due_on, assigned_to_id, status, reason,
                                 rule_id, created_at, cancel_reason)
SELECT r.loan_id, r.kind, %(sample_slot)s, %(month_end)s, r.officer_id, 'open', 'sample',
       r.rule_id, now(), ''
FROM ranked r JOIN wanted w ON w.rule_id = r.rule_id
WHERE r.position <= w.still_needed
ON CONFLICT (loan_id, kind, slot) DO NOTHING
"""

# What a lighter requirement no longer asks for in the periods under way (this month's
# slots, and longer periods that began by now and end later); a sampled loan keeps its
# sample slot unless a stricter rule now applies. Slots of periods still to come (a later
# month planned before an earlier one is backfilled) are that period's run's business.
# The reason names the loan's tier, also when no rule applies to it any more.
CANCEL_SURPLUS_SQL = f"""
UPDATE postloan_inspection i SET status = 'cancelled', cancelled_on = %(as_of)s,
       cancel_reason = 'no_longer_required:' || r.tier
FROM (SELECT l.id AS loan_id, s.tier, sr.frequency FROM loans_loan l
      JOIN postloan_loanriskstate s ON s.loan_id = l.id
      LEFT JOIN sched_rule sr ON sr.loan_id = l.id
      WHERE l.status = 'active' {{loan_filter}}) r
WHERE i.loan_id = r.loan_id AND i.status = 'open'
  AND i.kind IN {POLICY_KINDS_SQL}
  AND i.due_on >= %(month_start)s
  AND left(i.slot, 7) <= to_char(%(month_start)s::date, 'YYYY-MM')
  AND NOT EXISTS (SELECT 1 FROM sched_required q
                  WHERE q.loan_id = i.loan_id AND q.kind = i.kind AND q.slot = i.slot)
  AND NOT (i.slot = %(sample_slot)s AND r.frequency = 'sample')
"""

# Loans that closed (settled, written off) have nothing left to inspect.
CANCEL_CLOSED_SQL = """
UPDATE postloan_inspection i SET status = 'cancelled', cancelled_on = %(as_of)s,
       cancel_reason = 'loan_closed'
FROM loans_loan l
WHERE l.id = i.loan_id AND i.status = 'open' AND l.status <> 'active' {loan_filter}
"""

HANDOVER_SQL = """
INSERT INTO postloan_inspection (loan_id, kind, slot, due_on, assigned_to_id, status, reason,
                                 created_at, cancel_reason)
SELECT h.loan_id, 'handover', 'handover', h.due_on, h.to_officer_id, 'open', 'handover',
       now(), ''
FROM loans_handover h JOIN loans_loan l ON l.id = h.loan_id
WHERE h.contacted_on IS NULL AND l.status = 'active' {loan_filter}
ON CONFLICT (loan_id, kind, slot) DO NOTHING
"""

# A recorded first contact completes the handover inspection, on time or late.
HANDOVER_DONE_SQL = """
UPDATE postloan_inspection i SET status = 'done', completed_on = h.contacted_on
FROM loans_handover h
WHERE i.loan_id = h.loan_id AND i.kind = 'handover' AND i.status = 'open'
  AND h.contacted_on IS NOT NULL {loan_filter_h}
"""

FOLLOW_UP_SQL = """
INSERT INTO postloan_inspection (loan_id, kind, slot, due_on, assigned_to_id, status, reason,
                                 created_at, cancel_reason)
SELECT l.id, 'default_follow_up', 'missed-' || to_char(%(as_of)s::date, 'YYYY-MM'),
       %(follow_up_due)s, l.managing_officer_id, 'open', 'missed', now(), ''
FROM loans_loan l JOIN postloan_loanriskstate s ON s.loan_id = l.id
WHERE l.status = 'active' AND s.consecutive_missed > 0 {loan_filter}
  AND NOT EXISTS (SELECT 1 FROM postloan_inspection i WHERE i.loan_id = l.id
                  AND i.kind = 'default_follow_up' AND i.status = 'open')
ON CONFLICT (loan_id, kind, slot) DO NOTHING
"""


def _ad_hoc_sql(loan_filter: str) -> str:
    """Serious open flags: an ad-hoc inspection of every active loan they reach."""
    return f"""
    INSERT INTO postloan_inspection (loan_id, kind, slot, due_on, assigned_to_id, status,
                                     reason, flag_id, created_at, cancel_reason)
    SELECT l.id, 'ad_hoc', 'flag-' || f.id, d.due_on, l.managing_officer_id, 'open', 'flag',
           f.id, now(), ''
    FROM postloan_riskflag f
    JOIN loans_loan l ON l.status = 'active' AND (
            f.loan_id = l.id OR f.borrower_id = l.borrower_id
            OR f.guarantor_id IN (SELECT g.guarantor_id FROM borrowers_guarantee g
                                  WHERE g.loan_id = l.id AND g.status = 'active'))
    -- Counted from the flag, or from the disbursement of a loan booked after it, so that a
    -- new loan of a flagged borrower is not born overdue.
    JOIN ad_hoc_due d ON d.raised_on = GREATEST(f.raised_on, l.disbursed_on)
    WHERE f.is_serious AND f.resolved_on IS NULL {loan_filter}
    ON CONFLICT (loan_id, kind, slot) DO NOTHING
    """


def _ad_hoc_due_dates(cursor, settings: BusinessSettings) -> None:
    """Due dates for the serious flags' dates, in Chinese working days (computed here)."""
    cursor.execute(
        "CREATE TEMP TABLE ad_hoc_due (raised_on date PRIMARY KEY, due_on date) ON COMMIT DROP"
    )
    cursor.execute(
        "SELECT DISTINCT raised_on FROM postloan_riskflag WHERE is_serious AND resolved_on IS NULL "
        "UNION SELECT DISTINCT disbursed_on FROM loans_loan WHERE status = 'active' AND "
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


def schedule_inspections(
    *, as_of: date | None = None, loan_ids: list[int] | None = None
) -> ScheduleResult:
    """Plan the month of `as_of` for every active loan (or just `loan_ids`)."""
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
    loan_filter = "AND l.id = ANY(%(ids)s)" if loan_ids is not None else ""
    result = ScheduleResult(as_of=as_of)
    with transaction.atomic(), connection.cursor() as cursor:
        if loan_ids is None:
            # One portfolio-wide planning at a time; single-loan re-planning needs no lock.
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("DROP TABLE IF EXISTS sched_rule, sched_required, ad_hoc_due")
        if loan_ids is None:
            # Fresh statistics first: planned on last month's (or on none, where autovacuum
            # lags or is off), the follow-up check took minutes at a million loans.
            cursor.execute("ANALYZE postloan_inspection")
        cursor.execute(_rules_sql(loan_filter), params)
        cursor.execute("ANALYZE sched_rule")
        cursor.execute(REQUIRED_SQL, params)
        cursor.execute("CREATE INDEX ON sched_required (loan_id, kind, slot)")
        cursor.execute("ANALYZE sched_required")
        cursor.execute(INSERT_REQUIRED_SQL, params)
        result.created += cursor.rowcount
        if result.created > ANALYZE_AFTER:
            # The first planning of a month adds a row per loan: the statements below
            # must not plan for the table as it was (20 s instead of 4 at a million loans).
            cursor.execute("ANALYZE postloan_inspection")
        cursor.execute(REOPEN_SQL, params)
        result.reopened = cursor.rowcount
        cursor.execute(RESCHEDULE_SQL, params)
        result.rescheduled = cursor.rowcount
        if loan_ids is None:
            # The monthly draw is portfolio-wide: re-planning one loan never samples it.
            cursor.execute(SAMPLE_SQL, params)
            result.sampled = cursor.rowcount
        cursor.execute(CANCEL_CLOSED_SQL.format(loan_filter=loan_filter), params)
        result.cancelled = cursor.rowcount
        cursor.execute(CANCEL_SURPLUS_SQL.format(loan_filter=loan_filter), params)
        result.cancelled += cursor.rowcount
        cursor.execute(HANDOVER_SQL.format(loan_filter=loan_filter), params)
        result.created += cursor.rowcount
        cursor.execute(
            HANDOVER_DONE_SQL.format(
                loan_filter_h="AND h.loan_id = ANY(%(ids)s)" if loan_ids is not None else ""
            ),
            params,
        )
        result.completed = cursor.rowcount
        cursor.execute(FOLLOW_UP_SQL.format(loan_filter=loan_filter), params)
        result.created += cursor.rowcount
        _ad_hoc_due_dates(cursor, settings)
        cursor.execute(_ad_hoc_sql(loan_filter), params)
        result.created += cursor.rowcount
    return result


def schedule_for_loans(loan_ids, *, as_of: date | None = None) -> ScheduleResult:
    """Re-plan some loans at once (a tier change, a serious flag, a new loan)."""
    return schedule_inspections(as_of=as_of, loan_ids=list(loan_ids))


def follow_reassignment(*, loan, to_officer) -> int:
    """A new managing officer takes over the loan's open inspections."""
    from postloan.models import Inspection

    return Inspection.objects.filter(loan=loan, status="open").update(assigned_to=to_officer)


def week_ahead(today: date) -> date:
    return today + timedelta(days=7)
