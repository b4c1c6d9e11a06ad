"""docker-compose.yml and the Dockerfile match the project (no Docker engine runs here)."""

import ast
import importlib
import re
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = {"web", "worker", "beat", "migrate"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_env_names() -> set[str]:
    """Every variable config/settings.py reads: env("X"), env.bool("X", ...), ..."""
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        func = node.func
        is_env = (isinstance(func, ast.Name) and func.id == "env") or (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "env"
        )
        first = node.args[0]
        if is_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return names


def test_settings_read_the_documented_variables():
    names = settings_env_names()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"} <= names
    readme = (ROOT / "README.md").read_text()
    undocumented = {name for name in names if f"`{name}`" not in readme}
    assert not undocumented, f"not in the README's configuration table: {undocumented}"


def test_compose_has_every_service_with_healthchecks(compose):
    services = compose["services"]
    assert {"db", "redis", *APP_SERVICES} <= set(services)
    for name in ("db", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert services["db"]["image"].startswith("postgres:")
    assert int(re.match(r"postgres:(\d+)", services["db"]["image"]).group(1)) >= 15
    assert set(compose["volumes"]) >= {"pgdata", "media"}


def test_exactly_one_beat(compose):
    beats = [
        name
        for name, service in compose["services"].items()
        if "beat" in " ".join(map(str, service.get("command") or []))
    ]
    assert beats == ["beat"]
    assert compose["services"]["beat"].get("deploy", {}).get("replicas", 1) == 1


def _manage_commands(service: dict) -> list[list[str]]:
    """The `python manage.py ...` commands of a service, in order (`sh -c "a && b"` too)."""
    command = _command(service)
    script = command[2] if command[:2] == ["sh", "-c"] else " ".join(command)
    return [part.split() for part in script.split("&&")]


def test_migrate_runs_once_before_the_app(compose):
    services = compose["services"]
    assert _manage_commands(services["migrate"])[0] == [
        "python",
        "manage.py",
        "migrate",
        "--noinput",
    ]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def _command(service: dict) -> list[str]:
    command = service.get("command")
    return command if isinstance(command, list) else str(command).split()


def test_commands_name_modules_that_exist(compose):
    services = compose["services"]
    web = _command(services["web"])
    assert web[0] == "gunicorn"
    module, attribute = web[1].split(":")
    assert hasattr(importlib.import_module(module), attribute)
    for name in ("worker", "beat"):
        command = _command(services[name])
        assert command[:3] == ["celery", "-A", "config"]
        assert importlib.import_module("config").celery_app.main == "daihou"
        assert command[3] == name
    for command in _manage_commands(services["migrate"]):
        assert command[:2] == ["python", "manage.py"]
        assert (ROOT / command[1]).is_file()
        assert command[2] in get_commands(), command


def _database_user(service: dict) -> str:
    return re.match(r"postgres://([^:@]+)[:@]", service["environment"]["DATABASE_URL"]).group(1)


def test_migrations_run_as_the_owner_and_the_portal_as_the_app_role(compose):
    # given the roles the database's first start creates
    services = compose["services"]
    roles = compose["configs"]["db-roles"]["content"]
    assert "CREATE ROLE daihou_owner LOGIN" in roles
    assert "CREATE ROLE daihou_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE" in roles
    assert "ALTER DATABASE daihou OWNER TO daihou_owner" in roles
    assert (
        services["db"]["configs"][0]["target"].startswith("/docker-entrypoint-initdb.d/")
        and services["db"]["configs"][0]["source"] == "db-roles"
    )
    assert services["db"]["environment"]["POSTGRES_USER"] not in ("daihou_owner", "daihou_app")
    # then the migrations run as the owner, which then grants the app role its privileges
    assert _database_user(services["migrate"]) == "daihou_owner"
    assert _manage_commands(services["migrate"])[-1] == [
        "python",
        "manage.py",
        "grant_app_role",
        "daihou_app",
    ]
    # and web, worker and beat connect as the app role
    for name in ("web", "worker", "beat"):
        assert _database_user(services[name]) == "daihou_app", name


def test_environment_names_are_read_by_settings(compose):
    known = settings_env_names()
    app_env = set(compose["x-app"]["environment"])
    assert app_env <= known, app_env - known
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    # The passwords feed the db service and the DATABASE_URLs in the compose file itself.
    passwords = {"POSTGRES_PASSWORD", "OWNER_DB_PASSWORD", "APP_DB_PASSWORD"}
    assert example - passwords <= known, example - known
    assert passwords <= example


def test_dockerfile_installs_with_the_lock_and_collects_static():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-c requirements/constraints.txt" in dockerfile
    assert "collectstatic" in dockerfile
    assert re.search(r"^USER (?!root)", dockerfile, re.M)
    assert "config.wsgi:application" in dockerfile
