"""Writes for borrowers, guarantors, guarantees and joint groups (docs/domain.md §2).

Each refusal is checked for the field it is reported on and for leaving nothing behind.
"""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from borrowers import services
from borrowers.models import (
    Borrower,
    BorrowerFactChange,
    GroupMembership,
    Guarantee,
    Guarantor,
    GuarantorAssessment,
    JointGroup,
)
from common import texts
from common.models import BusinessSettings
from common.services import ConcurrentEditError
from tests.factories import (
    ProductFactory,
    book_loan,
    make_enterprise,
    make_guarantor,
    make_person,
    valid_credit_code,
    valid_resident_id,
)

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Users are logged in with force_login: the default hasher's slowness buys nothing here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def today() -> date:
    return timezone.localdate()


def messages_of(error: ValidationError, field: str) -> list[str]:
    return [str(m) for m in error.value.message_dict[field]]


def counts() -> tuple[int, ...]:
    return (
        Borrower.objects.count(),
        Guarantor.objects.count(),
        Guarantee.objects.count(),
        JointGroup.objects.count(),
        GroupMembership.objects.count(),
        BorrowerFactChange.objects.count(),
        GuarantorAssessment.objects.count(),
    )


def set_business(**values) -> None:
    settings = BusinessSettings.current()
    for name, value in values.items():
        setattr(settings, name, value)
    settings.save()


def wrong_check_char(number: str) -> str:
    return number[:17] + ("1" if number[17] != "1" else "2")


# --- Creating borrowers -----------------------------------------------------------------------


def test_a_person_gets_gender_and_birth_date_from_the_id_number(officer):
    # 17th digit 7 is odd: a man; 8 is even: a woman.
    man = services.borrower_create(
        data={
            "kind": "person",
            "name": "陈明",
            "id_number": valid_resident_id(7, born=date(1990, 3, 4)),
        },
        created_by=officer,
    )
    woman = make_person("林红", id_number=valid_resident_id(8, born=date(1992, 11, 30)))

    assert (man.gender, man.birth_date) == ("male", date(1990, 3, 4))
    assert (woman.gender, woman.birth_date) == ("female", date(1992, 11, 30))
    assert man.created_by == officer
    assert man.reference.startswith("KH-")
    assert man.version == 1


def test_identity_numbers_and_mobile_are_normalised_before_saving():
    # A number whose check character is X, typed in lower case with spaces.
    number = next(
        valid_resident_id(n, born=date(1979, 1, 2))
        for n in range(1000)
        if valid_resident_id(n, born=date(1979, 1, 2)).endswith("X")
    )
    typed = f"{number[:6]} {number[6:14]} {number[14:].lower()}"

    borrower = make_person(id_number=typed, mobile="+86 139-0000-1234")
    enterprise = make_enterprise(credit_code=" " + valid_credit_code(4242).lower())

    assert borrower.id_number == number
    assert borrower.mobile == "13900001234"
    assert enterprise.credit_code == valid_credit_code(4242)
    assert enterprise.id_number is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"kind": "person", "id_number": wrong_check_char(valid_resident_id(11))},
            "id_number",
            "The check character should be",
        ),
        (
            {"kind": "person", "id_number": "3501021985061500"},
            "id_number",
            "A resident ID number has 18 characters; this one has 16.",
        ),
        (
            {"kind": "person", "id_number": ""},
            "id_number",
            "A resident ID number has 18 characters; this one has 0.",
        ),
        (
            {"kind": "enterprise", "credit_code": wrong_check_char(valid_credit_code(12))},
            "credit_code",
            "The check character should be",
        ),
        (
            {"kind": "enterprise", "credit_code": "91350100ABCDEFGHIO"},
            "credit_code",
            "A unified social credit code cannot contain",
        ),
        (
            {"kind": "person", "id_number": valid_resident_id(13), "mobile": "12345"},
            "mobile",
            "Enter an 11-digit mainland mobile number starting with 13 to 19.",
        ),
        ({"kind": "", "id_number": valid_resident_id(14)}, "kind", "Choose person or enterprise."),
    ],
)
def test_bad_identity_is_refused_on_its_field_and_nothing_is_saved(data, field, message):
    before = counts()

    with pytest.raises(ValidationError) as error:
        services.borrower_create(data={"name": "张三", **data})

    assert any(m.startswith(message) for m in messages_of(error, field)), error.value
    assert counts() == before


