"""Tests of personality_utils.training: loss, schedule, resume, metrics."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

from personality_utils import data, stats, training

TINY = dict(
    kind="danplus",
    width_divisor=16,
    input_size=32,
    epochs=3,
    batch_size=8,
    lr_start=1e-3,
    lr_end=1e-4,
    optimizer="adam",
    weight_decay=0.0,
    input_mean="standardised",
    device="cpu",
    seed=1,
)


def _toy(n=48, seed=0):
    """Images whose brightness on the left half encodes the first trait."""
    rng = np.random.default_rng(seed)
    targets = rng.uniform(0.2, 0.8, size=(n, 5)).astype(np.float32)
    images = rng.integers(0, 40, size=(n, 32, 32, 3)).astype(np.uint8)
    images[:, :, :16] += (targets[:, 0] * 200).astype(np.uint8)[:, None, None, None]
    return images, targets


def test_euclidean_loss_and_schedule():
    predicted = torch.tensor([[0.0, 0, 0, 0, 0], [1.0, 1, 1, 1, 1]])
    target = torch.tensor([[0.3, 0, 0.4, 0, 0], [1.0, 1, 1, 1, 1]])
    assert float(training.euclidean_loss(predicted, target)) == pytest.approx(0.25)
    # The authors: learningRate = logspace(-3, -6, 30), 10 epochs, MatConvNet takes
    # learningRate(min(epoch, 30)): the first 10 of the 30 values, 1e-3 ... 1e-3 * 10^(-27/29).
    rates = training.learning_rates(training.TrainConfig())
    np.testing.assert_allclose(rates, np.logspace(-3, -6, 30)[:10])
    assert rates[-1] == pytest.approx(1e-3 * 10 ** (-27 / 29)) == pytest.approx(1.1721e-4, rel=1e-4)
    # Past the schedule's length the last value stays; without a length the values span the
    # epochs.
    long = training.learning_rates(training.TrainConfig(epochs=32, lr_schedule_length=30))
    assert long[29] == long[30] == long[31] == pytest.approx(1e-6)
    spread = training.learning_rates(training.TrainConfig(epochs=10, lr_schedule_length=None))
    assert spread[0] == pytest.approx(1e-3) and spread[-1] == pytest.approx(1e-6)
    assert np.allclose(np.diff(np.log10(spread)), -1 / 3)
    assert training.learning_rates(training.TrainConfig(epochs=1)) == pytest.approx([1e-3])


def test_resumed_training_equals_uninterrupted(tmp_path):
    images, targets = _toy()
    config = training.TrainConfig(**TINY)
    whole = training.train_model(config, images, targets, tmp_path / "whole", progress=False)
    config_cam = training.TrainConfig(**{**TINY, "kind": "cam"})  # dropout draws random numbers
    whole_cam = training.train_model(
        config_cam, images, targets, tmp_path / "whole_cam", progress=False
    )
    for cfg, reference, folder in ((config, whole, "cut"), (config_cam, whole_cam, "cut_cam")):
        training.train_model(
            cfg, images, targets, tmp_path / folder, progress=False, stop_after_epoch=1
        )
        with pytest.raises(data.DataError, match="stopped after epoch 1 of 3"):
            training.load_trained(tmp_path / folder, device="cpu")
        resumed = training.train_model(cfg, images, targets, tmp_path / folder, progress=False)
        assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
        for (name, a), b in zip(
            reference.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
        ):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    loaded = training.load_trained(tmp_path / "whole", device="cpu")
    np.testing.assert_allclose(training.predict(loaded, images), training.predict(whole, images))
    assert not list((tmp_path / "whole").glob(".*"))  # no temporary left behind


def test_a_tiny_model_learns_a_planted_signal():
    images, targets = _toy(n=160)
    config = training.TrainConfig(
        **{**TINY, "epochs": 12, "lr_start": 3e-3, "lr_end": 3e-4, "flip_probability": 0.0}
    )
    trained = training.train_model(config, images, targets, progress=False)
    test_images, test_targets = _toy(n=64, seed=5)
    predictions = training.predict(trained, test_images)
    r = np.corrcoef(predictions[:, 0], test_targets[:, 0])[0, 1]
    assert r > 0.8  # the planted trait is learned
    assert trained.history[-1]["loss"] < trained.history[0]["loss"]


def test_clip_predictions_average_frames():
    meta = pd.DataFrame({"clip": ["b", "a", "b"]})
    frames = np.array([[0.2] * 5, [0.5] * 5, [0.4] * 5])
    table = training.clip_predictions(meta, frames)
    assert list(table.index) == ["a", "b"]
    assert table.loc["b", "openness"] == pytest.approx(0.3)


def test_resizing_once_equals_resizing_each_batch():
    images = np.random.default_rng(0).integers(0, 256, size=(5, 64, 64, 3), dtype=np.uint8)
    mean, device = torch.full((3, 32, 32), 100.0), torch.device("cpu")
    once = training._prepare(training._resized_store(images, 32), 32, mean, 2.0, device)
    each = training._prepare(images, 32, mean, 2.0, device)
    torch.testing.assert_close(once, each, rtol=0, atol=0)
    assert training._resized_store(images, 64) is images


def test_checkpoint_folders_keep_weights_apart_and_ignore_the_device(tmp_path):
    class Dataset:
        store_dir = tmp_path

    plain = training.experiment_dir(Dataset(), "smoke", "danplus", "faces", 0)
    assert plain.name == "smoke-danplus-faces-seed0"
    imagenet = training.experiment_dir(Dataset(), "smoke", "danplus", "faces", 0, "imagenet")
    face_a = training.experiment_dir(Dataset(), "smoke", "danplus", "faces", 0, "a/vgg_face.pth")
    face_b = training.experiment_dir(Dataset(), "smoke", "danplus", "faces", 0, "b/vgg_face.pth")
    assert len({plain, imagenet, face_a, face_b}) == 4
    assert face_a == training.experiment_dir(
        Dataset(), "smoke", "danplus", "faces", 0, str(tmp_path.cwd() / "a/vgg_face.pth")
    )
    gpu = training.TrainConfig(device="cuda").to_dict()
    assert training._same_recipe(gpu, training.TrainConfig(device="auto").to_dict())
    assert not training._same_recipe(gpu, training.TrainConfig(device="cuda", epochs=3).to_dict())


def test_split_predictions_are_kept_beside_the_checkpoint_until_it_changes(tmp_path, monkeypatch):
    images, targets = _toy(n=24)
    np.save(tmp_path / "frames.npy", images)
    stored = np.load(tmp_path / "frames.npy", mmap_mode="r")
    config = training.TrainConfig(**{**TINY, "epochs": 1})
    folder = tmp_path / "model"
    trained = training.train_model(config, images, targets, folder, progress=False)
    first = training.split_predictions(trained, stored, folder, "frames-test")
    np.testing.assert_array_equal(first, training.predict(trained, images))
    assert (folder / "predictions-frames-test.npz").is_file()

    def no_model_run(*args, **kwargs):
        raise AssertionError("predicted again")

    real_predict = training.predict
    monkeypatch.setattr(training, "predict", no_model_run)
    np.testing.assert_array_equal(
        training.split_predictions(trained, stored, folder, "frames-test"), first
    )
    # Retraining the model (a new checkpoint file) or other images make them stale.
    monkeypatch.setattr(training, "predict", real_predict)
    retrained = training.train_model(
        training.TrainConfig(**{**TINY, "epochs": 1, "seed": 2}),
        images,
        targets,
        tmp_path / "other",
        progress=False,
    )
    (folder / "checkpoint.pt").write_bytes((tmp_path / "other" / "checkpoint.pt").read_bytes())
    again = training.split_predictions(retrained, stored, folder, "frames-test")
    np.testing.assert_array_equal(again, training.predict(retrained, images))
    assert not np.array_equal(again, first)
    np.save(tmp_path / "fewer.npy", images[:12])
    os.replace(tmp_path / "fewer.npy", tmp_path / "frames.npy")  # a rebuilt store, same path
    fewer = training.split_predictions(
        retrained, np.load(tmp_path / "frames.npy", mmap_mode="r"), folder, "frames-test"
    )
    assert fewer.shape == (12, 5)
    # A damaged file is recomputed and replaced; in-memory images are never kept.
    (folder / "predictions-frames-test.npz").write_bytes(b"not a zip")
    assert training.split_predictions(retrained, stored, folder, "frames-test").shape == (24, 5)
    training.split_predictions(retrained, images, folder, "frames-memory")
    assert not (folder / "predictions-frames-memory.npz").exists()


def test_input_normalisations():
    images, _ = _toy(n=16)
    mean, std = training.mean_image(images, 32)
    expected = {
        "mean_image": (mean, 1.0),
        "mean_image_unit_scale": (mean / 255, 1.0),  # the authors' face model
        "standardised": (mean, std),
        "backbone": (mean, std),  # random weights: standardised
    }
    for choice, (want_mean, want_scale) in expected.items():
        config = training.TrainConfig(input_size=32, input_mean=choice)
        got_mean, got_scale = training._normalisation(config, images)
        torch.testing.assert_close(got_mean, want_mean)
        assert got_scale == pytest.approx(want_scale)
    # The mean image is per pixel, not per channel: the planted bright left half shows.
    assert mean[:, :, :16].mean() > mean[:, :, 16:].mean() + 50
    # The authors' face input: 0-255 pixels minus a mean of at most 1, so almost raw pixels.
    unit = training.TrainConfig(input_size=32, input_mean="mean_image_unit_scale")
    trained = training.TrainedModel(None, unit, *training._normalisation(unit, images))
    prepared = trained.prepare(images[:2], torch.device("cpu"))
    raw = torch.from_numpy(images[:2]).permute(0, 3, 1, 2).float()
    assert (raw - prepared).abs().max() <= 1.0
    vgg_face = training.TrainConfig(input_size=32, input_mean="backbone", backbone_weights="x.pth")
    face_mean, face_scale = training._normalisation(vgg_face, images)
    assert face_scale == 1.0 and face_mean[:, 0, 0].tolist() == pytest.approx(
        [129.186, 104.762, 93.594]
    )


def test_weight_decay_reaches_the_optimiser():
    config = training.TrainConfig(**{**TINY, "optimizer": "sgd", "weight_decay": 5e-4})
    model = torch.nn.Linear(2, 2)
    optimiser = training._optimizer(config, model)
    assert optimiser.param_groups[0]["weight_decay"] == 5e-4
    assert optimiser.param_groups[0]["momentum"] == 0.9


def _experiment(predictions, truth, train, unseen=None):
    scores = training.SplitScores(
        all=training._score(predictions, truth, train),
        identity_disjoint=None if unseen is None else training._score(predictions, unseen, train),
    )
    return training.Experiment(
        trained=None,
        config=training.TrainConfig(),
        history=pd.DataFrame({"seconds": [1.0, 2.0]}),
        checkpoint=None,
        dropped_frames=0,
        fallback_clips={"test": 0},
        test=scores,
    )


def test_table1_and_the_identity_disjoint_table():
    from personality_utils import paper

    rng = np.random.default_rng(3)
    clips = [f"{index:011d}.000.mp4" for index in range(20)]
    truth = pd.DataFrame(rng.uniform(size=(20, 5)), index=clips, columns=list(data.TRAITS))
    train = pd.DataFrame(rng.uniform(size=(40, 5)), columns=list(data.TRAITS))
    frames = _experiment(truth + 0.1, truth, train)
    faces = _experiment(truth + 0.05, truth, train, unseen=truth.iloc[:5])
    table = training.table1(frames, faces)
    assert list(table.columns) == list(paper.TABLE1_COLUMNS)
    assert table.loc["face (paper)", "MA"] == paper.TABLE1["face"]["MA"]
    assert table.loc["img (ours, DAN+ full frames)", "O"] == pytest.approx(0.9)
    assert table.loc["face (ours, DAN+ faces)", "MA"] == pytest.approx(0.95)
    constant = stats.constant_baseline(train, truth)
    assert table.loc["constant (ours, training mean)", "N"] == pytest.approx(
        constant["neuroticism"]
    )
    subsets = training.subset_table({"frames": frames, "faces": faces})
    assert list(subsets.index) == [
        ("frames", "all"),
        ("faces", "all"),
        ("faces", "identity_disjoint"),
    ]
    assert subsets.loc[("faces", "identity_disjoint"), "clips"] == 5
    # Every clip is off by exactly 0.05: nothing to resample, the interval is the point.
    interval = subsets.loc[("faces", "all"), ["MA 95% low", "MA 95% high"]]
    assert interval.tolist() == pytest.approx([0.95, 0.95])
    record = training.results_record(faces)
    assert record["identity_disjoint"]["clips"] == 5 and record["epochs_seconds"] == 3.0
    with pytest.raises(ValueError, match="split must be"):
        faces.split("train")
