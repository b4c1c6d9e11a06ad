"""A reproducible synthetic portfolio, generated inside PostgreSQL (COPY-speed).

For benchmarks and for the test that holds the SQL classification to the pure rule.
Every value is a deterministic hash of the loan's number and a salt, so the same
`--loans N --seed S --as-of D` always yields the same book. Schedules use a simplified
equal-principal shape for every instalment method (classification reads only what is
due and what is paid); repayment histories spread loans over every tier: paying, one to
two behind, three, four to six, seven and more, never paid, settled, with partial
payments and grace days.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

import pgtrigger
from django.contrib.auth.models import Group, User
from django.db import connection, transaction

from borrowers.models import LegalStatus
from common.roles import Role
from common.sqlvalues import sql_literal
from loans.models import Branch, LoanProduct, LoanStatus, OfficerProfile
from postloan.risk.nightly import ANALYZE_LEDGER_SQL

BATCH = 50_000


@dataclass
class GeneratedPortfolio:
    first_loan_id: int
    loans: int
    seconds: float


def _rand(salt: int, g: str = "g") -> str:
    """A uniform number in [0, 1) from the loan number and a salt."""
    return f"((hashint8extended({g}, {salt}) & 2147483647)::float8 / 2147483648.0)"


LOANS_SQL = f"""
INSERT INTO borrowers_borrower (id, reference, kind, name, id_number, credit_code, mobile,
    address, occupation, business_address, employer, health, legal_status,
    legal_representative, business_scope, created_at, updated_at, version)
SELECT %(borrower_base)s + g, 'GB-' || %(tag)s || '-' || g, 'person', '借款人' || g,
       'G' || lpad((%(borrower_base)s + g)::text, 17, '0'), NULL, '', '', '', '', '',
       'good', {sql_literal(LegalStatus.NORMAL)}, '', '', now(), now(), 1
FROM generate_series(%(lo)s, %(hi)s) AS g;

INSERT INTO loans_loan (id, reference, borrower_id, product_id, branch_id, group_id,
    principal, annual_rate, term_months, repayment_method, disbursed_on, first_due_on,
    maturity_on, grace_days, purpose, schedule_source, status, closed_on,
    originating_officer_id, managing_officer_id, created_at, version)
SELECT %(loan_base)s + g, 'GL-' || %(tag)s || '-' || g, %(borrower_base)s + g,
       %(product)s, (%(branches)s)[1 + (g %% array_length(%(officers)s, 1))
                                    %% array_length(%(branches)s, 1)],
       NULL, principal, rate, term, method, disbursed,
       first_due, first_due + make_interval(months => n_inst - 1),
       grace, '', 'generated', {sql_literal(LoanStatus.ACTIVE)}, NULL,
       (%(officers)s)[1 + (CASE WHEN {_rand(13)} < 0.2 THEN g + 1 ELSE g END)
                          %% array_length(%(officers)s, 1)],
       (%(officers)s)[1 + g %% array_length(%(officers)s, 1)], now(), 1
FROM (
    SELECT g, method, term, CASE WHEN method = 'bullet' THEN 1 ELSE term END AS n_inst,
           principal, rate, grace, disbursed,
           (disbursed + make_interval(months =>
               CASE WHEN method = 'bullet' THEN term ELSE 1 END))::date AS first_due
    FROM (
        SELECT g,
            CASE WHEN {_rand(1)} < 0.10 THEN 'bullet'
                 WHEN {_rand(1)} < 0.45 THEN 'equal_installment'
                 WHEN {_rand(1)} < 0.75 THEN 'equal_principal'
                 ELSE 'interest_first' END AS method,
            CASE WHEN {_rand(1)} < 0.10 THEN 3 + floor({_rand(2)} * 10)::int
                 ELSE 12 + floor({_rand(2)} * 25)::int END AS term,
            (10000 + floor({_rand(3)} * 4900) * 100)::numeric(14, 2) AS principal,
            round((6 + {_rand(4)} * 12)::numeric, 1) AS rate,
            CASE WHEN {_rand(5)} < 0.2 THEN 3 ELSE 0 END AS grace,
            (%(as_of)s::date - (30 + floor({_rand(6)} * 1050))::int) AS disbursed
        FROM generate_series(%(lo)s, %(hi)s) AS g
    ) drawn
) shaped;

CREATE TEMP TABLE generator_instalments ON COMMIT DROP AS
SELECT %(instalment_base)s + (l.id - %(loan_base)s) * 40 + s.seq AS id, l.id AS loan_id, s.seq,
       (l.first_due_on + make_interval(months => s.seq - 1))::date AS due_on,
       p.principal_due, p.interest_due, k.n AS n_inst,
       COUNT(*) FILTER (WHERE (l.first_due_on + make_interval(months => s.seq - 1))::date
                              < %(as_of)s) OVER (PARTITION BY l.id) AS n_due,
       l.disbursed_on
