"""The classification dashboard's pages (issue 8): each parses the request, asks one
selector (postloan/reporting/selectors.py) or export (exports.py) and renders."""

from __future__ import annotations

from datetime import date

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from common import roles
from postloan.reporting import exports, selectors
from postloan.reporting.forms import DashboardFilterForm
from postloan.risk.rules import TIER_LABELS, Tier

TIERS = selectors.TIERS


def _filter_form(request):
    """The filter form on the request's query, the filters that apply and the month ends."""
    options = selectors.dashboard_options(chosen_officer=request.GET.get("officer"))
    form = DashboardFilterForm(
        request.GET or None,
        options=options,
        own_book=not roles.sees_whole_portfolio(request.user),
    )
    form.is_valid()
    # The valid filters apply; an invalid one is dropped and shown with its error.
    data = getattr(form, "cleaned_data", {})
    month_ends = [date.fromisoformat(m) for m in options["month_ends"]]
    return form, data, month_ends


@roles.role_required(
    roles.is_admin, roles.is_risk_manager, roles.is_supervisor, roles.is_loan_officer
)
def dashboard(request: HttpRequest) -> HttpResponse:
    form, data, month_ends = _filter_form(request)
    export = request.GET.get("export")
    if export and export not in exports.TABLES:
        raise Http404
    page = _page_number(request.GET.get("scores_page"))
    context = selectors.portfolio_summary(
        user=request.user,
        filters=data,
        month_ends=month_ends,
        scores_sort=request.GET.get("sort") or "officer",
        scores_page=page,
        everything=bool(export),
    )
    if export:
        response = HttpResponse(
            exports.dashboard_xlsx(export, context), content_type=exports.XLSX_TYPE
        )
        response["Content-Disposition"] = f'attachment; filename="dashboard-{export}.xlsx"'
        return response
    context.update(
        {
            "form": form,
            "query": request.GET.urlencode(),
            "score_headers": _score_headers(request, context["scores_sort"]),
            "score_pages": _score_pages(request, page, context["scores_total"]),
            "own_book": not roles.sees_whole_portfolio(request.user),
            **_labels(context["trend"]),
        }
    )
    return render(request, "postloan/dashboard.html", context)


def _labels(trend: list[dict]) -> dict:
    """The tiers' and the matrix's headings, and the trend chart's data."""
    tier_labels = {t: str(TIER_LABELS[Tier(t)]) for t in TIERS}
    return {
        "tier_labels": tier_labels,
        "end_labels": {
            **{t: TIER_LABELS[Tier(t)] for t in TIERS},
            "new": _("new"),
            "closed": _("closed"),
        },
        "chart": {
            "trend": trend,
            "labels": tier_labels,
            "npl_label": _("Non-performing ratio (%)"),
        },
    }


def _page_number(value) -> int:
    try:
        return max(int(value or 1), 1)
    except ValueError:
        return 1


def _with(request: HttpRequest, **changes) -> str:
    """The current query string with some parameters replaced (None: removed)."""
    query = request.GET.copy()
    query.pop("export", None)
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    return query.urlencode()


def _score_headers(request: HttpRequest, sort: str) -> list[dict]:
    """The scorecard's column headings: a click sorts by the column, a second reverses it.
    Numbers sort largest first at the first click, names alphabetically."""
    headers = []
    for key, label, _expression in selectors.SCORE_COLUMNS:
        active = sort.lstrip("-") == key
        descending = sort.startswith("-")
        if active:
            target = key if descending else f"-{key}"
        else:
            target = key if key == "officer" else f"-{key}"
        headers.append(
            {
                "key": key,
                "label": label,
                "url": "?" + _with(request, sort=target, scores_page=None),
                "active": active,
                "descending": active and descending,
                "numeric": key != "officer",
            }
        )
    return headers


def _score_pages(request: HttpRequest, page: int, total: int) -> dict:
    per_page = selectors.SCORES_PER_PAGE
    pages = max((total + per_page - 1) // per_page, 1)
    return {
        "number": page,
        "count": pages,
        "total": total,
        "previous": "?" + _with(request, scores_page=str(page - 1)) if page > 1 else None,
        "next": "?" + _with(request, scores_page=str(page + 1)) if page < pages else None,
    }


@roles.role_required(roles.is_admin, roles.is_risk_manager, roles.is_supervisor)
def dashboard_officers(request: HttpRequest) -> HttpResponse:
    """The officer filter's options matching a search (htmx): at most twenty, by name."""
    officers = selectors.officers_matching((request.GET.get("officer_q") or "").strip())
    return render(request, "postloan/dashboard_officer_options.html", {"officers": officers})


@roles.role_required(
    roles.is_admin, roles.is_risk_manager, roles.is_supervisor, roles.is_loan_officer
)
def migration_cell(request: HttpRequest) -> HttpResponse:
    """The loans in one cell of the migration matrix."""
    form, data, month_ends = _filter_form(request)
    start_tier, end_tier = request.GET.get("from", ""), request.GET.get("to", "")
    if start_tier not in selectors.CELL_STARTS or end_tier not in selectors.CELL_ENDS:
        raise Http404
    page_number = _page_number(request.GET.get("page"))
    cell = selectors.migration_cell_loans(
        user=request.user,
        filters=data,
        month_ends=month_ends,
        start_tier=start_tier,
        end_tier=end_tier,
        page=page_number,
    )
    return render(
        request,
        "postloan/migration_cell.html",
        {
            "form": form,
            **cell,
            "from_label": selectors.cell_label(start_tier),
            "to_label": selectors.cell_label(end_tier),
            "page": page_number,
            "query": request.GET.copy(),
        },
    )
