"""Chapter 05b's planted regions and study: the cue of each trait read off the planted weights,
the masks drawn from landmarks, the per-image scores, the paired comparisons, the overlap
question and the end-to-end run on the smoke set with tiny models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import tiny_cam_model, tiny_danplus

from personality_utils.attribution import leaderboard, regions, study
from personality_utils.core.planted import TRAIT_WEIGHTS
from personality_utils.core.profiles import AttributionSettings
from personality_utils.core.vocabulary import ATTRIBUTION_METHODS, TRAITS
from personality_utils.faces.facs import MEAN_SHAPE


def _face(size: int = 112) -> np.ndarray:
    """The mean face shape placed in the middle of a ``size`` image."""
    shape = np.asarray(MEAN_SHAPE, dtype=np.float64)
    shape = (shape - shape.min(axis=0)) / np.ptp(shape, axis=0).max()
    return shape * size * 0.5 + size * 0.25


def test_planted_cue_follows_the_planted_weights():
    assert regions.planted_cue("openness") == "poster"
    assert regions.planted_cue("conscientiousness") == "glasses"
    # The AU-driven traits: every face part their planted AUs move, nothing else.
    for trait in ("extraversion", "agreeableness", "neuroticism"):
        cue = regions.planted_cue(trait)
        assert isinstance(cue, tuple) and cue
        assert set(cue) <= {"eyebrows", "eyes", "nose", "mouth"}
    assert set(regions.planted_cue("extraversion")) == {"mouth", "eyes"}
    assert "nose" in regions.planted_cue("agreeableness")  # AU09, nose wrinkler
    # Moving a weight moves the cue: the function reads the weights, it does not list traits.
    strongest = max(TRAIT_WEIGHTS["openness"], key=lambda k: abs(TRAIT_WEIGHTS["openness"][k]))
    assert strongest == "context_cue"


def test_masks_from_landmarks_and_boxes():
    size = 112
    face = _face(size)
    poster = np.array([[5.0, 5.0, 30.0, 40.0]])
    masks = regions.trait_masks(face[None], poster, size)
    assert set(masks) == set(TRAITS)
    assert all(mask.shape == (1, size, size) for mask in masks.values())
    # The poster mask is the box.
    assert masks["openness"][0, 10, 10] and not masks["openness"][0, 60, 60]
    assert masks["openness"][0].sum() == pytest.approx(25 * 35, rel=0.1)
    # The glasses region covers both eye centres, not the mouth.
    glasses = masks["conscientiousness"][0]
    for centre in (face[36:42].mean(axis=0), face[42:48].mean(axis=0)):
        assert glasses[int(centre[1]), int(centre[0])]
    mouth = face[48:60].mean(axis=0)
    assert not glasses[int(mouth[1]), int(mouth[0])]
    # Extraversion's region holds the mouth.
    assert masks["extraversion"][0, int(mouth[1]), int(mouth[0])]
    # No face (NaN landmarks): empty face masks; no poster (crops): an empty poster mask.
    empty = regions.trait_masks(np.full((1, 68, 2), np.nan), None, size)
    assert not any(mask.any() for mask in empty.values())


def _toy_sample(n: int = 6, size: int = 32) -> study.Sample:
    masks = {trait: np.zeros((n, size, size), dtype=bool) for trait in TRAITS}
    for mask in masks.values():
        mask[:, :8, :8] = True
    clips = np.array([f"person{k // 2}.00{k % 2}.mp4" for k in range(n)])
    return study.Sample(
        "frames",
        np.zeros((n, size, size, 3), dtype=np.uint8),
        clips,
        np.array([c.split(".")[0] for c in clips]),
        masks,
        np.zeros((n, size, size), dtype=bool) | (np.arange(size) >= 16)[None, None, :],
        np.ones(n, dtype=bool),
    )


def test_localisation_and_paired_comparison():
    sample = _toy_sample()
    n, size = len(sample), sample.size
    on_cause = np.zeros((n, 5, size, size), dtype=np.float32)
    on_cause[:, :, :8, :8] = 1.0
    elsewhere = np.zeros_like(on_cause)
    elsewhere[:, :, 20:, 20:] = 1.0
    table = study.localisation({"good": on_cause, "face-location prior": elsewhere}, sample)
    good = table[table["method"] == "good"]
    assert np.allclose(good["mass"], 1.0) and np.allclose(good["pointing"], 1.0)
    assert np.allclose(good["rank"], 1.0)
    # The paper's overlap: the good map is off the "face" half, the other one on it.
    assert np.allclose(good["overlap"], 0.0)
    prior = table[table["method"] == "face-location prior"]
    assert np.allclose(prior["overlap"], 1.0) and np.allclose(prior["mass"], 0.0)
    gains = study.compare(table, table, "mass", 200, 0, against="face-location prior")
    assert set(gains) == {"good"}  # priors are references, not rows
    for trait in TRAITS:
        assert gains["good"][trait]["value"] == pytest.approx(1.0)
        assert gains["good"][trait]["low"] == pytest.approx(1.0)
    summary = study.summarise(table, 200, 0)
    assert {"mass", "mass_low", "mass_high", "overlap"} <= set(summary.columns)
    # The overlap question: here the map on the cause has the lowest overlap.
    cause = study.overlap_against_cause(
        pd.concat(
            [
                table,
                study.localisation({"half": (on_cause + elsewhere) / 2}, sample),
            ],
            ignore_index=True,
        ),
        200,
        0,
    )
    assert cause["spearman"]["value"] == pytest.approx(-1.0)


def test_prior_maps_are_image_blind():
    sample = _toy_sample(n=3)
    boxes = np.array([[8.0, 8.0, 24.0, 24.0]] * 5)
    priors = study.prior_maps(sample, boxes, seed=0)
    assert set(priors) == set(study.PRIORS)
    for values in priors.values():
        assert values.shape == (3, 5, 32, 32)
        assert np.allclose(values[:, 0], values[:, 4])  # the same map for every trait
    assert np.allclose(priors["centre prior"][0], priors["centre prior"][2])
    assert not np.allclose(priors["random map"][0], priors["random map"][1])


@pytest.fixture(scope="module")
def smoke_study(smoke_dataset):
    settings = AttributionSettings(
        images=4,
        removal_images=2,
        ig_steps=2,
        window=16,
        stride=16,
        patch=16,
        steps=2,
        random_orders=2,
    )
    cam = tiny_cam_model("cam_fig4", size=32, seed=0)
    models = [
        leaderboard.Model("CAM model", "frames", [cam], [None]),
        leaderboard.Model(
            "DAN+", "frames", [tiny_danplus(0, 32), tiny_danplus(1, 32)], [None, None]
        ),
        leaderboard.Model("DAN+ (faces)", "faces", [tiny_danplus(2, 32)], [None], removal=False),
    ]
    controls = {
        "no_poster": tiny_cam_model("cam_fig4", size=32, seed=1),
        "random_init": tiny_cam_model("cam_fig4", size=32, seed=2),
    }
    return leaderboard.run(smoke_dataset, models, controls, settings, n_boot=50, seed=0)


def test_run_on_the_smoke_set(smoke_study, smoke_dataset):
    result = smoke_study
    assert set(result.tables) == {"CAM model", "DAN+", "DAN+ (faces)"}
    scores = result.scores()
    # Every method ran on the CAM model; DAN+ has no CAM head; the image-blind maps are
    # shown once per source.
    methods = scores.groupby("model")["method"].agg(set)
    assert methods["CAM model"] == set(ATTRIBUTION_METHODS)
    assert methods["image-blind (frames)"] == methods["image-blind (faces)"] == set(study.PRIORS)
    assert "CAM" not in set(scores[scores["model"] == "DAN+"]["method"])
    # Face crops hold no poster: openness has no planted region there.
    faces = scores[(scores["model"] == "DAN+ (faces)") & (scores["trait"] == "openness")]
    assert faces["mass"].isna().all()
    # Removal: both fills, each map and trait, with a random-order band around 0.
    removal = result.removal_table()
    assert set(removal["fill"]) == {"training mean", "blur"}
    assert set(removal["model"]) == {"CAM model", "DAN+"}
    assert (removal["null_low"] <= removal["null_high"]).all()
    measured = result.measurements(smoke_dataset, {t: 0.5 for t in TRAITS}, {})
    assert measured["context_trait"] == "openness"
    assert set(measured["false_positive_drop"]) == set(ATTRIBUTION_METHODS)
    assert set(measured["backbone_gain"]) == set(ATTRIBUTION_METHODS)
    assert set(measured["randomisation_drop"]["Grad-CAM"]) == set(TRAITS)
    record = result.record()
    cell = record["scores"]["CAM model"]["Integrated Gradients"]["openness"]
    assert {"relevance_mass", "rank_accuracy", "pointing_game", "srg"} <= set(cell)
    assert {"false_positive_drop", "randomisation"} <= set(cell)
    assert set(cell["srg"]) == {"training mean", "blur"}


def test_maps_are_cached(smoke_dataset, tmp_path):
    settings = AttributionSettings(images=2, ig_steps=2, window=16, stride=16, patch=16)
    model = tiny_danplus(0, 32)
    sample = study.sample(smoke_dataset, "frames", 2, 32, seed=0)
    baseline = study.training_mean(smoke_dataset, "frames", 32, limit=8)
    first = study.model_maps(model, sample, ["Saliency"], settings, baseline, tmp_path)
    saved = list((tmp_path / "attribution").glob("*.npz"))
    assert len(saved) == 1
    calls = []
    again = study.model_maps(
        model, sample, ["Saliency"], settings, baseline, tmp_path, progress=calls.append
    )
    assert calls == [] and np.array_equal(first["Saliency"], again["Saliency"])
    # Another model (different weights) does not read this one's maps.
    other = study.model_maps(
        tiny_danplus(1, 32),
        sample,
        ["Saliency"],
        settings,
        baseline,
        tmp_path,
        progress=calls.append,
    )
    assert calls == ["Saliency"] and not np.array_equal(other["Saliency"], first["Saliency"])
