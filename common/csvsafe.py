"""Text a spreadsheet would run: one rule for every CSV and XLSX the portal writes."""

from __future__ import annotations

# A cell that starts with one of these runs as a formula in a spreadsheet (CSV injection):
# an imported name like '=HYPERLINK(...)' must stay text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """`value`, with a quote in front when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
