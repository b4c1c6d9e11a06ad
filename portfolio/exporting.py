"""Portfolio export: one row per loan as classified on a date, and the whole book in the
import format (docs/import-format.md).

Per loan: for the date of the latest classification run that updated the loans' state,
the state itself (postloan_loanriskstate); for another date, the positions computed as of
that date with the adjustment then in force (as the month-end snapshot does), in the
export's own transaction and only for the loans exported. An export only reads: it never
runs or records a classification, changes no state and raises no flag, so anyone who may
export can ask for any date as often as they like (a GET starts no book-wide work). Rows
stream from a server-side cursor into CSV or a write-only workbook, so memory stays flat.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.db import connection, transaction

from borrowers.models import GroupStatus, GuaranteeStatus
from common.csvsafe import neutralise
from common.sqlvalues import sql_literal
from loans.models import LoanStatus
from portfolio.importing import TABLE_ORDER, TABLES
from postloan.models import InspectionStatus
from postloan.risk.nightly import computed_positions, latest_state_date
from postloan.risk.rules import Tier
from postloan.risk.rules_sql import NON_PERFORMING_SQL

PER_LOAN_HEADER = [
    "loan_ref",
    "borrower_ref",
    "status",
    "outstanding_principal",
    "consecutive_missed",
    "quantitative_tier",
    "tier",
    "non_performing",
    "open_risk_factors",
    "next_inspection_due",
    "days_past_due",
    "overdue_amount",
    "provision",
]
FETCH = 20_000
# The status and tier values the queries name, from their enums (common.sqlvalues).
ACTIVE_LOAN = sql_literal(LoanStatus.ACTIVE)
ACTIVE_GROUP = sql_literal(GroupStatus.ACTIVE)
ACTIVE_GUARANTEE = sql_literal(GuaranteeStatus.ACTIVE)
OPEN_INSPECTION = sql_literal(InspectionStatus.OPEN)
NORMAL = sql_literal(Tier.NORMAL)

# --- Per loan -----------------------------------------------------------------------------------


def _visible_sql(visible) -> tuple[str, list]:
    if visible is None or not visible.query.where:  # the whole book
        return "", []
    if visible.query.is_empty():  # Loan.objects.none(): a user who may see no loan
        return "AND false", []
    sql, params = visible.values("pk").query.sql_with_params()
    return f"AND l.id IN ({sql})", list(params)


def per_loan_query(as_of: date, *, from_state: bool, visible=None) -> tuple[str, list]:
    positions = "postloan_loanriskstate" if from_state else "export_positions"
    where, params = _visible_sql(visible)
    # Flags reaching a loan: on it, on its borrower, or on a guarantor actively backing it
    # (as postloan.risk.selectors.watched), open on the date.
    sql = f"""
    WITH open_flags AS (
        SELECT id, factor, loan_id, borrower_id, guarantor_id FROM postloan_riskflag
        WHERE raised_on <= %s AND (resolved_on IS NULL OR resolved_on > %s)
    ), reaching AS (
        SELECT loan_id, factor FROM open_flags WHERE loan_id IS NOT NULL
        UNION
        SELECT l.id, f.factor FROM open_flags f JOIN loans_loan l ON l.borrower_id = f.borrower_id
        UNION
        SELECT g.loan_id, f.factor FROM open_flags f
        JOIN borrowers_guarantee g
          ON g.guarantor_id = f.guarantor_id AND g.status = {ACTIVE_GUARANTEE}
    ), factors AS (
        SELECT loan_id, string_agg(factor::text, ';' ORDER BY factor) AS factors
        FROM reaching GROUP BY loan_id
    ), inspections AS (
        SELECT loan_id, MIN(due_on) AS next_due FROM postloan_inspection
        WHERE status = {OPEN_INSPECTION} GROUP BY loan_id
    )
    SELECT l.reference, b.reference,
           CASE WHEN l.status <> {ACTIVE_LOAN} AND l.closed_on <= %s
                THEN l.status ELSE {ACTIVE_LOAN} END,
           COALESCE(p.outstanding_principal, 0), COALESCE(p.consecutive_missed, 0),
           COALESCE(p.quantitative_tier, {NORMAL}), COALESCE(p.tier, {NORMAL}),
           COALESCE(p.tier, {NORMAL}) IN {NON_PERFORMING_SQL},
           COALESCE(f.factors, ''), i.next_due,
           COALESCE(p.days_past_due, 0), COALESCE(p.overdue_amount, 0), COALESCE(p.provision, 0)
    FROM loans_loan l
    JOIN borrowers_borrower b ON b.id = l.borrower_id
    LEFT JOIN {positions} p ON p.loan_id = l.id
    LEFT JOIN factors f ON f.loan_id = l.id
    LEFT JOIN inspections i ON i.loan_id = l.id
    WHERE l.disbursed_on <= %s {where}
    ORDER BY l.reference"""
    return sql, [as_of, as_of, as_of, as_of, *params]


def _stream(sql: str, params: list) -> Iterator[tuple]:
    # A server-side cursor: a million loans never sit in memory at once. Every row is read,
    # so plan for all of them, not for the first few as cursors are by default.
    with connection.cursor() as setup:
        setup.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        setup.execute("SET LOCAL jit = off")
    with connection.connection.cursor(name="portfolio_export") as cursor:
        cursor.itersize = FETCH
        cursor.execute(sql, params)
        yield from cursor


def per_loan_rows(*, as_of: date, visible=None) -> Iterator[tuple]:
    """Every loan disbursed by `as_of` (of `visible`, a Loan queryset, when given)."""
    with transaction.atomic():
        from_state = latest_state_date() == as_of
        if not from_state:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL work_mem = '256MB'")
                loan_filter = ""
                where, params = _visible_sql(visible)
                if where:
                    # Only the loans exported are computed: an officer's book, not the company's.
                    cursor.execute("DROP TABLE IF EXISTS export_visible")
                    cursor.execute(
                        "CREATE TEMP TABLE export_visible ON COMMIT DROP AS "
                        f"SELECT l.id FROM loans_loan l WHERE true {where}",
                        params,
                    )
                    cursor.execute("ANALYZE export_visible")
                    loan_filter = "IN (SELECT id FROM export_visible)"
                computed_positions(
                    cursor, as_of=as_of, table="export_positions", loan_filter=loan_filter
                )
        sql, params = per_loan_query(as_of, from_state=from_state, visible=visible)
        yield from _stream(sql, params)


def _csv_value(value) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return neutralise(value) if isinstance(value, str) else str(value)


def csv_chunks(
    header: list[str], rows: Iterable[tuple], *, bom: bool = True, every: int = 5000
) -> Iterator[str]:
    """The CSV text in pieces of `every` rows; a BOM so that Excel opens it as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if bom:
        buffer.write("\ufeff")
    writer.writerow(header)
    for number, row in enumerate(rows, start=1):
        writer.writerow([_csv_value(v) for v in row])
        if number % every == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_csv(out, header: list[str], rows: Iterable[tuple], *, bom: bool = True) -> int:
    count = 0

    def counted():
        nonlocal count
        for row in rows:
            count += 1
            yield row

    for chunk in csv_chunks(header, counted(), bom=bom, every=FETCH):
        out.write(chunk)
    return count


