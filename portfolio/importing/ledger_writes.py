"""Pass 3, the ledger: rebuild the instalments and allocations of the loans whose schedule
or repayments changed (the allocation in SQL equals loans.ledger.allocate), and settle the
loans paid in full (or reopen those that no longer are).
"""

from __future__ import annotations

from datetime import date

from django.utils.translation import gettext_noop

from common import texts
from common.sqlvalues import sql_literal
from loans.ledger_sql import ALLOCATE_SQL
from loans.models import LoanStatus
from portfolio.importing.results import ImportResult
from portfolio.importing.writes import CHANGED_BY_IMPORT, Target, tally, upsert

# The loan statuses the settling's SQL reads and writes, from the enum (common.sqlvalues).
ACTIVE = sql_literal(LoanStatus.ACTIVE)
SETTLED = sql_literal(LoanStatus.SETTLED)


def write_ledger(cursor, present, result: ImportResult, as_of: date) -> None:
    """Schedules, repayments, allocations and instalment paid amounts, loan status."""
    _schedules_to_replace(cursor, result)
    _write_repayments(cursor, present, result)
    _rebuild_instalments(cursor, result)
    _settle(cursor, result, as_of)


def _schedules_to_replace(cursor, result: ImportResult) -> None:
    """The loans whose schedule is new or differs (imp_replace), and the schedule's counts."""
    cursor.execute(
        """CREATE TEMP TABLE imp_sched_ids ON COMMIT DROP AS
           SELECT i.id AS loan_id, s.seq, s.due_on, s.principal_due, s.interest_due, s.source,
                  i.new
           FROM imp_schedule s JOIN imp_loan_ids i ON i.ref = s.loan_ref"""
    )
    cursor.execute("CREATE INDEX ON imp_sched_ids (loan_id, seq)")
    cursor.execute("ANALYZE imp_sched_ids")
    # Loans whose schedule is new or differs from the portal's: rebuilt. A loan this import
    # creates has no schedule yet: only the others are compared, line by line.
    cursor.execute(
        """CREATE TEMP TABLE imp_replace ON COMMIT DROP AS
           SELECT DISTINCT loan_id FROM (
               SELECT s.loan_id FROM imp_sched_ids s WHERE s.new
               UNION ALL
               SELECT s.loan_id FROM imp_sched_ids s
               LEFT JOIN loans_instalment i ON i.loan_id = s.loan_id AND i.seq = s.seq
               WHERE NOT s.new
                 AND (i.id IS NULL
                      OR (i.due_on, i.principal_due, i.interest_due)
                         IS DISTINCT FROM (s.due_on, s.principal_due, s.interest_due))
               UNION ALL
               SELECT i.loan_id FROM loans_instalment i
               WHERE i.loan_id IN (SELECT loan_id FROM imp_sched_ids WHERE NOT new)
                 AND NOT EXISTS (SELECT 1 FROM imp_sched_ids s
                                 WHERE s.loan_id = i.loan_id AND s.seq = i.seq)) x"""
    )
    cursor.execute("ANALYZE imp_replace")
    cursor.execute(
        """CREATE TEMP TABLE imp_replaced ON COMMIT DROP AS
           SELECT r.loan_id, EXISTS (SELECT 1 FROM loans_instalment i
                                     WHERE i.loan_id = r.loan_id) AS existed
           FROM imp_replace r"""
    )
    cursor.execute(
        """SELECT COUNT(*) FILTER (WHERE NOT r.existed), COUNT(*) FILTER (WHERE r.existed)
           FROM imp_sched_ids s JOIN imp_replaced r ON r.loan_id = s.loan_id
           WHERE s.source = 'file'"""
    )
    created, updated = cursor.fetchone()
    tally(result, "schedule", created, updated)
    cursor.execute("SELECT COUNT(*) FROM imp_replace")
    result.derived[gettext_noop("schedules written")] = cursor.fetchone()[0]


def _write_repayments(cursor, present, result: ImportResult) -> None:
    """Repayments, and the loans whose payments changed (imp_paid_changed)."""
    source = "imp_repayments s JOIN imp_loan_ids i ON i.ref = s.loan_ref"
    columns = [
        Target("loan_id", "i.id"),
        Target("reference", "s.reference"),
        Target("paid_on", "s.paid_on"),
        Target("amount", "s.amount"),
        Target("channel", "s.channel", "channel"),
        Target("note", "s.note", "note"),
    ]
    cursor.execute(
        """CREATE TEMP TABLE imp_paid_changed ON COMMIT DROP AS
           SELECT DISTINCT i.id AS loan_id FROM imp_repayments s
           JOIN imp_loan_ids i ON i.ref = s.loan_ref
           LEFT JOIN loans_repayment r ON r.loan_id = i.id AND r.reference = s.reference
           WHERE r.id IS NULL OR (r.paid_on, r.amount) IS DISTINCT FROM (s.paid_on, s.amount)"""
    )
    created, updated = upsert(
        cursor,
        table="repayments",
        target="loans_repayment",
        source=source,
        columns=columns,
        keys=["loan_id", "reference"],
        present=present["repayments"],
        insert_extra={"recorded_at": "now()", "reversal_reason": "''"},
        # Ids follow the payment order (the file's for the same day): they break ties
        # between same-day payments when payments are applied.
        order_by="src.loan_id, src.paid_on, src.row_no",
        carry={"row_no": "s.row_no"},
    )
    tally(result, "repayments", created, updated)


