"""Writes stay inside the user's book: seeing a shared group, an originated loan or a
guarantor is not leave to change another officer's borrowers, loans or guarantees
(issue 16, hole 1). Two officers' books share one joint-guarantee group here."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from borrowers import services
from borrowers.models import GroupMembership, Guarantee, GuaranteeKind, JointGroup
from tests.factories import book_loan, make_guarantor, make_person

pytestmark = [pytest.mark.django_db, pytest.mark.clock(date(2026, 3, 16))]

TODAY = date(2026, 3, 16)
FORMED = date(2025, 12, 1)
DISBURSED = date(2026, 1, 5)


@pytest.fixture
def shared_group(officer, other_officer, product, branch):
    """张三 and 李四 are in `officer`'s book, 王五 in `other_officer`'s; each borrowed
    inside the group, so every member guarantees the other two's loans."""
    zhang = make_person("张三", created_by=officer)
    li = make_person("李四", created_by=officer)
    wang = make_person("王五", created_by=other_officer)
    group = services.group_form(
        name="鼓楼三户联保", product=product, members=[zhang, li, wang], formed_on=FORMED
    )
    loans = {
        borrower.name: book_loan(
            borrower=borrower,
            officer=keeper,
            product=product,
            branch=branch,
            disbursed_on=DISBURSED,
        )
        for borrower, keeper in [(zhang, officer), (li, officer), (wang, other_officer)]
    }
    return {"group": group, "zhang": zhang, "li": li, "wang": wang, "loans": loans}


def _membership(group, borrower) -> GroupMembership:
    return group.memberships.get(borrower=borrower)


def _leave(client, group, borrower):
    url = reverse("borrowers:group_member_leave", args=[group.pk, _membership(group, borrower).pk])
    return client.post(url, {"left_on": TODAY.isoformat(), "reason": "moved away"})


def _unchanged(shared_group) -> None:
    group = JointGroup.objects.get(pk=shared_group["group"].pk)
    assert group.status == "active"
    assert not group.memberships.exclude(left_on=None).exists()
    assert set(Guarantee.objects.values_list("kind", flat=True)) == {GuaranteeKind.JOINT_GROUP}
    assert Guarantee.objects.count() == 6


def test_the_other_officer_sees_the_shared_group(client, other_officer, shared_group):
    client.force_login(other_officer)

    response = client.get(reverse("borrowers:group_detail", args=[shared_group["group"].pk]))

    assert response.status_code == 200


def test_another_officers_member_cannot_be_made_to_leave(client, other_officer, shared_group):
    client.force_login(other_officer)
    group = shared_group["group"]

    preview = client.get(
        reverse(
            "borrowers:group_member_leave",
            args=[group.pk, _membership(group, shared_group["zhang"]).pk],
        )
    )
    response = _leave(client, group, shared_group["zhang"])

    assert preview.status_code == 403
    assert response.status_code == 403
    _unchanged(shared_group)


def test_an_own_member_cannot_leave_when_that_dissolves_the_group_into_another_book(
    client, other_officer, shared_group
):
    client.force_login(other_officer)

    response = _leave(client, shared_group["group"], shared_group["wang"])

    assert response.status_code == 200
    [message] = response.context["form"].non_field_errors()
    assert message.startswith("This member's leaving would dissolve the group")
    assert "张三" in message and "李四" in message
    assert shared_group["loans"]["张三"].reference in message
    assert "a risk manager must record it" in message
    _unchanged(shared_group)


def test_a_risk_manager_dissolves_the_shared_group(client, risk_manager, shared_group):
    client.force_login(risk_manager)

    response = _leave(client, shared_group["group"], shared_group["wang"])

    assert response.status_code == 302
    group = JointGroup.objects.get(pk=shared_group["group"].pk)
    assert group.status == "dissolved"
    assert set(Guarantee.objects.values_list("kind", flat=True)) == {GuaranteeKind.ORDINARY}


