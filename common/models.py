"""Audit tracking for Django's own user model.

Every app registers its own models with `pghistory.track`; here we track the user
records themselves (who was made staff, deactivated or moved between roles).
Password hashes and login times are not copied into the history.
"""

import pghistory
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    exclude=["password", "last_login"],
    model_name="UserEvent",
)
class AuditedUser(User):
    """A proxy, so that the history triggers on auth_user live in this app's migrations."""

    class Meta:
        proxy = True
        verbose_name = _("user")
