"""Changing one's password, throttled with the login (issue 16).

The password page asks for the old password, so without a limit it would answer as many
guesses as a stolen session cares to make. Checking it is therefore made a login attempt
in all but the session: `authenticate()` runs axes' backend first, which refuses a locked
account whatever the password, and a wrong password sends `user_login_failed`, which axes
counts against the account. Login failures and password-page failures add up to the one
AXES_FAILURE_LIMIT, lock both pages alike, and cool off or are reset as axes does.
"""

from __future__ import annotations

from axes.conf import settings as axes_settings
from axes.helpers import get_lockout_message
from axes.utils import reset as axes_reset
from django.contrib.auth import authenticate
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest


class ThrottledPasswordChangeForm(PasswordChangeForm):
    def __init__(self, user, *args, request: HttpRequest, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        username = self.user.get_username()
        user = authenticate(self.request, username=username, password=old_password)
        # axes marks the request when the account is locked, before this attempt (its
        # backend refused it) or by it (the failure reached the limit); its middleware then
        # answers with the lockout page, as for a login.
        if getattr(self.request, "axes_locked_out", False):
            raise ValidationError(get_lockout_message(), code="locked")
        if user is None or user.pk != self.user.pk:
            raise ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        # The right password clears the count as a login would (the lock is per account,
        # AXES_LOCKOUT_PARAMETERS); authenticate() alone sends no user_logged_in.
        if axes_settings.AXES_RESET_ON_SUCCESS:
            axes_reset(username=username)
        return old_password


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = ThrottledPasswordChangeForm

    def get_form_kwargs(self) -> dict:
        return super().get_form_kwargs() | {"request": self.request}
