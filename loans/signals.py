"""The one seam from loans up to the work built on it.

Loans sit below post-loan management (layers: common < borrowers < loans < postloan <
portfolio, portal), so a loan's service cannot call the inspection planning, and the loan
page cannot ask for the risk panel, by importing them. Instead they send one of these
signals; post-loan management connects its receivers when it is ready (postloan/seams.py).
Receivers run at once, in the sender's transaction: a receiver that fails fails the change.
"""

from django.dispatch import Signal

# A loan's terms, status, ledger or risk changed (booked, repaid, reversed, settled, written
# off, handed over; a tier decided, a serious risk factor raised): the work planned from it
# follows. Arguments: loan_ids (a list of ids).
loans_changed = Signal()

# A loan's managing officer changed. Arguments: loan, to_officer.
loan_reassigned = Signal()

# The loan page is being rendered: each receiver returns a dict merged into its context.
# Arguments: request, loan.
loan_page = Signal()


def loan_page_context(request, loan) -> dict:
    """What the layers above add to the loan page (the risk panel, the field work)."""
    context: dict = {}
    for _receiver, extra in loan_page.send(sender=type(loan), request=request, loan=loan):
        context.update(extra or {})
    return context
