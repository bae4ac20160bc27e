"""Tests of personality_utils.cam.study on a tiny hand-made test split."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import CAM_SIZE, MISSING_FACE_ROWS, fake_dataset, hand_cam_study, tiny_cam_model

from personality_utils.cam import maps as cam
from personality_utils.cam import study as cam_study
from personality_utils.core import paper, results, stats, verdicts
from personality_utils.core.vocabulary import TRAITS


def test_prepare_maps_both_models_and_picks_the_top_images():
    dataset = fake_dataset()
    frames_model, faces_model = tiny_cam_model(seed=1), tiny_cam_model(seed=2)
    study = cam_study.prepare(dataset, frames_model, faces_model, 2, "frames", "bicubic")
    store = dataset.store("test")
    maps, predictions = cam.class_activation_maps(frames_model, store.frames)
    np.testing.assert_array_equal(study.frame_maps, maps)
    np.testing.assert_array_equal(study.frame_predictions, predictions)
    face_maps, _ = cam.class_activation_maps(faces_model, dataset.faces("test").crops)
    np.testing.assert_array_equal(study.face_maps, face_maps)
    # Ranking frames: only frames with a face box compete.
    for trait in TRAITS:
        assert len(study.top_frames[trait]) == 2
        assert not set(study.top_frames[trait]) & set(MISSING_FACE_ROWS)
        best = np.argmax(np.where(study.has_face, predictions[:, TRAITS.index(trait)], -1))
        assert study.top_frames[trait][0] == best
    assert (study.size, study.face_size, study.grid) == (32, 32, maps.shape[-1])
    assert study.other_ranking == "videos"
    assert "test clips 6, frames 18, with a dlib face box 16" in study.description()


def test_overlap_scores_each_traits_top_frames_and_counts_missing_boxes():
    study = hand_cam_study(top_n=4)
    headline = study.overlap(n_boot=50)
    assert headline.ranking == "videos" and len(headline.scores) == 5 * 4
    # Each map is the map of its own trait, of a frame among that trait's top ones.
    for row, trait, t in zip(headline.rows, headline.scores["trait"], headline.traits, strict=True):
        assert TRAITS[t] == trait and row in study.top_frames[trait]
    expected = cam.score_maps(
        study.frame_maps[headline.rows, headline.traits], study.boxes[headline.rows], CAM_SIZE
    )
    np.testing.assert_allclose(headline.scores["overlap"], expected["overlap"])
    # Videos map their first frame, whatever it shows: clip 0's has no box.
    mapped = set(headline.rows.tolist())
    assert headline.without_box() == len(mapped & set(MISSING_FACE_ROWS))
    assert list(headline.table.index) == ["all", *TRAITS]
    assert headline.table.loc["all", "mean_overlap"] == pytest.approx(
        np.nanmean(expected["overlap"])
    )
    table = headline.with_paper()
    assert table.loc["paper", "share_ge_0_9"] == paper.CAM_OVERLAP_SHARE
    record = headline.record()
    assert record["mapped_frames_without_face"] == headline.without_box()
    assert set(record["mean_overlap"]) == {"all", *TRAITS}
    assert f"left out: {headline.without_box()} mapped frames" in headline.description()
    # The other ranking ranks frames with a face box only.
    check = study.overlap(study.other_ranking, n_boot=50, by=None)
    assert check.ranking == "frames" and list(check.table.index) == ["all"]
    assert check.without_box() == 0 and not set(check.rows.tolist()) & set(MISSING_FACE_ROWS)
    assert check.check_record()["ranking"] == "frames"
    protocols = cam_study.protocol_table(headline, check)
    assert list(protocols.columns) == ["top 4 videos (headline)", "top 4 frames (check)"]
    assert protocols.loc["maps without a face box"].tolist() == [
        int(headline.scores["box_area"].isna().sum()),
        0,
    ]
    assert headline.nothing_activated() == 0  # these maps are positive


def test_maps_left_out_say_why():
    # Frame 1 has no face box; frame 2's map has nothing activated (a NaN overlap with a box).
    scores = pd.DataFrame(
        {
            "row": [1, 1, 2, 3],
            "overlap": [np.nan, np.nan, np.nan, 0.95],
            "box_area": [np.nan, np.nan, 0.2, 0.2],
            "clip": ["a", "a", "b", "c"],
        }
    )
    left_out = cam_study.Overlap("videos", 2, scores, pd.DataFrame())
    assert left_out.without_box() == 1  # distinct frames
    assert left_out.nothing_activated() == 1
    assert "left out: 1 mapped frames without a face box and 1 maps with nothing" in (
        left_out.description()
    )


def test_threshold_curve_is_the_headline_maps_curve():
    study = hand_cam_study()
    headline = study.overlap(n_boot=20)
    curve = study.threshold_curve(headline, fractions=(0.5, 0.8))
    maps = np.stack(
        [
            study.frame_maps[row, TRAITS.index(trait)]
            for row, trait in headline.scores[["row", "trait"]].itertuples(index=False)
        ]
    )
    expected = cam.threshold_curve(maps, study.boxes[headline.rows], CAM_SIZE, fractions=(0.5, 0.8))
    np.testing.assert_allclose(curve["mean_overlap"], expected["mean_overlap"])
    assert curve["label"].tolist()[0] == "CAM model, full frames (raw)"


def test_panels_draw_each_models_top_images():
    study = hand_cam_study(top_n=3)
    panels = study.panels(n=2, display_size=16)
    assert len(panels) == 10 and "faces · openness" in panels
    assert all(len(tiles) == 2 for tiles in panels.values())
    assert panels["full frames · agreeableness"][0].shape == (16, 16, 3)


def test_model_table_reads_each_runs_test_scores():
    def run(accuracy, r2):
        metrics = pd.DataFrame({"accuracy": [accuracy], "r2": [r2]}, index=["mean"])
        return SimpleNamespace(
            test=SimpleNamespace(all=SimpleNamespace(metrics=metrics, constant_accuracy=0.88))
        )

    table = cam_study.model_table({"frames": run(0.9, 0.1), "faces": run(0.91, 0.2)})
    assert table.loc["faces", "test MA"] == 0.91 and table.loc["frames", "mean R²"] == 0.1
    assert (table["constant MA"] == 0.88).all()


def test_measurements_and_record_carry_what_the_claims_and_summary_read():
    from personality_utils.cam import checks
    from personality_utils.cam import randomisation as cam_randomisation

    study = hand_cam_study()
    headline = study.overlap(n_boot=20)
    check = study.overlap(study.other_ranking, n_boot=20, by=None)
    named = {
        name: (study.frame_maps[headline.rows, headline.traits], headline.rows)
        for name in ("CAM model", "centre prior", "random map", "DAN+ Grad-CAM")
    }
    comparison, _ = checks.map_scores(named, study.boxes, study.clips, CAM_SIZE, n_boot=20)
    same = checks.Baselines(
        comparison, {"centre prior": {"value": 0.0}, "random map": {"value": 0.0}}
    )
    stages = pd.DataFrame(
        {
            "stage": ["trained", "head", "trained", "head"],
            "rank_correlation": [1.0, 0.3, 1.0, 0.1],
            "mean_overlap": [0.5, 0.4, 0.6, 0.2],
            "label": ["CAM model", "CAM model", "DAN+ Grad-CAM", "DAN+ Grad-CAM"],
        }
    )
    gaps = {"CAM model": {"head": stats.estimate(0.1, 0.0, 0.2)}}
    randomisation = cam_randomisation.Randomisation(stages, gaps)
    parts = study.face_parts(n_boot=20)
    instruments = {"model gain": verdicts.instrument_check("model gain", 0.01, 0.0, "", low=0.0)}
    measured = cam_study.measurements(
        headline, same, randomisation, parts, instruments=instruments, trait_r2={"openness": 0.2}
    )
    assert set(measured) == {
        "share_ge_0_9",
        "mean_overlap",
        "centre_prior_share",
        "cam_minus_centre_prior",
        "cam_minus_random_map",
        "randomised_rank_correlation",
        "randomised_overlap_gap",
        "part_spread",
        "part_spread_region",
        "part_difference_p",
        "instruments",
        "trait_r2",
    }
    assert measured["randomised_overlap_gap"] == gaps
    assert measured["instruments"] == instruments and measured["trait_r2"] == {"openness": 0.2}
    assert measured["randomised_rank_correlation"] == {"CAM model": 0.3, "DAN+ Grad-CAM": 0.1}
    assert measured["mean_overlap"]["value"] == pytest.approx(
        headline.table.loc["all", "mean_overlap"]
    )
    record = cam_study.results_record(
        study, "cam_fig4", headline, check, same, randomisation, parts
    )
    assert results.RESULT_KEYS["05_cam"] - {"measurements", "claims"} <= set(record)
    assert record["randomized_mean_overlap"]["DAN+ Grad-CAM"] == {"trained": 0.6, "head": 0.2}
    assert record["ranking_check"]["ranking"] == "frames" and "ground_truth" not in record
