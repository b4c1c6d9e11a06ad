from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import set_language

from common.passwords import PasswordChangeView
from portal import views as portal_views

admin.site.site_header = _("Daihou administration")
admin.site.site_title = _("Daihou")
admin.site.index_title = _("Records")

urlpatterns = [
    path("", portal_views.home, name="home"),
    path("healthz", portal_views.healthz, name="healthz"),
    path("favicon.ico", portal_views.favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", portal_views.LogoutView.as_view(), name="logout"),
    path("manifest.webmanifest", portal_views.web_manifest, name="web_manifest"),
    path("sw.js", portal_views.service_worker, name="service_worker"),
    path("offline/", portal_views.field_offline, name="field_offline"),
    path("outbox/", portal_views.field_outbox, name="field_outbox"),
    path(
        "accounts/password/",
        # A wrong old password counts as a failed login (common.passwords).
        PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    # The language switcher works on the login page too.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("borrowers/", include("borrowers.urls")),
    path("loans/", include("loans.urls")),
    # The import, the export and the night's runs keep their /loans/ and /risk/ addresses.
    path("", include("portfolio.urls")),
    path("risk/", include("postloan.urls")),
    path(settings.ADMIN_URL, admin.site.urls),
]

# The portal's own error page, rendered without the context processors (server_error).
handler500 = "portal.views.server_error"
