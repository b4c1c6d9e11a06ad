"""Benchmark: the newcomer's `make run`, from a fresh clone to the login page (issue 16).

    .venv/bin/python bench/make_run.py [--source /work/main] [--clone /tmp/fresh-clone] \\
        [--port 8765] [--runs 2]

Clones the committed main of --source into --clone (deleted first), then runs `make run`
there with DATABASE_URL / REDIS_URL unset (so it starts its embedded PostgreSQL and Redis,
data under the clone's own DAIHOU_DATA_DIR) on --port, and times from the start of
`make run` to the first `curl`-style GET of /accounts/login/ that answers 200, and to the
line that says the portal is ready. Then one Ctrl-C (SIGINT), and the same again in the
same clone (a second `make run`: the virtualenv, the database and the demo data are there).
Each run's output is kept in the clone as make-run-N.log; the figures are printed.
Packages come from pip's usual sources (its cache or index, as configured on the machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

READY_LINE = "Daihou is ready at"


def _login_page_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def one_run(clone: Path, port: int, number: int, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    env.update(DAIHOU_DATA_DIR=str(clone / ".data"), DAIHOU_PORT=str(port))
    env.pop("VIRTUAL_ENV", None)
    log_path = clone / f"make-run-{number}.log"
    url = f"http://127.0.0.1:{port}/accounts/login/"
    with open(log_path, "wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        answered = ready = None
        try:
            while time.monotonic() - started < timeout and process.poll() is None:
                if answered is None and _login_page_answers(url):
                    answered = time.monotonic() - started
                if ready is None and READY_LINE in log_path.read_text(errors="replace"):
                    ready = time.monotonic() - started
                if answered is not None and (
                    ready is not None or time.monotonic() - started > answered + 60
                ):
                    break  # (a launcher that prints no ready line gets a minute)
                time.sleep(0.2)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
    return {"login_page_s": answered, "ready_line_s": ready, "log": str(log_path)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--clone", default="/tmp/fresh-clone")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--again", action="store_true", help="run in the clone as it is (no new clone)"
    )
    args = parser.parse_args()

    clone = Path(args.clone)
    if not args.again:
        shutil.rmtree(clone, ignore_errors=True)
        subprocess.run(["git", "clone", "--quiet", args.source, str(clone)], check=True)
    commit = subprocess.run(
        ["git", "-C", str(clone), "log", "-1", "--format=%h %s"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"clone of {args.source} at {commit}")
    first = len(list(clone.glob("make-run-*.log"))) + 1
    for number in range(first, first + args.runs):
        result = one_run(clone, args.port, number, args.timeout)
        login = result["login_page_s"]
        ready = result["ready_line_s"]
        print(
            f"run {number}: login page answered after "
            f"{'never' if login is None else f'{login:.1f} s'}, ready line after "
            f"{'never' if ready is None else f'{ready:.1f} s'}  ({result['log']})"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
