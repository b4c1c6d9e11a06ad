"""Texts the portal itself writes into records (reasons, notes).

They are stored in English, as marked message ids, and shown through the
`system_text` template filter, which translates them for each reader. Text typed by
people is stored and shown as typed.
"""

from django.utils.translation import gettext_noop

DISBURSEMENT = gettext_noop("Disbursement")
PAID_IN_FULL = gettext_noop("Paid in full")
REPAYMENT_REVERSED = gettext_noop("Repayment reversed")
GROUP_DISSOLVED = gettext_noop("The group was dissolved.")
GROUP_BELOW_MINIMUM = gettext_noop("Fell below the minimum group size.")
ADMIN_EDIT = gettext_noop("Edited in the administration site")
