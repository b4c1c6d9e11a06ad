import csv
from datetime import date

from django.core.management.base import CommandError

from common.management.base import AuditedCommand
from postloan.models import Inspection, InspectionKind, InspectionStatus

HEADER = ["loan_ref", "kind", "due_on", "status", "officer"]


class Command(AuditedCommand):
    help = (
        "Write inspections due in a date range to CSV: loan_ref, kind, due_on, status, "
        "officer; optionally only some statuses and kinds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", type=date.fromisoformat, required=True)
        parser.add_argument("--to", dest="end", type=date.fromisoformat, required=True)
        parser.add_argument("--out", required=True, help="FILE.csv")
        parser.add_argument(
            "--status",
            dest="statuses",
            action="append",
            choices=InspectionStatus.values,
            help="only inspections in this status (repeat for several)",
        )
        parser.add_argument(
            "--kind",
            dest="kinds",
            action="append",
            choices=InspectionKind.values,
            help="only inspections of this kind (repeat for several)",
        )

    def handle(self, *args, **options):
        if options["end"] < options["start"]:
            raise CommandError("--to is before --from")
        rows = Inspection.objects.filter(due_on__range=(options["start"], options["end"]))
        if options["statuses"]:
            rows = rows.filter(status__in=options["statuses"])
        if options["kinds"]:
            rows = rows.filter(kind__in=options["kinds"])
        rows = rows.order_by("due_on", "loan__reference", "kind").values_list(
            "loan__reference", "kind", "due_on", "status", "assigned_to__username"
        )
        count = 0
        with open(options["out"], "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(HEADER)
            for ref, kind, due_on, status, officer in rows.iterator(chunk_size=10_000):
                writer.writerow([ref, kind, due_on.isoformat(), status, officer])
                count += 1
        self.stdout.write(f"wrote {count} inspections to {options['out']}")
