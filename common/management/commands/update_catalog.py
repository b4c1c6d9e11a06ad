from django.core.management import call_command
from django.core.management.base import BaseCommand

from common.i18n import MAKEMESSAGES_IGNORE, catalogs, compile_catalog


class Command(BaseCommand):
    help = "Collect new strings into the zh_Hans catalog (needs GNU gettext), then compile it."

    def handle(self, *args, **options):
        call_command(
            "makemessages",
            locale=["zh_Hans"],
            ignore_patterns=MAKEMESSAGES_IGNORE,
            no_obsolete=True,
            no_location=True,
        )
        for po_path in catalogs():
            compile_catalog(po_path)
            self.stdout.write(f"compiled {po_path.with_suffix('.mo')}")
