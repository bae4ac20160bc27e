""".ci/check_paths.py on a hand-made built book: it passes a clean tree and names the file, line
and kind of each build-machine path planted in a page or in a copied notebook."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from personality_utils.core.files import shown_path

ROOT = Path(__file__).resolve().parents[1]


def _checker():
    spec = importlib.util.spec_from_file_location("check_paths", ROOT / ".ci" / "check_paths.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _book(html: Path, parameters: str) -> None:
    (html / "book").mkdir(parents=True)
    (html / "_sources" / "book").mkdir(parents=True)
    page = "<p>see https://example.org/tmp/x and results/05_cam.json</p>\n<p>CAM</p>\n"
    (html / "book" / "05_cam.html").write_text(page)
    cell = {"cell_type": "code", "source": parameters, "outputs": [], "metadata": {}}
    (html / "_sources" / "book" / "05_cam.ipynb").write_text(json.dumps({"cells": [cell]}))


def test_check_paths_passes_clean_and_catches_planted(tmp_path):
    checker = _checker()
    repository = Path("/srv/build/repo")  # a build machine's checkout (need not exist)
    environ = {"HOME": "/home/builder", "PERSONALITY_UTILS_CACHE": "/scratch/pu-cache"}
    patterns = checker.forbidden(repository, environ)
    clean = tmp_path / "clean"
    _book(clean, 'backbone_weights = "../.cache/weights/w.pth"')
    assert checker.scan(clean, patterns) == []

    dirty = tmp_path / "dirty"
    _book(dirty, f'data_root = "{repository}/data"\n')
    page = dirty / "book" / "05_cam.html"
    page.write_text(
        page.read_text()
        + "<pre>saved /scratch/pu-cache/stores/x</pre>\n"
        + "<pre>/home/builder/w.pth</pre>\n<pre>/tmp/pytest-of-x/y</pre>\n"
    )
    found = checker.scan(dirty, patterns)
    assert len(found) == 4, found
    labels = " ".join(found)
    for label in ("repository", "cache", "home", "/tmp/"):
        assert label in labels
    assert any(line.startswith(f"{page}:3:") for line in found)
    assert any("05_cam.ipynb:1:" in line for line in found)
    # A longer name that merely starts like a forbidden folder is not one.
    (dirty / "book" / "05_cam.html").write_text("<pre>/home/builder/w.pth</pre>\n")
    (dirty / "_sources" / "book" / "05_cam.ipynb").unlink()
    assert checker.scan(dirty, checker.forbidden("/home/build", {})) == []
    assert checker.main([str(dirty), "/home/builder"]) == 1


def test_shown_path_names_no_absolute_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PERSONALITY_UTILS_CACHE", str(tmp_path / "cache"))
    shown = shown_path(tmp_path / "results" / "05_cam.json")
    assert shown == os.path.join("results", "05_cam.json")
    cached = shown_path(tmp_path / "cache" / "stores" / "x")
    assert cached == os.path.join("$PERSONALITY_UTILS_CACHE", "stores", "x")
    assert not os.path.isabs(shown_path("/elsewhere/w.pth"))
