import logging

from django.contrib.auth.decorators import login_not_required
from django.core.cache import caches
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template import loader
from django.templatetags.static import static
from django.utils import timezone
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET

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