def test_the_group_page_offers_leaving_only_for_the_users_own_members(
    client, officer, other_officer, shared_group
):
    group = shared_group["group"]
    client.force_login(other_officer)

    theirs = client.get(reverse("borrowers:group_detail", args=[group.pk])).content.decode()

    leave_of = {
        name: reverse(
            "borrowers:group_member_leave",
            args=[group.pk, _membership(group, shared_group[key]).pk],
        )
        for key, name in [("zhang", "张三"), ("li", "李四"), ("wang", "王五")]
    }
    assert leave_of["王五"] in theirs
    assert leave_of["张三"] not in theirs and leave_of["李四"] not in theirs
    # Adding a member binds every member: not offered on a group shared with another book.
    assert reverse("borrowers:group_add_member", args=[group.pk]) not in theirs


def test_a_member_cannot_be_added_to_a_group_shared_with_another_book(
    client, other_officer, shared_group
):
    newcomer = make_person("赵六", created_by=other_officer)
    client.force_login(other_officer)

    response = client.post(
        reverse("borrowers:group_add_member", args=[shared_group["group"].pk]),
        {"borrower": newcomer.pk, "joined_on": TODAY.isoformat()},
    )

    assert response.status_code == 403
    assert not GroupMembership.objects.filter(borrower=newcomer).exists()
    with pytest.raises(PermissionDenied):
        services.group_add_member(
            group=shared_group["group"], borrower=newcomer, joined_on=TODAY, by=other_officer
        )


def test_another_officers_borrower_cannot_be_put_into_a_group(
    client, officer, other_officer, product, shared_group
):
    # 王五 originated 刘芳's loan, which officer now manages: officer2 still sees 刘芳.
    liu = make_person("刘芳", created_by=other_officer)
    book_loan(
        borrower=liu,
        officer=officer,
        originating_officer=other_officer,
        product=product,
        disbursed_on=DISBURSED,
    )
    own = [make_person(name, created_by=other_officer) for name in ("钱七", "孙八")]
    client.force_login(other_officer)

    response = client.post(
        reverse("borrowers:group_create"),
        {
            "name": "别组",
            "product": product.pk,
            "members": [liu.pk, *[b.pk for b in own]],
            "lead": "",
            "formed_on": TODAY.isoformat(),
        },
    )

    assert response.status_code == 200
    assert "members" in response.context["form"].errors
    assert JointGroup.objects.count() == 1
    with pytest.raises(PermissionDenied):
        services.group_form(
            name="别组", product=product, members=[liu, *own], formed_on=TODAY, by=other_officer
        )


def test_an_originating_officer_no_longer_edits_the_borrower(officer, other_officer, product):
    liu = make_person("刘芳", created_by=other_officer)
    book_loan(
        borrower=liu,
        officer=officer,
        originating_officer=other_officer,
        product=product,
        disbursed_on=DISBURSED,
    )

    with pytest.raises(PermissionDenied):
        services.borrower_update(
            borrower=liu, version=liu.version, data={"mobile": "13900001111"}, by=other_officer
        )
    with pytest.raises(PermissionDenied):
        services.maintenance_add(
            borrower=liu, happened_on=TODAY, kind="visit", notes="回访", by=other_officer
        )
    updated = services.borrower_update(
        borrower=liu, version=liu.version, data={"mobile": "13900001111"}, by=officer
    )
    assert updated.mobile == "13900001111"


def test_a_guarantor_of_another_officers_loan_cannot_be_reassessed(
    client, officer, other_officer, product
):
    guarantor = make_guarantor("担保人甲")
    book_loan(
        borrower=make_person("刘芳"),
        officer=officer,
        originating_officer=other_officer,
        product=product,
        disbursed_on=DISBURSED,
        guarantors=[guarantor],
    )
    client.force_login(other_officer)
    url = reverse("borrowers:guarantor_assess", args=[guarantor.pk])

    page = client.get(reverse("borrowers:guarantor_detail", args=[guarantor.pk]))
    response = client.post(
        url, {"assessed_on": TODAY.isoformat(), "monthly_income": "100", "credit_standing": "3"}
    )

    assert page.status_code == 200  # they still see whom their originated loan relies on
    assert url not in page.content.decode()
    assert response.status_code == 403
    assert not guarantor.assessments.exists()
    client.force_login(officer)
    assert client.get(url).status_code == 200
