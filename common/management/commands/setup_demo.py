from django.conf import settings
from django.core.management.base import CommandError

from common import demo
from common.management.base import AuditedCommand
from common.roles import ROLE_LABELS


class Command(AuditedCommand):
    help = "Create one demo user per role and load the demo data once (used by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load demo users even with DEBUG off (never on a real deployment).",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError("Demo users are for development: DEBUG is off.")
        users = demo.ensure_demo_users()
        demo.load_demo_data(self.stdout)
        self.stdout.write(f"\nDemo logins (password: {settings.DAIHOU_DEMO_PASSWORD})")
        for user in users:
            roles = ", ".join(str(ROLE_LABELS[r]) for r in user.roles) or "admin (staff)"
            self.stdout.write(f"  {user.username:<11} {roles}")
