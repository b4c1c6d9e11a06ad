"""Pass 2, first half: tables of everything the import refers to (imp_r_*), from the files
or else the portal, and each staged schedule summed up once; the checks (checks.py) and the
writes read these instead of joining the files and the portal again and again.
"""

from __future__ import annotations

from datetime import date

from common.roles import Role
from common.sqlvalues import sql_literal
from loans.models import LoanStatus
from portfolio.importing.format import TABLES, literal

# A loan the portal does not have yet is imported active (its status, from the enum).
LOAN_ACTIVE = sql_literal(LoanStatus.ACTIVE)


def _given(table: str, name: str, present: dict[str, set[str]], fallback: str) -> str:
    """The staged value when the column was given, else `fallback` (the portal's value),
    else the column's default."""
    column = TABLES[table].column(name)
    value = f"s.{name}"
    if column.type == "list":
        value = f"COALESCE(string_to_array(NULLIF(s.{name}, ''), ';'), '{{}}'::text[])"
    if name in present[table]:
        return value
    return f"COALESCE({fallback}, {literal(column)})"


def _products_sql(present: dict[str, set[str]]) -> str:
    """The products of this import: the file's values, else the portal's, else the default."""

    def given(table, name, fallback="NULL"):
        return _given(table, name, present, fallback)

    return f"""
        CREATE TEMP TABLE imp_r_product ON COMMIT DROP AS
        SELECT DISTINCT ON (s.code) s.code, s.row_no, lp.id, s.name,
               {given("products", "rate_min", "lp.rate_min")} AS rate_min,
               {given("products", "rate_max", "lp.rate_max")} AS rate_max,
               {given("products", "amount_min", "lp.amount_min")} AS amount_min,
               {given("products", "amount_max", "lp.amount_max")} AS amount_max,
               {given("products", "term_min", "lp.term_min")} AS term_min,
               {given("products", "term_max", "lp.term_max")} AS term_max,
               {given("products", "repayment_methods", "lp.repayment_methods::text[]")}
                   AS methods,
               {given("products", "grace_days", "lp.grace_days")} AS grace_days,
               {given("products", "min_guarantors", "lp.min_guarantors")} AS min_guarantors,
               {given("products", "allows_joint_group", "lp.allows_joint_group")}
                   AS allows_joint_group,
               {given("products", "min_group_size", "lp.min_group_size")} AS min_group_size,
               {
        given(
            "products",
            "group_members_may_be_enterprises",
            "lp.group_members_may_be_enterprises",
        )
    } AS enterprises_ok,
               {given("products", "collateral_kinds", "lp.collateral_kinds::text[]")}
                   AS collateral_kinds
        FROM imp_products s LEFT JOIN loans_loanproduct lp ON lp.code = s.code
        WHERE s.code <> ''
        ORDER BY s.code, s.row_no"""


