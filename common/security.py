"""Security events worth a line in the log."""

import logging

from axes.signals import user_locked_out
from django.dispatch import receiver

logger = logging.getLogger("daihou.security")


@receiver(user_locked_out)
def log_lockout(sender, request, username, ip_address, **kwargs) -> None:
    logger.warning("login locked out: username=%r ip=%s", username, ip_address)
