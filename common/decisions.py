"""The approver's side of maker-checker in a view: read the decision, record it through the
service, and tell the user how it went (the rule itself is common/transitions.decide)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from common.forms import DecisionForm


def decide_from_request(
    request: HttpRequest, decide: Callable[..., object], *, approved: str, rejected: str
) -> bool:
    """Call `decide(approve=, comment=, by=)` with the request's decision; a refusal (the
    proposer deciding, a decision already taken) becomes an error message. True if recorded."""
    form = DecisionForm(request.POST)
    form.is_valid()  # the comment is optional and free text: nothing to refuse
    try:
        decide(approve=form.approves, comment=form.cleaned_data.get("comment", ""), by=request.user)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return False
    messages.success(request, approved if form.approves else rejected)
    return True
