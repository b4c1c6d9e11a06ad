"""Chinese working days: the package's calendar, admin overrides, the Mon-Fri fallback."""

from datetime import date, datetime, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.workdays import WorkingDayCalendar, WorkingDayResult, package_covered_years

CALENDAR = WorkingDayCalendar()
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


def test_the_package_covers_2026_and_the_range_matches_where_it_stops():
    covered = package_covered_years()
    assert 2026 in covered
    chinese_calendar.is_workday(date(covered[0], 1, 1))
    chinese_calendar.is_workday(date(covered[-1], 12, 31))
    for outside in (date(covered[0] - 1, 12, 31), date(covered[-1] + 1, 1, 1)):
        with pytest.raises(NotImplementedError):
            chinese_calendar.is_workday(outside)


def test_without_overrides_every_covered_day_is_the_packages_answer():
    covered = package_covered_years()
    day, last = date(covered[0], 1, 1), date(covered[-1], 12, 31)
    while day <= last:
        assert CALENDAR.is_working_day(day) == chinese_calendar.is_workday(day), day
        assert CALENDAR.is_known(day), day
        day += timedelta(days=1)


@pytest.mark.parametrize(
    ("day", "is_working_day"),
    [
        # An ordinary week: 9 to 15 March 2026, no holiday.
        (date(2026, 3, 9), True),
        (date(2026, 3, 10), True),
        (date(2026, 3, 11), True),
        (date(2026, 3, 12), True),
        (date(2026, 3, 13), True),
        (date(2026, 3, 14), False),
        (date(2026, 3, 15), False),
        # National Day 2026: Thursday 1 to Wednesday 7 October off; Sunday 20 September and
        # Saturday 10 October are make-up working days (调休).
        (date(2026, 9, 20), True),
        (date(2026, 9, 30), True),
        (date(2026, 10, 1), False),
        (date(2026, 10, 2), False),
        (date(2026, 10, 5), False),  # a Monday
        (date(2026, 10, 7), False),  # a Wednesday
        (date(2026, 10, 8), True),
        (date(2026, 10, 9), True),
        (date(2026, 10, 10), True),  # a Saturday
        (date(2026, 10, 11), False),
        # Spring Festival 2026: 15 to 23 February off; Saturdays 14 and 28 February worked.
        (date(2026, 2, 14), True),
        (date(2026, 2, 16), False),
        (date(2026, 2, 23), False),
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),
    ],
)
def test_2026_working_days(day, is_working_day):
    assert CALENDAR.is_working_day(day) is is_working_day
    assert CALENDAR.is_known(day)


def test_adding_working_days_across_national_day_2026():
    wednesday_before = date(2026, 9, 30)
    assert CALENDAR.add_working_days(wednesday_before, 1) == WorkingDayResult(
        day=date(2026, 10, 8), provisional=False
    )
    assert CALENDAR.add_working_days(wednesday_before, 3) == WorkingDayResult(
        day=date(2026, 10, 10), provisional=False
    )
    assert CALENDAR.add_working_days(wednesday_before, 4).day == date(2026, 10, 12)
    assert CALENDAR.working_days_between(wednesday_before, date(2026, 10, 10)) == 3
    assert CALENDAR.working_days_between(wednesday_before, date(2026, 10, 7)) == 0


def test_adding_working_days_in_an_ordinary_week_skips_the_weekend():
    friday = date(2026, 3, 13)
    assert CALENDAR.add_working_days(friday, 1).day == date(2026, 3, 16)
    assert CALENDAR.add_working_days(friday, 3).day == date(2026, 3, 18)
    assert CALENDAR.working_days_between(friday, date(2026, 3, 20)) == 5


def test_a_2027_day_without_override_is_monday_to_friday_and_provisional():
    assert 2027 not in package_covered_years()
    new_years_day_2027 = date(2027, 1, 1)  # a Friday; surely a holiday, but not yet known
    assert CALENDAR.is_working_day(new_years_day_2027)
    assert not CALENDAR.is_known(new_years_day_2027)
    assert not CALENDAR.is_working_day(date(2027, 1, 2))  # Saturday
    assert CALENDAR.add_working_days(date(2026, 12, 31), 1) == WorkingDayResult(
        day=new_years_day_2027, provisional=True
    )


def test_a_2027_override_is_known_and_wins():
    calendar = WorkingDayCalendar(
        overrides={
            date(2027, 1, 1): False,
            date(2027, 1, 2): False,
            date(2027, 1, 3): False,
            date(2027, 1, 4): True,
        }
    )
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert calendar.is_known(date(2027, 1, 1))
    # Every day examined was decided by an override, so the answer is not provisional.
    assert calendar.add_working_days(date(2026, 12, 31), 1) == WorkingDayResult(
        day=date(2027, 1, 4), provisional=False
    )
    # With overrides entered, 2027 is a loaded calendar: Tuesday 5 January is an ordinary
    # working day, not a guess.
    assert calendar.add_working_days(date(2026, 12, 31), 2) == WorkingDayResult(
        day=date(2027, 1, 5), provisional=False
    )
    # A year without any override still falls back to Monday to Friday, provisionally.
    assert calendar.add_working_days(date(2027, 12, 31), 1) == WorkingDayResult(
        day=date(2028, 1, 3), provisional=True
    )


