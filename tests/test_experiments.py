"""Tests of personality_utils.models.experiments: checkpoint folders, kept predictions, scores and
the tables built from several experiments."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from helpers import TINY_CONFIG, toy_images

from personality_utils.core import stats, vocabulary
from personality_utils.models import experiments, reporting, training


def test_checkpoint_folders_keep_weights_apart(tmp_path):
    class Dataset:
        store_dir = tmp_path

    plain = experiments.experiment_dir(Dataset(), "smoke", "danplus", "faces", 0)
    assert plain.name == "smoke-danplus-faces-seed0"
    imagenet = experiments.experiment_dir(Dataset(), "smoke", "danplus", "faces", 0, "imagenet")
    face_a = experiments.experiment_dir(Dataset(), "smoke", "danplus", "faces", 0, "a/vgg_face.pth")
    face_b = experiments.experiment_dir(Dataset(), "smoke", "danplus", "faces", 0, "b/vgg_face.pth")
    assert len({plain, imagenet, face_a, face_b}) == 4
    assert face_a == experiments.experiment_dir(
        Dataset(), "smoke", "danplus", "faces", 0, str(tmp_path.cwd() / "a/vgg_face.pth")
    )


def test_split_predictions_are_kept_beside_the_checkpoint_until_it_changes(tmp_path, monkeypatch):
    images, targets = toy_images(n=24)
    np.save(tmp_path / "frames.npy", images)
    stored = np.load(tmp_path / "frames.npy", mmap_mode="r")
    config = training.TrainConfig(**{**TINY_CONFIG, "epochs": 1})
    folder = tmp_path / "model"
    trained = training.train_model(config, images, targets, folder, progress=False)
    first = experiments.split_predictions(trained, stored, folder, "frames-test")
    np.testing.assert_array_equal(first, training.predict(trained, images))
    assert (folder / "predictions-frames-test.npz").is_file()

    def no_model_run(*args, **kwargs):
        raise AssertionError("predicted again")

    real_predict = training.predict
    monkeypatch.setattr(training, "predict", no_model_run)
    np.testing.assert_array_equal(
        experiments.split_predictions(trained, stored, folder, "frames-test"), first
    )
    # Retraining the model (a new checkpoint file) or other images make them stale.
    monkeypatch.setattr(training, "predict", real_predict)
    retrained = training.train_model(
        training.TrainConfig(**{**TINY_CONFIG, "epochs": 1, "seed": 2}),
        images,
        targets,
        tmp_path / "other",
        progress=False,
    )
    (folder / "checkpoint.pt").write_bytes((tmp_path / "other" / "checkpoint.pt").read_bytes())
    again = experiments.split_predictions(retrained, stored, folder, "frames-test")
    np.testing.assert_array_equal(again, training.predict(retrained, images))
    assert not np.array_equal(again, first)
    np.save(tmp_path / "fewer.npy", images[:12])
    os.replace(tmp_path / "fewer.npy", tmp_path / "frames.npy")  # a rebuilt store, same path
    fewer = experiments.split_predictions(
        retrained, np.load(tmp_path / "frames.npy", mmap_mode="r"), folder, "frames-test"
    )
    assert fewer.shape == (12, 5)
    # A damaged file is recomputed and replaced; in-memory images are never kept.
    (folder / "predictions-frames-test.npz").write_bytes(b"not a zip")
    assert experiments.split_predictions(retrained, stored, folder, "frames-test").shape == (24, 5)
    experiments.split_predictions(retrained, images, folder, "frames-memory")
    assert not (folder / "predictions-frames-memory.npz").exists()


def _experiment(predictions, truth, train, unseen=None):
    scores = experiments.SplitScores(
        all=experiments._score(predictions, truth, train),
        identity_disjoint=None
        if unseen is None
        else experiments._score(predictions, unseen, train),
    )
    return experiments.Experiment(
        trained=None,
        config=training.TrainConfig(),
        history=pd.DataFrame({"seconds": [1.0, 2.0]}),
        checkpoint=None,
        dropped_frames=0,
        fallback_clips={"test": 0},
        test=scores,
    )


def test_table1_and_the_identity_disjoint_table():
    from personality_utils.core import paper

    rng = np.random.default_rng(3)
    clips = [f"{index:011d}.000.mp4" for index in range(20)]
    truth = pd.DataFrame(rng.uniform(size=(20, 5)), index=clips, columns=list(vocabulary.TRAITS))
    train = pd.DataFrame(rng.uniform(size=(40, 5)), columns=list(vocabulary.TRAITS))
    frames = _experiment(truth + 0.1, truth, train)
    faces = _experiment(truth + 0.05, truth, train, unseen=truth.iloc[:5])
    table = reporting.table1(frames, faces)
    assert list(table.columns) == [*paper.TABLE1_COLUMNS, "MA sd"]
    assert table.loc["face (paper)", "MA"] == paper.TABLE1["face"]["MA"]
    assert table.loc["img (ours, DAN+ full frames)", "O"] == pytest.approx(0.9)
    assert table.loc["face (ours, DAN+ faces)", "MA"] == pytest.approx(0.95)
    constant = stats.constant_baseline(train, truth)
    assert table.loc["constant (ours, training mean)", "N"] == pytest.approx(
        constant["neuroticism"]
    )
    subsets = reporting.subset_table({"frames": frames, "faces": faces})
    assert list(subsets.index) == [
        ("frames", "all"),
        ("faces", "all"),
        ("faces", "identity_disjoint"),
    ]
    assert subsets.loc[("faces", "identity_disjoint"), "clips"] == 5
    # Every clip is off by exactly 0.05: nothing to resample, the interval is the point.
    interval = subsets.loc[("faces", "all"), ["MA 95% low", "MA 95% high"]]
    assert interval.tolist() == pytest.approx([0.95, 0.95])
    record = reporting.results_record(faces)
    assert record["identity_disjoint"]["clips"] == 5 and record["epochs_seconds"] == 3.0
    with pytest.raises(ValueError, match="split must be"):
        faces.split("train")


def test_seed_runs_mean_spread_and_table1():
    rng = np.random.default_rng(4)
    clips = [f"{index:011d}.000.mp4" for index in range(20)]
    truth = pd.DataFrame(rng.uniform(size=(20, 5)), index=clips, columns=list(vocabulary.TRAITS))
    train = pd.DataFrame(rng.uniform(size=(40, 5)), columns=list(vocabulary.TRAITS))
    runs = experiments.SeedRuns(
        {seed: _experiment(truth + shift, truth, train) for seed, shift in ((0, 0.1), (1, 0.2))}
    )
    table = runs.table()
    assert list(table.index) == ["seed 0", "seed 1", "mean", "sd"]
    assert table.loc["mean", "MA"] == pytest.approx(0.85)
    assert table.loc["sd", "MA"] == pytest.approx(np.std([0.9, 0.8], ddof=1))
    record = runs.record()
    assert record["seeds"] == [0, 1] and record["mean_accuracy"][1] == pytest.approx(0.8)
    assert record["mean_accuracy_mean"] == pytest.approx(0.85)
    assert record["per_trait_accuracy_mean"]["openness"] == pytest.approx(0.85)
    assert len(runs.predictions()) == 2 and runs.first is runs.runs[0]
    one = experiments.SeedRuns({0: runs.runs[0]})
    assert np.isnan(one.table().loc["sd", "MA"])
    table1 = reporting.table1(runs, one)
    row = "img (ours, DAN+ full frames, mean of 2 seeds)"
    assert table1.loc[row, "MA"] == pytest.approx(0.85)
    assert table1.loc[row, "MA sd"] == pytest.approx(np.std([0.9, 0.8], ddof=1))
    assert np.isnan(table1.loc["face (ours, DAN+ faces)", "MA sd"])


def test_a_weight_file_is_the_same_recipe_however_its_path_is_written(tmp_path, monkeypatch):
    # train gets the weights' absolute path, a chapter the same file relative to its folder:
    # both must record one recipe, or the chapter retrains over train's checkpoint.
    weights = tmp_path / "weights" / "vgg_face_dag.pth"
    weights.parent.mkdir()
    weights.write_bytes(b"PK")
    (tmp_path / "book").mkdir()
    monkeypatch.chdir(tmp_path / "book")
    given = experiments.starting_weights("paper", str(weights))
    assert experiments.starting_weights("paper", "../weights/vgg_face_dag.pth") == given
    assert given == str(weights.resolve())
    assert experiments.starting_weights("paper", "imagenet") == "imagenet"
