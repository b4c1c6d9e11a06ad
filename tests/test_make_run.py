"""`make run`: the portal as it serves it (DEBUG off, plain http), and the launcher's output."""

from __future__ import annotations

import http.cookiejar
import io
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command

from common.progress import Steps
from devtools import __main__ as launcher
from tests.conftest import PROJECT_ROOT, _worker_env
from tests.utils import PASSWORD


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- The settings make run gives the portal ---------------------------------------------


def test_make_run_serves_without_debug_unless_asked(monkeypatch):
    assert launcher.run_environment({}, "127.0.0.1")["DEBUG"] == "0"
    assert launcher.run_environment({"DEBUG": "1"}, "127.0.0.1")["DEBUG"] == "1"
    env = launcher.run_environment({}, "127.0.0.1")
    # Over http on this machine: no secure-only cookies, no HSTS, no redirect to https.
    assert env["SESSION_COOKIE_SECURE"] == env["CSRF_COOKIE_SECURE"] == "0"
    assert env["SECURE_HSTS_SECONDS"] == env["SECURE_SSL_REDIRECT"] == "0"
    assert "ALLOWED_HOSTS" not in env  # 127.0.0.1 is always allowed
    assert launcher.run_environment({}, "0.0.0.0")["ALLOWED_HOSTS"] == "*"
    assert launcher.run_environment({}, "daihou.lan")["ALLOWED_HOSTS"] == "daihou.lan"


