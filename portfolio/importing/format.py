"""The format of an import (docs/import-format.md): its tables, their columns, and what a
cell of each column may hold.

`TABLES` is the one description of the files: the staging tables (staging.py), the header
checks, the cell converters below, the writes' defaults, the template (import_template.py)
and the export (exporting.py) all read it. A cell is checked and converted by its column's
`converter` (pass 1, in Python as the file streams by); a clean CSV line takes one regular
expression instead (`fast_line`), which accepts only what the converters would pass
unchanged. `ROW_CHECKS` are the checks across one row's cells.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from common import idnumbers
from common.money import NotPlainDecimal, parse_plain_decimal

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


def literal(column: Column) -> str:
    """The column's default as an SQL literal of its staged type."""
    if column.default is None:
        return "''" if column.is_text else f"NULL::{column.sql_type}"
    if column.type == "list":
        return "'{}'::text[]" if column.default == "" else f"'{{{column.default}}}'::text[]"
    if column.type == "bool":
        return "true" if column.default == "true" else "false"
    return f"'{column.default}'::{column.sql_type}"


# --- Cells: each one checked and converted ---------------------------------------------------

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


Convert = Callable[[str], str | None]
Empty = Callable[[], str | None]


def converter(column: Column, as_of: str) -> Convert:
    """A function from the cell's text to the staged text (or None), raising CellError.
    `as_of` is the cut-over date (YYYY-MM-DD): a fact's date may not be after it.

    One converter per column type below; each is made once per column of a file, so that
    what it needs (the column, its default, the dates already seen) is at hand per cell."""
    default = column.default

    def empty() -> str | None:
        if default is not None:
            return default
        if not column.blank:
            raise CellError(_("A value is required."))
        return None

    return _CONVERTERS.get(column.type, _text)(column, empty, as_of)


def _text(column: Column, empty: Empty, as_of: str) -> Convert:
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

    return text


def _a_date(column: Column, empty: Empty, as_of: str) -> Convert:
    dates_ok: dict[str, bool] = {}

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

    return a_date


def _money(column: Column, empty: Empty, as_of: str) -> Convert:
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

    return money


def _rate(column: Column, empty: Empty, as_of: str) -> Convert:
    def rate(value: str) -> str | None:
        value = value.strip()
        if not value:
            return empty()
        if not _RATE.fullmatch(value):
            raise CellError(
                _("Write the rate as a percent with a dot and at most three decimals (12.5).")
            )
        return value

    return rate


def _integer(column: Column, empty: Empty, as_of: str) -> Convert:
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

    return integer


def _enum(column: Column, empty: Empty, as_of: str) -> Convert:
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

    return enum


def _boolean(column: Column, empty: Empty, as_of: str) -> Convert:
    def boolean(value: str) -> str | None:
        value = value.strip().lower()
        if not value:
            return empty()
        if value in _TRUE:
            return "t"
        if value in _FALSE:
            return "f"
        raise CellError(_("Write true or false."))

    return boolean


def _choice_list(column: Column, empty: Empty, as_of: str) -> Convert:
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

    return choice_list


def _mobile(column: Column, empty: Empty, as_of: str) -> Convert:
    def mobile(value: str) -> str | None:
        value = value.strip()
        if not value:
            return empty()
        try:
            return idnumbers.validate_mobile(value)
        except ValidationError as error:
            raise CellError(" ".join(error.messages)) from None

    return mobile


def _username(column: Column, empty: Empty, as_of: str) -> Convert:
    text = _text(column, empty, as_of)

    def username(value: str) -> str | None:
        value = text(value)
        if value is not None and not _USERNAME.fullmatch(value):
            raise CellError(_("Usernames contain letters, digits and @ . + - _ only."))
        return value

    return username


_CONVERTERS: dict[str, Callable[[Column, Empty, str], Convert]] = {
    "date": _a_date,
    "money": _money,
    "rate": _rate,
    "int": _integer,
    "enum": _enum,
    "bool": _boolean,
    "list": _choice_list,
    "mobile": _mobile,
    "username": _username,
}


# --- Checks across a row's cells -------------------------------------------------------------


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


# --- A clean CSV line, by one regular expression ---------------------------------------------


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


def fast_line(table: Table, header: list[str]):
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
