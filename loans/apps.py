from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoansConfig(AppConfig):
    name = "loans"
    verbose_name = _("Loans")

    def ready(self) -> None:
        # Imported here, not at the top: an app's models are not loaded when its AppConfig
        # module is imported (Django's app loading), and selectors imports the models.
        from borrowers import loanbook
        from loans import selectors

        loanbook.provide(selectors)
