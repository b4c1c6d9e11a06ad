"""Checks and compilation of the translation catalogs without GNU gettext.

The compiled .mo files are committed, so a fresh machine needs no gettext tools;
CI checks that they match the .po files and that nothing is left untranslated.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import polib
from django.conf import settings

MAKEMESSAGES_IGNORE = [
    ".venv/*",
    ".data/*",
    "static/vendor/*",
    "staticfiles/*",
    "tests/*",
    "bench/*",
]


def catalogs() -> list[Path]:
    return sorted(
        path
        for root in settings.LOCALE_PATHS
        for path in Path(root).glob("*/LC_MESSAGES/django.po")
    )


def _key(entry) -> tuple:
    return (entry.msgctxt or "", entry.msgid, entry.msgid_plural or "")


def _translations(entries) -> dict[tuple, tuple]:
    out = {}
    for entry in entries:
        if entry.obsolete or not entry.msgid:
            continue
        if entry.msgid_plural:
            value = tuple(entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural))
        else:
            value = (entry.msgstr,)
        out[_key(entry)] = value
    return out


def compile_catalog(po_path: Path) -> Path:
    mo_path = po_path.with_suffix(".mo")
    polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
    return mo_path


def catalog_problems(po_path: Path) -> list[str]:
    """Untranslated or fuzzy entries, and a compiled catalog that does not match."""
    po = polib.pofile(str(po_path))
    problems = [f"untranslated: {e.msgid!r}" for e in po.untranslated_entries()]
    problems += [f"fuzzy: {e.msgid!r}" for e in po.fuzzy_entries()]
    mo_path = po_path.with_suffix(".mo")
    if not mo_path.exists():
        problems.append(f"{mo_path} is missing: run `make messages`")
    else:
        wanted = _translations(po.translated_entries())
        compiled = _translations(polib.mofile(str(mo_path)))
        if wanted != compiled:
            problems.append(f"{mo_path} is out of date: run `make messages`")
    return problems


def source_msgids_missing(po_path: Path, locale: str) -> tuple[set, set]:
    """(strings in the code missing from the catalog, catalog strings no longer in the code).

    Runs makemessages (needs GNU gettext) and restores the catalog afterwards.
    """
    from django.core.management import call_command

    before = {_key(e) for e in polib.pofile(str(po_path)) if not e.obsolete}
    with tempfile.TemporaryDirectory() as backup:
        saved = Path(backup) / "django.po"
        shutil.copy2(po_path, saved)
        try:
            call_command(
                "makemessages",
                locale=[locale],
                ignore_patterns=MAKEMESSAGES_IGNORE,
                no_obsolete=True,
                no_location=True,
                verbosity=0,
            )
            after = {_key(e) for e in polib.pofile(str(po_path)) if not e.obsolete}
        finally:
            shutil.copy2(saved, po_path)
    return after - before, before - after
