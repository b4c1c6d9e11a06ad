from django.core.management.base import BaseCommand

from common.i18n import catalogs, compile_catalog


class Command(BaseCommand):
    help = "Compile the .po catalogs to .mo with polib (no GNU gettext needed)."

    def handle(self, *args, **options):
        for po_path in catalogs():
            self.stdout.write(f"compiled {compile_catalog(po_path)}")
