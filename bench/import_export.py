"""Benchmark: the portfolio import and the per-loan export at scale (issue 9).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/daihou_bench_import \\
    REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/import_export.py --import-loans 100000 --export-loans 1000000

Import: writes a folder of CSV files for N loans (24 monthly instalments each as explicit
schedule rows, about 10 repayments each: 2.4 million and 1 million rows for 100,000 loans,
with borrowers, guarantors, guarantees and collateral), re-creates the import database
empty (migrated), and times `manage.py import_portfolio DIR` — validation, writes, the
classification and the inspection planning that follow — in a child process whose peak
resident memory is measured on its own. Then the same import again (nothing changes).

Export: on a database of its own (daihou_bench_export), a generated book of N loans
(portfolio.generator, kept between runs when the size matches), classified for today
(untimed, reported), then `manage.py export_portfolio --out FILE.csv` timed.

Times are wall-clock; memory is the command's process (PostgreSQL's is not included).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
sys.path.insert(0, str(ROOT))

from common.idnumbers import resident_id_check_char  # noqa: E402
from loans.schedule import add_months  # noqa: E402

# The child's own peak RSS: a wrapper process runs the command and reads RUSAGE_CHILDREN,
# which then covers that one command only.
MEASURE = """
import json, resource, subprocess, sys, time
started = time.monotonic()
code = subprocess.run(sys.argv[1:]).returncode
print(json.dumps({"seconds": time.monotonic() - started, "code": code,
                  "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def measure(args: list[str], env: dict) -> dict:
    output = subprocess.run(
        [PYTHON, "-c", MEASURE, *args],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    lines = output.strip().splitlines()
    for line in lines[:-1]:
        print("   ", line)
    result = json.loads(lines[-1])
    if result["code"]:
        raise SystemExit(f"{' '.join(args)} failed with {result['code']}")
    return result


def manage(*args: str) -> list[str]:
    return [PYTHON, str(ROOT / "manage.py"), *args]


def with_database(url: str, name: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path=f"/{name}"))


def psql(url: str, sql: str) -> str:
    return subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def recreate(url: str, name: str, env: dict) -> None:
    admin = with_database(url, "postgres")
    psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin, f"CREATE DATABASE {name}")
    subprocess.run(manage("migrate", "-v0"), env=env, cwd=ROOT, check=True)


def database_exists(url: str, name: str) -> bool:
    admin = with_database(url, "postgres")
    return psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{name}'") == "1"


# --- The import folder ---------------------------------------------------------------------------


def _resident_id(n: int) -> str:
    born = date(1960, 1, 1) + timedelta(days=n // 1000)
    first17 = f"110105{born:%Y%m%d}{n % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def write_book(folder: Path, loans: int, *, today: date, seed: int = 9) -> dict[str, int]:
    """N loans of 24 monthly instalments (explicit schedules, equal principal in whole fen),
    disbursed 8 to 20 months ago, each paying a number of instalments around ten."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(
        ["borrowers", "guarantors", "loans", "schedule", "guarantees", "repayments", "collateral"],
        0,
    )

    def table(name, header):
        handle = open(folder / f"{name}.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        return handle, writer

    with open(folder / "products.csv", "w", encoding="utf-8") as handle:
        handle.write("code,name,rate_max,amount_max,term_max\nBENCH,基准贷,36,10000000.00,60\n")
    officers = [f"officer.{n:02d}" for n in range(40)]
    with open(folder / "officers.csv", "w", encoding="utf-8") as handle:
        handle.write("username,full_name,branch\n")
        for n, username in enumerate(officers):
            handle.write(f"{username},信贷员{n},BR{n % 5:02d}\n")
    files = {
        "borrowers": table("borrowers", ["ref", "kind", "name", "id_number", "phone", "address"]),
        "guarantors": table("guarantors", ["ref", "kind", "name", "id_number", "phone"]),
        "loans": table(
            "loans",
            [
                "ref",
                "borrower_ref",
                "product_code",
                "principal",
                "annual_rate",
                "term_months",
                "disbursed_on",
                "repayment_method",
                "managing_officer",
                "originating_officer",
            ],
        ),
        "schedule": table(
            "schedule", ["loan_ref", "seq", "due_on", "principal_due", "interest_due"]
        ),
        "guarantees": table("guarantees", ["loan_ref", "guarantor_ref"]),
        "repayments": table("repayments", ["loan_ref", "paid_on", "amount", "reference"]),
        "collateral": table(
            "collateral", ["loan_ref", "kind", "description", "value", "valued_on"]
        ),
    }
    w = {name: writer for name, (_, writer) in files.items()}
    today_text = today.isoformat()
    for n in range(1, loans + 1):
        borrower, loan = f"B{n:07d}", f"L{n:07d}"
        w["borrowers"].writerow(
            [borrower, "person", f"借款人{n}", _resident_id(n), f"139{n:08d}", f"北京市朝阳区{n}号"]
        )
        counts["borrowers"] += 1
        if n % 2 == 0:
            guarantor = f"G{n:07d}"
            w["guarantors"].writerow(
                [guarantor, "person", f"担保人{n}", _resident_id(5_000_000 + n), ""]
            )
            w["guarantees"].writerow([loan, guarantor])
            counts["guarantors"] += 1
            counts["guarantees"] += 1
        principal = rng.randrange(200, 5000) * 10_000  # fen
        rate = rng.choice((720, 960, 1200, 1440))  # hundredths of a percent
        disbursed = today - timedelta(days=rng.randrange(240, 600))
        officer = officers[n % len(officers)]
        w["loans"].writerow(
            [
                loan,
                borrower,
                "BENCH",
                f"{principal / 100:.2f}",
                f"{rate / 100:.2f}",
                24,
                disbursed.isoformat(),
                "equal_principal",
                officer,
                officer,
            ]
        )
        counts["loans"] += 1
        first_due = add_months(disbursed, 1)
        part, remaining = principal // 24, principal
        dues = []
        for seq in range(1, 25):
            this = remaining if seq == 24 else part
            # interest = remaining × rate / 12, in fen, half up (integer arithmetic)
            interest = (remaining * rate * 2 + 120_000) // 240_000
            due_on = add_months(first_due, seq - 1, anchor_day=first_due.day)
            dues.append((due_on, this + interest))
            w["schedule"].writerow(
                [loan, seq, due_on.isoformat(), f"{this / 100:.2f}", f"{interest / 100:.2f}"]
            )
            remaining -= this
        counts["schedule"] += 24
        due = sum(1 for d, _ in dues if d.isoformat() < today_text)
        paying = min(rng.randrange(7, 16), due)
        for seq, (due_on, amount) in enumerate(dues[:paying], start=1):
            paid_on = min(due_on + timedelta(days=rng.randrange(-3, 6)), today - timedelta(days=1))
            w["repayments"].writerow(
                [loan, paid_on.isoformat(), f"{amount / 100:.2f}", f"P{n}-{seq}"]
            )
        counts["repayments"] += paying
        if n % 5 == 0:
            w["collateral"].writerow(
                [
                    loan,
                    "real_estate",
                    f"房产{n}",
                    f"{principal * 2 / 100:.2f}",
                    disbursed.isoformat(),
                ]
            )
            counts["collateral"] += 1
    for handle, _ in files.values():
        handle.close()
    return counts


# --- The benchmark --------------------------------------------------------------------------------


def _data_rows(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        return sum(1 for _ in handle) - 1


def bench_import(args, base_env: dict, rows: list) -> None:
    url = with_database(base_env["DATABASE_URL"], args.import_db)
    env = {**base_env, "DATABASE_URL": url}
    folder = Path(args.work_dir) / f"book-{args.import_loans}"
    if not (folder / "repayments.csv").exists():
        started = time.monotonic()
        counts = write_book(folder, args.import_loans, today=date.today())
        print(f"wrote {folder} in {time.monotonic() - started:.0f}s: {counts}")
    schedule_rows, repayment_rows = (
        _data_rows(folder / f) for f in ("schedule.csv", "repayments.csv")
    )
    recreate(url, args.import_db, env)
    size = (
        f"{args.import_loans:,} loans, {schedule_rows:,} schedule rows, "
        f"{repayment_rows:,} repayments"
    )
    print("import into an empty database …")
    first = measure(manage("import_portfolio", str(folder)), env)
    rows.append(("`import_portfolio DIR` (empty database)", size, first))
    print("the same import again …")
    again = measure(manage("import_portfolio", str(folder)), env)
    rows.append(("`import_portfolio DIR` again (nothing changes)", size, again))


def bench_export(args, base_env: dict, rows: list) -> None:
    url = with_database(base_env["DATABASE_URL"], args.export_db)
    env = {**base_env, "DATABASE_URL": url}
    loans = -1
    if database_exists(url, args.export_db):
        try:
            loans = int(psql(url, "SELECT COUNT(*) FROM loans_loan"))
        except subprocess.CalledProcessError:
            loans = -1
    if loans != args.export_loans:
        recreate(url, args.export_db, env)
        print(f"generating {args.export_loans:,} loans …")
        subprocess.run(
            manage("generate_portfolio", "--loans", str(args.export_loans)),
            env=env,
            cwd=ROOT,
            check=True,
        )
    today = date.today().isoformat()
    classified = psql(
        url,
        f"SELECT 1 FROM postloan_classificationrun WHERE as_of = '{today}' "
        "AND status = 'completed' AND updated_state",
    )
    size = f"{args.export_loans:,} loans"
    if classified != "1":
        print("classifying for today (the export needs a run) …")
        run = measure(manage("classify_portfolio"), env)
        rows.append(("`classify_portfolio` (before the export, untimed there)", size, run))
    out = Path(args.work_dir) / f"export-{args.export_loans}.csv"
    print("export …")
    result = measure(manage("export_portfolio", "--out", str(out)), env)
    rows.append(("`export_portfolio --out FILE.csv` (today, classified)", size, result))
    if args.export_xlsx:
        out = out.with_suffix(".xlsx")
        result = measure(manage("export_portfolio", "--out", str(out)), env)
        rows.append(("`export_portfolio --out FILE.xlsx` (today, classified)", size, result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--import-loans", type=int, default=100_000, help="0 to skip")
    parser.add_argument("--export-loans", type=int, default=1_000_000, help="0 to skip")
    parser.add_argument("--import-db", default="daihou_bench_import")
    parser.add_argument("--export-db", default="daihou_bench_export")
    parser.add_argument("--export-xlsx", action="store_true", help="also time the XLSX export")
    parser.add_argument("--work-dir", default="/tmp/daihou-bench-import")
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ or "REDIS_URL" not in os.environ:
        raise SystemExit("set DATABASE_URL (any database of the server) and REDIS_URL")
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    rows: list = []
    if args.import_loans:
        bench_import(args, env, rows)
    if args.export_loans:
        bench_export(args, env, rows)
    print()
    print("| command | size | wall time | peak memory |")
    print("|---|---|---|---|")
    for command, size, result in rows:
        print(f"| {command} | {size} | {result['seconds']:.1f} s | {result['rss_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
