"""A form is done once however often it is sent: one-time form keys (docs/decisions.md).

Every form that creates something carries a hidden `submission_key`, a new random value
each time the form is rendered (`{% submission_key %}`, common/templatetags/submissions.py).
A view decorated with `@submitted_once` claims the key together with a digest of what was
sent, *in the same transaction as the write*: a unique row in `common_submissionkey`,
inserted with `ON CONFLICT DO NOTHING`. A second sending of the same form with the same
content — a double click, a browser or proxy retrying a request — blocks on that row until
the first commits, finds it and is answered with the first one's result (its redirect),
so the work is done once. If the first is refused for its input (the form comes back with
errors) or fails, its row goes with it, and the corrected form is sent again under the same
key.

The digest covers the content, not only the key: a form opened once, sent, then changed
through the browser's Back button and sent again is a new submission (the user changed
what they meant), not a duplicate to be silently dropped — nothing a user typed is lost.
Business rules that must hold whatever the client sends (one open unplanned visit per
loan and officer a day, one payment reference per loan, a factor once per report) are
database constraints of their own; the key is the general answer for the rest.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from functools import wraps

from django.contrib import messages
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

FIELD = "submission_key"
# How long a claimed key is remembered: long enough for any retry of a request, short
# enough that the table stays small (a few rows per user and working day).
KEEP = timedelta(days=2)
# Not part of what was sent: the CSRF token is masked anew on every rendering.
IGNORED = {"csrfmiddlewaretoken"}


def submission_digest(request: HttpRequest, key: str) -> str:
    """The key, the path and everything sent (fields and files), hashed."""
    digest = hashlib.sha256()
    digest.update(f"{key}\0{request.path}\0".encode())
    for name in sorted(request.POST):
        if name in IGNORED:
            continue
        for value in request.POST.getlist(name):
            digest.update(f"{name}\0{value}\0".encode())
    for name in sorted(request.FILES):
        for upload in request.FILES.getlist(name):
            digest.update(f"{name}\0{upload.name}\0{upload.size}\0".encode())
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
    return digest.hexdigest()


def _claim(user, digest: str, path: str) -> str | None:
    """Insert the key; None if this is its first sending, else the first one's result URL.

    A concurrent first sending holds the row uncommitted: the insert waits for it, then
    either conflicts (the first committed) or goes ahead (the first rolled back)."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO common_submissionkey (user_id, digest, path, result_url, created_at)
               VALUES (%s, %s, %s, '', %s)
               ON CONFLICT (user_id, digest) DO NOTHING
               RETURNING id""",
            [user.pk, digest, path[:255], now],
        )
        if cursor.fetchone() is not None:
            # Forget this user's old keys while here (a handful of rows, by the unique
            # index's leading column).
            cursor.execute(
                "DELETE FROM common_submissionkey WHERE user_id = %s AND created_at < %s",
                [user.pk, now - KEEP],
            )
            return None
        cursor.execute(
            "SELECT result_url FROM common_submissionkey WHERE user_id = %s AND digest = %s",
            [user.pk, digest],
        )
        row = cursor.fetchone()
    return row[0] if row else ""


def _record_result(user_id: int, digest: str, result_url: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE common_submissionkey SET result_url = %s WHERE user_id = %s AND digest = %s",
            [result_url[:500], user_id, digest],
        )


def _release(user_id: int, digest: str) -> None:
    """The form came back to be corrected: its key may be sent again."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM common_submissionkey WHERE user_id = %s AND digest = %s",
            [user_id, digest],
        )


def _succeeded(response: HttpResponse) -> bool:
    """A view says so with `response.submission_done`; otherwise a redirect is success (the
    form pages answer a refused form with the form again, a done one with a redirect)."""
    done = getattr(response, "submission_done", None)
    if done is not None:
        return bool(done)
    return response.status_code in (302, 303)


def _answer_again(request: HttpRequest, result_url: str) -> HttpResponse:
    if getattr(request, "htmx", False):
        # The first request's answer has replaced (or will replace) the fragment.
        return HttpResponse(status=204)
    messages.info(request, _("This form was sent twice (a double click?); it was done once."))
    target = result_url or request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    return redirect(target)


def submitted_once(view=None, *, field: str = FIELD):
    """View decorator: a POST carrying `field` is done once per key and content.

    The view runs inside the transaction that claims the key, so the key and the view's
    writes commit (or roll back) together. A POST without a key is let through as before
    (clients that are not our pages); every form of the portal renders one."""

    def decorate(view_func):
        @wraps(view_func)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            key = request.POST.get(field, "") if request.method == "POST" else ""
            if not key or not request.user.is_authenticated:
                return view_func(request, *args, **kwargs)
            if len(key) > 64:
                return HttpResponseBadRequest()
            digest = submission_digest(request, key)
            with transaction.atomic():
                result_url = _claim(request.user, digest, request.path)
                if result_url is not None:
                    return _answer_again(request, result_url)
                response = view_func(request, *args, **kwargs)
                if _succeeded(response):
                    _record_result(request.user.pk, digest, response.get("Location", ""))
                else:
                    _release(request.user.pk, digest)
            return response

        return wrapped

    return decorate(view) if view is not None else decorate
