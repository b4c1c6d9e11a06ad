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
import time

from devtools.engines import DATA_DIR, PROJECT_ROOT, engines

PYTHON = sys.executable
MANAGE = str(PROJECT_ROOT / "manage.py")


def _run_portal(args: argparse.Namespace) -> int:
    print("Daihou: starting the engines")
    with engines() as env:
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        env.setdefault("DEBUG", "1")
        env.setdefault("CELERY_BEAT_SCHEDULE_FILENAME", str(DATA_DIR / "celerybeat-schedule"))
        env.setdefault("MEDIA_ROOT", str(DATA_DIR / "media"))
        env["PYTHONUNBUFFERED"] = "1"

        def manage(*argv: str) -> None:
            subprocess.run([PYTHON, MANAGE, *argv], env=env, check=True, cwd=PROJECT_ROOT)

        manage("migrate", "--noinput", "-v", "0")
        manage("setup_demo")

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
        children: dict[str, subprocess.Popen] = {}
        for name, command in commands.items():
            # Each child in its own session: one Ctrl-C reaches this launcher, which then
            # stops every child (and the autoreloader's grandchild) as a group.
            children[name] = subprocess.Popen(
                command, env=env, cwd=PROJECT_ROOT, start_new_session=True
            )
        print(f"\nDaihou is running at http://{address}/  (Ctrl-C stops everything)\n")
        return _supervise(children)


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


def _run_tests(pytest_args: list[str]) -> int:
    with engines() as env:
        return subprocess.run(
            [PYTHON, "-m", "pytest", *pytest_args], env=env, cwd=PROJECT_ROOT
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