# The rest, in order, after the products. All run with the cut-over date as %(as_of)s, so a
# percent sign in them is written %%.
RESOLVE_SQL = [
    """
        INSERT INTO imp_r_product
        SELECT lp.code, NULL, lp.id, lp.name, lp.rate_min, lp.rate_max, lp.amount_min,
               lp.amount_max, lp.term_min, lp.term_max, lp.repayment_methods::text[],
               lp.grace_days, lp.min_guarantors, lp.allows_joint_group, lp.min_group_size,
               lp.group_members_may_be_enterprises, lp.collateral_kinds::text[]
        FROM loans_loanproduct lp
        WHERE lp.code IN (SELECT product_code FROM imp_loans
                          UNION SELECT product_code FROM imp_groups)
          AND lp.code NOT IN (SELECT code FROM imp_products)""",
    f"""
        CREATE TEMP TABLE imp_r_officer ON COMMIT DROP AS
        WITH officers AS (
            SELECT u.id, u.username, u.is_active,
                   EXISTS (SELECT 1 FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id
                           WHERE ug.user_id = u.id AND g.name = '{Role.LOAN_OFFICER.value}')
                       AS is_officer,
                   b.code AS branch
            FROM auth_user u
            LEFT JOIN loans_officerprofile op ON op.user_id = u.id
            LEFT JOIN loans_branch b ON b.id = op.branch_id
            WHERE u.username IN (SELECT username FROM imp_officers
                                 UNION SELECT managing_officer FROM imp_loans
                                 UNION SELECT originating_officer FROM imp_loans)
        )
        SELECT DISTINCT ON (s.username) s.username, s.row_no, o.id,
               COALESCE(o.is_active, true) AS is_active, o.is_officer,
               COALESCE(NULLIF(s.branch, ''), o.branch) AS branch
        FROM imp_officers s LEFT JOIN officers o ON o.username = s.username
        WHERE s.username <> ''
        UNION ALL
        SELECT o.username, NULL, o.id, o.is_active, o.is_officer, o.branch
        FROM officers o WHERE o.username NOT IN (SELECT username FROM imp_officers)""",
    """
        CREATE TEMP TABLE imp_r_borrower ON COMMIT DROP AS
        SELECT DISTINCT ON (s.ref) s.ref, s.row_no, b.id, s.kind, s.id_number AS identity,
               s.name
        FROM imp_borrowers s LEFT JOIN borrowers_borrower b ON b.reference = s.ref
        WHERE s.ref <> ''
        ORDER BY s.ref, s.row_no""",
    """
        INSERT INTO imp_r_borrower
        SELECT b.reference, NULL, b.id, b.kind, COALESCE(b.id_number, b.credit_code), b.name
        FROM borrowers_borrower b
        WHERE b.reference IN (SELECT borrower_ref FROM imp_loans
                              UNION SELECT member_ref FROM imp_groups
                              UNION SELECT guarantor_ref FROM imp_guarantees)
          AND b.reference NOT IN (SELECT ref FROM imp_borrowers)""",
    "CREATE INDEX ON imp_r_borrower (ref)",
    "CREATE INDEX ON imp_r_borrower (identity)",
    # A guarantor who is (or becomes) one of our borrowers is linked to them: the same
    # person, found by the identity number, as borrowers.services.guarantor_create does.
    """
        CREATE TEMP TABLE imp_r_guarantor ON COMMIT DROP AS
        SELECT DISTINCT ON (s.ref) s.ref, s.row_no, g.id, s.kind, s.id_number AS identity,
               s.name,
               COALESCE(linked.reference, fb.ref, db.reference) AS borrower_ref
        FROM imp_guarantors s
        LEFT JOIN borrowers_guarantor g ON g.reference = s.ref
        LEFT JOIN borrowers_borrower linked ON linked.id = g.borrower_id
        LEFT JOIN imp_r_borrower fb ON fb.row_no IS NOT NULL AND fb.kind = s.kind
             AND fb.identity = s.id_number
        LEFT JOIN borrowers_borrower db ON (s.kind = 'person' AND db.id_number = s.id_number)
             OR (s.kind = 'enterprise' AND db.credit_code = s.id_number)
        WHERE s.ref <> ''
        ORDER BY s.ref, s.row_no""",
    """
        INSERT INTO imp_r_guarantor
        SELECT g.reference, NULL, g.id, g.kind, COALESCE(g.id_number, g.credit_code), g.name,
               b.reference
        FROM borrowers_guarantor g LEFT JOIN borrowers_borrower b ON b.id = g.borrower_id
        WHERE g.reference IN (SELECT guarantor_ref FROM imp_guarantees)
          AND g.reference NOT IN (SELECT ref FROM imp_guarantors)""",
    "CREATE INDEX ON imp_r_guarantor (ref)",
    """
        CREATE TEMP TABLE imp_r_group ON COMMIT DROP AS
        SELECT DISTINCT ON (s.group_ref) s.group_ref, s.row_no, jg.id, jg.status,
               COALESCE(NULLIF(s.name, ''), jg.name, s.group_ref) AS name,
               COALESCE(NULLIF(s.product_code, ''),
                        (SELECT MIN(l.product_code) FROM imp_loans l
                         WHERE l.group_ref = s.group_ref AND l.product_code <> ''),
                        jp.code) AS product_code,
               COALESCE(s.formed_on,
                        (SELECT MIN(l.disbursed_on) FROM imp_loans l
                         WHERE l.group_ref = s.group_ref),
                        jg.formed_on, %(as_of)s::date) AS formed_on,
               s.member_ref AS lead_ref
        FROM imp_groups s
        LEFT JOIN borrowers_jointgroup jg ON jg.reference = s.group_ref
        LEFT JOIN loans_loanproduct jp ON jp.id = jg.product_id
        WHERE s.group_ref <> ''
        ORDER BY s.group_ref, s.row_no""",
    """
        INSERT INTO imp_r_group
        SELECT jg.reference, NULL, jg.id, jg.status, jg.name, jp.code, jg.formed_on, lead.reference
        FROM borrowers_jointgroup jg
        JOIN loans_loanproduct jp ON jp.id = jg.product_id
        JOIN borrowers_borrower lead ON lead.id = jg.lead_id
        WHERE jg.reference IN (SELECT group_ref FROM imp_loans)
          AND jg.reference NOT IN (SELECT group_ref FROM imp_groups)""",
    """
        CREATE TEMP TABLE imp_r_member ON COMMIT DROP AS
        SELECT DISTINCT ON (group_ref, member_ref) group_ref, member_ref, row_no
        FROM imp_groups WHERE group_ref <> '' AND member_ref <> ''
        ORDER BY group_ref, member_ref, row_no""",
    """
        INSERT INTO imp_r_member
        SELECT g.group_ref, b.reference, NULL
        FROM imp_r_group g
        JOIN borrowers_groupmembership m ON m.group_id = g.id AND m.left_on IS NULL
        JOIN borrowers_borrower b ON b.id = m.borrower_id
        WHERE NOT EXISTS (SELECT 1 FROM imp_groups s
                          WHERE s.group_ref = g.group_ref AND s.member_ref = b.reference)""",
    # Each staged schedule summed up in one pass (2.4 million rows for 100,000 loans): what
    # the schedule checks, the loans' dates and the repayment check need of it.
    """
        CREATE TEMP TABLE imp_sched_loan ON COMMIT DROP AS
        SELECT loan_ref,
               SUM(principal_due + interest_due) AS total,
               MIN(due_on) AS first_due, MAX(due_on) AS maturity,
               bool_or(source <> 'generated') AS explicit,
               MIN(due_on) FILTER (WHERE seq = 1 AND source <> 'generated') AS first_due_given,
               MIN(row_no) FILTER (WHERE source = 'file') AS file_row,
               SUM(principal_due) FILTER (WHERE source = 'file') AS file_principal,
               SUM(principal_due) FILTER (WHERE source = 'kept') AS kept_principal,
               MIN(row_no) FILTER (WHERE source = 'file' AND seq IS NOT NULL) AS seq_row,
               MIN(seq) FILTER (WHERE source = 'file') AS seq_min,
               MAX(seq) FILTER (WHERE source = 'file') AS seq_max,
               COUNT(seq) FILTER (WHERE source = 'file') AS seq_rows
        FROM imp_schedule GROUP BY loan_ref""",
    "CREATE UNIQUE INDEX ON imp_sched_loan (loan_ref)",
    "ANALYZE imp_sched_loan",
    f"""
        CREATE TEMP TABLE imp_r_loan ON COMMIT DROP AS
        SELECT DISTINCT ON (s.ref) s.ref, s.row_no, l.id, s.borrower_ref, s.product_code,
               s.principal, s.disbursed_on, COALESCE(l.status, {LOAN_ACTIVE}) AS status,
               NULLIF(s.group_ref, '') AS group_ref
        FROM imp_loans s LEFT JOIN loans_loan l ON l.reference = s.ref
        WHERE s.ref <> ''
        ORDER BY s.ref, s.row_no""",
    """
        INSERT INTO imp_r_loan
        SELECT l.reference, NULL, l.id, b.reference, lp.code, l.principal, l.disbursed_on,
               l.status, jg.reference
        FROM loans_loan l
        JOIN borrowers_borrower b ON b.id = l.borrower_id
        JOIN loans_loanproduct lp ON lp.id = l.product_id
        LEFT JOIN borrowers_jointgroup jg ON jg.id = l.group_id
        WHERE l.reference IN (SELECT loan_ref FROM imp_sched_loan
                              UNION SELECT loan_ref FROM imp_guarantees
                              UNION SELECT loan_ref FROM imp_repayments
                              UNION SELECT loan_ref FROM imp_collateral)
          AND l.reference NOT IN (SELECT ref FROM imp_loans)""",
    "CREATE UNIQUE INDEX ON imp_r_loan (ref)",
    # How much each loan's schedule asks for in all: the staged schedule, else the portal's.
    """
        CREATE TEMP TABLE imp_sched_total ON COMMIT DROP AS
        SELECT loan_ref, total FROM imp_sched_loan
        UNION ALL
        SELECT r.ref, SUM(i.principal_due + i.interest_due)
        FROM imp_r_loan r JOIN loans_instalment i ON i.loan_id = r.id
        WHERE NOT EXISTS (SELECT 1 FROM imp_sched_loan s WHERE s.loan_ref = r.ref)
        GROUP BY r.ref""",
    # Each guarantee's guarantor, as a party: a borrower (B:ref) or a guarantor who is not
    # one of our borrowers (G:ref). A guarantor_ref names a guarantor first, else a borrower.
    """
        CREATE TEMP TABLE imp_r_guarantee ON COMMIT DROP AS
        SELECT s.row_no, s.loan_ref, s.guarantor_ref,
               CASE WHEN g.ref IS NOT NULL THEN 'guarantor'
                    WHEN b.ref IS NOT NULL THEN 'borrower' END AS source,
               CASE WHEN g.ref IS NOT NULL AND g.borrower_ref IS NOT NULL
                        THEN 'B:' || g.borrower_ref
                    WHEN g.ref IS NOT NULL THEN 'G:' || g.ref
                    WHEN b.ref IS NOT NULL THEN 'B:' || b.ref END AS party,
               COALESCE(g.borrower_ref, CASE WHEN g.ref IS NULL THEN b.ref END) AS party_borrower
        FROM imp_guarantees s
        LEFT JOIN imp_r_guarantor g ON g.ref = s.guarantor_ref
        LEFT JOIN imp_r_borrower b ON b.ref = s.guarantor_ref
        WHERE s.loan_ref <> '' AND s.guarantor_ref <> ''""",
    # Joint groups: every other current member guarantees a member's loan.
    """
        CREATE TEMP TABLE imp_cross ON COMMIT DROP AS
        SELECT l.ref AS loan_ref, 'B:' || m.member_ref AS party, m.member_ref
        FROM imp_r_loan l JOIN imp_r_member m ON m.group_ref = l.group_ref
        WHERE l.row_no IS NOT NULL AND m.member_ref <> l.borrower_ref""",
    # The schedule's rows in order, once: duplicates and dates that do not increase.
    """CREATE TEMP TABLE imp_sched_order ON COMMIT DROP AS
           SELECT row_no, loan_ref, seq, due_on,
                  LAG(seq) OVER w AS previous_seq, LAG(row_no) OVER w AS previous_row,
                  LAG(due_on) OVER w AS previous_due
           FROM imp_schedule WHERE source = 'file' AND seq IS NOT NULL AND loan_ref <> ''
           WINDOW w AS (PARTITION BY loan_ref ORDER BY seq, row_no)""",
    *(
        f"ANALYZE {table}"
        for table in ("imp_r_product", "imp_r_officer", "imp_r_group", "imp_r_member")
    ),
]


def resolve(cursor, present: dict[str, set[str]], as_of: date) -> None:
    """Tables of everything the import refers to, from the files or else the portal."""
    cursor.execute(_products_sql(present))
    for statement in RESOLVE_SQL:
        cursor.execute(statement, {"as_of": as_of})
