"""The password page counts a wrong old password as a failed login (issue 16): together
with the login's failures it locks the account at AXES_FAILURE_LIMIT, on both pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from tests.utils import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-secret-for-spring-7"
LIMIT = settings.AXES_FAILURE_LIMIT


def _change(client, old_password, **headers):
    return client.post(
        reverse("password_change"),
        {
            "old_password": old_password,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        **headers,
    )


def _login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def _failures(user) -> int:
    return sum(
        AccessAttempt.objects.filter(username=user.username).values_list(
            "failures_since_start", flat=True
        )
    )


def test_a_wrong_old_password_is_a_failed_login_for_axes(client, officer):
    client.force_login(officer)
    response = _change(client, "wrong-password")
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.text
    assert _failures(officer) == 1
    (failure,) = AccessFailureLog.objects.filter(username=officer.username)
    assert failure.path_info == reverse("password_change")
    assert not failure.locked_out
    # What axes keeps of the request holds none of the passwords typed.
    attempt = AccessAttempt.objects.get(username=officer.username)
    assert "wrong-password" not in attempt.post_data
    assert NEW_PASSWORD not in attempt.post_data


def test_below_the_limit_the_right_old_password_works_and_clears_the_count(client, officer):
    client.force_login(officer)
    for _ in range(LIMIT - 1):
        assert _change(client, "wrong-password").status_code == 200
    assert _failures(officer) == LIMIT - 1

    response = _change(client, PASSWORD)
    assert response.url == reverse("password_change_done")
    officer.refresh_from_db()
    assert officer.check_password(NEW_PASSWORD)
    # AXES_RESET_ON_SUCCESS: the right password clears the count, as a login does.
    assert settings.AXES_RESET_ON_SUCCESS
    assert _failures(officer) == 0
    assert AccessFailureLog.objects.filter(username=officer.username).count() == LIMIT - 1


@pytest.mark.parametrize(
    ("language", "locked_text"),
    [("en", "Account locked"), ("zh-hans", "账号已锁定")],
)
def test_at_the_limit_the_account_is_locked_on_both_pages(client, officer, language, locked_text):
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    client.force_login(officer)
    for _ in range(LIMIT - 2):
        assert _change(client, "wrong-password", **headers).status_code == 200
    # Login failures and password-page failures add up.
    assert _login(client, officer.username, "wrong-password").status_code == 200
    assert _failures(officer) == LIMIT - 1

    locked = _change(client, "wrong-password", **headers)
    assert locked.status_code == 429
    assert 'data-testid="locked-out"' in locked.text
    assert locked_text in locked.text

    # Even the right old password is refused now, and the password stays as it was.
    refused = _change(client, PASSWORD, **headers)
    assert refused.status_code == 429
    assert 'data-testid="locked-out"' in refused.text
    assert locked_text in refused.text
    officer.refresh_from_db()
    assert officer.check_password(PASSWORD)
    assert not officer.check_password(NEW_PASSWORD)

    # The login is locked too.
    client.logout()
    assert _login(client, officer.username, PASSWORD).status_code == 429
    assert AccessFailureLog.objects.filter(
        username=officer.username, path_info=reverse("password_change"), locked_out=True
    ).exists()


def test_the_lock_cools_off_as_a_login_lock_does(client, officer):
    client.force_login(officer)
    for _ in range(LIMIT):
        _change(client, "wrong-password")
    assert _change(client, PASSWORD).status_code == 429

    later = timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(minutes=1)
    with time_machine.travel(later, tick=True):
        response = _change(client, PASSWORD)
        assert response.url == reverse("password_change_done")
    officer.refresh_from_db()
    assert officer.check_password(NEW_PASSWORD)


def test_the_lock_is_per_account(client, officer, other_officer):
    client.force_login(officer)
    for _ in range(LIMIT):
        _change(client, "wrong-password")
    client.force_login(other_officer)
    assert _change(client, PASSWORD).url == reverse("password_change_done")
    assert _login(client, other_officer.username, NEW_PASSWORD).status_code == 302
