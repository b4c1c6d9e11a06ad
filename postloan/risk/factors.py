"""The 16 risk factors that put a loan under special supervision (Art. 5, docs/domain.md §6).

A fixed list: the numbers are the manual's. Five can be read from data and are raised
and resolved by the nightly run; the rest are raised by people, with evidence.
"""

from __future__ import annotations

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

FACTORS: dict[int, object] = {
    1: _("Instalment not paid as contracted"),
    2: _("Borrower sanctioned for illegal or undisciplined conduct"),
    3: _("Unstable job or sharply lower income"),
    4: _("Health worsened or serious injury; unable to work"),
    5: _("Borrower died, declared missing or dead, or lost legal capacity"),
    6: _("Credit obtained by fraud or loan funds diverted"),
    7: _("Assets lost to a natural or social disaster"),
    8: _("Collateral removed, leased, sold, transferred or pledged again without consent"),
    9: _("Borrower refuses or obstructs inspection, or gives false information"),
    10: _("Residence and contact details change often"),
    11: _("Collateral value near or below the loan, or the security right impaired"),
    12: _("Off-plan property not completed or title not registered in time"),
    13: _("Guarantor's eligibility or capacity impaired"),
    14: _("New laws leave a defect in the contracts"),
    15: _("Loan documents incomplete or key papers lost"),
    16: _("Guarantee or insurance called, or legal action taken"),
}

MISSED_INSTALMENT = 1
CONTACT_CHANGES = 10
COLLATERAL_COVERAGE = 11
OFF_PLAN_OVERDUE = 12
GUARANTOR_IMPAIRED = 13

# Raised and resolved by the nightly run from the data.
DATA_DRIVEN = frozenset(
    {MISSED_INSTALMENT, CONTACT_CHANGES, COLLATERAL_COVERAGE, OFF_PLAN_OVERDUE, GUARANTOR_IMPAIRED}
)

CHOICES = [(number, format_lazy("{}. {}", number, text)) for number, text in FACTORS.items()]


def label(number: int) -> str:
    return f"{number}. {FACTORS[number]}"
