"""The filters' plain selects (templates/partials/select_field.html): options built in one
Python pass, escaped, the chosen one selected."""

from __future__ import annotations

import pytest
from django import forms
from django.template.loader import render_to_string

from loans.models import Branch


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


@pytest.mark.django_db
def test_a_model_choice_field_lists_its_rows_in_one_query(django_assert_num_queries):
    """No server-side cursor (three round trips) for a filter's few rows; same options."""
    first = Branch.objects.create(code="B1", name="Fuzhou <north>")
    second = Branch.objects.create(code="B2", name="Xiamen")

    class BranchForm(forms.Form):
        branch = forms.ModelChoiceField(Branch.objects.order_by("code"), required=False)

    form = BranchForm({"branch": str(second.pk)})
    form.is_valid()
    with django_assert_num_queries(1) as captured:
        html = render_to_string("partials/select_field.html", {"field": form["branch"]})
    assert not captured.captured_queries[0]["sql"].startswith("DECLARE")
    assert '<option value="">---------</option>' in html
    assert f'<option value="{first.pk}">Fuzhou &lt;north&gt;</option>' in html
    assert f'<option value="{second.pk}" selected>Xiamen</option>' in html
    assert html.index(f'value="{first.pk}"') < html.index(f'value="{second.pk}"')
