"""Tests of personality_utils.book.session: a chapter's first and last call."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from personality_utils.book import chapters, session
from personality_utils.core import stats
from personality_utils.core.vocabulary import DataError
from personality_utils.data import stores


def test_a_chapter_starts_and_finishes(smoke_dataset, cache_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PERSONALITY_UTILS_CACHE", str(cache_dir))
    monkeypatch.setenv("PERSONALITY_UTILS_RESULTS", str(tmp_path / "results"))
    chapter = session.start("03_full_frames", "smoke", seed=0)
    printed = capsys.readouterr().out
    assert smoke_dataset.description in printed and "device: cpu" in printed
    assert chapter.number == "03" and chapter.settings.name == "smoke"
    assert chapter.dataset.root == smoke_dataset.root
    assert chapter.compare_with_authors().shape[0] > 0
    assert chapter.output("x.csv") == tmp_path / "results" / "03_full_frames_x.csv"

    measurements = {
        "accuracy": stats.estimate(0.9, 0.89, 0.91),
        "constant": 0.88,
        "gain_over_constant": stats.estimate(0.02, 0.01, 0.03),
    }
    rows = chapter.finish(measurements, {"mean_accuracy": 0.9})
    printed = capsys.readouterr().out
    assert rows and all(f"[{row['verdict']}] {row['claim']}" in printed for row in rows)
    saved = json.loads((tmp_path / "results" / "03_full_frames.json").read_text())
    assert saved["claims"] == rows
    # saved as the chapter's typed record: every field, None where the chapter measured nothing
    assert {k: v for k, v in saved["measurements"].items() if v is not None} == measurements
    assert saved["measurements_omitted"] == ["identity_disjoint_clips", "identity_disjoint_gain"]
    assert saved["mean_accuracy"] == 0.9 and saved["synthetic"] is True
    assert saved["profile"] == "smoke" and saved["data"] == smoke_dataset.description

    session.start("01_data", "smoke", models=False)
    assert "device" not in capsys.readouterr().out


def _store(frames: int, missing: int = 0):
    meta = pd.DataFrame({"clip": [f"c{i}" for i in range(frames)]})
    skipped = {f"m{i}": stores.NO_VIDEO for i in range(missing)}
    return stores.FrameStore(np.zeros((frames, 2, 2, 3), np.uint8), meta, skipped, Path("s"))


def test_chapters_name_the_splits_they_cannot_do_without():
    partial = {"train": _store(4, 5996), "validation": _store(0, 2000)}
    assert chapters.missing_splits("07_action_units", partial) == [
        "validation (2000 labelled clips, no video)",
        "test (no labels under data_root)",
    ]
    assert chapters.missing_splits("03_full_frames", partial) == [
        "test (no labels under data_root)"
    ]
    assert chapters.missing_splits("05_cam", partial) == ["test (no labels under data_root)"]
    assert chapters.missing_splits("01_data", partial) == []
    assert chapters.missing_splits("08_summary", partial) == []
    whole = {**partial, "validation": _store(3), "test": _store(2)}
    assert chapters.cannot_run(list(chapters.CHAPTERS), whole) == {}
    assert chapters.cannot_run(["01_data", "05_cam", "07_action_units"], partial) == {
        "05_cam": "needs clips of test (no labels under data_root)",
        "07_action_units": "needs clips of validation (2000 labelled clips, no video), "
        "test (no labels under data_root)",
    }
    # the registry is the one list: every chapter of the book is in it, and nothing else
    assert [source.stem for source in chapters.chapter_sources()] == list(chapters.CHAPTERS)


def test_the_runner_does_not_start_a_chapter_that_cannot_run(tmp_path):
    """Every chapter reported in one line each, none started (so no kernel, no papermill)."""
    sources = chapters.chapter_sources()
    reasons = {source.stem: f"needs clips of test ({source.stem})" for source in sources}
    said = []
    runs = chapters.run_chapters(
        sources, tmp_path, "smoke", unrunnable=reasons, on_skip=lambda *a: said.append(a)
    )
    assert runs == {} and said == list(reasons.items())
    assert not list(tmp_path.iterdir())


def test_a_chapter_that_cannot_run_raises_in_a_live_kernel_too(smoke_dataset, monkeypatch):
    """No input transformer: session.start raises a plain DataError naming what is missing."""
    monkeypatch.setattr(
        session.datasets.Dataset, "stores", lambda self: {"train": _store(2)}, raising=True
    )
    with pytest.raises(DataError, match="chapter 05_cam needs clips of test"):
        session.start("05_cam", "smoke")
    assert "input_transformers" not in Path(session.__file__).read_text()
