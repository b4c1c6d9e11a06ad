"""What each kind of notification says: a registry each app fills for the kinds it sends.

The bottom layer knows no app's kinds. An app registers its kinds, their texts and how to
show a parameter in the reader's words (a tier's label, say) when it is ready
(e.g. postloan/notifications.py); a notification is stored as its kind and parameters and
rendered in the reader's language when read. Importing no model, this module is what the
Notification model's __str__ and common.notifications.notify both read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Kind:
    text: object  # a lazy translation with %(name)s placeholders
    labels: dict[str, Callable[[object], object]] = field(default_factory=dict)


KINDS: dict[str, Kind] = {}


def register(kind: str, text, **labels: Callable[[object], object]) -> None:
    """Register a kind: its text and, per parameter, how to show its value to a reader."""
    KINDS[kind] = Kind(text=text, labels=labels)


def render(kind: str, params: dict) -> str:
    """The kind's text with its parameters, in the active language (the kind's name when
    nothing registered it, the bare text when its parameters do not fit)."""
    registered = KINDS.get(kind)
    if registered is None:
        return kind
    shown = dict(params)
    for name, label in registered.labels.items():
        if name in shown:
            shown[name] = label(shown[name])
    try:
        return str(registered.text) % shown
    except (KeyError, TypeError, ValueError):
        return str(registered.text)
