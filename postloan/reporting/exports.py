"""The dashboard's XLSX exports (issue 8): one sheet of one of its tables, with every row
(the page shows a page's worth of officers), from the figures selectors.portfolio_summary
returns. Names that look like formulas are written as text (postloan.inspections.ledger's
neutralise)."""

from __future__ import annotations

import io
from collections.abc import Callable

from django.utils.translation import gettext as _
from openpyxl import Workbook

from postloan.inspections.ledger import neutralise
from postloan.reporting.selectors import TIERS, cell_label
from postloan.risk.rules import TIER_LABELS, Tier

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _tiers(sheet, figures: dict) -> None:
    sheet.append(
        [_("tier"), _("loans"), _("outstanding principal"), _("share (%)"), _("provision")]
    )
    for t in figures["summary"]["tiers"]:
        sheet.append(
            [str(t["label"]), t["loans"], t["balance"], round(t["share"], 2), t["provision"]]
        )


def _migration(sheet, figures: dict) -> None:
    """The matrix in counts, then in balances (see selectors._migration_matrix)."""
    matrix = figures["migration"]
    ends = [cell_label(end) for end in matrix["ends"]]
    for heading, value, total, rate in [
        (_("from \\ to"), "loans", "total", "roll_rate"),
        (_("balance"), "balance", "balance", "roll_rate_balance"),
    ]:
        sheet.append([heading, *ends, _("total"), _("roll rate (%)")])
        for row in matrix["rows"]:
            sheet.append(
                [
                    cell_label(row["from"]),
                    *[c[value] for c in row["cells"]],
                    row[total],
                    None if row[rate] is None else round(row[rate], 2),
                ]
            )


def _trend(sheet, figures: dict) -> None:
    labels = [str(TIER_LABELS[Tier(t)]) for t in TIERS]
    sheet.append([_("month end"), _("non-performing ratio (%)"), *labels])
    for point in figures["trend"]:
        sheet.append(
            [
                point["month_end"],
                round(point["npl_ratio"], 2),
                *[point["balances"][t] for t in TIERS],
            ]
        )


def _inspections(sheet, figures: dict) -> None:
    """Per officer, then per tier with the compliance the page shows."""
    sheet.append([_("officer"), _("due"), _("on time"), _("late"), _("overdue")])
    for row in figures["inspections"]["officers"]:
        sheet.append(
            [neutralise(row["name"]), row["due"], row["on_time"], row["late"], row["overdue"]]
        )
    sheet.append([_("tier"), _("due"), _("on time"), _("late"), _("overdue"), _("done (%)")])
    for row in figures["inspections"]["tiers"]:
        compliance = row["compliance"]
        sheet.append(
            [
                str(row["label"]),
                row["due"],
                row["on_time"],
                row["late"],
                row["overdue"],
                None if compliance is None else round(compliance, 2),
            ]
        )


def _scores(sheet, figures: dict) -> None:
    sheet.append(
        [
            _("officer"),
            _("loans managed"),
            _("balance"),
            _("NPL ratio managed"),
            _("loans originated"),
            _("NPL ratio originated"),
            _("inspections on time (%)"),
            _("inspections overdue"),
            _("handovers overdue"),
        ]
    )
    for s in figures["scores"]:
        sheet.append(
            [
                neutralise(s["name"]),
                s["managed_loans"],
                s["managed_balance"],
                s["managed_npl"],
                s["originated_loans"],
                s["originated_npl"],
                s["on_time"],
                s["overdue"],
                s["handovers_overdue"],
            ]
        )


# The tables the dashboard exports, by the `export` parameter's value.
TABLES: dict[str, Callable] = {
    "tiers": _tiers,
    "migration": _migration,
    "trend": _trend,
    "inspections": _inspections,
    "scores": _scores,
}


def dashboard_xlsx(table: str, figures: dict) -> bytes:
    """The workbook of one of the dashboard's TABLES (a KeyError for another name)."""
    write = TABLES[table]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=table[:30])
    write(sheet, figures)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
