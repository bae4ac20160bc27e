"""Tests of ``python -m personality_utils``."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

from personality_utils.core import vocabulary
from personality_utils.data import release


def test_prepare_reports_skipped_clips_and_continues(tmp_path, smoke_dataset):
    root = tmp_path / "fi"
    (root / "train").mkdir(parents=True)
    labels = release.load_split_labels(smoke_dataset.root)["train"].head(2)
    clips = release.find_clips(smoke_dataset.root)
    for name in labels.index:
        (root / "train" / name).symlink_to(clips[name])
    (root / "train" / "brokenbroke.001.mp4").write_bytes(b"not a video")
    content = {
        trait: {**labels[trait].to_dict(), "brokenbroke.001.mp4": 0.5}
        for trait in vocabulary.TRAITS
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
        table = release.load_challenge_csv(model / f"predictions_{split}.csv")
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


class _Ran:
    """Pickles to a call of print: loading it unsafely would print "ran"."""

    def __reduce__(self):
        return (print, ("ran",))


def _refusal(captured, *names) -> str:
    """The one error line of a refused input: names the file, no traceback, no advice to
    switch a safety check off."""
    err = getattr(captured, "err", None) or getattr(captured, "stderr", "")
    out = getattr(captured, "out", None) or getattr(captured, "stdout", "")
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in err and "weights_only" not in err
    assert "ran" not in out.split()
    for name in names:
        assert name in errors[0], errors[0]
    return errors[0]


def test_crafted_annotation_pickle_exits_2_with_one_line(tmp_path):
    root = tmp_path / "fi"
    root.mkdir()
    (root / "annotation_training.pkl").write_bytes(pickle.dumps({"openness": _Ran()}, 2))
    result = subprocess.run(
        [sys.executable, "-m", "personality_utils", "prepare", "--data-root", str(root)]
        + ["--out", str(tmp_path / "stores"), "--workers", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    line = _refusal(result, str(root / "annotation_training.pkl"), "global __builtin__.print")
    assert "use the official one" in line


def test_unsafe_zip_and_malformed_csv_exit_2_with_one_line(tmp_path, shared_data, capsys):
    import io
    import zipfile

    from personality_utils.__main__ import main

    root = tmp_path / "fi"
    root.mkdir()
    (root / "annotation_training.pkl").symlink_to(
        shared_data / "firstimpressions" / "annotation_training.pkl"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.mp4", b"x")
    (root / "training80_01.zip").write_bytes(buffer.getvalue())
    options = ["--out", str(tmp_path / "stores"), "--workers", "1", "--profile", "smoke"]
    assert main(["prepare", "--data-root", str(root), *options]) == 2
    assert "use the official archive" in _refusal(capsys.readouterr(), "training80_01.zip")
    (root / "training80_01.zip").unlink()
    (root / "annotation_training.pkl").unlink()
    header = "VideoName,ValueExtraversion,ValueAgreeableness,ValueConscientiousness,"
    (root / "training_gt.csv").write_text(
        f"{header}ValueNeurotisicm,ValueOpenness\nabcdefghijk.001.mp4,.1,.2,.3,.4,.5,.6\n"
    )
    assert main(["prepare", "--data-root", str(root), *options]) == 2
    _refusal(capsys.readouterr(), "training_gt.csv", "line 2 has 7 fields, the header has 6")


def test_crafted_checkpoint_exits_2_with_one_line(tmp_path, smoke_dataset, capsys):
    import torch

    from personality_utils.__main__ import main

    folder = tmp_path / "model"
    folder.mkdir()
    torch.save({"config": {}, "model": _Ran()}, folder / "checkpoint.pt")
    options = ["--profile", "smoke", "--device", "cpu"]
    options += ["--cache-dir", str(smoke_dataset.store_dir.parents[1])]
    assert main(["evaluate", *options, "--checkpoint", str(folder)]) == 2
    line = _refusal(capsys.readouterr(), str(folder / "checkpoint.pt"), "the global print")
    assert "refused" in line and "written by this package" in line
    # A file torch reads safely but that is no checkpoint of train, and a truncated one.
    torch.save({"weights": torch.zeros(2)}, folder / "checkpoint.pt")
    assert main(["evaluate", *options, "--checkpoint", str(folder)]) == 2
    _refusal(capsys.readouterr(), "not a checkpoint of this package")
    (folder / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    assert main(["evaluate", *options, "--checkpoint", str(folder)]) == 2
    _refusal(capsys.readouterr(), "not a readable checkpoint")
    # The VGG-Face weights of train: the same refusal, the same class in the API.
    torch.save({"conv1_1.weight": _Ran()}, tmp_path / "vgg_face.pth")
    weights = ["--backbone-weights", str(tmp_path / "vgg_face.pth")]
    assert main(["train", *options, *weights, "--out", str(tmp_path / "run")]) == 2
    _refusal(capsys.readouterr(), "vgg_face.pth", "refused")


def test_prepare_on_a_partial_download_prints_a_few_lines(tmp_path, shared_data, capsys):
    from personality_utils.__main__ import main
    from personality_utils.data import stores

    real = shared_data / "firstimpressions"
    root = tmp_path / "fi"
    root.mkdir()
    (root / "annotation_training.pkl").symlink_to(real / "annotation_training.pkl")
    clip = sorted((real / "train").glob("*.mp4"))[0]
    (root / clip.name).symlink_to(clip)
    out = tmp_path / "stores"
    options = ["--out", str(out), "--workers", "1", "--profile", "smoke", "--no-faces"]
    assert main(["prepare", "--data-root", str(root), *options]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"train: 1 clips, 5 frames, 0 faces -> {out / 'train'}"]
    report = [line for line in captured.err.splitlines() if "mp4" in line]
    assert report == [
        "train: 5999 of 6000 labelled clips have no video (--Ymqszjv54.001.mp4, "
        "--Ymqszjv54.003.mp4, --Ymqszjv54.004.mp4, ...); full list in "
        # relative to the working folder: the chapters print the same line into their pages
        f"{os.path.relpath(out / 'train' / stores.MISSING_LIST)}"
    ]


def test_a_zip_bomb_exits_2_with_one_line_and_leaves_nothing(tmp_path, shared_data, capsys):
    """A member that inflates a thousand-fold is not a clip: refused before it is written, with
    the archive, the member and the sizes named, and nothing left on disk."""
    import zipfile

    from personality_utils.__main__ import main

    root = tmp_path / "fi"
    root.mkdir()
    (root / "annotation_training.pkl").symlink_to(
        shared_data / "firstimpressions" / "annotation_training.pkl"
    )
    with zipfile.ZipFile(root / "training80_01.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("abcdefghijk.001.mp4", bytes(8 << 20))  # 8 MiB of zeros: about 8 KB
    stores = tmp_path / "stores"
    options = ["--out", str(stores), "--workers", "1", "--profile", "smoke"]
    assert main(["prepare", "--data-root", str(root), *options]) == 2
    line = _refusal(capsys.readouterr(), "training80_01.zip", "abcdefghijk.001.mp4")
    assert "-fold" in line and "8.0 MiB" in line
    assert not list(stores.rglob("*.mp4")) and not list(stores.rglob(".training80_01-*"))


def test_the_provenance_record_of_a_real_and_a_synthetic_root(tmp_path):
    """What ``train`` records (:func:`provenance.training_record`) and the lines ``predict``
    shows from it: real data without a warning, a synthetic set given as a root with one, a
    record whose checkpoint was rewritten as unknown."""
    from pathlib import Path
    from types import SimpleNamespace

    import numpy as np
    import pandas as pd

    from personality_utils.models import experiments, provenance, training

    rng = np.random.default_rng(0)
    clips = [f"person{index:02d}xxxx.00{index % 3}.mp4" for index in range(12)]
    truth = pd.DataFrame(rng.uniform(0.3, 0.7, (12, 5)), index=clips, columns=vocabulary.TRAITS)
    guesses = (truth + rng.normal(0, 0.02, truth.shape)).clip(0, 1)
    config = training.config_for("smoke", "cam", None, "cpu", 3, "faces")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "checkpoint.pt").write_bytes(b"weights")
    experiment = experiments.Experiment(
        trained=None,
        config=config,
        history=pd.DataFrame([{"epoch": 0, "seconds": 1.0, "precision": "float32"}]),
        checkpoint=folder,
        dropped_frames=0,
        fallback_clips={},
        test=experiments.SplitScores(all=experiments._score(guesses, truth, truth)),
    )
    real = SimpleNamespace(
        synthetic=False, root=Path("/data/fi"), description="First Impressions at /data/fi"
    )
    record = provenance.training_record(experiment, real, "smoke", "faces", data_seed=0)
    assert record["dataset"] == {
        "kind": "real",
        "root": "/data/fi",
        "description": "First Impressions at /data/fi",
    }
    assert (record["kind"], record["source"], record["training_seed"]) == ("cam", "faces", 3)
    assert record["backbone"]["start"] == "random" and list(record["scores"]) == ["test"]
    assert record["scores"]["test"]["clips"] == 12 and "config" not in record["scores"]["test"]
    provenance.write_provenance(folder, record)
    shown = provenance.load_provenance(folder)
    assert shown.known and not shown.synthetic and shown.warning == ""
    assert shown.lines[0] == "provenance: trained on real data: First Impressions at /data/fi"
    assert shown.lines[2].startswith("provenance: test: MA 0.") and "12 clips" in shown.lines[2]
    assert not any(line.startswith("WARNING") for line in shown.lines)

    # A synthetic set given as a data root (it has ground_truth.json): said to be synthetic.
    planted = SimpleNamespace(
        synthetic=True, root=Path("/data/synth"), description="First Impressions at /data/synth"
    )
    provenance.record_training(folder, experiment, planted, "smoke", "faces", data_seed=0)
    shown = provenance.load_provenance(folder)
    assert shown.synthetic and "say nothing about a real person" in shown.lines[-1]
    assert shown.lines[0] == (
        "provenance: trained on SYNTHETIC data only: the synthetic set at /data/synth"
    )
    assert "variant" not in json.loads((folder / provenance.PROVENANCE).read_text())
    # A control training of the attribution chapter is recorded and shown as one.
    provenance.record_training(
        folder, experiment, planted, "smoke", "faces", data_seed=0, variant="random_init"
    )
    shown = provenance.load_provenance(folder)
    assert shown.record["variant"] == "random_init"
    assert shown.lines[2].startswith("provenance: control training random_init: ")
    (folder / "checkpoint.pt").write_bytes(b"retrained")
    shown = provenance.load_provenance(folder)
    assert not shown.known and not shown.synthetic
    assert shown.lines[-1].startswith("WARNING: Provenance unknown")