def test_a_resident_id_number_is_used_by_one_borrower_only():
    first = make_person("张三")
    before = counts()

    with pytest.raises(ValidationError) as error:
        make_person("张三的兄弟", id_number=first.id_number.lower())

    assert messages_of(error, "id_number") == [
        "Another record already has this resident ID number."
    ]
    assert counts() == before


def test_a_credit_code_is_used_by_one_borrower_only():
    first = make_enterprise()
    before = counts()

    with pytest.raises(ValidationError) as error:
        make_enterprise("另一家公司", credit_code=first.credit_code)

    assert messages_of(error, "credit_code") == [
        "Another record already has this unified social credit code."
    ]
    assert counts() == before


def test_a_person_never_keeps_a_credit_code():
    borrower = make_person(credit_code=valid_credit_code(31))

    assert borrower.credit_code is None


# --- Editing borrowers: the fact timeline and optimistic locking ------------------------------


def test_each_changed_risk_fact_becomes_a_dated_line_of_the_timeline(officer):
    borrower = make_person(
        "王建国", mobile="13800000001", address="鼓楼区五四路1号", created_by=officer
    )

    updated = services.borrower_update(
        borrower=borrower,
        version=1,
        data={
            "address": "仓山区上渡路8号",
            "mobile": "139 0000 0002",
            "employer": "福州茶叶有限公司",
            "monthly_income": D("20000.00"),  # unchanged: no line
            "name": "王建国",  # not a risk fact: no line
        },
        by=officer,
        effective_on=date(2025, 3, 1),
        note="field visit",
    )

    assert updated.version == 2
    assert (updated.address, updated.mobile) == ("仓山区上渡路8号", "13900000002")
    lines = {
        c.fact: (c.old_value, c.new_value, c.effective_on, c.recorded_by, c.note)
        for c in borrower.fact_changes.all()
    }
    assert lines == {
        "address": ("鼓楼区五四路1号", "仓山区上渡路8号", date(2025, 3, 1), officer, "field visit"),
        "mobile": ("13800000001", "13900000002", date(2025, 3, 1), officer, "field visit"),
        "employer": ("", "福州茶叶有限公司", date(2025, 3, 1), officer, "field visit"),
    }


def test_health_legal_status_and_income_changes_are_recorded_readably():
    borrower = make_person()

    services.borrower_update(
        borrower=borrower,
        version=1,
        data={"health": "ill", "legal_status": "missing", "monthly_income": D("12000.50")},
    )

    lines = {c.fact: (c.old_value, c.new_value) for c in borrower.fact_changes.all()}
    assert lines == {
        "health": ("Good", "Ill or injured"),
        "legal_status": ("Normal", "Declared missing"),
        "monthly_income": ("20000.00", "12000.50"),
    }
    # Without a date the change counts from today.
    assert {c.effective_on for c in borrower.fact_changes.all()} == {today()}


def test_an_edit_based_on_an_old_version_is_refused_and_saves_nothing():
    borrower = make_person(address="鼓楼区1号")
    services.borrower_update(borrower=borrower, version=1, data={"address": "鼓楼区2号"})
    before = counts()

    # A second user opened the form at version 1 and saves after the first user.
    with pytest.raises(ConcurrentEditError):
        services.borrower_update(
            borrower=borrower, version=1, data={"address": "鼓楼区3号", "employer": "X"}
        )

    borrower.refresh_from_db()
    assert (borrower.address, borrower.employer, borrower.version) == ("鼓楼区2号", "", 2)
    assert counts() == before
    # At the current version the same edit goes through.
    services.borrower_update(borrower=borrower, version=2, data={"address": "鼓楼区3号"})
    assert borrower.fact_changes.filter(fact="address").count() == 2


def test_an_invalid_edit_saves_nothing_and_keeps_the_version():
    borrower = make_person(mobile="13800000001")
    other = make_person()
    before = counts()

    with pytest.raises(ValidationError) as error:
        services.borrower_update(
            borrower=borrower,
            version=1,
            data={"mobile": "0591-8888888", "id_number": other.id_number, "address": "新地址"},
        )

    assert set(error.value.message_dict) == {"mobile", "id_number"}
    borrower.refresh_from_db()
    assert (borrower.mobile, borrower.version) == ("13800000001", 1)
    assert counts() == before


