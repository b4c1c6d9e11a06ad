"""Base for the portal's management commands: their writes are audited as the command."""

from __future__ import annotations

import sys

import pghistory
from django.core.management.base import BaseCommand


class AuditedCommand(BaseCommand):
    """Runs `handle` inside a pghistory context naming the command line.

    Audit rows then say `{"command": "classify_portfolio --as-of 2026-01-31"}`
    where a web request would say which user and URL made the change.
    """

    def execute(self, *args, **options):
        command_line = " ".join(sys.argv[1:]) or self.__module__.rsplit(".", 1)[-1]
        with pghistory.context(command=command_line):
            return super().execute(*args, **options)
