"""The README and docs/ link only to files a clone of the repository has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and [text](target "title"); images too. Reference-style definitions
# ([name]: target) are caught by the second pattern.
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)


def _relative_links(document: Path) -> list[str]:
    return _relative_links_in(document.read_text(encoding="utf-8"))


def _relative_links_in(text: str) -> list[str]:
    # Code spans and fenced blocks are not links.
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)
    return [target for target in targets if not EXTERNAL.match(target)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_in_the_repository(document):
    broken = []
    for target in _relative_links(document):
        path = (document.parent / target.split("#", 1)[0]).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    assert not broken, f"{document.relative_to(ROOT)} links outside the repository: {broken}"


def test_the_readme_links_the_projects_own_domain_rules():
    assert "docs/domain.md" in _relative_links(ROOT / "README.md")


def test_the_link_check_finds_links_in_every_form():
    # A check that found no link would pass on anything.
    text = """
See [`../shared/DOMAIN.md`](../shared/DOMAIN.md), [the rules](docs/domain.md#4 "tiers"),
![logo](static/favicon.svg), [web](https://example.com/x.md), [top](#quick-start),
`[not a link](nowhere.md)`, and [ref].

[ref]: docs/decisions.md
"""
    assert _relative_links_in(text) == [
        "../shared/DOMAIN.md",
        "docs/domain.md#4",
        "static/favicon.svg",
        "docs/decisions.md",
    ]
