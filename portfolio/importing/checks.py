"""Pass 2, second half: the checks of references and totals, set-based in SQL over the
staging tables (staging.py), the resolved ones (resolve.py) and the portal.

Declarative: `CHECKS` is a table of (file, column, SQL, message), one per rule, in the order
their errors are reported, run by one small loop (`run_checks`). Each SQL selects the
rows that break the rule, the row number first, then the message's parameters in order.
The cap on active guarantees per guarantor spans two files and is `CAP_SQL`. Every error
is kept; with any, nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext_lazy as _

from borrowers.models import GroupStatus, GuaranteeStatus
from common.models import BusinessSettings
from common.money import format_cny
from common.sqlvalues import sql_literal
from loans.models import LoanStatus
from portfolio.importing.format import METHODS, TABLES
from portfolio.importing.results import MAX_ERRORS, Errors


@dataclass(frozen=True)
class Check:
    """One rule: the rows of `table` whose `column` breaks it, and what to tell the user."""

    table: str
    column: str
    sql: str  # SELECT row_no, then the message's parameters in order
    message: Callable[..., str]


UNKNOWN = {
    "borrower": _("No borrower %(value)s in this import or the portal."),
    "product": _("No product %(value)s in this import or the portal."),
    "loan": _("No loan %(value)s in this import or the portal."),
    "group": _("No group %(value)s in this import or the portal."),
}


KEY_NAMES = {name: " + ".join(table.key) for name, table in TABLES.items()}

_METHODS = ", ".join(f"'{m}'" for m in METHODS)
# The statuses the checks' SQL reads, from their enums (common.sqlvalues).
DISSOLVED = sql_literal(GroupStatus.DISSOLVED)
GUARANTEE_ACTIVE = sql_literal(GuaranteeStatus.ACTIVE)
WRITTEN_OFF = sql_literal(LoanStatus.WRITTEN_OFF)


def _duplicate_checks() -> list[Check]:
    checks = []
    for table in TABLES.values():
        if table.name == "schedule":
            continue  # with the schedule's other row checks, in one pass (imp_sched_order)
        keys = ", ".join(table.key)
        not_blank = " AND ".join(f"{k} IS NOT NULL AND {k}::text <> ''" for k in table.key)
        checks.append(
            Check(
                table.name,
                table.key[-1],
                f"""SELECT row_no, first FROM (
                        SELECT row_no, MIN(row_no) OVER (PARTITION BY {keys}) AS first
                        FROM imp_{table.name} WHERE row_no IS NOT NULL AND {not_blank}) x
                    WHERE row_no > first ORDER BY row_no""",
                lambda first, keys=KEY_NAMES[table.name]: (
                    _("Duplicate of row %(first)s (the same %(key)s).")
                    % {"first": first, "key": keys}
                ),
            )
        )
    return checks


def _party_checks(party: str) -> list[Check]:
    """Borrowers and guarantors: one identity per record, the kind never changes."""
    target = "borrowers_borrower" if party == "borrowers" else "borrowers_guarantor"
    return [
        Check(
            party,
            "id_number",
            f"""SELECT row_no, first FROM (
                    SELECT row_no, MIN(row_no) OVER (PARTITION BY kind, id_number) AS first
                    FROM imp_{party} WHERE id_number IS NOT NULL AND id_number <> '') x
                WHERE row_no > first ORDER BY row_no""",
            lambda first: _("Row %(first)s has the same identity number.") % {"first": first},
        ),
        Check(
            party,
            "id_number",
            f"""SELECT s.row_no, t.reference FROM imp_{party} s
                JOIN {target} t ON ((s.kind = 'person' AND t.id_number = s.id_number)
                                    OR (s.kind = 'enterprise' AND t.credit_code = s.id_number))
                WHERE t.reference <> s.ref ORDER BY s.row_no""",
            lambda other: (
                _("%(other)s already has this identity number in the portal.") % {"other": other}
            ),
        ),
        Check(
            party,
            "kind",
            f"""SELECT s.row_no, t.kind FROM imp_{party} s JOIN {target} t ON t.reference = s.ref
                WHERE s.kind <> '' AND t.kind <> s.kind ORDER BY s.row_no""",
            lambda kind: (
                _("It is a %(kind)s in the portal; the kind cannot change.") % {"kind": kind}
            ),
        ),
    ]


def _unknown(what: str) -> Callable[..., str]:
    return lambda value: UNKNOWN[what] % {"value": value}


def _loan_known(table: str, where: str = "") -> Check:
    """A table's loan_ref names a loan of this import or of the portal."""
    return Check(
        table,
        "loan_ref",
        f"""SELECT s.row_no, s.loan_ref FROM imp_{table} s
           WHERE {where}s.loan_ref <> ''
             AND NOT EXISTS (SELECT 1 FROM imp_r_loan l WHERE l.ref = s.loan_ref)
           ORDER BY s.row_no""",
        _unknown("loan"),
    )