def test_a_result_on_a_known_day_is_still_provisional_if_a_fallback_day_was_counted():
    calendar = WorkingDayCalendar(overrides={date(2028, 1, 4): True})
    # Friday 31 December 2027 counted only by the fallback (no 2027 overrides); Tuesday
    # 4 January 2028 is known.
    assert calendar.add_working_days(date(2027, 12, 30), 3) == WorkingDayResult(
        day=date(2028, 1, 4), provisional=True
    )


def test_overrides_take_precedence_over_the_package():
    calendar = WorkingDayCalendar(overrides={date(2026, 10, 1): True, date(2026, 10, 10): False})
    assert calendar.is_working_day(date(2026, 10, 1))
    assert not calendar.is_working_day(date(2026, 10, 10))
    assert calendar.working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == 3


def test_the_calendar_keeps_its_own_copy_of_the_overrides():
    overrides = {date(2027, 1, 1): False}
    calendar = WorkingDayCalendar(overrides=overrides)
    overrides[date(2027, 1, 1)] = True
    assert not calendar.is_working_day(date(2027, 1, 1))
    with pytest.raises(TypeError):
        calendar.overrides[date(2027, 1, 1)] = True  # type: ignore[index]


def test_zero_days_returns_the_start_even_on_a_holiday():
    national_day = date(2026, 10, 1)
    assert CALENDAR.add_working_days(national_day, 0) == WorkingDayResult(
        day=national_day, provisional=False
    )
    with pytest.raises(ValueError):
        CALENDAR.add_working_days(national_day, -1)


def test_no_working_days_between_a_day_and_itself_or_an_earlier_day():
    assert CALENDAR.working_days_between(date(2026, 3, 10), date(2026, 3, 10)) == 0
    assert CALENDAR.working_days_between(date(2026, 3, 10), date(2026, 3, 2)) == 0


def test_timestamps_are_refused_rather_than_silently_missing_an_override():
    with pytest.raises(TypeError):
        CALENDAR.is_working_day(datetime(2026, 10, 1, 9, 0))
    with pytest.raises(TypeError):
        CALENDAR.add_working_days(datetime(2026, 10, 1, 9, 0), 1)
    with pytest.raises(TypeError):
        WorkingDayCalendar(overrides={datetime(2027, 1, 1): False})


# --- Properties --------------------------------------------------------------------------------

# Around the edge of the package's data, where the three sources meet; overrides dense enough
# that a span often mixes overridden, package and fallback days.
starts = st.dates(min_value=date(2026, 6, 1), max_value=date(2027, 6, 30))
override_maps = st.dictionaries(
    st.dates(min_value=date(2026, 10, 1), max_value=date(2027, 6, 30)), st.booleans(), max_size=80
)


@PROPERTY_SETTINGS
@given(override_maps, starts, st.integers(1, 60))
def test_adding_n_working_days_lands_on_the_nth_working_day(overrides, start, days):
    calendar = WorkingDayCalendar(overrides=overrides)
    result = calendar.add_working_days(start, days)
    assert result.day > start
    assert calendar.is_working_day(result.day)
    assert calendar.working_days_between(start, result.day) == days
    examined = [start + timedelta(days=k) for k in range(1, (result.day - start).days + 1)]
    assert result.provisional == any(not calendar.is_known(day) for day in examined)


@PROPERTY_SETTINGS
@given(override_maps, st.dates(min_value=date(2026, 12, 1), max_value=date(2028, 2, 28)))
def test_overrides_decide_their_day_and_the_rest_of_2027_is_monday_to_friday(overrides, day):
    calendar = WorkingDayCalendar(overrides=overrides)
    if day in overrides:
        assert calendar.is_working_day(day) is overrides[day]
        assert calendar.is_known(day)
    elif day.year in package_covered_years():
        assert calendar.is_working_day(day) is chinese_calendar.is_workday(day)
        assert calendar.is_known(day)
    else:
        # A year with overrides is a loaded calendar; any other year is a guess.
        assert calendar.is_working_day(day) is (day.weekday() < 5)
        assert calendar.is_known(day) is any(d.year == day.year for d in overrides)


@PROPERTY_SETTINGS
@given(override_maps, starts, st.integers(0, 90), st.integers(0, 90))
def test_working_days_between_adds_up_over_consecutive_spans(overrides, start, first, second):
    calendar = WorkingDayCalendar(overrides=overrides)
    middle = start + timedelta(days=first)
    end = middle + timedelta(days=second)
    assert calendar.working_days_between(start, end) == (
        calendar.working_days_between(start, middle) + calendar.working_days_between(middle, end)
    )
