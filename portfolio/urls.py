from django.urls import path

from portfolio import views

app_name = "portfolio"

urlpatterns = [
    path("import/", views.import_upload, name="import"),
    path("import/preview/", views.import_preview, name="import_preview"),
    path("import/template.xlsx", views.import_template, name="import_template"),
    path("export/", views.loan_export, name="export"),
]