def test_the_kind_of_a_borrower_cannot_be_changed_by_an_edit():
    borrower = make_person()

    services.borrower_update(borrower=borrower, version=1, data={"kind": "enterprise"})

    borrower.refresh_from_db()
    assert borrower.kind == "person"


def test_a_borrower_who_guarantees_keeps_the_guarantor_record_in_step():
    borrower = make_person("张三")
    guarantor = services.guarantor_for_borrower(borrower)

    services.borrower_update(
        borrower=borrower, version=1, data={"name": "张叁", "mobile": "13700000000"}
    )

    guarantor.refresh_from_db()
    assert (guarantor.name, guarantor.mobile) == ("张叁", "13700000000")


# --- Guarantors -------------------------------------------------------------------------------


def test_a_new_guarantor_is_created_with_a_reference(officer):
    guarantor = services.guarantor_create(
        kind="person",
        name=" 李四 ",
        id_number=valid_resident_id(41),
        mobile="13800001111",
        created_by=officer,
    )

    assert guarantor.reference.startswith("DB-")
    assert (guarantor.name, guarantor.borrower, guarantor.created_by) == ("李四", None, officer)


def test_a_guarantor_who_already_borrows_is_linked_not_copied():
    borrower = make_person("张三")
    before = Guarantor.objects.count()

    guarantor = services.guarantor_create(
        kind="person", name="张三 (typed again)", id_number=borrower.id_number
    )

    assert guarantor.borrower == borrower
    assert guarantor.name == "张三"
    assert Guarantor.objects.count() == before + 1
    # Asking again for the borrower's guarantor gives the same record.
    assert services.guarantor_for_borrower(borrower) == guarantor
    assert Guarantor.objects.count() == before + 1


def test_a_guarantor_known_before_they_borrowed_is_linked_when_they_join_a_group(product):
    # Li guaranteed a loan first, then became a borrower herself and joins a group.
    earlier = services.guarantor_create(
        kind="person", name="李四", id_number=valid_resident_id(51, born=date(1970, 1, 1))
    )
    li = make_person("李四", id_number=earlier.id_number)

    services.group_form(
        name="三户联保",
        product=product,
        members=[li, make_person(), make_person()],
        formed_on=today(),
    )

    earlier.refresh_from_db()
    assert earlier.borrower == li
    assert Guarantor.objects.filter(id_number=li.id_number).count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "person", "name": "李四", "id_number": "350102198506150011"}, "id_number"),
        (
            {"kind": "enterprise", "name": "某公司", "credit_code": "913501000000000000"},
            "credit_code",
        ),
        ({"kind": "person", "name": "  ", "id_number": valid_resident_id(61)}, "name"),
        (
            {
                "kind": "person",
                "name": "李四",
                "id_number": valid_resident_id(62),
                "mobile": "1380000",
            },
            "mobile",
        ),
        ({"kind": "", "name": "李四"}, "kind"),
    ],
)
def test_a_bad_guarantor_is_refused_on_its_field_and_nothing_is_saved(kwargs, field):
    before = counts()

    with pytest.raises(ValidationError) as error:
        services.guarantor_create(**kwargs)

    assert field in error.value.message_dict
    assert counts() == before


def test_a_guarantor_id_number_is_used_once():
    first = make_guarantor()
    before = counts()

    with pytest.raises(ValidationError) as error:
        services.guarantor_create(kind="person", name="另一个人", id_number=first.id_number)

    assert messages_of(error, "id_number") == [
        "Another record already has this resident ID number."
    ]
    assert counts() == before


# --- Capacity assessments ---------------------------------------------------------------------


def test_income_down_by_a_fifth_marks_the_guarantor_capacity_lowered(officer):
    guarantor = make_guarantor(created_by=officer)
    first = services.guarantor_assess(
        guarantor=guarantor, assessed_on=date(2025, 1, 10), monthly_income=D("10000"), by=officer
    )

    second = services.guarantor_assess(
        guarantor=guarantor, assessed_on=date(2025, 6, 10), monthly_income=D("8000")
    )

    assert not first.capacity_lowered
    assert second.capacity_lowered
    assert second.lowered_because == "monthly income fell by 20% or more"


