from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PostloanConfig(AppConfig):
    name = "postloan"
    verbose_name = _("Post-loan management")

    def ready(self) -> None:
        # Imported here, not at the top: an app's models are not loaded when its AppConfig
        # module is imported (Django's app loading), and these modules import models.
        from postloan import notifications, seams

        notifications.register_kinds()
        seams.connect()