CHECKS: list[Check] = [
    *_duplicate_checks(),
    *_party_checks("borrowers"),
    *_party_checks("guarantors"),
    # Products
    *[
        Check(
            "products",
            high,
            f"""SELECT p.row_no FROM imp_r_product p
                WHERE p.row_no IS NOT NULL AND p.{low} > p.{high} ORDER BY p.row_no""",
            lambda low=low, high=high: _("%(low)s is above %(high)s.") % {"low": low, "high": high},
        )
        for low, high in (
            ("rate_min", "rate_max"),
            ("amount_min", "amount_max"),
            ("term_min", "term_max"),
        )
    ],
    # Officers
    Check(
        "officers",
        "username",
        """SELECT row_no, username FROM imp_r_officer
           WHERE row_no IS NOT NULL AND id IS NOT NULL AND NOT is_officer ORDER BY row_no""",
        lambda username: (
            _(
                "%(username)s exists in the portal but is not a loan officer; give them the "
                "role first."
            )
            % {"username": username}
        ),
    ),
    # Groups
    Check(
        "groups",
        "member_ref",
        """SELECT s.row_no, s.member_ref FROM imp_groups s
           WHERE s.member_ref <> ''
             AND NOT EXISTS (SELECT 1 FROM imp_r_borrower b WHERE b.ref = s.member_ref)
           ORDER BY s.row_no""",
        _unknown("borrower"),
    ),
    Check(
        "groups",
        "group_ref",
        """SELECT row_no, other, other_row FROM (
               SELECT s.row_no, s.group_ref,
                      FIRST_VALUE(s.group_ref) OVER w AS other,
                      FIRST_VALUE(s.row_no) OVER w AS other_row
               FROM imp_groups s WHERE s.member_ref <> '' AND s.group_ref <> ''
               WINDOW w AS (PARTITION BY s.member_ref ORDER BY s.row_no)) x
           WHERE x.group_ref <> x.other ORDER BY row_no""",
        lambda group, row: (
            _("This member is already in group %(group)s (row %(row)s).")
            % {"group": group, "row": row}
        ),
    ),
    Check(
        "groups",
        "member_ref",
        """SELECT s.row_no, jg.reference FROM imp_groups s
           JOIN borrowers_borrower b ON b.reference = s.member_ref
           JOIN borrowers_groupmembership m ON m.borrower_id = b.id AND m.left_on IS NULL
           JOIN borrowers_jointgroup jg ON jg.id = m.group_id
           WHERE jg.reference <> s.group_ref ORDER BY s.row_no""",
        lambda group: (
            _("This borrower is already a member of the active group %(group)s.") % {"group": group}
        ),
    ),
    Check(
        "groups",
        "group_ref",
        f"""SELECT row_no FROM imp_r_group WHERE row_no IS NOT NULL AND status = {DISSOLVED}
           ORDER BY row_no""",
        lambda: _("This group is dissolved in the portal."),
    ),
    Check(
        "groups",
        "product_code",
        """SELECT g.row_no, g.product_code FROM imp_r_group g
           WHERE g.row_no IS NOT NULL
             AND (g.product_code IS NULL
                  OR NOT EXISTS (SELECT 1 FROM imp_r_product p WHERE p.code = g.product_code))
           ORDER BY g.row_no""",
        lambda code: UNKNOWN["product"] % {"value": code or "—"},
    ),
    Check(
        "groups",
        "product_code",
        """SELECT g.row_no FROM imp_r_group g JOIN imp_r_product p ON p.code = g.product_code
           WHERE g.row_no IS NOT NULL AND NOT p.allows_joint_group ORDER BY g.row_no""",
        lambda: _("This product does not accept joint-guarantee groups."),
    ),
    Check(
        "groups",
        "group_ref",
        """SELECT g.row_no, p.min_group_size, COUNT(*) FROM imp_r_group g
           JOIN imp_r_product p ON p.code = g.product_code
           JOIN imp_r_member m ON m.group_ref = g.group_ref
           WHERE g.row_no IS NOT NULL
           GROUP BY g.row_no, p.min_group_size HAVING COUNT(*) < p.min_group_size
           ORDER BY g.row_no""",
        lambda minimum, count: (
            _("A joint group needs at least %(min)d members; this one has %(count)d.")
            % {"min": minimum, "count": count}
        ),
    ),
    Check(
        "groups",
        "member_ref",
        """SELECT s.row_no, b.name FROM imp_groups s
           JOIN imp_r_group g ON g.group_ref = s.group_ref
           JOIN imp_r_product p ON p.code = g.product_code
           JOIN imp_r_borrower b ON b.ref = s.member_ref
           WHERE b.kind = 'enterprise' AND NOT p.enterprises_ok ORDER BY s.row_no""",
        lambda name: (
            _("%(name)s is an enterprise; this product's groups take persons only.")
            % {"name": name}
        ),
    ),
    # Loans
    Check(
        "loans",
        "borrower_ref",
        """SELECT s.row_no, s.borrower_ref FROM imp_loans s
           WHERE s.borrower_ref <> ''
             AND NOT EXISTS (SELECT 1 FROM imp_r_borrower b WHERE b.ref = s.borrower_ref)
           ORDER BY s.row_no""",
        _unknown("borrower"),
    ),
    Check(
        "loans",
        "product_code",
        """SELECT s.row_no, s.product_code FROM imp_loans s
           WHERE s.product_code <> ''
             AND NOT EXISTS (SELECT 1 FROM imp_r_product p WHERE p.code = s.product_code)
           ORDER BY s.row_no""",
        _unknown("product"),
    ),
    *[
        Check(
            "loans",
            officer,
            f"""SELECT s.row_no, s.{officer} FROM imp_loans s
                WHERE s.{officer} <> ''
                  AND NOT EXISTS (SELECT 1 FROM imp_r_officer o WHERE o.username = s.{officer}
                                  AND (o.row_no IS NOT NULL OR o.is_officer))
                ORDER BY s.row_no""",
            lambda value: (
                _("%(value)s is neither in the officers table nor a loan officer in the portal.")
                % {"value": value}
            ),
        )
        for officer in ("managing_officer", "originating_officer")
    ],
    Check(
        "loans",
        "managing_officer",
        """SELECT s.row_no, s.managing_officer FROM imp_loans s
           JOIN imp_r_officer o ON o.username = s.managing_officer
           WHERE o.row_no IS NULL AND o.is_officer AND NOT o.is_active ORDER BY s.row_no""",
        lambda value: (
            _("%(value)s is no longer active; choose an active loan officer.") % {"value": value}
        ),
    ),
    Check(
        "loans",
        "branch",
        """SELECT s.row_no, s.managing_officer FROM imp_loans s
           JOIN imp_r_officer o ON o.username = s.managing_officer
           WHERE s.branch = '' AND o.branch IS NULL ORDER BY s.row_no""",
        lambda officer: (
            _("Give the branch: the managing officer %(officer)s has none.") % {"officer": officer}
        ),
    ),
    Check(
        "loans",
        "principal",
        """SELECT s.row_no, p.code, p.amount_min, p.amount_max FROM imp_loans s
           JOIN imp_r_product p ON p.code = s.product_code
           WHERE s.principal NOT BETWEEN p.amount_min AND p.amount_max ORDER BY s.row_no""",
        lambda product, low, high: (
            _("%(product)s lends between %(min)s and %(max)s.")
            % {"product": product, "min": format_cny(low), "max": format_cny(high)}
        ),
    ),
    Check(
        "loans",
        "annual_rate",
        """SELECT s.row_no, p.code, p.rate_min, p.rate_max FROM imp_loans s
           JOIN imp_r_product p ON p.code = s.product_code
           WHERE s.annual_rate NOT BETWEEN p.rate_min AND p.rate_max ORDER BY s.row_no""",
        lambda product, low, high: (
            _("%(product)s charges between %(min)s%% and %(max)s%% a year.")
            % {"product": product, "min": low, "max": high}
        ),
    ),
    Check(
        "loans",
        "term_months",
        """SELECT s.row_no, p.code, p.term_min, p.term_max FROM imp_loans s
           JOIN imp_r_product p ON p.code = s.product_code
           WHERE s.term_months NOT BETWEEN p.term_min AND p.term_max ORDER BY s.row_no""",
        lambda product, low, high: (
            _("%(product)s runs from %(min)d to %(max)d months.")
            % {"product": product, "min": low, "max": high}
        ),
    ),
    Check(
        "loans",
        "repayment_method",
        f"""SELECT s.row_no, p.code FROM imp_loans s
            JOIN imp_r_product p ON p.code = s.product_code
            WHERE s.repayment_method IN ({_METHODS}) AND cardinality(p.methods) > 0
              AND NOT s.repayment_method = ANY(p.methods) ORDER BY s.row_no""",
        lambda product: (
            _("%(product)s does not offer this repayment method.") % {"product": product}
        ),
    ),
    Check(
        "loans",
        "first_due_on",
        """SELECT row_no FROM imp_loans WHERE first_due_on <= disbursed_on ORDER BY row_no""",
        lambda: _("The first due date must come after the disbursement."),
    ),
    Check(
        "loans",
        "first_due_on",
        """SELECT s.row_no, f.first_due_given FROM imp_loans s
           JOIN imp_sched_loan f ON f.loan_ref = s.ref
           WHERE s.first_due_on <> f.first_due_given ORDER BY s.row_no""",
        lambda first_due: (
            _("The schedule's first instalment is due on %(date)s.") % {"date": first_due}
        ),
    ),
    Check(
        "loans",
        "group_ref",
        """SELECT s.row_no, s.group_ref FROM imp_loans s
           WHERE s.group_ref <> ''
             AND NOT EXISTS (SELECT 1 FROM imp_r_group g WHERE g.group_ref = s.group_ref)
           ORDER BY s.row_no""",
        _unknown("group"),
    ),
    Check(
        "loans",
        "group_ref",
        """SELECT s.row_no, s.group_ref FROM imp_loans s
           JOIN imp_r_group g ON g.group_ref = s.group_ref
           WHERE NOT EXISTS (SELECT 1 FROM imp_r_member m
                             WHERE m.group_ref = s.group_ref AND m.member_ref = s.borrower_ref)
           ORDER BY s.row_no""",
        lambda group: _("The borrower is not a member of group %(group)s.") % {"group": group},
    ),
    Check(
        "loans",
        "group_ref",
        """SELECT s.row_no, s.group_ref, g.product_code FROM imp_loans s
           JOIN imp_r_group g ON g.group_ref = s.group_ref
           WHERE g.product_code <> s.product_code ORDER BY s.row_no""",
        lambda group, product: (
            _("The group %(group)s follows product %(product)s, not this loan's.")
            % {"group": group, "product": product}
        ),
    ),
    Check(
        "loans",
        "ref",
        f"""WITH pairs AS (
               SELECT loan_ref, party FROM imp_r_guarantee WHERE party IS NOT NULL
               UNION
               SELECT l.reference, CASE WHEN b.id IS NOT NULL THEN 'B:' || b.reference
                                        ELSE 'G:' || g.reference END
               FROM borrowers_guarantee gt
               JOIN loans_loan l ON l.id = gt.loan_id
               JOIN borrowers_guarantor g ON g.id = gt.guarantor_id
               LEFT JOIN borrowers_borrower b ON b.id = g.borrower_id
               WHERE gt.status = {GUARANTEE_ACTIVE} AND l.reference IN (SELECT ref FROM imp_loans)
           )
           SELECT s.row_no, p.code, p.min_guarantors FROM imp_loans s
           JOIN imp_r_product p ON p.code = s.product_code
           WHERE s.group_ref = '' AND p.min_guarantors > 0
             AND (SELECT COUNT(*) FROM pairs WHERE pairs.loan_ref = s.ref) < p.min_guarantors
           ORDER BY s.row_no""",
        lambda product, count: (
            _("%(product)s needs at least %(count)d guarantor(s) outside a joint group.")
            % {"product": product, "count": count}
        ),
    ),
    # Schedule
    _loan_known("schedule", where="s.row_no IS NOT NULL AND "),
    Check(
        "schedule",
        "seq",
        # Numbered 1..n: the lowest is 1 and the highest is the number of distinct
        # numbers (the rows less the repeats, which are reported on their own below).
        """SELECT a.seq_row FROM imp_sched_loan a
           LEFT JOIN (SELECT loan_ref, COUNT(*) AS repeats FROM imp_sched_order
                      WHERE seq = previous_seq GROUP BY loan_ref) d
             ON d.loan_ref = a.loan_ref
           WHERE a.loan_ref <> '' AND a.seq_rows > 0
             AND (a.seq_min <> 1 OR a.seq_max <> a.seq_rows - COALESCE(d.repeats, 0))
           ORDER BY 1""",
        lambda: _("Instalments must be numbered 1, 2, 3, … without gaps."),
    ),
    Check(
        "schedule",
        "seq",
        """SELECT row_no, previous_row FROM imp_sched_order WHERE seq = previous_seq
           ORDER BY row_no""",
        lambda first: (
            _("Duplicate of row %(first)s (the same %(key)s).")
            % {"first": first, "key": KEY_NAMES["schedule"]}
        ),
    ),
    Check(
        "schedule",
        "due_on",
        """SELECT row_no FROM imp_sched_order
           WHERE seq <> previous_seq AND due_on <= previous_due ORDER BY row_no""",
        lambda: _("Due dates must strictly increase."),
    ),
    Check(
        "schedule",
        "due_on",
        """SELECT s.row_no, l.disbursed_on FROM imp_schedule s
           JOIN imp_r_loan l ON l.ref = s.loan_ref
           WHERE s.source = 'file' AND s.seq = 1 AND s.due_on <= l.disbursed_on
           ORDER BY s.row_no""",
        lambda disbursed: (
            _("The first due date must come after the disbursement (%(date)s).")
            % {"date": disbursed}
        ),
    ),
    Check(
        "schedule",
        "principal_due",
        """SELECT a.file_row, a.file_principal, l.principal FROM imp_sched_loan a
           JOIN imp_r_loan l ON l.ref = a.loan_ref
           WHERE a.file_principal <> l.principal ORDER BY 1""",
        lambda total, principal: (
            _("The instalments' principal adds up to %(total)s, not the loan's %(principal)s.")
            % {"total": format_cny(total), "principal": format_cny(principal)}
        ),
    ),
    Check(
        "loans",
        "principal",
        """SELECT l.row_no, a.kept_principal, l.principal FROM imp_sched_loan a
           JOIN imp_r_loan l ON l.ref = a.loan_ref
           WHERE a.kept_principal <> l.principal ORDER BY 1""",
        lambda total, principal: (
            _("The instalments' principal adds up to %(total)s, not the loan's %(principal)s.")
            % {"total": format_cny(total), "principal": format_cny(principal)}
        ),
    ),
    # Guarantees
    _loan_known("guarantees"),
    Check(
        "guarantees",
        "guarantor_ref",
        """SELECT row_no, guarantor_ref FROM imp_r_guarantee WHERE source IS NULL
           ORDER BY row_no""",
        lambda value: (
            _("No guarantor or borrower %(value)s in this import or the portal.") % {"value": value}
        ),
    ),
    Check(
        "guarantees",
        "guarantor_ref",
        """SELECT g.row_no FROM imp_r_guarantee g JOIN imp_r_loan l ON l.ref = g.loan_ref
           WHERE g.party_borrower = l.borrower_ref ORDER BY g.row_no""",
        lambda: _("A borrower cannot guarantee their own loan."),
    ),
    # Repayments
    _loan_known("repayments"),
    Check(
        "repayments",
        "paid_on",
        """SELECT s.row_no, l.disbursed_on FROM imp_repayments s
           JOIN imp_r_loan l ON l.ref = s.loan_ref
           WHERE s.paid_on < l.disbursed_on ORDER BY s.row_no""",
        lambda disbursed: (
            _("A repayment cannot predate the disbursement (%(date)s).") % {"date": disbursed}
        ),
    ),
    Check(
        "repayments",
        "loan_ref",
        f"""SELECT s.row_no FROM imp_repayments s JOIN imp_r_loan l ON l.ref = s.loan_ref
           LEFT JOIN loans_repayment r ON r.loan_id = l.id AND r.reference = s.reference
           WHERE l.status = {WRITTEN_OFF}
             AND (r.id IS NULL OR (r.paid_on, r.amount) IS DISTINCT FROM (s.paid_on, s.amount))
           ORDER BY s.row_no""",
        lambda: _("The loan is written off; its repayments are frozen."),
    ),
    Check(
        "repayments",
        "amount",
        """WITH paid AS (
               SELECT loan_ref, amount FROM imp_repayments WHERE amount IS NOT NULL
               UNION ALL
               SELECT l.ref, r.amount FROM imp_r_loan l
               JOIN loans_repayment r ON r.loan_id = l.id AND r.reversed_at IS NULL
               WHERE NOT EXISTS (SELECT 1 FROM imp_repayments s
                                 WHERE s.loan_ref = l.ref AND s.reference = r.reference)
           ), totals AS (SELECT loan_ref, SUM(amount) AS paid FROM paid GROUP BY loan_ref)
           SELECT MAX(s.row_no), MIN(t.paid), MIN(o.total) FROM imp_repayments s
           JOIN totals t ON t.loan_ref = s.loan_ref
           JOIN imp_sched_total o ON o.loan_ref = s.loan_ref
           WHERE t.paid > o.total GROUP BY s.loan_ref ORDER BY 1""",
        lambda paid, owed: (
            _(
                "The loan's repayments add up to %(total)s, more than the %(owed)s its "
                "schedule asks for."
            )
            % {"total": format_cny(paid), "owed": format_cny(owed)}
        ),
    ),
    # Collateral
    _loan_known("collateral"),
    Check(
        "collateral",
        "kind",
        """SELECT s.row_no, p.code, s.kind FROM imp_collateral s
           JOIN imp_r_loan l ON l.ref = s.loan_ref
           JOIN imp_r_product p ON p.code = l.product_code
           WHERE cardinality(p.collateral_kinds) > 0 AND NOT s.kind = ANY(p.collateral_kinds)
           ORDER BY s.row_no""",
        lambda product, kind: (
            _("%(product)s does not accept %(kind)s as collateral.")
            % {"product": product, "kind": kind}
        ),
    ),
]

