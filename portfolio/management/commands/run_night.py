import os
from datetime import date

from django.core.management.base import CommandError
from django.utils import timezone

from common.management.base import AuditedCommand
from portfolio import nightly
from portfolio.tasks import run_night
from postloan.models import NightRun, NightStep


class Command(AuditedCommand):
    help = (
        "Start (or join) the night's chain for a date (default today): snapshot, "
        "classification, planning, early warnings, dashboard refresh, one after another. "
        "Steps already done are not run again, nor one a worker is running."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            type=date.fromisoformat,
            default=None,
            help="YYYY-MM-DD; default today (Asia/Shanghai)",
        )
        parser.add_argument(
            "--retry",
            action="store_true",
            help="run the night's failed steps again, and those not run because of them",
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="hand the steps to the Celery workers instead of running them here",
        )

    def handle(self, *args, **options):
        as_of = options["as_of"] or timezone.localdate()
        if as_of > timezone.localdate():
            raise CommandError("--as-of is in the future")
        night = nightly.night_start(as_of=as_of, trigger="command", retry=options["retry"])
        if options["queue"]:
            run_night.delay()
            self.stdout.write(f"night {as_of}: queued for the workers")
            return
        worker = f"command pid {os.getpid()}"
        while (step := nightly.run_next_step(worker=worker)) is not None:
            line = f"night {step.night.as_of}: {step.name} {step.status}"
            if step.status == NightStep.Status.FAILED:
                line += f": {step.error}"
            if step.status == NightStep.Status.RUNNING:  # interrupted, to be resumed
                self.stdout.write(
                    f"night {step.night.as_of}: {step.name} interrupted ({step.error}); "
                    "the watchdog resumes it, or run this again in a few minutes"
                )
                return
            self.stdout.write(line)
        night.refresh_from_db()
        running = (
            NightStep.objects.filter(status=NightStep.Status.RUNNING)
            .select_related("night")
            .order_by("night__as_of", "position")
            .first()
        )
        if night.status == NightRun.Status.RUNNING and running is not None:
            self.stdout.write(
                f"night {running.night.as_of}: {running.name} is running on {running.worker} "
                f"(last heartbeat {running.heartbeat_at:%H:%M:%S}); left to it"
            )
            return
        skipped = night.steps.filter(status=NightStep.Status.SKIPPED)
        for step in skipped:
            self.stdout.write(f"night {as_of}: {step.name} not run: {step.blocked_by} failed")
        self.stdout.write(f"night {as_of}: {night.status}")
        if night.status == NightRun.Status.FAILED:
            raise CommandError(f"night {as_of} failed (run again with --retry)")
