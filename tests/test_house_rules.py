"""The house rules of the Architecture section that a reader could break without noticing:
modules a reader can hold, functions a reader can hold, and no project import hidden in a
function body without a comment saying why it cannot be at the top (import-linter checks
the layers; it cannot see an import's place)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["common", "borrowers", "loans", "postloan", "portfolio", "portal", "config", "devtools"]
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


MODULES = list(_modules())


def _functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_and_its_functions_are_sizes_a_reader_can_hold(path):
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in _functions(ast.parse(source))
        if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_project_import_inside_a_function_says_why(path):
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    unexplained = []
    for function in _functions(ast.parse(source)):
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if not any(name.split(".")[0] in PACKAGES for name in names):
                continue
            # The reason is a comment on the import or on one of the three lines above it.
            above = lines[max(0, node.lineno - 4) : node.lineno]
            if not any("#" in line for line in above):
                unexplained.append(f"line {node.lineno}: {', '.join(names)}")
    assert not unexplained
