"""What the field app sent: one receipt per item a phone queued (docs/decisions.md, Field app)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["FieldReceipt"]


class FieldReceipt(models.Model):
    """An item the field app sent (a report's save or submission, a contact attempt, a
    photo), by the id the phone gave it. Written in the same transaction as the item's
    records, so an item sent twice — a retry after a dropped connection, the same queue
    sent from two tabs — finds its receipt and is answered as before instead of recorded
    again; a refused item leaves none, so it can be corrected and sent again."""

    client_id = models.UUIDField(_("id given on the phone"), primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    path = models.CharField(_("sent to"), max_length=200)
    response = models.JSONField(_("answer given"))
    received_at = models.DateTimeField(_("received"), auto_now_add=True)

    class Meta:
        verbose_name = _("field app receipt")
        verbose_name_plural = _("field app receipts")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.client_id} {self.path}"
