"""Money: CNY as Decimal, rounded to the fen (0.01). Never float."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def to_fen(value: Decimal | int | str) -> Decimal:
    """Round half up to the fen. Refuses float: binary fractions are not money."""
    if isinstance(value, float):
        raise TypeError("money must not pass through float")
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def to_fen_down(value: Decimal | int | str) -> Decimal:
    """Truncate to the fen (for equal parts whose remainder goes to the last one)."""
    if isinstance(value, float):
        raise TypeError("money must not pass through float")
    return Decimal(value).quantize(FEN, rounding=ROUND_DOWN)
