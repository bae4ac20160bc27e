"""Tests of personality_utils.models.training: loss, schedule, resume, metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import TINY_CONFIG, toy_images

from personality_utils.core import vocabulary
from personality_utils.models import training


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
    images, targets = toy_images()
    config = training.TrainConfig(**TINY_CONFIG)
    whole = training.train_model(config, images, targets, tmp_path / "whole", progress=False)
    config_cam = training.TrainConfig(
        **{**TINY_CONFIG, "kind": "cam"}
    )  # dropout draws random numbers
    whole_cam = training.train_model(
        config_cam, images, targets, tmp_path / "whole_cam", progress=False
    )
    for cfg, reference, folder in ((config, whole, "cut"), (config_cam, whole_cam, "cut_cam")):
        training.train_model(
            cfg, images, targets, tmp_path / folder, progress=False, stop_after_epoch=1
        )
        with pytest.raises(vocabulary.DataError, match="stopped after epoch 1 of 3"):
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
    images, targets = toy_images(n=160)
    config = training.TrainConfig(
        **{**TINY_CONFIG, "epochs": 12, "lr_start": 3e-3, "lr_end": 3e-4, "flip_probability": 0.0}
    )
    trained = training.train_model(config, images, targets, progress=False)
    test_images, test_targets = toy_images(n=64, seed=5)
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


def test_input_normalisations():
    images, _ = toy_images(n=16)
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
    config = training.TrainConfig(**{**TINY_CONFIG, "optimizer": "sgd", "weight_decay": 5e-4})
    model = torch.nn.Linear(2, 2)
    optimiser = training._optimizer(config, model)
    assert optimiser.param_groups[0]["weight_decay"] == 5e-4
    assert optimiser.param_groups[0]["momentum"] == 0.9


def test_a_recipe_is_the_same_on_any_device():
    gpu = training.TrainConfig(device="cuda").to_dict()
    assert training.same_recipe(gpu, training.TrainConfig(device="auto").to_dict())
    assert not training.same_recipe(gpu, training.TrainConfig(device="cuda", epochs=3).to_dict())


def test_precision_is_resolved_recorded_and_checked(monkeypatch):
    cpu = torch.device("cpu")
    assert training.resolved_precision("float32", cpu) == "float32"
    assert training.resolved_precision("bfloat16", cpu) == "bfloat16"
    monkeypatch.setattr(training, "native_bfloat16", lambda device: False)
    assert training.resolved_precision("auto", cpu) == "float32"
    monkeypatch.setattr(training, "native_bfloat16", lambda device: True)
    assert training.resolved_precision("auto", cpu) == "bfloat16"
    with pytest.raises(ValueError, match="precision"):
        training.TrainConfig(precision="half")
    # The authors trained in single precision: the paper recipe says so, the CPU book does not.
    assert training.TrainConfig().precision == "float32"
    images, targets = toy_images(n=16)
    config = training.TrainConfig(**{**TINY_CONFIG, "epochs": 1, "precision": "bfloat16"})
    trained = training.train_model(config, images, targets, progress=False)
    assert trained.history[0]["precision"] == "bfloat16"
    assert training.history_precision(pd.DataFrame(trained.history)) == "bfloat16"
    assert training.history_precision([{"epoch": 1}]) == "unrecorded"
    mixed = [{"precision": "float32"}, {"precision": "bfloat16"}]
    assert training.history_precision(mixed) == "bfloat16 and float32"
    # Trained channels-last, handed back in the usual layout (hooks and views downstream).
    conv = next(m for m in trained.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous()
    float32 = training.train_model(
        training.TrainConfig(**{**TINY_CONFIG, "epochs": 1}), images, targets, progress=False
    )
    assert float32.history[0]["precision"] == "float32"
    np.testing.assert_allclose(
        training.predict(trained, images), training.predict(float32, images), atol=0.05
    )


def test_native_bfloat16_probe_answers_for_this_machine():
    assert training.native_bfloat16(torch.device("cuda")) is True
    assert isinstance(training.native_bfloat16(torch.device("cpu")), bool)
    assert training.native_bfloat16(torch.device("meta")) is False
