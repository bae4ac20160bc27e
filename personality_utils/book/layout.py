"""The package's own map, read from its source: which sub-package (layer) each module belongs
to, what it imports from the package, which of those imports sit inside functions, and a
Markdown table of every module with the first line of its docstring (the Build appendix and the
README show it, so the map cannot drift from the code). ``tests/test_layout.py`` holds the rules.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "LAYERS",
    "MAX_LINES",
    "MAX_DEFERRED",
    "Deferred",
    "Module",
    "allowed",
    "cycles",
    "layer_of",
    "generated",
    "markdown_map",
    "modules",
    "package_table",
]

#: The sub-packages from the bottom up; a module may import its own layer and those below it.
#: ``claims`` reads records and may import ``core`` only; ``__main__`` (the CLI) sits on top.
LAYERS: tuple[str, ...] = (
    "core",
    "faces",
    "data",
    "models",
    "cam",
    "attribution",
    "units",
    "aus",
    "claims",
    "figures",
    "book",
    "__main__",
)
_ONLY: dict[str, set[str]] = {"claims": {"core", "claims"}}
MAX_LINES = 600
#: Function-level imports of the package's own modules allowed in all (each with a comment).
MAX_DEFERRED = 10
_PACKAGE = "personality_utils"


@dataclass(frozen=True)
class Deferred:
    """An import of the package's own module inside a function, and the comment that says why."""

    module: str
    line: int
    target: str
    comment: str


@dataclass
class Module:
    name: str  # dotted, below the package: "cam.maps"
    path: Path
    lines: int
    imports: set[str] = field(default_factory=set)  # every own module imported, anywhere
    top_imports: set[str] = field(default_factory=set)  # those at import time
    deferred: list[Deferred] = field(default_factory=list)
    summary: str = ""

    @property
    def layer(self) -> str:
        return layer_of(self.name)


def layer_of(name: str) -> str:
    """The sub-package of a dotted module name below the package ("cam.maps" -> "cam")."""
    return name.split(".")[0]


def allowed(source: str, target: str) -> bool:
    """Whether a module of layer ``source`` may import one of layer ``target``."""
    if source in _ONLY:
        return target in _ONLY[source]
    if source not in LAYERS or target not in LAYERS:
        return False
    return LAYERS.index(target) <= LAYERS.index(source)


def _targets(node: ast.ImportFrom, module: str, known: set[str]) -> list[str]:
    """The own modules an import statement reads: ``from personality_utils.cam import maps``
    reads ``cam.maps``; ``from personality_utils.cam.maps import upsample`` reads ``cam.maps``."""
    if node.level:
        base = module.split(".")[: -node.level]
        name = ".".join([*base, *([node.module] if node.module else [])])
    elif node.module and (node.module == _PACKAGE or node.module.startswith(_PACKAGE + ".")):
        name = node.module[len(_PACKAGE) + 1 :]
    else:
        return []
    out = []
    for alias in node.names:
        dotted = f"{name}.{alias.name}" if name else alias.name
        out.append(dotted if dotted in known else name)
    return [target for target in out if target]


def _comment(lines: list[str], line: int) -> str:
    """The comment on an import's line or on the line above it."""
    for text in (lines[line - 1], lines[line - 2] if line > 1 else ""):
        if "#" in text:
            return text.split("#", 1)[1].strip()
    return ""


def modules(root: str | Path) -> list[Module]:
    """Every module of the package at ``root`` with its own imports."""
    root = Path(root)
    paths = sorted(root.rglob("*.py"))
    names = {}
    for path in paths:
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts == ["__init__"]:
            continue  # the package's own __init__: a docstring and a version
        names[path] = ".".join(parts)
    known = {name.removesuffix(".__init__") for name in names.values()}
    out = []
    for path, name in names.items():
        text = path.read_text()
        tree = ast.parse(text)
        lines = text.splitlines()
        package = name.removesuffix(".__init__")
        module = Module(name, path, len(lines), summary=_summary(tree))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                targets = [t for t in _targets(node, package + ".x", known) if t != package]
                module.imports.update(targets)
        for node, inside in _walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            targets = [t for t in _targets(node, package + ".x", known) if t != package]
            if inside:
                module.deferred.extend(
                    Deferred(name, node.lineno, t, _comment(lines, node.lineno)) for t in targets
                )
            else:
                module.top_imports.update(targets)
        out.append(module)
    return out


def _walk(tree: ast.Module):
    """Every node with whether it sits inside a function."""
    stack = [(child, False) for child in tree.body]
    while stack:
        node, inside = stack.pop()
        yield node, inside
        nested = inside or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        stack.extend((child, nested) for child in ast.iter_child_nodes(node))


def _summary(tree: ast.Module) -> str:
    """The first sentence of a module's docstring, its Sphinx roles as plain code."""
    doc = ast.get_docstring(tree) or ""
    first = doc.split("\n\n")[0].replace("\n", " ").strip()
    first = re.sub(r":[a-z]+:`[~.]*([^`]+)`", r"`\1`", first).replace("``", "`")
    return first.split(". ")[0].rstrip(".")


def cycles(found: Iterable[Module]) -> list[list[str]]:
    """The import cycles among modules (every import, at import time or not), each as its sorted
    members (Tarjan's strongly connected components of more than one module)."""
    graph = {module.name.removesuffix(".__init__"): module.imports for module in found}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(out)


def markdown_map(root: str | Path) -> str:
    """A Markdown table of the package: layer, module, lines, and what it is for (the first
    sentence of its docstring)."""
    rows = ["| layer | module | lines | what it is for |", "|---|---|---|---|"]
    found = sorted(
        modules(root), key=lambda m: (LAYERS.index(m.layer) if m.layer in LAYERS else 0, m.name)
    )
    for module in found:
        if module.name.endswith("__init__") and module.name != "__init__":
            continue
        summary = module.summary.replace("|", "\\|")
        rows.append(f"| {module.layer} | `{module.name}` | {module.lines} | {summary} |")
    return "\n".join(rows)


def package_table(root: str | Path) -> str:
    """A Markdown table of the sub-packages, bottom up, each with the first sentence of its
    ``__init__`` docstring (the README shows it)."""
    root = Path(root)
    rows = ["| sub-package | what it holds |", "|---|---|"]
    for layer in LAYERS:
        init = root / layer / "__init__.py"
        if not init.is_file():
            continue
        summary = _summary(ast.parse(init.read_text())).replace("|", "\\|")
        rows.append(f"| `{layer}` | {summary} |")
    return "\n".join(rows)


#: Where the generated maps go, relative to the repository: the Build appendix includes the
#: first; the README holds the second between these markers.
MAP_FILE = Path("book") / "package_map.md"
README_MARKERS = (
    "<!-- package map: written by python -m personality_utils layout --write -->",
    "<!-- end of package map -->",
)


def generated(repository: str | Path) -> dict[Path, str]:
    """The files the maps are written to, with what they should hold now."""
    repository = Path(repository)
    root = repository / "personality_utils"
    readme = (repository / "README.md").read_text()
    start, end = README_MARKERS
    if start not in readme or end not in readme:
        raise ValueError(f"{repository / 'README.md'} lacks the package map's markers")
    before, rest = readme.split(start, 1)
    _, after = rest.split(end, 1)
    return {
        repository / MAP_FILE: markdown_map(root) + "\n",
        repository / "README.md": f"{before}{start}\n{package_table(root)}\n{end}{after}",
    }
