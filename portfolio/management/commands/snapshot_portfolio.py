from datetime import date

from django.core.management.base import CommandError

from common.management.base import AuditedCommand
from postloan.reporting.snapshots import month_end_of, refresh_dashboard, snapshot_portfolio


class Command(AuditedCommand):
    help = "Keep the month-end snapshot of a date's month (for backfills); idempotent per month."

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of", type=date.fromisoformat, required=True, help="a month end, YYYY-MM-DD"
        )
        parser.add_argument(
            "--refresh", action="store_true", help="also rebuild the dashboard's current summaries"
        )

    def handle(self, *args, **options):
        as_of = options["as_of"]
        if as_of != month_end_of(as_of):
            raise CommandError(f"{as_of} is not a month end (e.g. {month_end_of(as_of)})")
        result = snapshot_portfolio(month_end=as_of)
        if result.created:
            self.stdout.write(f"snapshot of {as_of}: {result.loans} loans in {result.seconds:.1f}s")
        else:
            self.stdout.write(f"snapshot of {as_of} already kept ({result.loans} loans)")
        if options["refresh"]:
            self.stdout.write(f"dashboard refreshed in {refresh_dashboard():.1f}s")
