"""Login throttling, security headers, and the absence of inline scripts."""

import logging
import re

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.urls import reverse

from tests.utils import PASSWORD


def _login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


@pytest.mark.django_db
def test_five_failed_logins_in_a_row_lock_the_account_and_log_it(client, officer, caplog):
    caplog.set_level(logging.WARNING, logger="daihou.security")
    for _ in range(4):
        assert _login(client, officer.username, "wrong-password").status_code == 200
    assert not AccessAttempt.objects.filter(username=officer.username, failures_since_start__gte=5)

    locked = _login(client, officer.username, "wrong-password")
    assert locked.status_code == 429
    assert 'data-testid="locked-out"' in locked.content.decode()

    # Even the right password is refused while the lock lasts.
    assert _login(client, officer.username, PASSWORD).status_code == 429
    assert AccessFailureLog.objects.filter(username=officer.username, locked_out=True).exists()
    assert any(
        "locked out" in r.getMessage() and officer.username in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.django_db
def test_the_lock_is_per_account(client, officer, other_officer):
    for _ in range(5):
        _login(client, officer.username, "wrong-password")
    response = _login(client, other_officer.username, PASSWORD)
    assert response.status_code == 302


@pytest.mark.django_db
def test_a_successful_login_resets_the_failure_count(client, officer):
    for _ in range(4):
        _login(client, officer.username, "wrong-password")
    assert _login(client, officer.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        _login(client, officer.username, "wrong-password")
    assert _login(client, officer.username, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_pages_send_a_content_security_policy_without_inline_scripts(client, officer):
    client.force_login(officer)
    for url in [reverse("home"), reverse("password_change")]:
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response["X-Frame-Options"] == "DENY"
        # Every <script> loads a file; none carries code of its own.
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", response.content.decode(), re.S)
        assert scripts
        for attributes, body in scripts:
            assert "src=" in attributes and body.strip() == ""


@pytest.mark.django_db
def test_static_assets_are_served_from_our_own_origin(client):
    html = client.get(reverse("login")).content.decode()
    for url in re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html):
        assert url.startswith("/static/"), url
