from datetime import date

from django.core.management.base import CommandError

from common.management.base import AuditedCommand
from postloan.risk import nightly as risk_nightly


class Command(AuditedCommand):
    help = "Classify the portfolio as of a date (default today): tiers, provisions, risk flags."

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            type=date.fromisoformat,
            default=None,
            help="YYYY-MM-DD; default today (Asia/Shanghai)",
        )

    def handle(self, *args, **options):
        risk_nightly.batch_session()
        try:
            run = risk_nightly.classify_portfolio(as_of=options["as_of"], trigger="command")
        except risk_nightly.RunInProgress as busy:
            raise CommandError(str(busy)) from busy
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            f"classified {run.loans_seen} loans as of {run.as_of} in {seconds:.1f}s: "
            f"{run.changed} tier changes, {run.flags_raised} flags raised, "
            f"{run.flags_resolved} resolved"
            + ("" if run.updated_state else " (a newer run exists: state left unchanged)")
        )
