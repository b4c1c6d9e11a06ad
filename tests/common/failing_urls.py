"""The portal's URLs plus one view that fails, for the 500 page's tests."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from config import urls as portal


@login_not_required
def explode(request):
    raise RuntimeError("a fault the error page must not show")


urlpatterns = [path("explode/", explode), *portal.urlpatterns]
handler500 = portal.handler500