# The cap on active guarantees per guarantor (BusinessSettings.max_active_guarantees), over
# what the portal has and what the import adds, the joint groups' cross-guarantees included.
CAP_SQL = f"""
WITH file_pairs AS (
    SELECT loan_ref, party FROM imp_r_guarantee WHERE party IS NOT NULL
    UNION
    SELECT loan_ref, party FROM imp_cross
), parties AS (SELECT DISTINCT party FROM file_pairs),
db_pairs AS (
    SELECT l.reference AS loan_ref,
           CASE WHEN b.id IS NOT NULL THEN 'B:' || b.reference ELSE 'G:' || g.reference END
               AS party
    FROM borrowers_guarantee gt
    JOIN borrowers_guarantor g ON g.id = gt.guarantor_id
    LEFT JOIN borrowers_borrower b ON b.id = g.borrower_id
    JOIN loans_loan l ON l.id = gt.loan_id
    WHERE gt.status = {GUARANTEE_ACTIVE}
      AND (b.reference IN (SELECT substr(party, 3) FROM parties WHERE left(party, 2) = 'B:')
           OR g.reference IN (SELECT substr(party, 3) FROM parties WHERE left(party, 2) = 'G:'))
), counted AS (
    SELECT party, COUNT(*) AS n FROM (SELECT * FROM file_pairs UNION SELECT * FROM db_pairs) x
    GROUP BY party HAVING COUNT(*) > %(cap)s
)
SELECT 'guarantees', g.row_no, 'guarantor_ref', substr(c.party, 3), c.n
FROM imp_r_guarantee g JOIN counted c ON c.party = g.party
UNION ALL
SELECT 'groups', MIN(m.row_no), 'member_ref', x.member_ref, MIN(c.n)
FROM imp_cross x JOIN counted c ON c.party = x.party
JOIN imp_r_member m ON m.member_ref = x.member_ref
WHERE m.row_no IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM imp_r_guarantee g WHERE g.party = x.party)
GROUP BY x.member_ref
ORDER BY 1, 2
"""


def run_checks(cursor, labels: dict[str, str], errors: Errors, as_of: date) -> None:
    """Run every check, then the cap; each error is kept at its file (as the user named it),
    row and column. Once MAX_ERRORS are kept the rest are only counted."""
    for check in CHECKS:
        if errors.result.errors_omitted:
            break
        cursor.execute(check.sql + f" LIMIT {MAX_ERRORS}", {"as_of": as_of})
        for row_no, *params in cursor.fetchall():
            errors.add(
                labels.get(check.table, check.table), row_no, check.column, check.message(*params)
            )
    cap = BusinessSettings.current().max_active_guarantees
    cursor.execute(CAP_SQL, {"cap": cap})
    for table, row_no, column, party, count in cursor.fetchall():
        errors.add(
            labels.get(table, table),
            row_no,
            column,
            _("%(name)s would back %(count)d active guarantees; the most allowed is %(cap)d.")
            % {"name": party, "count": count, "cap": cap},
        )
