from django.urls import path

from postloan import inspection_views, views

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
    path("runs/", views.runs, name="runs"),
    path("agenda/", inspection_views.agenda, name="agenda"),
    path("inspections/", inspection_views.inspection_list, name="inspections"),
    path("policy/", inspection_views.policy, name="policy"),
    path("policy/new/", inspection_views.policy_edit, name="policy_new"),
    path("policy/<int:pk>/edit/", inspection_views.policy_edit, name="policy_edit"),
]
