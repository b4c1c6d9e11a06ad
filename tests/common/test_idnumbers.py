"""Resident ID numbers, unified social credit codes and mobile numbers: pure checks."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from common.idnumbers import (
    CREDIT_CODE_ALPHABET,
    CREDIT_CODE_WEIGHTS,
    RESIDENT_ID_PROVINCE_PREFIXES,
    RESIDENT_ID_WEIGHTS,
    credit_code_check_char,
    credit_code_validator,
    mobile_validator,
    normalize_credit_code,
    normalize_mobile,
    normalize_resident_id,
    resident_id_birth_date,
    resident_id_check_char,
    resident_id_gender,
    resident_id_validator,
    validate_credit_code,
    validate_mobile,
    validate_resident_id,
)

TODAY = date(2025, 6, 30)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


def _error(check, value, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        check(value, **kwargs)
    return caught.value


# --- Resident ID number ------------------------------------------------------------------------


def test_the_weights_are_powers_of_two_mod_11():
    # ISO 7064 MOD 11-2: position i (1-based) of 18 weighs 2**(18 - i) mod 11.
    assert tuple(pow(2, 18 - i, 11) for i in range(1, 18)) == RESIDENT_ID_WEIGHTS


@pytest.mark.parametrize(
    ("value", "normalised", "birth_date", "gender"),
    [
        # The worked example of GB 11643-1999: Beijing Chaoyang, 1949-12-31, female.
        ("11010519491231002X", "11010519491231002X", date(1949, 12, 31), "female"),
        ("11010519491231002x", "11010519491231002X", date(1949, 12, 31), "female"),
        (" 110105 19491231 002x ", "11010519491231002X", date(1949, 12, 31), "female"),
        # Full-width digits and letter, ideographic space: what a Chinese input method types.
        (
            "\uff11\uff11\uff10\uff11\uff10\uff15\u3000\uff11\uff19\uff14\uff19\uff11\uff12"
            "\uff13\uff11\uff10\uff10\uff12\uff58",
            "11010519491231002X",
            date(1949, 12, 31),
            "female",
        ),
        ("440308199001011239", "440308199001011239", date(1990, 1, 1), "male"),
        ("65010220000229001X", "65010220000229001X", date(2000, 2, 29), "male"),
        ("110101190001010014", "110101190001010014", date(1900, 1, 1), "male"),
        # Residence permit for a Hong Kong resident (港澳台居民居住证): prefix 81.
        ("810000199408230021", "810000199408230021", date(1994, 8, 23), "female"),
    ],
)
def test_valid_resident_ids(value, normalised, birth_date, gender):
    assert normalize_resident_id(value) == normalised
    assert validate_resident_id(value, today=TODAY) == normalised
    assert resident_id_birth_date(value) == birth_date
    assert resident_id_gender(value) == gender
    assert resident_id_validator(value) is None


@pytest.mark.parametrize(
    ("value", "code", "message_part"),
    [
        ("", "length", "this one has 0"),
        ("1101051949123100", "length", "this one has 16"),
        ("11010519491231002X1", "length", "this one has 19"),
        ("1101051949123100AX", "characters", "17 digits"),
        ("X10105194912310021", "characters", "17 digits"),
        ("11010519491231002Y", "characters", "17 digits"),
        ("110105194912310.2X", "characters", "17 digits"),
        ("091050194912310021", "region", "091050"),
        ("990105194912310021", "region", "990105"),
        ("100105194912310021", "region", "100105"),
        ("110105194902310021", "birth_date", "19490231"),
        ("110105194913010021", "birth_date", "19491301"),
        ("110105190002290021", "birth_date", "19000229"),  # 1900 was not a leap year
        # The other GB 11643-1999 example: its checksum is right but 1880 is before 1900.
        ("440524188001010014", "birth_date", "1880-01-01"),
        ("110105202507010021", "birth_date", "2025-07-01"),  # the day after TODAY
        ("110105194912310021", "checksum", "should be X, not 1"),
        ("440308199001011230", "checksum", "should be 9, not 0"),
    ],
)
def test_invalid_resident_ids_name_the_wrong_part(value, code, message_part):
    error = _error(validate_resident_id, value, today=TODAY)
    assert error.code == code
    assert message_part in error.messages[0]


def test_the_birth_date_may_be_today_but_not_tomorrow():
    first17 = "11010520250630002"
    born_today = first17 + resident_id_check_char(first17)
    assert validate_resident_id(born_today, today=TODAY) == born_today
    error = _error(validate_resident_id, born_today, today=TODAY - timedelta(days=1))
    assert error.code == "birth_date"


def test_reading_an_invalid_id_raises_rather_than_guessing():
    for read in (resident_id_birth_date, resident_id_gender, resident_id_validator):
        with pytest.raises(ValidationError):
            read("110105194912310021")


@pytest.mark.parametrize("first17", ["", "1101051949123100", "1101051949123100X", "1" * 18])
def test_the_check_character_needs_17_digits(first17):
    with pytest.raises(ValueError):
        resident_id_check_char(first17)


@st.composite
def resident_ids(draw) -> str:
    province = draw(st.sampled_from(sorted(RESIDENT_ID_PROVINCE_PREFIXES)))
    rest_of_region = draw(st.text("0123456789", min_size=4, max_size=4))
    birth_date = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    sequence = draw(st.text("0123456789", min_size=3, max_size=3))
    first17 = f"{province}{rest_of_region}{birth_date:%Y%m%d}{sequence}"
    return first17 + resident_id_check_char(first17)


@PROPERTY_SETTINGS
@given(resident_ids())
def test_a_well_formed_id_is_valid_and_its_parts_read_back(resident_id):
    assert validate_resident_id(resident_id, today=TODAY) == resident_id
    assert validate_resident_id(resident_id.lower(), today=TODAY) == resident_id
    digits = resident_id[6:14]
    assert resident_id_birth_date(resident_id) == date(
        int(digits[:4]), int(digits[4:6]), int(digits[6:])
    )
    assert resident_id_gender(resident_id) == ("male" if int(resident_id[16]) % 2 else "female")


@PROPERTY_SETTINGS
@given(resident_ids(), st.integers(0, 16), st.integers(1, 9))
def test_changing_one_of_the_first_17_digits_makes_the_id_invalid(resident_id, position, shift):
    # Every weight 2**k mod 11 is non-zero and 11 is prime, so a change of d (0 < |d| < 10) in
    # one digit changes the weighted sum mod 11 and with it the check character. The change may
    # be caught earlier (region, birth date); either way the ID must not pass.
    changed_digit = str((int(resident_id[position]) + shift) % 10)
    changed = resident_id[:position] + changed_digit + resident_id[position + 1 :]
    with pytest.raises(ValidationError):
        validate_resident_id(changed, today=TODAY)


@PROPERTY_SETTINGS
@given(resident_ids(), st.sampled_from("0123456789X"))
def test_any_other_check_character_fails_the_checksum(resident_id, check_char):
    if check_char == resident_id[17]:
        return
    error = _error(validate_resident_id, resident_id[:17] + check_char, today=TODAY)
    assert error.code == "checksum"


@PROPERTY_SETTINGS
@given(resident_ids(), st.integers(0, 15))
def test_swapping_two_adjacent_digits_makes_the_id_invalid(resident_id, position):
    # Adjacent weights differ (w_i = 2 * w_{i+1} mod 11), so swapping unequal neighbours
    # changes the sum by (a - b)(w_i - w_{i+1}), never a multiple of 11.
    left, right = resident_id[position], resident_id[position + 1]
    if left == right:
        return
    swapped = resident_id[:position] + right + left + resident_id[position + 2 :]
    with pytest.raises(ValidationError):
        validate_resident_id(swapped, today=TODAY)


# --- Unified social credit code ----------------------------------------------------------------


def test_the_credit_code_alphabet_and_weights():
    assert len(CREDIT_CODE_ALPHABET) == 31
    assert not set("IOZSV") & set(CREDIT_CODE_ALPHABET)
    # GB 32100-2015: position i (1-based) weighs 3**(i - 1) mod 31.
    assert tuple(pow(3, i, 31) for i in range(17)) == CREDIT_CODE_WEIGHTS


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("91350100M000100Y43", "91350100M000100Y43"),
        ("91110108551385082Q", "91110108551385082Q"),
        ("91110108551385082q", "91110108551385082Q"),
        (" 9135 0100 M000 100Y 43 ", "91350100M000100Y43"),
    ],
)
def test_valid_credit_codes(value, normalised):
    assert normalize_credit_code(value) == normalised
    assert validate_credit_code(value) == normalised
    assert credit_code_validator(value) is None


@pytest.mark.parametrize(
    ("value", "code", "message_part"),
    [
        ("", "length", "this one has 0"),
        ("91350100M000100Y4", "length", "this one has 17"),
        ("91350100M000100Y433", "length", "this one has 19"),
        ("91350100I000100Y43", "characters", "cannot contain I"),
        ("91350100O000100Y43", "characters", "cannot contain O"),
        ("91350100Z000100Y43", "characters", "cannot contain Z"),
        ("91350100S000100V43", "characters", "cannot contain S, V"),
        ("91350100M000100Y4-", "characters", "cannot contain -"),
        ("91A50100M000100Y42", "characters", "region code A50100"),  # checksum is right
        ("91350100M000100Y44", "checksum", "should be 3, not 4"),
        ("91110108551385082R", "checksum", "should be Q, not R"),
    ],
)
def test_invalid_credit_codes_name_the_wrong_part(value, code, message_part):
    error = _error(validate_credit_code, value)
    assert error.code == code
    assert message_part in error.messages[0]


def test_the_region_example_above_has_a_correct_checksum():
    # So the 'characters' error it raises comes from the region rule, not from the checksum.
    assert credit_code_check_char("91A50100M000100Y4") == "2"


@pytest.mark.parametrize("first17", ["", "91350100M000100Y", "91350100I000100Y4"])
def test_the_credit_code_check_character_needs_17_characters_of_the_alphabet(first17):
    with pytest.raises(ValueError):
        credit_code_check_char(first17)


@st.composite
def credit_codes(draw) -> str:
    alphabet_char = st.sampled_from(CREDIT_CODE_ALPHABET)
    authority_and_type = "".join(draw(st.lists(alphabet_char, min_size=2, max_size=2)))
    region = draw(st.text("0123456789", min_size=6, max_size=6))
    organisation = "".join(draw(st.lists(alphabet_char, min_size=9, max_size=9)))
    first17 = authority_and_type + region + organisation
    return first17 + credit_code_check_char(first17)


@PROPERTY_SETTINGS
@given(credit_codes())
def test_a_well_formed_credit_code_is_valid(credit_code):
    assert validate_credit_code(credit_code) == credit_code
    assert validate_credit_code(credit_code.lower()) == credit_code


@PROPERTY_SETTINGS
@given(credit_codes(), st.integers(0, 16), st.integers(1, 30))
def test_changing_one_of_the_first_17_characters_makes_the_code_invalid(
    credit_code, position, shift
):
    # 3 is a primitive root mod 31, so every weight is non-zero and 31 is prime: any change of
    # one character's value (0 < |d| < 31) moves the sum mod 31 and so the check character.
    value = CREDIT_CODE_ALPHABET.index(credit_code[position])
    changed_char = CREDIT_CODE_ALPHABET[(value + shift) % 31]
    changed = credit_code[:position] + changed_char + credit_code[position + 1 :]
    with pytest.raises(ValidationError):
        validate_credit_code(changed)


@PROPERTY_SETTINGS
@given(credit_codes(), st.sampled_from(CREDIT_CODE_ALPHABET))
def test_any_other_credit_code_check_character_fails_the_checksum(credit_code, check_char):
    if check_char == credit_code[17]:
        return
    assert _error(validate_credit_code, credit_code[:17] + check_char).code == "checksum"


@PROPERTY_SETTINGS
@given(credit_codes(), st.integers(0, 16), st.integers(0, 16))
def test_swapping_any_two_of_the_first_17_characters_makes_the_code_invalid(
    credit_code, first, second
):
    # The 17 weights 3**k mod 31 (k < 17 < 30, the order of 3) are all different.
    if credit_code[first] == credit_code[second]:
        return
    characters = list(credit_code)
    characters[first], characters[second] = characters[second], characters[first]
    with pytest.raises(ValidationError):
        validate_credit_code("".join(characters))


# --- Mobile number -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+8613800138000",
        "+86 138 0013 8000",
        "86-138-0013-8000",
        "8613800138000",
        "\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10",
    ],
)
def test_valid_mobiles_normalise_to_11_digits(value):
    assert validate_mobile(value) == "13800138000"
    assert mobile_validator(value) is None


def test_a_leading_86_is_a_country_code_only_before_11_more_digits():
    # What the form shows back after a failed check: the input, not a mangled remainder.
    assert normalize_mobile("86 1380") == "861380"
    assert normalize_mobile("86 138 0013 8000") == "13800138000"


@pytest.mark.parametrize("value", ["19912345678", "16612345678", "14512345678"])
def test_every_second_digit_from_3_to_9_is_accepted(value):
    assert validate_mobile(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "12800138000",  # 12 is not a mobile prefix
        "10800138000",
        "23800138000",
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "1380013800a",
        "+852 9123 4567",  # Hong Kong, not mainland
        "+86 1380013800",
        "0086 138 0013 8000",
        "86 86 138 0013 800",
    ],
)
def test_invalid_mobiles(value):
    error = _error(validate_mobile, value)
    assert error.code == "invalid"
    assert "11-digit" in error.messages[0]
    with pytest.raises(ValidationError):
        mobile_validator(value)


@PROPERTY_SETTINGS
@given(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.sampled_from(["", "86", "+86", "+86 ", "86-"]),
    st.lists(st.sampled_from([" ", "-"]), min_size=11, max_size=11),
)
def test_any_spacing_and_country_prefix_normalise_away(mobile, prefix, separators):
    spaced = "".join(digit + separator for digit, separator in zip(mobile, separators, strict=True))
    assert normalize_mobile(prefix + spaced) == mobile
    assert validate_mobile(prefix + spaced) == mobile
