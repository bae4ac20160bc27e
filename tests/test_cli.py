"""Tests of ``python -m personality_utils``."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

from personality_utils import data


def test_prepare_reports_skipped_clips_and_continues(tmp_path, smoke_dataset):
    root = tmp_path / "fi"
    (root / "train").mkdir(parents=True)
    labels = data.load_split_labels(smoke_dataset.root)["train"].head(2)
    clips = data.find_clips(smoke_dataset.root)
    for name in labels.index:
        (root / "train" / name).symlink_to(clips[name])
    (root / "train" / "brokenbroke.001.mp4").write_bytes(b"not a video")
    content = {
        trait: {**labels[trait].to_dict(), "brokenbroke.001.mp4": 0.5} for trait in data.TRAITS
    }
    (root / "annotation_training.pkl").write_bytes(pickle.dumps(content, protocol=2))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "personality_utils",
            "prepare",
            "--data-root",
            str(root),
            "--out",
            str(tmp_path / "stores"),
            "--profile",
            "smoke",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "train: 2 clips" in result.stdout and "faces" in result.stdout
    assert "skipped brokenbroke.001.mp4" in result.stderr


def test_prepare_without_data_root_fills_the_notebooks_stores(smoke_dataset, capsys):
    """No --data-root: the synthetic set of the profile, in the very stores the notebooks and
    ``train`` read (the Makefile prepares them before training in parallel lanes)."""
    from personality_utils.__main__ import main

    cache = str(smoke_dataset.store_dir.parents[1])
    assert main(["prepare", "--profile", "smoke", "--workers", "1", "--cache-dir", cache]) == 0
    printed = capsys.readouterr().out
    assert f"-> {smoke_dataset.store_dir / 'train'}" in printed
    assert main(["prepare", "--profile", "smoke", "--out", cache]) == 2
    assert "--out needs --data-root" in capsys.readouterr().err


def test_bad_data_root_is_an_error_not_a_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "personality_utils",
            "prepare",
            "--data-root",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "stores"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "nope" in result.stderr and "Traceback" not in result.stderr


def test_train_command_on_smoke(smoke_dataset):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "personality_utils",
            "train",
            "--profile",
            "smoke",
            "--source",
            "faces",
            "--kind",
            "danplus",
            "--device",
            "cpu",
            "--cache-dir",
            str(smoke_dataset.store_dir.parents[1]),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test: MA 0." in result.stdout and "constant 0." in result.stdout


def test_evaluate_writes_metrics_and_challenge_csv(tmp_path, smoke_dataset, capsys):
    from personality_utils.__main__ import main

    options = ["--profile", "smoke", "--source", "frames", "--device", "cpu"]
    options += ["--cache-dir", str(smoke_dataset.store_dir.parents[1])]
    model = tmp_path / "model"
    assert main(["train", *options, "--batch-size", "20", "--out", str(model)]) == 0
    metrics = model / "metrics.json"
    assert main(["evaluate", *options, "--checkpoint", str(model), "--out", str(metrics)]) == 0
    printed = capsys.readouterr().out
    assert "validation: MA 0." in printed and "R² " in printed and "constant 0." in printed
    record = json.loads(metrics.read_text())
    test = record["splits"]["test"]
    low, high = test["mean_accuracy_interval"]
    assert low <= test["mean_accuracy"] <= high
    assert set(test) >= {"constant_baseline_accuracy", "r2", "clips"}
    assert test["config"]["batch_size"] == 20
    for split in ("validation", "test"):
        table = data.load_challenge_csv(model / f"predictions_{split}.csv")
        assert len(table) == test["clips"] == 6
    unfinished = main(["evaluate", *options, "--checkpoint", str(tmp_path / "none")])
    assert unfinished == 2 and "no checkpoint" in capsys.readouterr().err


def test_chapters_command_names_an_unknown_chapter_and_reports_a_failing_one(tmp_path, capsys):
    from personality_utils.__main__ import main

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "01_fails.py").write_text(
        '# %% tags=["parameters"]\nprofile = "default"\n\n# %%\nraise RuntimeError("planted")\n'
    )
    assert main(["chapters", "--notebooks", str(notebooks), "--only", "99_none"]) == 2
    assert "no chapter ['99_none']" in capsys.readouterr().err
    book = tmp_path / "book"
    assert main(["chapters", "--notebooks", str(notebooks), "--book-dir", str(book)]) == 1
    captured = capsys.readouterr()
    assert "== 01_fails (default)" in captured.out and "FAILED" in captured.out
    assert "planted" in captured.err and "chapters failed: 01_fails" in captured.err
