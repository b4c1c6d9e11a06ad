"""Benchmark: what a request pays for its session, by session engine, with Redis up and down.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/daihou_bench_sessions \\
    REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/sessions.py [--requests 2000]

Migrates the database named in DATABASE_URL (created if missing), logs one user in, then
for each configuration times
  * the session's load alone (`SessionStore(key).load()`, what every logged-in request does
    first), and
  * a whole request to a page that reads nothing but the session and the user
    (GET /accounts/password/, through every middleware, with Django's test client),
and prints the median and the mean per call in milliseconds, the configurations taking
turns in ten rounds. The configurations:
`db` sessions; `cached_db` with Redis up; `cached_db` with Redis down (nothing listening on
the cache's port) through the resilient cache (common/cache.py), with its pause between
attempts and without it (every call tries Redis again).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _create_database() -> None:
    from urllib.parse import urlparse

    import psycopg2

    url = urlparse(os.environ["DATABASE_URL"])
    name = url.path.lstrip("/")
    conn = psycopg2.connect(url._replace(path="/postgres").geturl())
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cursor.fetchone():
            cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is: nothing listens


def _time(call, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    _create_database()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command

    import common.cache

    call_command("migrate", verbosity=0)
    user, _ = User.objects.get_or_create(username="bench-sessions")
    redis_up = settings.CACHES["default"]
    redis_down = {**redis_up, "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0"}
    configurations = [
        ("db", "django.contrib.sessions.backends.db", redis_up, 5.0),
        ("cached_db, Redis up", "django.contrib.sessions.backends.cached_db", redis_up, 5.0),
        (
            "cached_db, Redis down, 5 s pause",
            "django.contrib.sessions.backends.cached_db",
            redis_down,
            5.0,
        ),
        (
            "cached_db, Redis down, no pause",
            "django.contrib.sessions.backends.cached_db",
            redis_down,
            0.0,
        ),
    ]
    rounds = 10
    print(
        f"{args.requests} calls each, in {rounds} interleaved rounds (so that the machine's "
        "load falls on every configuration alike); milliseconds per call (median / mean)"
    )
    print(f"{'configuration':<36} {'session load':>16} {'whole request':>16}")
    samples = {label: ([], []) for label, *_ in configurations}
    for _ in range(rounds):
        for label, engine, cache, pause in configurations:
            common.cache.RETRY_AFTER = pause
            load, page = _measure(engine, cache, user, args.requests // rounds)
            samples[label][0].extend(load)
            samples[label][1].extend(page)
    for label, (load, page) in samples.items():
        print(
            f"{label:<36} {statistics.median(load):>7.3f} / {statistics.fmean(load):>6.3f}"
            f" {statistics.median(page):>7.3f} / {statistics.fmean(page):>6.3f}"
        )


def _measure(engine: str, cache: dict, user, n: int) -> tuple[list[float], list[float]]:
    from django.conf import settings
    from django.test import Client, override_settings
    from django.utils.module_loading import import_string

    static = {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(
        SESSION_ENGINE=engine, CACHES={"default": cache}, STORAGES={**settings.STORAGES, **static}
    ):
        client = Client(SERVER_NAME="127.0.0.1")
        client.force_login(user)
        key = client.cookies[settings.SESSION_COOKIE_NAME].value
        store = import_string(engine + ".SessionStore")
        _time(lambda: client.get("/accounts/password/"), 20)  # templates compiled, caches warm
        load = _time(lambda: store(key).load(), n)
        page = _time(lambda: client.get("/accounts/password/"), n)
    return load, page


if __name__ == "__main__":
    main()
