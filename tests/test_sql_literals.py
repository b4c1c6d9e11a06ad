"""SQL names tier and status values through their enums, never as typed literals (issue 17).

A statement that says `status = 'active'` is a second owner of the value: renaming it, or
adding a status to a set ("the adjustments once approved", "the non-performing tiers"),
would miss it, and nothing but a failing night would tell. So raw SQL takes the values
from the enums, through the one helper that makes an SQL literal of them
(`common.sqlvalues.sql_literal` / `sql_list`) or an expression built the same way
(`postloan.risk.rules_sql.NON_PERFORMING_SQL`, `rank_sql`, ...).

This test reads the project's source with `ast` (not its text: comments and docstrings may
say 'active'), finds every string that is SQL, and fails if one of them holds a quoted tier
or status value outside the module that owns it. A string is SQL when it contains a
statement keyword, is handed to `cursor.execute`, `RawSQL`, `.raw()`, `.extra()` or
`RunSQL`, or is itself an SQL fragment of literals (`"('substandard', 'doubtful', 'loss')"`,
`"status = 'active'"`). An f-string counts as a whole, with its placeholders left out, as
does a `+` chain of strings; gettext messages and docstrings are prose and are left out.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path

import pytest
from django.db import models

from postloan.risk.rules import Tier

ROOT = Path(__file__).resolve().parents[1]
# The project's own source; tests and migrations are not (a migration's SQL is history).
SOURCE_DIRS = ("common", "borrowers", "loans", "postloan", "portfolio", "portal", "config")

TIER_VALUES = frozenset(tier.value for tier in Tier)

# Modules that own values, with the values they may write as literals. The tiers' order,
# ranks, the count's tiers and the non-performing set are rules_sql's (built from
# rules.py's constants, today without one typed literal); sqlvalues is the one mapper.
OWNERS: dict[str, frozenset[str] | None] = {
    "postloan/risk/rules_sql.py": TIER_VALUES,
    "common/sqlvalues.py": None,  # None: every value
}

# TEMPORARY (issue 17): files with typed literals that another change in progress owns
# right now; they are to build their SQL from the enums as the others do, and then leave
# this list. fnmatch patterns over the path from the repository root.
PENDING: dict[str, str] = {}

# Status values left out as too generic to police: none so far. Every value of every
# status enum is checked.
GENERIC_STATUS_VALUES: frozenset[str] = frozenset()

SQL_KEYWORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE|CASE|WHEN|JOIN)\b", re.I)
# What is left of an SQL fragment once its quoted literals are taken out: at most one
# column compared (=, <>, !=, IN) with them, and the list's parentheses and commas.
SQL_FRAGMENT_REST = re.compile(r"\s*([\w.]+\s*(=|<>|!=|\bIN\b)\s*)?[\s(),]*", re.I)
# Calls whose (first) argument is SQL whatever it looks like.
SQL_CALLS = frozenset({"execute", "executemany", "raw", "extra", "RawSQL", "RunSQL"})
GETTEXT = frozenset(
    {
        "_",
        "gettext",
        "gettext_lazy",
        "gettext_noop",
        "ngettext",
        "ngettext_lazy",
        "pgettext",
        "pgettext_lazy",
    }
)


def _subclasses(cls: type) -> Iterator[type]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def status_enums() -> list[type[models.TextChoices]]:
    """Every TextChoices of the project whose name ends in Status (LoanStatus,
    GuaranteeStatus, InspectionStatus, TierAdjustment.Status, CollectionPlan.Status, ...).
    Django has imported every app's models by now."""
    return sorted(
        (
            enum
            for enum in _subclasses(models.TextChoices)
            if enum.__module__.split(".")[0] in SOURCE_DIRS and enum.__name__.endswith("Status")
        ),
        key=lambda enum: f"{enum.__module__}.{enum.__qualname__}",
    )


