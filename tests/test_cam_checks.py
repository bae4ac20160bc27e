"""Tests of personality_utils.cam.checks: image-blind baselines, DAN+'s gradient maps, the
Grad-CAM agreement, the randomisation sanity check and the planted context cue."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import CAM_SIZE, cam_images, fake_dataset, hand_cam_study, tiny_cam_model

from personality_utils.cam import checks
from personality_utils.cam import maps as cam
from personality_utils.cam import randomisation as cam_randomisation
from personality_utils.cam import study as cam_study
from personality_utils.core.vocabulary import TRAITS
from personality_utils.models import training


def test_centre_prior_and_random_map():
    prior = checks.centre_prior(16)
    assert prior.shape == (16, 16) and prior.argmax() in {
        7 * 16 + 7,
        7 * 16 + 8,
        8 * 16 + 7,
        8 * 16 + 8,
    }
    np.testing.assert_allclose(prior, prior.T)
    np.testing.assert_allclose(prior, prior[::-1])
    rng = np.random.default_rng(0)
    noise = checks.random_map(32, 4, rng, upsampling="bilinear")
    assert noise.shape == (32, 32) and 0 <= noise.min() and noise.max() <= 1
    # Keys' cubic kernel has negative lobes: bicubic maps overshoot [0, 1] a little.
    noise = checks.random_map(32, 4, np.random.default_rng(0))
    assert (-0.25 < noise.min() < 0 and 1 <= noise.max() < 1.25) or noise.max() <= 1


def test_randomisation_changes_the_maps_and_leaves_the_model_alone():
    trained = tiny_cam_model("cam_fig4", seed=3)
    images = cam_images(8)
    before = {k: v.clone() for k, v in trained.model.state_dict().items()}
    reference, _ = cam.class_activation_maps(trained, images)
    stages = cam_randomisation.randomisation_stages(trained.model)
    assert stages[:3] == ["head", "conv5_3", "conv5_2"] and stages[-1] == "conv1_1"
    correlations = {}
    for stage in ("head", "conv5_3", "conv1_1"):
        randomised = cam_randomisation.randomise_until(trained, stage, seed=0)
        maps, _ = cam.class_activation_maps(randomised, images)
        assert not np.allclose(maps, reference)
        flat = (len(maps) * 5, -1)
        correlations[stage] = np.nanmean(
            checks.rank_correlation(maps.reshape(flat), reference.reshape(flat))
        )
    # The original is untouched, and identical maps correlate perfectly.
    for key, value in trained.model.state_dict().items():
        assert torch_equal(value, before[key]), key
    np.testing.assert_allclose(checks.rank_correlation(reference[:, 0], reference[:, 0]), 1.0)
    # Deeper randomisation leaves less of the trained maps.
    assert correlations["conv1_1"] < 0.9
    with pytest.raises(ValueError, match="stage"):
        cam_randomisation.randomise_until(trained, "conv9_1")


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_rank_correlation_is_spearman():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.random((4, 5, 5)), rng.random((4, 5, 5))
    expected = [spearmanr(x.ravel(), y.ravel())[0] for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(checks.rank_correlation(a, b), expected)
    np.testing.assert_allclose(checks.rank_correlation(a, np.exp(a)), 1.0)
    np.testing.assert_allclose(checks.rank_correlation(a, -a), -1.0)
    assert np.isnan(checks.rank_correlation(np.ones((1, 3, 3)), a[:1, :3, :3]))[0]


def test_map_scores_summarise_each_set_of_maps():
    maps = np.zeros((3, 8, 8))
    maps[0, 2:4, 2:4] = 1.0  # inside the box
    maps[1, 6:8, 6:8] = 1.0  # outside
    maps[2, 3, 3], maps[2, 7, 7] = 1.0, 0.9  # half in: overlap 1/2
    boxes = np.array([(2, 2, 6, 6)] * 4, dtype=float)
    clips = np.array([f"{i:011d}.000.mp4" for i in range(4)])
    named = {"a": (maps, np.array([0, 1, 2])), "b": (maps[:1], np.array([3]))}
    table, overlaps = checks.map_scores(named, boxes, clips, 8, n_boot=50)
    np.testing.assert_allclose(overlaps["a"], [1.0, 0.0, 0.5])
    values = table.set_index(["map", "measure"])["value"]
    assert values["a", "mean_overlap"] == pytest.approx(0.5)
    assert values["a", "share_ge_0_9"] == pytest.approx(1 / 3)
    assert values["a", "pointing_game"] == pytest.approx(2 / 3)
    assert values["b", "mean_overlap"] == 1.0 and values["a", "box_area"] == 16 / 64
    assert table.set_index(["map", "measure"]).loc[("a", "box_area"), "value_low"] != 0  # NaN
    assert len(table) == 2 * (len(checks.MAP_MEASURES) + 1)


def test_danplus_maps_are_its_gradient_maps_of_its_top_frames():
    study = hand_cam_study(top_n=2)
    danplus = SimpleNamespace(trained=tiny_cam_model("danplus", seed=4), checkpoint=None)
    mapped = checks.danplus_maps(study, danplus)
    predictions = training.predict(danplus.trained, study.store.frames)
    top = cam.top_images(study.store.meta, predictions, 2, "videos", study.has_face)
    np.testing.assert_array_equal(mapped.rows, np.concatenate([top[t] for t in TRAITS]))
    np.testing.assert_array_equal(mapped.traits, np.repeat(np.arange(5), 2))
    for method in ("GradCAM", "LayerCAM"):
        direct = cam.gradient_maps(danplus.trained, study.store.frames[mapped.rows], method)
        np.testing.assert_allclose(
            mapped.maps[method], direct[np.arange(10), mapped.traits], rtol=1e-4, atol=1e-7
        )


def _on_the_face(study):
    """The study with every frame map peaking on the face box's cells (and nowhere else)."""
    maps = np.zeros_like(study.frame_maps)
    maps[..., 1:3, 1:3] = 1.0  # 4x4 grid over 32 px: cells 1-2 lie inside the box
    return dataclasses.replace(study, frame_maps=maps)


