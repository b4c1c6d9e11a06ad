"""Items the field app queued on a phone, received exactly once.

Every item carries an id made on the phone (`X-Daihou-Client-Id`, a UUID). The item's work
and its receipt commit together: sent again — a retry after the connection dropped
mid-send, the same queue sent from a second tab, Background Sync and a page both sending —
it finds the receipt and gets the first answer back, and nothing is recorded twice. Two
copies arriving at once are put one after the other by the receipt's primary key: the
second insert waits for the first transaction and then finds its row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db import connection, transaction
from django.utils.translation import gettext as _

from postloan.models import FieldReceipt

CLIENT_ID_HEADER = "HTTP_X_DAIHOU_CLIENT_ID"


def client_id_of(request) -> uuid.UUID | None:
    """The phone's id of the item, or None for an ordinary form post (or a malformed id)."""
    value = request.META.get(CLIENT_ID_HEADER, "")
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def receive_once(
    *, client_id: uuid.UUID, user, path: str, work: Callable[[], tuple[bool, dict]]
) -> tuple[bool, dict]:
    """Run `work` once per client id and keep its answer.

    `work` returns (accepted, answer). An accepted item's answer is kept with its records;
    a refused one (a validation error, a conflict) rolls back and keeps nothing, so the
    phone can correct it and send it again. Returns (accepted, answer), with
    answer["repeated"] True when the item had been received before.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Waits for a concurrent copy's transaction, then inserts nothing if it committed.
            cursor.execute(
                f"INSERT INTO {FieldReceipt._meta.db_table} "
                "(client_id, user_id, path, response, received_at) "
                "VALUES (%s, %s, %s, '{}'::jsonb, now()) "
                "ON CONFLICT (client_id) DO NOTHING RETURNING client_id",
                [client_id, user.pk, path[:200]],
            )
            claimed = cursor.fetchone() is not None
        if not claimed:
            earlier = FieldReceipt.objects.get(pk=client_id)
            if earlier.user_id != user.pk or earlier.path != path[:200]:
                # An id is the phone's own: another user's or another item's is not an answer
                # to give out (ids are random; this is a forged or a broken client).
                reason = _("This item's id was already used for another item: it was not saved.")
                return False, {"ok": False, "conflict": False, "reasons": [str(reason)]}
            return True, {**earlier.response, "repeated": True}
        accepted, answer = work()
        if not accepted:
            transaction.set_rollback(True)
            return False, answer
        FieldReceipt.objects.filter(pk=client_id).update(response=answer)
        return True, answer