def test_a_smaller_drop_or_a_better_standing_is_not_lower_capacity():
    guarantor = make_guarantor()
    services.guarantor_assess(
        guarantor=guarantor,
        assessed_on=date(2025, 1, 10),
        monthly_income=D("10000"),
        credit_standing=2,
    )

    later = services.guarantor_assess(
        guarantor=guarantor,
        assessed_on=date(2025, 6, 10),
        monthly_income=D("8100"),
        credit_standing=1,
    )

    assert (later.capacity_lowered, later.lowered_because) == (False, "")


def test_the_drop_that_counts_comes_from_the_business_settings():
    set_business(guarantor_income_drop_percent=30)
    guarantor = make_guarantor()
    services.guarantor_assess(
        guarantor=guarantor, assessed_on=date(2025, 1, 10), monthly_income=D("10000")
    )

    quarter_down = services.guarantor_assess(
        guarantor=guarantor, assessed_on=date(2025, 2, 10), monthly_income=D("7500")
    )
    more = services.guarantor_assess(
        guarantor=guarantor, assessed_on=date(2025, 3, 10), monthly_income=D("5000")
    )

    assert not quarter_down.capacity_lowered
    assert more.lowered_because == "monthly income fell by 30% or more"


def test_a_backdated_assessment_is_compared_with_the_one_before_it():
    guarantor = make_guarantor()
    for day, income in [(date(2025, 1, 1), "10000"), (date(2025, 3, 1), "5000")]:
        services.guarantor_assess(guarantor=guarantor, assessed_on=day, monthly_income=D(income))

    february = services.guarantor_assess(
        guarantor=guarantor, assessed_on=date(2025, 2, 1), monthly_income=D("9000")
    )

    assert not february.capacity_lowered


def test_an_enterprise_guarantor_rated_lower_or_restructuring_is_lower_capacity():
    company = services.guarantor_create(
        kind="enterprise", name="福州担保有限公司", credit_code=valid_credit_code(71)
    )
    services.guarantor_assess(
        guarantor=company, assessed_on=date(2025, 1, 1), rating="AA", credit_standing=1
    )

    later = services.guarantor_assess(
        guarantor=company,
        assessed_on=date(2025, 4, 1),
        rating="BB",
        enterprise_status="restructuring",
        credit_standing=3,
    )

    assert later.capacity_lowered
    assert later.lowered_because == (
        "the enterprise is restructuring; credit standing worsened; rating fell from AA to BB"
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"assessed_on": date.today() + timedelta(days=2)}, "assessed_on"),
        ({"assessed_on": date(2025, 1, 1), "rating": "AA"}, "rating"),
        ({"assessed_on": date(2025, 1, 1), "enterprise_status": "bankrupt"}, "enterprise_status"),
    ],
)
def test_a_bad_assessment_is_refused_and_nothing_is_saved(kwargs, field):
    guarantor = make_guarantor()  # a person
    before = counts()

    with pytest.raises(ValidationError) as error:
        services.guarantor_assess(guarantor=guarantor, **kwargs)

    assert field in error.value.message_dict
    assert counts() == before


# --- Guarantees -------------------------------------------------------------------------------


@pytest.fixture
def loans_of_three(officer, product, branch):
    return [
        book_loan(borrower=make_person(), officer=officer, product=product, branch=branch)
        for _ in range(3)
    ]


def test_a_borrower_cannot_guarantee_their_own_loan(loan):
    own = services.guarantor_for_borrower(loan.borrower)
    before = counts()

    with pytest.raises(ValidationError) as error:
        services.guarantee_add(loan=loan, guarantor=own, signed_on=today())

    assert messages_of(error, "guarantor") == ["A borrower cannot guarantee their own loan."]
    assert counts() == before


def test_a_guarantor_backs_a_loan_once(loan):
    guarantor = make_guarantor()
    services.guarantee_add(loan=loan, guarantor=guarantor, signed_on=today())
    before = counts()

    with pytest.raises(ValidationError) as error:
        services.guarantee_add(loan=loan, guarantor=guarantor, signed_on=today())

    assert messages_of(error, "guarantor") == ["This guarantor already guarantees this loan."]
    assert counts() == before