FROM loans_loan l
CROSS JOIN LATERAL (
    SELECT CASE WHEN l.repayment_method = 'bullet' THEN 1 ELSE l.term_months END AS n,
           trunc(l.principal / CASE WHEN l.repayment_method = 'bullet' THEN 1
                                    ELSE l.term_months END, 2) AS part
) k
CROSS JOIN LATERAL generate_series(1, k.n) AS s(seq)
CROSS JOIN LATERAL (
    SELECT
        CASE WHEN l.repayment_method = 'interest_first'
                THEN CASE WHEN s.seq = k.n THEN l.principal ELSE 0 END
             WHEN s.seq = k.n THEN l.principal - k.part * (k.n - 1)
             ELSE k.part END AS principal_due,
        CASE WHEN l.repayment_method = 'bullet'
                THEN round(l.principal * l.annual_rate / 100 * l.term_months / 12, 2)
             WHEN l.repayment_method = 'interest_first'
                THEN round(l.principal * l.annual_rate / 1200, 2)
             ELSE round((l.principal - k.part * (s.seq - 1)) * l.annual_rate / 1200, 2)
        END AS interest_due
) p
WHERE l.id BETWEEN %(loan_base)s + %(lo)s AND %(loan_base)s + %(hi)s;
"""

# How far each loan got: instalments fully paid, and an optional partial payment on the next.
PAYMENT_PLAN_SQL = f"""
CREATE TEMP TABLE generator_plan ON COMMIT DROP AS
SELECT n.loan_id, n.n_inst, n.n_due,
       CASE WHEN b.roll < 0.05 THEN n.n_inst
            WHEN b.roll < 0.07 THEN 0
            ELSE GREATEST(0, n.n_due - b.missed) END AS paid_count,
       b.roll >= 0.07 AND b.missed > 0 AND {_rand(9, "n.loan_id")} < 0.3 AS partial,
       {_rand(10, "n.loan_id")}::numeric(6, 4) AS partial_share
FROM (SELECT DISTINCT ON (loan_id) loan_id, n_inst, n_due FROM generator_instalments) n
JOIN LATERAL (
    SELECT {_rand(7, "n.loan_id")} AS roll,
           CASE WHEN {_rand(8, "n.loan_id")} < 0.55 THEN 0
                WHEN {_rand(8, "n.loan_id")} < 0.70
                    THEN 1 + floor({_rand(11, "n.loan_id")} * 2)::int
                WHEN {_rand(8, "n.loan_id")} < 0.77 THEN 3
                WHEN {_rand(8, "n.loan_id")} < 0.87
                    THEN 4 + floor({_rand(11, "n.loan_id")} * 3)::int
                ELSE 7 + floor({_rand(11, "n.loan_id")} * 6)::int END AS missed
) b ON TRUE;

CREATE TEMP TABLE generator_paid ON COMMIT DROP AS
SELECT i.*, p.paid_count,
       CASE WHEN i.seq <= p.paid_count THEN i.interest_due
            WHEN p.partial AND i.seq = p.paid_count + 1
                THEN LEAST(i.interest_due,
                           round((i.principal_due + i.interest_due) * p.partial_share, 2))
            ELSE 0 END AS interest_paid,
       CASE WHEN i.seq <= p.paid_count THEN i.principal_due
            WHEN p.partial AND i.seq = p.paid_count + 1
                THEN GREATEST(0, round((i.principal_due + i.interest_due) * p.partial_share, 2)
                                 - i.interest_due)
            ELSE 0 END AS principal_paid
FROM generator_instalments i JOIN generator_plan p ON p.loan_id = i.loan_id;

INSERT INTO loans_instalment (id, loan_id, seq, due_on, principal_due, interest_due,
                              principal_paid, interest_paid)
SELECT id, loan_id, seq, due_on, principal_due, interest_due, principal_paid, interest_paid
FROM generator_paid;

INSERT INTO loans_repayment (id, loan_id, paid_on, amount, channel, reference, note,
                             recorded_at, reversal_reason)
SELECT %(repayment_base)s + (loan_id - %(loan_base)s) * 40 + seq, loan_id,
       LEAST(GREATEST(due_on - 2 + floor({_rand(12, "id")} * 5)::int, disbursed_on),
             %(as_of)s::date - 1),
       principal_paid + interest_paid, 'bank_transfer', 'GR-' || seq, '', now(), ''
