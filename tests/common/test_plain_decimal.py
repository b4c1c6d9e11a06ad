"""Amounts are typed in plain decimal notation only (issue 16, hole 6): the pure parser,
the form field every money input uses, and a page that takes an amount."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from common.forms import PlainDecimalField, money_field
from common.money import NotPlainDecimal, parse_plain_decimal

D = Decimal


@pytest.mark.parametrize(
    ("text", "places", "expected"),
    [
        ("0", 2, D("0")),
        ("7", 2, D("7")),
        ("1234", 2, D("1234")),
        ("1234.5", 2, D("1234.5")),
        ("1234.56", 2, D("1234.56")),
        ("0.07", 2, D("0.07")),
        ("1,234", 2, D("1234")),
        ("1,234.56", 2, D("1234.56")),
        ("12,345,678.90", 2, D("12345678.90")),
        ("  500.00 ", 2, D("500.00")),  # surrounding spaces, as pasted
        ("007", 2, D("7")),
        ("12.125", 3, D("12.125")),  # a rate: three places where the field says so
    ],
)
def test_plain_notation_is_read_exactly(text, places, expected):
    value = parse_plain_decimal(text, decimal_places=places)

    assert value == expected
    assert isinstance(value, Decimal)


@pytest.mark.parametrize(
    "text",
    [
        "1e3",  # an exponent: Decimal() reads 1000
        "1E3",
        "1.5e2",
        "１００",  # full-width digits (an IME's)
        "１,０００.００",
        "١٠٠",  # Arabic-Indic digits
        "100.",  # a point without decimals
        ".5",  # or without units
        "1.234",  # three decimals for money
        "1,23",  # commas must group thousands
        "12,34.00",
        "1234,567",
        ",123",
        "1,,234",
        "-5",  # no sign
        "+5",
        "1 000",  # spaces inside
        "1_000",  # Python's digit separator
        "1.2.3",
        "NaN",
        "Infinity",
        "0x10",
        "¥100",
        "100元",
        "",
        "   ",
    ],
)
def test_anything_else_is_refused(text):
    with pytest.raises(NotPlainDecimal):
        parse_plain_decimal(text)


def test_a_field_with_no_decimal_places_refuses_any():
    assert parse_plain_decimal("12", decimal_places=0) == D("12")
    with pytest.raises(NotPlainDecimal):
        parse_plain_decimal("12.0", decimal_places=0)


# --- The form field ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [("1,234.56", D("1234.56")), ("1234.5", D("1234.5")), (" 88 ", D("88"))],
)
def test_the_money_field_accepts_plain_amounts(typed, cleaned):
    assert money_field("amount").clean(typed) == cleaned


@pytest.mark.parametrize("typed", ["1e3", "１００", "1.005", "-1", "1,23"])
def test_the_money_field_refuses_anything_else_with_a_translated_message(typed):
    field = money_field("amount")

    with translation.override("en"), pytest.raises(Exception) as refused:
        field.clean(typed)
    with translation.override("en"):
        english = refused.value.messages
    with translation.override("zh-hans"):
        chinese = refused.value.messages

    assert english == [
        "Enter the number in plain digits, with at most 2 decimal places: "
        "for example 1234.56 or 1,234.56."
    ]
    assert chinese != english
    assert "1,234.56" in chinese[0]


def test_the_money_field_still_applies_its_limits():
    field = money_field("amount", max_digits=6, min_value=D("0.01"))

    with pytest.raises(Exception) as too_long:
        field.clean("12,345.67")
    with pytest.raises(Exception) as zero:
        field.clean("0")

    with translation.override("en"):
        assert "6 digits" in too_long.value.messages[0]
        assert zero.value.messages == ["Ensure this value is greater than or equal to 0.01."]


def test_the_money_field_is_a_text_box_that_brings_up_the_decimal_keypad():
    html = str(money_field("amount").widget.render("amount", ""))

    assert 'type="text"' in html
    assert 'inputmode="decimal"' in html


def test_a_rate_field_speaks_of_its_own_places():
    field = PlainDecimalField(label="rate", max_digits=6, decimal_places=3)

    assert field.clean("12.125") == D("12.125")
    with translation.override("en"), pytest.raises(Exception) as refused:
        field.clean("1e1")
    with translation.override("en"):
        assert "at most 3 decimal places" in refused.value.messages[0]
