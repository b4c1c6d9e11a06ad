"""Portfolio import: moving a company's book off its spreadsheets (docs/import-format.md).

The input is a folder of CSV files or one XLSX workbook, one table each (products,
officers, borrowers, guarantors, groups, loans, schedule, guarantees, repayments,
collateral). The import is one transaction in three passes:

1. **Format**, per row in Python while the files stream by: dates, amounts, enums, lengths,
   identity numbers (common.idnumbers) and mobiles. Each row goes, in batches, by COPY into
   a TEMP staging table (a cell that failed is staged as empty). Loans without schedule
   rows get their schedule from loans.schedule.generate_schedule in a streaming pass over
   the staged loans, also COPYed.
2. **References and totals**, set-based in SQL over the staging tables and the database:
   duplicates, references that must exist in the import or the portal, product ranges,
   schedules (numbering, dates, sum), repayments (dates, references, totals), guarantees
   (cap, self-guarantee), groups (size, membership). Every error is kept as (file, row,
   column, message) in the user's language; with any error nothing is written.
3. **Writes**, set-based: insert what is new, update only rows that differ (refs are the
   natural keys, so a re-import creates nothing twice and reports what it changed),
   rebuild the instalments and allocations of loans whose schedule or repayments changed
   (the allocation in SQL equals loans.ledger.allocate), settle loans paid in full.

A dry run does everything and rolls back, so its preview is exactly what the import would
do. After a real import the portfolio is classified and its inspections planned.

**The cut-over date** (`as_of`, default today): the files are the book as it stood at the
end of that day. Every date of something that happened (disbursements, repayments,
signatures, valuations, registrations, groups formed) must be on or before it, and what the
import itself dates — facts changed on the borrowers' timelines, reassignments, reopened
loans, handovers (loans disbursed in the 30 days up to it), the classification and the
month's inspections — is dated that day, not the machine's today. The nightly run
catches up from there.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pghistory
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, ngettext

from common import idnumbers, texts
from common.bulkload import deferred_indexes_and_keys
from common.models import BusinessSettings
from common.money import NotPlainDecimal, format_cny, parse_plain_decimal
from common.roles import Role
from loans.schedule import generate_schedule

TABLE_ORDER = (
    "products",
    "officers",
    "borrowers",
    "guarantors",
    "groups",
    "loans",
    "schedule",
    "guarantees",
    "repayments",
    "collateral",
)
# Loans disbursed this recently still get a handover (Art. 3); older ones were handed over
# in the system the book comes from.
HANDOVER_WINDOW_DAYS = 30
COPY_BATCH = 20_000
MAX_ERRORS = 10_000
IMPORT_LOCK = 0x1A90_27F1
CHANGED_BY_IMPORT = gettext_noop("Changed by a portfolio import")

METHODS = ("bullet", "equal_installment", "equal_principal", "interest_first")
COLLATERAL_KINDS = ("real_estate", "off_plan", "machinery", "vehicle", "deposit", "other")
CHANNELS = ("bank_transfer", "auto_debit", "cash", "wechat", "alipay", "guarantor", "enforcement")
LEGAL_STATUSES = ("normal", "deceased", "missing", "incapacitated")
MAX_AMOUNT = "999999999999.99"


# --- The format --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a table. `default` is what an empty cell means; without a default an
    empty cell is empty (NULL or ''), or an error when `blank` is False."""

    name: str
    type: str = "text"  # text date money rate int enum bool list identity mobile username
    required: bool = False  # the header must be there
    blank: bool = True
    default: str | None = None
    max_length: int = 255
    choices: tuple[str, ...] = ()
    positive: bool = False
    not_future: bool = False  # a fact's date: on or before the cut-over date
    minimum: int = 0
    maximum: int = 32767
    doc: str = ""

    @property
    def sql_type(self) -> str:
        return {
            "date": "date",
            "money": "numeric(14,2)",
            "rate": "numeric(6,3)",
            "int": "integer",
            "bool": "boolean",
        }.get(self.type, "text")

    @property
    def is_text(self) -> bool:
        return self.sql_type == "text"


def _key(name: str, max_length: int = 40, **kw) -> Column:
    return Column(name, "text", required=True, blank=False, max_length=max_length, **kw)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "products",
            (
                _key("code", 20),
                Column("name", required=True, blank=False, max_length=120),
                Column("rate_min", "rate", default="0"),
                Column("rate_max", "rate", default="100"),
                Column("amount_min", "money", default="0.01"),
                Column("amount_max", "money", default=MAX_AMOUNT),
                Column("term_min", "int", default="1", minimum=1),
                Column("term_max", "int", default="600", minimum=1),
                Column("repayment_methods", "list", default="", choices=METHODS),
                Column("grace_days", "int", default="0", maximum=365),
                Column("min_guarantors", "int", default="0", maximum=20),
                Column("allows_joint_group", "bool", default="true"),
                Column("min_group_size", "int", default="2", minimum=2, maximum=100),
                Column("group_members_may_be_enterprises", "bool", default="true"),
                Column("per_person_limit", "money", default=MAX_AMOUNT),
                Column("requires_collateral", "bool", default="false"),
                Column("collateral_kinds", "list", default="", choices=COLLATERAL_KINDS),
            ),
            ("code",),
        ),
        Table(
            "officers",
            (
                Column("username", "username", required=True, blank=False, max_length=150),
                Column("full_name", required=True, blank=False, max_length=150),
                Column("branch", required=True, max_length=20),
            ),
            ("username",),
        ),
        Table(
            "borrowers",
            (
                _key("ref"),
                Column(
                    "kind", "enum", required=True, blank=False, choices=("person", "enterprise")
                ),
                Column("name", required=True, blank=False, max_length=120),
                Column("id_number", "identity", required=True, blank=False, max_length=40),
                Column("phone", "mobile", required=True, max_length=20),
                Column("address", required=True),
                Column("occupation", max_length=120),
                Column("business_address"),
                Column("employer", max_length=120),
                Column("monthly_income", "money"),
                Column("legal_representative", max_length=120),
                Column("legal_status", "enum", default="normal", choices=LEGAL_STATUSES),
            ),
            ("ref",),
        ),
        Table(
            "guarantors",
            (
                _key("ref"),
                Column(
                    "kind", "enum", required=True, blank=False, choices=("person", "enterprise")
                ),
                Column("name", required=True, blank=False, max_length=120),
                Column("id_number", "identity", required=True, blank=False, max_length=40),
                Column("phone", "mobile", required=True, max_length=20),
                Column("address"),
            ),
            ("ref",),
        ),
        Table(
            "groups",
            (
                _key("group_ref"),
                _key("member_ref"),
                Column("name", max_length=120),
                Column("product_code", max_length=20),
                Column("formed_on", "date", not_future=True),
            ),
            ("group_ref", "member_ref"),
        ),
        Table(
            "loans",
            (
                _key("ref"),
                _key("borrower_ref"),
                _key("product_code", 20),
                Column("principal", "money", required=True, blank=False, positive=True),
                Column("annual_rate", "rate", required=True, blank=False),
                Column("term_months", "int", required=True, blank=False, minimum=1, maximum=600),
                Column("disbursed_on", "date", required=True, blank=False, not_future=True),
                Column("repayment_method", "enum", required=True, blank=False, choices=METHODS),
                Column("managing_officer", "username", required=True, blank=False, max_length=150),
                Column(
                    "originating_officer", "username", required=True, blank=False, max_length=150
                ),
                Column("first_due_on", "date"),
                Column("grace_days", "int", maximum=365),
                Column("group_ref", max_length=40),
                Column("branch", max_length=20),
                Column("purpose"),
            ),
            ("ref",),
        ),
        Table(
            "schedule",
            (
                _key("loan_ref"),
                Column("seq", "int", required=True, blank=False, minimum=1, maximum=1200),
                Column("due_on", "date", required=True, blank=False),
                Column("principal_due", "money", required=True, blank=False),
                Column("interest_due", "money", required=True, blank=False),
            ),
            ("loan_ref", "seq"),
        ),
        Table(
            "guarantees",
            (
                _key("loan_ref"),
                _key("guarantor_ref"),
                Column("signed_on", "date", not_future=True),
                Column("amount", "money", positive=True),
            ),
            ("loan_ref", "guarantor_ref"),
        ),
        Table(
            "repayments",
            (
                _key("loan_ref"),
                Column("paid_on", "date", required=True, blank=False, not_future=True),
                Column("amount", "money", required=True, blank=False, positive=True),
                Column("reference", required=True, blank=False, max_length=60),
                Column("channel", "enum", default="bank_transfer", choices=CHANNELS),
                Column("note"),
            ),
            ("loan_ref", "reference"),
        ),
        Table(
            "collateral",
            (
                _key("loan_ref"),
                Column("kind", "enum", required=True, blank=False, choices=COLLATERAL_KINDS),
                Column("description", required=True, blank=False),
                Column("value", "money", required=True),
                Column("valued_on", "date", required=True, not_future=True),
                Column(
                    "valuation_method",
                    "enum",
                    default="appraisal",
                    choices=("appraisal", "market", "purchase", "book", "officer"),
                ),
                Column("owner_name", max_length=120),
                Column(
                    "custody",
                    "enum",
                    default="registry",
                    choices=("company", "owner", "registry", "third_party"),
                ),
                Column("location"),
                Column("status", "enum", default="held", choices=("held", "released", "enforced")),
                Column("developer", max_length=120),
                Column("expected_completion_on", "date"),
                Column("pre_registration_on", "date", not_future=True),
                Column("registration_due_on", "date"),
                Column("completed_on", "date", not_future=True),
                Column("registration_on", "date", not_future=True),
                Column("title_certificate_number", max_length=60),
            ),
            ("loan_ref", "kind", "description"),
        ),
    )
}


