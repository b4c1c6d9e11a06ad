from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortfolioConfig(AppConfig):
    """Book-wide work above every app (import, export, the generator, the night's chain and
    the commands that run them). No models."""

    name = "portfolio"
    verbose_name = _("Portfolio")
