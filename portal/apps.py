from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The shell: home pages, /healthz, the navigation and the demo. No models."""

    name = "portal"
    verbose_name = _("Portal")
