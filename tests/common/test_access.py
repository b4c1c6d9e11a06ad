"""Every page but login, health, the icon and the language switch requires login."""

import pytest
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from common import roles

# The only views reachable without logging in.
PUBLIC_VIEWS = {
    "django.contrib.auth.views.LoginView",
    "portal.views.healthz",
    "django.views.i18n.set_language",
    # A redirect to the static icon, which the browser fetches before anyone has logged in.
    "portal.views.favicon",
    # The field app's shell, which holds no data: the manifest and the service worker (the
    # browser fetches them for a page before anyone has logged in) and the page shown
    # offline for a page the phone did not keep.
    "portal.views.web_manifest",
    "portal.views.service_worker",
    "portal.views.field_offline",
    # Django admin's own login / i18n catalogue views (the admin checks staff itself).
    "django.contrib.admin.sites.login",
    "django.contrib.admin.sites.AdminSite.login",
    "django.views.i18n.JavaScriptCatalog",
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _qualname(callback) -> str:
    target = getattr(callback, "view_class", None) or callback
    return f"{target.__module__}.{target.__qualname__}"


def test_only_the_public_views_skip_the_login_requirement():
    public = {
        _qualname(callback)
        for _, callback in _walk(get_resolver().url_patterns)
        if getattr(callback, "login_required", True) is False
    }
    assert public <= PUBLIC_VIEWS, f"views reachable without login: {public - PUBLIC_VIEWS}"
    assert "portal.views.healthz" in public


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["home", "password_change"])
def test_anonymous_users_are_sent_to_login(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.django_db
def test_healthz_is_public_and_checks_the_database(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_role_groups_exist_with_their_permissions():
    names = set(Group.objects.values_list("name", flat=True))
    assert {role.value for role in roles.Role} <= names
    risk = Group.objects.get(name=roles.Role.RISK_MANAGER.value)
    assert risk.permissions.filter(codename="view_user").exists()


@pytest.mark.django_db
def test_roles_are_read_once_per_user(officer, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert roles.is_loan_officer(officer)
        assert not roles.is_risk_manager(officer)
        assert not roles.is_supervisor(officer)


@pytest.mark.django_db
def test_inactive_users_hold_no_role(officer):
    officer.is_active = False
    assert roles.role_names(officer) == frozenset()
    assert not roles.sees_whole_portfolio(officer)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fixture", "visible", "hidden"),
    [
        ("officer", "landing-loan-officer", ["landing-risk-manager", "landing-admin"]),
        ("risk_manager", "landing-risk-manager", ["landing-loan-officer", "landing-supervisor"]),
        ("supervisor", "landing-supervisor", ["landing-risk-manager", "landing-admin"]),
        ("admin_user", "landing-admin", ["landing-loan-officer", "landing-risk-manager"]),
    ],
)
def test_each_role_lands_on_its_own_page(client, request, fixture, visible, hidden):
    client.force_login(request.getfixturevalue(fixture))
    html = client.get(reverse("home")).content.decode()
    assert f'data-testid="{visible}"' in html
    for other in hidden:
        assert f'data-testid="{other}"' not in html


@pytest.mark.django_db
def test_a_user_with_two_roles_sees_both_landings(client, make_user):
    user = make_user("both", roles.Role.RISK_MANAGER, roles.Role.SUPERVISOR)
    client.force_login(user)
    html = client.get(reverse("home")).content.decode()
    assert 'data-testid="landing-risk-manager"' in html
    assert 'data-testid="landing-supervisor"' in html


@pytest.mark.django_db
def test_the_admin_lives_at_the_configured_path(client, admin_user, officer, settings):
    client.force_login(officer)
    response = client.get("/" + settings.ADMIN_URL)
    assert response.status_code == 302  # not staff: the admin's own login
    client.force_login(admin_user)
    assert client.get("/" + settings.ADMIN_URL).status_code == 200
