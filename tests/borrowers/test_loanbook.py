"""The hook through which borrowers asks loans (borrowers/loanbook.py)."""

import inspect

import pytest
from django.core.exceptions import ImproperlyConfigured

from borrowers import loanbook
from loans import selectors


def test_the_loans_app_provides_its_selectors_at_start_up():
    assert loanbook.loan_book() is selectors


def test_every_question_of_the_protocol_has_an_answer_taking_what_borrowers_passes():
    questions = {
        name: member
        for name, member in vars(loanbook.LoanBook).items()
        if callable(member) and not name.startswith("_")
    }
    assert len(questions) == 7
    for name, question in questions.items():
        asked = list(inspect.signature(question).parameters)[1:]  # without self
        answer = inspect.signature(getattr(selectors, name)).parameters
        assert list(answer)[: len(asked)] == asked, name
        # Anything more the selector takes must be optional: borrowers never passes it.
        extra = list(answer.values())[len(asked) :]
        assert all(p.default is not inspect.Parameter.empty for p in extra), name


def test_without_a_provider_borrowers_refuses_rather_than_answering_nothing(monkeypatch):

    monkeypatch.setattr(loanbook, "_book", None)
    with pytest.raises(ImproperlyConfigured):
        loanbook.loan_book()