class _Portal:
    """`manage.py runserver` in a subprocess with make run's settings, on the test database."""

    def __init__(self, database_name: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = _worker_env(database_name)
        for name in ("DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
            env.pop(name, None)  # as a newcomer's make run: none of them set
        env = launcher.run_environment(env, "127.0.0.1")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("runserver did not answer")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


@pytest.fixture
def portal(transactional_db):
    from django.db import connection

    server = _Portal(connection.settings_dict["NAME"])
    yield server
    server.stop()


class _Browser:
    """urllib with a cookie jar: like a browser, it never sends a Secure cookie over http."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str):
        try:
            response = self.opener.open(self.base + path, timeout=10)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers
        return response.status, response.read().decode(errors="replace"), response.headers

    def post(self, path: str, data: dict):
        body = urllib.parse.urlencode(data).encode()
        try:
            response = self.opener.open(self.base + path, body, timeout=10)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.geturl()
        return response.status, response.read().decode(), response.url


def test_a_login_holds_over_plain_http_as_make_run_serves_the_portal(portal, officer):
    # The server checks passwords with the portal's own hashers, not the tests' fast one.
    officer.password = PBKDF2PasswordHasher().encode(PASSWORD, "make-run-salt", iterations=1000)
    officer.save(update_fields=["password"])
    browser = _Browser(portal.url)
    status, page, _ = browser.get("/accounts/login/")
    assert status == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    status, page, url = browser.post(
        "/accounts/login/",
        {"username": officer.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )

    assert status == 200, page[:2000]
    assert url == portal.url + "/"  # redirected home, logged in
    assert officer.first_name in page
    status, page, _ = browser.get("/loans/")
    assert status == 200
    assert 'data-testid="user-menu"' in page


def test_make_run_serves_static_files_the_favicon_and_the_portals_404(portal):
    browser = _Browser(portal.url)
    status, css, headers = browser.get("/static/css/daihou.css")
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert css == (PROJECT_ROOT / "static/css/daihou.css").read_text()  # from the source folder
    status, _, headers = browser.get("/favicon.ico")  # redirected to the static file
    assert status == 200
    assert headers["Content-Type"] == "image/x-icon"
    status, page, _ = browser.get("/no-such-page/")
    assert status == 404
    assert "There is no such page or record." in page  # the portal's page, not Django's
    assert "Using the URLconf" not in page


# --- What the launcher prints ------------------------------------------------------------


def test_steps_print_a_line_per_step_with_its_time():
    out = io.StringIO()
    steps = Steps(out)
    with steps.step("Demo book") as step:
        bar = steps.progress("loans booked", 8)
        for _ in range(7):
            bar.advance()
        bar.finish()  # 7 of an estimated 8
        step.summary = "7 loans"
    lines = out.getvalue().splitlines()
    assert lines[0] == "  Demo book ..."
    # Not a terminal: a line at each quarter, and the last one says what was done.
    assert lines[1:-1] == [
        "    loans booked [#######-----------------------] 2/8",
        "    loans booked [###############---------------] 4/8",
        "    loans booked [######################--------] 6/8",
        "    loans booked [##############################] 7/7",
    ]
    assert re.fullmatch(r"  Demo book: 7 loans \(\d+\.\d s\)", lines[-1])


def test_a_bar_on_a_terminal_is_redrawn_in_place():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    bar = Steps(out).progress("migrations", 3)
    for _ in range(3):
        bar.advance()
    bar.finish()
    assert "\n" not in out.getvalue().rstrip("\n")  # one line, rewritten with \r
    assert out.getvalue().endswith("\r    migrations [##############################] 3/3\n")


@pytest.mark.django_db
def test_setup_demo_says_each_step_and_leaves_the_logins_for_the_banner(tmp_path):
    from datetime import date

    from django.utils import timezone

    from postloan.models import ClassificationRun
    from tests.factories import ProductFactory

    # given a portal whose demo is loaded (a second `make run`)
    ProductFactory(code="GUAR")
    ClassificationRun.objects.create(
        as_of=date(2026, 1, 31), status="completed", started_at=timezone.now(), trigger="demo"
    )
    out = io.StringIO()
    logins = tmp_path / "logins.txt"

    call_command(
        "setup_demo", allow_production=True, migrate=True, logins_file=str(logins), stdout=out
    )

    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"  Database schema: up to date \(\d+\.\d s\)", lines[1])
    assert re.fullmatch(r"  Demo users: 6 users \(\d+\.\d s\)", lines[3])
    assert "  Demo book: borrowers, guarantors, loans, repayments: already loaded" in lines[5]
    assert lines[6] == "  Classification, inspections, dashboard: already loaded"
    assert "Demo logins" not in out.getvalue()  # printed by the launcher, last
    text = logins.read_text()
    assert text.startswith("Demo logins (password: ")
    assert "  officer     Loan officer" in text


def test_the_banner_waits_for_the_web_server_the_worker_and_beat(tmp_path, monkeypatch, capfd):
    (tmp_path / "healthz").write_text("ok")
    port = _free_port()
    children = {
        "web": subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        ),
        "worker": _saying("celery@host ready.", after=1.0),
        "beat": _saying("beat: Starting...", after=2.0),
    }
    try:
        outputs = {name: launcher._Output(name, child) for name, child in children.items()}
        started = time.monotonic()
        waiting = launcher._wait_until_ready(f"http://127.0.0.1:{port}/healthz", outputs, children)
        assert waiting == []
        assert time.monotonic() - started >= 2.0  # beat said it last
        assert "worker | celery@host ready." in capfd.readouterr().out

        # a worker that never says it is ready is named once the wait is over
        monkeypatch.setattr(launcher, "READY_TIMEOUT", 1.5)
        children["silent"] = _saying("nothing", after=0)
        silent = {**children, "worker": children["silent"]}
        del silent["silent"]
        outputs = {name: launcher._Output(name, child) for name, child in silent.items()}
        outputs["beat"].ready.set()
        assert launcher._wait_until_ready(f"http://127.0.0.1:{port}/healthz", outputs, silent) == [
            "worker"
        ]
    finally:
        for child in children.values():
            child.kill()
            child.wait()


def _saying(line: str, after: float) -> subprocess.Popen:
    script = f"import time; time.sleep({after}); print({line!r}, flush=True); time.sleep(60)"
    return subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
