"""Every admin page loads for an admin, in a bounded number of queries."""

import pytest
from django.contrib import admin
from django.urls import reverse

from loans import services as loan_services


@pytest.fixture
def populated(loan, officer):
    """One of everything: a loan with a repayment, collateral, a guarantee, a group."""
    from borrowers import services as borrower_services
    from tests.factories import make_guarantor, make_person

    loan_services.repayment_post(
        loan=loan,
        paid_on=loan.disbursed_on,
        amount=loan.principal / 10,
        channel="cash",
        reference="ADMIN-1",
        by=officer,
    )
    loan_services.collateral_add(loan=loan, kind="vehicle", description="货车", by=officer)
    borrower_services.guarantee_add(
        loan=loan, guarantor=make_guarantor(), signed_on=loan.disbursed_on
    )
    members = [make_person() for _ in range(3)]
    borrower_services.group_form(
        name="测试联保", product=loan.product, members=members, formed_on=loan.disbursed_on
    )
    return loan


def _model_admins():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.mark.django_db
def test_every_changelist_and_change_page_loads(client, admin_user, populated):
    client.force_login(admin_user)
    for model, model_admin in _model_admins():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = client.get(changelist)
        assert response.status_code == 200, (changelist, response.status_code)
        if model_admin.has_add_permission(_request(admin_user)):
            add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
            assert client.get(add).status_code == 200, add
        obj = model._default_manager.first()
        if obj is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            assert client.get(change).status_code == 200, change


def _request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return request


@pytest.mark.django_db
def test_changelists_run_a_bounded_number_of_queries(
    client, admin_user, populated, django_assert_max_num_queries
):
    client.force_login(admin_user)
    for url in [
        reverse("admin:loans_loan_changelist"),
        reverse("admin:borrowers_borrower_changelist"),
        reverse("admin:borrowers_guarantee_changelist"),
        reverse("admin:loans_repayment_changelist"),
    ]:
        with django_assert_max_num_queries(15):
            assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_admin_edits_of_a_borrower_keep_the_timeline(client, admin_user, borrower):
    client.force_login(admin_user)
    url = reverse("admin:borrowers_borrower_change", args=[borrower.pk])
    form = client.get(url).context["adminform"].form
    data = {k: ("" if v is None else v) for k, v in form.initial.items()}
    data.update(address="福州市台江区新地址1号", edit_version=borrower.version)
    for prefix in ("fact_changes",):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    change = borrower.fact_changes.get()
    assert (change.fact, change.new_value) == ("address", "福州市台江区新地址1号")


@pytest.mark.django_db
def test_the_admin_refuses_an_invalid_id_number(client, admin_user, borrower):
    client.force_login(admin_user)
    url = reverse("admin:borrowers_borrower_change", args=[borrower.pk])
    form = client.get(url).context["adminform"].form
    data = {k: ("" if v is None else v) for k, v in form.initial.items()}
    data.update(id_number=borrower.id_number[:-1] + ("0" if borrower.id_number[-1] != "0" else "1"))
    data.update({"fact_changes-TOTAL_FORMS": 0, "fact_changes-INITIAL_FORMS": 0})
    response = client.post(url, data)
    assert response.status_code == 200
    assert "id_number" in response.context["adminform"].form.errors
    borrower.refresh_from_db()
    assert borrower.version == 1
