"""`{% submission_key %}`: the one-time key of a form (common/submissions.py)."""

from __future__ import annotations

import uuid

from django import template
from django.utils.html import format_html

from common.submissions import FIELD

register = template.Library()


@register.simple_tag
def submission_key(name: str = FIELD) -> str:
    """A hidden field with a new random key: each rendering of a form is a new submission."""
    return format_html('<input type="hidden" name="{}" value="{}">', name, uuid.uuid4().hex)
