"""One reversal for a page of rows gives the same URLs as reversing each."""

import pytest
from django.urls import reverse

from common.urltools import pk_url


@pytest.mark.parametrize("name", ["loans:detail", "postloan:report_open", "borrowers:detail"])
@pytest.mark.parametrize("pk", [1, 42, 2_147_483_646, 9_999_999_999])
def test_pk_url_is_reverse(name, pk):
    assert pk_url(name)(pk) == reverse(name, args=[pk])
