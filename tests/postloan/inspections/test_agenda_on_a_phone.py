"""The agenda made for a phone (issue 18): the coming visits by day and, within a day, by area
(the district of the business address, else of the home), the overdue ones by area; each card
with a call link and a map link that opens the phone's map app at the address."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import quote

import pytest
from django.urls import reverse

from postloan.models import Inspection
from tests.factories import make_person
from tests.postloan.helpers import book, restore_default_inspection_policy, set_tier

pytestmark = [pytest.mark.django_db, pytest.mark.clock(date(2026, 11, 20))]

TODAY = date(2026, 11, 20)


@pytest.fixture(autouse=True)
def _default_policy(db):
    restore_default_inspection_policy()


def _visit(officer, product, branch, due_on, *, tier="normal", **borrower):
    loan = book(
        officer,
        product=product,
        branch=branch,
        borrower=make_person(**borrower),
        disbursed_on=date(2026, 6, 1),
    )
    Inspection.objects.filter(loan=loan, kind="handover").update(
        status="done", completed_on=loan.disbursed_on
    )
    set_tier(loan, tier)
    return Inspection.objects.create(
        loan=loan,
        kind="routine",
        slot=f"phone-{loan.pk}",
        due_on=due_on,
        assigned_to=officer,
        reason="sample",
    )


def _groups(page: str) -> list[tuple[str, str, list[int]]]:
    """(day, area, inspections) in the page's order; the overdue ones under the day "overdue"."""
    found = []
    overdue, coming = page.split("Due in the coming month", 1)
    for day, part in [
        ("overdue", overdue),
        *re.findall(r'data-date="([\d-]+)"(.*?)</section>', coming, re.S),
    ]:
        for area, items in re.findall(
            r'data-testid="agenda-area">([^<]+?) <span(.*?)</ul>', part, re.S
        ):
            found.append(
                (day, area, [int(pk) for pk in re.findall(r'data-inspection="(\d+)"', items)])
            )
    return found


def test_the_agenda_groups_the_visits_by_day_then_area(client, officer, product, branch):
    gulou = {"address": "福州市鼓楼区五四路1号"}
    # the business address, where the visit is, wins over the home's
    jinan_shop = {"address": "福州市鼓楼区五四路2号", "business_address": "福州市晋安区福新路8号"}
    late_jinan = _visit(officer, product, branch, TODAY - timedelta(days=3), **jinan_shop)
    late_gulou = _visit(officer, product, branch, TODAY - timedelta(days=5), **gulou)
    today_gulou = _visit(officer, product, branch, TODAY, **gulou)
    today_jinan_worst = _visit(officer, product, branch, TODAY, tier="loss", **jinan_shop)
    today_gulou_worse = _visit(officer, product, branch, TODAY, tier="doubtful", **gulou)
    later_nowhere = _visit(officer, product, branch, TODAY + timedelta(days=4), address="")
    client.force_login(officer)

    page = client.get(reverse("postloan:agenda")).content.decode()

    assert _groups(page) == [
        ("overdue", "鼓楼区", [late_gulou.pk]),
        ("overdue", "晋安区", [late_jinan.pk]),
        # the day's worst tier first, and its area with it
        ("2026-11-20", "晋安区", [today_jinan_worst.pk]),
        ("2026-11-20", "鼓楼区", [today_gulou_worse.pk, today_gulou.pk]),
        ("2026-11-24", "Area not recorded", [later_nowhere.pk]),
    ]
    assert re.search(r'data-date="2026-11-20">\s*<h3[^>]*>Today ', page)


def test_each_card_calls_the_borrower_and_opens_the_map_at_the_address(
    client, officer, product, branch
):
    visit = _visit(
        officer,
        product,
        branch,
        TODAY,
        mobile="13912345678",
        business_address="福州市仓山区工业路66号 2楼",
    )
    no_phone = _visit(officer, product, branch, TODAY, mobile="", address="")
    client.force_login(officer)
    page = client.get(reverse("postloan:agenda")).content.decode()

    card = page.split(f'data-inspection="{visit.pk}"', 1)[1].split("</li>", 1)[0]
    assert 'href="tel:13912345678"' in card
    assert f'href="geo:0,0?q={quote("福州市仓山区工业路66号 2楼")}"' in card
    assert "福州市仓山区工业路66号 2楼" in card  # the text address, for the apps that need it
    assert 'data-testid="open-report"' in card
    bare = page.split(f'data-inspection="{no_phone.pk}"', 1)[1].split("</li>", 1)[0]
    assert "tel:" not in bare and "geo:" not in bare
