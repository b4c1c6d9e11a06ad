"""The filters' plain selects (templates/partials/select_field.html): options built in one
Python pass, escaped, the chosen one selected."""

from __future__ import annotations

from django import forms
from django.template.loader import render_to_string


class ExampleForm(forms.Form):
    branch = forms.ChoiceField(
        choices=[("", "all"), ("1", "Fuzhou <north> & co"), ("2", 'say "hi"')], required=False
    )


def _render(data) -> str:
    form = ExampleForm(data)
    form.is_valid()
    return render_to_string("partials/select_field.html", {"field": form["branch"]})


def test_the_chosen_option_is_selected_and_labels_are_escaped():
    html = _render({"branch": "2"})
    assert '<option value="">all</option>' in html
    assert '<option value="1">Fuzhou &lt;north&gt; &amp; co</option>' in html
    assert '<option value="2" selected>say &quot;hi&quot;</option>' in html
    assert html.count(" selected") == 1


def test_nothing_chosen_selects_the_empty_option():
    html = _render(None)
    assert '<option value="" selected>all</option>' in html
    assert html.count(" selected") == 1
    assert html.index('value=""') < html.index('value="1"') < html.index('value="2"')


def test_an_invalid_choice_is_shown_with_its_error_and_selects_nothing():
    html = _render({"branch": "9"})
    assert " selected" not in html
    assert 'aria-invalid="true"' in html and "invalid-feedback" in html
