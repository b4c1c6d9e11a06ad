"""Pass 3: the writes, set-based. Insert what is new, update only rows that differ (refs
are the natural keys, so a re-import creates nothing twice and reports what it changed):
branches, products, officers, borrowers and guarantors, groups, loans, guarantees,
collateral, handovers. The ledger's writes are in ledger_writes.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.translation import gettext_noop

from borrowers.models import GroupStatus, GuaranteeStatus
from common import texts
from common.calendar import working_day_calendar
from common.models import BusinessSettings
from common.roles import Role
from common.sqlvalues import sql_literal
from loans.models import LoanStatus
from portfolio.importing.format import TABLES, literal
from portfolio.importing.results import ImportResult
from postloan.models import InspectionStatus

# Loans disbursed this recently still get a handover (Art. 3); older ones were handed over
# in the system the book comes from.
HANDOVER_WINDOW_DAYS = 30
CHANGED_BY_IMPORT = gettext_noop("Changed by a portfolio import")
# The statuses the writes' SQL gives and reads, from their enums (common.sqlvalues): a new
# loan and a new group are active, a guarantee the import writes is in force (BACKING), and
# a reassigned officer takes over the loan's open inspections.
LOAN_ACTIVE = sql_literal(LoanStatus.ACTIVE)
GROUP_ACTIVE = sql_literal(GroupStatus.ACTIVE)
BACKING = sql_literal(GuaranteeStatus.ACTIVE)
INSPECTION_OPEN = sql_literal(InspectionStatus.OPEN)


@dataclass(frozen=True)
class Target:
    """A target column: its value from the staged row, and the header it depends on (None:
    always written). When that header is absent, an insert uses `absent` (else the
    column's default) and an update leaves the column alone."""

    name: str
    expr: str
    header: str | None = None
    absent: str | None = None


def upsert(
    cursor,
    *,
    table: str,
    target: str,
    source: str,
    columns: list[Target],
    keys: list[str],
    present: set[str],
    insert_extra: dict[str, str] | None = None,
    update_extra: dict[str, str] | None = None,
    conflict_where: str = "",
    order_by: str = "",
    carry: dict[str, str] | None = None,
) -> tuple[int, int]:
    """Insert the rows that are new, update those that differ: (created, updated)."""
    insert_extra = insert_extra or {}
    update_extra = update_extra or {}
    spec = TABLES[table]
    selected, updatable = [], []
    for column in columns:
        if column.header is None or column.header in present:
            selected.append(f"{column.expr} AS {column.name}")
            if column.name not in keys:
                updatable.append(column.name)
        else:
            fallback = column.absent
            if fallback is None:
                fallback = literal(spec.column(column.header))
            selected.append(f"{fallback} AS {column.name}")
    selected += [f"{expr} AS {name}" for name, expr in (carry or {}).items()]
    src = f"SELECT {', '.join(selected)} FROM {source}"
    key_join = " AND ".join(f"t.{k} = src.{k}" for k in keys)
    if conflict_where:
        key_join += f" AND t.{conflict_where}"
    tuple_t = ", ".join(f"t.{c}" for c in updatable) or "1"
    tuple_s = ", ".join(f"src.{c}" for c in updatable) or "1"
    # Only rows that are new or differ go on: a re-import of the same files must cost little.
    todo = f"imp_todo_{table}"
    cursor.execute(f"DROP TABLE IF EXISTS {todo}")
    cursor.execute(
        f"""CREATE TEMP TABLE {todo} ON COMMIT DROP AS
            WITH src AS ({src})
            SELECT src.*, t.id IS NULL AS is_new FROM src LEFT JOIN {target} t ON {key_join}
            WHERE t.id IS NULL OR ({tuple_t}, 0) IS DISTINCT FROM ({tuple_s}, 0)"""
    )
    cursor.execute(
        f"SELECT COUNT(*) FILTER (WHERE is_new), COUNT(*) FILTER (WHERE NOT is_new) FROM {todo}"
    )
    created, updated = cursor.fetchone()
    names = [c.name for c in columns]
    if created:
        # New rows by a plain INSERT: ON CONFLICT's speculative insertion costs about twice
        # as much, and under the import's lock only a row someone adds meanwhile could
        # collide (the unique key then refuses the import, which rolls back).
        insert_columns = ", ".join([*names, *insert_extra])
        insert_values = ", ".join([*(f"src.{n}" for n in names), *insert_extra.values()])
        cursor.execute(
            f"""INSERT INTO {target} ({insert_columns})
                SELECT {insert_values} FROM {todo} src WHERE src.is_new
                {f"ORDER BY {order_by}" if order_by else ""}"""
        )
    if updated and updatable:
        sets = ", ".join(
            [
                *(f"{c} = src.{c}" for c in updatable),
                *(f"{c} = {e}" for c, e in update_extra.items()),
            ]
        )
        where = " AND ".join(f"{target}.{k} = src.{k}" for k in keys)
        if conflict_where:
            where += f" AND {target}.{conflict_where}"
        cursor.execute(
            f"UPDATE {target} SET {sets} FROM {todo} src WHERE NOT src.is_new AND {where}"
        )
    return created, updated


def tally(result: ImportResult, table: str, created: int = 0, updated: int = 0) -> None:
    """Add what a write created and updated to its table's counts."""
    count = result.counts.get(table)
    if count is None:  # a table the import does not have
        return
    count.created += created
    count.updated += updated


def write_dimensions(cursor, present, result: ImportResult) -> None:
    """Branches, products and officers."""
    cursor.execute(
        """INSERT INTO loans_branch (code, name, address)
           SELECT DISTINCT code, code, '' FROM (
               SELECT branch AS code FROM imp_officers UNION SELECT branch FROM imp_loans) x
           WHERE code <> '' ORDER BY code
           ON CONFLICT (code) DO NOTHING"""
    )
    result.derived[gettext_noop("branches created")] = cursor.rowcount
    p = present["products"]
    columns = [Target("code", "s.code")]
    for column in TABLES["products"].columns[1:]:
        header = None if column.name == "name" else column.name
        if column.type == "list":
            array = f"COALESCE(string_to_array(NULLIF(s.{column.name}, ''), ';'), '{{}}')"
            columns.append(Target(column.name, array + "::varchar[]", header, "'{}'::varchar[]"))
        else:
            columns.append(Target(column.name, f"s.{column.name}", header))
    created, updated = upsert(
        cursor,
        table="products",
        target="loans_loanproduct",
        source="imp_products s",
        columns=columns,
        keys=["code"],
        present=p,
        insert_extra={"is_active": "true"},
        order_by="src.code",
    )
    tally(result, "products", created, updated)
    # Officers: users without a usable password ("!…", as Django's set_unusable_password),
    # in the loan officer role; their branch in their profile.
    cursor.execute(
        """SELECT COUNT(*) FILTER (WHERE u.id IS NULL),
                  COUNT(*) FILTER (WHERE u.id IS NOT NULL AND (
                      btrim(u.first_name || ' ' || u.last_name) <> s.full_name
                      OR (s.branch <> '' AND b.code IS DISTINCT FROM s.branch)))
           FROM imp_officers s
           LEFT JOIN auth_user u ON u.username = s.username
           LEFT JOIN loans_officerprofile op ON op.user_id = u.id
           LEFT JOIN loans_branch b ON b.id = op.branch_id"""
    )
    created, updated = cursor.fetchone()
    tally(result, "officers", created, updated)
    cursor.execute(
        f"""
        WITH new AS (
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,
                                   email, is_staff, is_active, date_joined)
            SELECT '!' || md5(random()::text || s.username), false, s.username, s.full_name, '',
                   '', false, true, now()
            FROM imp_officers s
            WHERE NOT EXISTS (SELECT 1 FROM auth_user u WHERE u.username = s.username)
            ORDER BY s.username
            RETURNING id
        )
        INSERT INTO auth_user_groups (user_id, group_id)
        SELECT new.id, g.id FROM new JOIN auth_group g ON g.name = '{Role.LOAN_OFFICER.value}'"""
    )
    cursor.execute(
        """UPDATE auth_user u SET first_name = s.full_name, last_name = ''
           FROM imp_officers s
           WHERE u.username = s.username
             AND btrim(u.first_name || ' ' || u.last_name) <> s.full_name"""
    )
    cursor.execute(
        """INSERT INTO loans_officerprofile (user_id, branch_id, employee_number, phone)
           SELECT u.id, b.id, '', '' FROM imp_officers s
           JOIN auth_user u ON u.username = s.username JOIN loans_branch b ON b.code = s.branch
           ON CONFLICT (user_id) DO UPDATE SET branch_id = EXCLUDED.branch_id
           WHERE loans_officerprofile.branch_id <> EXCLUDED.branch_id"""
    )


BORROWER_FACTS = (
    "address",
    "mobile",
    "employer",
    "occupation",
    "business_address",
    "monthly_income",
)


def write_parties(cursor, present, result: ImportResult, as_of: date) -> None:
    """Borrowers (with the timeline of their changed facts) and guarantors."""
    _record_fact_changes(cursor, present["borrowers"], as_of)
    _write_borrowers(cursor, present, result)
    _write_guarantors(cursor, present, result)
    _guarantors_of_borrowers(cursor, result)


def _record_fact_changes(cursor, p: set[str], as_of: date) -> None:
    """The borrowers' facts that the import changes, on their timelines, dated the cut-over."""
    given = {"mobile": "phone"}
    facts = [f for f in BORROWER_FACTS if given.get(f, f) in p]
    if facts:
        values = ", ".join(
            f"('{fact}', b.{fact}::text, COALESCE(s.{given.get(fact, fact)}::text, ''))"
            for fact in facts
        )
        # Facts that matter for risk are kept as a timeline, not overwritten (docs/domain.md §2).
        cursor.execute(
            f"""
            INSERT INTO borrowers_borrowerfactchange (borrower_id, fact, old_value, new_value,
                effective_on, recorded_at, recorded_by_id, note)
            SELECT b.id, f.fact, COALESCE(f.old, ''), f.new, %(as_of)s, now(), NULL, 'import'
            FROM imp_borrowers s JOIN borrowers_borrower b ON b.reference = s.ref
            CROSS JOIN LATERAL (VALUES {values}) AS f(fact, old, new)
            WHERE COALESCE(f.old, '') <> f.new""",
            {"as_of": as_of},
        )


def _write_borrowers(cursor, present, result: ImportResult) -> None:
    """Borrowers, and the guarantor records that mirror them."""
    p = present["borrowers"]
    columns = [
        Target("reference", "s.ref"),
        Target("kind", "s.kind"),
        Target("name", "s.name"),
        Target("id_number", "CASE WHEN s.kind = 'person' THEN s.id_number END"),
        Target("credit_code", "CASE WHEN s.kind = 'enterprise' THEN s.id_number END"),
        Target("mobile", "s.phone", "phone"),
        Target("address", "s.address", "address"),
        *[
            Target(name, f"s.{name}", name)
            for name in (
                "occupation",
                "business_address",
                "employer",
                "monthly_income",
                "legal_representative",
                "legal_status",
            )
        ],
    ]
    created, updated = upsert(
        cursor,
        table="borrowers",
        target="borrowers_borrower",
        source="imp_borrowers s",
        columns=columns,
        keys=["reference"],
        present=p,
        insert_extra={
            "health": "'good'",
            "business_scope": "''",
            "created_at": "now()",
            "updated_at": "now()",
            "version": "1",
        },
        update_extra={"updated_at": "now()", "version": "borrowers_borrower.version + 1"},
        order_by="src.reference",
    )
    tally(result, "borrowers", created, updated)
    cursor.execute("ANALYZE borrowers_borrower")
    # A guarantor record that mirrors a borrower follows the borrower's contact details.
    cursor.execute(
        """UPDATE borrowers_guarantor g SET name = b.name, mobile = b.mobile, address = b.address
           FROM borrowers_borrower b
           WHERE g.borrower_id = b.id AND b.reference IN (SELECT ref FROM imp_borrowers)
             AND (g.name, g.mobile, g.address) IS DISTINCT FROM (b.name, b.mobile, b.address)
             AND g.reference NOT IN (SELECT ref FROM imp_guarantors)"""
    )


def _write_guarantors(cursor, present, result: ImportResult) -> None:
    """Guarantors, linked to the borrower who is the same person."""
    columns = [
        Target("reference", "s.ref"),
        Target("kind", "s.kind"),
        Target("name", "s.name"),
        Target("id_number", "CASE WHEN s.kind = 'person' THEN s.id_number END"),
        Target("credit_code", "CASE WHEN s.kind = 'enterprise' THEN s.id_number END"),
        Target("mobile", "s.phone", "phone"),
        Target("address", "s.address", "address"),
    ]
    created, updated = upsert(
        cursor,
        table="guarantors",
        target="borrowers_guarantor",
        source="imp_guarantors s",
        columns=columns,
        keys=["reference"],
        present=present["guarantors"],
        insert_extra={"created_at": "now()"},
        order_by="src.reference",
    )
    tally(result, "guarantors", created, updated)
    # Link guarantors to the borrower with the same identity (the same person), one kind of
    # identity at a time: each is an equality a hash join can take, whatever the indexes.
    for kind, identity in (("person", "id_number"), ("enterprise", "credit_code")):
        cursor.execute(
            f"""UPDATE borrowers_guarantor g SET borrower_id = b.id
                FROM borrowers_borrower b
                WHERE g.borrower_id IS NULL AND g.kind = '{kind}'
                  AND g.{identity} = b.{identity}
                  AND (g.reference IN (SELECT ref FROM imp_guarantors)
                       OR b.reference IN (SELECT ref FROM imp_borrowers))
                  AND NOT EXISTS (SELECT 1 FROM borrowers_guarantor o
                                  WHERE o.borrower_id = b.id)"""
        )


def _guarantors_of_borrowers(cursor, result: ImportResult) -> None:
    """A guarantor record for every borrower who guarantees, and every party's guarantor id
    (imp_guarantor_ids)."""
    # Borrowers who guarantee (by their borrower ref, or as group members) need a guarantor
    # record: named after their borrower ref when that is free.
    cursor.execute(
        """
        INSERT INTO borrowers_guarantor (reference, kind, borrower_id, name, id_number,
                                         credit_code, mobile, address, created_at)
        SELECT CASE WHEN EXISTS (SELECT 1 FROM borrowers_guarantor o
                                 WHERE o.reference = b.reference)
                    THEN 'DB-' || lpad(nextval('borrowers_guarantor_reference_seq')::text, 6, '0')
                    ELSE b.reference END,
               b.kind, b.id, b.name, b.id_number, b.credit_code, b.mobile, b.address, now()
        FROM borrowers_borrower b
        WHERE b.reference IN (
                SELECT party_borrower FROM imp_r_guarantee WHERE source = 'borrower'
                UNION SELECT member_ref FROM imp_r_member)
          AND NOT EXISTS (SELECT 1 FROM borrowers_guarantor g WHERE g.borrower_id = b.id)
        ORDER BY b.reference"""
    )
    result.derived[gettext_noop("guarantors made from borrowers")] = cursor.rowcount
    cursor.execute(
        """CREATE TEMP TABLE imp_guarantor_ids ON COMMIT DROP AS
           SELECT 'G:' || g.reference AS party, g.id FROM borrowers_guarantor g
           WHERE g.reference IN (SELECT ref FROM imp_r_guarantor)
           UNION ALL
           SELECT 'B:' || b.reference, g.id FROM borrowers_guarantor g
           JOIN borrowers_borrower b ON b.id = g.borrower_id
           WHERE b.reference IN (SELECT party_borrower FROM imp_r_guarantee
                                 UNION SELECT member_ref FROM imp_r_member)"""
    )


def write_groups(cursor, present, result: ImportResult) -> None:
    cursor.execute(
        """SELECT COUNT(*) FROM imp_r_group g JOIN borrowers_jointgroup jg ON jg.id = g.id
           JOIN loans_loanproduct p ON p.code = g.product_code
           JOIN borrowers_borrower lead ON lead.reference = g.lead_ref
           WHERE g.row_no IS NOT NULL
             AND (jg.name, jg.product_id, jg.lead_id, jg.formed_on)
                 IS DISTINCT FROM (g.name, p.id, lead.id, g.formed_on)"""
    )
    (updated,) = cursor.fetchone()
    cursor.execute(
        f"""
        INSERT INTO borrowers_jointgroup (name, reference, product_id, lead_id, status, formed_on,
                                          dissolved_reason, version)
        SELECT g.name, g.group_ref, p.id, lead.id, {GROUP_ACTIVE}, g.formed_on, '', 1
        FROM imp_r_group g
        JOIN loans_loanproduct p ON p.code = g.product_code
        JOIN borrowers_borrower lead ON lead.reference = g.lead_ref
        WHERE g.row_no IS NOT NULL
        ORDER BY g.group_ref
        ON CONFLICT (reference) DO UPDATE SET name = EXCLUDED.name,
            product_id = EXCLUDED.product_id, lead_id = EXCLUDED.lead_id,
            formed_on = EXCLUDED.formed_on, version = borrowers_jointgroup.version + 1
        WHERE (borrowers_jointgroup.name, borrowers_jointgroup.product_id,
               borrowers_jointgroup.lead_id, borrowers_jointgroup.formed_on)
              IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.product_id, EXCLUDED.lead_id,
                                EXCLUDED.formed_on)"""
    )
    cursor.execute(
        """
        INSERT INTO borrowers_groupmembership (group_id, borrower_id, joined_on, left_on,
                                               leave_reason)
        SELECT jg.id, b.id, jg.formed_on, NULL, ''
        FROM imp_groups s
        JOIN borrowers_jointgroup jg ON jg.reference = s.group_ref
        JOIN borrowers_borrower b ON b.reference = s.member_ref
        WHERE NOT EXISTS (SELECT 1 FROM borrowers_groupmembership m
                          WHERE m.group_id = jg.id AND m.borrower_id = b.id
                            AND m.left_on IS NULL)
        ORDER BY s.row_no"""
    )
    tally(result, "groups", cursor.rowcount, updated)


def new_loans(cursor) -> int:
    """The loans this import creates (imp_new_loans), once for every write that asks."""
    cursor.execute(
        """CREATE TEMP TABLE imp_new_loans ON COMMIT DROP AS
           SELECT s.ref FROM imp_loans s
           WHERE NOT EXISTS (SELECT 1 FROM loans_loan l WHERE l.reference = s.ref)"""
    )
    return cursor.rowcount


def write_loans(cursor, present, result: ImportResult, as_of: date) -> None:
    # Managing officers that an update changes: the reassignment is recorded as in the portal.
    cursor.execute(
        """CREATE TEMP TABLE imp_reassigned ON COMMIT DROP AS
           SELECT l.id AS loan_id, l.managing_officer_id AS from_id, u.id AS to_id
           FROM imp_loans s JOIN loans_loan l ON l.reference = s.ref
           JOIN auth_user u ON u.username = s.managing_officer
           WHERE u.id <> l.managing_officer_id"""
    )
    source = """imp_loans s
        JOIN borrowers_borrower b ON b.reference = s.borrower_ref
        JOIN loans_loanproduct p ON p.code = s.product_code
        JOIN auth_user mo ON mo.username = s.managing_officer
        JOIN auth_user oo ON oo.username = s.originating_officer
        LEFT JOIN loans_officerprofile prof ON prof.user_id = mo.id
        LEFT JOIN loans_branch br ON br.code = NULLIF(s.branch, '')
        LEFT JOIN borrowers_jointgroup jg ON jg.reference = NULLIF(s.group_ref, '')
        JOIN imp_sched_loan sp ON sp.loan_ref = s.ref"""
    columns = [
        Target("reference", "s.ref"),
        Target("borrower_id", "b.id"),
        Target("product_id", "p.id"),
        Target("branch_id", "COALESCE(br.id, prof.branch_id)", "branch", "prof.branch_id"),
        Target("group_id", "jg.id", "group_ref", "NULL::bigint"),
        Target("principal", "s.principal"),
        Target("annual_rate", "s.annual_rate"),
        Target("term_months", "s.term_months"),
        Target("repayment_method", "s.repayment_method"),
        Target("disbursed_on", "s.disbursed_on"),
        Target("first_due_on", "sp.first_due"),
        Target("maturity_on", "sp.maturity"),
        Target("grace_days", "COALESCE(s.grace_days, p.grace_days)", "grace_days", "p.grace_days"),
        Target("purpose", "s.purpose", "purpose"),
        Target("schedule_source", "CASE WHEN sp.explicit THEN 'explicit' ELSE 'generated' END"),
        Target("originating_officer_id", "oo.id"),
        Target("managing_officer_id", "mo.id"),
    ]
    created, updated = upsert(
        cursor,
        table="loans",
        target="loans_loan",
        source=source,
        columns=columns,
        keys=["reference"],
        present=present["loans"],
        insert_extra={"status": LOAN_ACTIVE, "created_at": "now()", "version": "1"},
        update_extra={"version": "loans_loan.version + 1"},
        order_by="src.reference",
    )
    tally(result, "loans", created, updated)
    cursor.execute("ANALYZE loans_loan")
    cursor.execute(
        """CREATE TEMP TABLE imp_loan_ids ON COMMIT DROP AS
           SELECT l.reference AS ref, l.id, l.disbursed_on, l.managing_officer_id,
                  l.originating_officer_id, l.group_id, l.borrower_id,
                  l.reference IN (SELECT ref FROM imp_new_loans) AS new
           FROM loans_loan l WHERE l.reference IN (SELECT ref FROM imp_r_loan)"""
    )
    cursor.execute("CREATE UNIQUE INDEX ON imp_loan_ids (ref)")
    cursor.execute("ANALYZE imp_loan_ids")
    cursor.execute(
        """INSERT INTO loans_officerassignment (loan_id, from_officer_id, to_officer_id,
               effective_on, assigned_by_id, reason, created_at)
           SELECT loan_id, from_id, to_id, %(as_of)s, NULL, %(reason)s, now()
           FROM imp_reassigned""",
        {"as_of": as_of, "reason": CHANGED_BY_IMPORT},
    )
    cursor.execute(
        """UPDATE loans_handover h SET to_officer_id = r.to_id FROM imp_reassigned r
           WHERE h.loan_id = r.loan_id AND h.contacted_on IS NULL"""
    )
    cursor.execute(
        f"""UPDATE postloan_inspection i SET assigned_to_id = r.to_id FROM imp_reassigned r
           WHERE i.loan_id = r.loan_id AND i.status = {INSPECTION_OPEN}"""
    )


def write_guarantees(cursor, present, result: ImportResult) -> None:
    # A member's loan is guaranteed by every other current member of the group.
    cursor.execute(
        f"""INSERT INTO borrowers_guarantee (loan_id, guarantor_id, kind, group_id, amount,
               signed_on, status, status_note, created_at)
           SELECT l.id, g.id, 'joint_group', l.group_id, NULL, l.disbursed_on, {BACKING}, '', now()
           FROM imp_cross c JOIN imp_loan_ids l ON l.ref = c.loan_ref
           JOIN imp_guarantor_ids g ON g.party = c.party
           WHERE l.group_id IS NOT NULL
           ORDER BY l.id, g.id
           ON CONFLICT (loan_id, guarantor_id) WHERE status = {BACKING} DO NOTHING"""
    )
    result.derived[gettext_noop("joint-group guarantees created")] = cursor.rowcount
    source = """imp_r_guarantee r JOIN imp_guarantees s ON s.row_no = r.row_no
        JOIN imp_loan_ids l ON l.ref = r.loan_ref
        JOIN imp_guarantor_ids g ON g.party = CASE WHEN r.source = 'guarantor'
                                                   THEN 'G:' || r.guarantor_ref ELSE r.party END"""
    columns = [
        Target("loan_id", "l.id"),
        Target("guarantor_id", "g.id"),
        Target("signed_on", "COALESCE(s.signed_on, l.disbursed_on)", "signed_on", "l.disbursed_on"),
        Target("amount", "s.amount", "amount"),
    ]
    created, updated = upsert(
        cursor,
        table="guarantees",
        target="borrowers_guarantee",
        source=source,
        columns=columns,
        keys=["loan_id", "guarantor_id"],
        present=present["guarantees"],
        insert_extra={
            "kind": "'ordinary'",
            "status": BACKING,
            "status_note": "''",
            "created_at": "now()",
        },
        conflict_where=f"status = {BACKING}",
        order_by="src.loan_id, src.guarantor_id",
    )
    tally(result, "guarantees", created, updated)


COLLATERAL_FIELDS = (
    "owner_name",
    "custody",
    "location",
    "status",
    "developer",
    "expected_completion_on",
    "pre_registration_on",
    "registration_due_on",
    "completed_on",
    "registration_on",
    "title_certificate_number",
)


def write_collateral(cursor, present, result: ImportResult) -> None:
    p = present["collateral"]
    cursor.execute(
        """CREATE TEMP TABLE imp_w_collateral ON COMMIT DROP AS
           SELECT s.*, l.id AS loan_id,
                  (SELECT MIN(c.id) FROM loans_collateral c WHERE c.loan_id = l.id
                     AND c.kind = s.kind AND c.description = s.description) AS collateral_id
           FROM imp_collateral s JOIN imp_loan_ids l ON l.ref = s.loan_ref"""
    )
    given = [f for f in COLLATERAL_FIELDS if f in p]
    differs = (
        f"({', '.join(f'c.{f}' for f in given)}) IS DISTINCT FROM "
        f"({', '.join(f's.{f}' for f in given)})"
        if given
        else "false"
    )
    valuation_differs = """NOT EXISTS (SELECT 1 FROM loans_valuation v
        WHERE v.collateral_id = s.collateral_id AND v.valued_on = s.valued_on
          AND v.value = s.value)"""
    cursor.execute(
        f"""SELECT COUNT(*) FILTER (WHERE s.collateral_id IS NULL),
                   COUNT(*) FILTER (WHERE s.collateral_id IS NOT NULL AND (
                       {differs} OR (s.value IS NOT NULL AND {valuation_differs})))
            FROM imp_w_collateral s LEFT JOIN loans_collateral c ON c.id = s.collateral_id"""
    )
    created, updated = cursor.fetchone()
    tally(result, "collateral", created, updated)
    if given:
        sets = ", ".join(f"{f} = s.{f}" for f in given)
        owner = ", owner_is_borrower = (s.owner_name = '')" if "owner_name" in p else ""
        cursor.execute(
            f"""UPDATE loans_collateral c SET {sets}{owner}
                FROM imp_w_collateral s WHERE c.id = s.collateral_id AND {differs}"""
        )
    spec = TABLES["collateral"]
    values = ", ".join(f"s.{f}" if f in p else literal(spec.column(f)) for f in COLLATERAL_FIELDS)
    owner = "(s.owner_name = '')" if "owner_name" in p else "true"
    cursor.execute(
        f"""INSERT INTO loans_collateral (loan_id, kind, description, owner_is_borrower,
                {", ".join(COLLATERAL_FIELDS)}, created_at)
            SELECT s.loan_id, s.kind, s.description, {owner}, {values}, now()
            FROM imp_w_collateral s WHERE s.collateral_id IS NULL ORDER BY s.row_no"""
    )
    cursor.execute(
        """UPDATE imp_w_collateral s SET collateral_id = (
               SELECT MIN(c.id) FROM loans_collateral c WHERE c.loan_id = s.loan_id
                 AND c.kind = s.kind AND c.description = s.description)
           WHERE s.collateral_id IS NULL"""
    )
    method = "s.valuation_method" if "valuation_method" in p else "'appraisal'"
    cursor.execute(
        f"""UPDATE loans_valuation v SET value = s.value, method = {method}
            FROM imp_w_collateral s
            WHERE v.id = (SELECT MAX(v2.id) FROM loans_valuation v2
                          WHERE v2.collateral_id = s.collateral_id
                            AND v2.valued_on = s.valued_on)
              AND s.value IS NOT NULL
              AND (v.value, v.method) IS DISTINCT FROM (s.value, {method})"""
    )
    cursor.execute(
        f"""INSERT INTO loans_valuation (collateral_id, valued_on, value, method, valued_by,
                note, created_at)
            SELECT s.collateral_id, s.valued_on, s.value, {method}, '', '', now()
            FROM imp_w_collateral s
            WHERE s.value IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM loans_valuation v
                              WHERE v.collateral_id = s.collateral_id
                                AND v.valued_on = s.valued_on)
            ORDER BY s.row_no"""
    )


def write_handovers(cursor, result: ImportResult, as_of: date) -> None:
    """Loans disbursed in the 30 days up to the cut-over date are still to be handed over
    (Art. 3); older ones were handed over, and assigned to their officer, in the system
    the book comes from (their history stays there)."""
    cursor.execute(
        """SELECT DISTINCT i.disbursed_on FROM imp_loan_ids i
           WHERE i.new AND i.disbursed_on >= %(since)s""",
        {"since": as_of - timedelta(days=HANDOVER_WINDOW_DAYS)},
    )
    days = [row[0] for row in cursor.fetchall()]
    if not days:
        result.derived[gettext_noop("handovers")] = 0
        return
    workdays = working_day_calendar()
    settings = BusinessSettings.current()
    due = {day: workdays.add_working_days(day, settings.handover_working_days) for day in days}
    placeholders = ", ".join(["(%s::date, %s::date, %s)"] * len(days))
    params = [v for day in days for v in (day, due[day].day, due[day].provisional)]
    cursor.execute(
        f"""INSERT INTO loans_handover (loan_id, from_officer_id, to_officer_id, due_on,
                due_is_provisional, contact_method, fixed_contact, note)
            SELECT i.id, i.originating_officer_id, i.managing_officer_id, d.due_on, d.provisional,
                   '', '', ''
            FROM imp_loan_ids i
            JOIN (VALUES {placeholders}) AS d(disbursed_on, due_on, provisional)
              ON d.disbursed_on = i.disbursed_on
            WHERE i.new
            ORDER BY i.id
            ON CONFLICT (loan_id) DO NOTHING""",
        params,
    )
    result.derived[gettext_noop("handovers")] = cursor.rowcount
    # Their officer's assignment starts at the disbursement, as when a loan is booked.
    cursor.execute(
        """INSERT INTO loans_officerassignment (loan_id, from_officer_id, to_officer_id,
               effective_on, assigned_by_id, reason, created_at)
           SELECT i.id, NULL, i.managing_officer_id, i.disbursed_on, NULL, %(reason)s, now()
           FROM imp_loan_ids i
           WHERE i.new AND i.disbursed_on >= %(since)s ORDER BY i.ref""",
        {"reason": texts.DISBURSEMENT, "since": as_of - timedelta(days=HANDOVER_WINDOW_DAYS)},
    )
