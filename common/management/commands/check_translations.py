import shutil

from django.core.management.base import BaseCommand, CommandError

from common.i18n import catalog_problems, catalogs, source_msgids_missing


class Command(BaseCommand):
    help = (
        "Fail on untranslated or fuzzy entries, a stale compiled catalog, and (where GNU "
        "gettext is installed) strings in the code that the catalog lacks."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--require-gettext",
            action="store_true",
            help="Fail instead of skipping the source check when xgettext is missing (CI).",
        )

    def handle(self, *args, **options):
        problems = []
        for po_path in catalogs():
            locale = po_path.parent.parent.name
            problems += [f"{locale}: {p}" for p in catalog_problems(po_path)]
            if shutil.which("xgettext"):
                new, gone = source_msgids_missing(po_path, locale)
                problems += [f"{locale}: not in the catalog: {k[1]!r}" for k in sorted(new)]
                problems += [f"{locale}: no longer in the code: {k[1]!r}" for k in sorted(gone)]
            elif options["require_gettext"]:
                problems.append("xgettext not found (apt-get install gettext)")
            else:
                self.stdout.write("xgettext not found: skipped the check against the code")
        if problems:
            raise CommandError("translations:\n  " + "\n  ".join(problems))
        self.stdout.write("translations complete")
