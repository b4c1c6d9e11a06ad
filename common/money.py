"""Money: CNY as Decimal, rounded to the fen (0.01). Never float."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def to_fen(value: Decimal | int | str) -> Decimal:
    """Round half up to the fen. Refuses float: binary fractions are not money."""
    if isinstance(value, float):
        raise TypeError("money must not pass through float")
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def format_cny(amount: Decimal | int | str) -> str:
    """¥1,234.56: an amount as the portal shows it, always to the fen (the money filter, the
    messages of the limit rule, the booking and the import)."""
    return f"¥{Decimal(amount):,.2f}"


def to_fen_down(value: Decimal | int | str) -> Decimal:
    """Truncate to the fen (for equal parts whose remainder goes to the last one)."""
    if isinstance(value, float):
        raise TypeError("money must not pass through float")
    return Decimal(value).quantize(FEN, rounding=ROUND_DOWN)


# Plain decimal notation, as a person types an amount: ASCII digits, optionally grouped in
# threes by commas, then at most one point and its decimals. Decimal() itself would also
# take "1e3", "１００" (full-width digits), "NaN", "Infinity", "+5" and "1_000".
_PLAIN_DECIMAL = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]+))?", re.ASCII)


class NotPlainDecimal(ValueError):
    """The text is not an amount in plain decimal notation (see parse_plain_decimal)."""


def parse_plain_decimal(text: str, *, decimal_places: int = 2) -> Decimal:
    """The Decimal that `text` writes in plain notation, or NotPlainDecimal.

    Accepted: "1234", "1234.5", "1,234.56", "0.07" (surrounding spaces ignored). Refused:
    an exponent ("1e3"), digits other than 0-9 ("１００", "١٠٠"), a sign, spaces or
    underscores inside, commas not in groups of three ("12,34"), a point without digits on
    both sides (".5", "5."), and more than `decimal_places` decimals.
    """
    match = _PLAIN_DECIMAL.fullmatch(text.strip())
    if match is None:
        raise NotPlainDecimal(text)
    decimals = match.group(1)
    if decimals is not None and len(decimals) > decimal_places:
        raise NotPlainDecimal(text)
    return Decimal(match.group(0).replace(",", ""))