def test_a_guarantor_over_the_cap_of_active_guarantees_is_refused(loans_of_three, loan):
    guarantor = make_guarantor("李四")
    for each in loans_of_three:  # the default cap: 3
        services.guarantee_add(loan=each, guarantor=guarantor, signed_on=today())
    before = counts()

    with pytest.raises(ValidationError) as error:
        services.guarantee_add(loan=loan, guarantor=guarantor, signed_on=today())

    assert messages_of(error, "guarantor") == [
        "李四 already backs 3 active guarantees; the most allowed is 3."
    ]
    assert counts() == before


def test_a_released_guarantee_frees_a_place_under_the_cap(loans_of_three, loan):
    set_business(max_active_guarantees=2)
    guarantor = make_guarantor()
    first, _second = (
        services.guarantee_add(loan=each, guarantor=guarantor, signed_on=today())
        for each in loans_of_three[:2]
    )
    with pytest.raises(ValidationError):
        services.guarantee_add(loan=loan, guarantor=guarantor, signed_on=today())

    services.guarantee_set_status(guarantee=first, status="released", on=today())
    added = services.guarantee_add(loan=loan, guarantor=guarantor, signed_on=today())

    assert added.status == "active"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amount": D("0")}, "amount"),
        ({"amount": D("-5")}, "amount"),
        ({"signed_on": date.today() + timedelta(days=3)}, "signed_on"),
    ],
)
def test_a_bad_guarantee_is_refused_on_its_field(loan, kwargs, field):
    guarantor = make_guarantor()
    before = counts()

    with pytest.raises(ValidationError) as error:
        services.guarantee_add(loan=loan, guarantor=guarantor, **{"signed_on": today(), **kwargs})

    assert field in error.value.message_dict
    assert counts() == before


def test_a_guarantee_is_called_then_released(loan):
    guarantee = services.guarantee_add(
        loan=loan, guarantor=make_guarantor(), signed_on=today(), amount=D("50000")
    )

    called = services.guarantee_set_status(
        guarantee=guarantee, status="called", on=today(), note="borrower defaulted"
    )
    released = services.guarantee_set_status(guarantee=guarantee, status="released", on=today())

    assert (called.status, called.called_on, called.status_note) == (
        "called",
        today(),
        "borrower defaulted",
    )
    assert (released.status, released.released_on, released.called_on) == (
        "released",
        today(),
        today(),
    )


@pytest.mark.parametrize(
    ("path", "refused"),
    [(["released"], "active"), (["released"], "called"), (["called"], "called")],
)
def test_a_guarantee_cannot_move_backwards(loan, path, refused):
    guarantee = services.guarantee_add(loan=loan, guarantor=make_guarantor(), signed_on=today())
    for status in path:
        services.guarantee_set_status(guarantee=guarantee, status=status, on=today())

    with pytest.raises(ValidationError) as error:
        services.guarantee_set_status(guarantee=guarantee, status=refused, on=today())

    assert "status" in error.value.message_dict
    guarantee.refresh_from_db()
    assert guarantee.status == path[-1]


def test_a_guarantee_status_cannot_change_in_the_future(loan):
    guarantee = services.guarantee_add(loan=loan, guarantor=make_guarantor(), signed_on=today())

    with pytest.raises(ValidationError) as error:
        services.guarantee_set_status(
            guarantee=guarantee, status="released", on=today() + timedelta(days=1)
        )

    assert "on" in error.value.message_dict
    guarantee.refresh_from_db()
    assert guarantee.status == "active"


