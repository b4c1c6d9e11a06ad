"""Reading: a folder of CSV files or one XLSX workbook, one table each.

openpyxl is imported where a workbook is read, not at the top: it adds about 0.2 s to
every process that imports the import (the portal's views and commands), most of which
never read a workbook.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from portfolio.importing.format import TABLE_ORDER, TABLES
from portfolio.importing.results import Errors


@dataclass
class Sheet:
    table: str
    label: str  # what the user calls it: "loans.csv", or "book.xlsx: loans"
    path: Path
    sheet_name: str | None = None  # a workbook's sheet; None for a CSV file


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def xlsx_rows(path: Path, sheet_name: str) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        for number, values in enumerate(workbook[sheet_name].iter_rows(values_only=True), 1):
            cells = [_cell_text(v) for v in values]
            if any(cells):
                yield number, cells
    finally:
        workbook.close()


def open_source(path: Path | str, errors: Errors, *, label: str | None = None) -> list[Sheet]:
    """The tables found at `path`, in import order; unknown ones are errors."""
    path = Path(path)
    found: dict[str, Sheet] = {}
    known = ", ".join(TABLE_ORDER)
    if path.is_dir():
        for file in sorted(path.iterdir()):
            if file.suffix.lower() != ".csv":
                continue
            name = file.stem.lower()
            if name not in TABLES:
                errors.add(file.name, None, "", _unknown_table(name, known))
                continue
            found[name] = Sheet(name, file.name, file)
    elif path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        shown = label or path.name
        try:
            workbook = load_workbook(path, read_only=True)
            names = list(workbook.sheetnames)
            workbook.close()
        except Exception as error:  # openpyxl raises many kinds for a damaged file
            errors.add(
                shown, None, "", _("The workbook cannot be read: %(error)s") % {"error": error}
            )
            return []
        for sheet_name in names:
            name = sheet_name.strip().lower()
            if name not in TABLES:
                # A notes or instructions sheet is common in a template; only warn by error
                # when it looks like a table (it has our naming).
                if name.startswith("_") or name in ("readme", "notes", "instructions"):
                    continue
                errors.add(shown, None, "", _unknown_table(sheet_name, known))
                continue
            found[name] = Sheet(name, f"{shown}: {sheet_name}", path, sheet_name)
    elif path.suffix.lower() == ".csv" and path.stem.lower() in TABLES:
        found[path.stem.lower()] = Sheet(path.stem.lower(), path.name, path)
    else:
        errors.add(
            label or path.name, None, "", _("Give a folder of CSV files or one .xlsx workbook.")
        )
        return []
    if not found and not errors:
        errors.add(
            label or path.name,
            None,
            "",
            _("No table found: name the CSV files or the sheets after the tables (%(tables)s).")
            % {"tables": known},
        )
    return [found[name] for name in TABLE_ORDER if name in found]


def _unknown_table(name: str, known: str) -> str:
    return _("Unknown table %(name)s; the tables are: %(tables)s.") % {
        "name": name,
        "tables": known,
    }