# --- Results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem, where the user can find it: file, row (the header is row 1), column."""

    file: str
    row: int | None
    column: str
    message: str


@dataclass
class TableCount:
    rows: int = 0
    created: int = 0
    updated: int = 0

    @property
    def unchanged(self) -> int:
        return max(self.rows - self.created - self.updated, 0)


@dataclass
class ImportResult:
    dry_run: bool
    as_of: date | None = None  # the cut-over date the files were read as of
    counts: dict[str, TableCount] = field(default_factory=dict)
    derived: dict[str, int] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    errors_omitted: int = 0
    seconds: float = 0.0
    classification: object = None  # the ClassificationRun after a real import
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.errors_omitted

    @property
    def error_count(self) -> int:
        return len(self.errors) + self.errors_omitted

    @property
    def changed(self) -> int:
        return sum(c.created + c.updated for c in self.counts.values())


class ImportFailed(Exception):
    """Raised inside the transaction to roll it back when a pass found errors."""


class _Errors:
    def __init__(self, result: ImportResult):
        self.result = result

    def add(self, file: str, row: int | None, column: str, message) -> None:
        if len(self.result.errors) >= MAX_ERRORS:
            self.result.errors_omitted += 1
            return
        self.result.errors.append(RowError(file, row, column, str(message)))

    def __bool__(self) -> bool:
        return not self.result.ok


# --- Reading: a folder of CSV files or one workbook --------------------------------------------


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


def _xlsx_rows(path: Path, sheet_name: str) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        for number, values in enumerate(workbook[sheet_name].iter_rows(values_only=True), 1):
            cells = [_cell_text(v) for v in values]
            if any(cells):
                yield number, cells
    finally:
        workbook.close()


def open_source(path: Path | str, errors: _Errors, *, label: str | None = None) -> list[Sheet]:
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


# --- Pass 1: the format of each cell, then COPY into staging ------------------------------------

