"""Causal tests of chapter 05 (occlusion, the face or the context alone, deletion and insertion)
on models whose answers are known."""

import numpy as np
import pandas as pd
import pytest
import torch

from personality_utils.cam import causal, perturbation
from personality_utils.core.profiles import TrainConfig
from personality_utils.core.vocabulary import TRAITS
from personality_utils.models import training
from personality_utils.models.training import TrainedModel

SIZE = 16


class RegionModel(torch.nn.Module):
    """Logit t = sum of channel 0 over the pixels where weights[t] is set: a model whose
    answer to any hiding is known."""

    def __init__(self, weights: np.ndarray):
        super().__init__()
        self.weights = torch.nn.Parameter(torch.as_tensor(weights, dtype=torch.float32))

    def logits(self, inputs):
        return torch.einsum("bhw,thw->bt", inputs[:, 0], self.weights)

    def forward(self, inputs):
        return torch.sigmoid(self.logits(inputs) / 50.0)


def _trained(weights: np.ndarray) -> TrainedModel:
    config = TrainConfig(input_size=weights.shape[-1], device="cpu")
    mean = torch.zeros(3, weights.shape[-1], weights.shape[-1])
    return TrainedModel(RegionModel(weights).eval(), config, mean, 1.0)


FACE = (2.0, 2.0, 8.0, 8.0)  # left, top, right, bottom
POSTER = (10.0, 10.0, 16.0, 16.0)


def _face_poster_model() -> TrainedModel:
    """Trait 0 reads the face box, trait 1 the poster box, the others nothing."""
    weights = np.zeros((5, SIZE, SIZE))
    weights[0, 2:8, 2:8] = 1.0
    weights[1, 10:16, 10:16] = 1.0
    return _trained(weights)


