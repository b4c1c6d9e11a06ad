from datetime import date

from common.management.base import AuditedCommand
from postloan.inspections.planning import schedule_inspections
from postloan.risk.nightly import batch_session


class Command(AuditedCommand):
    help = (
        "Plan the inspections of the month of a date (default today) for every active loan. "
        "A date before the latest classification run is planned from the tiers as of that "
        "date, computed, not from today's."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", type=date.fromisoformat, default=None)
        parser.add_argument(
            "--full",
            action="store_true",
            help="re-plan every active loan, not only those whose inputs changed since the "
            "month's last planning (after inspections were edited by hand, say)",
        )

    def handle(self, *args, **options):
        batch_session()
        result = schedule_inspections(as_of=options["as_of"], full=options["full"])
        if result.state_as_of is not None:
            self.stdout.write(
                f"the tiers as of {result.as_of} were computed for the planning "
                f"(the current state is as of {result.state_as_of})"
            )
        self.stdout.write(
            f"planned inspections as of {result.as_of}: {result.replanned} loan(s) re-planned, "
            f"{result.created} created, "
            f"{result.sampled} sampled, {result.reopened} reopened, {result.rescheduled} "
            f"rescheduled, {result.cancelled} cancelled, {result.completed} completed"
        )