# ASCII digits only: \d alone would also match full-width and other scripts' digits.
_MONEY = re.compile(r"\d{1,12}(?:\.\d{1,2})?", re.ASCII)  # numeric(14,2), the usual cell
_MONEY_DIGITS = 12
_RATE = re.compile(r"\d{1,3}(?:\.\d{1,3})?", re.ASCII)
_INT = re.compile(r"\d{1,6}", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_USERNAME = re.compile(r"[\w.@+-]+")
_TRUE = {"true", "yes", "1", "y", "t"}
_FALSE = {"false", "no", "0", "n", "f"}


class CellError(ValueError):
    pass


def _after_cut_over(as_of: str) -> str:
    return _("This date is after the cut-over date %(date)s.") % {"date": as_of}


def _converter(column: Column, as_of: str) -> Callable[[str], str | None]:
    """A function from the cell's text to the staged text (or None), raising CellError.
    `as_of` is the cut-over date (YYYY-MM-DD): a fact's date may not be after it."""
    kind = column.type
    default = column.default
    dates_ok: dict[str, bool] = {}

    def empty() -> str | None:
        if default is not None:
            return default
        if not column.blank:
            raise CellError(_("A value is required."))
        return None

    def text(value: str) -> str | None:
        value = value.strip()
        if not value:
            return empty()
        if len(value) > column.max_length:
            raise CellError(
                _("At most %(max)d characters; this has %(length)d.")
                % {"max": column.max_length, "length": len(value)}
            )
        return value

    def a_date(value: str) -> str | None:
        value = value.strip()
        if not value:
            return empty()
        ok = dates_ok.get(value)
        if ok is None:
            ok = bool(_DATE.fullmatch(value))
            if ok:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    ok = False
            dates_ok[value] = ok
        if not ok:
            raise CellError(_("Write dates as YYYY-MM-DD (for example 2025-03-31)."))
        if column.not_future and value > as_of:
            raise CellError(_after_cut_over(as_of))
        return value

    def money(value: str) -> str | None:
        value = value.strip()
        if not value:
            return empty()
        # The same notation as the portal's forms (common.money): "1234.56" or "1,234.56";
        # never "1e3" or full-width digits. Most cells take the regex alone (millions of
        # schedule cells); one with thousands separators goes through the shared parser.
        if not _MONEY.fullmatch(value):
            try:
                amount = parse_plain_decimal(value)
            except NotPlainDecimal:
                amount = None
            if amount is None or amount >= 10**_MONEY_DIGITS:
                raise CellError(
                    _(
                        "Write amounts in plain digits with at most two decimals (for "
                        "example 1234.56 or 1,234.56)."
                    )
                )
            value = str(amount)
        if column.positive and not value.strip("0."):
            raise CellError(_("The amount must be above zero."))
        return value

    def rate(value: str) -> str | None:
        value = value.strip()
        if not value:
            return empty()
        if not _RATE.fullmatch(value):
            raise CellError(
                _("Write the rate as a percent with a dot and at most three decimals (12.5).")
            )
        return value

    def integer(value: str) -> str | None:
        value = value.strip()
        if not value:
            return empty()
        if not _INT.fullmatch(value):
            raise CellError(_("Write a whole number."))
        if not column.minimum <= int(value) <= column.maximum:
            raise CellError(
                _("Must be between %(min)d and %(max)d.")
                % {"min": column.minimum, "max": column.maximum}
            )
        return value

    def enum(value: str) -> str | None:
        value = value.strip()
        if not value:
            return empty()
        if value not in column.choices:
            lowered = value.lower()
            if lowered in column.choices:
                return lowered
            raise CellError(
                _("%(value)s is not one of: %(choices)s.")
                % {"value": value, "choices": ", ".join(column.choices)}
            )
        return value

    def boolean(value: str) -> str | None:
        value = value.strip().lower()
        if not value:
            return empty()
        if value in _TRUE:
            return "t"
        if value in _FALSE:
            return "f"
        raise CellError(_("Write true or false."))

    def choice_list(value: str) -> str | None:
        value = value.strip()
        if not value:
            return empty()
        items = [item.strip().lower() for item in value.replace(",", ";").split(";")]
        wrong = [item for item in items if item not in column.choices]
        if wrong:
            raise CellError(
                _("%(value)s is not one of: %(choices)s.")
                % {"value": ", ".join(wrong), "choices": ", ".join(column.choices)}
            )
        return ";".join(sorted(set(items), key=column.choices.index))

    def mobile(value: str) -> str | None:
        value = value.strip()
        if not value:
            return empty()
        try:
            return idnumbers.validate_mobile(value)
        except ValidationError as error:
            raise CellError(" ".join(error.messages)) from None

    def username(value: str) -> str | None:
        value = text(value)
        if value is not None and not _USERNAME.fullmatch(value):
            raise CellError(_("Usernames contain letters, digits and @ . + - _ only."))
        return value

    return {
        "date": a_date,
        "money": money,
        "rate": rate,
        "int": integer,
        "enum": enum,
        "bool": boolean,
        "list": choice_list,
        "mobile": mobile,
        "username": username,
    }.get(kind, text)


def _check_identity(cells: list, names: dict[str, int], report, failed: set[str]) -> None:
    """Borrowers and guarantors: the identity number fits the kind (resident ID for a person,
    unified social credit code for an enterprise), checksum included."""
    if "kind" not in names or "id_number" not in names:
        return
    kind, number = cells[names["kind"]], cells[names["id_number"]]
    if not number or kind not in ("person", "enterprise"):
        return
    try:
        if kind == "person":
            cells[names["id_number"]] = idnumbers.validate_resident_id(number)
        else:
            cells[names["id_number"]] = idnumbers.validate_credit_code(number)
    except ValidationError as error:
        cells[names["id_number"]] = None
        report("id_number", " ".join(error.messages))


def _check_collateral(cells: list, names: dict[str, int], report, failed: set[str]) -> None:
    def value(name):
        return cells[names[name]] if name in names else None

    # A cell that failed its own check is empty here, but it was not left out: its error
    # is the one to read.
    valued = value("value") is not None, value("valued_on") is not None
    if valued[0] != valued[1] and not failed & {"value", "valued_on"}:
        report("value", _("Give both the value and the valuation date, or neither."))
    if value("kind") == "off_plan":
        if not value("developer"):
            report("developer", _("Name the developer of the off-plan property."))
        if value("expected_completion_on") is None and "expected_completion_on" not in failed:
            report("expected_completion_on", _("Give the expected completion date."))


ROW_CHECKS = {
    "borrowers": _check_identity,
    "guarantors": _check_identity,
    "collateral": _check_collateral,
}


def _staging_ddl(table: Table) -> str:
    columns = ", ".join(f"{c.name} {c.sql_type}" for c in table.columns)
    extra = ", source text NOT NULL DEFAULT 'file'" if table.name == "schedule" else ""
    return f"CREATE TEMP TABLE imp_{table.name} (row_no integer, {columns}{extra}) ON COMMIT DROP"


def _copy(cursor, table: Table, buffer: io.StringIO, columns: list[str]) -> None:
    """COPY the CSV text in `buffer` (a row number, then `columns`) into the staging table."""
    if not buffer.tell():
        return
    buffer.seek(0)
    _copy_text(cursor, table, buffer, columns)
    buffer.seek(0)
    buffer.truncate()


def _copy_text(cursor, table: Table, text: io.StringIO, columns: list[str]) -> None:
    text_columns = [c.name for c in table.columns if c.is_text and c.name in columns]
    force = f", FORCE_NOT_NULL ({', '.join(text_columns)})" if text_columns else ""
    # psycopg2's COPY on the raw cursor: the rows never become SQL statements.
    cursor.cursor.copy_expert(
        f"COPY imp_{table.name} (row_no, {', '.join(columns)}) FROM STDIN WITH (FORMAT csv{force})",
        text,
        size=1 << 20,
    )


class _Copier:
    """COPYs a table's batches of checked rows on a thread of its own, so that PostgreSQL
    parses one batch while Python checks the next (psycopg2 lets go of the GIL while it
    sends): on two cores the staging of a 100,000-loan book overlaps about 5 s of its 15.

    Until close() only this thread uses the connection; at most two batches wait, so memory
    stays that of three batches. A COPY's error is raised in the caller, at the next batch
    or at close()."""

    def __init__(self, cursor, table: Table, columns: list[str]):
        self._batches: queue.Queue[str | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(cursor, table, columns), name=f"copy-{table.name}"
        )
        self._thread.start()

    def _run(self, cursor, table: Table, columns: list[str]) -> None:
        while (batch := self._batches.get()) is not None:
            if self._error is None:
                try:
                    _copy_text(cursor, table, io.StringIO(batch), columns)
                except BaseException as error:  # raised again in the caller
                    self._error = error

    def send(self, buffer: io.StringIO) -> None:
        if self._error is not None:
            raise self._error
        if buffer.tell():
            self._batches.put(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()

    def close(self) -> None:
        """Wait for the last batch; raise a COPY's error if there was one."""
        self._batches.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> _Copier:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
        else:  # the caller's error wins; the connection is free again either way
            self._batches.put(None)
            self._thread.join()


def _fast_cell(column: Column) -> str | None:
    """A regular expression for a clean cell of this column (no quotes, no surrounding
    spaces), or None when only the full check will do. A cell that does not match is not
    wrong: it takes the full check."""
    optional = column.blank and column.default in (None, "")
    if column.type == "text":
        n = column.max_length
        core = rf'[^,"\s](?:[^,"\r\n]{{0,{n - 2}}}[^,"\s])?'
    elif column.type == "date":
        core = r"(\d{4}-\d{2}-\d{2})"
    elif column.type == "money":
        core = r"\d{1,12}(?:\.\d{1,2})?"
        if column.positive:
            core = r"(?=[0-9.]*[1-9])" + core
    elif column.type == "rate":
        core = r"\d{1,3}(?:\.\d{1,3})?"
    elif column.type == "int":
        digits = len(str(column.maximum + 1)) - 1  # any number of this many digits fits
        if digits < 1:
            return None
        core = rf"[1-9]\d{{0,{digits - 1}}}"
        if column.minimum == 0:
            core = f"(?:0|{core})"
        elif column.minimum > 1:
            return None
    elif column.type == "enum":
        core = "(?:" + "|".join(re.escape(c) for c in column.choices) + ")"
    else:
        return None
    return f"(?:{core})?" if optional else core


def _fast_line(table: Table, header: list[str]):
    """A matcher for a whole clean CSV line of this header, and its date columns."""
    parts, dates = [], []
    for name in header:
        column = table.column(name)
        pattern = _fast_cell(column)
        if pattern is None:
            return None, []
        if column.type == "date":
            dates.append((len(dates) + 1, column.not_future))
        parts.append(pattern)
    return re.compile(",".join(parts)).fullmatch, dates


def _quoted(names) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _header(sheet: Sheet, table: Table, names: list[str], number: int, errors: _Errors):
    """The known columns in file order (positions), and whether the header is clean (no
    blank, unknown or repeated name: the fast line check may read it).

    A header that is empty, names a column the table does not have, repeats one or lacks a
    required one is one error for the file, at the header's row, naming them all and the
    table's columns: a misspelt header is fixed in one place, not column by column."""
    positions: dict[str, int] = {}
    unknown: list[str] = []
    repeated: list[str] = []
    for index, name in enumerate(names):
        if not name:
            continue
        if name not in table.column_names:
            unknown.append(name)
        elif name in positions:
            repeated.append(name)
        else:
            positions[name] = index
    missing = [c.name for c in table.columns if c.required and c.name not in positions]
    problems = []
    if not any(names):
        problems.append(_("The table is empty: its first row must name its columns."))
    else:
        if unknown:
            problems.append(
                ngettext(
                    "Unknown column %(columns)s.", "Unknown columns %(columns)s.", len(unknown)
                )
                % {"columns": _quoted(unknown)}
            )
        if repeated:
            problems.append(
                ngettext(
                    "The column %(columns)s appears twice.",
                    "The columns %(columns)s appear twice.",
                    len(repeated),
                )
                % {"columns": _quoted(repeated)}
            )
        if missing:
            problems.append(
                ngettext(
                    "Missing column %(columns)s.", "Missing columns %(columns)s.", len(missing)
                )
                % {"columns": _quoted(missing)}
            )
    if problems:
        problems.append(
            _("The columns of %(table)s are: %(columns)s.")
            % {"table": table.name, "columns": ", ".join(table.column_names)}
        )
        errors.add(sheet.label, number, "", " ".join(str(p) for p in problems))
    clean = all(names) and not unknown and not repeated
    return positions, clean


def _stage(cursor, sheet: Sheet, errors: _Errors, as_of: date) -> tuple[int, set[str]]:
    """Check every cell of one table and COPY its rows; returns (rows, columns present).

    A CSV line whose cells all look clean (the common case in a big file) is checked by one
    regular expression and copied as it is; any other row, and every workbook row, has each
    cell checked and converted on its own."""
    table = TABLES[sheet.table]
    if sheet.sheet_name is not None:
        return _stage_rows(
            cursor, sheet, table, _xlsx_rows(sheet.path, sheet.sheet_name), errors, as_of
        )
    try:
        with open(sheet.path, newline="", encoding="utf-8-sig") as handle:
            return _stage_csv(cursor, sheet, table, handle, errors, as_of)
    except UnicodeDecodeError:
        errors.add(sheet.label, None, "", _("The file is not UTF-8 text."))
        return 0, set()


def _stage_csv(cursor, sheet, table, handle, errors, as_of) -> tuple[int, set[str]]:
    lines = iter(handle)
    header = next(csv.reader(lines), [])
    names = [h.strip().lower() for h in header]
    positions, clean = _header(sheet, table, names, 1, errors)
    columns = list(positions)
    if not columns:  # nothing of this table to check or stage: the header's error says why
        return sum(1 for cells in csv.reader(lines) if any(cells)), set()
    # Tables with checks across a row's cells always take the full check.
    fast = clean and table.name not in ROW_CHECKS
    match, dates = _fast_line(table, names) if fast else (None, [])
    slow = _SlowRows(sheet, table, positions, errors, as_of)
    with _Copier(cursor, table, columns) as copier:
        count = _check_lines(lines, match, dates, slow, copier, as_of.isoformat())
    return count, set(columns)


def _check_lines(lines, match, dates, slow: _SlowRows, copier: _Copier, as_of_text: str) -> int:
    """Check each line (one expression for a clean one, else cell by cell) and send the
    rows to COPY in batches; returns the number of rows."""
    buffer = io.StringIO()
    write = buffer.write
    valid_dates: dict[str, bool] = {}
    number, count, pending = 1, 0, 0
    for line in lines:
        number += 1
        text = line.rstrip("\r\n")
        found = match(text) if match is not None else None
        if found is not None:
            for group, not_future in dates:
                value = found.group(group)
                if not value:
                    continue
                ok = valid_dates.get(value)
                if ok is None:
                    try:
                        date.fromisoformat(value)
                        ok = True
                    except ValueError:
                        ok = False
                    valid_dates[value] = ok
                if not ok or (not_future and value > as_of_text):
                    found = None
                    break
        if found is not None:
            write(f"{number},{text}\n")
        elif not text.strip():
            continue
        else:
            # The full check; csv reads on when a quoted cell spans lines.
            cells = next(csv.reader(itertools.chain([line], lines)))
            slow.write(buffer, number, cells)
        count += 1
        pending += 1
        if pending >= COPY_BATCH:
            copier.send(buffer)
            pending = 0
    copier.send(buffer)
    return count


class _SlowRows:
    """Each cell checked and converted on its own (and the row checks), in header order."""

    def __init__(self, sheet: Sheet, table: Table, positions: dict[str, int], errors, as_of):
        as_of_text = as_of.isoformat()
        self.label = sheet.label
        self.errors = errors
        self.plan = [
            (position, _converter(table.column(name), as_of_text), name)
            for name, position in positions.items()
        ]
        self.index_of = {name: i + 1 for i, name in enumerate(positions)}  # +1: row_no first
        self.row_check = ROW_CHECKS.get(table.name)

    def write(self, buffer: io.StringIO, number: int, cells: list[str]) -> None:
        width = len(cells)
        out: list = [number]
        failed: set[str] = set()  # the columns whose cell failed its own check
        for position, convert, name in self.plan:
            try:
                out.append(convert(cells[position] if position < width else ""))
            except CellError as error:
                self.errors.add(self.label, number, name, error.args[0])
                out.append(None)
                failed.add(name)
        if self.row_check is not None:
            self.row_check(
                out,
                self.index_of,
                lambda column, message: self.errors.add(self.label, number, column, message),
                failed,
            )
        csv.writer(buffer, lineterminator="\n").writerow(out)


def _stage_rows(cursor, sheet, table, rows, errors, as_of) -> tuple[int, set[str]]:
    header_number, header = next(rows, (1, []))
    names = [h.strip().lower() for h in header]
    positions, _clean = _header(sheet, table, names, header_number, errors)
    columns = list(positions)
    if not columns:  # as for a CSV file
        return sum(1 for _row in rows), set()
    slow = _SlowRows(sheet, table, positions, errors, as_of)
    buffer = io.StringIO()
    count = 0
    with _Copier(cursor, table, columns) as copier:
        for number, cells in rows:
            slow.write(buffer, number, cells)
            count += 1
            if count % COPY_BATCH == 0:
                copier.send(buffer)
        copier.send(buffer)
    return count, set(columns)


def _create_staging(cursor) -> None:
    # ON COMMIT DROP is not enough under an outer transaction (a caller's atomic block, a
    # test): the tables of an earlier import in it are still there.
    cursor.execute(
        r"""SELECT string_agg(quote_ident(relname), ', ') FROM pg_class
            WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r'
              AND relname LIKE 'imp\_%%'"""
    )
    (leftovers,) = cursor.fetchone()
    if leftovers:
        cursor.execute(f"DROP TABLE {leftovers}")
    for name in TABLE_ORDER:
        cursor.execute(_staging_ddl(TABLES[name]))


STAGING_INDEXES = [
    "CREATE INDEX ON imp_products (code)",
    "CREATE INDEX ON imp_officers (username)",
    "CREATE INDEX ON imp_borrowers (ref)",
    "CREATE INDEX ON imp_borrowers (id_number)",
    "CREATE INDEX ON imp_guarantors (ref)",
    "CREATE INDEX ON imp_guarantors (id_number)",
    "CREATE INDEX ON imp_groups (group_ref)",
    "CREATE INDEX ON imp_groups (member_ref)",
    "CREATE INDEX ON imp_loans (ref)",
    "CREATE INDEX ON imp_loans (borrower_ref)",
    "CREATE INDEX ON imp_guarantees (loan_ref)",
    "CREATE INDEX ON imp_collateral (loan_ref)",
]


# --- Generated schedules -----------------------------------------------------------------------


def _default_first_due(disbursed_on: date, method: str, term_months: int) -> date:
    from loans.services import default_first_due_on

    return default_first_due_on(disbursed_on, method, term_months)


def _stage_schedules(cursor, *, has_schedule_table: bool) -> None:
    """Give every imported loan without schedule rows its schedule: the one it has in the
    portal when it is explicit and this import has no schedule table, else the one its
    repayment method generates (loans.schedule.generate_schedule, streamed and COPYed)."""
    if not has_schedule_table:
        cursor.execute(
            """
            INSERT INTO imp_schedule (row_no, loan_ref, seq, due_on, principal_due, interest_due,
                                      source)
            SELECT NULL, l.reference, i.seq, i.due_on, i.principal_due, i.interest_due, 'kept'
            FROM loans_loan l JOIN loans_instalment i ON i.loan_id = l.id
            WHERE l.schedule_source = 'explicit'
              AND l.reference IN (SELECT ref FROM imp_loans)"""
        )
    methods = ", ".join(f"'{m}'" for m in METHODS)
    query = f"""
        SELECT DISTINCT ON (s.ref) s.ref, s.principal, s.annual_rate, s.term_months,
               s.repayment_method, s.disbursed_on, s.first_due_on
        FROM imp_loans s
        WHERE s.ref <> '' AND s.principal > 0 AND s.annual_rate IS NOT NULL
          AND s.term_months >= 1 AND s.repayment_method IN ({methods})
          AND s.disbursed_on IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM imp_schedule x WHERE x.loan_ref = s.ref)
        ORDER BY s.ref, s.row_no"""
    table = TABLES["schedule"]
    columns = ["loan_ref", "seq", "due_on", "principal_due", "interest_due", "source"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    # A named (server-side) cursor streams the loans instead of loading them all.
    with connection.connection.cursor(name="imp_generate") as loans:
        loans.itersize = 5000
        loans.execute(query)
        pending = 0
        for ref, principal, rate, term, method, disbursed_on, first_due_on in loans:
            first_due = first_due_on or _default_first_due(disbursed_on, method, term)
            try:
                rows = generate_schedule(
                    principal=principal,
                    annual_rate_percent=rate,
                    term_months=term,
                    method=method,
                    first_due_on=first_due,
                )
            except ValueError:
                continue  # its cells were reported in pass 1
            writer.writerows(
                [None, ref, row.seq, row.due_on, row.principal, row.interest, "generated"]
                for row in rows
            )
            pending += len(rows)
            if pending >= COPY_BATCH:
                _copy(cursor, table, buffer, columns)
                pending = 0
        _copy(cursor, table, buffer, columns)


# --- Pass 2: references and totals, in SQL -----------------------------------------------------


def _literal(column: Column) -> str:
    """The column's default as an SQL literal of its staged type."""
    if column.default is None:
        return "''" if column.is_text else f"NULL::{column.sql_type}"
    if column.type == "list":
        return "'{}'::text[]" if column.default == "" else f"'{{{column.default}}}'::text[]"
    if column.type == "bool":
        return "true" if column.default == "true" else "false"
    return f"'{column.default}'::{column.sql_type}"


def _given(table: str, name: str, present: dict[str, set[str]], fallback: str) -> str:
    """The staged value when the column was given, else `fallback` (the portal's value),
    else the column's default."""
    column = TABLES[table].column(name)
    value = f"s.{name}"
    if column.type == "list":
        value = f"COALESCE(string_to_array(NULLIF(s.{name}, ''), ';'), '{{}}'::text[])"
    if name in present[table]:
        return value
    return f"COALESCE({fallback}, {_literal(column)})"


def _resolve(cursor, present: dict[str, set[str]], as_of: date) -> None:
    """Tables of everything the import refers to, from the files or else the portal."""
    p = present

    def given(table, name, fallback="NULL"):
        return _given(table, name, p, fallback)

    cursor.execute(
        f"""
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
    )
    cursor.execute(
        """
        INSERT INTO imp_r_product
        SELECT lp.code, NULL, lp.id, lp.name, lp.rate_min, lp.rate_max, lp.amount_min,
               lp.amount_max, lp.term_min, lp.term_max, lp.repayment_methods::text[],
               lp.grace_days, lp.min_guarantors, lp.allows_joint_group, lp.min_group_size,
               lp.group_members_may_be_enterprises, lp.collateral_kinds::text[]
        FROM loans_loanproduct lp
        WHERE lp.code IN (SELECT product_code FROM imp_loans
                          UNION SELECT product_code FROM imp_groups)
          AND lp.code NOT IN (SELECT code FROM imp_products)"""
    )
    cursor.execute(
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
        FROM officers o WHERE o.username NOT IN (SELECT username FROM imp_officers)"""
    )
    cursor.execute(
        """
        CREATE TEMP TABLE imp_r_borrower ON COMMIT DROP AS
        SELECT DISTINCT ON (s.ref) s.ref, s.row_no, b.id, s.kind, s.id_number AS identity,
               s.name
        FROM imp_borrowers s LEFT JOIN borrowers_borrower b ON b.reference = s.ref
        WHERE s.ref <> ''
        ORDER BY s.ref, s.row_no"""
    )
    cursor.execute(
        """
        INSERT INTO imp_r_borrower
        SELECT b.reference, NULL, b.id, b.kind, COALESCE(b.id_number, b.credit_code), b.name
        FROM borrowers_borrower b
        WHERE b.reference IN (SELECT borrower_ref FROM imp_loans
                              UNION SELECT member_ref FROM imp_groups
                              UNION SELECT guarantor_ref FROM imp_guarantees)
          AND b.reference NOT IN (SELECT ref FROM imp_borrowers)"""
    )
    cursor.execute("CREATE INDEX ON imp_r_borrower (ref)")
    cursor.execute("CREATE INDEX ON imp_r_borrower (identity)")
    # A guarantor who is (or becomes) one of our borrowers is linked to them: the same
    # person, found by the identity number, as borrowers.services.guarantor_create does.
    cursor.execute(
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
        ORDER BY s.ref, s.row_no"""
    )
    cursor.execute(
        """
        INSERT INTO imp_r_guarantor
        SELECT g.reference, NULL, g.id, g.kind, COALESCE(g.id_number, g.credit_code), g.name,
               b.reference
        FROM borrowers_guarantor g LEFT JOIN borrowers_borrower b ON b.id = g.borrower_id
        WHERE g.reference IN (SELECT guarantor_ref FROM imp_guarantees)
          AND g.reference NOT IN (SELECT ref FROM imp_guarantors)"""
    )
    cursor.execute("CREATE INDEX ON imp_r_guarantor (ref)")
    cursor.execute(
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
        {"as_of": as_of},
    )
    cursor.execute(
        """
        INSERT INTO imp_r_group
        SELECT jg.reference, NULL, jg.id, jg.status, jg.name, jp.code, jg.formed_on, lead.reference
        FROM borrowers_jointgroup jg
        JOIN loans_loanproduct jp ON jp.id = jg.product_id
        JOIN borrowers_borrower lead ON lead.id = jg.lead_id
        WHERE jg.reference IN (SELECT group_ref FROM imp_loans)
          AND jg.reference NOT IN (SELECT group_ref FROM imp_groups)"""
    )
    cursor.execute(
        """
        CREATE TEMP TABLE imp_r_member ON COMMIT DROP AS
        SELECT DISTINCT ON (group_ref, member_ref) group_ref, member_ref, row_no
        FROM imp_groups WHERE group_ref <> '' AND member_ref <> ''
        ORDER BY group_ref, member_ref, row_no"""
    )
    cursor.execute(
        """
        INSERT INTO imp_r_member
        SELECT g.group_ref, b.reference, NULL
        FROM imp_r_group g
        JOIN borrowers_groupmembership m ON m.group_id = g.id AND m.left_on IS NULL
        JOIN borrowers_borrower b ON b.id = m.borrower_id
        WHERE NOT EXISTS (SELECT 1 FROM imp_groups s
                          WHERE s.group_ref = g.group_ref AND s.member_ref = b.reference)"""
    )
    # Each staged schedule summed up in one pass (2.4 million rows for 100,000 loans): what
    # the schedule checks, the loans' dates and the repayment check need of it.
    cursor.execute(
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
        FROM imp_schedule GROUP BY loan_ref"""
    )
    cursor.execute("CREATE UNIQUE INDEX ON imp_sched_loan (loan_ref)")
    cursor.execute("ANALYZE imp_sched_loan")
    cursor.execute(
        """
        CREATE TEMP TABLE imp_r_loan ON COMMIT DROP AS
        SELECT DISTINCT ON (s.ref) s.ref, s.row_no, l.id, s.borrower_ref, s.product_code,
               s.principal, s.disbursed_on, COALESCE(l.status, 'active') AS status,
               NULLIF(s.group_ref, '') AS group_ref
        FROM imp_loans s LEFT JOIN loans_loan l ON l.reference = s.ref
        WHERE s.ref <> ''
        ORDER BY s.ref, s.row_no"""
    )
    cursor.execute(
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
          AND l.reference NOT IN (SELECT ref FROM imp_loans)"""
    )
    cursor.execute("CREATE UNIQUE INDEX ON imp_r_loan (ref)")
    # How much each loan's schedule asks for in all: the staged schedule, else the portal's.
    cursor.execute(
        """
        CREATE TEMP TABLE imp_sched_total ON COMMIT DROP AS
        SELECT loan_ref, total FROM imp_sched_loan
        UNION ALL
        SELECT r.ref, SUM(i.principal_due + i.interest_due)
        FROM imp_r_loan r JOIN loans_instalment i ON i.loan_id = r.id
        WHERE NOT EXISTS (SELECT 1 FROM imp_sched_loan s WHERE s.loan_ref = r.ref)
        GROUP BY r.ref"""
    )
    # Each guarantee's guarantor, as a party: a borrower (B:ref) or a guarantor who is not
    # one of our borrowers (G:ref). A guarantor_ref names a guarantor first, else a borrower.
    cursor.execute(
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
        WHERE s.loan_ref <> '' AND s.guarantor_ref <> ''"""
    )
    # Joint groups: every other current member guarantees a member's loan.
    cursor.execute(
        """
        CREATE TEMP TABLE imp_cross ON COMMIT DROP AS
        SELECT l.ref AS loan_ref, 'B:' || m.member_ref AS party, m.member_ref
        FROM imp_r_loan l JOIN imp_r_member m ON m.group_ref = l.group_ref
        WHERE l.row_no IS NOT NULL AND m.member_ref <> l.borrower_ref"""
    )
    # The schedule's rows in order, once: duplicates and dates that do not increase.
    cursor.execute(
        """CREATE TEMP TABLE imp_sched_order ON COMMIT DROP AS
           SELECT row_no, loan_ref, seq, due_on,
                  LAG(seq) OVER w AS previous_seq, LAG(row_no) OVER w AS previous_row,
                  LAG(due_on) OVER w AS previous_due
           FROM imp_schedule WHERE source = 'file' AND seq IS NOT NULL AND loan_ref <> ''
           WINDOW w AS (PARTITION BY loan_ref ORDER BY seq, row_no)"""
    )
    for table in ("imp_r_product", "imp_r_officer", "imp_r_group", "imp_r_member"):
        cursor.execute(f"ANALYZE {table}")


@dataclass(frozen=True)
class Check:
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


def _checks() -> list[Check]:
    methods = ", ".join(f"'{m}'" for m in METHODS)

    def unknown(what: str):
        return lambda value: UNKNOWN[what] % {"value": value}

    def loan_known(table: str, where: str = "") -> Check:
        """A table's loan_ref names a loan of this import or of the portal."""
        return Check(
            table,
            "loan_ref",
            f"""SELECT s.row_no, s.loan_ref FROM imp_{table} s
               WHERE {where}s.loan_ref <> ''
                 AND NOT EXISTS (SELECT 1 FROM imp_r_loan l WHERE l.ref = s.loan_ref)
               ORDER BY s.row_no""",
            unknown("loan"),
        )

    checks = _duplicate_checks() + _party_checks("borrowers") + _party_checks("guarantors")
    checks += [
        # Products
        *[
            Check(
                "products",
                high,
                f"""SELECT p.row_no FROM imp_r_product p
                    WHERE p.row_no IS NOT NULL AND p.{low} > p.{high} ORDER BY p.row_no""",
                lambda low=low, high=high: (
                    _("%(low)s is above %(high)s.") % {"low": low, "high": high}
                ),
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
            unknown("borrower"),
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
                _("This borrower is already a member of the active group %(group)s.")
                % {"group": group}
            ),
        ),
        Check(
            "groups",
            "group_ref",
            """SELECT row_no FROM imp_r_group WHERE row_no IS NOT NULL AND status = 'dissolved'
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
            unknown("borrower"),
        ),
        Check(
            "loans",
            "product_code",
            """SELECT s.row_no, s.product_code FROM imp_loans s
               WHERE s.product_code <> ''
                 AND NOT EXISTS (SELECT 1 FROM imp_r_product p WHERE p.code = s.product_code)
               ORDER BY s.row_no""",
            unknown("product"),
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
                    _(
                        "%(value)s is neither in the officers table nor a loan officer in the "
                        "portal."
                    )
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
                _("%(value)s is no longer active; choose an active loan officer.")
                % {"value": value}
            ),
        ),
        Check(
            "loans",
            "branch",
            """SELECT s.row_no, s.managing_officer FROM imp_loans s
               JOIN imp_r_officer o ON o.username = s.managing_officer
               WHERE s.branch = '' AND o.branch IS NULL ORDER BY s.row_no""",
            lambda officer: (
                _("Give the branch: the managing officer %(officer)s has none.")
                % {"officer": officer}
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
                WHERE s.repayment_method IN ({methods}) AND cardinality(p.methods) > 0
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
            unknown("group"),
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
            """WITH pairs AS (
                   SELECT loan_ref, party FROM imp_r_guarantee WHERE party IS NOT NULL
                   UNION
                   SELECT l.reference, CASE WHEN b.id IS NOT NULL THEN 'B:' || b.reference
                                            ELSE 'G:' || g.reference END
                   FROM borrowers_guarantee gt
                   JOIN loans_loan l ON l.id = gt.loan_id
                   JOIN borrowers_guarantor g ON g.id = gt.guarantor_id
                   LEFT JOIN borrowers_borrower b ON b.id = g.borrower_id
                   WHERE gt.status = 'active' AND l.reference IN (SELECT ref FROM imp_loans)
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
        loan_known("schedule", where="s.row_no IS NOT NULL AND "),
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
        loan_known("guarantees"),
        Check(
            "guarantees",
            "guarantor_ref",
            """SELECT row_no, guarantor_ref FROM imp_r_guarantee WHERE source IS NULL
               ORDER BY row_no""",
            lambda value: (
                _("No guarantor or borrower %(value)s in this import or the portal.")
                % {"value": value}
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
        loan_known("repayments"),
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
            """SELECT s.row_no FROM imp_repayments s JOIN imp_r_loan l ON l.ref = s.loan_ref
               LEFT JOIN loans_repayment r ON r.loan_id = l.id AND r.reference = s.reference
               WHERE l.status = 'written_off'
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
        loan_known("collateral"),
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
    return checks


# The cap on active guarantees per guarantor (BusinessSettings.max_active_guarantees), over
# what the portal has and what the import adds, the joint groups' cross-guarantees included.
CAP_SQL = """
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
    WHERE gt.status = 'active'
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


def _run_checks(cursor, labels: dict[str, str], errors: _Errors, as_of: date) -> None:
    for check in _checks():
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


# --- Pass 3: writes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A target column: its value from the staged row, and the header it depends on (None:
    always written). When that header is absent, an insert uses `absent` (else the
    column's default) and an update leaves the column alone."""

    name: str
    expr: str
    header: str | None = None
    absent: str | None = None


def _upsert(
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
                fallback = _literal(spec.column(column.header))
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


def _count(result: ImportResult, table: str, created: int = 0, updated: int = 0) -> None:
    count = result.counts.get(table)
    if count is None:  # a table the import does not have
        return
    count.created += created
    count.updated += updated


def _write_dimensions(cursor, present, result: ImportResult) -> None:
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
    created, updated = _upsert(
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
    _count(result, "products", created, updated)
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
    _count(result, "officers", created, updated)
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


def _write_parties(cursor, present, result: ImportResult, as_of: date) -> None:
    """Borrowers (with the timeline of their changed facts) and guarantors."""
    p = present["borrowers"]
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
    created, updated = _upsert(
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
    _count(result, "borrowers", created, updated)
    cursor.execute("ANALYZE borrowers_borrower")
    # A guarantor record that mirrors a borrower follows the borrower's contact details.
    cursor.execute(
        """UPDATE borrowers_guarantor g SET name = b.name, mobile = b.mobile, address = b.address
           FROM borrowers_borrower b
           WHERE g.borrower_id = b.id AND b.reference IN (SELECT ref FROM imp_borrowers)
             AND (g.name, g.mobile, g.address) IS DISTINCT FROM (b.name, b.mobile, b.address)
             AND g.reference NOT IN (SELECT ref FROM imp_guarantors)"""
    )
    columns = [
        Target("reference", "s.ref"),
        Target("kind", "s.kind"),
        Target("name", "s.name"),
        Target("id_number", "CASE WHEN s.kind = 'person' THEN s.id_number END"),
        Target("credit_code", "CASE WHEN s.kind = 'enterprise' THEN s.id_number END"),
        Target("mobile", "s.phone", "phone"),
        Target("address", "s.address", "address"),
    ]
    created, updated = _upsert(
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
    _count(result, "guarantors", created, updated)
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


def _write_groups(cursor, present, result: ImportResult) -> None:
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
        """
        INSERT INTO borrowers_jointgroup (name, reference, product_id, lead_id, status, formed_on,
                                          dissolved_reason, version)
        SELECT g.name, g.group_ref, p.id, lead.id, 'active', g.formed_on, '', 1
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
    _count(result, "groups", cursor.rowcount, updated)


def _new_loans(cursor) -> int:
    """The loans this import creates (imp_new_loans), once for every write that asks."""
    cursor.execute(
        """CREATE TEMP TABLE imp_new_loans ON COMMIT DROP AS
           SELECT s.ref FROM imp_loans s
           WHERE NOT EXISTS (SELECT 1 FROM loans_loan l WHERE l.reference = s.ref)"""
    )
    return cursor.rowcount


def _write_loans(cursor, present, result: ImportResult, as_of: date) -> None:
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
    created, updated = _upsert(
        cursor,
        table="loans",
        target="loans_loan",
        source=source,
        columns=columns,
        keys=["reference"],
        present=present["loans"],
        insert_extra={"status": "'active'", "created_at": "now()", "version": "1"},
        update_extra={"version": "loans_loan.version + 1"},
        order_by="src.reference",
    )
    _count(result, "loans", created, updated)
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
        """UPDATE postloan_inspection i SET assigned_to_id = r.to_id FROM imp_reassigned r
           WHERE i.loan_id = r.loan_id AND i.status = 'open'"""
    )


def _write_ledger(cursor, present, result: ImportResult, as_of: date) -> None:
    """Schedules, repayments, allocations and instalment paid amounts, loan status."""
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
    _count(result, "schedule", created, updated)
    cursor.execute("SELECT COUNT(*) FROM imp_replace")
    result.derived[gettext_noop("schedules written")] = cursor.fetchone()[0]

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
    created, updated = _upsert(
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
    _count(result, "repayments", created, updated)

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
    _settle(cursor, result, as_of)


# The allocation of loans.ledger.allocate, set-based: the schedule, oldest instalment first
# (due date, then seq), is a line of money — each instalment's interest, then its
# principal; the payments, in (paid_on, id) order, are another line from the same origin.
# A payment pays exactly the parts of the schedule line that its own interval covers.
# The arithmetic is in integer cents (exact, and several times faster than numeric over
# millions of rows); amounts go back to yuan, exactly, as they are written.
ALLOCATE_SQL = [
    """CREATE TEMP TABLE imp_dues ON COMMIT DROP AS
       SELECT loan_id, seq, due_on, interest_due, principal_due, replaced, interest_c,
              principal_c,
              (SUM(interest_c + principal_c) OVER (w ROWS UNBOUNDED PRECEDING))::bigint
                  - (interest_c + principal_c) AS starts
       FROM (
           SELECT loan_id, seq, due_on, interest_due, principal_due, replaced,
                  (interest_due * 100)::bigint AS interest_c,
                  (principal_due * 100)::bigint AS principal_c
           FROM (
               SELECT loan_id, seq, due_on, interest_due, principal_due, true AS replaced
               FROM imp_sched_ids WHERE loan_id IN (SELECT loan_id FROM imp_replace)
               UNION ALL
               SELECT i.loan_id, i.seq, i.due_on, i.interest_due, i.principal_due, false
               FROM loans_instalment i
               WHERE i.loan_id IN (SELECT loan_id FROM imp_affected)
                 AND i.loan_id NOT IN (SELECT loan_id FROM imp_replace)
           ) lines
       ) schedule
       WINDOW w AS (PARTITION BY loan_id ORDER BY due_on, seq)""",
    """CREATE TEMP TABLE imp_paid ON COMMIT DROP AS
       SELECT repayment_id, loan_id, amount,
              (SUM(amount) OVER (w ROWS UNBOUNDED PRECEDING))::bigint - amount AS starts
       FROM (SELECT r.id AS repayment_id, r.loan_id, r.paid_on,
                    (r.amount * 100)::bigint AS amount
             FROM loans_repayment r
             WHERE r.loan_id IN (SELECT loan_id FROM imp_affected)
               AND r.reversed_at IS NULL) payments
       WINDOW w AS (PARTITION BY loan_id ORDER BY paid_on, repayment_id)""",
    """CREATE TEMP TABLE imp_paid_total ON COMMIT DROP AS
       SELECT loan_id, SUM(amount)::bigint AS total FROM imp_paid GROUP BY loan_id""",
    "ANALYZE imp_dues",
    "ANALYZE imp_paid",
    "ANALYZE imp_paid_total",
    """CREATE TEMP TABLE imp_alloc ON COMMIT DROP AS
       SELECT d.loan_id, d.seq, p.repayment_id,
              GREATEST(LEAST(p.starts + p.amount, d.starts + d.interest_c)
                       - GREATEST(p.starts, d.starts), 0) AS interest,
              GREATEST(LEAST(p.starts + p.amount, d.starts + d.interest_c + d.principal_c)
                       - GREATEST(p.starts, d.starts + d.interest_c), 0) AS principal
       FROM imp_paid p JOIN imp_dues d ON d.loan_id = p.loan_id
        AND p.starts < d.starts + d.interest_c + d.principal_c
        AND d.starts < p.starts + p.amount""",
]


def _allocate(cursor) -> None:
    cursor.execute("SET LOCAL work_mem = '256MB'")
    for statement in ALLOCATE_SQL:
        cursor.execute(statement)


def _settle(cursor, result: ImportResult, as_of: date) -> None:
    """A loan paid in full is settled on its last payment; one that no longer is, reopens."""
    cursor.execute(
        """CREATE TEMP TABLE imp_status ON COMMIT DROP AS
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
           WHERE (l.status = 'active' AND o.outstanding = 0)
              OR (l.status = 'settled' AND o.outstanding > 0)"""
    )
    cursor.execute(
        """INSERT INTO loans_loanstatuschange (loan_id, from_status, to_status, effective_on,
               changed_by_id, reason, created_at)
           SELECT id, status, CASE WHEN status = 'active' THEN 'settled' ELSE 'active' END,
                  CASE WHEN status = 'active' THEN last_paid ELSE %(as_of)s END, NULL,
                  CASE WHEN status = 'active' THEN %(paid)s ELSE %(changed)s END, now()
           FROM imp_status ORDER BY id""",
        {"as_of": as_of, "paid": texts.PAID_IN_FULL, "changed": CHANGED_BY_IMPORT},
    )
    cursor.execute(
        """UPDATE loans_loan l
           SET status = CASE WHEN s.status = 'active' THEN 'settled' ELSE 'active' END,
               closed_on = CASE WHEN s.status = 'active' THEN s.last_paid END
           FROM imp_status s WHERE s.id = l.id"""
    )
    cursor.execute("SELECT COUNT(*) FILTER (WHERE status = 'active') FROM imp_status")
    result.derived[gettext_noop("loans settled")] = cursor.fetchone()[0]


def _write_guarantees(cursor, present, result: ImportResult) -> None:
    # A member's loan is guaranteed by every other current member of the group.
    cursor.execute(
        """INSERT INTO borrowers_guarantee (loan_id, guarantor_id, kind, group_id, amount,
               signed_on, status, status_note, created_at)
           SELECT l.id, g.id, 'joint_group', l.group_id, NULL, l.disbursed_on, 'active', '', now()
           FROM imp_cross c JOIN imp_loan_ids l ON l.ref = c.loan_ref
           JOIN imp_guarantor_ids g ON g.party = c.party
           WHERE l.group_id IS NOT NULL
           ORDER BY l.id, g.id
           ON CONFLICT (loan_id, guarantor_id) WHERE status = 'active' DO NOTHING"""
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
    created, updated = _upsert(
        cursor,
        table="guarantees",
        target="borrowers_guarantee",
        source=source,
        columns=columns,
        keys=["loan_id", "guarantor_id"],
        present=present["guarantees"],
        insert_extra={
            "kind": "'ordinary'",
            "status": "'active'",
            "status_note": "''",
            "created_at": "now()",
        },
        conflict_where="status = 'active'",
        order_by="src.loan_id, src.guarantor_id",
    )
    _count(result, "guarantees", created, updated)


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


def _write_collateral(cursor, present, result: ImportResult) -> None:
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
    _count(result, "collateral", created, updated)
    if given:
        sets = ", ".join(f"{f} = s.{f}" for f in given)
        owner = ", owner_is_borrower = (s.owner_name = '')" if "owner_name" in p else ""
        cursor.execute(
            f"""UPDATE loans_collateral c SET {sets}{owner}
                FROM imp_w_collateral s WHERE c.id = s.collateral_id AND {differs}"""
        )
    spec = TABLES["collateral"]
    values = ", ".join(f"s.{f}" if f in p else _literal(spec.column(f)) for f in COLLATERAL_FIELDS)
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


def _write_handovers(cursor, result: ImportResult, as_of: date) -> None:
    """Loans disbursed in the 30 days up to the cut-over date are still to be handed over
    (Art. 3); older ones were handed over, and assigned to their officer, in the system
    the book comes from (their history stays there)."""
    from common.calendar import working_day_calendar

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


# --- The import ---------------------------------------------------------------------------------


def import_portfolio(
    path: Path | str,
    *,
    dry_run: bool = False,
    as_of: date | None = None,
    label: str | None = None,
    classify: bool = True,
) -> ImportResult:
    """Import the book at `path` (a folder of CSV files or an .xlsx workbook), as it stood
    at the end of `as_of` (the cut-over date; default today).

    Nothing is written when any row has an error, nor on a dry run (which does all the
    work and rolls back, so its counts are those of the real import). After a real import
    the portfolio is classified as of `as_of` and that month's inspections planned.
    """
    started = time.monotonic()
    as_of = as_of or timezone.localdate()
    result = ImportResult(dry_run=dry_run, as_of=as_of)
    errors = _Errors(result)
    problem = cut_over_problem(as_of)
    if problem:
        errors.add(label or Path(path).name, None, "", problem)
        return result
    sheets = open_source(path, errors, label=label)
    labels = {sheet.table: sheet.label for sheet in sheets}
    # The audit context names the import (within a command's or a request's, if any). It
    # also keeps the audit triggers cheap: without a context each row's trigger raises and
    # catches an error, whose subtransaction abort scans every pending trigger event.
    with pghistory.context(portfolio_import=label or Path(path).name):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                _import(cursor, sheets, labels, errors, result, as_of=as_of, dry_run=dry_run)
        except ImportFailed:
            pass
    if result.ok and not dry_run and classify:
        result.classification = _classify(as_of, result)
    result.seconds = time.monotonic() - started
    return result


def cut_over_problem(as_of: date) -> str | None:
    """Why the files cannot be the book as it stood at the end of `as_of`, or None: the
    book of a day that is not over yet is not known."""
    today = timezone.localdate()
    if as_of > today:
        return str(
            _(
                "The cut-over date %(date)s is in the future: give today (%(today)s) or an "
                "earlier day."
            )
            % {"date": as_of.isoformat(), "today": today.isoformat()}
        )
    return None


def _import(cursor, sheets, labels, errors: _Errors, result: ImportResult, *, as_of, dry_run):
    # One import at a time: two imports of the same refs would race on the checks.
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK])
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '128MB'")
    _create_staging(cursor)
    present: dict[str, set[str]] = {name: set() for name in TABLE_ORDER}
    for sheet in sheets:
        rows, present[sheet.table] = _stage(cursor, sheet, errors, as_of)
        result.counts[sheet.table] = TableCount(rows=rows)
    for statement in STAGING_INDEXES:
        cursor.execute(statement)
    _stage_schedules(cursor, has_schedule_table="schedule" in labels)
    for name in TABLE_ORDER:
        cursor.execute(f"ANALYZE imp_{name}")
    _resolve(cursor, present, as_of)
    _run_checks(cursor, labels, errors, as_of)
    if errors:
        raise ImportFailed
    try:
        with transaction.atomic():
            # Foreign keys checked statement by statement, not millions of them queued
            # for the commit.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            with _first_load(cursor, result, new=_new_loans(cursor)):
                _write_dimensions(cursor, present, result)
                _write_parties(cursor, present, result, as_of)
                _write_groups(cursor, present, result)
                _write_loans(cursor, present, result, as_of)
                _write_ledger(cursor, present, result, as_of)
                _write_guarantees(cursor, present, result)
                _write_collateral(cursor, present, result)
                _write_handovers(cursor, result, as_of)
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    except DatabaseError as error:
        # A rule the checks above missed, caught by a database constraint.
        errors.add(
            "",
            None,
            "",
            _("The database refused the import: %(error)s")
            % {"error": str(error).strip().splitlines()[0]},
        )
        raise ImportFailed from error
    if dry_run:
        transaction.set_rollback(True)


# A first load (see _first_load): these tables' indexes and keys are built after the rows.
FIRST_LOAD_TABLES = (
    "borrowers_borrower",
    "borrowers_borrowerevent",
    "borrowers_guarantor",
    "borrowers_guarantorevent",
    "borrowers_guarantee",
    "borrowers_guaranteeevent",
    "loans_loan",
    "loans_loanevent",
    "loans_instalment",
    "loans_repayment",
    "loans_repaymentevent",
    "loans_allocation",
)
# What an ON CONFLICT clause of the writes needs while they run (joint-group guarantees).
FIRST_LOAD_KEEP = ("one_active_guarantee_per_loan_and_guarantor",)


def _first_load(cursor, result: ImportResult, *, new: int):
    """A first load builds its tables' indexes and keys after its rows (common.bulkload).

    It is one when the import creates at least settings.DAIHOU_IMPORT_FIRST_LOAD_MIN_LOANS loans
    and at least as many as the portal already holds: re-checking every key in one pass then
    costs at most about twice the rows written, against one lookup and lock per row (at
    100,000 loans, 7 million of them). Until it commits, such an import keeps other
    sessions from reading the borrower, loan and ledger tables (docs/decisions.md).
    """
    cursor.execute("SELECT COUNT(*) FROM loans_loan")
    existing = cursor.fetchone()[0]
    if new < settings.DAIHOU_IMPORT_FIRST_LOAD_MIN_LOANS or new < existing:
        return contextlib.nullcontext()
    result.notes.append(
        str(
            _(
                "First load (%(count)s new loans): the indexes and keys of the borrower and "
                "loan tables are built after the rows; other users' pages wait until the "
                "import ends."
            )
            % {"count": new}
        )
    )
    return deferred_indexes_and_keys(cursor, FIRST_LOAD_TABLES, keep=FIRST_LOAD_KEEP)


def _classify(as_of: date, result: ImportResult):
    """Classify the portfolio as of the cut-over date, so the dashboard is right at once, and
    plan that month's inspections; the nightly run catches up from there."""
    from postloan.inspections.planning import schedule_inspections
    from postloan.risk.nightly import RunInProgress, classify_portfolio

    # The import may have changed these tables more than autovacuum has seen yet: without
    # fresh statistics the planning's anti-joins were planned for empty tables (measured:
    # 37 s instead of 0.6 s on a re-import of 100,000 loans).
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE loans_loan, loans_instalment, loans_repayment, loans_collateral, "
            "borrowers_guarantee, postloan_loanriskstate, postloan_riskflag, postloan_inspection"
        )
    try:
        run = classify_portfolio(as_of=as_of, trigger="import")
    except RunInProgress:
        result.notes.append(
            str(_("A classification run was in progress: the new loans are classified by it."))
        )
        return None
    schedule_inspections(as_of=as_of)
    if not run.updated_state:
        # The portal's loans are classified as of a later day (a portal already live: its
        # night ran after the cut-over). A run dated before that one changes no state, so
        # the new loans would wait unclassified for the next night: catch them up now, as
        # that night would (the latest run again, and its month's planning).
        from postloan.risk.nightly import latest_state_date

        latest = latest_state_date()
        if latest is not None and latest > as_of:
            classify_portfolio(as_of=latest, trigger="import")
            schedule_inspections(as_of=latest)
            result.notes.append(
                str(
                    _(
                        "The portal's loans were already classified as of %(latest)s, after the "
                        "cut-over date: the portfolio was classified and planned as of "
                        "%(latest)s too."
                    )
                    % {"latest": latest.isoformat()}
                )
            )
    return run
