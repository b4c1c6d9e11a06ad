import argparse
from datetime import date

from django.core.management.base import CommandError

from common.management.base import AuditedCommand
from portfolio.importing import import_portfolio


class Command(AuditedCommand):
    help = (
        "Import a portfolio from a folder of CSV files or one XLSX workbook (one sheet per "
        "table); see docs/import-format.md. Nothing is written if any row has an error."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="a folder of CSV files, or FILE.xlsx")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check everything and report what would change, write nothing",
        )
        parser.add_argument(
            "--as-of",
            type=_day,
            metavar="YYYY-MM-DD",
            help=(
                "the cut-over date: the files are the book as it stood at the end of that day "
                "(no date in them after it; the import's handovers, classification and "
                "planning as of it). Default: today"
            ),
        )

    def handle(self, *args, **options):
        result = import_portfolio(
            options["path"], dry_run=options["dry_run"], as_of=options["as_of"]
        )
        for error in result.errors:
            row = "" if error.row is None else f" row {error.row}"
            column = f" [{error.column}]" if error.column else ""
            self.stderr.write(f"{error.file}{row}{column}: {error.message}")
        if result.errors_omitted:
            self.stderr.write(f"… and {result.errors_omitted} more errors")
        if not result.ok:
            raise CommandError(
                f"{result.error_count} error(s): nothing was written ({result.seconds:.1f}s)"
            )
        verb = "would be" if result.dry_run else "were"
        self.stdout.write(f"{'table':<12} {'rows':>9} {'created':>9} {'updated':>9}")
        for table, count in result.counts.items():
            self.stdout.write(f"{table:<12} {count.rows:>9} {count.created:>9} {count.updated:>9}")
        for what, number in result.derived.items():
            self.stdout.write(f"  {what}: {number}")
        for note in result.notes:
            self.stdout.write(note)
        summary = (
            f"{result.changed} row(s) {verb} created or updated as of {result.as_of} "
            f"in {result.seconds:.1f}s"
        )
        if result.classification is not None:
            run = result.classification
            summary += (
                f"; classified {run.loans_seen} loans as of {run.as_of} "
                f"({run.changed} tier changes)"
            )
        if result.dry_run:
            summary += " (dry run: nothing written)"
        self.stdout.write(summary)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a date as YYYY-MM-DD, not {value!r}") from None
