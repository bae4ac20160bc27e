"""Content stamps of the book's build: whether a training or a chapter must run again.

A stamp is a hash of what a step reads, never of file times:

- its code: the package modules it imports, followed through every import of the package's own
  modules (:func:`package_digest`), compared as syntax trees without docstrings, so that a
  comment or a docstring edited in the package re-runs nothing, while any change of code does;
- for a chapter, its notebook's code cells and, apart, its prose (:func:`chapter_stamp`): a
  prose-only edit refreshes the executed page's text and keeps its outputs
  (:func:`refresh_prose`); a code edit re-runs it and every chapter that reads its results;
- its inputs: the profile's settings, the data's store metadata, the starting weights and the
  models it reads (:func:`inputs_digest`).

``make book`` uses them through the ``chapters`` and ``training-plan`` commands; ``FORCE=1``
ignores them. Stamps live beside what they describe (``<book>/.stamps/<chapter>.json``,
``<checkpoint folder>/stamp.json``) and are written atomically after a step succeeds.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from personality_utils.book import layout
from personality_utils.core import files
from personality_utils.models import provenance

__all__ = [
    "PACKAGE_ROOT",
    "Stamp",
    "chapter_stamp",
    "code_digest",
    "digest",
    "file_digest",
    "imported_modules",
    "module_closure",
    "package_digest",
    "read_stamp",
    "refresh_prose",
    "stamp_path",
    "write_stamp",
]

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
_PACKAGE = "personality_utils"
_INJECTED = "injected-parameters"  # papermill's tag on the cell it adds


def digest(*parts: object) -> str:
    """SHA-256 of ``parts`` (each turned to text, kept apart by a separator)."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part if isinstance(part, bytes) else str(part).encode())
        hasher.update(b"\0")
    return hasher.hexdigest()


