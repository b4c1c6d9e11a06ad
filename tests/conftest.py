"""Fixtures shared by the whole suite.

Everything runs on real engines: PostgreSQL and Redis from DATABASE_URL / REDIS_URL
(`make test` starts embedded ones when they are unset), a real Celery worker process
for task behaviour, and the system Chromium for browser tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.test import override_settings
from django.utils import timezone, translation

from common.roles import Role
from portfolio.generator import generate_portfolio
from postloan.risk.nightly import LOCK_KEY as RUN_LOCK_KEY
from postloan.risk.nightly import lock_is_held
from tests.utils import PASSWORD, frozen_on

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Plain static storage: the manifest exists only after collectstatic, which production runs.
_static_override = override_settings(
    STORAGES={
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    },
    # A deliberately slow hasher costs 0.2-0.4 s per test user; tests need no such cost.
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
)


@pytest.fixture(scope="session", autouse=True)
def _plain_static_storage():
    _static_override.enable()
    yield
    _static_override.disable()


@pytest.fixture(autouse=True)
def _clock(request):
    """`@pytest.mark.clock(date(2026, 11, 20))` (optionally `hour=`) fixes the clock for the
    whole test, fixtures included (autouse fixtures are set up first), so that a test whose
    outcome depends on "today" gives the same result on any day it runs."""
    marker = request.node.get_closest_marker("clock")
    if marker is None:
        yield None
        return
    with frozen_on(*marker.args, **marker.kwargs) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def small_book(db):
    """A generated book of 300 loans as of today (tests/loans/test_ledger_sql.py,
    tests/postloan/risk/test_nightly.py)."""
    return generate_portfolio(loans=300, as_of=timezone.localdate(), tag="small")


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request the test client sends in another
    (a language cookie, an Accept-Language header) leaves it active in the test's thread,
    and the next test's messages would be Chinese (seen when a Chinese page's test ran
    before the limit rule's)."""
    yield
    translation.deactivate()


# --- Users by role ---------------------------------------------------------------------------


@pytest.fixture
def make_user(db):
    def make(username: str | None = None, *roles: Role, is_staff: bool = False, **fields) -> User:
        username = username or f"user-{uuid.uuid4().hex[:8]}"
        user = User.objects.create_user(
            username=username,
            password=PASSWORD,
            is_staff=is_staff,
            is_superuser=is_staff,
            **fields,
        )
        if roles:
            user.groups.set([Group.objects.get(name=role.value) for role in roles])
        return user

    return make


@pytest.fixture
def officer(make_user):
    return make_user("officer-a", Role.LOAN_OFFICER, first_name="Qiang", last_name="Wang")


@pytest.fixture
def other_officer(make_user):
    return make_user("officer-b", Role.LOAN_OFFICER, first_name="Fang", last_name="Liu")


@pytest.fixture
def risk_manager(make_user):
    return make_user("risk-a", Role.RISK_MANAGER, first_name="Min", last_name="Li")


@pytest.fixture
def other_risk_manager(make_user):
    return make_user("risk-b", Role.RISK_MANAGER, first_name="Jun", last_name="Zhao")


@pytest.fixture
def supervisor(make_user):
    return make_user("supervisor-a", Role.SUPERVISOR, first_name="Wei", last_name="Zhang")


@pytest.fixture
def admin_user(make_user):
    return make_user("admin-a", is_staff=True)


# --- A real Celery worker --------------------------------------------------------------------


@pytest.fixture(scope="session")
def celery_queue() -> str:
    """A queue of this test session's own, so a developer's running worker never takes our tasks."""
    from config.celery import app

    name = f"test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    app.conf.task_default_queue = name
    return name


def _worker_env(database_name: str) -> dict:
    from django.conf import settings

    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{database_name}"
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