def policed_values() -> frozenset[str]:
    statuses = {value for enum in status_enums() for value in enum.values}
    return TIER_VALUES | (frozenset(statuses) - GENERIC_STATUS_VALUES)


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _text(node: ast.AST) -> str | None:
    """The text of a string expression (placeholders of an f-string left out), else None."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return None if left is None or right is None else left + right
    return None


def _docstrings(tree: ast.Module) -> set[int]:
    bodies = [tree] + [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    return {
        id(body.body[0].value)
        for body in bodies
        if body.body
        and isinstance(body.body[0], ast.Expr)
        and isinstance(body.body[0].value, ast.Constant)
        and isinstance(body.body[0].value.value, str)
    }


def _placeholders(node: ast.AST) -> Iterator[ast.FormattedValue]:
    """The placeholders of a string expression, not those nested inside them."""
    if isinstance(node, ast.FormattedValue):
        yield node
        return
    for child in ast.iter_child_nodes(node):
        yield from _placeholders(child)


def _strings(tree: ast.Module) -> Iterator[tuple[int, str, bool]]:
    """(line, text, handed to an SQL call) for every string expression that is not prose:
    the outermost of an f-string or a `+` chain, never its parts again."""
    skip = _docstrings(tree)
    sql_arguments: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name in GETTEXT:
                skip.update(id(argument) for argument in node.args)
            elif name in SQL_CALLS:
                sql_arguments.update(id(argument) for argument in node.args[:1])
                sql_arguments.update(id(k.value) for k in node.keywords if k.arg == "sql")

    def visit(node: ast.AST) -> Iterator[tuple[int, str, bool]]:
        text = _text(node)
        if text is not None:
            if id(node) not in skip:
                yield node.lineno, text, id(node) in sql_arguments
            # Strings inside an f-string's placeholders are strings of their own.
            for placeholder in _placeholders(node):
                yield from visit(placeholder.value)
            return
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(tree)


def offences(source: str, values: frozenset[str], allowed: frozenset[str] | None = frozenset()):
    """(line, value) for each quoted value of `values` in an SQL string of `source`, but
    those `allowed` (None: all)."""
    quoted = re.compile(r"'(" + "|".join(sorted(map(re.escape, values))) + r")'")
    found = []
    for line, text, handed_to_sql in _strings(ast.parse(source)):
        literals = list(quoted.finditer(text))
        if not literals:
            continue
        is_sql = (
            handed_to_sql
            or SQL_KEYWORDS.search(text)
            or SQL_FRAGMENT_REST.fullmatch(quoted.sub("", text))
        )
        if is_sql and allowed is not None:
            # The literal's own line (exact for a plain string, near it in an f-string).
            found += [
                (line + text.count("\n", 0, literal.start()), literal[1])
                for literal in literals
                if literal[1] not in allowed
            ]
    return found


def _source_files() -> Iterator[tuple[str, Path]]:
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(ROOT).as_posix(), path


def test_sql_takes_tier_and_status_values_from_the_enums():
    values = policed_values()
    found = []
    for relative, path in _source_files():
        if any(fnmatch(relative, pattern) for pattern in PENDING):
            continue
        allowed = OWNERS.get(relative, frozenset())
        found += [
            f"{relative}:{line}: '{value}'"
            for line, value in offences(path.read_text(encoding="utf-8"), values, allowed)
        ]
    assert found == [], (
        "tier or status values typed into SQL; build them from the enum "
        "(common.sqlvalues.sql_literal / sql_list, postloan.risk.rules_sql):\n" + "\n".join(found)
    )


def test_the_status_enums_are_found():
    # The guard is only as good as the values it knows: if the enums stopped being found
    # (a model module renamed, TextChoices replaced), it would pass on anything.
    names = {f"{enum.__module__}.{enum.__qualname__}" for enum in status_enums()}
    assert {
        "loans.models.LoanStatus",
        "loans.models.CollateralStatus",
        "borrowers.models.GuaranteeStatus",
        "borrowers.models.GroupStatus",
        "postloan.models.inspections.InspectionStatus",
        "postloan.models.classification.TierAdjustment.Status",
        "postloan.models.visits.CollectionPlan.Status",
        "postloan.models.visits.CollectionStep.Status",
    } <= names
    assert {"active", "settled", "open", "lapsed", "normal", "loss"} <= policed_values()


def test_pending_and_owners_name_files_that_exist():
    files = {relative for relative, _ in _source_files()}
    for pattern in PENDING:
        assert any(fnmatch(relative, pattern) for relative in files), pattern
    assert set(OWNERS) <= files


# --- The guard itself, on small sources ---------------------------------------------------------

VALUES = frozenset({"active", "settled", "open", "normal", "substandard", "doubtful", "loss"})


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("cursor.execute(\"UPDATE loans_loan SET status = 'settled'\")", [(1, "settled")]),
        ('SQL = """\nSELECT id FROM loans_loan\nWHERE status = \'active\'"""', [(3, "active")]),
        ("q = f\"SELECT 1 FROM t WHERE a IN {xs} OR tier = 'loss'\"", [(1, "loss")]),
        (
            "NON_PERFORMING = \"('substandard', 'doubtful', 'loss')\"",
            [(1, "substandard"), (1, "doubtful"), (1, "loss")],
        ),
        ('sql = "SELECT id FROM postloan_inspection " + "WHERE status = \'open\'"', [(1, "open")]),
        ("RawSQL(\"status = 'active'\", [])", [(1, "active")]),
        ("q.extra(where=[\"status = 'open'\"])", [(1, "open")]),
        ("x = \"status = 'active'\"", [(1, "active")]),
        ('q = f"WHERE status = {sql_literal(LoanStatus.ACTIVE)}"', []),
        ('def f():\n    """Loans WHERE the status is \'active\'."""', []),
        ("message = _(\"Select the 'open' inspections where you went\")", []),
        ('Loan.objects.filter(status="active")', []),
        ("q = \"SELECT 1 WHERE kind = 'off_plan' AND x = 'actives'\"", []),
        ("log = \"the loan is 'active' again\"", []),  # prose without a keyword
    ],
)
def test_the_guard_finds_typed_literals_in_sql_and_nothing_else(source, found):
    assert offences(source, VALUES) == found


def test_an_owner_may_write_its_own_values_but_no_others():
    source = "TIERS = \"ARRAY['normal', 'loss']\"\nQ = \"SELECT 1 WHERE status = 'active'\""
    assert offences(source, VALUES, frozenset({"normal", "loss"})) == [(2, "active")]
    assert offences(source, VALUES, None) == []