def _rebuild_instalments(cursor, result: ImportResult) -> None:
    """The affected loans' instalments and allocations, rebuilt from their schedule and
    payments (the allocation of loans.ledger.allocate, in SQL: ALLOCATE_SQL)."""
    cursor.execute("ANALYZE loans_repayment")
    cursor.execute(
        """CREATE TEMP TABLE imp_affected ON COMMIT DROP AS
           SELECT loan_id FROM imp_replace UNION SELECT loan_id FROM imp_paid_changed"""
    )
    cursor.execute("CREATE UNIQUE INDEX ON imp_affected (loan_id)")
    cursor.execute("ANALYZE imp_affected")
    _allocate(cursor)
    cursor.execute(
        """DELETE FROM loans_allocation a USING loans_instalment i
           WHERE a.instalment_id = i.id AND i.loan_id IN (SELECT loan_id FROM imp_affected)"""
    )
    cursor.execute(
        "DELETE FROM loans_instalment WHERE loan_id IN (SELECT loan_id FROM imp_replace)"
    )
    # What each instalment has had: the loan's payments fill its schedule line from the
    # start, so with T paid in all an instalment whose interest starts at s has
    # min(max(T - s, 0), interest) of its interest paid, and the rest likewise (in cents).
    paid = """LEAST(GREATEST(COALESCE(t.total, 0) - d.starts, 0), d.interest_c) * 0.01 AS interest,
              LEAST(GREATEST(COALESCE(t.total, 0) - d.starts - d.interest_c, 0),
                    d.principal_c) * 0.01 AS principal"""
    cursor.execute(
        f"""INSERT INTO loans_instalment (loan_id, seq, due_on, principal_due, interest_due,
                                         principal_paid, interest_paid)
            SELECT x.loan_id, x.seq, x.due_on, x.principal_due, x.interest_due, x.principal,
                   x.interest
            FROM (SELECT d.*, {paid} FROM imp_dues d
                  LEFT JOIN imp_paid_total t ON t.loan_id = d.loan_id
                  WHERE d.replaced) x"""
    )
    cursor.execute(
        f"""UPDATE loans_instalment i SET principal_paid = x.principal, interest_paid = x.interest
            FROM (SELECT d.*, {paid} FROM imp_dues d
                  LEFT JOIN imp_paid_total t ON t.loan_id = d.loan_id
                  WHERE NOT d.replaced) x
            WHERE i.loan_id = x.loan_id AND i.seq = x.seq
              AND (i.principal_paid, i.interest_paid) IS DISTINCT FROM (x.principal, x.interest)"""
    )
    cursor.execute("ANALYZE loans_instalment")
    cursor.execute(
        """INSERT INTO loans_allocation (repayment_id, instalment_id, interest, principal)
           SELECT a.repayment_id, i.id, a.interest * 0.01, a.principal * 0.01
           FROM imp_alloc a JOIN loans_instalment i ON i.loan_id = a.loan_id AND i.seq = a.seq
           ORDER BY a.repayment_id, i.id"""
    )
    result.derived[gettext_noop("allocations written")] = cursor.rowcount


def _allocate(cursor) -> None:
    cursor.execute("SET LOCAL work_mem = '256MB'")
    for statement in ALLOCATE_SQL:
        cursor.execute(statement)


def _settle(cursor, result: ImportResult, as_of: date) -> None:
    """A loan paid in full is settled on its last payment; one that no longer is, reopens."""
    cursor.execute(
        f"""CREATE TEMP TABLE imp_status ON COMMIT DROP AS
           SELECT l.id, l.status, o.outstanding, p.last_paid
           FROM loans_loan l
           JOIN (SELECT loan_id, SUM(principal_due - principal_paid + interest_due
                                     - interest_paid) AS outstanding
                 FROM loans_instalment WHERE loan_id IN (SELECT loan_id FROM imp_affected)
                 GROUP BY loan_id) o ON o.loan_id = l.id
           LEFT JOIN (SELECT loan_id, MAX(paid_on) AS last_paid FROM loans_repayment
                      WHERE reversed_at IS NULL
                        AND loan_id IN (SELECT loan_id FROM imp_affected)
                      GROUP BY loan_id) p ON p.loan_id = l.id
           WHERE (l.status = {ACTIVE} AND o.outstanding = 0)
              OR (l.status = {SETTLED} AND o.outstanding > 0)"""
    )
    cursor.execute(
        f"""INSERT INTO loans_loanstatuschange (loan_id, from_status, to_status, effective_on,
               changed_by_id, reason, created_at)
           SELECT id, status, CASE WHEN status = {ACTIVE} THEN {SETTLED} ELSE {ACTIVE} END,
                  CASE WHEN status = {ACTIVE} THEN last_paid ELSE %(as_of)s END, NULL,
                  CASE WHEN status = {ACTIVE} THEN %(paid)s ELSE %(changed)s END, now()
           FROM imp_status ORDER BY id""",
        {"as_of": as_of, "paid": texts.PAID_IN_FULL, "changed": CHANGED_BY_IMPORT},
    )
    cursor.execute(
        f"""UPDATE loans_loan l
           SET status = CASE WHEN s.status = {ACTIVE} THEN {SETTLED} ELSE {ACTIVE} END,
               closed_on = CASE WHEN s.status = {ACTIVE} THEN s.last_paid END
           FROM imp_status s WHERE s.id = l.id"""
    )
    cursor.execute(f"SELECT COUNT(*) FILTER (WHERE status = {ACTIVE}) FROM imp_status")
    result.derived[gettext_noop("loans settled")] = cursor.fetchone()[0]
