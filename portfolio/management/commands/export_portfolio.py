from datetime import date

from django.core.management.base import CommandError
from django.utils import timezone

from common.management.base import AuditedCommand
from portfolio.exporting import export_loans, export_tables


class Command(AuditedCommand):
    help = (
        "Export one row per loan as classified on a date (--as-of, --out FILE.csv|FILE.xlsx), "
        "or with --tables the whole book in the import format (--out DIR or FILE.xlsx)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            type=date.fromisoformat,
            default=None,
            help="YYYY-MM-DD; default today (Asia/Shanghai)",
        )
        parser.add_argument("--out", required=True, help="FILE.csv or FILE.xlsx (or DIR)")
        parser.add_argument(
            "--tables",
            action="store_true",
            help="the whole book in the import format, to import elsewhere",
        )

    def handle(self, *args, **options):
        out = options["out"]
        if options["tables"]:
            counts = export_tables(out)
            listed = ", ".join(f"{table} {count}" for table, count in counts.items())
            self.stdout.write(f"wrote {out}: {listed}")
            return
        as_of = options["as_of"] or timezone.localdate()
        if as_of > timezone.localdate():
            raise CommandError("--as-of is in the future")
        if not out.lower().endswith((".csv", ".xlsx")):
            raise CommandError("--out must end in .csv or .xlsx")
        count = export_loans(as_of=as_of, out=out)  # reads only: another date is computed
        self.stdout.write(f"wrote {count} loans as of {as_of} to {out}")
