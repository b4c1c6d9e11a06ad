"""Chinese working days (工作日): public holidays off, make-up weekend days (调休) on.

Three sources, in order of precedence:

1. overrides an admin entered (date -> is it a working day), for years the package does not
   cover yet or for a one-off decision;
2. the `chinese_calendar` package, which follows the State Council's yearly notice;
3. otherwise Monday to Friday. A day decided this way is *provisional*: the notice for its
   year was not known, so a due date computed through it may move once it is.

Pure: the overrides come in as a parameter; loading them from the database is the caller's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType

import chinese_calendar
import chinese_calendar.constants


def package_covered_years() -> range:
    """The years `chinese_calendar` knows; it raises NotImplementedError outside them."""
    # The same bounds the package itself enforces (chinese_calendar.utils._validate_date).
    years = [day.year for day in chinese_calendar.constants.holidays]
    return range(min(years), max(years) + 1)


_COVERED_YEARS = package_covered_years()


@dataclass(frozen=True)
class WorkingDayResult:
    day: date
    # True when some day counted on the way was decided by the Monday-to-Friday fallback.
    provisional: bool


@dataclass(frozen=True)
class WorkingDayCalendar:
    """Working days under the package's data, with admin overrides on top."""

    overrides: Mapping[date, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A read-only copy: a calendar handed to a batch job must not change under it when the
        # caller's dict does.
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        for day in self.overrides:
            _require_date(day)
        # A year for which admins entered overrides is a loaded calendar: they enter the
        # State Council's holidays and make-up working days, and every other day is an
        # ordinary weekday or weekend.
        object.__setattr__(self, "_loaded_years", frozenset(day.year for day in self.overrides))

    def _decide(self, day: date) -> tuple[bool, bool]:
        """(is it a working day, is that known rather than the Mon-Fri fallback)."""
        _require_date(day)
        if day in self.overrides:
            return self.overrides[day], True
        if day.year in _COVERED_YEARS:
            return chinese_calendar.is_workday(day), True
        return day.weekday() < 5, day.year in self._loaded_years

    def is_working_day(self, day: date) -> bool:
        return self._decide(day)[0]

    def is_known(self, day: date) -> bool:
        """True if an override or the package decides `day`; False if only Mon-Fri does."""
        return self._decide(day)[1]

    def add_working_days(self, start: date, days: int) -> WorkingDayResult:
        """The day on which the `days`-th working day after `start` falls.

        `start` itself is not counted (a notice served on Friday with 3 working days to reply
        is due on Wednesday). `days=0` returns `start` unchanged, even when it is a holiday,
        and not provisional: no day was counted. Negative `days` raise ValueError.
        """
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days}")
        _require_date(start)
        day = start
        provisional = False
        remaining = days
        while remaining:
            day += timedelta(days=1)
            is_working, known = self._decide(day)
            provisional = provisional or not known
            if is_working:
                remaining -= 1
        return WorkingDayResult(day=day, provisional=provisional)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: after `start`, up to and including `end`.

        The half-open interval makes this the inverse of add_working_days:
        working_days_between(s, add_working_days(s, n).day) == n. It is 0 when end <= start.
        """
        _require_date(start)
        _require_date(end)
        span = (end - start).days
        return sum(
            self.is_working_day(start + timedelta(days=offset)) for offset in range(1, span + 1)
        )


def _require_date(day: object) -> None:
    # datetime is a subclass of date, but datetime(2026, 10, 1) != date(2026, 10, 1), so an
    # override would silently not match; and which date a timestamp falls on depends on the
    # time zone, which the caller knows and we do not.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date, got {day!r}")