def test_baselines_score_image_blind_maps_on_the_same_frames():
    study = _on_the_face(hand_cam_study(top_n=4))
    headline = study.overlap(n_boot=50)
    same = {"GradCAM": study.frame_maps[headline.rows, headline.traits]}
    danplus = checks.DanplusMaps(None, headline.rows, headline.traits, same)
    result = checks.baselines(study, headline, danplus, n_boot=200)
    table = result.table()
    # DAN+'s maps here are the CAM's, on the same frames: the same scores.
    np.testing.assert_allclose(table.loc["DAN+ Grad-CAM"], table.loc["CAM model"])
    assert table.loc["CAM model", "mean_overlap"] == pytest.approx(1.0)
    prior = cam.score_maps(
        np.broadcast_to(checks.centre_prior(CAM_SIZE), (len(headline.rows), CAM_SIZE, CAM_SIZE)),
        study.boxes[headline.rows],
        CAM_SIZE,
    )["overlap"]
    assert table.loc["centre prior", "mean_overlap"] == pytest.approx(np.nanmean(prior))
    assert result.against["centre prior"]["value"] == pytest.approx(np.nanmean(1.0 - prior))
    # Maps on the face beat random maps, with an interval above 0.
    assert result.against["random map"]["low"] > 0
    assert set(result.measurements()) == {
        "centre_prior_share",
        "cam_minus_centre_prior",
        "cam_minus_random_map",
    }
    assert result.record()["box_area"] == pytest.approx(16 * 20 / CAM_SIZE**2)
    assert "box_area" not in set(result.scores()["measure"])
    assert result.description().startswith("mean overlap, CAM minus")
    # The face-location prior: the share of training frames whose box covers each pixel. Here
    # every frame has the same box, so the prior is that box's own mask and overlaps it fully.
    boxes = np.vstack([study.boxes, np.full((1, 4), np.nan)])  # a frame with no face: left out
    face_prior = checks.face_location_prior(boxes, CAM_SIZE)
    finite = study.boxes[np.isfinite(study.boxes).all(axis=1)]
    by_hand = np.mean([cam.box_mask(box, CAM_SIZE) for box in finite], axis=0)
    np.testing.assert_allclose(face_prior, by_hand)
    with_prior = checks.baselines(study, headline, danplus, n_boot=200, face_prior=face_prior)
    assert "cam_minus_face_prior" in with_prior.measurements()
    assert with_prior.record()["face_prior_mean_overlap"] == pytest.approx(
        with_prior.table().loc["face-location prior", "mean_overlap"]
    )
    with pytest.raises(ValueError, match="no training frame"):
        checks.face_location_prior(np.full((2, 4), np.nan), CAM_SIZE)