def _frames(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(1, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)


def test_box_masks_cover_exactly_the_box_and_nothing_for_nan():
    masks = causal.box_masks(np.array([FACE, [np.nan] * 4]), SIZE, SIZE)
    assert masks[0].sum() == 36 and masks[0][2:8, 2:8].all()
    assert masks[1].sum() == 0
    half = causal.box_masks(np.array([FACE]), SIZE, SIZE // 2)  # to a smaller input
    assert half[0].sum() == 9 and half[0][1:4, 1:4].all()


def test_off_face_boxes_same_size_touch_neither_face_nor_poster():
    faces = np.array([FACE] * 20 + [[np.nan] * 4])
    posters = np.array([POSTER] * 21)
    boxes = causal.off_face_boxes(faces, SIZE, posters, seed=3)
    assert np.isnan(boxes[-1]).all()
    for box in boxes[:-1]:
        assert np.allclose(box[2:] - box[:2], 6.0)
        assert 0 <= box[0] and box[2] <= SIZE and 0 <= box[1] and box[3] <= SIZE
        assert not causal._intersects(box, np.array(FACE))
        assert not causal._intersects(box, np.array(POSTER))
    # No room: a face box as large as the frame.
    assert np.isnan(causal.off_face_boxes(np.array([[0, 0, SIZE, SIZE]]), SIZE)).all()


def test_predict_hides_with_the_mean_image():
    trained = _face_poster_model()
    frames = _frames(3)
    intact = training.predict(trained, frames, logits=True)
    expected = frames[:, 2:8, 2:8, 0].astype(float).sum(axis=(1, 2))
    assert np.allclose(intact[:, 0], expected)
    hidden = training.predict(
        trained, frames, hide=causal.box_masks(np.array([FACE] * 3), SIZE, SIZE), logits=True
    )
    assert np.allclose(hidden[:, 0], 0.0)
    assert np.allclose(hidden[:, 1], intact[:, 1])  # the poster untouched


def test_occlusion_finds_which_trait_reads_which_region():
    trained = _face_poster_model()
    frames = _frames(24, seed=1)
    clips = np.array([f"person{i // 4}.{i % 2:03d}.mp4" for i in range(24)])
    faces = np.array([FACE] * 24)
    faces[0] = np.nan  # a frame without a face is left out and counted
    result = causal.occlusion(
        trained, frames, clips, faces, SIZE, np.array([POSTER] * 24), n_boot=200, seed=0
    )
    assert result.frames == 23 and result.skipped["without a face box"] == 1
    face, off, poster = (result.effect(r, TRAITS[0]) for r in ("face", "off face", "poster"))
    assert face["low"] > 0 and off["value"] == 0 and poster["value"] == 0
    assert result.effect("poster", TRAITS[1])["low"] > 0
    assert result.effect("face", TRAITS[1])["value"] == 0
    differences = result.differences()
    assert differences["face minus off face"][TRAITS[0]]["low"] > 0
    assert differences["poster minus face"][TRAITS[1]]["low"] > 0
    assert differences["poster minus face"][TRAITS[0]]["high"] < 0
    record = result.record()
    assert set(record["mean_abs_change"]) == {"face", "off face", "poster"}
    assert record["mean_signed_change"]["face"][TRAITS[0]] < 0  # hiding lowers the score
    assert result.table().shape == (15, 4)


def test_masked_accuracy_face_only_keeps_a_face_reading_model():
    trained = _face_poster_model()
    frames = _frames(12, seed=2)
    clips = np.array([f"p{i // 4}.{(i // 2) % 2:03d}.mp4" for i in range(12)])
    truth_clips = sorted(set(clips))
    rng = np.random.default_rng(0)
    truth = pd.DataFrame(rng.uniform(0.3, 0.7, (6, 5)), index=truth_clips, columns=list(TRAITS))
    train = pd.DataFrame(rng.uniform(0.3, 0.7, (4, 5)), columns=list(TRAITS))
    scores = causal.masked_accuracy(
        trained, frames, clips, np.array([FACE] * 12), SIZE, truth, train
    )
    intact, face_only = scores.predictions["intact"], scores.predictions["face only"]
    assert np.allclose(intact[TRAITS[0]], face_only[TRAITS[0]])  # the face is all trait 0 reads
    assert np.allclose(scores.predictions["context only"][TRAITS[0]], 0.5)  # sigmoid(0)
    assert np.allclose(face_only[TRAITS[1]], 0.5)  # the poster was hidden
    table = scores.table()
    assert list(table.index) == ["intact", "face only", "context only", "constant"]
    assert table.loc["constant", "mean R²"] <= 0  # the training mean explains nothing
    assert scores.record()["clips"] == 6


def test_perturbation_curves_match_a_hand_computation():
    # A 2x2 image of ones and weights 4, 3, 2, 1: deleting the highest first leaves 10, 6, 3,
    # 1, 0; the area of the change is -6.25 (trapezoids of width 0.25). Insertion mirrors it.
    weights = np.array([[[4.0, 3.0], [2.0, 1.0]]])
    model = RegionModel(weights)
    inputs = torch.ones(1, 3, 2, 2)
    fractions = np.linspace(0, 1, 5)
    order = perturbation.pixel_orders(weights, np.random.default_rng(0))
    assert order.tolist() == [[0, 1, 2, 3]]
    deletion = perturbation.perturbation_curves(
        model.logits, inputs, order, np.array([0]), fractions
    )
    assert deletion.tolist() == [[10, 6, 3, 1, 0]]
    assert perturbation.curve_auc(deletion, fractions)[0] == pytest.approx(-6.25)
    insertion = perturbation.perturbation_curves(
        model.logits, inputs, order, np.array([0]), fractions, mode="insertion"
    )
    assert insertion.tolist() == [[0, 4, 7, 9, 10]]
    assert perturbation.curve_auc(insertion, fractions)[0] == pytest.approx(6.25)
    ends = {}  # shared ends: the same curves, the intact and blank passes run once
    shared = [
        perturbation.perturbation_curves(
            model.logits, inputs, order, np.array([0]), fractions, mode=m, ends=ends
        )
        for m in ("deletion", "insertion", "deletion")
    ]
    assert [c.tolist() for c in shared] == [
        deletion.tolist(),
        insertion.tolist(),
        deletion.tolist(),
    ]
    assert ends["intact"].tolist() == [10] and ends["blank"].tolist() == [0]
    reverse = perturbation.perturbation_curves(
        model.logits, inputs, order[:, ::-1], np.array([0]), fractions
    )
    assert perturbation.curve_auc(reverse, fractions)[0] > -6.25  # the wrong order deletes slower


def test_deletion_insertion_ranks_the_true_map_above_random_and_lower_first():
    weights = np.zeros((5, SIZE, SIZE))
    weights[0, 2:8, 2:8] = 1.0
    weights[0, 10:16, 10:16] = -1.0
    trained = _trained(weights)
    frames = _frames(8, seed=4)
    maps = np.repeat(weights[:1], 8, axis=0)  # the model's true map of trait 0
    result = perturbation.deletion_insertion(
        trained,
        frames,
        maps,
        np.zeros(8, dtype=int),
        np.array([f"p{i}.001.mp4" for i in range(8)]),
        upsampling="bilinear",
        steps=8,
        n_boot=200,
    )
    deletion = result.summary("deletion")
    assert (
        deletion["CAM, higher first"][TRAITS[0]]["value"] < deletion["random"][TRAITS[0]]["value"]
    )
    assert deletion["CAM, lower first"][TRAITS[0]]["value"] > 0  # removing negative evidence
    assert result.cam_minus("deletion", "random")[TRAITS[0]]["high"] < 0
    assert result.cam_minus("insertion", "random")[TRAITS[0]]["low"] > 0
    record = result.record()
    assert set(record) == {"deletion_auc", "insertion_auc", "perturbation_images"}
    assert record["perturbation_images"] == 8


def test_the_key_causal_rows_on_a_set_without_the_identity_route(cache_dir):
    """Chapter 05's causal rows on a smoke set whose glasses, room and shirt are drawn per clip
    (``synthetic_identity="clip"``): conscientiousness counts as face-driven there, and its
    occlusion part is judged beside the other face-driven traits."""
    from personality_utils.cam import study as cam_study
    from personality_utils.claims import catalogue
    from personality_utils.core import profiles
    from personality_utils.data import datasets
    from personality_utils.models import experiments, reporting

    profile = profiles.get_profile("smoke").replace(synthetic_identity="clip")
    dataset = datasets.prepare_dataset(profile, cache_dir=cache_dir, progress=False)
    assert causal.face_driven_traits(dataset)[0] == [
        "conscientiousness",
        "extraversion",
        "agreeableness",
        "neuroticism",
    ]
    runs = {
        source: experiments.run_experiment(
            dataset, profile, source, profile.cam_kind, progress=False
        )
        for source in ("frames", "faces")
    }
    study = cam_study.prepare(dataset, runs["frames"].trained, runs["faces"].trained, top_n=5)
    tests = causal.run(study, dataset, {"CAM model": runs["frames"].trained}, 3, n_boot=50)
    measurements = {
        **tests.measurements(),
        "trait_r2": reporting.trait_r2(runs["frames"]),
        "instruments": reporting.model_instruments(dataset, {"model gain": runs["frames"]}),
    }
    rows = {
        claim.key: catalogue.judge_claim(claim, measurements, True)
        for claim in catalogue.claims_of("05_cam")
        if claim.key in ("occlusion_face", "occlusion_poster", "face_alone_beats_context")
    }
    assert rows["occlusion_face"]["parts"][0]["name"] == "conscientiousness"
    assert "C " in rows["occlusion_face"]["evidence"]
    for row in rows.values():  # judged (a smoke model may well fail its instrument)
        assert row["verdict"] in catalogue.VERDICTS and "no measurement" not in row["evidence"]
