"""One money formatter and one spreadsheet-safety rule for the whole portal."""

from decimal import Decimal

import pytest

from common.csvsafe import neutralise
from common.money import format_cny
from common.templatetags.daihou import money


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("1234.5"), "¥1,234.50"),
        (Decimal("0"), "¥0.00"),
        (Decimal("120000.00"), "¥120,000.00"),
        ("987654321.01", "¥987,654,321.01"),
        (7, "¥7.00"),
    ],
)
def test_an_amount_is_shown_to_the_fen_with_thousands_separators(amount, shown):
    assert format_cny(amount) == shown
    assert money(amount) == shown  # the template filter says the same


@pytest.mark.parametrize("text", ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_text_a_spreadsheet_would_run_gets_a_quote(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value", ["王芳", "DK-0001", "", Decimal("-5"), 3, None])
def test_other_values_are_left_as_they_are(value):
    assert neutralise(value) == value
