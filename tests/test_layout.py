"""The package's map: sub-packages by concept whose imports flow one way (core <- faces <- data <-
models <- cam <- units <- aus; claims on core alone; figures and book on top), no import cycle,
no module over 600 lines, few and commented function-level imports of the package's own modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from personality_utils.book import layout

PACKAGE = Path(layout.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def modules():
    return layout.modules(PACKAGE)


def test_every_module_belongs_to_a_layer(modules):
    assert {module.layer for module in modules} <= set(layout.LAYERS)
    assert not (PACKAGE / "_lazy.py").exists()


def test_imports_flow_one_way(modules):
    upward = [
        f"{module.name} imports {target}"
        for module in modules
        for target in module.imports
        if not layout.allowed(module.layer, layout.layer_of(target))
    ]
    assert not upward


def test_no_import_cycle(modules):
    assert layout.cycles(modules) == []


def test_no_module_over_600_lines(modules):
    assert {m.name: m.lines for m in modules if m.lines > layout.MAX_LINES} == {}


def test_function_level_imports_are_few_and_explained(modules):
    deferred = [item for module in modules for item in module.deferred]
    assert len(deferred) <= layout.MAX_DEFERRED, deferred
    assert all(item.comment for item in deferred), [item for item in deferred if not item.comment]


def test_the_checks_can_fail(tmp_path):
    """A hand-made package with an upward import, a cycle, a long module and an unexplained
    deferred import: each check names it."""
    root = tmp_path / "personality_utils"
    for folder in ("core", "cam", "book"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "core" / "a.py").write_text("from personality_utils.cam import b\n")
    (root / "cam" / "b.py").write_text(
        "from personality_utils.cam import c\n\n"
        "def f():\n    from personality_utils.core import a\n"
    )
    (root / "cam" / "c.py").write_text("from personality_utils.cam import b\n" + "x = 1\n" * 601)
    found = {module.name: module for module in layout.modules(root)}
    assert not layout.allowed(found["core.a"].layer, layout.layer_of("cam.b"))
    assert layout.cycles(found.values()) == [["cam.b", "cam.c", "core.a"]]
    assert found["cam.c"].lines > layout.MAX_LINES
    assert [item.target for item in found["cam.b"].deferred] == ["core.a"]
    assert not found["cam.b"].deferred[0].comment


def test_the_map_is_generated_from_the_package(modules):
    table = layout.markdown_map(PACKAGE)
    for module in modules:
        if not module.name.endswith("__init__"):
            assert f"`{module.name}`" in table
    first = ast.get_docstring(ast.parse((PACKAGE / "cam" / "maps.py").read_text()))
    assert first.split("\n")[0].rstrip(".") in table


def test_the_readme_and_the_book_show_the_current_map():
    """`python -m personality_utils layout --write` writes them; a stale copy fails here."""
    stale = [
        str(path)
        for path, text in layout.generated(PACKAGE.parent).items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"run python -m personality_utils layout --write: {stale}"


def test_no_test_module_imports_another():
    """Shared factories live in tests/helpers.py; a test module imports no other test module."""
    tests = Path(__file__).parent
    crossing = [
        f"{path.name} imports {node.module}"
        for path in sorted(tests.glob("test_*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("test_")
    ]
    assert not crossing
