"""Audit history: database triggers record every change, with who / which task did it."""

import io

import pghistory.models
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from common.models import UserEvent
from tests.celery_tasks import rename_user
from tests.utils import wait_for


@pytest.mark.django_db
def test_bulk_updates_are_recorded_by_the_trigger(officer):
    # given a user, when it is changed by a bulk UPDATE that bypasses save()
    User.objects.filter(pk=officer.pk).update(first_name="Gang")
    # then the trigger has recorded the change all the same
    names = list(
        UserEvent.objects.filter(pgh_obj_id=officer.pk)
        .order_by("pgh_id")
        .values_list("pgh_label", "first_name")
    )
    assert names[-1] == ("update", "Gang")
    assert ("insert", "Qiang") in names


@pytest.mark.django_db
def test_password_hashes_and_login_times_stay_out_of_the_history(officer):
    before = UserEvent.objects.filter(pgh_obj_id=officer.pk).count()
    officer.set_password("another-password-1")
    officer.save()
    assert UserEvent.objects.filter(pgh_obj_id=officer.pk).count() == before
    assert "password" not in {f.name for f in UserEvent._meta.fields}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE common_userevent SET first_name = 'forged'",
        "DELETE FROM common_userevent",
    ],
)
def test_event_tables_are_append_only(officer, statement):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert UserEvent.objects.filter(pgh_obj_id=officer.pk).exists()


@pytest.mark.django_db
def test_web_requests_record_the_user_and_url(client, admin_user, officer):
    client.force_login(admin_user)
    url = f"/admin/auth/user/{officer.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(
        first_name="Jian",
        groups=[g.pk for g in officer.groups.all()],
        user_permissions=[],
        date_joined_0=officer.date_joined.strftime("%Y-%m-%d"),
        date_joined_1=officer.date_joined.strftime("%H:%M:%S"),
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]

    event = UserEvent.objects.filter(pgh_obj_id=officer.pk, first_name="Jian").get()
    context = pghistory.models.Context.objects.get(id=event.pgh_context_id)
    assert context.metadata["user"] == admin_user.pk
    assert context.metadata["url"] == url


@pytest.mark.django_db
def test_management_commands_record_their_command_line(tmp_path, monkeypatch):
    # A small import (it creates the officers' users) rather than the demo: the same
    # AuditedCommand, in a second instead of two minutes.
    from tests.portfolio.test_import_as_of import a_small_book

    a_small_book(tmp_path)
    argv = ["import_portfolio", str(tmp_path), "--as-of", "2025-06-30"]
    monkeypatch.setattr("sys.argv", ["manage.py", *argv])
    call_command(*argv, stdout=io.StringIO())
    event = UserEvent.objects.filter(username="zhou.li", pgh_label="insert").get()
    context = pghistory.models.Context.objects.get(id=event.pgh_context_id)
    assert context.metadata["command"] == f"import_portfolio {tmp_path} --as-of 2025-06-30"


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_celery_tasks_record_the_task_name(celery_worker, officer):
    rename_user.delay(officer.pk, "Bo")
    event = wait_for(
        lambda: UserEvent.objects.filter(pgh_obj_id=officer.pk, first_name="Bo").first()
    )
    context = pghistory.models.Context.objects.get(id=event.pgh_context_id)
    assert context.metadata["task"] == "tests.rename_user"
