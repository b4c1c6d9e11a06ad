"""Status changes: one guarded move with its record, and one maker-checker (issue 17).

Every status a model keeps moves through `transition`: it locks the row, decides on the
status stored there (not on the caller's copy, which may be stale), refuses a move its
table does not allow with a translated `ValidationError`, and saves the new status with
what the table's `record` writes beside it. The record is the model's own audit trail,
not a new one: a loan writes its `LoanStatusChange` row (who, when, from, to, why); every
other tracked model's save is one pghistory event (when, and the status after, beside the
previous event's status before; the user of the request's context) and the table's
`record` puts who and why in the fields the model keeps for them (`decided_by` and
`decision_comment`, a guarantee's `status_note`, a step's `note`, an inspection's
`cancel_reason`).

Approvals are `decide` (maker-checker, written once): the proposer never decides, only a
pending proposal is decided and only once (not after it was withdrawn), under the row's
lock so that two checkers deciding at the same moment cannot both succeed; `withdraw` lets
the proposer take a pending proposal back.

The tables live beside the owners of their models (loans.services, borrowers.services,
postloan.transitions); this module imports no app. Night-time changes over the whole book
(the inspection planning's cancels, the classification's lapses) stay set-based SQL: one
locked read and one save per row would slow the night, and their rows say why themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone


@dataclass(frozen=True)
class Change:
    """One move of a status, handed to its table's `record` before the row is saved."""

    obj: models.Model  # the row, locked and already carrying the new status
    before: str
    after: str
    by: Any  # the user who moves it; None for the system (the night)
    why: str
    on: date


@dataclass(frozen=True)
class Transitions:
    """The moves one model's status may make, and how a move is recorded.

    `moves` maps a status to the statuses it may become (a status not in it is final).
    `refusal` is the translated message of an illegal move; it may name the statuses as
    %(from)s and %(to)s (their labels). `record` sets the fields that go with a move
    (dates, who, why) or writes the model's own event row, and returns the names of the
    fields it set. `error_key` is the form field the refusal is shown on (None: the form),
    `code` the refusal's error code.
    """

    model: type[models.Model]
    moves: Mapping[str, Collection[str]]
    refusal: Any  # a lazy translated string
    record: Callable[[Change], Iterable[str]] | None = None
    field: str = "status"
    error_key: str | None = None
    code: str = "illegal_transition"

    def allows(self, before: str, after: str) -> bool:
        return after in self.moves.get(before, ())

    def label(self, value: str) -> str:
        """The status's translated label (the value itself if it is no status)."""
        return str(dict(self.model._meta.get_field(self.field).flatchoices).get(value, value))

    def refused(self, before: str, after: str) -> ValidationError:
        message = self.refusal % {"from": self.label(before), "to": self.label(after)}
        error = ValidationError(message, code=self.code)
        return ValidationError({self.error_key: [error]}) if self.error_key else error


@dataclass(frozen=True)
class MakerChecker:
    """Who proposes and who decides one kind of proposal, and what each refusal says.

    The decision's who, when and comment go to `decided_by`, `decided_at` and
    `decision_comment` (the fields every proposal model has; the database also refuses a
    decider who is the proposer). The messages are translated strings.
    """

    transitions: Transitions
    proposer: str  # the field naming who proposed
    may_decide: Callable[[Any], bool]  # the checker's role
    not_a_checker: Any  # PermissionDenied's message for anyone else
    own_proposal: Any  # the proposer tried to decide
    decided: Any  # decided already, or withdrawn
    reason_needed: Any  # a rejection without a comment
    pending: str = "pending"
    approved: str = "approved"
    rejected: str = "rejected"
    withdrawn: str | None = None  # the status of a proposal its proposer took back


def _locked(model: type[models.Model], pk) -> models.Model:
    return model.objects.select_for_update().get(pk=pk)


def _move(
    obj: models.Model,
    locked: models.Model,
    to: str,
    *,
    by,
    why: str,
    on: date | None,
    table: Transitions,
    also: Mapping[str, Any] | None = None,
) -> models.Model:
    """Move the locked row, record the move, save it; the caller's copy follows."""
    before = getattr(locked, table.field)
    if not table.allows(before, to):
        raise table.refused(before, to)
    setattr(locked, table.field, to)
    for name, value in (also or {}).items():
        setattr(locked, name, value)
    change = Change(locked, before, to, by, why, on or timezone.localdate())
    recorded = table.record(change) if table.record else ()
    fields = list(dict.fromkeys([table.field, *(also or {}), *recorded]))
    locked.save(update_fields=fields)
    if obj is not locked:
        for name in fields:
            setattr(obj, name, getattr(locked, name))
    return locked


def transition(
    obj: models.Model, to: str, *, by, table: Transitions, why: str = "", on: date | None = None
) -> models.Model:
    """Move `obj`'s status to `to` if its table allows it from the stored status; record
    who (`by`), why and on which day (`on`, today by default). Returns the locked row,
    saved; the caller's instance is brought up to date too. Refused: a ValidationError
    with the table's translated message, and nothing changes."""
    with transaction.atomic():
        locked = _locked(table.model, obj.pk)
        return _move(obj, locked, to, by=by, why=why, on=on, table=table)


def decide(
    obj: models.Model,
    *,
    approve: bool,
    comment: str,
    by,
    rule: MakerChecker,
    before_approval: Callable[[models.Model, Any], None] | None = None,
) -> models.Model:
    """A checker who is not the proposer approves or rejects a pending proposal, once.

    Under the proposal's row lock: a second decision waits for the first and is then
    refused as decided. `before_approval(row, by)` runs on the locked row once these rules
    pass and before the approval is saved: the kind's own checks (it may raise a
    ValidationError) and what must give way to the approval. Returns the decided row.
    """
    with transaction.atomic():
        locked = _locked(rule.transitions.model, obj.pk)
        if not rule.may_decide(by):
            raise PermissionDenied(rule.not_a_checker)
        comment = (comment or "").strip()
        errors: dict[str, list] = {}
        if getattr(locked, f"{rule.proposer}_id") == by.pk:
            errors["__all__"] = [rule.own_proposal]
        if getattr(locked, rule.transitions.field) != rule.pending:
            errors["__all__"] = [rule.decided]
        if not approve and not comment:
            errors["comment"] = [rule.reason_needed]
        if errors:
            raise ValidationError(errors)
        if approve and before_approval is not None:
            before_approval(locked, by)
        decision = {"decided_by": by, "decided_at": timezone.now(), "decision_comment": comment}
        to = rule.approved if approve else rule.rejected
        return _move(
            obj, locked, to, by=by, why=comment, on=None, table=rule.transitions, also=decision
        )


def withdraw(obj: models.Model, *, by, rule: MakerChecker, why: str = "") -> models.Model:
    """The proposer takes back a proposal nobody has decided yet; no one decides it then."""
    with transaction.atomic():
        locked = _locked(rule.transitions.model, obj.pk)
        if getattr(locked, f"{rule.proposer}_id") != by.pk:
            raise PermissionDenied
        if getattr(locked, rule.transitions.field) != rule.pending or rule.withdrawn is None:
            raise ValidationError(rule.decided)
        return _move(obj, locked, rule.withdrawn, by=by, why=why, on=None, table=rule.transitions)
