"""The upload an import previews, kept between the preview and the confirmation: in a
folder of its own under MEDIA_ROOT/imports, named by a random token in the session, and
forgotten when confirmed, discarded, or left for a day."""

from __future__ import annotations

import re
import secrets
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

SESSION_KEY = "portfolio_import"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def keep(request: HttpRequest, files, *, as_of: date) -> None:
    """Keep these uploaded files (and the cut-over date) for this session's preview, in
    place of an upload it kept before."""
    discard(request)
    forget_abandoned()
    token = secrets.token_urlsafe(24)
    folder = _imports_root() / token
    folder.mkdir(parents=True)
    workbook = ""
    for upload in files:
        name = Path(upload.name).name.lower()
        if name.endswith(".xlsx"):
            workbook, name = Path(upload.name).name, "upload.xlsx"
        with open(folder / name, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
    request.session[SESSION_KEY] = {
        "token": token,
        "workbook": workbook,
        "as_of": as_of.isoformat(),
    }


def _imports_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def stored(request: HttpRequest) -> tuple[Path, str] | None:
    """The kept upload of this session: (path to import, label), or None."""
    saved = request.session.get(SESSION_KEY) or {}
    token = saved.get("token", "")
    if not _TOKEN.fullmatch(token):
        return None
    folder = _imports_root() / token
    if not folder.is_dir():
        return None
    workbook = saved.get("workbook")
    if workbook:
        return folder / "upload.xlsx", workbook
    return folder, ""


def forget_abandoned(older_than: timedelta = timedelta(days=1)) -> None:
    """Uploads nobody confirmed nor discarded: not kept beyond a day."""
    root = _imports_root()
    if not root.is_dir():
        return
    cutoff = time.time() - older_than.total_seconds()
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def discard(request: HttpRequest) -> None:
    kept = stored(request)
    if kept is not None:
        folder = kept[0] if kept[0].is_dir() else kept[0].parent
        shutil.rmtree(folder, ignore_errors=True)
    request.session.pop(SESSION_KEY, None)


def as_of(request: HttpRequest) -> date:
    """The cut-over date chosen with the kept upload (today for an upload kept before the
    date was asked)."""
    saved = request.session.get(SESSION_KEY) or {}
    try:
        return date.fromisoformat(saved.get("as_of") or "")
    except ValueError:
        return timezone.localdate()
