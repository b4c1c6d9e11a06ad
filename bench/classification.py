"""Benchmark: the nightly classification against its floor, at growing portfolio sizes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/daihou_bench \\
    REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/classification.py --loans 10000 100000 1000000

Uses a database of its own (created if missing, emptied first; `--reuse` keeps a book
already generated there, e.g. by bench/nightly.py, and skips generating). For each size it
generates the portfolio (`manage.py generate_portfolio`), then, from the same starting
state each time:
  * the floor: bench/floor.sql through psql (missed counts, changed tiers, their rows);
  * the first run: `manage.py classify_portfolio` on a never-classified book;
  * the nightly run: the next day's run on the classified book (few changes), against
    the floor for the same next day on the same classified book (run, then rolled back).
Times are wall-clock; the run's peak memory is its process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

RESET_SQL = """
TRUNCATE postloan_reclassification, postloan_riskflag, postloan_classificationrun CASCADE;
UPDATE postloan_loanriskstate s SET tier = 'normal', quantitative_tier = 'normal',
    consecutive_missed = 0, days_past_due = 0, overdue_amount = 0, provision = 0,
    adjustment_id = NULL;
"""


def reset(url: str) -> None:
    """Every timed run starts from the same never-classified state."""
    psql(url, "-c", RESET_SQL)
    psql(url, "-c", "VACUUM ANALYZE postloan_loanriskstate")


def psql(url: str, *args: str, capture: bool = False) -> str:
    result = subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-q", *args],
        check=True,
        capture_output=capture,
        text=True,
    )
    return result.stdout if capture else ""


def manage(*args: str, env: dict) -> tuple[float, int]:
    """Run a management command; return (seconds, peak resident memory in MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], check=True, env=env, cwd=ROOT)
    seconds = time.monotonic() - started
    peak_kb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    return seconds, peak_kb // 1024


def run_seconds(url: str, as_of: date) -> float:
    """The run's own duration, as it recorded it (without the process start-up)."""
    out = psql(
        url,
        "-tAc",
        "SELECT EXTRACT(EPOCH FROM finished_at - started_at) FROM "
        f"postloan_classificationrun WHERE as_of = '{as_of.isoformat()}'",
        capture=True,
    )
    return float(out.strip())


def timed_psql(url: str, *args: str) -> float:
    started = time.monotonic()
    psql(url, *args)
    return time.monotonic() - started


def timed_floor_rolled_back(url: str, as_of: date) -> float:
    """The floor on the current state, its writes rolled back so the state is unchanged."""
    script = (ROOT / "bench" / "floor.sql").read_text().replace("COMMIT;", "ROLLBACK;")
    started = time.monotonic()
    subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-v", f"as_of='{as_of.isoformat()}'"],
        input=script,
        text=True,
        check=True,
    )
    return time.monotonic() - started


def recreate_database(url: str) -> None:
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    psql(admin, "-c", f'DROP DATABASE IF EXISTS "{name}"')
    psql(admin, "-c", f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loans", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--as-of", type=date.fromisoformat, default=date.today())
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database's generated book (one size; generated with the same --as-of)",
    )
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings")
    as_of = args.as_of
    rows = []
    for loans in args.loans:
        print(f"\n== {loans:,} loans", flush=True)
        generated = float("nan")
        if not args.reuse:
            recreate_database(url)
            manage("migrate", "-v", "0", env=env)
            generated, _ = manage(
                "generate_portfolio", "--loans", str(loans), "--as-of", as_of.isoformat(), env=env
            )
            # What autovacuum does to a loaded book (it is off on the development machine).
            psql(url, "-c", "VACUUM (ANALYZE)")
        counts = psql(
            url,
            "-tAc",
            "SELECT (SELECT COUNT(*) FROM loans_loan WHERE status = "
            "'active'), (SELECT COUNT(*) FROM loans_instalment)",
            capture=True,
        )
        active, instalments = (int(x) for x in counts.strip().split("|"))
        reset(url)
        floor = timed_psql(
            url, "-v", f"as_of='{as_of.isoformat()}'", "-f", str(ROOT / "bench" / "floor.sql")
        )
        reset(url)
        first, first_mb = manage("classify_portfolio", "--as-of", as_of.isoformat(), env=env)
        first_own = run_seconds(url, as_of)
        next_floor = timed_floor_rolled_back(url, as_of + timedelta(days=1))
        nightly, nightly_mb = manage(
            "classify_portfolio", "--as-of", (as_of + timedelta(days=1)).isoformat(), env=env
        )
        nightly_own = run_seconds(url, as_of + timedelta(days=1))
        rows.append(
            (
                loans,
                active,
                instalments,
                generated,
                floor,
                first,
                first_own,
                first_mb,
                next_floor,
                nightly,
                nightly_own,
                nightly_mb,
            )
        )
        print(
            f"floor {floor:.2f}s; first run {first:.2f}s wall, {first_own:.2f}s own "
            f"({first_own / floor:.2f}x floor), {first_mb} MB; nightly {nightly:.2f}s wall, "
            f"{nightly_own:.2f}s own ({nightly_own / next_floor:.2f}x its floor "
            f"{next_floor:.2f}s), "
            f"{nightly_mb} MB",
            flush=True,
        )
    print(
        "\n| loans | active | instalments | generate (s) | floor (s) | first run: wall / own (s)"
        " | own / floor | peak MB | next-day floor (s) | nightly run: wall / own (s) | own / floor"
        " | peak MB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (
        loans,
        active,
        inst,
        gen,
        floor,
        first,
        first_own,
        first_mb,
        next_floor,
        nightly,
        nightly_own,
        nightly_mb,
    ) in rows:
        print(
            f"| {loans:,} | {active:,} | {inst:,} | {gen:.0f} | {floor:.2f} | {first:.2f} / "
            f"{first_own:.2f} | {first_own / floor:.2f} | {first_mb} | {next_floor:.2f} | "
            f"{nightly:.2f} / {nightly_own:.2f} | {nightly_own / next_floor:.2f} | {nightly_mb} |"
        )


if __name__ == "__main__":
    main()
