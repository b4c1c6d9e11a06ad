"""The rules of loans/ledger.py, set-based in SQL: the same allocation and position for
a whole range of loans at once (docs/domain.md §3, §4).

- `positions_sql`: each loan's position as of a date (consecutive missed periods, with
  `_anniversaries`, the monthly ageing after the last due date; days past due;
  outstanding principal; overdue amount), as `ledger.position`.
- `fewer_payments_before`: which of the two exact ways positions_sql reads a past date is
  the cheaper.
- `ALLOCATE_SQL`: the allocation of repayments to instalments, oldest first, as
  `ledger.allocate` (the import's rebuild of a loan's ledger).

The one copy of these rules in SQL: the nightly classification, the month-end snapshot
and the import use them from here. tests/loans/test_ledger_sql.py holds each against its
pure rule in loans/ledger.py.
"""

from __future__ import annotations

import json
from datetime import date

from common.sqlvalues import sql_literal
from loans.models import LoanStatus


def _anniversaries(last_due: str, as_of: str) -> str:
    """Monthly anniversaries of `last_due` on or before `as_of` (a day the month lacks
    moves to its last day), as in loans.ledger."""
    return f"""GREATEST(0,
        (EXTRACT(YEAR FROM {as_of})::int * 12 + EXTRACT(MONTH FROM {as_of})::int)
        - (EXTRACT(YEAR FROM {last_due})::int * 12 + EXTRACT(MONTH FROM {last_due})::int)
        - CASE WHEN EXTRACT(DAY FROM {as_of}) < LEAST(
                EXTRACT(DAY FROM {last_due}),
                EXTRACT(DAY FROM (date_trunc('month', {as_of}) + interval '1 month - 1 day')))
          THEN 1 ELSE 0 END)"""


def fewer_payments_before(cursor, as_of: date) -> bool:
    """Whether fewer repayments were made by `as_of` than after it, by the planner's
    estimates (no scan): a backfill of an old month end then sums the allocations made by
    the date, rather than subtracting the later ones from today's paid columns."""

    def estimate(condition: str) -> float:
        cursor.execute(
            f"EXPLAIN (FORMAT JSON) SELECT 1 FROM loans_repayment WHERE paid_on {condition} %s",
            [as_of],
        )
        plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return plan[0]["Plan"]["Plan Rows"]

    return estimate("<=") < estimate(">")


def positions_sql(
    *, use_cached_payments: bool, from_earlier: bool = False, loan_filter: str = ""
) -> str:
    """SELECT each loan's position as of %(as_of)s for loan ids in [%(lo)s, %(hi)s].

    Loans count if they were disbursed by the date and were still open on it. A settled
    loan whose state still shows a balance or missed periods counts once more, so that
    its last classification (nothing owed, normal) is recorded rather than left stale;
    after that its state is clean and the run passes it by. With
    `use_cached_payments` (a run dated today or later) the instalments' paid columns
    are used; for a past date, what was paid by then: the paid columns less the
    allocations of the standing repayments made after it. The paid columns are always
    the sum of the standing repayments' allocations (they are rebuilt together), and
    allocation is oldest-first, so a prefix of the payments allocates identically; the
    difference touches only the repayments since the date, so the month-end snapshot
    taken the next night reads one day's payments, not the book's whole history. With
    `from_earlier` (an old date: see fewer_payments_before) the allocations made by the
    date are summed instead; both are exact. `loan_filter` ("IN (SELECT …)") narrows the
    loans further.
    """
    narrow = f"AND i.loan_id {loan_filter}" if loan_filter else ""
    narrow_payments = f"AND r.loan_id {loan_filter}" if loan_filter else ""
    if use_cached_payments:
        paid_principal, paid_interest, paid_join = "i.principal_paid", "i.interest_paid", ""
    else:
        if from_earlier:
            # An old date: the allocations of the standing repayments made by then.
            paid_principal = "COALESCE(pa.principal, 0)"
            paid_interest = "COALESCE(pa.interest, 0)"
            made = "<="
        else:
            # A recent date: the paid columns less what was paid after it.
            paid_principal = "(i.principal_paid - COALESCE(pa.principal, 0))"
            paid_interest = "(i.interest_paid - COALESCE(pa.interest, 0))"
            made = ">"
        paid_join = f"""
        LEFT JOIN (
            SELECT a.instalment_id, SUM(a.principal) AS principal, SUM(a.interest) AS interest
            FROM loans_allocation a
            JOIN loans_repayment r ON r.id = a.repayment_id
            WHERE r.loan_id BETWEEN %(lo)s AND %(hi)s {narrow_payments}
              AND r.reversed_at IS NULL AND r.paid_on {made} %(as_of)s
            GROUP BY a.instalment_id
        ) pa ON pa.instalment_id = i.id"""
    return f"""
    WITH inst AS (
        SELECT i.loan_id, i.due_on, i.principal_due, i.interest_due,
               {paid_principal} AS principal_paid, {paid_interest} AS interest_paid,
               (i.due_on + l.grace_days < %(as_of)s
                AND ({paid_principal} < i.principal_due OR {paid_interest} < i.interest_due))
                   AS missed
        FROM loans_instalment i
        JOIN loans_loan l ON l.id = i.loan_id
        {paid_join}
        WHERE i.loan_id BETWEEN %(lo)s AND %(hi)s {narrow}
          AND l.disbursed_on <= %(as_of)s
          AND (l.status = {sql_literal(LoanStatus.ACTIVE)} OR l.closed_on > %(as_of)s
               OR (l.status = {sql_literal(LoanStatus.SETTLED)} AND EXISTS (
                   SELECT 1 FROM postloan_loanriskstate s
                   WHERE s.loan_id = l.id
                     AND (s.outstanding_principal <> 0 OR s.overdue_amount <> 0
                          OR s.consecutive_missed <> 0 OR s.days_past_due <> 0))))
    ), per_loan AS (
        SELECT loan_id,
               COUNT(*) FILTER (WHERE missed) AS missed_instalments,
               MIN(due_on) FILTER (WHERE missed) AS oldest_missed_due,
               MAX(due_on) FILTER (WHERE missed) = MAX(due_on) AS last_missed,
               MAX(due_on) AS last_due,
               SUM(principal_due - principal_paid) AS outstanding_principal,
               COALESCE(SUM(principal_due - principal_paid + interest_due - interest_paid)
                        FILTER (WHERE missed), 0) AS overdue_amount
        FROM inst GROUP BY loan_id
    )
    SELECT loan_id,
           (missed_instalments + CASE WHEN last_missed
                THEN {_anniversaries("last_due", "%(as_of)s::date")} ELSE 0 END)::int
               AS consecutive_missed,
           COALESCE(%(as_of)s::date - oldest_missed_due, 0)::int AS days_past_due,
           outstanding_principal, overdue_amount
    FROM per_loan"""


