"""English and Simplified Chinese: the catalog is complete and compiled."""

import pytest
from django.urls import reverse
from django.utils import translation

from common.i18n import catalog_problems, catalogs


def test_the_chinese_catalog_is_complete_and_compiled():
    paths = catalogs()
    assert [p.parent.parent.name for p in paths] == ["zh_Hans"]
    assert catalog_problems(paths[0]) == []


def test_role_names_translate():
    from common.roles import ROLE_LABELS, Role

    with translation.override("zh-hans"):
        assert str(ROLE_LABELS[Role.LOAN_OFFICER]) == "客户经理"
        assert str(ROLE_LABELS[Role.RISK_MANAGER]) == "风险管理人员"


@pytest.mark.django_db
def test_the_language_follows_the_browser(client, officer):
    client.force_login(officer)
    html = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in html
    assert "今日工作" in html
    html = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert "My work today" in html


@pytest.mark.django_db
def test_the_switcher_overrides_the_browser(client, officer):
    client.force_login(officer)
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302
    html = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert "今日工作" in html
