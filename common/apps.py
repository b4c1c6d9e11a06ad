from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


def _define_trigger_settings(sender, connection, **kwargs) -> None:
    """Give every session a value for `pgtrigger.ignore`.

    The audit triggers read it in a BEGIN … EXCEPTION block; when it is undefined each
    row raises and catches an error, which makes a bulk statement quadratic (20,000
    rows: 5.5 s instead of 0.4 s, measured). Defined, the block never raises.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET pgtrigger.ignore = '{}'")


class CommonConfig(AppConfig):
    name = "common"
    verbose_name = _("Common")

    def ready(self) -> None:
        # Imported in ready(), Django's place for connecting receivers: at the top of apps.py
        # it would import axes while the app registry is still being populated.
        from common import security  # noqa: F401 - connects the lockout logger

        connection_created.connect(_define_trigger_settings)
