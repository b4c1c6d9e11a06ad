"""Identity numbers borrowers and guarantors give us: checks without the database.

* Resident ID number (居民身份证号码, GB 11643-1999), 18 characters.
* Unified social credit code (统一社会信用代码, GB 32100-2015), 18 characters.
* Mainland mobile number (手机号码), 11 digits.

Each `validate_*` returns the normalised value or raises `ValidationError` whose `code` names
the part that is wrong, so a form can point the user at it. The `*_validator` callables are the
same checks in the shape Django field `validators=[...]` expects (they return None).

The check characters are `python-stdnum`'s (`stdnum.cn.ric`, `stdnum.cn.uscc`); this module is
the thin layer on top that stdnum does not give us:

* one translated error per part, checked left to right, so the user is pointed at the typo;
* the region rule: a province-level prefix, including 81/82/83 of the residence permits for
  Hong Kong, Macao and Taiwan residents. stdnum's `ric.validate` looks the whole six-digit
  code up in its table of counties *as of the birth year*: it rejects every Taiwan resident's
  permit (830000 is not in the table), a Hong Kong or Macao permit whose holder was born before
  1997 or 1999, and a number from a county created after its holder's birth (440308, Shenzhen
  Yantian since 1997, for someone born in 1990), although the code says where the number was
  issued, not where its holder was born;
* the birth date, read from the normalised number, and its bounds (1900 to today), which
  stdnum does not check;
* for credit codes, registration-authority and entity-type characters (positions 1 and 2)
  from the whole alphabet: stdnum's `uscc.validate` demands digits there, but GB 32100-2015
  and the codes assigned since use letters too (Y, N, A), and new kinds are added over time;
* our normalisation (NFKC, every kind of whitespace), and no dashes dropped from a credit code.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Literal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum.cn import ric, uscc

# --- Resident ID number (居民身份证号码) ------------------------------------------------------

RESIDENT_ID_LENGTH = 18

# Province-level prefixes of the GB/T 2260 region code. 71 is Taiwan; 81, 82 and 83 are the
# prefixes of residence permits for Hong Kong, Macao and Taiwan residents (港澳台居民居住证),
# which carry an 18-character number of the same shape and are accepted as identity documents.
RESIDENT_ID_PROVINCE_PREFIXES = frozenset(
    {
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
        "83",
    }
)

# ISO 7064 MOD 11-2: the weight of position i (1-based) is 2**(18 - i) mod 11. stdnum computes
# with them; they stay here as the standard's definition the tests hold the checks against.
RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

# Nobody born before 1900 still needs a loan, and a year like 0949 is a typing error.
EARLIEST_BIRTH_YEAR = 1900

_RESIDENT_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")

Gender = Literal["male", "female"]


def _without_whitespace(value: str) -> str:
    # NFKC folds what Chinese input methods type in full width (digits, the letter x, the
    # ideographic space U+3000) into ASCII, so a pasted number is not rejected for reasons
    # the user cannot see.
    folded = unicodedata.normalize("NFKC", value)
    return "".join(folded.split())


def normalize_resident_id(value: str) -> str:
    """Strip spaces, fold full-width characters, upper-case the check character x."""
    return _without_whitespace(value).upper()


def resident_id_check_char(first17: str) -> str:
    """The 18th character implied by the first 17 digits (ISO 7064 MOD 11-2; 10 is 'X')."""
    # stdnum would read full-width digits (int() takes any Unicode digit) or fail with a bare
    # int() error on a letter: the guard keeps "17 ASCII digits" this function's contract.
    if len(first17) != RESIDENT_ID_LENGTH - 1 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {first17!r}")
    # stdnum takes the whole number and ignores its last character: any placeholder will do.
    return ric.calc_check_digit(first17 + "0")


def _resident_id_birth_date_or_none(normalised: str) -> date | None:
    """Characters 7 to 14 as a date, or None. Read here rather than by stdnum's
    ric.get_birth_date, which first cleans the number again character by character: on an
    import's 150,000 numbers that is a second and a half for nothing (the number is
    normalised and its shape checked before this is asked)."""
    try:
        return date(int(normalised[6:10]), int(normalised[10:12]), int(normalised[12:14]))
    except ValueError:
        return None


def validate_resident_id(value: str, *, today: date | None = None) -> str:
    """Return the normalised resident ID number, or raise ValidationError.

    Parts are checked left to right and the first wrong one is reported: when a birth-date
    digit is mistyped the checksum fails as well, and "the birth date is wrong" is the message
    that lets the user find the typo. Error codes: 'length', 'characters', 'region',
    'birth_date', 'checksum'. First-generation 15-digit numbers expired in 2013; not accepted.
    """
    if today is None:
        today = date.today()
    normalised = normalize_resident_id(value)
    if len(normalised) != RESIDENT_ID_LENGTH:
        raise ValidationError(
            _("A resident ID number has 18 characters; this one has %(length)d."),
            code="length",
            params={"length": len(normalised)},
        )
    if not _RESIDENT_ID_SHAPE.fullmatch(normalised):
        raise ValidationError(
            _("A resident ID number is 17 digits followed by a digit or X."),
            code="characters",
        )
    if normalised[:2] not in RESIDENT_ID_PROVINCE_PREFIXES:
        raise ValidationError(
            _("The region code %(region)s does not start with a province code."),
            code="region",
            params={"region": normalised[:6]},
        )
    birth_date = _resident_id_birth_date_or_none(normalised)
    if birth_date is None:
        raise ValidationError(
            _("The birth date %(digits)s is not a calendar date."),
            code="birth_date",
            params={"digits": normalised[6:14]},
        )
    if birth_date.year < EARLIEST_BIRTH_YEAR:
        raise ValidationError(
            _("The birth date %(birth_date)s is before 1900."),
            code="birth_date",
            params={"birth_date": birth_date.isoformat()},
        )
    if birth_date > today:
        raise ValidationError(
            _("The birth date %(birth_date)s is in the future."),
            code="birth_date",
            params={"birth_date": birth_date.isoformat()},
        )
    expected = ric.calc_check_digit(normalised)
    if normalised[17] != expected:
        raise ValidationError(
            _("The check character should be %(expected)s, not %(given)s."),
            code="checksum",
            params={"expected": expected, "given": normalised[17]},
        )
    return normalised


def resident_id_birth_date(value: str) -> date:
    """Birth date encoded in a resident ID number (validated first: never read from garbage)."""
    return _resident_id_birth_date_or_none(validate_resident_id(value))


def resident_id_gender(value: str) -> Gender:
    """Gender encoded in a resident ID number: the 17th digit is odd for men, even for women."""
    return "male" if int(validate_resident_id(value)[16]) % 2 == 1 else "female"


# --- Unified social credit code (统一社会信用代码) --------------------------------------------

CREDIT_CODE_LENGTH = 18

# GB 32100-2015 leaves out I, O, Z, S and V: they read too much like 1, 0, 2, 5 and U.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

# The weight of position i (1-based) is 3**(i - 1) mod 31 (stdnum computes with them; kept as
# the standard's definition the tests hold the checks against).
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

_CREDIT_CODE_CHARACTERS = frozenset(CREDIT_CODE_ALPHABET)


def normalize_credit_code(value: str) -> str:
    """Strip spaces, fold full-width characters, upper-case."""
    return _without_whitespace(value).upper()


def credit_code_check_char(first17: str) -> str:
    """The 18th character implied by the first 17 (GB 32100-2015, modulus 31)."""
    if len(first17) != CREDIT_CODE_LENGTH - 1 or any(
        character not in _CREDIT_CODE_CHARACTERS for character in first17
    ):
        raise ValueError(f"expected 17 characters of {CREDIT_CODE_ALPHABET}, got {first17!r}")
    return uscc.calc_check_digit(first17)


def validate_credit_code(value: str) -> str:
    """Return the normalised unified social credit code, or raise ValidationError.

    Error codes: 'length', 'characters' (outside the alphabet, or a non-digit in the region
    code at positions 3-8), 'checksum'. The registration authority and entity type (positions
    1 and 2) are only checked against the alphabet: new kinds are added over time.
    """
    normalised = normalize_credit_code(value)
    if len(normalised) != CREDIT_CODE_LENGTH:
        raise ValidationError(
            _("A unified social credit code has 18 characters; this one has %(length)d."),
            code="length",
            params={"length": len(normalised)},
        )
    not_allowed = sorted({ch for ch in normalised if ch not in _CREDIT_CODE_CHARACTERS})
    if not_allowed:
        raise ValidationError(
            _("A unified social credit code cannot contain %(characters)s."),
            code="characters",
            params={"characters": ", ".join(not_allowed)},
        )
    if not normalised[2:8].isdigit():
        raise ValidationError(
            _("Characters 3 to 8 (the region code %(region)s) must be digits."),
            code="characters",
            params={"region": normalised[2:8]},
        )
    expected = uscc.calc_check_digit(normalised[:17])
    if normalised[17] != expected:
        raise ValidationError(
            _("The check character should be %(expected)s, not %(given)s."),
            code="checksum",
            params={"expected": expected, "given": normalised[17]},
        )
    return normalised


# --- Mainland mobile number (手机号码) --------------------------------------------------------

_MOBILE_SEPARATORS = re.compile(r"[\s\-]")
_MOBILE_SHAPE = re.compile(r"1[3-9][0-9]{9}")


def normalize_mobile(value: str) -> str:
    """Drop spaces, dashes and a +86 / 86 country prefix: '+86 138-0013-8000' -> '13800138000'."""
    compact = _MOBILE_SEPARATORS.sub("", unicodedata.normalize("NFKC", value))
    if compact.startswith("+86"):
        return compact[3:]
    # A bare 86 is a country code only in front of 11 more digits: no mobile starts with 86.
    if compact.startswith("86") and len(compact) == 13:
        return compact[2:]
    return compact


def validate_mobile(value: str) -> str:
    """Return the 11-digit mobile number, or raise ValidationError (code 'invalid')."""
    normalised = normalize_mobile(value)
    if not _MOBILE_SHAPE.fullmatch(normalised):
        raise ValidationError(
            _("Enter an 11-digit mainland mobile number starting with 13 to 19."),
            code="invalid",
        )
    return normalised


# --- Field validators -------------------------------------------------------------------------
# Module-level functions so migrations can serialise them by import path.


def resident_id_validator(value: str) -> None:
    validate_resident_id(value)


def credit_code_validator(value: str) -> None:
    validate_credit_code(value)


def mobile_validator(value: str) -> None:
    validate_mobile(value)