def file_digest(path: str | os.PathLike | None) -> str:
    """SHA-256 of a file's bytes; ``"absent"`` when there is no such file, ``"none"`` for None.
    A file is read once per state in a process (a build asks for a VGG-Face weight file, some
    500 MB, for every training and chapter); the memo's key is its path, inode, size and time,
    the digest is of its bytes."""
    if path is None:
        return "none"
    path = Path(path).resolve()
    if not path.is_file():
        return "absent"
    info = path.stat()
    return _file_digest(str(path), info.st_ino, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _file_digest(path: str, inode: int, size: int, mtime: int) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def code_digest(path: str | os.PathLike) -> str:
    """The hash of a Python file's code: its syntax tree without docstrings (comments are not
    in the tree), so that prose edits leave it unchanged."""
    return _code_digest(Path(path).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=512)
def _code_digest(text: str) -> str:
    return digest(ast.dump(_without_docstrings(ast.parse(text)), include_attributes=False))


def _known(root: Path) -> dict[str, layout.Module]:
    # Parsed once per state of the package's files in a process (a build asks for every
    # chapter); the key is only a memo, the stamps hash the files' contents.
    paths = sorted(Path(root).rglob("*.py"))
    key = tuple((str(path), path.stat().st_mtime_ns, path.stat().st_size) for path in paths)
    return _parsed(str(root), key)


@functools.lru_cache(maxsize=8)
def _parsed(root: str, key: tuple) -> dict[str, layout.Module]:
    return {module.name.removesuffix(".__init__"): module for module in layout.modules(root)}


def module_closure(entries: Iterable[str], root: str | os.PathLike = PACKAGE_ROOT) -> list[str]:
    """The package's modules that importing ``entries`` (dotted names below the package:
    ``"cam.maps"``) runs: each entry, everything it imports from the package, followed
    through, and the ``__init__`` of every sub-package on the way."""
    known = _known(Path(root))
    seen: set[str] = set()
    stack = list(entries)
    while stack:
        name = stack.pop()
        parts = name.split(".")
        parents = [".".join(parts[:index]) for index in range(1, len(parts))]
        for candidate in [name, *parents]:
            if candidate in known and candidate not in seen:
                seen.add(candidate)
                stack.extend(known[candidate].imports)
    return sorted(seen)


def package_digest(entries: Iterable[str], root: str | os.PathLike = PACKAGE_ROOT) -> str:
    """The hash of the code of :func:`module_closure` of ``entries``."""
    known = _known(Path(root))
    return digest(
        *(f"{name}:{code_digest(known[name].path)}" for name in module_closure(entries, root))
    )


def imported_modules(source: str | os.PathLike, root: str | os.PathLike = PACKAGE_ROOT) -> set[str]:
    """The package's modules a script (a chapter's ``.py``) imports, as dotted names below the
    package."""
    known = set(_known(Path(root)))
    out: set[str] = set()
    for node in ast.walk(ast.parse(Path(source).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == _PACKAGE or node.module.startswith(_PACKAGE + "."):
                base = node.module[len(_PACKAGE) + 1 :]
                for alias in node.names:
                    dotted = f"{base}.{alias.name}" if base else alias.name
                    out.add(dotted if dotted in known else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(_PACKAGE + "."):
                    out.add(alias.name[len(_PACKAGE) + 1 :])
    return {name for name in out if name}


@dataclass(frozen=True)
class Stamp:
    """What a step's last successful run read: ``code`` decides whether it runs again;
    ``prose`` (chapters only) whether its page's text must be refreshed."""

    code: str
    prose: str = ""
    #: What went into ``code``, by part, so that a reader can see what changed.
    parts: tuple[tuple[str, str], ...] = ()
    #: What the step printed (a training's scores), shown again when it is skipped.
    report: str = ""


def _notebook(source: str | os.PathLike):
    import jupytext  # the notebooks' format; only the chapter steps need it

    return jupytext.read(source)


def chapter_stamp(
    source: str | os.PathLike,
    parameters: Mapping[str, object],
    upstream: Mapping[str, str],
    inputs: str,
    root: str | os.PathLike = PACKAGE_ROOT,
) -> Stamp:
    """The stamp of one chapter: its code cells, its papermill ``parameters``, the code of the
    package modules it imports (followed through), the code stamps of the chapters it reads
    (``upstream``) and ``inputs`` (:func:`inputs_digest`); its prose apart."""
    notebook = _notebook(source)
    code = "\n\0".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    prose = "\n\0".join(cell.source for cell in notebook.cells if cell.cell_type != "code")
    parts = (
        ("cells", digest(code)),
        ("parameters", digest(json.dumps(dict(parameters), sort_keys=True, default=str))),
        ("package", package_digest(imported_modules(source, root), root)),
        ("chapters read", digest(*(f"{k}:{v}" for k, v in sorted(upstream.items())))),
        ("inputs", inputs),
    )
    return Stamp(code=digest(*(f"{k}={v}" for k, v in parts)), prose=digest(prose), parts=parts)


def stamp_path(folder: str | os.PathLike, name: str) -> Path:
    """Where the stamp of ``name`` (a chapter) is kept in a book folder."""
    return Path(folder) / ".stamps" / f"{name}.json"


def read_stamp(path: str | os.PathLike) -> Stamp | None:
    """The stamp saved at ``path``; None when there is none or it cannot be read (the step then
    runs)."""
    try:
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
        return Stamp(
            code=str(saved["code"]),
            prose=str(saved.get("prose", "")),
            parts=tuple((str(k), str(v)) for k, v in saved.get("parts", ())),
            report=str(saved.get("report", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_stamp(path: str | os.PathLike, stamp: Stamp) -> None:
    """Save a stamp atomically."""
    text = json.dumps(asdict(stamp), indent=1)
    files.write_atomic(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def changed_parts(old: Stamp | None, new: Stamp) -> list[str]:
    """The names of the parts whose hash differs (all of them when there is no old stamp)."""
    if old is None:
        return ["no stamp"]
    before = dict(old.parts)
    return [name for name, value in new.parts if before.get(name) != value]


def refresh_prose(source: str | os.PathLike, executed: str | os.PathLike) -> bool:
    """Give an executed chapter the text of its edited source, keeping every output.

    The source's cells are taken in order; each code cell takes the executed notebook's next
    code cell (outputs, execution count, papermill's metadata, and the parameters papermill
    injected after it). Returns False, writing nothing, when the code cells differ (the
    chapter must run again) or the executed notebook cannot be read.
    """
    import nbformat  # only the chapter steps need it

    try:
        old = nbformat.read(str(executed), as_version=4)
    except (OSError, ValueError):
        return False
    new = _notebook(source)
    old_code = [
        (index, cell)
        for index, cell in enumerate(old.cells)
        if cell.cell_type == "code" and _INJECTED not in cell.get("metadata", {}).get("tags", [])
    ]
    new_code = [cell for cell in new.cells if cell.cell_type == "code"]
    if [cell.source for cell in new_code] != [cell.source for _, cell in old_code]:
        return False
    cells, taken = [], 0
    for cell in new.cells:
        if cell.cell_type != "code":
            cell.setdefault("metadata", {})
            cells.append(cell)
            continue
        index, kept = old_code[taken]
        taken += 1
        cells.append(kept)
        following = old.cells[index + 1] if index + 1 < len(old.cells) else None
        if following is not None and _INJECTED in following.get("metadata", {}).get("tags", []):
            cells.append(following)
    old.cells = cells
    nbformat.validator.normalize(old)
    files.write_atomic(executed, lambda temporary: nbformat.write(old, temporary))
    return True


# ----------------------------------------------------------------------------------------------
# What the trainings and the chapters read
# ----------------------------------------------------------------------------------------------

#: The modules a training runs (``python -m personality_utils train``), followed through.
_TRAINING = "stamp.json"  # a training's stamp, in its checkpoint folder
TRAINING_CODE: tuple[str, ...] = (
    "models.experiments",
    "models.training",
    "models.distributed",
    "data.datasets",
)


def store_digest(store_dir: str | os.PathLike) -> str:
    """The hash of a dataset's stores as the steps read them: each split's store description
    and frame and face tables (the arrays follow from them and the code)."""
    root = Path(store_dir)
    if not root.is_dir():
        return "absent"
    names = ("store.json", "meta.csv", "faces_meta.csv")
    splits = sorted(path.name for path in root.iterdir() if (path / "store.json").is_file())
    return digest(*(f"{s}/{n}:{file_digest(root / s / n)}" for s in splits for n in names))


def training_stamp(
    profile, kind: str, source: str, seed: int, store_dir, weights, variant: str | None = None
) -> Stamp:
    """The stamp of one training: its code, the profile's settings, which model, the stores and
    the starting weights' bytes (those of the chapters' own model: they decide the network of
    a ``random_init`` control too); a control training (``variant``, :mod:`~personality_utils.
    models.variants`) adds its name, the chapters' own model (None) stamps as it always did."""
    parts = (
        ("code", package_digest(TRAINING_CODE)),
        ("profile", digest(repr(profile))),
        ("model", f"{kind} {source} seed {seed}"),
        ("data", store_digest(store_dir)),
        ("starting weights", file_digest(weights)),
    )
    if variant is not None:
        parts += (("variant", variant),)
    return Stamp(code=digest(*(f"{k}={v}" for k, v in parts)), parts=parts)


def start_training(folder: str | os.PathLike, stamp: Stamp, fresh: bool = False) -> str | None:
    """Ready a checkpoint folder for a training with ``stamp`` and save the stamp (a training
    stopped half-way resumes with the same code and data). What the folder holds is deleted
    when it was trained with other code, data or weights (or with ``fresh``); returns why, or
    None when it is kept."""
    folder = Path(folder)
    saved = read_stamp(folder / _TRAINING)
    other = (folder / "checkpoint.pt").is_file() and (saved is None or saved.code != stamp.code)
    why = "--fresh" if fresh else ", ".join(changed_parts(saved, stamp)) if other else None
    if why and folder.is_dir():
        shutil.rmtree(folder)
    write_stamp(folder / _TRAINING, stamp)
    return why


def finish_training(folder: str | os.PathLike, stamp: Stamp, report: str) -> None:
    """Save the stamp of a finished training with the scores it printed."""
    write_stamp(Path(folder) / _TRAINING, replace(stamp, report=report))


def finished_training(folder: str | os.PathLike, stamp: Stamp) -> str | None:
    """The scores a finished training with ``stamp`` printed; None when the folder holds no
    finished model with that stamp (it must train), or no provenance record (``train`` then
    reloads the finished model, scores it and writes the record that ``predict`` shows)."""
    saved = read_stamp(Path(folder) / _TRAINING)
    if saved is None or not saved.report or saved.code != stamp.code:
        return None
    if not (Path(folder) / provenance.PROVENANCE).is_file():
        return None
    return saved.report if (Path(folder) / "checkpoint.pt").is_file() else None


def inputs_digest(profile, store_dir, checkpoints: Iterable, weights: Iterable) -> str:
    """What every chapter reads besides code: the profile's settings, the stores, the
    checkpoints of the models trained before them and the starting weights (files that are
    not there count as absent)."""
    return digest(
        repr(profile),
        store_digest(store_dir),
        *(
            f"{Path(folder).name}:{file_digest(Path(folder) / 'checkpoint.pt')}"
            for folder in checkpoints
        ),
        *(file_digest(path) for path in weights),
    )
