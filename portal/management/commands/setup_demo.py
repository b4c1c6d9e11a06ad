from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from common.management.base import AuditedCommand
from common.progress import Bar, Steps
from common.roles import ROLE_LABELS
from portal import demo


class Command(AuditedCommand):
    help = (
        "Create one demo user per role and load the demo data once (used by `make run`), "
        "saying what it does, step by step, with the time each step took."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load demo users even with DEBUG off (`make run` does; never on a real "
            "deployment).",
        )
        parser.add_argument(
            "--migrate",
            action="store_true",
            help="Bring the database schema up to date first, with a progress bar.",
        )
        parser.add_argument(
            "--logins-file",
            help="Write the demo logins to this file instead of printing them "
            "(the launcher prints them once the portal is ready).",
        )

    def execute(self, *args, **options):
        if not settings.DEBUG and not options.get("allow_production"):
            raise CommandError("Demo users are for development: DEBUG is off.")
        if options.get("migrate"):
            # Outside the command's audit context (AuditedCommand.execute), as a plain
            # `migrate` runs: the context would be injected into every DDL statement.
            steps = self._steps(options)
            with steps.step("Database schema") as step:
                step.summary = _migrate(steps)
        return super().execute(*args, **options)

    def _steps(self, options) -> Steps:
        stdout = options.get("stdout") or self.stdout
        # The stream itself: Django's wrapper would end every redraw of a bar with a newline.
        return Steps(getattr(stdout, "_out", stdout))

    def handle(self, *args, **options):
        steps = self._steps(options)
        with steps.step("Demo users") as step:
            users = demo.ensure_demo_users()
            step.summary = f"{len(users)} users"
        demo.load_demo_data(steps)
        logins = _logins(users)
        if options["logins_file"]:
            Path(options["logins_file"]).write_text(logins, encoding="utf-8")
        else:
            self.stdout.write(logins)


def _logins(users) -> str:
    lines = [f"Demo logins (password: {settings.DAIHOU_DEMO_PASSWORD})"]
    for user in users:
        roles = ", ".join(str(ROLE_LABELS[r]) for r in user.roles) or "admin (staff)"
        lines.append(f"  {user.username:<11} {roles}")
    return "\n".join(lines) + "\n"


def _migrate(steps: Steps) -> str:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not plan:
        return "up to date"
    bar = steps.progress("migrations", len(plan))
    call_command(_ProgressMigrate(bar), interactive=False, verbosity=0)
    bar.finish()
    return f"{len(plan)} migrations applied"


class _ProgressMigrate(MigrateCommand):
    """Django's migrate, advancing a bar as each migration is applied."""

    def __init__(self, bar: Bar):
        super().__init__()
        self.bar = bar

    def migration_progress_callback(self, action, migration=None, fake=False):
        if action == "apply_success":
            self.bar.advance()
