import hashlib
import json
import logging

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.cache import caches
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template import loader
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET, require_safe

from common import roles
from common.cache import ResilientRedisCache
from common.calendar import uncovered_years
from loans.selectors import book_summary
from postloan.models import CollectionPlan, TierAdjustment

logger = logging.getLogger(__name__)


def home(request: HttpRequest) -> HttpResponse:
    """The landing page: one section for each role the user holds."""
    user = request.user
    context = {
        "is_loan_officer": roles.is_loan_officer(user),
        "is_risk_manager": roles.is_risk_manager(user),
        "is_supervisor": roles.is_supervisor(user),
        "is_admin": roles.is_admin(user),
    }
    context["has_any_role"] = any(context.values())
    if context["is_admin"]:
        year = timezone.localdate().year
        context["uncovered_years"] = uncovered_years(year, year + 1)
    if context["is_loan_officer"] or roles.sees_whole_portfolio(user):
        context["book"] = book_summary(user)
    if context["is_risk_manager"] or context["is_supervisor"]:
        pending = TierAdjustment.Status.PENDING
        context["pending_proposals"] = TierAdjustment.objects.filter(status=pending).count()
        context["pending_plans"] = CollectionPlan.objects.filter(
            status=CollectionPlan.Status.PENDING
        ).count()
    return render(request, "common/home.html", context)


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The database and Redis, each "ok" or "down", for the load balancer and docker-compose.

    200 while the database answers: without Redis the pages and forms still work (the cache
    answers misses, tasks wait for the nightly run), so the portal stays in service; 503
    when the database is down, since then nothing works.
    """
    status = {"database": _database_status(), "redis": _redis_status()}
    return JsonResponse(status, status=200 if status["database"] == "ok" else 503)


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        logger.warning("healthz: the database is down", exc_info=True)
        return "down"
    return "ok"


def _redis_status() -> str:
    """Redis as the cache sees it (the Celery broker is the same server, REDIS_URL)."""
    backend = caches["default"]
    return "ok" if isinstance(backend, ResilientRedisCache) and backend.ping() else "down"


@login_not_required
@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers and tools ask for whatever the page links, from static."""
    return redirect(static("favicon.ico"))


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """The portal's 500 page, in its layout and the request's language.

    Rendered with the request and its CSRF token only (the language switcher needs both):
    the context processors are not run, since what failed may be the database they read.
    """
    template = loader.get_template("500.html")
    return HttpResponseServerError(
        template.render({"request": request, "csrf_token": get_token(request)})
    )


# --- The field app: installable, and usable without a network (static/js/field/) ----------------

FIELD_STATIC = [
    "vendor/bootstrap/bootstrap.min.css",
    "vendor/bootstrap/bootstrap.bundle.min.js",
    "vendor/htmx/htmx.min.js",
    "vendor/idb-keyval/idb-keyval.umd.js",
    "css/daihou.css",
    "js/base.js",
    "js/keep_typed.js",
    "js/report_form.js",
    "js/field/queue.js",
    "js/field/app.js",
    "js/field/report.js",
    "js/field/outbox.js",
    "icons/daihou-192.png",
    "favicon.svg",
]
WORKBOX_MODULES = ["workbox-core", "workbox-routing", "workbox-strategies"]


@login_not_required
@require_safe
@cache_control(max_age=86400, public=True)
def web_manifest(request: HttpRequest) -> JsonResponse:
    """The web app manifest: installed, the portal opens on the officer's agenda."""
    icons = [
        {"src": static("icons/daihou-192.png"), "sizes": "192x192", "type": "image/png"},
        {"src": static("icons/daihou-512.png"), "sizes": "512x512", "type": "image/png"},
        {
            "src": static("icons/daihou-maskable-512.png"),
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]
    manifest = {
        "name": "贷后 Daihou",
        "short_name": "贷后",
        "start_url": reverse("postloan:agenda"),
        "scope": "/",
        "display": "standalone",
        "theme_color": "#212529",
        "background_color": "#ffffff",
        "icons": icons,
    }
    response = JsonResponse(manifest, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    return response


@login_not_required
@require_safe
@never_cache
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, from the portal's root so that it controls every page. Its text
    names the static files by their hashed names: a deployment that changes any of them
    changes this file, and browsers install the new worker."""
    static_urls = [static(path) for path in FIELD_STATIC]
    context = {
        "static_urls": static_urls,
        "modules": {name: static(f"vendor/workbox/{name}.prod.js") for name in WORKBOX_MODULES},
        "workbox": static("vendor/workbox/workbox-sw.js"),
        "idb": static("vendor/idb-keyval/idb-keyval.umd.js"),
        "queue": static("js/field/queue.js"),
        "offline_url": reverse("field_offline"),
        # STATIC_URL itself, not static(""): the manifest storage has no entry for "".
        "static_prefix": settings.STATIC_URL,
    }
    context["version"] = hashlib.sha256(repr(sorted(context.items())).encode()).hexdigest()[:12]
    context["modules_json"] = json.dumps(context["modules"])
    context["static_urls_json"] = json.dumps(static_urls)
    response = render(request, "portal/sw.js", context, content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response


@login_not_required
@require_GET
def field_offline(request: HttpRequest) -> HttpResponse:
    """What the phone shows for a page it did not keep, while offline."""
    return render(request, "portal/offline.html")


@require_GET
def field_outbox(request: HttpRequest) -> HttpResponse:
    """The changes waiting on this phone (kept in its IndexedDB, listed by outbox.js): what
    was refused and why, to edit and send again, send anyway, or discard."""
    return render(request, "portal/outbox.html")


class LogoutView(auth_views.LogoutView):
    """Logging out also empties what this browser kept for the field app: the pages of the
    officer's day and the queue (Clear-Site-Data; field/app.js does the same where the
    header is not supported, and asks first when changes are still waiting to be sent)."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        response["Clear-Site-Data"] = '"cache", "storage"'
        return response
