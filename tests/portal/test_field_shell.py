"""The field app's shell (portal/views.py): the manifest and the service worker are served
from the portal's root, the worker names the static files it keeps by their current names,
and logging out tells the browser to empty what it kept."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_manifest_opens_the_installed_app_on_the_agenda(client):
    response = client.get("/manifest.webmanifest")

    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert manifest["name"] == "贷后 Daihou" and manifest["display"] == "standalone"
    assert manifest["start_url"] == reverse("postloan:agenda")
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        path = ROOT / "static" / icon["src"].removeprefix("/static/")
        assert path.is_file(), icon["src"]


def test_the_service_worker_controls_the_whole_portal_and_keeps_only_static_files(client):
    response = client.get("/sw.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    body = response.content.decode()
    kept = json.loads(re.search(r"var STATIC_URLS = (\[.*?\]);", body).group(1))
    assert kept and all(url.startswith("/static/") for url in kept)
    for url in kept:
        assert (ROOT / "static" / url.removeprefix("/static/")).is_file(), url
    # Every Workbox module it loads is vendored here: nothing comes from a CDN.
    modules = json.loads(re.search(r"var MODULES = (\{.*?\});", body).group(1))
    assert set(modules) == {"workbox-core", "workbox-routing", "workbox-strategies"}
    assert "googleapis" not in body and "http" not in body.split("*/", 1)[1]


def test_a_new_deployment_changes_the_worker_so_browsers_install_it(client, settings):
    first = client.get("/sw.js").content
    settings.STATIC_URL = "/static/v2/"
    assert client.get("/sw.js").content != first


def test_the_queue_asks_the_day_at_its_address():
    queue = (ROOT / "static" / "js" / "field" / "queue.js").read_text()
    assert f'var DAY_URL = "{reverse("postloan:field_day")}";' in queue


def test_logging_out_empties_what_the_browser_kept(client, officer):
    client.force_login(officer)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Clear-Site-Data"] == '"cache", "storage"'


def test_pages_say_who_the_phone_belongs_to_and_only_officers_take_a_day_along(
    client, officer, risk_manager
):
    client.force_login(officer)
    page = client.get(reverse("home")).content.decode()
    assert f'data-user="{officer.pk}"' in page
    assert f'data-field-day="{reverse("postloan:field_day")}"' in page
    assert 'rel="manifest"' in page

    client.force_login(risk_manager)
    page = client.get(reverse("home")).content.decode()
    assert f'data-user="{risk_manager.pk}"' in page and "data-field-day" not in page


def test_the_offline_page_needs_no_login_and_the_outbox_does(client):
    assert client.get(reverse("field_offline")).status_code == 200
    assert client.get(reverse("field_outbox")).status_code == 302


def test_pages_are_compressed_for_a_phone_that_accepts_it(client, officer):
    client.force_login(officer)

    page = client.get(reverse("postloan:agenda"), headers={"Accept-Encoding": "gzip"})

    assert page["Content-Encoding"] == "gzip"
    plain = client.get(reverse("postloan:agenda"))
    assert "Content-Encoding" not in plain


def test_the_worker_is_served_under_productions_hashed_static_files(client, settings, tmp_path):
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    # (changing the settings builds the storage again: Django's setting_changed receivers)
    call_command("collectstatic", interactive=False, verbosity=0)
    response = client.get("/sw.js")
    assert response.status_code == 200
    kept = json.loads(
        re.search(r"var STATIC_URLS = (\[.*?\]);", response.content.decode()).group(1)
    )
    assert all(re.search(r"\.[0-9a-f]{12}\.", url) for url in kept), kept  # the hashed names