@pytest.mark.django_db(transaction=True)
def test_two_guarantees_added_at_once_cannot_both_pass_the_cap(officer, product, branch):
    set_business(max_active_guarantees=1)
    guarantor = make_guarantor()
    loan_a, loan_b = (
        book_loan(borrower=make_person(), officer=officer, product=product, branch=branch)
        for _ in range(2)
    )
    a_added, a_may_commit = threading.Event(), threading.Event()
    outcome = {}

    def add_and_hold():
        try:
            with transaction.atomic():
                services.guarantee_add(loan=loan_a, guarantor=guarantor, signed_on=today())
                a_added.set()
                a_may_commit.wait(10)
            outcome["a"] = "added"
        finally:
            connection.close()

    def add_meanwhile():
        a_added.wait(10)
        try:
            services.guarantee_add(loan=loan_b, guarantor=guarantor, signed_on=today())
            outcome["b"] = "added"
        except ValidationError as error:
            outcome["b"] = sorted(error.message_dict)
        finally:
            connection.close()

    threads = [threading.Thread(target=add_and_hold), threading.Thread(target=add_meanwhile)]
    for thread in threads:
        thread.start()
    a_added.wait(10)
    time.sleep(0.5)  # b now waits for the guarantor's row lock (without it, b would pass)
    a_may_commit.set()
    for thread in threads:
        thread.join(20)

    assert outcome == {"a": "added", "b": ["guarantor"]}
    assert Guarantee.objects.filter(guarantor=guarantor, status="active").count() == 1


# --- Joint-guarantee groups ---------------------------------------------------------------------


@pytest.fixture
def three(officer):
    """Three prospects of `officer`'s (groups are formed from the officer's own book)."""
    return [make_person(name, created_by=officer) for name in ("张三", "李四", "王五")]


def test_a_group_is_formed_and_every_member_becomes_a_guarantor(product, three, officer):
    group = services.group_form(
        name=" 三户联保 ", product=product, members=three, formed_on=today(), by=officer
    )

    assert (group.name, group.status, group.lead, group.created_by) == (
        "三户联保",
        "active",
        three[0],
        officer,
    )
    assert group.reference.startswith("LB-")
    assert sorted(m.borrower_id for m in group.memberships.filter(left_on=None)) == sorted(
        b.pk for b in three
    )
    assert Guarantor.objects.filter(borrower__in=three).count() == 3


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            lambda three, product: {"members": three[:2]},
            "members",
            "A joint group needs at least 3 members; you chose 2.",
        ),
        (
            lambda three, product: {"members": [three[0], three[0], three[1]]},
            "members",
            "A joint group needs at least 3 members; you chose 2.",
        ),
        (
            lambda three, product: {"lead": make_person("外人")},
            "lead",
            "The lead member must be one of the members.",
        ),
        (lambda three, product: {"name": " "}, "name", "Give the group a name."),
        (
            lambda three, product: {"product": ProductFactory(allows_joint_group=False)},
            "product",
            "This product does not accept joint-guarantee groups.",
        ),
        (
            lambda three, product: {"formed_on": date.today() + timedelta(days=1)},
            "formed_on",
            "A group cannot be formed in the future.",
        ),
        (
            lambda three, product: {"members": [*three[:2], make_enterprise("福州某公司")]},
            "members",
            "福州某公司 is an enterprise; this product's groups take persons only.",
        ),
        (
            lambda three, product: {
                "members": [*three[:2], make_person("赵六", legal_status="deceased")]
            },
            "members",
            "赵六 cannot join: legal status is Deceased.",
        ),
    ],
)
def test_an_invalid_group_is_refused_on_its_field_and_nothing_is_saved(
    product, three, change, field, message
):
    kwargs = {"name": "三户联保", "product": product, "members": three, "formed_on": today()}
    kwargs.update(change(three, product))
    before = counts()

    with pytest.raises(ValidationError) as error:
        services.group_form(**kwargs)

    assert message in messages_of(error, field)
    assert counts() == before


def test_an_enterprise_may_join_when_the_product_allows_it(three):
    product = ProductFactory(allows_joint_group=True, group_members_may_be_enterprises=True)

    group = services.group_form(
        name="企业联保",
        product=product,
        members=[*three[:2], make_enterprise()],
        formed_on=today(),
    )

    assert group.memberships.count() == 3


def test_a_member_of_another_active_group_cannot_join_a_new_one(product, three):
    services.group_form(name="第一组", product=product, members=three, formed_on=today())
    before = counts()

    with pytest.raises(ValidationError) as error:
        services.group_form(
            name="第二组",
            product=product,
            members=[three[2], make_person("赵六"), make_person("钱七")],
            formed_on=today(),
        )

    assert messages_of(error, "members") == ["王五 is already a member of the active group 第一组."]
    # make_person added two borrowers; nothing else was saved.
    assert counts()[1:] == before[1:]