def test_gradcam_agreement_of_the_fig4_head_is_its_cam():
    dataset = fake_dataset()
    model = tiny_cam_model(seed=5)
    study = cam_study.prepare(dataset, model, model, top_n=3)
    headline = study.overlap(n_boot=20)
    agreement = checks.gradcam_agreement(study, headline, model, "cam_fig4", limit=4)
    assert agreement.frames == 4
    assert agreement.spearman == pytest.approx(1.0)
    assert agreement.scale == pytest.approx(1 / study.grid**2, rel=1e-4)
    other = checks.gradcam_agreement(study, headline, model, "cam_authors")
    assert other.frames == 0 and "authors' head" in other.description()


def test_randomisation_runs_both_cascades():
    dataset = fake_dataset(n_clips=2, per_clip=1)
    model = tiny_cam_model(seed=6)
    study = cam_study.prepare(dataset, model, model, top_n=1)
    headline = study.overlap(n_boot=20)
    danplus = checks.danplus_maps(
        study, SimpleNamespace(trained=tiny_cam_model("danplus", seed=7), checkpoint=None)
    )
    result = cam_randomisation.randomisation(study, headline, model, danplus, seed=0)
    stages = ["trained", *cam_randomisation.randomisation_stages(model.model)]
    overlaps = result.overlap_table()
    assert list(overlaps.index) == stages
    assert list(overlaps.columns) == ["CAM model", "DAN+ Grad-CAM"]
    assert overlaps.loc["trained", "CAM model"] == pytest.approx(headline.scores["overlap"].mean())
    trained = result.table[result.table["stage"] == "trained"]
    np.testing.assert_allclose(trained["rank_correlation"], 1.0)
    last = result.table.groupby("label")["rank_correlation"].last().to_dict()
    assert result.final_rank_correlation() == pytest.approx(last)
    record = result.record()
    assert list(record["randomized_rank_correlation"]["CAM model"]) == stages


def test_ground_truth_finds_maps_on_the_planted_poster(monkeypatch):
    study = hand_cam_study()
    maps = np.full_like(study.frame_maps, 0.1)
    maps[:, TRAITS.index("openness"), 0, 0] = 5.0  # openness looks at the top-left corner
    study = dataclasses.replace(study, frame_maps=maps)
    headline = study.overlap(n_boot=20)
    poster = np.tile([0.0, 0.0, 8.0, 8.0], (len(study.store), 1))
    monkeypatch.setattr(checks, "store_boxes", lambda root, store, key: poster)
    monkeypatch.setattr(checks, "dataset_identity", lambda root: "person")
    dataset = SimpleNamespace(synthetic=True, root=None)
    r2 = dict.fromkeys(TRAITS, 0.5)
    found = checks.ground_truth(study, headline, dataset, r2, n_boot=50)
    table = found.table
    energy = table["energy in the poster box"]
    assert energy.idxmax() == "openness"
    mask = cam.box_mask(poster[0], CAM_SIZE)
    rows = np.flatnonzero(study.has_face)
    by_hand = np.mean([cam.energy_in_box(cam.upsample(maps[r, 0], CAM_SIZE), mask) for r in rows])
    assert energy["openness"] == pytest.approx(by_hand)
    # A flat map's energy in the box is the box's share of the frame.
    assert found.flat_poster_energy == pytest.approx(mask.mean())
    measured = found.measurements()
    assert measured["context_trait"] == "openness"  # the synthetic set's poster-driven trait
    # Openness's maps sit on the poster: its share there leads the other traits', with an
    # interval; its face overlap is the lowest.
    assert measured["context_poster_gap"]["low"] > 0
    assert measured["context_overlap_gap"]["value"] <= 0
    assert (
        measured["overlap_by_trait"]["openness"] == headline.table.loc["openness", "mean_overlap"]
    )
    assert set(found.record()["ground_truth"]) == set(TRAITS)
    assert checks.ground_truth(study, headline, SimpleNamespace(synthetic=False), r2) is None
