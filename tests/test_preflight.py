"""Tests of personality_utils.book.preflight and of the real study's one command: every wrong or
missing argument of ``make book`` is one line before any work, and the Makefile passes the real
study's arguments to every step."""

from __future__ import annotations

import pickle
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from personality_utils.__main__ import main
from personality_utils.book import preflight
from personality_utils.core import vocabulary

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


def _root(tmp_path: Path, clips: bool = True) -> Path:
    root = tmp_path / "fi"
    root.mkdir()
    name = "abcdefghijk.001.mp4"
    labels = {trait: {name: 0.5} for trait in vocabulary.TRAITS}
    (root / "annotation_training.pkl").write_bytes(pickle.dumps(labels, protocol=2))
    if clips:
        (root / "train").mkdir()
        (root / "train" / name).write_bytes(b"\x00")
    return root


def _check(**arguments) -> list[str]:
    return preflight.check_run(notebooks=NOTEBOOKS, **arguments)


def test_the_paper_profile_needs_the_real_data_and_weights_for_its_models(tmp_path):
    with pytest.raises(ValueError, match="PROFILE=paper is the study on the real dataset"):
        _check(profile="paper")
    root = _root(tmp_path)
    with pytest.raises(ValueError, match=r"BACKBONE_WEIGHTS=/path/to/vgg_face_dag\.pth"):
        _check(profile="paper", data_root=root)
    # The two chapters that read no model need no weights (CI's real clips).
    lines = _check(profile="paper", data_root=root, only=["01_data", "02_faces"])
    assert any("labelled clips: train 1" in line for line in lines)
    weights = tmp_path / "vgg_face_dag.pth"
    torch.save({"conv1_1.weight": torch.zeros(1)}, weights)
    lines = _check(profile="paper", data_root=root, backbone_weights=weights)
    assert any(str(weights) in line for line in lines)
    # The CPU profiles pretrain their own backbone on the synthetic set.
    assert any("identity-pretrained" in line for line in _check(profile="default"))


def test_wrong_paths_are_named_with_the_problem(tmp_path):
    with pytest.raises(vocabulary.DataError, match=r"absent: DATA_ROOT is not a folder"):
        _check(profile="paper", data_root=tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(vocabulary.DataError, match="empty"):
        _check(profile="paper", data_root=empty, only=["01_data"])
    with pytest.raises(vocabulary.DataError, match=r"labels but no \.mp4 clip or \.zip archive"):
        _check(profile="paper", data_root=_root(tmp_path, clips=False), only=["01_data"])
    text = tmp_path / "weights.txt"
    text.write_text("not weights")
    with pytest.raises(vocabulary.DataError, match=r"weights\.txt: BACKBONE_WEIGHTS is not a Py"):
        _check(profile="default", backbone_weights=text)
    with pytest.raises(vocabulary.DataError, match="BACKBONE_WEIGHTS is not a file"):
        _check(profile="default", backbone_weights=tmp_path)
    with pytest.raises(vocabulary.DataError, match="OPENFACE_DIR holds no OpenFace CSV"):
        _check(profile="default", openface_dir=empty)
    with pytest.raises(ValueError, match="ONLY: no chapter 09_nothing"):
        _check(profile="default", only=["09_nothing", "01_data"])


def test_only_the_models_the_chosen_chapters_read_are_trained(capsys):
    assert not preflight.trains_models(["01_data", "02_faces"])
    assert preflight.trains_models(["01_data", "05_cam"]) and preflight.trains_models(None)
    assert main(["training-plan", "--profile", "smoke", "--only", "01_data", "02_faces"]) == 0
    assert capsys.readouterr().out == ""
    assert (
        main(["training-plan", "--profile", "smoke", "--only", "02_faces", "03_full_frames"]) == 0
    )
    printed = capsys.readouterr().out
    assert "danplus frames 0" in printed
    # The attribution chapter's controls are trained for it alone (models.variants.CHAPTER).
    assert "no_poster" not in printed and "random_init" not in printed
    assert main(["training-plan", "--profile", "smoke"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-2:] == ["cam_fig4 frames 0 no_poster", "cam_fig4 frames 0 random_init"]
    assert "danplus frames 0" in printed  # the chapters' own models: "kind source seed"
    assert main(["training-plan", "--profile", "smoke", "--only", "05b_attribution"]) == 0
    assert "cam_fig4 frames 0 no_poster" in capsys.readouterr().out


def test_check_run_is_one_error_line(tmp_path, capsys):
    assert main(["check-run", "--profile", "paper"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: PROFILE=paper")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_book_checks_first_and_passes_the_real_study_to_every_step(tmp_path):
    # make -n prints the recipes (and those of the sub-makes) without running them.
    command = [
        "make",
        "-n",
        "--no-print-directory",
        "book",
        "PROFILE=paper",
        f"DATA_ROOT={tmp_path / 'fi'}",
        f"BACKBONE_WEIGHTS={tmp_path / 'w.pth'}",
        f"OPENFACE_DIR={tmp_path / 'of'}",
        "ONLY=01_data 07_action_units",
    ]
    text = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
    data = f"--data-root {tmp_path / 'fi'}"
    check = text.index("personality_utils check-run --profile paper")
    assert check < text.index("personality_utils prepare --profile paper " + data)
    assert "personality_utils synth" not in text  # the real data: nothing synthetic made
    # The book prepares every clip even inside an array job (whose variables give a share).
    unset = (
        r"env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX \\\s+\S+ -m personality_utils prepare"
    )
    assert re.search(unset, text)
    plan = text[text.index("personality_utils training-plan") :]
    assert data in plan and "--only 01_data 07_action_units" in plan
    train = text[text.index("personality_utils train ") :]
    assert data in train and f"--backbone-weights {tmp_path / 'w.pth'}" in train
    chapters = text[text.index("personality_utils chapters") :]
    for argument in (data, f"--openface-dir {tmp_path / 'of'}", "--only 01_data 07_action"):
        assert argument in chapters
    assert "jupyter-book build" in text
    elsewhere = subprocess.run(
        [*command[:4], "BOOK_DIR=_elsewhere", *command[4:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "jupyter-book build" not in elsewhere and "HTML not built" in elsewhere


def test_openface_dir_reaches_the_action_unit_chapter_only(tmp_path):
    from personality_utils.book import chapters

    out = tmp_path / "book" / "o.ipynb"
    csvs = tmp_path / "openface"
    for stem, expected in (("07_action_units", True), ("05_cam", False)):
        command = chapters.papermill_command(
            NOTEBOOKS / f"{stem}.py", out, out, "paper", openface_dir=csvs
        )
        text = " ".join(command)
        # Relative to the chapter's working folder: no build path in the executed page.
        assert ("-p openface_dir ../openface" in text) is expected
        assert ("-p au_source openface" in text) is expected
