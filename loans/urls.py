from django.urls import path

from loans import views

app_name = "loans"

urlpatterns = [
    path("", views.loan_list, name="list"),
    path("new/", views.loan_book, name="create"),
    path("handovers/", views.handover_list, name="handovers"),
    path("<int:pk>/", views.loan_detail, name="detail"),
    path("<int:pk>/repayments/new/", views.repayment_create, name="repayment_create"),
    path("repayments/<int:pk>/reverse/", views.repayment_reverse, name="repayment_reverse"),
    path("<int:pk>/write-off/", views.loan_write_off, name="write_off"),
    path("<int:pk>/collateral/new/", views.collateral_create, name="collateral_create"),
    path("collateral/<int:pk>/valuations/new/", views.valuation_create, name="valuation_create"),
    path("collateral/<int:pk>/progress/", views.collateral_progress, name="collateral_progress"),
    path("<int:pk>/guarantees/new/", views.guarantee_create, name="guarantee_create"),
    path("guarantees/<int:pk>/status/", views.guarantee_status, name="guarantee_status"),
    path("<int:pk>/reassign/", views.loan_reassign, name="reassign"),
    path("<int:pk>/handover/", views.handover_contact, name="handover_contact"),
]