# The allocation of loans.ledger.allocate, set-based: the schedule, oldest instalment first
# (due date, then seq), is a line of money — each instalment's interest, then its
# principal; the payments, in (paid_on, id) order, are another line from the same origin.
# A payment pays exactly the parts of the schedule line that its own interval covers.
# The arithmetic is in integer cents (exact, and several times faster than numeric over
# millions of rows); amounts go back to yuan, exactly, as they are written.
# The loans to allocate are the import's (portfolio/importing/ledger_writes.py): those of
# imp_affected, whose schedule is the portal's or, for those of imp_replace, the new one in
# imp_sched_ids. It leaves imp_dues, imp_paid, imp_paid_total and imp_alloc (in cents).
ALLOCATE_SQL = [
    """CREATE TEMP TABLE imp_dues ON COMMIT DROP AS
       SELECT loan_id, seq, due_on, interest_due, principal_due, replaced, interest_c,
              principal_c,
              (SUM(interest_c + principal_c) OVER (w ROWS UNBOUNDED PRECEDING))::bigint
                  - (interest_c + principal_c) AS starts
       FROM (
           SELECT loan_id, seq, due_on, interest_due, principal_due, replaced,
                  (interest_due * 100)::bigint AS interest_c,
                  (principal_due * 100)::bigint AS principal_c
           FROM (
               SELECT loan_id, seq, due_on, interest_due, principal_due, true AS replaced
               FROM imp_sched_ids WHERE loan_id IN (SELECT loan_id FROM imp_replace)
               UNION ALL
               SELECT i.loan_id, i.seq, i.due_on, i.interest_due, i.principal_due, false
               FROM loans_instalment i
               WHERE i.loan_id IN (SELECT loan_id FROM imp_affected)
                 AND i.loan_id NOT IN (SELECT loan_id FROM imp_replace)
           ) lines
       ) schedule
       WINDOW w AS (PARTITION BY loan_id ORDER BY due_on, seq)""",
    """CREATE TEMP TABLE imp_paid ON COMMIT DROP AS
       SELECT repayment_id, loan_id, amount,
              (SUM(amount) OVER (w ROWS UNBOUNDED PRECEDING))::bigint - amount AS starts
       FROM (SELECT r.id AS repayment_id, r.loan_id, r.paid_on,
                    (r.amount * 100)::bigint AS amount
             FROM loans_repayment r
             WHERE r.loan_id IN (SELECT loan_id FROM imp_affected)
               AND r.reversed_at IS NULL) payments
       WINDOW w AS (PARTITION BY loan_id ORDER BY paid_on, repayment_id)""",
    """CREATE TEMP TABLE imp_paid_total ON COMMIT DROP AS
       SELECT loan_id, SUM(amount)::bigint AS total FROM imp_paid GROUP BY loan_id""",
    "ANALYZE imp_dues",
    "ANALYZE imp_paid",
    "ANALYZE imp_paid_total",
    """CREATE TEMP TABLE imp_alloc ON COMMIT DROP AS
       SELECT d.loan_id, d.seq, p.repayment_id,
              GREATEST(LEAST(p.starts + p.amount, d.starts + d.interest_c)
                       - GREATEST(p.starts, d.starts), 0) AS interest,
              GREATEST(LEAST(p.starts + p.amount, d.starts + d.interest_c + d.principal_c)
                       - GREATEST(p.starts, d.starts + d.interest_c), 0) AS principal
       FROM imp_paid p JOIN imp_dues d ON d.loan_id = p.loan_id
        AND p.starts < d.starts + d.interest_c + d.principal_c
        AND d.starts < p.starts + p.amount""",
]
