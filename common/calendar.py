"""The working-day calendar with the admins' overrides loaded from the database."""

from __future__ import annotations

from datetime import date

from common.models import CalendarOverride
from common.workdays import WorkingDayCalendar, WorkingDayResult, package_covered_years


def working_day_calendar() -> WorkingDayCalendar:
    overrides = dict(CalendarOverride.objects.values_list("day", "is_working_day"))
    return WorkingDayCalendar(overrides=overrides)


def add_working_days(start: date, days: int) -> WorkingDayResult:
    return working_day_calendar().add_working_days(start, days)


def uncovered_years(*years: int) -> list[int]:
    """Years (of those given) that neither the package nor any override covers.

    Admins are warned on their landing page to load the holiday notice for these; until
    then Monday to Friday count as working days and due dates are marked provisional.
    """
    covered = package_covered_years()
    with_overrides = set(
        CalendarOverride.objects.filter(day__year__in=years)
        .values_list("day__year", flat=True)
        .distinct()
    )
    return [y for y in years if y not in covered and y not in with_overrides]
