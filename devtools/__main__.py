"""The run and test commands behind `make run` and `make test`.

    python -m devtools run [--port 8000] [--host 127.0.0.1]
    python -m devtools test [pytest arguments...]
    python -m devtools exec -- COMMAND...   (e.g. `manage.py shell` on the embedded engines)

Each starts the embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are
unset (devtools/engines.py) and stops them on exit.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from common.progress import Steps
from devtools.engines import DATA_DIR, PROJECT_ROOT, engines

PYTHON = sys.executable
MANAGE = str(PROJECT_ROOT / "manage.py")


LOOPBACK = {"127.0.0.1", "localhost", "::1"}
READY_TIMEOUT = 180


def run_environment(env: dict[str, str], host: str) -> dict[str, str]:
    """The settings `make run` gives the portal, unless the environment already sets them.

    The pages are what production shows (DEBUG off: the portal's own 404 and 500 pages)
    unless DEBUG=1 is asked for. The rest is what plain http on this machine needs: with
    DEBUG off the settings turn secure cookies and HSTS on, and a browser never sends a
    secure cookie back over http, so no login would hold. Whitenoise serves the static
    files from the source folders, as they change (no collectstatic).
    """
    defaults = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "SECURE_HSTS_PRELOAD": "0",
        "STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "WHITENOISE_USE_FINDERS": "1",
        "WHITENOISE_AUTOREFRESH": "1",
        "CELERY_BEAT_SCHEDULE_FILENAME": str(DATA_DIR / "celerybeat-schedule"),
        "MEDIA_ROOT": str(DATA_DIR / "media"),
    }
    if host not in LOOPBACK:
        defaults["ALLOWED_HOSTS"] = "*" if host in ("0.0.0.0", "::") else host
    for name, value in defaults.items():
        env.setdefault(name, value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run_portal(args: argparse.Namespace) -> int:
    started = time.monotonic()
    steps = Steps()
    print("Daihou: make run")
    step = steps.start("Engines: PostgreSQL and Redis")
    with engines() as env:
        step.end("running")
        run_environment(env, args.host)
        logins = DATA_DIR / "demo-logins.txt"
        # The schema and the demo in one process: one Django start-up, not two.
        subprocess.run(
            [PYTHON, MANAGE, "setup_demo", "--migrate", "--allow-production"]
            + ["--logins-file", str(logins)],
            env=env,
            check=True,
            cwd=PROJECT_ROOT,
        )

        address = f"{args.host}:{args.port}"
        commands = {
            "web": [PYTHON, MANAGE, "runserver", address],
            "worker": [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--hostname",
                "worker@%h",
            ],
            "beat": [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                env["CELERY_BEAT_SCHEDULE_FILENAME"],
            ],
        }
        step = steps.start("Web server, Celery worker and beat")
        children: dict[str, subprocess.Popen] = {}
        outputs: dict[str, _Output] = {}
        for name, command in commands.items():
            # Each child in its own session: one Ctrl-C reaches this launcher, which then
            # stops every child (and the autoreloader's grandchild) as a group. Their output
            # comes through here, so the ready banner can be printed after theirs.
            children[name] = subprocess.Popen(
                command,
                env=env,
                cwd=PROJECT_ROOT,
                start_new_session=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            outputs[name] = _Output(name, children[name])
        local = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        waiting = _wait_until_ready(f"http://{local}:{args.port}/healthz", outputs, children)
        step.end("ready" if not waiting else "still starting: " + ", ".join(waiting))
        _print_banner(f"http://{address}/", logins, time.monotonic() - started)
        return _supervise(children)


# A line that says each child is ready for work.
READY_LINES = {"worker": " ready.", "beat": "beat: Starting..."}


class _Output:
    """Copies a child's output to ours, each line prefixed with the child's name."""

    def __init__(self, name: str, child: subprocess.Popen):
        self.name = name
        self.ready = threading.Event()
        self.marker = READY_LINES.get(name)
        thread = threading.Thread(target=self._copy, args=(child.stdout,), daemon=True)
        thread.start()

    def _copy(self, stream) -> None:
        prefix = f"{self.name:<6} | ".encode()
        for line in iter(stream.readline, b""):
            sys.stdout.buffer.write(prefix + line)
            sys.stdout.buffer.flush()
            if self.marker and self.marker.encode() in line:
                self.ready.set()


def _wait_until_ready(url: str, outputs: dict, children: dict) -> list[str]:
    """Wait for the web server to answer and the worker and beat to say they are ready;
    the names of those that are not, if READY_TIMEOUT passes first (or one exited)."""
    deadline = time.monotonic() + READY_TIMEOUT
    web_ready = False
    while time.monotonic() < deadline:
        if not web_ready:
            web_ready = _answers(url)
        waiting = [] if web_ready else ["web"]
        waiting += [name for name in READY_LINES if not outputs[name].ready.is_set()]
        if not waiting or any(child.poll() is not None for child in children.values()):
            return waiting
        time.sleep(0.2)
    return waiting


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _print_banner(url: str, logins: Path, seconds: float) -> None:
    rule = "=" * 72
    text = logins.read_text(encoding="utf-8").rstrip() if logins.exists() else ""
    print(f"\n{rule}\n  Daihou is ready at {url}   (started in {seconds:.0f} s)\n")
    for line in text.splitlines():
        print(f"  {line}")
    print(f"\n  Ctrl-C stops the web server, the worker, beat and the engines.\n{rule}\n")
    sys.stdout.flush()


def _supervise(children: dict[str, subprocess.Popen]) -> int:
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"\n{name} exited with status {child.returncode}; stopping the rest")
                exit_code = child.returncode or 1
                stopping = True
                break
        time.sleep(0.3)

    print("\nDaihou: stopping web, worker and beat")
    for child in children.values():
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
    return exit_code


def test_processes(pytest_args: list[str]) -> list[str]:
    """pytest-xdist's `-n`: one test process per core (at most 8: each has a test database
    and a Redis database of its own, and a server has 16), unless the arguments choose
    (`-n 0`, `-p no:xdist`) or debug (`--pdb`, `-s`: one process to step through)."""
    chosen = {"-n", "--numprocesses", "--pdb", "-s", "--capture=no", "no:xdist"}
    if any(arg in chosen or arg.startswith(("-n", "--numprocesses=")) for arg in pytest_args):
        return []
    return ["-n", str(min(os.cpu_count() or 1, 8))]


def _run_tests(pytest_args: list[str]) -> int:
    with engines() as env:
        return subprocess.run(
            [PYTHON, "-m", "pytest", *test_processes(pytest_args), *pytest_args],
            env=env,
            cwd=PROJECT_ROOT,
        ).returncode


def _exec(command: list[str]) -> int:
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("usage: python -m devtools exec -- COMMAND...", file=sys.stderr)
        return 2
    if command[0].endswith(".py"):
        command = [PYTHON, *command]
    with engines(verbose=False) as env:
        env.setdefault("DEBUG", "1")
        return subprocess.run(command, env=env, cwd=PROJECT_ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "test":
        return _run_tests(argv[1:])
    if argv and argv[0] == "exec":
        return _exec(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m devtools")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="migrate, load demo data, start web + worker + beat")
    run.add_argument("--host", default=os.environ.get("DAIHOU_HOST", "127.0.0.1"))
    run.add_argument("--port", default=os.environ.get("DAIHOU_PORT", "8000"))
    sub.add_parser("test", help="run pytest on the embedded or configured engines")
    sub.add_parser("exec", help="run a command with DATABASE_URL / REDIS_URL set")
    args = parser.parse_args(argv)
    return _run_portal(args)


if __name__ == "__main__":
    sys.exit(main())
