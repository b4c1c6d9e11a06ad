"""What an import reports: its counts per table, what it derived, and every error where the
user finds it (file, row, column), in the user's language."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

MAX_ERRORS = 10_000


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


class Errors:
    """The errors of one import, kept in its result (at most MAX_ERRORS, the rest counted);
    true once there is any."""

    def __init__(self, result: ImportResult):
        self.result = result

    def add(self, file: str, row: int | None, column: str, message) -> None:
        if len(self.result.errors) >= MAX_ERRORS:
            self.result.errors_omitted += 1
            return
        self.result.errors.append(RowError(file, row, column, str(message)))

    def __bool__(self) -> bool:
        return not self.result.ok
