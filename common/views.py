from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from common import roles
from common.calendar import uncovered_years
from loans.selectors import book_summary


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
        from postloan.models import CollectionPlan, TierAdjustment

        context["pending_proposals"] = TierAdjustment.objects.filter(status="pending").count()
        context["pending_plans"] = CollectionPlan.objects.filter(status="pending").count()
    return render(request, "common/home.html", context)


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database check for the load balancer and docker-compose."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
