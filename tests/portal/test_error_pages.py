"""The portal's own 404 and 500 pages (in its layout, in the reader's language) and favicon."""

from __future__ import annotations

import socket

import pytest
from django.urls import reverse

# In the portal's layout: its stylesheet, its favicon and the brand in the navbar.
LAYOUT = ['href="/static/css/daihou.css"', 'rel="icon"', "贷后"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def failing_client(client, settings):
    settings.ROOT_URLCONF = "tests.common.failing_urls"
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize(
    ("language", "title", "text"),
    [
        ("en", "Not found", "There is no such page or record."),
        ("zh-hans", "未找到", "没有此页面或记录。"),
    ],
)
@pytest.mark.django_db
def test_a_missing_page_is_the_portals_404_in_the_readers_language(
    client, officer, language, title, text
):
    client.force_login(officer)
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 404
    page = response.content.decode()
    assert f'<html lang="{language}">' in page
    assert title in page and text in page
    assert all(mark in page for mark in LAYOUT)
    assert officer.first_name in page  # the navbar of a logged-in user


@pytest.mark.parametrize(
    ("language", "title", "text"),
    [
        ("en", "Server error", "Something went wrong on our side; it has been logged."),
        ("zh-hans", "服务器错误", "服务器出错，已记录在案。"),
    ],
)
@pytest.mark.django_db
def test_a_failure_is_the_portals_500_in_the_readers_language(
    failing_client, language, title, text
):
    response = failing_client.get("/explode/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 500
    page = response.content.decode()
    assert f'<html lang="{language}">' in page
    assert title in page and text in page
    assert all(mark in page for mark in LAYOUT)
    assert "a fault the error page must not show" not in page
    assert "Traceback" not in page


@pytest.mark.django_db(transaction=True)
def test_the_500_page_renders_with_the_database_down(client, officer):
    from django.db import connection

    # given a logged-in officer, and then no database
    client.force_login(officer)
    client.raise_request_exception = False
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(_free_port())
    try:
        response = client.get(reverse("home"))
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port

    # then the portal's own page, which needs nothing from the database
    assert response.status_code == 500
    page = response.content.decode()
    assert "Server error" in page
    assert all(mark in page for mark in LAYOUT)


@pytest.mark.django_db
def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.ico"
    assert "max-age=86400" in response["Cache-Control"]
    page = client.get(reverse("login")).content.decode()
    assert '<link rel="icon" href="/static/favicon.ico"' in page
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
