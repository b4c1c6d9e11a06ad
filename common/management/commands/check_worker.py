import time
import uuid

from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from kombu.exceptions import OperationalError

from common.tasks import heartbeat_key, worker_heartbeat


class Command(BaseCommand):
    help = "Send a heartbeat task and wait for a Celery worker to run it (an ops check)."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=15.0)

    def handle(self, *args, **options):
        token = uuid.uuid4().hex
        started = time.monotonic()
        try:
            worker_heartbeat.delay(token)
        except OperationalError as error:
            raise CommandError(f"could not reach Redis (the Celery broker): {error}") from error
        while time.monotonic() - started < options["timeout"]:
            if cache.get(heartbeat_key(token)) is not None:
                elapsed = time.monotonic() - started
                self.stdout.write(f"worker answered in {elapsed:.2f}s")
                return
            time.sleep(0.1)
        raise CommandError(f"no worker ran the heartbeat within {options['timeout']}s")
