"""One-time form keys (common/submissions.py, issue 16): a form is done once per key and
content; a refused form keeps no key; the keys are a user's own and forgotten after a while.
The same forms at real concurrency: tests/postloan/fieldwork/test_double_submit.py."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.contrib.messages import get_messages
from django.template import Context, Template
from django.urls import reverse

from borrowers.models import MaintenanceLog
from common.models import SubmissionKey
from common.submissions import KEEP

pytestmark = [pytest.mark.django_db, pytest.mark.clock(date(2026, 11, 20))]

LOG = {"happened_on": "2026-11-19", "kind": "opinion", "notes": "Asked about rates."}


@pytest.fixture
def form_url(loan):
    return reverse("borrowers:maintenance_add", args=[loan.borrower_id])


def _key(client, url) -> str:
    return re.search(r'name="submission_key" value="([0-9a-f]{32})"', client.get(url).text)[1]


def test_every_rendering_of_a_form_has_a_new_key():
    template = Template("{% load submissions %}{% submission_key %}{% submission_key 'k' %}")
    first, second = (template.render(Context()) for _ in range(2))
    assert re.fullmatch(
        r'<input type="hidden" name="submission_key" value="[0-9a-f]{32}">'
        r'<input type="hidden" name="k" value="[0-9a-f]{32}">',
        first,
    )
    assert first != second


def test_a_form_sent_twice_is_done_once_and_the_second_answered_like_the_first(
    client, officer, loan, form_url
):
    client.force_login(officer)
    key = _key(client, form_url)

    first = client.post(form_url, LOG | {"submission_key": key})
    second = client.post(form_url, LOG | {"submission_key": key})

    assert MaintenanceLog.objects.count() == 1
    assert first.status_code == second.status_code == 302
    assert second["Location"] == first["Location"] == loan.borrower.get_absolute_url()
    # the page both lead to says what happened (the first's message not yet shown too)
    assert [str(m) for m in get_messages(second.wsgi_request)] == [
        "Logged.",
        "This form was sent twice (a double click?); it was done once.",
    ]
    assert SubmissionKey.objects.get().result_url == first["Location"]


def test_a_refused_form_keeps_no_key_and_is_done_once_corrected(client, officer, form_url):
    client.force_login(officer)
    key = _key(client, form_url)

    refused = client.post(form_url, LOG | {"notes": "", "submission_key": key})
    assert refused.status_code == 200 and not SubmissionKey.objects.exists()
    done = client.post(form_url, LOG | {"submission_key": key})

    assert done.status_code == 302
    assert MaintenanceLog.objects.count() == 1


def test_without_a_key_a_post_is_done_as_before(client, officer, form_url):
    client.force_login(officer)
    client.post(form_url, LOG)
    client.post(form_url, LOG)
    assert MaintenanceLog.objects.count() == 2
    assert not SubmissionKey.objects.exists()


def test_keys_are_each_users_own(client, officer, risk_manager, form_url):
    client.force_login(officer)
    key = _key(client, form_url)
    client.post(form_url, LOG | {"submission_key": key})
    client.force_login(risk_manager)
    client.post(form_url, LOG | {"submission_key": key})
    assert MaintenanceLog.objects.count() == 2


def test_a_refusal_by_permission_keeps_no_key(client, other_officer, officer, form_url):
    client.force_login(other_officer)  # the borrower is not in their book
    assert client.post(form_url, LOG | {"submission_key": "a" * 32}).status_code == 404
    assert not SubmissionKey.objects.exists()
    assert client.post(form_url, LOG | {"submission_key": "a" * 65}).status_code == 400


def test_old_keys_are_forgotten(client, officer, form_url, _clock):
    client.force_login(officer)
    old = _key(client, form_url)
    client.post(form_url, LOG | {"submission_key": old})
    _clock.shift(KEEP + timedelta(minutes=1))
    client.force_login(officer)  # the session has expired meanwhile
    client.post(form_url, LOG | {"submission_key": _key(client, form_url)})
    # the old key was dropped when the new one was claimed
    assert SubmissionKey.objects.count() == 1
    assert SubmissionKey.objects.get().created_at.date() == date(2026, 11, 22)