def test_the_database_also_refuses_two_active_memberships(product, three):
    group = services.group_form(name="第一组", product=product, members=three, formed_on=today())
    other = JointGroup.objects.create(
        name="旁路", reference="LB-X", product=product, lead=three[0], formed_on=today()
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        GroupMembership.objects.create(group=other, borrower=three[0], joined_on=today())

    assert GroupMembership.objects.filter(borrower=three[0], left_on=None).get().group == group


def test_a_group_whose_members_would_guarantee_over_the_cap_is_refused(product, three, loan):
    set_business(max_active_guarantees=2)
    # 张三 already guarantees one loan; in a group of three he would back two more.
    services.guarantee_add(
        loan=loan, guarantor=services.guarantor_for_borrower(three[0]), signed_on=today()
    )
    before = counts()

    with pytest.raises(ValidationError) as error:
        services.group_form(name="三户联保", product=product, members=three, formed_on=today())

    assert messages_of(error, "members") == [
        "张三 would guarantee 3 loans, more than the 2 allowed per guarantor."
    ]
    assert counts() == before


def test_a_member_is_added_to_an_active_group(product, three):
    group = services.group_form(name="三户联保", product=product, members=three, formed_on=today())
    zhao = make_person("赵六")

    membership = services.group_add_member(group=group, borrower=zhao, joined_on=today())

    assert membership.group == group
    assert group.memberships.filter(left_on=None).count() == 4
    assert Guarantor.objects.filter(borrower=zhao).exists()


def test_adding_a_member_is_refused_when_it_cannot_be(product, three):
    group = services.group_form(name="第一组", product=product, members=three, formed_on=today())
    elsewhere = [make_person("赵六"), make_person("钱七"), make_person("孙八")]
    services.group_form(name="第二组", product=product, members=elsewhere, formed_on=today())
    before = counts()

    for borrower, joined_on, message in [
        (elsewhere[0], today(), "赵六 is already a member of the active group 第二组."),
        (three[1], today(), "李四 is already a member."),
        (
            make_person("周九"),
            today() - timedelta(days=1),
            "The joining date must lie between the group's formation and today.",
        ),
    ]:
        with pytest.raises(ValidationError) as error:
            services.group_add_member(group=group, borrower=borrower, joined_on=joined_on)
        assert message in messages_of(error, "borrower")

    assert counts()[2:] == before[2:]


def test_adding_a_member_cannot_push_the_members_over_the_guarantee_cap(product, three):
    set_business(max_active_guarantees=3)
    group = services.group_form(name="三户联保", product=product, members=three, formed_on=today())
    services.group_add_member(group=group, borrower=make_person("赵六"), joined_on=today())
    before = counts()

    # A fifth member would make every member back four loans.
    with pytest.raises(ValidationError) as error:
        services.group_add_member(group=group, borrower=make_person("钱七"), joined_on=today())

    assert "钱七 would guarantee 4 loans, more than the 3 allowed per guarantor." in messages_of(
        error, "borrower"
    )
    assert counts()[2:] == before[2:]


def test_the_group_lifecycle_from_forming_to_dissolving(product, branch, officer, three):
    # given a group of three, each of whom books a loan
    group = services.group_form(name="三户联保", product=product, members=three, formed_on=today())
    loans = [
        book_loan(borrower=member, officer=officer, product=product, branch=branch)
        for member in three
    ]
    guarantor_of = {b.pk: services.guarantor_for_borrower(b) for b in three}

    # then every loan is in the group and guaranteed by the two other members
    for loan, member in zip(loans, three, strict=True):
        assert loan.group == group
        assert {(g.guarantor_id, g.kind, g.group_id, g.status) for g in loan.guarantees.all()} == {
            (guarantor_of[other.pk].pk, "joint_group", group.pk, "active")
            for other in three
            if other != member
        }
    assert Guarantee.objects.filter(group=group).count() == 6

    # when the weak member leaves
    membership = GroupMembership.objects.get(group=group, borrower=three[2])
    result = services.group_member_leave(
        membership=membership, left_on=today(), reason="moved away"
    )

    # then the group is dissolved and its cross-guarantees stay as ordinary guarantees
    group.refresh_from_db()
    assert result.dissolved
    assert result.converted_guarantees == 6
    assert (group.status, group.dissolved_on) == ("dissolved", today())
    assert group.dissolved_reason == texts.GROUP_BELOW_MINIMUM
    assert not GroupMembership.objects.filter(group=group, left_on=None).exists()
    remaining = GroupMembership.objects.get(group=group, borrower=three[0])
    assert remaining.leave_reason == "The group was dissolved."
    assert set(Guarantee.objects.filter(group=group).values_list("kind", "status")) == {
        ("ordinary", "active")
    }

    # and a new loan for a former member books alone, without cross-guarantees
    later = book_loan(
        borrower=three[0],
        officer=officer,
        product=product,
        branch=branch,
        principal=D("10000.00"),
    )
    assert later.group is None
    assert later.guarantees.count() == 0


def test_a_loan_of_another_product_books_outside_the_group(product, branch, officer, three):
    services.group_form(name="三户联保", product=product, members=three, formed_on=today())

    loan = book_loan(borrower=three[0], officer=officer, product=ProductFactory(), branch=branch)

    assert loan.group is None
    assert loan.guarantees.count() == 0


def test_a_group_above_its_minimum_survives_a_departure(product, branch, officer, three):
    group = services.group_form(
        name="四户联保", product=product, members=[*three, make_person("赵六")], formed_on=today()
    )
    loan = book_loan(borrower=three[1], officer=officer, product=product, branch=branch)

    result = services.group_member_leave(
        membership=group.memberships.get(borrower=three[0]), left_on=today(), reason="退出"
    )

    group.refresh_from_db()
    assert (result.dissolved, result.converted_guarantees) == (False, 0)
    assert group.status == "active"
    # the lead left: the next member to have joined leads now
    assert group.lead == three[1]
    assert set(loan.guarantees.values_list("kind", flat=True)) == {"joint_group"}
    assert group.memberships.filter(left_on=None).count() == 3


@pytest.mark.parametrize(
    ("left_on", "reason", "field"),
    [
        (lambda: today(), " ", "reason"),
        (lambda: today() + timedelta(days=1), "moved", "left_on"),
        (lambda: today() - timedelta(days=400), "moved", "left_on"),
    ],
)
def test_a_bad_departure_is_refused_and_changes_nothing(product, three, left_on, reason, field):
    group = services.group_form(name="三户联保", product=product, members=three, formed_on=today())
    membership = group.memberships.get(borrower=three[0])

    with pytest.raises(ValidationError) as error:
        services.group_member_leave(membership=membership, left_on=left_on(), reason=reason)

    assert field in error.value.message_dict
    membership.refresh_from_db()
    group.refresh_from_db()
    assert (membership.left_on, group.status) == (None, "active")


def test_a_member_cannot_leave_twice(product, three):
    group = services.group_form(
        name="四户联保", product=product, members=[*three, make_person()], formed_on=today()
    )
    membership = group.memberships.get(borrower=three[0])
    services.group_member_leave(membership=membership, left_on=today(), reason="moved")

    with pytest.raises(ValidationError) as error:
        services.group_member_leave(membership=membership, left_on=today(), reason="again")

    assert messages_of(error, "left_on") == ["This member has already left."]


def test_adding_to_a_dissolved_group_is_refused(product, three):
    group = services.group_form(name="三户联保", product=product, members=three, formed_on=today())
    services.group_member_leave(
        membership=group.memberships.get(borrower=three[0]), left_on=today(), reason="moved"
    )

    with pytest.raises(ValidationError) as error:
        services.group_add_member(group=group, borrower=make_person(), joined_on=today())

    assert messages_of(error, "borrower") == ["The group is dissolved."]


def test_people_for_limits_reads_debts_and_other_groups(product, three, loan):
    from borrowers.selectors import people_for_limits

    group = services.group_form(name="三户联保", product=product, members=three, formed_on=today())

    people = people_for_limits([loan.borrower, three[0]])
    inside = people_for_limits([three[0]], group=group)

    assert [(p.outstanding, p.in_other_group) for p in people] == [
        (D("120000.00"), False),
        (D("0.00"), True),
    ]
    assert inside[0].in_other_group is False
