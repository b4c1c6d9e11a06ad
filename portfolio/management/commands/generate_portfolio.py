from datetime import date

from django.utils import timezone

from common.management.base import AuditedCommand
from portfolio.generator import generate_portfolio


class Command(AuditedCommand):
    help = "Generate a reproducible synthetic portfolio inside PostgreSQL (for benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--loans", type=int, required=True)
        parser.add_argument(
            "--officers",
            type=int,
            default=None,
            help="loan officers to spread the book over (default: one per 300 loans)",
        )
        parser.add_argument(
            "--as-of",
            type=date.fromisoformat,
            default=None,
            help="the date the histories run up to (default today)",
        )
        parser.add_argument(
            "--tag", default="0", help="distinguishes references when generating more than once"
        )

    def handle(self, *args, **options):
        def progress(done, total):
            self.stdout.write(f"  {done:,} / {total:,} loans")

        result = generate_portfolio(
            loans=options["loans"],
            as_of=options["as_of"] or timezone.localdate(),
            tag=options["tag"],
            officers=options["officers"] or max(1, options["loans"] // 300),
            progress=progress,
        )
        self.stdout.write(
            f"generated {result.loans:,} loans from id {result.first_loan_id} "
            f"in {result.seconds:.1f}s"
        )
