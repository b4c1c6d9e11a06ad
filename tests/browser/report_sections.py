"""The report on a phone shows one section at a time (issue 18, static/js/report_form.js): a
test that fills the whole report first asks for every section, as an officer may with the
pager's "Show all" (kept for the tab, through reloads)."""

from __future__ import annotations


def show_every_section(page) -> None:
    button = page.locator("[data-testid=show-all-sections]")
    if button.get_attribute("aria-pressed") != "true":
        button.click()
