"""The build's content stamps (personality_utils.book.stamps) and the chapter runner's use of
them: a code change re-runs a chapter and the chapters that read it, a prose change refreshes
the page without running anything, nothing changed runs nothing."""

from __future__ import annotations

import textwrap
from pathlib import Path

import jupytext
import nbformat
import pytest

from personality_utils.book import chapters, stamps

CHAPTER = textwrap.dedent(
    """\
    # %% [markdown]
    # # {title}
    #
    # {prose}

    # %% tags=["parameters"]
    profile = "smoke"

    # %%
    from personality_utils.core import vocabulary

    value = {value}
    print(len(vocabulary.TRAITS) + value)
    """
)


def _chapter(folder: Path, stem: str, prose: str = "Some prose.", value: int = 1) -> Path:
    path = folder / f"{stem}.py"
    path.write_text(CHAPTER.format(title=stem, prose=prose, value=value), encoding="utf-8")
    return path


def _package(root: Path, modules: dict[str, str]) -> Path:
    for name, text in modules.items():
        path = root / "personality_utils" / Path(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    for folder in (root / "personality_utils").rglob("*"):
        if folder.is_dir() and not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text("")
    (root / "personality_utils" / "__init__.py").touch()
    return root / "personality_utils"


def test_code_digest_ignores_docstrings_and_comments_only(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""A module."""\n\ndef f():\n    """Doc."""\n    return 1  # one\n')
    before = stamps.code_digest(path)
    path.write_text('"""Reworded."""\n\n\ndef f():\n    """Other."""\n    # why\n    return 1\n')
    assert stamps.code_digest(path) == before
    path.write_text('"""Reworded."""\n\n\ndef f():\n    return 2\n')
    assert stamps.code_digest(path) != before


def test_package_digest_follows_imports_and_nothing_else(tmp_path):
    root = _package(
        tmp_path,
        {
            "core.a": "X = 1\n",
            "core.b": "from personality_utils.core import a\nY = a.X\n",
            "cam.c": "from personality_utils.core.b import Y\nZ = Y\n",
            "units.d": "W = 3\n",
        },
    )
    assert stamps.module_closure(["cam.c"], root) == ["cam", "cam.c", "core", "core.a", "core.b"]
    before = stamps.package_digest(["cam.c"], root)
    (root / "units" / "d.py").write_text("W = 4\n")  # not imported by cam.c
    assert stamps.package_digest(["cam.c"], root) == before
    (root / "core" / "a.py").write_text("X = 2\n")  # imported through core.b
    assert stamps.package_digest(["cam.c"], root) != before


def test_chapter_stamp_keeps_code_and_prose_apart(tmp_path):
    source = _chapter(tmp_path, "05_cam")
    first = stamps.chapter_stamp(source, {"profile": "smoke"}, {}, "inputs")
    _chapter(tmp_path, "05_cam", prose="Other prose.")
    prose = stamps.chapter_stamp(source, {"profile": "smoke"}, {}, "inputs")
    assert prose.code == first.code and prose.prose != first.prose
    _chapter(tmp_path, "05_cam", value=2)
    assert stamps.chapter_stamp(source, {"profile": "smoke"}, {}, "inputs").code != first.code
    for changed in (
        ({"profile": "default"}, {}, "inputs"),
        ({"profile": "smoke"}, {"04_faces_model": "x"}, "inputs"),
        ({"profile": "smoke"}, {}, "other inputs"),
    ):
        _chapter(tmp_path, "05_cam")
        assert stamps.chapter_stamp(source, *changed).code != first.code


def _executed(source: Path, output: Path) -> None:
    """What papermill leaves: the chapter's cells, an injected parameters cell after the
    parameters cell, and outputs."""
    notebook = jupytext.read(source)
    cells = []
    for cell in notebook.cells:
        cells.append(cell)
        if "parameters" in cell.metadata.get("tags", []):
            injected = nbformat.v4.new_code_cell('profile = "smoke"')
            injected.metadata["tags"] = ["injected-parameters"]
            cells.append(injected)
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    notebook.cells = cells
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(output))


def test_refresh_prose_keeps_outputs_and_refuses_a_code_change(tmp_path):
    source = _chapter(tmp_path, "05_cam")
    executed = tmp_path / "05_cam.ipynb"
    _executed(source, executed)
    _chapter(tmp_path, "05_cam", prose="Better prose.")
    assert stamps.refresh_prose(source, executed)
    notebook = nbformat.read(str(executed), as_version=4)
    nbformat.validate(notebook)
    assert "Better prose." in notebook.cells[0].source
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code) == 3 and all(cell.outputs for cell in code)
    assert "injected-parameters" in code[1].metadata["tags"]
    _chapter(tmp_path, "05_cam", prose="Again.", value=5)
    assert not stamps.refresh_prose(source, executed)
    assert "Better prose." in nbformat.read(str(executed), as_version=4).cells[0].source


@pytest.fixture
def fake_runs(monkeypatch):
    """The runner with papermill replaced by a copy that records which chapters ran."""
    ran: list[str] = []

    def run_chapter(source, out_dir, *_args, **_kwargs):
        ran.append(source.stem)
        output = out_dir / f"{source.stem}.ipynb"
        _executed(source, output)
        (out_dir / "results").mkdir(exist_ok=True)
        (out_dir / "results" / f"{source.stem}.json").write_text("{}")
        return chapters.ChapterRun(source.stem, output, 0, "", 0.0)

    monkeypatch.setattr(chapters, "run_chapter", run_chapter)
    monkeypatch.setattr(chapters, "inputs_digest", lambda *args, **kwargs: "the inputs")
    return ran


def test_runner_reruns_what_changed_and_what_reads_it(tmp_path, fake_runs):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for stem in ("01_data", "06_units", "07_action_units"):
        _chapter(folder, stem)
    book = tmp_path / "book"

    def build(**kwargs) -> list[str]:
        fake_runs.clear()
        seen: dict[str, str] = {}
        chapters.run_chapters(
            chapters.chapter_sources(folder),
            book,
            "smoke",
            lanes=1,
            force=kwargs.get("force", False),
            on_current=lambda stem, done: seen.__setitem__(stem, done),
        )
        return sorted(fake_runs), seen

    assert build()[0] == ["01_data", "06_units", "07_action_units"]
    assert build() == ([], dict.fromkeys(["01_data", "06_units", "07_action_units"], "up to date"))
    _chapter(folder, "06_units", prose="Edited prose.")
    ran, seen = build()
    assert ran == [] and seen["06_units"] == "text refreshed, outputs kept"
    assert "Edited prose." in (book / "06_units.ipynb").read_text()
    _chapter(folder, "06_units", prose="Edited prose.", value=3)
    assert build()[0] == ["06_units", "07_action_units"]  # 07 reads 06
    _chapter(folder, "07_action_units", value=3)
    assert build()[0] == ["07_action_units"]
    (book / "01_data.ipynb").unlink()
    assert build()[0] == ["01_data"]
    (book / "results" / "06_units.json").unlink()
    assert build()[0] == ["06_units"]  # its results are gone; what 07 reads is the same code
    assert build(force=True)[0] == ["01_data", "06_units", "07_action_units"]


def test_a_failed_chapter_is_not_stamped_nor_what_reads_it(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for stem in ("06_units", "07_action_units"):
        _chapter(folder, stem)
    ran: list[str] = []

    def run_chapter(source, out_dir, *_args, **_kwargs):
        ran.append(source.stem)
        output = out_dir / f"{source.stem}.ipynb"
        _executed(source, output)
        return chapters.ChapterRun(source.stem, output, int(source.stem == "06_units"), "", 0.0)

    monkeypatch.setattr(chapters, "run_chapter", run_chapter)
    monkeypatch.setattr(chapters, "inputs_digest", lambda *args, **kwargs: "the inputs")
    sources = chapters.chapter_sources(folder)
    chapters.run_chapters(sources, tmp_path / "book", "smoke", lanes=1, force=False)
    assert not stamps.stamp_path(tmp_path / "book", "06_units").exists()
    assert not stamps.stamp_path(tmp_path / "book", "07_action_units").exists()
    ran.clear()
    chapters.run_chapters(sources, tmp_path / "book", "smoke", lanes=1, force=False)
    assert ran == ["06_units", "07_action_units"]


def test_a_training_resumes_with_its_stamp_and_starts_over_with_another(tmp_path):
    folder = tmp_path / "model"
    first = stamps.Stamp(code="a", parts=(("code", "1"), ("data", "1")))
    assert stamps.start_training(folder, first) is None
    (folder / "checkpoint.pt").write_bytes(b"half-way")
    assert stamps.finished_training(folder, first) is None  # started, not finished
    assert stamps.start_training(folder, first) is None  # resumes: kept
    assert (folder / "checkpoint.pt").exists()
    stamps.finish_training(folder, first, "test: MA 0.9")
    # Finished, but without the provenance record predict shows: train must write it (it
    # reloads the finished model, scores it and writes the record; nothing retrains).
    assert stamps.finished_training(folder, first) is None
    (folder / "provenance.json").write_text("{}")
    assert stamps.finished_training(folder, first) == "test: MA 0.9"
    other = stamps.Stamp(code="b", parts=(("code", "2"), ("data", "1")))
    assert stamps.finished_training(folder, other) is None
    assert stamps.start_training(folder, other) == "code"
    assert not (folder / "checkpoint.pt").exists()
    (folder / "checkpoint.pt").write_bytes(b"new")
    assert stamps.start_training(folder, other, fresh=True) == "--fresh"
    assert not (folder / "checkpoint.pt").exists()


def test_retrained_models_rerun_the_chapters_that_read_them_only(tmp_path, fake_runs, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for stem in ("01_data", "03_full_frames"):
        _chapter(folder, stem)
    state = {"models": "first training"}

    def digest(profile, data_root=None, backbone_weights=None, cache_dir=None, models=True):
        return f"data; {state['models']}" if models else "data"

    monkeypatch.setattr(chapters, "inputs_digest", digest)
    sources = chapters.chapter_sources(folder)
    chapters.run_chapters(sources, tmp_path / "book", "smoke", lanes=1, force=False)
    assert sorted(fake_runs) == ["01_data", "03_full_frames"]
    fake_runs.clear()
    state["models"] = "retrained"
    chapters.run_chapters(sources, tmp_path / "book", "smoke", lanes=1, force=False)
    assert fake_runs == ["03_full_frames"]