class WorkerProcess:
    """A `celery worker` subprocess on the test database and this session's queue."""

    def __init__(
        self,
        queue: str,
        database_name: str,
        log_path: Path,
        *,
        env: dict | None = None,
        new_session: bool = False,
    ):
        self.queue = queue
        self.database_name = database_name
        self.log_path = log_path
        # More environment (settings) for the worker; its own process group, for a test
        # that kills the worker and its pool children at once (`kill`).
        self.env = env or {}
        self.new_session = new_session
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--queues",
                self.queue,
                "--concurrency",
                "1",
                "--pool",
                "prefork",
                "--loglevel",
                "INFO",
                "--hostname",
                f"{self.queue}@%h",
                "--without-mingle",
                "--without-gossip",
                "--include",
                "tests.celery_tasks",
            ],
            cwd=PROJECT_ROOT,
            env=_worker_env(self.database_name) | self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=self.new_session,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b"ready." in self.log_path.read_bytes():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("celery worker did not start:\n" + self.log_path.read_text())

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    def kill(self) -> None:
        """SIGKILL the worker's whole process group: the main process and its pool children
        die at once, as when a machine or container is killed (needs `new_session`)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(20)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, celery_queue, tmp_path_factory):
    """Starts one real worker for the session; tests using it need transactional_db."""
    from django.db import connection

    with django_db_blocker.unblock():
        database_name = connection.settings_dict["NAME"]
    worker = WorkerProcess(
        celery_queue, database_name, tmp_path_factory.mktemp("celery") / "worker.log"
    )
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(autouse=True)
def _worker_done_with_the_run(request, django_db_blocker):
    """After a test that ran the classification on the real worker, wait until the worker's
    lock session has gone: it closes when the run commits, but the server releases the
    advisory lock only as that backend exits, a moment later, and the next test in this
    process would meet RunInProgress (seen once under pytest-xdist's ordering)."""
    yield
    if "celery_worker" not in request.fixturenames:
        return
    deadline = time.monotonic() + 10
    with django_db_blocker.unblock():
        while lock_is_held(RUN_LOCK_KEY) and time.monotonic() < deadline:
            time.sleep(0.05)


# --- The system Chromium ------------------------------------------------------------------------


def _chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def browser():
    path = _chromium_path()
    if path is None:
        message = "no system Chromium (apt-get install chromium)"
        if os.environ.get("DAIHOU_REQUIRE_BROWSER"):
            pytest.fail(message + "; DAIHOU_REQUIRE_BROWSER is set, browser tests may not skip")
        pytest.skip(message)
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls in
    # the test body are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A phone-sized page: loan officers use the portal in the field."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="en-US", base_url=live_server.url
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_audit_guard():
    """A transactional test ends with Django's flush, one TRUNCATE of every table, which the
    audit tables' triggers refuse (common/migrations/0008_audit_append_only.py). The test
    database's user is a superuser, so the flush turns the triggers off for its own
    transaction; the portal's production role is no superuser and cannot."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    flush = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        flush(self, ["SET LOCAL session_replication_role = replica", *sql_list])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


# --- Data the migrations create, restored after each transactional test's flush -------------


@pytest.fixture(scope="session")
def _migration_data(django_db_setup, django_db_blocker):
    """The role groups and their permissions as the data migrations left them."""
    from postloan.models import InspectionPolicyRule, ProvisionRate

    with django_db_blocker.unblock():
        return {
            "groups": [
                (
                    group.name,
                    list(group.permissions.values_list("content_type__app_label", "codename")),
                )
                for group in Group.objects.prefetch_related("permissions")
            ],
            "policy": list(InspectionPolicyRule.objects.all()),
            "rates": list(ProvisionRate.objects.all()),
        }


@pytest.fixture(autouse=True)
def _restore_migration_data(request):
    """A transactional test (live server, Celery worker) ends with a flush that empties every
    table; the role groups, the default inspection policy and the provision rates come from
    data migrations, so put them back before each one.
    (serialized_rollback cannot do this: Playwright's event loop gives the test thread a
    different connection object, one without the serialized snapshot.)"""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker and marker.kwargs.get("transaction")) or {
        "transactional_db",
        "live_server",
    } & set(request.fixturenames)
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    from django.contrib.auth.models import Permission

    from postloan.models import InspectionPolicyRule, ProvisionRate

    data = request.getfixturevalue("_migration_data")
    if not InspectionPolicyRule.objects.exists():
        InspectionPolicyRule.objects.bulk_create(data["policy"])
    if not ProvisionRate.objects.exists():
        ProvisionRate.objects.bulk_create(data["rates"])
    for name, permissions in data["groups"]:
        group, created = Group.objects.get_or_create(name=name)
        if created:
            for app_label, codename in permissions:
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )


DB_FIXTURES = {"db", "transactional_db", "live_server", "celery_worker", "django_db_setup"}


SERVER_FIXTURES = {"transactional_db", "live_server", "celery_worker"}


def pytest_collection_modifyitems(items):
    """Mark tests that touch no engine `nodb`, and those that rely on the servers' own
    behaviour (real commits, locks between connections, a Celery worker, a browser)
    `servers`: CI's second pass, on the machine's own PostgreSQL and Redis, runs those."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        marker = item.get_closest_marker("django_db")
        if not (marker or DB_FIXTURES & fixtures):
            item.add_marker(pytest.mark.nodb)
        if (
            SERVER_FIXTURES & fixtures
            or (marker and marker.kwargs.get("transaction"))
            or item.get_closest_marker("celery")
            or item.get_closest_marker("browser")
        ):
            item.add_marker(pytest.mark.servers)


# --- The loan book ------------------------------------------------------------------------------


@pytest.fixture
def branch(db):
    from tests.factories import BranchFactory

    return BranchFactory(code="HQ", name="总部营业部")


@pytest.fixture
def product(db):
    from tests.factories import ProductFactory

    return ProductFactory(code="GUAR", name="担保贷", min_guarantors=0)


@pytest.fixture
def borrower(db):
    from tests.factories import make_person

    return make_person("王建国")


@pytest.fixture
def loan(borrower, officer, product, branch):
    """A 12-month equal-instalment loan of ¥120,000 at 12%, disbursed 10 days ago."""
    from tests.factories import book_loan

    return book_loan(borrower=borrower, officer=officer, product=product, branch=branch)


@pytest.fixture
def other_loan(other_officer, product, branch):
    from tests.factories import book_loan, make_person

    return book_loan(
        borrower=make_person("刘芳"), officer=other_officer, product=product, branch=branch
    )