FROM generator_paid WHERE principal_paid + interest_paid > 0;

INSERT INTO loans_allocation (repayment_id, instalment_id, interest, principal)
SELECT %(repayment_base)s + (loan_id - %(loan_base)s) * 40 + seq, id,
       interest_paid, principal_paid
FROM generator_paid WHERE principal_paid + interest_paid > 0;

UPDATE loans_loan l SET status = {sql_literal(LoanStatus.SETTLED)}, closed_on = last.paid_on
FROM generator_plan p
JOIN LATERAL (SELECT MAX(r.paid_on) AS paid_on FROM loans_repayment r
              WHERE r.loan_id = p.loan_id) last ON TRUE
WHERE l.id = p.loan_id AND p.paid_count = p.n_inst;

UPDATE postloan_loanriskstate s SET outstanding_principal = o.outstanding
FROM (SELECT loan_id, SUM(principal_due - principal_paid) AS outstanding
      FROM generator_paid GROUP BY loan_id) o
WHERE s.loan_id = o.loan_id;
"""


def _reserve(cursor, sequence: str, table: str, count: int) -> int:
    """Reserve `count` ids of a serial column; returns the base (first id is base + 1)."""
    cursor.execute(
        f"SELECT GREATEST(COALESCE(MAX(id), 0), (SELECT last_value FROM {sequence})) FROM {table}"
    )
    (base,) = cursor.fetchone()
    cursor.execute("SELECT setval(%s, %s)", [sequence, base + count])
    return base


def _fixtures(officers: int = 1):
    """The product, and `officers` loan officers spread over one branch per 25 of them."""
    branches = [
        Branch.objects.get_or_create(
            code="GEN" if n == 0 else f"GEN{n + 1}", defaults={"name": f"Generated {n + 1}"}
        )[0]
        for n in range(max(1, officers // 25))
    ]
    users = []
    for n in range(officers):
        username = "generated.officer" if n == 0 else f"generated.officer.{n + 1}"
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save()
            user.groups.add(Group.objects.get(name=Role.LOAN_OFFICER.value))
            OfficerProfile.objects.create(user=user, branch=branches[n % len(branches)])
        users.append(user)
    return branches, users, _product()


def _product():
    product, _ = LoanProduct.objects.get_or_create(
        code="GEN",
        defaults={
            "name": "Generated",
            "rate_max": 36,
            "amount_max": 10_000_000,
            "term_max": 60,
            "per_person_limit": 10_000_000,
        },
    )
    return product


def generate_portfolio(
    *, loans: int, as_of: date, tag: str = "0", officers: int = 1, progress=None
):
    """Insert `loans` loans with schedules and repayment histories; returns the id range.

    Loans are spread round-robin over `officers` loan officers (a fifth of them originated
    by the next officer), who are spread over one branch per 25 officers."""
    started = time.monotonic()
    branches, users, product = _fixtures(officers)
    with connection.cursor() as cursor:
        borrower_base = _reserve(cursor, "borrowers_borrower_id_seq", "borrowers_borrower", loans)
        loan_base = _reserve(cursor, "loans_loan_id_seq", "loans_loan", loans)
        instalment_base = _reserve(
            cursor, "loans_instalment_id_seq", "loans_instalment", (loans + 1) * 40
        )
        repayment_base = _reserve(
            cursor, "loans_repayment_id_seq", "loans_repayment", (loans + 1) * 40
        )
    params = {
        "as_of": as_of,
        "tag": tag,
        "product": product.pk,
        "branches": [branch.pk for branch in branches],
        "officers": [user.pk for user in users],
        "borrower_base": borrower_base,
        "loan_base": loan_base,
        "instalment_base": instalment_base,
        "repayment_base": repayment_base,
    }
    # Synthetic rows are not business events: the audit triggers are skipped for them.
    audited = (
        "{"
        + ",".join(
            trigger.get_pgid(model)
            for model, trigger in pgtrigger.registered()
            if model._meta.label in ("borrowers.Borrower", "loans.Loan", "loans.Repayment")
        )
        + "}"
    )
    for lo in range(1, loans + 1, BATCH):
        hi = min(lo + BATCH - 1, loans)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [audited])
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(LOANS_SQL, {**params, "lo": lo, "hi": hi})
            cursor.execute(PAYMENT_PLAN_SQL, {**params, "lo": lo, "hi": hi})
        if progress:
            progress(hi, loans)
    with connection.cursor() as cursor:
        cursor.execute(ANALYZE_LEDGER_SQL)
    return GeneratedPortfolio(loan_base + 1, loans, time.monotonic() - started)
