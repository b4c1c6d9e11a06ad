from django.urls import path

from portfolio import views

app_name = "portfolio"

# Book-wide pages, at the addresses they had under the apps they serve.
urlpatterns = [
    path("loans/import/", views.import_upload, name="import"),
    path("loans/import/preview/", views.import_preview, name="import_preview"),
    path("loans/import/template.xlsx", views.import_template, name="import_template"),
    path("loans/export/", views.loan_export, name="export"),
    path("risk/runs/", views.runs, name="runs"),
]
