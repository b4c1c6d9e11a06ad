"""The dashboard's figures (issue 8), read from the summary tables that snapshots.py writes.

`portfolio_summary` is everything the dashboard shows, in a handful of queries whatever the
portfolio's size; `migration_cell_loans` is a page of the loans in one cell of the
migration matrix (the one place that reads the snapshots themselves, with its SQL builder
below); `officer_scores` is the officers' scorecards; `dashboard_options` the filters'
choices and `officers_matching` the officer search. The views only parse the request and
render what these return.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, DecimalField, F, Q, Sum, Value, Window
from django.db.models.functions import Cast, Concat, NullIf
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common import roles
from common.sqlvalues import sql_literal
from loans.models import Loan, LoanStatus
from loans.selectors import loans_visible_to
from postloan.models import (
    CollectionPlan,
    InspectionSummary,
    MigrationRollup,
    MigrationSummary,
    OfficerScore,
    PortfolioRollup,
    PortfolioSummary,
    TierAdjustment,
)
from postloan.reporting.snapshots import LOAN_DIMENSIONS_SQL, previous_month_end
from postloan.risk.rules import NON_PERFORMING, TIER_LABELS, TIER_ORDER, Tier

TIERS = [t.value for t in TIER_ORDER]
NPL = {tier.value for tier in NON_PERFORMING}
ZERO = Decimal("0")
# The migration matrix's rows (where a loan started the month) and columns (where it ended).
CELL_STARTS = ["new", *TIERS]
CELL_ENDS = [*TIERS, "closed"]
# The page stays the same size however many officers there are: a page of scorecards, the
# officers with the most overdue inspections, and an officer search instead of a long select
# (the XLSX exports carry every row).
SCORES_PER_PAGE = 25
INSPECTION_OFFICERS_SHOWN = 25
OFFICER_SELECT_MAX = 50
CELL_PAGE = 50  # loans per page of a migration cell
OFFICER_SEARCH_MAX = 20
FILTER_DIMENSIONS = ("branch", "officer", "product", "structure", "cohort")


def _percent(part, whole):
    """part / whole in percent in SQL, NULL when whole is zero."""
    return Cast(part, DecimalField(max_digits=20, decimal_places=6)) * 100 / NullIf(whole, 0)


_DUE_SO_FAR = F("inspections_on_time") + F("inspections_late") + F("inspections_overdue")
# The scorecard's sortable columns: key, heading, the expression it sorts by.
SCORE_COLUMNS = [
    ("officer", gettext_lazy("Officer"), F("officer__username")),
    ("managed_loans", gettext_lazy("Loans managed"), F("managed_loans")),
    ("managed_balance", gettext_lazy("Balance"), F("managed_balance")),
    (
        "managed_npl",
        gettext_lazy("NPL ratio (managed)"),
        _percent(F("managed_npl_balance"), F("managed_balance")),
    ),
    ("originated_loans", gettext_lazy("Loans originated"), F("originated_loans")),
    (
        "originated_npl",
        gettext_lazy("NPL ratio (originated)"),
        _percent(F("originated_npl_balance"), F("originated_balance")),
    ),
    (
        "on_time",
        gettext_lazy("Inspections on time"),
        _percent(F("inspections_on_time"), _DUE_SO_FAR),
    ),
    ("overdue", gettext_lazy("Overdue inspections"), F("inspections_overdue")),
    ("handovers_overdue", gettext_lazy("Overdue handovers"), F("handovers_overdue")),
]
SCORE_SORTS = {key: expression for key, _label, expression in SCORE_COLUMNS}

# An officer's name as get_full_name() gives it, or the username.
OFFICER_NAME_SQL = "COALESCE(NULLIF(TRIM(u.first_name || ' ' || u.last_name), ''), u.username)"


# --- The filters -------------------------------------------------------------------------------


def dashboard_options(chosen_officer=None) -> dict:
    """Month ends, branches, products and loan officers for the filters, in one query.

    The officers come only while there are few enough for a select (and the chosen one):
    past that the page searches them (officers_matching) and needs only their number.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH officers AS (
                SELECT u.id, {OFFICER_NAME_SQL} AS name
                FROM auth_user u JOIN auth_user_groups ug ON ug.user_id = u.id
                JOIN auth_group g ON g.id = ug.group_id
                WHERE g.name = %s AND u.is_active)
            SELECT 'month_ends', 0, month_end::text FROM postloan_snapshotrun
                WHERE finished_at IS NOT NULL
            UNION ALL SELECT 'branches', id, name FROM loans_branch
            UNION ALL SELECT 'products', id, name FROM loans_loanproduct
            UNION ALL SELECT 'officer_count', COUNT(*), '' FROM officers
            UNION ALL SELECT 'officers', id, name FROM officers
                WHERE (SELECT COUNT(*) FROM officers) <= %s OR id::text = %s
            """,
            [roles.Role.LOAN_OFFICER.value, OFFICER_SELECT_MAX, str(chosen_officer or "")],
        )
        rows = cursor.fetchall()
    options = {"month_ends": [], "branches": [], "products": [], "officers": []}
    for kind, pk, label in rows:
        if kind == "officer_count":
            options[kind] = pk
            continue
        options[kind].append(label if kind == "month_ends" else (pk, label))
    options["month_ends"].sort(reverse=True)
    for kind in ("branches", "products", "officers"):
        options[kind].sort(key=lambda item: item[1])
    return options


def officers_matching(text: str):
    """The active loan officers whose username or name holds `text`: at most twenty, by
    username (the officer filter's search once there are too many for a select)."""
    return (
        get_user_model()
        .objects.filter(groups__name=roles.Role.LOAN_OFFICER.value, is_active=True)
        .annotate(full=Concat("first_name", Value(" "), "last_name"))
        .filter(
            Q(username__icontains=text)
            | Q(first_name__icontains=text)
            | Q(last_name__icontains=text)
            | Q(full__icontains=text)
        )
        .order_by("username")[:OFFICER_SEARCH_MAX]
    )


def _period(filters: dict) -> date | None:
    """The chosen month end, or None for today."""
    return date.fromisoformat(filters["period"]) if filters.get("period") else None


def _dimension_filter(data: dict, user, *, officer_field: str = "officer_id") -> Q:
    """The filters as a Q on a summary table. `officer_field` is the loan's managing officer,
    except for inspections, which are the work of the officer they are assigned to."""
    q = Q()
    if data.get("branch"):
        q &= Q(branch_id=data["branch"])
    if not roles.sees_whole_portfolio(user):
        q &= Q(**{officer_field: user.pk})  # a loan officer's own book
    elif data.get("officer"):
        q &= Q(**{officer_field: data["officer"]})
    if data.get("product"):
        q &= Q(product_id=data["product"])
    if data.get("structure"):
        q &= Q(structure=data["structure"])
    if data.get("cohort"):
        q &= Q(cohort=data["cohort"])
    return q


def _rollup_level(data: dict, user) -> str | None:
    """The roll-up level that answers these filters (none or one of them), or None when
    two or more apply and the summaries themselves must be summed."""
    chosen = [name for name in FILTER_DIMENSIONS if data.get(name)]
    if not roles.sees_whole_portfolio(user):
        chosen = [name for name in chosen if name != "officer"] + ["officer"]
    if len(chosen) > 1:
        return None
    return chosen[0] if chosen else "all"


# --- The dashboard -----------------------------------------------------------------------------


def portfolio_summary(
    *,
    user,
    filters: dict,
    month_ends: list[date],
    scores_sort: str = "officer",
    scores_page: int = 1,
    everything: bool = False,
) -> dict:
    """Everything the dashboard shows, in five queries on the summary tables: the portfolio
    by tier and its trend, the month's migration, the month's inspections, the officers'
    scorecards and what waits for a decision. `filters` are the filter form's cleaned data;
    `month_ends` the finished snapshots, newest first; `everything` (the exports) lifts the
    pages' cuts of the officers' rows."""
    dims = _dimension_filter(filters, user)
    period = _period(filters)
    window = [m for m in month_ends if period is None or m <= period][: filters.get("months") or 12]
    level = _rollup_level(filters, user)
    summary, trend = _portfolio_by_tier(dims, level, period, window)
    migration = _migration_matrix(_migration_rows(dims, level, period))
    inspections = _inspections(user, filters, period, everything=everything)
    scores = officer_scores(
        user=user, filters=filters, sort=scores_sort, page=scores_page, everything=everything
    )
    return {
        "period": period,
        "summary": summary,
        "trend": trend,
        "migration": migration,
        "inspections": inspections,
        **scores,
        "pending": _pending(user),
    }


def _portfolio_by_tier(dims: Q, level: str | None, period: date | None, window: list[date]):
    """1. The portfolio by tier now (or at the chosen month end), and the trend over the
    month ends of `window`: one query on the roll-up of `level` (None: the summaries)."""
    portfolio = PortfolioRollup.objects.filter(level=level) if level else PortfolioSummary.objects
    rows = (
        portfolio.filter(dims)
        # The current rows too at a past month end: the watch list is a thing of now.
        .filter(Q(period__in=window) | Q(period__isnull=True) | Q(period=period))
        .values("period", "tier")
        .annotate(
            loans=Sum("loans"),
            balance=Sum("outstanding_principal"),
            provision=Sum("provision"),
            watched=Sum("watched"),
            warnings=Sum("warnings"),
        )
    )
    by_period = defaultdict(list)
    for row in rows:
        by_period[row["period"]].append(row)
    current_rows = by_period.get(period)
    summary = _totals(current_rows or [])
    watch_rows = by_period.get(None, [])
    summary["watched"] = sum(r["watched"] or 0 for r in watch_rows)
    summary["warnings"] = sum(r["warnings"] or 0 for r in watch_rows)
    trend = []
    for month_end in sorted(window):
        totals = _totals(by_period.get(month_end, []))
        trend.append(
            {
                "month_end": month_end.isoformat(),
                "npl_ratio": float(totals["npl_ratio_balance"]),
                "balances": {t["tier"]: float(t["balance"]) for t in totals["tiers"]},
            }
        )
    return summary, trend


def _totals(rows) -> dict:
    by_tier = {tier: {"loans": 0, "balance": ZERO, "provision": ZERO} for tier in TIERS}
    for row in rows:
        bucket = by_tier[row["tier"]]
        bucket["loans"] += row["loans"] or 0
        bucket["balance"] += row["balance"] or ZERO
        bucket["provision"] += row["provision"] or ZERO
    loans = sum(b["loans"] for b in by_tier.values())
    balance = sum((b["balance"] for b in by_tier.values()), ZERO)
    for tier, bucket in by_tier.items():
        bucket["share"] = (bucket["balance"] / balance * 100) if balance else ZERO
        bucket["label"] = TIER_LABELS[Tier(tier)]
        bucket["tier"] = tier
    npl_loans = sum(by_tier[t]["loans"] for t in NPL)
    npl_balance = sum((by_tier[t]["balance"] for t in NPL), ZERO)
    return {
        "tiers": [by_tier[t] for t in TIERS],
        "loans": loans,
        "balance": balance,
        "provision": sum((b["provision"] for b in by_tier.values()), ZERO),
        "npl_ratio_count": (Decimal(npl_loans) / loans * 100) if loans else ZERO,
        "npl_ratio_balance": (npl_balance / balance * 100) if balance else ZERO,
    }


def _migration_rows(dims: Q, level: str | None, period: date | None) -> list[dict]:
    """2. Migration over the chosen month (the month in progress when "today"), per cell."""
    migration = MigrationRollup.objects.filter(level=level) if level else MigrationSummary.objects
    return list(
        migration.filter(dims)
        .filter(month_end=period)
        .values("from_tier", "to_tier")
        .annotate(loans=Sum("loans"), start=Sum("balance_start"), end=Sum("balance_end"))
    )


def _migration_matrix(rows) -> dict:
    """Counts and balances per cell. A cell's balance is the one that moved: at the start of
    the month, or at its end for the loans disbursed during it (they had none at the start)."""
    starts = CELL_STARTS
    ends = CELL_ENDS
    cells = {(r["from_tier"], r["to_tier"]): r for r in rows}
    matrix = []
    for start in starts:
        row_cells = []
        for end in ends:
            cell = cells.get((start, end))
            balance_start = (cell["start"] or ZERO) if cell else ZERO
            balance_end = (cell["end"] or ZERO) if cell else ZERO
            row_cells.append(
                {
                    "to": end,
                    "loans": cell["loans"] if cell else 0,
                    "start": balance_start,
                    "end": balance_end,
                    "balance": balance_end if start == "new" else balance_start,
                }
            )
        worse = [
            c
            for c in row_cells
            if c["to"] in TIERS and start in TIERS and TIERS.index(c["to"]) > TIERS.index(start)
        ]
        total = sum(c["loans"] for c in row_cells)
        balance = sum((c["balance"] for c in row_cells), ZERO)
        rolled_balance = sum((c["balance"] for c in worse), ZERO)
        matrix.append(
            {
                "from": start,
                "cells": row_cells,
                "total": total,
                "balance": balance,
                # Roll rate: the share of the row that moved to a worse tier (not for new loans).
                "roll_rate": _ratio(sum(c["loans"] for c in worse), total)
                if start != "new"
                else None,
                "roll_rate_balance": _ratio(rolled_balance, balance) if start != "new" else None,
            }
        )
    column_totals = [sum(r["cells"][i]["loans"] for r in matrix) for i in range(len(ends))]
    column_balances = [
        sum((r["cells"][i]["balance"] for r in matrix), ZERO) for i in range(len(ends))
    ]
    return {
        "rows": matrix,
        "ends": ends,
        "column_totals": column_totals,
        "column_balances": column_balances,
        "columns": [
            {"loans": n, "balance": b} for n, b in zip(column_totals, column_balances, strict=True)
        ],
        "has_data": bool(rows),
    }


def cell_label(tier: str) -> str:
    """A migration matrix's row or column heading: a tier, or new / closed."""
    return {"new": _("new"), "closed": _("closed")}.get(tier) or str(TIER_LABELS[Tier(tier)])


def _inspections(user, filters: dict, period: date | None, *, everything: bool) -> dict:
    """3. Inspections of the month per tier, and the officers with the most overdue.

    One query: the totals per tier and per officer (GROUPING SETS), the officers most
    overdue first and cut to a page's worth unless exporting, and how many there are."""
    month = (period or timezone.localdate()).replace(day=1)
    inspections = InspectionSummary.objects.filter(
        _dimension_filter(filters, user, officer_field="assigned_to_id")
    ).filter(month=month)
    inner_sql, inner_params = (
        inspections.values("assigned_to_id", "tier", "due", "done_on_time", "done_late", "overdue")
        .order_by()
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT by_officer, assigned_to_id, tier, due, on_time, late, overdue, officers,
                   {OFFICER_NAME_SQL} AS name
            FROM (
                SELECT g.*,
                       COUNT(*) FILTER (WHERE g.by_officer = 1) OVER () AS officers,
                       ROW_NUMBER() OVER (PARTITION BY g.by_officer
                                          ORDER BY g.overdue DESC, g.due DESC, g.assigned_to_id)
                           AS position
                FROM (SELECT GROUPING(i.tier) AS by_officer, i.assigned_to_id, i.tier,
                             SUM(i.due) AS due, SUM(i.done_on_time) AS on_time,
                             SUM(i.done_late) AS late, SUM(i.overdue) AS overdue
                      FROM ({inner_sql}) i
                      GROUP BY GROUPING SETS ((i.tier), (i.assigned_to_id))) g
            ) x
            LEFT JOIN auth_user u ON u.id = x.assigned_to_id
            WHERE by_officer = 0 OR %s OR position <= %s
            ORDER BY by_officer, position""",
            [*inner_params, everything, INSPECTION_OFFICERS_SHOWN],
        )
        columns = [c.name for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return _inspection_table(
        [r for r in rows if r["by_officer"] == 0], [r for r in rows if r["by_officer"] == 1]
    )


def _inspection_table(tier_rows, officer_rows) -> dict:
    """Per tier, with the policy's compliance; per officer, most overdue first (a page's
    worth on screen, every officer in the export)."""
    keys = ("due", "on_time", "late", "overdue")
    per_tier = {row["tier"]: {k: row[k] or 0 for k in keys} for row in tier_rows}
    empty = dict.fromkeys(keys, 0)
    officers = [
        {"name": row["name"] or f"#{row['assigned_to_id']}"} | {k: row[k] or 0 for k in keys}
        for row in officer_rows
    ]
    tiers = [
        {
            "tier": tier,
            "label": TIER_LABELS[Tier(tier)],
            **per_tier.get(tier, empty),
            "compliance": _compliance(**per_tier.get(tier, empty)),
        }
        for tier in TIERS
    ]
    total = officer_rows[0]["officers"] if officer_rows else 0
    return {"officers": officers, "officers_total": total, "tiers": tiers}


def _ratio(part, whole):
    return (Decimal(part) / Decimal(whole) * 100) if whole else None


def _compliance(*, due, on_time, late, overdue) -> Decimal | None:
    """Done among the inspections that have fallen due: one due later this month is not
    a breach of the policy yet."""
    return _ratio(on_time + late, on_time + late + overdue)


def officer_scores(*, user, filters: dict, sort: str, page: int, everything: bool) -> dict:
    """4. The officers' scorecards: one page in the order `sort` (a SCORE_COLUMNS key, "-"
    first for descending; every row for the export), and how many there are, in one query.
    A loan officer sees their own card only."""
    scores = OfficerScore.objects.select_related("officer")
    if not roles.sees_whole_portfolio(user):
        scores = scores.filter(officer=user)
    elif filters.get("officer"):
        scores = scores.filter(officer_id=filters["officer"])
    if filters.get("branch"):
        scores = scores.filter(branch_id=filters["branch"])
    sort = sort if sort.lstrip("-") in SCORE_SORTS else "officer"
    key = SCORE_SORTS[sort.lstrip("-")]
    order = key.desc(nulls_last=True) if sort.startswith("-") else key.asc(nulls_last=True)
    scores = scores.annotate(total=Window(Count("id"))).order_by(order, "officer__username")
    if not everything:
        start = (max(page, 1) - 1) * SCORES_PER_PAGE
        scores = scores[start : start + SCORES_PER_PAGE]
    scores = list(scores)
    return {
        "scores": [_score_row(s) for s in scores],
        "scores_total": scores[0].total if scores else 0,
        "scores_sort": sort,
    }


def _score_row(score: OfficerScore) -> dict:
    return {
        "name": score.officer.get_full_name() or score.officer.username,
        "managed_loans": score.managed_loans,
        "managed_balance": score.managed_balance,
        "managed_npl": _ratio(score.managed_npl_balance, score.managed_balance),
        "originated_loans": score.originated_loans,
        "originated_npl": _ratio(score.originated_npl_balance, score.originated_balance),
        # On time among the inspections that have fallen due this month.
        "on_time": _ratio(
            score.inspections_on_time,
            score.inspections_on_time + score.inspections_late + score.inspections_overdue,
        ),
        "overdue": score.inspections_overdue,
        "handovers_overdue": score.handovers_overdue,
    }


def _pending(user) -> list[dict]:
    """5. Reclassification proposals and collection plans awaiting a decision, oldest first
    (one query)."""
    if roles.sees_whole_portfolio(user):
        # Every loan: no filter (a semi-join over a million loans cost 20 ms a page).
        proposals = plans = "TRUE"
        visible_params = ()
    else:
        visible_sql, visible_params = loans_visible_to(user).values("id").query.sql_with_params()
        proposals = f"a.loan_id IN ({visible_sql})"
        plans = f"p.loan_id IN ({visible_sql})"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            (SELECT 'proposal' AS kind, a.id, a.loan_id, l.reference, a.proposed_at AS since,
                    a.proposed_tier AS detail
             FROM postloan_tieradjustment a JOIN loans_loan l ON l.id = a.loan_id
             WHERE a.status = {sql_literal(TierAdjustment.Status.PENDING)} AND {proposals}
             ORDER BY a.proposed_at LIMIT 10)
            UNION ALL
            (SELECT 'plan', p.id, p.loan_id, l.reference, p.created_at, p.kind
             FROM postloan_collectionplan p JOIN loans_loan l ON l.id = p.loan_id
             WHERE p.status = {sql_literal(CollectionPlan.Status.PENDING)} AND {plans}
             ORDER BY p.created_at LIMIT 10)
            ORDER BY since""",
            [*visible_params, *visible_params],
        )
        rows = cursor.fetchall()
    return [
        {
            "kind": kind,
            "id": pk,
            "loan_id": loan_id,
            "reference": ref,
            "since": since,
            "detail": detail,
            "url": reverse("postloan:queue")
            if kind == "proposal"
            else reverse("postloan:plan_detail", args=[pk]),
        }
        for kind, pk, loan_id, ref, since, detail in rows
    ]


