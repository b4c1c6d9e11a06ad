from django.urls import path

from borrowers import views

app_name = "borrowers"

urlpatterns = [
    path("", views.borrower_list, name="list"),
    path("new/", views.borrower_create, name="create"),
    path("<int:pk>/", views.borrower_detail, name="detail"),
    path("<int:pk>/edit/", views.borrower_edit, name="edit"),
    path("guarantors/", views.guarantor_list, name="guarantor_list"),
    path("guarantors/new/", views.guarantor_create, name="guarantor_create"),
    path("guarantors/<int:pk>/", views.guarantor_detail, name="guarantor_detail"),
    path("guarantors/<int:pk>/assess/", views.guarantor_assess, name="guarantor_assess"),
    path("groups/", views.group_list, name="group_list"),
    path("groups/new/", views.group_create, name="group_create"),
    path("groups/<int:pk>/", views.group_detail, name="group_detail"),
    path("groups/<int:pk>/members/new/", views.group_add_member, name="group_add_member"),
    path(
        "groups/<int:pk>/members/<int:membership_pk>/leave/",
        views.group_member_leave,
        name="group_member_leave",
    ),
    path("limits/", views.limit_calculator, name="limit_calculator"),
    path("<int:pk>/maintenance/new/", views.maintenance_add, name="maintenance_add"),
]
