"""Conventions shared by every app's services."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


class ConcurrentEditError(ValidationError):
    """The record changed since the user opened it; their edit would overwrite it."""

    def __init__(self, message=None):
        super().__init__(
            message
            or _(
                "Someone else changed this record after you opened it. "
                "Reload the page to see their change, then make yours again."
            ),
            code="concurrent_edit",
        )


def add_service_errors(form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field where the form has the
    field, otherwise at the top of the form."""
    if hasattr(error, "error_dict"):
        for field_name, errors in error.error_dict.items():
            target = field_name if field_name in form.fields else None
            for item in errors:
                form.add_error(target, item)
    else:
        form.add_error(None, error)