# --- A cell of the migration matrix ------------------------------------------------------------


def migration_cell_loans(
    *, user, filters: dict, month_ends: list[date], start_tier: str, end_tier: str, page: int
) -> dict:
    """A page of the loans that moved from `start_tier` to `end_tier` over the chosen month
    (CELL_STARTS / CELL_ENDS), how many there are, and whether a next page follows: three
    queries (the cell's count, a page of ids from the snapshots, the loans)."""
    period = _period(filters)
    dims = _dimension_filter(filters, user)
    total = (
        MigrationSummary.objects.filter(dims)
        .filter(month_end=period, from_tier=start_tier, to_tier=end_tier)
        .aggregate(n=Sum("loans"))["n"]
        or 0
    )
    ids = _cell_loan_ids(period, start_tier, end_tier, dims, page, month_ends)
    loans = {
        loan.pk: loan for loan in Loan.objects.filter(pk__in=ids).select_related("borrower", "risk")
    }
    return {
        "loans": [loans[i] for i in ids if i in loans],
        "total": total,
        "has_next": page * CELL_PAGE < total,
    }


def _cell_loan_ids(period, start_tier, end_tier, dims: Q, page: int, month_ends) -> list[int]:
    """A page of the loans in the cell, from the snapshots (and the live state for today)."""
    end_month = period
    # The start the summaries were built from: the latest month end for the month in
    # progress, the month end just before for a past month (none: no matrix, no loans).
    if period is None:
        start = month_ends[0] if month_ends else None
    else:
        start = previous_month_end(period)
        start = start if start in month_ends else None
    if start is None:
        return []
    dim_sql, dim_params = _dims_sql(dims)
    if end_month is None:
        end_sql = (
            f"SELECT l.id AS loan_id, s.tier, {LOAN_DIMENSIONS_SQL} "
            "FROM loans_loan l JOIN postloan_loanriskstate s ON s.loan_id = l.id "
            f"WHERE l.status = {sql_literal(LoanStatus.ACTIVE)}"
        )
        end_params: list = []
    else:
        end_sql = "SELECT * FROM postloan_portfoliosnapshot WHERE month_end = %s"
        end_params = [end_month]
    conditions = []
    if start_tier == "new":
        conditions.append("s.loan_id IS NULL")
    else:
        conditions.append("s.tier = %s")
    if end_tier == "closed":
        conditions.append("e.loan_id IS NULL")
    else:
        conditions.append("e.tier = %s")
    params = [start, *end_params]
    if start_tier != "new":
        params.append(start_tier)
    if end_tier != "closed":
        params.append(end_tier)
    sql = f"""
        SELECT COALESCE(e.loan_id, s.loan_id) AS loan_id
        FROM (SELECT * FROM postloan_portfoliosnapshot WHERE month_end = %s) s
        FULL OUTER JOIN ({end_sql}) e ON e.loan_id = s.loan_id
        WHERE {" AND ".join(conditions)} {dim_sql}
        ORDER BY 1 LIMIT {CELL_PAGE} OFFSET {(page - 1) * CELL_PAGE}"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *dim_params])
        return [row[0] for row in cursor.fetchall()]


def _dims_sql(dims: Q) -> tuple[str, list]:
    """The dimension filter as SQL on COALESCE(end, start) columns."""
    clauses, params = [], []
    for child in dims.children:
        name, value = child
        clauses.append(f"AND COALESCE(e.{name}, s.{name}) = %s")
        params.append(value)
    return " ".join(clauses), params
