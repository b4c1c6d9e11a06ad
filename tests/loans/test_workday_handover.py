"""The handover's first-contact deadline: 5 Chinese working days after disbursement (Art. 3).

The expected dates are counted by hand from the State Council's holiday notices as the
`chinese_calendar` package records them; the first test pins the facts relied on, so a
package update that changes them fails there, not obscurely below.
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from django.urls import reverse

from common.models import BusinessSettings, CalendarOverride
from loans.models import Handover
from tests.factories import book_loan, make_person

pytestmark = pytest.mark.django_db

# 2026 National Day: Thu 10-01 to Wed 10-07 off; Sat 10-10 is a make-up working day.
# 2026 Spring Festival: Sun 02-15 to Mon 02-23 off; Sat 02-14 and Sat 02-28 are worked.
HOLIDAYS_2026 = [date(2026, 10, 1) + timedelta(days=n) for n in range(7)] + [
    date(2026, 2, 15) + timedelta(days=n) for n in range(9)
]
MAKE_UP_DAYS_2026 = [date(2026, 10, 10), date(2026, 2, 14), date(2026, 2, 28)]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def disburse(officer, product, branch):
    def book(on: date):
        loan = book_loan(
            borrower=make_person(),
            officer=officer,
            product=product,
            branch=branch,
            disbursed_on=on,
            today=max(on, date(2026, 11, 29)),  # booking later disbursements in these tests
        )
        return Handover.objects.get(loan=loan)

    return book


def test_the_package_knows_the_2026_notices_and_not_2027():
    assert all(not chinese_calendar.is_workday(day) for day in HOLIDAYS_2026)
    assert all(chinese_calendar.is_workday(day) for day in MAKE_UP_DAYS_2026)
    assert all(day.weekday() == 5 for day in MAKE_UP_DAYS_2026)
    assert chinese_calendar.is_workday(date(2026, 10, 8))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 2, 3))


@pytest.mark.parametrize(
    ("disbursed_on", "due_on"),
    [
        # Tue 09-29: 09-30 (1), [10-01 … 10-07 off], 10-08 (2), 10-09 (3),
        # Sat 10-10 make-up (4), [Sun 10-11], Mon 10-12 (5).
        (date(2026, 9, 29), date(2026, 10, 12)),
        # Wed 09-30: 10-08, 10-09, 10-10, 10-12, 10-13.
        (date(2026, 9, 30), date(2026, 10, 13)),
        # Disbursed on a holiday (Sat 10-03): counting starts the next working day.
        (date(2026, 10, 3), date(2026, 10, 13)),
        # Thu 02-12: 02-13 (1), Sat 02-14 make-up (2), [02-15 … 02-23 off], 02-24, 02-25, 02-26.
        (date(2026, 2, 12), date(2026, 2, 26)),
        # An ordinary week: Mon 2026-03-02 + 5 = Mon 03-09.
        (date(2026, 3, 2), date(2026, 3, 9)),
        # Fri 2026-11-20 + 5 = Fri 11-27.
        (date(2026, 11, 20), date(2026, 11, 27)),
    ],
)
def test_the_handover_falls_due_on_the_fifth_chinese_working_day(
    disburse, officer, disbursed_on, due_on
):
    handover = disburse(disbursed_on)
    assert handover.due_on == due_on
    assert handover.due_is_provisional is False
    assert handover.to_officer == officer


def test_an_override_beats_the_package(disburse):
    # Say the make-up Saturday were cancelled: the fifth working day moves to Tue 10-13.
    CalendarOverride.objects.create(day=date(2026, 10, 10), is_working_day=False, note="取消调休")
    handover = disburse(date(2026, 9, 29))
    assert (handover.due_on, handover.due_is_provisional) == (date(2026, 10, 13), False)


def test_the_number_of_working_days_is_a_business_setting(disburse):
    settings = BusinessSettings.current()
    settings.handover_working_days = 3
    settings.save()
    # 09-30, 10-08, 10-09.
    assert disburse(date(2026, 9, 29)).due_on == date(2026, 10, 9)


def test_a_2027_disbursement_without_the_notice_is_monday_to_friday_and_provisional(disburse):
    # Wed 2027-02-03: Thu 02-04, Fri 02-05, Mon 02-08, Tue 02-09, Wed 02-10 (Spring Festival
    # unknown: the fallback counts plain weekdays).
    handover = disburse(date(2027, 2, 3))
    assert (handover.due_on, handover.due_is_provisional) == (date(2027, 2, 10), True)


def test_a_deadline_running_into_an_unknown_year_is_provisional(disburse):
    # Tue 2026-12-29: 12-30, 12-31 (known), then Fri 2027-01-01 counted as a weekday, Mon 01-04,
    # Tue 01-05: provisional, since New Year's Day 2027 is not known to be a holiday.
    handover = disburse(date(2026, 12, 29))
    assert (handover.due_on, handover.due_is_provisional) == (date(2027, 1, 5), True)


def test_a_2027_disbursement_with_the_notice_entered_is_not_provisional(disburse):
    # An admin enters February 2027 from the (hypothetical) notice: Sat 02-06 to Sun 02-14
    # off, Sun 02-07 worked instead; every other day as Monday to Friday.
    holiday = {date(2027, 2, 6) + timedelta(days=n) for n in range(9)} - {date(2027, 2, 7)}
    CalendarOverride.objects.bulk_create(
        CalendarOverride(
            day=day,
            is_working_day=day not in holiday and (day.weekday() < 5 or day == date(2027, 2, 7)),
        )
        for day in (date(2027, 2, 1) + timedelta(days=n) for n in range(28))
    )

    handover = disburse(date(2027, 2, 3))

    # Thu 02-04 (1), Fri 02-05 (2), Sun 02-07 make-up (3), [02-08 … 02-14 off], 02-15 (4),
    # Tue 02-16 (5).
    assert (handover.due_on, handover.due_is_provisional) == (date(2027, 2, 16), False)


def test_the_pages_mark_a_provisional_deadline(client, disburse, officer):
    handover = disburse(date(2027, 2, 3))
    client.force_login(officer)
    page = client.get(reverse("loans:detail", args=[handover.loan_id])).content.decode()
    section = page.split('data-testid="handover"')[1].split("</div></div>")[0]
    assert "2027-02-10" in section and "provisional" in section
    listing = client.get(reverse("loans:handovers")).content.decode()
    row = next(r for r in listing.split("<tr>") if handover.loan.reference in r)
    assert "2027-02-10" in row and "provisional" in row

    certain = disburse(date(2026, 9, 29))
    page = client.get(reverse("loans:detail", args=[certain.loan_id])).content.decode()
    section = page.split('data-testid="handover"')[1].split("</div></div>")[0]
    assert "2026-10-12" in section and "provisional" not in section
