from django.urls import path

from postloan.fieldwork import views as visit_views
from postloan.inspections import views as inspection_views
from postloan.reporting import views as dashboard_views
from postloan.risk import views

app_name = "postloan"

urlpatterns = [
    path("proposals/", views.approval_queue, name="queue"),
    path("proposals/<int:pk>/decide/", views.decide, name="decide"),
    path("proposals/<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("loans/<int:pk>/propose/", views.propose, name="propose"),
    path("loans/<int:pk>/flags/new/", views.flag_loan, name="flag_loan"),
    path("borrowers/<int:pk>/flags/new/", views.flag_borrower, name="flag_borrower"),
    path("guarantors/<int:pk>/flags/new/", views.flag_guarantor, name="flag_guarantor"),
    path("flags/<int:pk>/resolve/", views.flag_resolve, name="flag_resolve"),
    path("watch-list/", views.watch_list, name="watchlist"),
    path("provisions/", views.provision_rates, name="provisions"),
    path("agenda/", inspection_views.agenda, name="agenda"),
    path("inspections/", inspection_views.inspection_list, name="inspections"),
    path("policy/", inspection_views.policy, name="policy"),
    path("policy/new/", inspection_views.policy_edit, name="policy_new"),
    path("policy/<int:pk>/edit/", inspection_views.policy_edit, name="policy_edit"),
    path("inspections/<int:pk>/report/", visit_views.report_open, name="report_open"),
    path("loans/<int:pk>/visit/", visit_views.visit_ad_hoc, name="visit_ad_hoc"),
    path("reports/<int:pk>/", visit_views.report_detail, name="report_detail"),
    path("reports/<int:pk>/edit/", visit_views.report_edit, name="report_edit"),
    path("reports/<int:pk>/attachments/", visit_views.attachment_upload, name="attachment_upload"),
    path("reports/<int:pk>/addenda/", visit_views.addendum_add, name="addendum_add"),
    path("attachments/<int:pk>/", visit_views.attachment_download, name="attachment"),
    path("loans/<int:pk>/plans/new/", visit_views.plan_create, name="plan_create"),
    path("plans/", visit_views.plan_list, name="plans"),
    path("plans/<int:pk>/", visit_views.plan_detail, name="plan_detail"),
    path("plans/<int:pk>/decide/", visit_views.plan_decide, name="plan_decide"),
    path("steps/<int:pk>/done/", visit_views.step_done, name="step_done"),
    path("ledger/", visit_views.ledger, name="ledger"),
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("dashboard/cell/", dashboard_views.migration_cell, name="migration_cell"),
    path("dashboard/officers/", dashboard_views.dashboard_officers, name="dashboard_officers"),
    path("field/day/", visit_views.field_day, name="field_day"),
    path("field/loans/<int:pk>/", visit_views.field_card, name="field_card"),
    path("field/inspections/<int:pk>/report/", visit_views.field_report, name="field_report"),
    path("loans/<int:pk>/closure/", visit_views.closure_create, name="closure"),
]