def write_xlsx(
    path_or_stream,
    sheets: Iterable[tuple[str, list[str], Iterable[tuple]]],
    *,
    neutralise_text: bool = True,
) -> int:
    """A write-only workbook (rows go to disk as they come), one sheet per (title, header,
    rows). Text is always a text cell, never a formula; a report also neutralises text
    that a spreadsheet would take for a formula once copied out."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    count = 0
    for title, header, rows in sheets:
        sheet = workbook.create_sheet(title=title)
        sheet.append(header)
        for row in rows:
            cells = []
            for value in row:
                if isinstance(value, str):
                    cell = WriteOnlyCell(sheet, value=neutralise(value) if neutralise_text else "")
                    if not neutralise_text:
                        cell.value = value
                    cell.data_type = "s"
                    cells.append(cell)
                else:
                    cells.append(value)
            sheet.append(cells)
            count += 1
    workbook.save(path_or_stream)
    return count


def export_loans(*, as_of: date, out: Path | str, visible=None) -> int:
    """Write the per-loan export to FILE.csv or FILE.xlsx; returns the number of loans."""
    out = Path(out)
    rows = per_loan_rows(as_of=as_of, visible=visible)
    if out.suffix.lower() == ".xlsx":
        return write_xlsx(out, [("portfolio", PER_LOAN_HEADER, rows)])
    with open(out, "w", newline="", encoding="utf-8") as handle:
        return write_csv(handle, PER_LOAN_HEADER, rows)


# --- The whole book, in the import format -------------------------------------------------------

TEXT = "COALESCE({}::text, '')"


def _t(expr: str) -> str:
    return TEXT.format(expr)


def _bool(expr: str) -> str:
    return f"CASE WHEN {expr} THEN 'true' ELSE 'false' END"


TABLE_QUERIES = {
    "products": f"""
        SELECT code, name, {_t("rate_min")}, {_t("rate_max")}, {_t("amount_min")},
               {_t("amount_max")}, {_t("term_min")}, {_t("term_max")},
               array_to_string(repayment_methods, ';'), {_t("grace_days")},
               {_t("min_guarantors")}, {_bool("allows_joint_group")}, {_t("min_group_size")},
               {_bool("group_members_may_be_enterprises")}, {_t("per_person_limit")},
               {_bool("requires_collateral")}, array_to_string(collateral_kinds, ';')
        FROM loans_loanproduct ORDER BY code""",
    "officers": """
        SELECT u.username, btrim(u.first_name || ' ' || u.last_name), COALESCE(b.code, '')
        FROM auth_user u
        LEFT JOIN loans_officerprofile op ON op.user_id = u.id
        LEFT JOIN loans_branch b ON b.id = op.branch_id
        WHERE u.id IN (SELECT managing_officer_id FROM loans_loan
                       UNION SELECT originating_officer_id FROM loans_loan)
        ORDER BY u.username""",
    "borrowers": f"""
        SELECT reference, kind, name, COALESCE(id_number, credit_code), mobile, address,
               occupation, business_address, employer, {_t("monthly_income")},
               legal_representative, legal_status
        FROM borrowers_borrower ORDER BY reference""",
    "guarantors": """
        SELECT reference, kind, name, COALESCE(id_number, credit_code, ''), mobile, address
        FROM borrowers_guarantor ORDER BY reference""",
    "groups": f"""
        SELECT jg.reference, b.reference, jg.name, p.code, {_t("jg.formed_on")}
        FROM borrowers_jointgroup jg
        JOIN borrowers_groupmembership m ON m.group_id = jg.id AND m.left_on IS NULL
        JOIN borrowers_borrower b ON b.id = m.borrower_id
        JOIN loans_loanproduct p ON p.id = jg.product_id
        WHERE jg.status = {ACTIVE_GROUP}
        ORDER BY jg.reference, b.id <> jg.lead_id, b.reference""",
    "loans": f"""
        SELECT l.reference, b.reference, p.code, {_t("l.principal")}, {_t("l.annual_rate")},
               {_t("l.term_months")}, {_t("l.disbursed_on")}, l.repayment_method,
               mo.username, oo.username, {_t("l.first_due_on")}, {_t("l.grace_days")},
               CASE WHEN jg.status = {ACTIVE_GROUP} THEN jg.reference ELSE '' END, br.code,
               l.purpose
        FROM loans_loan l
        JOIN borrowers_borrower b ON b.id = l.borrower_id
        JOIN loans_loanproduct p ON p.id = l.product_id
        JOIN auth_user mo ON mo.id = l.managing_officer_id
        JOIN auth_user oo ON oo.id = l.originating_officer_id
        JOIN loans_branch br ON br.id = l.branch_id
        LEFT JOIN borrowers_jointgroup jg ON jg.id = l.group_id
        ORDER BY l.reference""",
    "schedule": f"""
        SELECT l.reference, {_t("i.seq")}, {_t("i.due_on")}, {_t("i.principal_due")},
               {_t("i.interest_due")}
        FROM loans_instalment i JOIN loans_loan l ON l.id = i.loan_id
        WHERE l.schedule_source = 'explicit'
        ORDER BY l.reference, i.seq""",
    # The cross-guarantees of a joint group follow from the group and its loans; the import
    # makes them again, so only the others are listed.
    "guarantees": f"""
        SELECT l.reference, g.reference, {_t("gt.signed_on")}, {_t("gt.amount")}
        FROM borrowers_guarantee gt
        JOIN loans_loan l ON l.id = gt.loan_id
        JOIN borrowers_guarantor g ON g.id = gt.guarantor_id
        LEFT JOIN borrowers_jointgroup jg ON jg.id = l.group_id
        WHERE gt.status = {ACTIVE_GUARANTEE}
          AND NOT (gt.kind = 'joint_group' AND gt.group_id = l.group_id
                   AND jg.status = {ACTIVE_GROUP}
                   AND EXISTS (SELECT 1 FROM borrowers_groupmembership m
                               WHERE m.group_id = jg.id AND m.left_on IS NULL
                                 AND m.borrower_id = g.borrower_id))
        ORDER BY l.reference, g.reference""",
    "repayments": f"""
        SELECT l.reference, {_t("r.paid_on")}, {_t("r.amount")}, r.reference, r.channel, r.note
        FROM loans_repayment r JOIN loans_loan l ON l.id = r.loan_id
        WHERE r.reversed_at IS NULL
        ORDER BY l.reference, r.paid_on, r.id""",
    "collateral": f"""
        SELECT l.reference, c.kind, c.description, {_t("v.value")}, {_t("v.valued_on")},
               COALESCE(v.method, 'appraisal'), c.owner_name, c.custody, c.location, c.status,
               c.developer, {_t("c.expected_completion_on")}, {_t("c.pre_registration_on")},
               {_t("c.registration_due_on")}, {_t("c.completed_on")}, {_t("c.registration_on")},
               c.title_certificate_number
        FROM loans_collateral c JOIN loans_loan l ON l.id = c.loan_id
        LEFT JOIN LATERAL (SELECT value, valued_on, method FROM loans_valuation val
                           WHERE val.collateral_id = c.id
                           ORDER BY val.valued_on DESC, val.id DESC LIMIT 1) v ON TRUE
        ORDER BY l.reference, c.id""",
}


def table_rows(name: str) -> Iterator[tuple]:
    with transaction.atomic():
        yield from _stream(TABLE_QUERIES[name], [])


def export_tables(out: Path | str) -> dict[str, int]:
    """The whole book in the import format: a folder of CSV files, or one .xlsx workbook."""
    out = Path(out)
    counts = {}
    if out.suffix.lower() == ".xlsx":
        sheets = [
            (name, TABLES[name].column_names, _counting(name, counts)) for name in TABLE_ORDER
        ]
        write_xlsx(out, sheets, neutralise_text=False)
        return counts
    out.mkdir(parents=True, exist_ok=True)
    for name in TABLE_ORDER:
        with open(out / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
            counts[name] = _write_plain_csv(handle, TABLES[name].column_names, table_rows(name))
    return counts


def _counting(name: str, counts: dict) -> Iterator[tuple]:
    counts[name] = 0
    for row in table_rows(name):
        counts[name] += 1
        yield row


def _write_plain_csv(out, header: list[str], rows: Iterable[tuple]) -> int:
    """The import format as it is: no BOM, values as stored (meant to be imported again)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count
