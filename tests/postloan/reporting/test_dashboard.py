"""The risk managers' dashboard (issue 8): month-end snapshots of hand-computed books, the
migration matrix and its drill-down, the current summaries, inspections and scorecards,
filters, XLSX exports, access and pinned query counts."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from borrowers import services as borrower_services
from config.celery import app
from loans import services as loan_services
from loans.models import Handover
from portfolio import nightly
from postloan import tasks
from postloan.models import (
    CollectionPlan,
    EarlyWarning,
    Inspection,
    InspectionSummary,
    MigrationSummary,
    OfficerScore,
    PortfolioSnapshot,
    PortfolioSummary,
    RiskFlag,
    SnapshotRun,
    TierAdjustment,
)
from postloan.reporting.snapshots import (
    WORK_LOANS,
    previous_month_end,
    refresh_dashboard,
    snapshot_portfolio,
)
from tests.factories import BranchFactory, ProductFactory, make_guarantor, make_person
from tests.postloan.helpers import book, classify, pay_instalments, set_tier
from tests.utils import wait_for

SEP = date(2026, 9, 30)
OCT = date(2026, 10, 31)
MARCH = date(2026, 3, 15)
TIERS = ["normal", "special_mention", "substandard", "doubtful", "loss"]
NPL = {"substandard", "doubtful", "loss"}
PROVISION_PERCENT = {
    "normal": 0,
    "special_mention": 2,
    "substandard": 25,
    "doubtful": 50,
    "loss": 100,
}
DASHBOARD = reverse("postloan:dashboard")
CELL = reverse("postloan:migration_cell")


def _d(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _loan(officer, *, product, branch, disbursed_on, principal=120_000, term=12, **terms):
    """Equal principal at 0%: ¥10,000 of principal a month, so balances add up by hand."""
    return book(
        officer,
        product=product,
        branch=branch,
        principal=Decimal(principal),
        annual_rate=Decimal("0"),
        term_months=term,
        method="equal_principal",
        disbursed_on=disbursed_on,
        **terms,
    )


# --- The hand-computed book: two month ends ------------------------------------------------------
#
# loan  officer  branch product structure    at 2026-09-30              at 2026-10-31
# A     Wang     HQ     GUAR    unsecured    normal   0 missed  60,000   normal   0   50,000
# B     Wang     HQ     GUAR    ordinary     normal   2 missed  80,000   special  3   80,000
# C     Wang     HQ     GUAR    collateral   special  3 missed  90,000   substd.  4   90,000
# D     Liu      HQ     BIZ     joint group  substd.  5 missed 110,000   normal   0   50,000
# E     Liu*     North  GUAR    unsecured    doubtful 9 missed 120,000   doubtful 10 120,000
# F     Wang     North  GUAR    unsecured    normal   0 missed  60,000   settled on 10 October
# G     Wang     North  GUAR    unsecured    —  (disbursed 10 October)   normal   0 120,000
# (* E was originated by Wang and is managed by Liu; E is the 2025 cohort, the rest 2026.)

SEP_POSITIONS = {
    "A": ("normal", 0, 60_000),
    "B": ("normal", 2, 80_000),
    "C": ("special_mention", 3, 90_000),
    "D": ("substandard", 5, 110_000),
    "E": ("doubtful", 9, 120_000),
    "F": ("normal", 0, 60_000),
}
OCT_POSITIONS = {
    "A": ("normal", 0, 50_000),
    "B": ("special_mention", 3, 80_000),
    "C": ("substandard", 4, 90_000),
    "D": ("normal", 0, 50_000),
    "E": ("doubtful", 10, 120_000),
    "G": ("normal", 0, 120_000),
}
# The loans' dimensions, for the filters.
DIMENSIONS = {
    "A": {"branch": "HQ", "officer": "officer", "product": "GUAR", "structure": "unsecured"},
    "B": {"branch": "HQ", "officer": "officer", "product": "GUAR", "structure": "ordinary"},
    "C": {"branch": "HQ", "officer": "officer", "product": "GUAR", "structure": "collateral"},
    "D": {"branch": "HQ", "officer": "other", "product": "BIZ", "structure": "joint_group"},
    "E": {"branch": "North", "officer": "other", "product": "GUAR", "structure": "unsecured"},
    "F": {"branch": "North", "officer": "officer", "product": "GUAR", "structure": "unsecured"},
    "G": {"branch": "North", "officer": "officer", "product": "GUAR", "structure": "unsecured"},
}
COHORT = {"A": 2026, "B": 2026, "C": 2026, "D": 2026, "E": 2025, "F": 2026, "G": 2026}


@pytest.fixture
def month_end_book(officer, other_officer, product, branch):
    north = BranchFactory(code="N01", name="北区支行")
    business = ProductFactory(code="BIZ", name="经营贷")
    group_members = [make_person() for _ in range(3)]
    borrower_services.group_form(
        name="三户联保", product=business, members=group_members, formed_on=date(2026, 3, 1)
    )
    hq = {"product": product, "branch": branch}
    loans = {
        "A": _loan(officer, **hq, disbursed_on=MARCH),
        "B": _loan(officer, **hq, disbursed_on=MARCH, guarantors=[make_guarantor()]),
        "C": _loan(officer, **hq, disbursed_on=MARCH),
        "D": _loan(
            other_officer,
            product=business,
            branch=branch,
            borrower=group_members[0],
            disbursed_on=MARCH,
        ),
        "E": _loan(
            other_officer,
            product=product,
            branch=north,
            disbursed_on=date(2025, 12, 15),
            originating_officer=officer,
        ),
        "F": _loan(officer, product=product, branch=north, disbursed_on=MARCH),
        "G": _loan(officer, product=product, branch=north, disbursed_on=date(2026, 10, 10)),
    }
    loan_services.collateral_add(loan=loans["C"], kind="real_estate", description="商铺一间")
    pay_instalments(loans["A"], 6, date(2026, 9, 15))
    pay_instalments(loans["A"], 1, date(2026, 10, 15))
    pay_instalments(loans["B"], 4, date(2026, 9, 1))
    pay_instalments(loans["C"], 3, date(2026, 9, 1))
    pay_instalments(loans["D"], 1, date(2026, 4, 15))
    pay_instalments(loans["D"], 6, date(2026, 10, 20))
    pay_instalments(loans["F"], 6, date(2026, 9, 15))
    pay_instalments(loans["F"], 6, date(2026, 10, 10))
    loans["F"].refresh_from_db()
    assert (loans["F"].status, loans["F"].closed_on) == ("settled", date(2026, 10, 10))
    # The night of 30 September classified the book; nothing has run since F settled, so
    # F's live state still shows its September balance.
    classify(SEP)
    snapshot_portfolio(month_end=SEP)
    snapshot_portfolio(month_end=OCT)
    return SimpleNamespace(
        loans=loans,
        names={loan.pk: name for name, loan in loans.items()},
        branches={"HQ": branch, "North": north},
        products={"GUAR": product, "BIZ": business},
        officers={"officer": officer, "other": other_officer},
    )


def _snapshot(month_end: date, book) -> dict:
    return {
        book.names[row.loan_id]: row
        for row in PortfolioSnapshot.objects.filter(month_end=month_end)
    }


def _expected_tiers(positions: dict, names=None) -> dict:
    """Loans, balance and provision per tier, by hand from a table of positions."""
    names = positions.keys() if names is None else names
    totals = {tier: [0, Decimal(0), Decimal(0)] for tier in TIERS}
    for name in names:
        if name not in positions:
            continue
        tier, _missed, balance = positions[name]
        totals[tier][0] += 1
        totals[tier][1] += balance
        totals[tier][2] += _d(balance * PROVISION_PERCENT[tier] / 100)
    return {tier: tuple(values) for tier, values in totals.items()}


def _tiers_shown(summary) -> dict:
    return {t["tier"]: (t["loans"], t["balance"], t["provision"]) for t in summary["tiers"]}


def _matrix(migration) -> dict:
    """Non-empty cells as {(from, to): (loans, balance at start, balance at end)}."""
    return {
        (row["from"], cell["to"]): (cell["loans"], cell["start"], cell["end"])
        for row in migration["rows"]
        for cell in row["cells"]
        if cell["loans"]
    }


def _listed(response) -> list[str]:
    return re.findall(r'<a href="/loans/\d+/">([^<]+)</a>', response.content.decode())


# --- Snapshots ---------------------------------------------------------------------------------


def test_each_month_end_keeps_every_open_loans_position_as_it_was(month_end_book):
    for month_end, positions in [(SEP, SEP_POSITIONS), (OCT, OCT_POSITIONS)]:
        rows = _snapshot(month_end, month_end_book)
        assert {
            name: (row.tier, row.consecutive_missed, row.outstanding_principal)
            for name, row in rows.items()
        } == positions, month_end
        for name, row in rows.items():
            tier, _missed, balance = positions[name]
            assert row.quantitative_tier == tier
            assert row.provision == _d(balance * PROVISION_PERCENT[tier] / 100)
    october = _snapshot(OCT, month_end_book)
    # F settled during October: its stale live state does not bring it back.
    assert "F" not in october
    # The dimensions the filters use.
    loans, officer = month_end_book.loans, month_end_book.officers["officer"]
    assert {name: row.structure for name, row in october.items()} == {
        name: DIMENSIONS[name]["structure"] for name in october
    }
    assert {name: row.cohort for name, row in october.items()} == {
        name: COHORT[name] for name in october
    }
    assert october["E"].officer_id == month_end_book.officers["other"].pk
    assert october["E"].originating_officer_id == officer.pk
    assert october["E"].branch_id == month_end_book.branches["North"].pk
    assert october["D"].product_id == loans["D"].product_id
    runs = {run.month_end: run.loans for run in SnapshotRun.objects.all()}
    assert runs == {SEP: 6, OCT: 6}


def test_a_snapshot_is_taken_once_and_later_payments_do_not_rewrite_it(month_end_book):
    before = list(PortfolioSnapshot.objects.order_by("id").values())
    summaries = list(PortfolioSummary.objects.order_by("id").values())
    # B pays what it owed at the month end, backdated into October, after the snapshot.
    pay_instalments(month_end_book.loans["B"], 3, date(2026, 10, 30))

    again = snapshot_portfolio(month_end=OCT)

    assert (again.created, again.loans) == (False, 6)
    assert list(PortfolioSnapshot.objects.order_by("id").values()) == before
    assert list(PortfolioSummary.objects.order_by("id").values()) == summaries
    assert SnapshotRun.objects.filter(month_end=OCT).count() == 1
    assert _snapshot(OCT, month_end_book)["B"].tier == "special_mention"


def test_a_run_that_did_not_finish_is_completed(officer, product, branch):
    _loan(officer, product=product, branch=branch, disbursed_on=MARCH)
    SnapshotRun.objects.create(month_end=OCT)  # killed before it finished

    result = snapshot_portfolio(month_end=OCT)

    assert (result.created, result.loans) == (True, 1)
    run = SnapshotRun.objects.get(month_end=OCT)
    assert run.finished_at is not None and run.loans == 1
    assert PortfolioSnapshot.objects.filter(month_end=OCT).count() == 1


def test_only_a_month_end_can_be_snapshotted(db):
    with pytest.raises(ValueError, match="not the last day"):
        snapshot_portfolio(month_end=date(2026, 10, 30))
    assert not SnapshotRun.objects.exists()


def test_the_snapshot_tier_follows_the_adjustment_in_force_at_the_month_end(
    officer, risk_manager, other_risk_manager, product, branch
):
    # given four loans, each 2 missed at the end of October (quantitative: normal)…
    def two_missed():
        loan = _loan(officer, product=product, branch=branch, disbursed_on=MARCH)
        pay_instalments(loan, 5, date(2026, 8, 15))
        return loan

    in_force, later, ended, lapsed_since = (two_missed() for _ in range(4))
    # …and one with 4 missed (substandard) whose upgrade was judged on special mention.
    outgrown = _loan(officer, product=product, branch=branch, disbursed_on=MARCH)
    pay_instalments(outgrown, 3, date(2026, 7, 15))

    def adjustment(loan, tier, basis, status, effective_on, ended_on=None):
        return TierAdjustment.objects.create(
            loan=loan,
            proposed_tier=tier,
            quantitative_tier=basis,
            consecutive_missed=2,
            reason="经营困难",
            proposed_by=risk_manager,
            decided_by=other_risk_manager,
            status=status,
            effective_on=effective_on,
            ended_on=ended_on,
        )

    adjustment(in_force, "special_mention", "normal", "approved", date(2026, 10, 5))
    adjustment(later, "special_mention", "normal", "approved", date(2026, 11, 2))
    adjustment(
        ended, "special_mention", "normal", "superseded", date(2026, 9, 5), date(2026, 10, 20)
    )
    adjustment(
        lapsed_since,
        "substandard",
        "normal",
        "lapsed",
        date(2026, 10, 1),
        date(2026, 11, 10),
    )
    adjustment(outgrown, "normal", "special_mention", "approved", date(2026, 9, 20))

    snapshot_portfolio(month_end=OCT)

    rows = {
        row.loan_id: (row.tier, row.quantitative_tier, row.consecutive_missed, row.provision)
        for row in PortfolioSnapshot.objects.filter(month_end=OCT)
    }
    assert rows == {
        in_force.pk: ("special_mention", "normal", 2, Decimal("1400.00")),  # 2% of 70,000
        later.pk: ("normal", "normal", 2, Decimal("0.00")),
        ended.pk: ("normal", "normal", 2, Decimal("0.00")),
        lapsed_since.pk: ("substandard", "normal", 2, Decimal("17500.00")),
        # the lapse rule: the count (substandard) is worse than the adjustment and its basis
        outgrown.pk: ("substandard", "substandard", 4, Decimal("22500.00")),
    }


# --- The dashboard at a month end: portfolio by tier, NPL ratios, trend -----------------------


@pytest.mark.parametrize(
    ("month_end", "positions", "npl_by_count", "npl_by_balance"),
    [
        (SEP, SEP_POSITIONS, "33.33", "44.23"),  # 2 of 6; 230,000 of 520,000
        (OCT, OCT_POSITIONS, "33.33", "41.18"),  # 2 of 6; 210,000 of 510,000
    ],
)
def test_the_portfolio_by_tier_at_a_month_end(
    month_end, positions, npl_by_count, npl_by_balance, month_end_book, client, risk_manager
):
    client.force_login(risk_manager)
    response = client.get(DASHBOARD, {"period": month_end.isoformat()})
    assert response.status_code == 200
    summary = response.context["summary"]
    expected = _expected_tiers(positions)
    assert _tiers_shown(summary) == expected
    balance = sum(b for _n, b, _p in expected.values())
    assert summary["loans"] == 6
    assert summary["balance"] == balance
    assert summary["provision"] == sum(p for _n, _b, p in expected.values())
    for t in summary["tiers"]:
        assert round(t["share"], 2) == round(expected[t["tier"]][1] / balance * 100, 2)
    assert f"{summary['npl_ratio_count']:.2f}" == npl_by_count
    assert f"{summary['npl_ratio_balance']:.2f}" == npl_by_balance
    html = response.content.decode()
    assert re.search(r'data-testid="total-loans">6<', html)
    assert re.search(rf'data-testid="npl-ratio">{npl_by_balance}%<', html)


def test_the_october_figures_by_hand(month_end_book, client, risk_manager):
    client.force_login(risk_manager)
    summary = client.get(DASHBOARD, {"period": OCT.isoformat()}).context["summary"]
    assert _tiers_shown(summary) == {
        "normal": (3, Decimal("220000.00"), Decimal("0.00")),
        "special_mention": (1, Decimal("80000.00"), Decimal("1600.00")),
        "substandard": (1, Decimal("90000.00"), Decimal("22500.00")),
        "doubtful": (1, Decimal("120000.00"), Decimal("60000.00")),
        "loss": (0, Decimal("0"), Decimal("0")),
    }
    assert summary["provision"] == Decimal("84100.00")


def test_the_trend_runs_over_the_month_ends_up_to_the_chosen_one(
    month_end_book, client, risk_manager
):
    client.force_login(risk_manager)
    trend = client.get(DASHBOARD, {"period": OCT.isoformat()}).context["trend"]
    assert [p["month_end"] for p in trend] == ["2026-09-30", "2026-10-31"]
    assert [round(p["npl_ratio"], 2) for p in trend] == [44.23, 41.18]
    assert trend[1]["balances"] == {
        "normal": 220_000.0,
        "special_mention": 80_000.0,
        "substandard": 90_000.0,
        "doubtful": 120_000.0,
        "loss": 0.0,
    }
    september = client.get(DASHBOARD, {"period": SEP.isoformat()}).context["trend"]
    assert [p["month_end"] for p in september] == ["2026-09-30"]


def test_the_trend_shows_the_last_12_or_24_month_ends(db, client, risk_manager):
    month_ends = []
    day = OCT
    for _ in range(30):
        month_ends.append(day)
        SnapshotRun.objects.create(month_end=day, finished_at=timezone.now())
        day = day.replace(day=1) - timedelta(days=1)
    client.force_login(risk_manager)
    for months in (12, 24):
        trend = client.get(DASHBOARD, {"months": months}).context["trend"]
        assert [p["month_end"] for p in trend] == [
            m.isoformat() for m in sorted(month_ends[:months])
        ]


# --- The migration matrix ----------------------------------------------------------------------

OCTOBER_CELLS = {
    ("normal", "normal"): (1, 60_000, 50_000),  # A
    ("normal", "special_mention"): (1, 80_000, 80_000),  # B
    ("normal", "closed"): (1, 60_000, 0),  # F settled
    ("special_mention", "substandard"): (1, 90_000, 90_000),  # C
    ("substandard", "normal"): (1, 110_000, 50_000),  # D cured
    ("doubtful", "doubtful"): (1, 120_000, 120_000),  # E
    ("new", "normal"): (1, 0, 120_000),  # G disbursed in October
}
OCTOBER_CELL_LOANS = {
    ("normal", "normal"): {"A"},
    ("normal", "special_mention"): {"B"},
    ("normal", "closed"): {"F"},
    ("special_mention", "substandard"): {"C"},
    ("substandard", "normal"): {"D"},
    ("doubtful", "doubtful"): {"E"},
    ("new", "normal"): {"G"},
}


def test_the_migration_matrix_over_october(month_end_book, client, risk_manager):
    client.force_login(risk_manager)
    migration = client.get(DASHBOARD, {"period": OCT.isoformat()}).context["migration"]
    assert _matrix(migration) == {
        cell: (n, Decimal(start), Decimal(end)) for cell, (n, start, end) in OCTOBER_CELLS.items()
    }
    rows = {row["from"]: row for row in migration["rows"]}
    # Roll rates: the share of each row that moved to a worse tier.
    assert rows["normal"]["roll_rate"] == Decimal(1) / 3 * 100  # B of A, B, F
    assert rows["special_mention"]["roll_rate"] == 100
    assert rows["substandard"]["roll_rate"] == 0
    assert rows["doubtful"]["roll_rate"] == 0
    assert rows["loss"]["roll_rate"] is None and rows["new"]["roll_rate"] is None


def test_the_matrix_rows_and_columns_add_up_to_the_start_and_end_portfolios(
    month_end_book, client, risk_manager
):
    client.force_login(risk_manager)
    migration = client.get(DASHBOARD, {"period": OCT.isoformat()}).context["migration"]
    start = _expected_tiers(SEP_POSITIONS)
    end = _expected_tiers(OCT_POSITIONS)
    for row in migration["rows"]:
        cells = row["cells"]
        assert row["total"] == sum(c["loans"] for c in cells)
        if row["from"] == "new":
            assert row["total"] == 1  # disbursed during October
            continue
        assert row["total"] == start[row["from"]][0], row["from"]
        assert sum(c["start"] for c in cells) == start[row["from"]][1], row["from"]
    for index, to in enumerate(migration["ends"]):
        column = [row["cells"][index] for row in migration["rows"]]
        assert migration["column_totals"][index] == sum(c["loans"] for c in column)
        if to == "closed":
            assert migration["column_totals"][index] == 1  # settled during October
            assert sum(c["end"] for c in column) == 0
            continue
        assert migration["column_totals"][index] == end[to][0], to
        assert sum(c["end"] for c in column) == end[to][1], to


def test_no_matrix_without_a_start_snapshot(month_end_book, client, risk_manager):
    client.force_login(risk_manager)
    response = client.get(DASHBOARD, {"period": SEP.isoformat()})
    assert response.context["migration"]["has_data"] is False
    assert "No start snapshot for this month" in response.content.decode()


def test_a_backfill_of_the_earlier_month_completes_the_later_matrix(
    officer, product, branch, client, risk_manager
):
    a = _loan(officer, product=product, branch=branch, disbursed_on=MARCH)
    pay_instalments(a, 6, date(2026, 9, 15))
    # October is snapshotted first, then September is backfilled.
    snapshot_portfolio(month_end=OCT)
    snapshot_portfolio(month_end=SEP)
    cells = {
        (m.from_tier, m.to_tier): m.loans for m in MigrationSummary.objects.filter(month_end=OCT)
    }
    assert cells == {("normal", "normal"): 1}  # 0 missed, then 1


def test_a_month_whose_start_was_not_snapshotted_has_no_matrix_and_no_cell_loans(
    officer, product, branch, client, risk_manager
):
    unpaid = _loan(officer, product=product, branch=branch, disbursed_on=MARCH)
    snapshot_portfolio(month_end=date(2026, 8, 31))  # 5 missed: substandard
    snapshot_portfolio(month_end=OCT)  # 7 missed: doubtful; September was never kept
    client.force_login(risk_manager)
    assert client.get(DASHBOARD, {"period": OCT.isoformat()}).context["migration"]["has_data"] is (
        False
    )
    cell = {"period": OCT.isoformat(), "from": "substandard", "to": "doubtful"}
    assert _listed(client.get(CELL, cell)) == []
    # for the month in progress, the start is the latest month end
    refresh_dashboard()
    listed = _listed(client.get(CELL, {"from": "doubtful", "to": "normal"}))
    assert listed == [unpaid.reference]  # its live state was never classified: normal


@pytest.mark.parametrize("cell", sorted(OCTOBER_CELL_LOANS))
def test_the_drill_down_lists_exactly_the_loans_of_a_cell(
    cell, month_end_book, client, risk_manager
):
    client.force_login(risk_manager)
    response = client.get(CELL, {"period": OCT.isoformat(), "from": cell[0], "to": cell[1]})
    assert response.status_code == 200
    references = {month_end_book.loans[name].reference for name in OCTOBER_CELL_LOANS[cell]}
    assert set(_listed(response)) == references
    assert response.context["total"] == len(references)


def test_the_link_of_every_cell_leads_to_its_loans(month_end_book, client, risk_manager):
    client.force_login(risk_manager)
    html = client.get(DASHBOARD, {"period": OCT.isoformat()}).content.decode()
    links = re.findall(r'<a href="(/risk/dashboard/cell/\?[^"]+)" data-testid="cell-', html)
    assert len(links) == len(OCTOBER_CELL_LOANS)
    for link in links:
        listed = _listed(client.get(link.replace("&amp;", "&")))
        assert len(listed) == 1


def test_an_empty_cell_lists_no_loan_and_an_unknown_tier_is_not_found(
    month_end_book, client, risk_manager
):
    client.force_login(risk_manager)
    empty = client.get(CELL, {"period": OCT.isoformat(), "from": "loss", "to": "normal"})
    assert _listed(empty) == [] and empty.context["total"] == 0
    for bad in [{"from": "closed", "to": "normal"}, {"from": "normal", "to": "new"}]:
        assert client.get(CELL, {"period": OCT.isoformat(), **bad}).status_code == 404
    assert client.get(CELL, {"from": "normal", "to": "normal", "page": "x"}).status_code == 200


@pytest.fixture
def month_in_progress(month_end_book, product, branch, officer):
    """November so far: A settles today, H is disbursed today, the others move."""
    today = timezone.localdate()
    loans = month_end_book.loans
    pay_instalments(loans["A"], 5, today)
    loans["H"] = _loan(officer, product=product, branch=branch, disbursed_on=today)
    month_end_book.names[loans["H"].pk] = "H"
    now = {
        "B": ("substandard", 80_000),
        "C": ("substandard", 90_000),
        "D": ("normal", 50_000),
        "E": ("doubtful", 120_000),
        "G": ("special_mention", 120_000),
        "H": ("normal", 120_000),
    }
    for name, (tier, balance) in now.items():
        set_tier(
            loans[name],
            tier,
            outstanding_principal=balance,
            provision=_d(balance * PROVISION_PERCENT[tier] / 100),
        )
    refresh_dashboard(as_of=today)
    return month_end_book


CURRENT_CELLS = {
    ("normal", "closed"): ({"A"}, 50_000, 0),
    ("special_mention", "substandard"): ({"B"}, 80_000, 80_000),
    ("substandard", "substandard"): ({"C"}, 90_000, 90_000),
    ("normal", "normal"): ({"D"}, 50_000, 50_000),
    ("doubtful", "doubtful"): ({"E"}, 120_000, 120_000),
    ("normal", "special_mention"): ({"G"}, 120_000, 120_000),
    ("new", "normal"): ({"H"}, 0, 120_000),
}


def test_the_month_in_progress_against_the_last_month_end(month_in_progress, client, risk_manager):
    client.force_login(risk_manager)
    context = client.get(DASHBOARD).context
    assert _matrix(context["migration"]) == {
        cell: (len(names), Decimal(start), Decimal(end))
        for cell, (names, start, end) in CURRENT_CELLS.items()
    }
    for (start_tier, end_tier), (names, _s, _e) in CURRENT_CELLS.items():
        listed = _listed(client.get(CELL, {"from": start_tier, "to": end_tier}))
        assert set(listed) == {month_in_progress.loans[n].reference for n in names}


def test_the_current_summaries_are_the_live_state(month_in_progress, client, risk_manager):
    client.force_login(risk_manager)
    summary = client.get(DASHBOARD).context["summary"]
    assert _tiers_shown(summary) == {
        "normal": (2, Decimal("170000.00"), Decimal("0.00")),  # D, H
        "special_mention": (1, Decimal("120000.00"), Decimal("2400.00")),  # G
        "substandard": (2, Decimal("170000.00"), Decimal("42500.00")),  # B, C
        "doubtful": (1, Decimal("120000.00"), Decimal("60000.00")),  # E
        "loss": (0, Decimal("0"), Decimal("0")),
    }
    assert f"{summary['npl_ratio_count']:.2f}" == "50.00"  # 3 of 6
    assert f"{summary['npl_ratio_balance']:.2f}" == "50.00"  # 290,000 of 580,000


# --- Refresh: watch list, inspections, scorecards -----------------------------------------------


@pytest.fixture
def current_book(officer, other_officer, product, branch):
    """Four loans with pinned live states:
    A1 Wang normal 100,000 · A2 Wang substandard 50,000 · B1 Liu (originated by Wang)
    doubtful 30,000 · B2 Liu normal 20,000."""
    loans = {
        "A1": book(officer, product=product, branch=branch),
        "A2": book(officer, product=product, branch=branch),
        "B1": book(other_officer, product=product, branch=branch, originating_officer=officer),
        "B2": book(other_officer, product=product, branch=branch),
    }
    for name, tier, balance in [
        ("A1", "normal", 100_000),
        ("A2", "substandard", 50_000),
        ("B1", "doubtful", 30_000),
        ("B2", "normal", 20_000),
    ]:
        set_tier(
            loans[name],
            tier,
            outstanding_principal=balance,
            provision=_d(balance * PROVISION_PERCENT[tier] / 100),
        )
    return loans


def test_the_watch_list_and_early_warnings_are_counted(current_book, client, risk_manager):
    today = timezone.localdate()
    a1, a2, b1, b2 = (current_book[n] for n in ("A1", "A2", "B1", "B2"))

    def flag(**subject):
        return RiskFlag.objects.create(
            factor=3, source="manual", evidence="失业", raised_on=today, **subject
        )

    flag(loan=a2)
    flag(loan=a2)  # two flags, one loan
    flag(borrower=b1.borrower)
    resolved = flag(loan=a1)
    RiskFlag.objects.filter(pk=resolved.pk).update(resolved_on=today, resolution="ok")
    for loan, kind, key, resolved_on in [
        (b2, "broken_promise", "p-1", None),
        (b2, "missed_step", "s-1", None),
        (a1, "missed_step", "s-2", today),
    ]:
        EarlyWarning.objects.create(
            loan=loan,
            kind=kind,
            source_key=key,
            detail="",
            raised_on=today,
            resolved_on=resolved_on,
        )

    refresh_dashboard(as_of=today)

    client.force_login(risk_manager)
    summary = client.get(DASHBOARD).context["summary"]
    assert (summary["watched"], summary["warnings"]) == (2, 2)  # A2 and B1; B2's two
    # At a past month end the watch list is still today's.
    SnapshotRun.objects.create(month_end=OCT, finished_at=timezone.now())
    past = client.get(DASHBOARD, {"period": OCT.isoformat()}).context
    assert past["period"] == OCT
    assert (past["summary"]["watched"], past["summary"]["warnings"]) == (2, 2)
    assert past["summary"]["loans"] == 0  # nothing was snapshotted at that month end


def test_refresh_rebuilds_rather_than_adds(current_book, client, risk_manager):
    today = timezone.localdate()
    refresh_dashboard(as_of=today)
    before = PortfolioSummary.objects.filter(period__isnull=True).count()
    set_tier(current_book["A1"], "special_mention", provision=Decimal("2000.00"))
    refresh_dashboard(as_of=today)
    assert PortfolioSummary.objects.filter(period__isnull=True).count() == before
    assert OfficerScore.objects.count() == 2
    client.force_login(risk_manager)
    summary = client.get(DASHBOARD).context["summary"]
    assert _tiers_shown(summary) == {
        "normal": (1, Decimal("20000.00"), Decimal("0.00")),
        "special_mention": (1, Decimal("100000.00"), Decimal("2000.00")),
        "substandard": (1, Decimal("50000.00"), Decimal("12500.00")),
        "doubtful": (1, Decimal("30000.00"), Decimal("15000.00")),
        "loss": (0, Decimal("0"), Decimal("0")),
    }
    assert f"{summary['npl_ratio_balance']:.2f}" == "40.00"  # 80,000 of 200,000


def test_refresh_leaves_no_working_table_behind(current_book):
    """The refresh's working tables (one a regular unlogged table, so that the parallel
    workers can read it) are gone when it ends, whether it commits or fails."""
    refresh_dashboard(as_of=timezone.localdate())
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s), to_regclass('dash_rows')", [WORK_LOANS])
        assert cursor.fetchone() == (None, None)

    def fail_at_the_inspections(execute, sql, params, many, context):
        if sql.lstrip().startswith("INSERT INTO postloan_inspectionsummary"):
            raise RuntimeError("the server went away")
        return execute(sql, params, many, context)

    before = PortfolioSummary.objects.filter(period__isnull=True).count()
    with pytest.raises(RuntimeError), connection.execute_wrapper(fail_at_the_inspections):
        refresh_dashboard(as_of=timezone.localdate())
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [WORK_LOANS])
        assert cursor.fetchone() == (None,)
    assert PortfolioSummary.objects.filter(period__isnull=True).count() == before  # kept


@pytest.fixture
def inspections(current_book, officer, other_officer):
    """Inspections of October and November 2026, summarised as of 16 November."""
    Inspection.objects.all().delete()  # the handover contacts planned at booking
    a1, a2, b1 = current_book["A1"], current_book["A2"], current_book["B1"]
    set_tier(a2, "special_mention")
    rows = [
        # (loan, officer, due, status, completed)
        (a1, officer, date(2026, 10, 10), "done", date(2026, 10, 9)),  # on time
        (a2, officer, date(2026, 10, 20), "done", date(2026, 10, 25)),  # late
        (a2, officer, date(2026, 10, 25), "open", None),  # overdue
        (b1, other_officer, date(2026, 10, 5), "done", date(2026, 10, 5)),  # on time
        (a1, officer, date(2026, 10, 12), "cancelled", None),  # not counted
        (a2, officer, date(2026, 11, 5), "done", date(2026, 11, 5)),  # on time
        (a1, officer, date(2026, 11, 10), "open", None),  # overdue
        (a1, officer, date(2026, 11, 25), "open", None),  # not yet due
        (b1, other_officer, date(2026, 11, 20), "done", date(2026, 11, 14)),  # early
        (b1, other_officer, date(2026, 9, 20), "open", None),  # September: not counted
    ]
    for n, (loan, who, due, status, completed) in enumerate(rows):
        Inspection.objects.create(
            loan=loan,
            kind="routine",
            slot=f"test-{n}",
            due_on=due,
            assigned_to=who,
            status=status,
            completed_on=completed,
            cancelled_on=date(2026, 10, 1) if status == "cancelled" else None,
            cancel_reason="tier lighter" if status == "cancelled" else "",
        )
    refresh_dashboard(as_of=date(2026, 11, 16))


def test_inspections_are_counted_per_month_officer_and_tier(inspections, officer, other_officer):
    counts = {
        (row.month, row.assigned_to_id, row.tier): (
            row.due,
            row.done_on_time,
            row.done_late,
            row.overdue,
        )
        for row in InspectionSummary.objects.all()
    }
    assert counts == {
        (date(2026, 10, 1), officer.pk, "normal"): (1, 1, 0, 0),
        (date(2026, 10, 1), officer.pk, "special_mention"): (2, 0, 1, 1),
        (date(2026, 10, 1), other_officer.pk, "doubtful"): (1, 1, 0, 0),
        (date(2026, 11, 1), officer.pk, "special_mention"): (1, 1, 0, 0),
        (date(2026, 11, 1), officer.pk, "normal"): (2, 0, 0, 1),
        (date(2026, 11, 1), other_officer.pk, "doubtful"): (1, 1, 0, 0),
    }


def test_the_inspection_tables_of_a_month_end(inspections, client, risk_manager):
    SnapshotRun.objects.create(month_end=OCT, finished_at=timezone.now())
    client.force_login(risk_manager)
    table = client.get(DASHBOARD, {"period": OCT.isoformat()}).context["inspections"]
    assert table["officers"] == [
        {"name": "Qiang Wang", "due": 3, "on_time": 1, "late": 1, "overdue": 1},
        {"name": "Fang Liu", "due": 1, "on_time": 1, "late": 0, "overdue": 0},
    ]
    tiers = {t["tier"]: t for t in table["tiers"]}
    assert (tiers["special_mention"]["due"], tiers["special_mention"]["compliance"]) == (2, 50)
    assert tiers["normal"]["compliance"] == 100 and tiers["doubtful"]["compliance"] == 100
    assert tiers["loss"]["compliance"] is None


def test_the_inspection_table_names_the_officers_under_a_branch_filter(
    inspections, branch, client, risk_manager
):
    SnapshotRun.objects.create(month_end=OCT, finished_at=timezone.now())
    client.force_login(risk_manager)
    table = client.get(DASHBOARD, {"period": OCT.isoformat(), "branch": branch.pk}).context[
        "inspections"
    ]
    assert [o["name"] for o in table["officers"]] == ["Qiang Wang", "Fang Liu"]


def test_scorecards_compare_managed_and_originated_books(
    inspections, current_book, officer, other_officer, client, risk_manager
):
    # Handovers as of 16 November: A1 late, A2 done, B1 not yet due, B2 done.
    contact = {"contact_method": "phone", "fixed_contact": "13800000000"}
    for name, due, contacted in [
        ("A1", date(2026, 11, 10), None),
        ("A2", date(2026, 11, 10), date(2026, 11, 9)),
        ("B1", date(2026, 11, 18), None),
        ("B2", date(2026, 11, 12), date(2026, 11, 12)),
    ]:
        Handover.objects.filter(loan=current_book[name]).update(
            due_on=due, contacted_on=contacted, **(contact if contacted else {})
        )
    set_tier(current_book["A2"], "substandard")  # the inspections fixture had moved it
    refresh_dashboard(as_of=date(2026, 11, 16))

    wang = OfficerScore.objects.get(officer=officer)
    liu = OfficerScore.objects.get(officer=other_officer)
    assert (wang.managed_loans, wang.managed_balance, wang.managed_npl_balance) == (
        2,
        Decimal("150000.00"),
        Decimal("50000.00"),
    )
    assert (wang.originated_loans, wang.originated_balance, wang.originated_npl_balance) == (
        3,
        Decimal("180000.00"),
        Decimal("80000.00"),
    )
    assert (liu.managed_loans, liu.managed_balance, liu.managed_npl_balance) == (
        2,
        Decimal("50000.00"),
        Decimal("30000.00"),
    )
    assert (liu.originated_loans, liu.originated_npl_balance) == (1, Decimal("0.00"))
    # November: Wang 3 due, 1 on time, 1 overdue, 1 not yet due; Liu 1 done early.
    assert (wang.inspections_due, wang.inspections_on_time, wang.inspections_overdue) == (3, 1, 1)
    assert (liu.inspections_due, liu.inspections_on_time) == (1, 1)
    assert (wang.handovers_overdue, liu.handovers_overdue) == (1, 0)

    client.force_login(risk_manager)
    scores = {s["name"]: s for s in client.get(DASHBOARD).context["scores"]}
    assert round(scores["Qiang Wang"]["managed_npl"], 2) == Decimal("33.33")
    assert round(scores["Qiang Wang"]["originated_npl"], 2) == Decimal("44.44")
    assert scores["Fang Liu"]["managed_npl"] == 60
    assert scores["Fang Liu"]["originated_npl"] == 0
    # On time among the inspections that have fallen due (the 25th is still ahead).
    assert scores["Qiang Wang"]["on_time"] == 50
    assert scores["Fang Liu"]["on_time"] == 100
    assert scores["Qiang Wang"]["handovers_overdue"] == 1


# --- Filters -----------------------------------------------------------------------------------


def _matches(name: str, dimension: str, value: str) -> bool:
    if dimension == "cohort":
        return COHORT[name] == int(value)
    return DIMENSIONS[name][dimension] == value


@pytest.mark.parametrize(
    ("dimension", "value"),
    [
        ("branch", "HQ"),
        ("branch", "North"),
        ("officer", "other"),
        ("product", "BIZ"),
        ("structure", "ordinary"),
        ("structure", "collateral"),
        ("structure", "joint_group"),
        ("structure", "unsecured"),
        ("cohort", "2025"),
    ],
)
def test_a_filter_narrows_every_table_to_its_loans(
    dimension, value, month_end_book, client, risk_manager
):
    parameter = {
        "branch": lambda v: month_end_book.branches[v].pk,
        "officer": lambda v: month_end_book.officers[v].pk,
        "product": lambda v: month_end_book.products[v].pk,
        "structure": lambda v: v,
        "cohort": lambda v: v,
    }[dimension](value)
    names = {name for name in DIMENSIONS if _matches(name, dimension, value)}
    client.force_login(risk_manager)
    context = client.get(DASHBOARD, {"period": OCT.isoformat(), dimension: parameter}).context
    assert context["form"].is_valid(), context["form"].errors

    assert _tiers_shown(context["summary"]) == _expected_tiers(OCT_POSITIONS, names)
    expected_cells = {
        cell: len(loans & names) for cell, loans in OCTOBER_CELL_LOANS.items() if loans & names
    }
    assert {cell: n for cell, (n, _s, _e) in _matrix(context["migration"]).items()} == (
        expected_cells
    )
    september = client.get(DASHBOARD, {"period": SEP.isoformat(), dimension: parameter})
    assert _tiers_shown(september.context["summary"]) == _expected_tiers(SEP_POSITIONS, names)
    for (start_tier, end_tier), loans in OCTOBER_CELL_LOANS.items():
        response = client.get(
            CELL,
            {"period": OCT.isoformat(), dimension: parameter, "from": start_tier, "to": end_tier},
        )
        assert set(_listed(response)) == {month_end_book.loans[n].reference for n in loans & names}


def test_filters_combine(month_end_book, client, risk_manager):
    client.force_login(risk_manager)
    context = client.get(
        DASHBOARD,
        {
            "period": OCT.isoformat(),
            "branch": month_end_book.branches["North"].pk,
            "officer": month_end_book.officers["officer"].pk,
        },
    ).context
    assert _tiers_shown(context["summary"]) == _expected_tiers(OCT_POSITIONS, {"F", "G"})
    assert set(_matrix(context["migration"])) == {
        ("normal", "closed"),
        ("new", "normal"),
    }


def test_an_invalid_filter_is_dropped_and_shown_while_the_others_apply(
    month_end_book, client, risk_manager
):
    client.force_login(risk_manager)
    response = client.get(
        DASHBOARD,
        {
            "period": OCT.isoformat(),
            "branch": month_end_book.branches["North"].pk,
            "officer": 999_999,
        },
    )
    assert response.context["period"] == OCT
    assert "officer" in response.context["form"].errors
    assert _tiers_shown(response.context["summary"]) == _expected_tiers(
        OCT_POSITIONS, {"E", "F", "G"}
    )


def test_compliance_counts_only_the_inspections_that_have_fallen_due():
    from postloan.reporting.selectors import _inspection_table

    row = {"assigned_to_id": 1, "tier": "normal", "due": 4, "on_time": 1, "late": 1}
    tier_rows = [{**row, "overdue": 1}, {**row, "tier": "loss", "overdue": 0}]
    table = _inspection_table(tier_rows, [])
    tiers = {t["tier"]: t["compliance"] for t in table["tiers"]}
    # 4 due: 1 on time, 1 late, 1 overdue, 1 not due yet
    assert round(tiers["normal"], 2) == Decimal("66.67")
    assert tiers["loss"] == 100
    assert tiers["doubtful"] is None


# --- Exports -----------------------------------------------------------------------------------


def _sheet(response) -> list[tuple]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    rows = [tuple(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    width = max(len(row) for row in rows)
    return [row + (None,) * (width - len(row)) for row in rows]  # empty last cells are left out


@pytest.fixture
def exported(month_end_book, inspections, client, risk_manager):
    client.force_login(risk_manager)

    def export(table: str, **params):
        response = client.get(DASHBOARD, {"period": OCT.isoformat(), "export": table, **params})
        assert f'filename="dashboard-{table}.xlsx"' in response["Content-Disposition"]
        return _sheet(response)

    return export


def test_the_tier_table_exports(exported):
    rows = exported("tiers")
    assert rows[0] == ("tier", "loans", "outstanding principal", "share (%)", "provision")
    assert rows[1] == ("Normal", 3, 220000, 43.14, 0)
    assert rows[4] == ("Doubtful", 1, 120000, 23.53, 60000)
    assert len(rows) == 6


def test_the_migration_matrix_exports(exported):
    rows = exported("migration")
    assert rows[0] == (
        "from \\ to",
        "Normal",
        "Special mention",
        "Substandard",
        "Doubtful",
        "Loss",
        "closed",
        "total",
        "roll rate (%)",
    )
    by_start = {row[0]: row[1:] for row in rows[1:7]}
    assert by_start["new"] == (1, 0, 0, 0, 0, 0, 1, None)
    assert by_start["Normal"] == (1, 1, 0, 0, 0, 1, 3, 33.33)
    assert by_start["Substandard"] == (1, 0, 0, 0, 0, 0, 1, 0)
    # then the same matrix in balances (at the start of the month; for new loans, the end)
    balances = {row[0]: row[1:] for row in rows[8:]}
    assert balances["new"] == (120000, 0, 0, 0, 0, 0, 120000, None)
    assert balances["Normal"] == (60000, 80000, 0, 0, 0, 60000, 200000, 40)
    assert balances["Special mention"][2] == 90000


def test_the_trend_exports(exported):
    rows = exported("trend")
    assert rows[0] == (
        "month end",
        "non-performing ratio (%)",
        "Normal",
        "Special mention",
        "Substandard",
        "Doubtful",
        "Loss",
    )
    assert rows[1][:2] == ("2026-09-30", 44.23)
    assert rows[2] == ("2026-10-31", 41.18, 220000, 80000, 90000, 120000, 0)


def test_the_inspections_export(exported):
    rows = exported("inspections")
    assert rows == [
        ("officer", "due", "on time", "late", "overdue", None),
        ("Qiang Wang", 3, 1, 1, 1, None),
        ("Fang Liu", 1, 1, 0, 0, None),
        ("tier", "due", "on time", "late", "overdue", "done (%)"),
        ("Normal", 1, 1, 0, 0, 100),
        ("Special mention", 2, 0, 1, 1, 50),
        ("Substandard", 0, 0, 0, 0, None),
        ("Doubtful", 1, 1, 0, 0, 100),
        ("Loss", 0, 0, 0, 0, None),
    ]


def test_the_scorecards_export(exported, officer):
    rows = exported("scores")
    assert rows[0][0] == "officer" and len(rows) == 3
    wang = next(row for row in rows if row[0] == "Qiang Wang")
    score = OfficerScore.objects.get(officer=officer)
    assert wang[1:3] == (score.managed_loans, score.managed_balance)
    assert wang[3] == pytest.approx(float(score.managed_npl_balance / score.managed_balance * 100))
    assert wang[6] == 50  # November: 1 on time of the 2 fallen due


def test_an_export_follows_the_filters_and_an_unknown_one_is_not_found(
    exported, month_end_book, client
):
    rows = exported("tiers", branch=month_end_book.branches["North"].pk)
    assert [row[1] for row in rows[1:]] == [1, 0, 0, 1, 0]  # G normal, E doubtful
    assert client.get(DASHBOARD, {"export": "everything"}).status_code == 404


def test_a_name_that_looks_like_a_formula_is_exported_as_text(
    inspections, officer, client, risk_manager
):
    officer.first_name, officer.last_name = "=HYPERLINK(1)", ""
    officer.save()
    refresh_dashboard(as_of=date(2026, 11, 16))
    SnapshotRun.objects.create(month_end=OCT, finished_at=timezone.now())
    client.force_login(risk_manager)
    response = client.get(DASHBOARD, {"period": OCT.isoformat(), "export": "inspections"})
    names = [row[0] for row in _sheet(response)[1:]]
    assert "=HYPERLINK(1)" not in names
    assert any("HYPERLINK" in name for name in names)


# --- Access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["risk_manager", "supervisor", "admin_user"])
def test_managers_supervisors_and_admins_see_the_whole_portfolio(
    role, month_end_book, client, request
):
    client.force_login(request.getfixturevalue(role))
    response = client.get(DASHBOARD, {"period": OCT.isoformat()})
    assert response.status_code == 200
    assert response.context["summary"]["loans"] == 6
    assert "officer" in response.context["form"].fields
    assert "Classification dashboard" in response.content.decode()


def test_the_dashboard_has_no_forms_that_write(month_end_book, client, supervisor):
    client.force_login(supervisor)
    html = client.get(DASHBOARD, {"period": OCT.isoformat()}).content.decode()
    posts = re.findall(r'<form action="([^"]*)" method="post"', html)
    assert posts and set(posts) == {reverse("set_language")}  # the language switcher only


def test_an_officer_sees_only_their_own_book(month_end_book, client, officer, other_officer):
    client.force_login(other_officer)
    own = {"D", "E"}
    for params in [{}, {"officer": month_end_book.officers["officer"].pk}]:
        response = client.get(DASHBOARD, {"period": OCT.isoformat(), **params})
        assert response.status_code == 200
        context = response.context
        assert "officer" not in context["form"].fields
        assert _tiers_shown(context["summary"]) == _expected_tiers(OCT_POSITIONS, own)
        assert set(_matrix(context["migration"])) == {
            ("substandard", "normal"),
            ("doubtful", "doubtful"),
        }
        assert "My book" in response.content.decode()
        # the drill-down, even for a cell of the other officer's loans
        for cell, loans in OCTOBER_CELL_LOANS.items():
            listed = _listed(
                client.get(
                    CELL, {"period": OCT.isoformat(), "from": cell[0], "to": cell[1], **params}
                )
            )
            assert set(listed) == {month_end_book.loans[n].reference for n in loans & own}
        exported = _sheet(
            client.get(DASHBOARD, {"period": OCT.isoformat(), "export": "tiers", **params})
        )
        assert sum(row[1] for row in exported[1:]) == 2


def test_an_officer_sees_only_their_own_scorecard_and_inspections(
    inspections, officer, other_officer, client
):
    SnapshotRun.objects.create(month_end=OCT, finished_at=timezone.now())
    client.force_login(officer)
    context = client.get(
        DASHBOARD, {"period": OCT.isoformat(), "officer": other_officer.pk}
    ).context
    assert [s["name"] for s in context["scores"]] == ["Qiang Wang"]
    assert [o["name"] for o in context["inspections"]["officers"]] == ["Qiang Wang"]
    scores = _sheet(client.get(DASHBOARD, {"export": "scores", "officer": other_officer.pk}))
    assert [row[0] for row in scores[1:]] == ["Qiang Wang"]


def test_an_officers_inspections_are_those_assigned_to_them_as_on_their_scorecard(
    inspections, current_book, officer, other_officer, client
):
    # Wang covers a visit on Liu's loan B1 in October.
    Inspection.objects.create(
        loan=current_book["B1"],
        kind="ad_hoc",
        slot="cover",
        due_on=date(2026, 10, 28),
        assigned_to=officer,
        status="done",
        completed_on=date(2026, 10, 27),
    )
    refresh_dashboard(as_of=date(2026, 11, 16))
    SnapshotRun.objects.create(month_end=OCT, finished_at=timezone.now())
    client.force_login(officer)
    wang = client.get(DASHBOARD, {"period": OCT.isoformat()}).context["inspections"]
    assert wang["officers"] == [
        {"name": "Qiang Wang", "due": 4, "on_time": 2, "late": 1, "overdue": 1}
    ]
    assert {t["tier"]: t["due"] for t in wang["tiers"]}["doubtful"] == 1  # B1's tier
    client.force_login(other_officer)
    liu = client.get(DASHBOARD, {"period": OCT.isoformat()}).context["inspections"]
    assert liu["officers"] == [
        {"name": "Fang Liu", "due": 1, "on_time": 1, "late": 0, "overdue": 0}
    ]


def test_pending_decisions_oldest_first_within_the_users_book(
    current_book, officer, other_officer, risk_manager, supervisor, client
):
    a2 = current_book["A2"]
    old = TierAdjustment.objects.create(
        loan=a2,
        proposed_tier="doubtful",
        quantitative_tier="substandard",
        consecutive_missed=4,
        reason="经营停止",
        proposed_by=officer,
    )
    TierAdjustment.objects.filter(pk=old.pk).update(proposed_at=timezone.now() - timedelta(days=3))
    plan = CollectionPlan.objects.create(
        loan=current_book["B2"], kind="collection", summary="催收", author=other_officer
    )
    refresh_dashboard()
    client.force_login(risk_manager)
    pending = client.get(DASHBOARD).context["pending"]
    assert [(p["kind"], p["reference"]) for p in pending] == [
        ("proposal", a2.reference),
        ("plan", current_book["B2"].reference),
    ]
    assert pending[1]["url"] == reverse("postloan:plan_detail", args=[plan.pk])
    # Wang's book (managed or originated): A2's proposal; B2's plan is Liu's alone.
    client.force_login(officer)
    assert [p["reference"] for p in client.get(DASHBOARD).context["pending"]] == [a2.reference]


def test_someone_without_a_role_is_refused(month_end_book, client, make_user):
    client.force_login(make_user("clerk"))
    assert client.get(DASHBOARD).status_code == 403
    assert client.get(CELL, {"from": "normal", "to": "normal"}).status_code == 403
    assert client.get(DASHBOARD, {"export": "tiers"}).status_code == 403


def test_the_dashboard_needs_a_login(client, db):
    response = client.get(DASHBOARD)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- Query counts ------------------------------------------------------------------------------


def _grow(book_, product, branch, count=24):
    """More loans, in the month ends and the live state: all substandard by now."""
    officers = list(book_.officers.values())
    for n in range(count):
        loan = book(
            officers[n % 2],
            product=product,
            branch=branch,
            disbursed_on=date(2026, 6, 1) + timedelta(days=n),
        )
        set_tier(loan, "substandard", outstanding_principal=Decimal(1000 * (n + 1)))
    # Both month ends again, with the larger book (3 missed at September's end, 4 at October's).
    SnapshotRun.objects.update(finished_at=None)
    snapshot_portfolio(month_end=SEP)
    snapshot_portfolio(month_end=OCT)
    refresh_dashboard()


@pytest.mark.parametrize(
    "params",
    [{}, {"period": OCT.isoformat()}, {"period": OCT.isoformat(), "branch": "HQ"}],
    ids=["today", "month-end", "filtered"],
)
@pytest.mark.parametrize("role", ["risk_manager", "officer"])
def test_the_dashboard_runs_a_fixed_small_number_of_queries(
    params, role, month_end_book, product, branch, client, request
):
    if params.get("branch"):
        params = {**params, "branch": month_end_book.branches["HQ"].pk}
    refresh_dashboard()
    client.force_login(request.getfixturevalue(role))
    with CaptureQueriesContext(connection) as small:
        few = client.get(DASHBOARD, params)
    assert few.status_code == 200
    assert len(small.captured_queries) <= 10

    _grow(month_end_book, product, branch)
    with CaptureQueriesContext(connection) as large:
        many = client.get(DASHBOARD, params)
    assert many.status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)
    assert many.context["summary"]["loans"] > few.context["summary"]["loans"]


@pytest.mark.parametrize(
    ("params", "cell"),
    [
        ({}, {"from": "substandard", "to": "substandard"}),
        ({"period": OCT.isoformat()}, {"from": "special_mention", "to": "substandard"}),
    ],
    ids=["today", "month-end"],
)
def test_the_drill_down_runs_a_fixed_small_number_of_queries(
    params, cell, month_end_book, product, branch, client, risk_manager
):
    set_tier(month_end_book.loans["C"], "substandard")
    refresh_dashboard()
    client.force_login(risk_manager)
    with CaptureQueriesContext(connection) as small:
        few = client.get(CELL, {**params, **cell})
    assert len(small.captured_queries) <= 10
    _grow(month_end_book, product, branch)
    with CaptureQueriesContext(connection) as large:
        many = client.get(CELL, {**params, **cell})
    assert len(large.captured_queries) == len(small.captured_queries)
    assert _listed(few) == [month_end_book.loans["C"].reference]
    assert len(_listed(many)) == 25


# --- Beat, tasks and the command -------------------------------------------------------------


@pytest.mark.parametrize(
    "task", [tasks.snapshot_month_end, tasks.refresh_dashboard, tasks.detect_early_warnings]
)
def test_the_dashboard_tasks_are_registered_for_backfills(task):
    app.loader.import_default_modules()
    assert task.name in app.tasks


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_the_nightly_tasks_keep_the_last_month_end_and_refresh_on_a_real_worker(
    celery_worker, officer, product, branch
):
    app.loader.import_default_modules()
    loan = _loan(officer, product=product, branch=branch, disbursed_on=MARCH)
    last_month_end = previous_month_end(timezone.localdate())
    # Through the project's app by the tasks' names (see tests/portfolio/test_tasks.py).
    snapshot = app.tasks[tasks.snapshot_month_end.name]
    refresh = app.tasks[tasks.refresh_dashboard.name]

    snapshot.delay()
    run = wait_for(
        lambda: SnapshotRun.objects.filter(
            month_end=last_month_end, finished_at__isnull=False
        ).first(),
        timeout=60,
    )
    again = snapshot.delay()  # the next night, the same month end: nothing new
    refreshed = refresh.delay()  # one worker process: it runs after the second snapshot
    # Both have finished before the test reads and ends (its flush would otherwise meet the
    # refresh's writes): the first snapshot's own refresh already left a summary.
    wait_for(
        lambda: all(
            f"[{task.id}] succeeded" in celery_worker.output() for task in (again, refreshed)
        ),
        timeout=60,
    )
    current = PortfolioSummary.objects.filter(period__isnull=True).first()

    assert run.loans == 1
    assert SnapshotRun.objects.count() == 1
    assert PortfolioSnapshot.objects.filter(loan_id=loan.pk).count() == 1
    assert current.loans == 1
    assert "snapshot_month_end" in celery_worker.output()


def test_the_dashboard_is_refreshed_after_the_nights_other_steps_and_needs_them():
    names = [step.name for step in nightly.STEPS]
    assert names.index("snapshot_month_end") < names.index("classify_portfolio")
    assert names[-1] == "refresh_dashboard"
    assert set(nightly.STEPS_BY_NAME["refresh_dashboard"].needs) == set(names[:-1])


def test_the_command_keeps_a_month_end_once_and_says_so(officer, product, branch):
    _loan(officer, product=product, branch=branch, disbursed_on=MARCH)
    out = io.StringIO()
    call_command("snapshot_portfolio", "--as-of", "2026-10-31", stdout=out)
    assert re.fullmatch(r"snapshot of 2026-10-31: 1 loans in \d+\.\ds\n", out.getvalue())
    out = io.StringIO()
    call_command("snapshot_portfolio", "--as-of", "2026-10-31", "--refresh", stdout=out)
    assert out.getvalue().splitlines()[0] == "snapshot of 2026-10-31 already kept (1 loans)"
    assert out.getvalue().splitlines()[1].startswith("dashboard refreshed in ")
    assert PortfolioSummary.objects.filter(period__isnull=True).exists()


def test_the_command_refuses_a_date_that_is_not_a_month_end(db):
    with pytest.raises(
        CommandError, match=re.escape("2026-10-30 is not a month end (e.g. 2026-10-31)")
    ):
        call_command("snapshot_portfolio", "--as-of", "2026-10-30")
    assert not SnapshotRun.objects.exists()


# --- A large company: the page stays one size however many officers ------------------------


@pytest.fixture
def many_officers(make_user, db):
    """60 officers with scorecards and this month's inspections: officer i manages i loans
    worth i × 1,000, with i % 7 overdue inspections."""
    from common.roles import Role

    month = timezone.localdate().replace(day=1)
    officers = []
    for i in range(1, 61):
        user = make_user(f"lo-{i:02d}", Role.LOAN_OFFICER, first_name=f"Officer{i:02d}")
        officers.append(user)
        OfficerScore.objects.create(
            officer=user,
            managed_loans=i,
            managed_balance=Decimal(i * 1000),
            managed_npl_balance=Decimal(i * 10 if i % 2 else 0),
            inspections_due=10,
            inspections_on_time=10 - i % 7,
            inspections_overdue=i % 7,
            as_of=timezone.localdate(),
        )
        InspectionSummary.objects.create(
            month=month,
            assigned_to_id=user.pk,
            officer_id=user.pk,
            branch_id=1,
            product_id=1,
            kind="routine",
            tier="normal",
            structure="ordinary",
            cohort=2026,
            due=10,
            done_on_time=10 - i % 7,
            done_late=0,
            overdue=i % 7,
        )
    return officers


def test_scorecards_are_sorted_and_paged_on_the_server(many_officers, client, risk_manager):
    client.force_login(risk_manager)
    first = client.get(DASHBOARD)
    assert [s["name"] for s in first.context["scores"]][:2] == ["Officer01", "Officer02"]
    assert len(first.context["scores"]) == 25 and first.context["scores_total"] == 60
    assert first.context["score_pages"]["count"] == 3

    by_balance = client.get(DASHBOARD, {"sort": "-managed_balance", "scores_page": 3})
    names = [s["name"] for s in by_balance.context["scores"]]
    assert names == [f"Officer{i:02d}" for i in range(10, 0, -1)]  # the smallest ten, last
    assert by_balance.context["score_pages"]["next"] is None

    # The NPL ratio sorts by the ratio itself; officers without NPLs (0 %) come after.
    by_npl = client.get(DASHBOARD, {"sort": "-managed_npl"}).context["scores"]
    assert {round(s["managed_npl"], 2) for s in by_npl} == {Decimal("1.00")}
    assert client.get(DASHBOARD, {"sort": "nonsense"}).context["scores_sort"] == "officer"


def test_a_heading_sorts_by_its_column_and_a_second_click_reverses(
    many_officers, client, risk_manager
):
    client.force_login(risk_manager)
    html = client.get(DASHBOARD, {"branch": ""}).content.decode()
    link = re.search(r'href="\?([^"]*)" data-sort-key="managed_loans"', html).group(1)
    assert "sort=-managed_loans" in link and "export" not in link
    page = client.get(DASHBOARD + "?" + link.replace("&amp;", "&"))
    assert page.context["scores"][0]["name"] == "Officer60"
    reverse_link = re.search(
        r'href="\?([^"]*)" data-sort-key="managed_loans"', page.content.decode()
    ).group(1)
    assert "sort=managed_loans" in reverse_link and "sort=-managed_loans" not in reverse_link


def test_the_inspection_table_shows_the_most_overdue_officers_and_exports_all(
    many_officers, client, risk_manager
):
    client.force_login(risk_manager)
    response = client.get(DASHBOARD)
    table = response.context["inspections"]
    assert len(table["officers"]) == 25 and table["officers_total"] == 60
    overdue = [o["overdue"] for o in table["officers"]]
    assert overdue == sorted(overdue, reverse=True) and overdue[0] == 6
    assert {t["tier"]: t["due"] for t in table["tiers"]}["normal"] == 600
    assert 'data-testid="inspection-officers-more"' in response.content.decode()
    sheet = _sheet(client.get(DASHBOARD, {"export": "inspections"}))
    officers = [row for row in sheet[1:] if str(row[0]).startswith("Officer")]
    assert len(officers) == 60
    scores = _sheet(client.get(DASHBOARD, {"export": "scores", "sort": "-managed_balance"}))
    assert len(scores) == 61 and scores[1][0] == "Officer60"


def test_with_many_officers_the_filter_is_a_search(many_officers, client, risk_manager):
    client.force_login(risk_manager)
    form = client.get(DASHBOARD).context["form"]
    assert form.officer_search and form.fields["officer"].choices == [("", "all")]
    chosen = many_officers[41]
    filtered = client.get(DASHBOARD, {"officer": chosen.pk})
    assert filtered.context["form"].fields["officer"].choices[1] == (chosen.pk, "Officer42")
    assert [s["name"] for s in filtered.context["scores"]] == ["Officer42"]
    assert "officer" in client.get(DASHBOARD, {"officer": risk_manager.pk}).context["form"].errors

    options = client.get(reverse("postloan:dashboard_officers"), {"officer_q": "officer4"})
    values = re.findall(r'<option value="(\d+)">', options.content.decode())
    assert values == [str(o.pk) for o in many_officers[39:49]]  # Officer40 to Officer49
    none = client.get(reverse("postloan:dashboard_officers"), {"officer_q": "nobody"})
    assert "No officer matches." in none.content.decode()


def test_a_loan_officer_cannot_search_the_officers(many_officers, client):
    client.force_login(many_officers[0])
    response = client.get(reverse("postloan:dashboard_officers"), {"officer_q": "officer"})
    assert response.status_code == 403
    assert "officer_search" not in client.get(DASHBOARD).content.decode()


# --- Roll-ups: the summaries summed to no filter or one ------------------------------------------


def test_the_rollups_sum_the_summaries_at_every_level(month_end_book, client, risk_manager):
    from django.db.models import Sum

    from postloan.models import MigrationRollup, PortfolioRollup

    set_tier(month_end_book.loans["C"], "substandard")
    refresh_dashboard()
    columns = {
        "branch": "branch_id",
        "officer": "officer_id",
        "product": "product_id",
        "structure": "structure",
        "cohort": "cohort",
    }
    tables = [
        (PortfolioSummary, PortfolioRollup, "period", ("tier",), ("loans", "provision")),
        (MigrationSummary, MigrationRollup, "month_end", ("from_tier", "to_tier"), ("loans",)),
    ]
    for summary, rollup, period, keys, sums in tables:
        for level, column in [("all", None), *columns.items()]:
            group = [period, *([column] if column else []), *keys]
            expected = set(
                summary.objects.values_list(*group)
                .annotate(*[Sum(name) for name in sums])
                .order_by()
            )
            got = set(rollup.objects.filter(level=level).values_list(*group, *sums))
            assert got == expected, (rollup.__name__, level)
            assert expected  # both a month end and the current rows, at every level
            assert {row[0] for row in expected} >= {None}


def test_one_filter_reads_the_rollups_and_two_read_the_summaries(
    month_end_book, client, risk_manager, officer
):
    refresh_dashboard()
    client.force_login(risk_manager)
    hq = month_end_book.branches["HQ"].pk

    def tables(params):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(DASHBOARD, params)
        sql = " ".join(q["sql"] for q in queries.captured_queries)
        return response.context, {t for t in ("portfoliorollup", "portfoliosummary") if t in sql}

    everything, read = tables({})
    assert read == {"portfoliorollup"}
    by_branch, read = tables({"branch": hq})
    assert read == {"portfoliorollup"}
    both, read = tables({"branch": hq, "officer": officer.pk})
    assert read == {"portfoliosummary"}
    assert everything["summary"]["loans"] > by_branch["summary"]["loans"] > 0
    assert by_branch["summary"]["loans"] >= both["summary"]["loans"]


def test_an_invalid_filter_is_shown_on_its_select_and_the_others_keep_their_choice(
    month_end_book, client, risk_manager
):
    client.force_login(risk_manager)
    hq = month_end_book.branches["HQ"].pk
    html = client.get(DASHBOARD, {"officer": 999_999, "branch": hq}).content.decode()
    officer = re.search(r'<select name="officer"[^>]*>', html).group(0)
    assert "is-invalid" in officer and 'aria-invalid="true"' in officer
    assert 'id="id_officer-error"' in html
    assert re.search(rf'<option value="{hq}" selected>', html)
