"""Tests of personality_utils.summary on small hand-written results files."""

from __future__ import annotations

import json

import pytest

from personality_utils import results, summary
from personality_utils.data import TRAITS

PER_TRAIT = dict(zip(TRAITS, (0.90, 0.89, 0.88, 0.87, 0.86)))


def _write(folder, stem, profile="smoke", data="synthetic (seed 0)", **values):
    results.save_results(stem, values, profile=profile, data=data, directory=folder)


def _by_key(records):
    return {record["key"]: record for record in records}


def _chapter(stem, **values):
    return {"notebook": stem, "profile": "smoke", "data": "synthetic (seed 0)", **values}


def test_missing_and_corrupt_chapters_are_not_run(tmp_path):
    _write(tmp_path, "03_full_frames", mean_accuracy=0.9)
    (tmp_path / "04_faces_model.json").write_text("{not json")
    chapters = summary.load_chapters(tmp_path)
    assert list(chapters) == list(summary.CHAPTERS)
    assert chapters["03_full_frames"]["mean_accuracy"] == 0.9
    assert chapters["04_faces_model"] is None and chapters["07_action_units"] is None
    records = _by_key(summary.evaluate_claims(chapters))
    assert records["faces_beat_constant"]["status"] == "not run"
    assert records["faces_beat_constant"]["held"] is None
    # run, but without the constant: incomplete, naming the key, never an exception
    frames = records["frames_beat_constant"]
    assert (
        frames["status"].startswith("incomplete")
        and "constant_baseline_accuracy" in frames["status"]
    )
    assert frames["profile"] == "smoke" and frames["data"] == "synthetic (seed 0)"


@pytest.mark.parametrize(("low", "held"), [(0.881, True), (0.879, False)])
def test_beating_the_constant_needs_the_interval_above_it(low, held):
    chapters = {
        "03_full_frames": _chapter(
            "03_full_frames",
            mean_accuracy=0.89,
            mean_accuracy_interval=[low, 0.9],
            constant_baseline_accuracy=0.88,
            per_trait_accuracy=PER_TRAIT,
        )
    }
    record = _by_key(summary.evaluate_claims(chapters))["frames_beat_constant"]
    assert record["held"] is held
    assert record["ours"] == 0.89 and record["baseline"] == 0.88 and record["paper"] == 0.909
    assert record["status"] == ("held" if held else "did not hold")


def test_faces_against_frames_uses_the_paired_interval_and_every_trait():
    better = {trait: value + 0.01 for trait, value in PER_TRAIT.items()}
    better["neuroticism"] = PER_TRAIT["neuroticism"] - 0.01
    chapters = {
        "03_full_frames": _chapter("03_full_frames", per_trait_accuracy=PER_TRAIT),
        "04_faces_model": _chapter(
            "04_faces_model",
            per_trait_accuracy=better,
            paired_difference_faces_minus_frames={
                "difference": 0.004,
                "low": -0.001,
                "high": 0.009,
                "clips": 10,
            },
        ),
    }
    records = _by_key(summary.evaluate_claims(chapters))
    assert records["faces_beat_frames"]["held"] is False  # the interval contains 0
    assert records["faces_beat_frames"]["paper"] == pytest.approx(0.003)
    every = records["faces_better_every_trait"]
    assert every["paper"] == 5 and every["ours"] == 4 and every["held"] is False
    assert "neuroticism" not in every["evidence"]
    chapters["03_full_frames"] = None
    assert _by_key(summary.evaluate_claims(chapters))["faces_better_every_trait"][
        "status"
    ].startswith("incomplete")


def _cam(**changes):
    values = {
        "overlap_ge_0_9_share": {"all": 0.6},
        "overlap_ge_0_9_share_interval": [0.5, 0.7],
        "mean_overlap": {"all": 0.8, "openness": 0.5},
        "mean_overlap_interval": [0.75, 0.85],
        "centre_prior_mean_overlap": 0.77,
        "centre_prior_share_ge_0_9": 0.4,
        "random_map_mean_overlap": 0.3,
        "randomized_rank_correlation": {
            "CAM model": {"trained": 1.0, "head": 0.9, "conv1_1": 0.1},
            "DAN+ Grad-CAM": {"trained": 1.0, "conv1_1": 0.6},
        },
        "face_region_trait_difference": {
            "p_value": 0.2,
            "largest_spread_region": "eyes",
            "largest_spread": 0.1,
        },
        "ground_truth": {
            "openness": {"planted outside the face": 0.7, "mean overlap (top frames)": 0.5},
            "extraversion": {"planted outside the face": 0.0, "mean overlap (top frames)": 0.9},
        },
    }
    values.update(changes)
    return {"05_cam": _chapter("05_cam", **values)}


def test_cam_claims_against_image_blind_baselines():
    records = _by_key(summary.evaluate_claims(_cam()))
    assert records["cam_share_ge_0_9"]["held"] is True
    assert records["cam_share_ge_0_9"]["baseline"] == 0.4
    # the interval's low end (0.75) is below the centre prior (0.77): not held
    assert records["cam_above_centre_prior"]["held"] is False
    assert records["cam_above_random"]["held"] is True
    # the Grad-CAM maps still correlate 0.6 after full randomisation
    assert records["cam_sanity_check"]["held"] is False
    assert records["cam_sanity_check"]["ours"] == 0.6
    assert records["cam_finds_context"]["held"] is True
    assert "openness" in records["cam_finds_context"]["evidence"]
    assert records["cam_face_parts_same"]["held"] is True


def test_cam_on_real_data_has_no_ground_truth_test():
    chapters = _cam()
    del chapters["05_cam"]["ground_truth"]
    record = _by_key(summary.evaluate_claims(chapters))["cam_finds_context"]
    assert record["held"] is None and record["status"] == "not testable here"


def _units(**changes):
    values = {
        "top_n": 50,
        "units_per_region_top5": {
            "eyebrows": [{"unit": 1, "n_prime": 0}],
            "eyes": [{"unit": 3, "n_prime": 40}, {"unit": 4, "n_prime": 30}],
            "mouth": [{"unit": 5, "n_prime": 20}],
        },
        "units_per_region_top5_random": {
            "eyebrows": [{"unit": 1, "n_prime": 0}],
            "eyes": [{"unit": 9, "n_prime": 35}],
            "mouth": [{"unit": 8, "n_prime": 25}],
        },
        # deliberately not in depth order: the trend must sort by depth
        "layer_entropy": {"conv5_3": 3.0, "conv1_1": 5.5, "conv3_1": 4.5, "conv2_1": 5.0},
        "iou_detectors_per_region": {
            "conv5_3 trained": {"eyes": 3, "mouth": 1},
            "conv5_3 random weights": {"eyes": 1, "mouth": 0},
        },
        "glasses_precision_at_n": {
            "precision": 0.6,
            "base_rate": 0.2,
            "units_significant": 2,
            "random_units_significant": 0,
        },
        "verdicts": [{"claim": "something", "holds": True, "evidence": "numbers"}],
    }
    values.update(changes)
    return {"06_units": _chapter("06_units", **values)}


def test_unit_claims():
    records = _by_key(summary.evaluate_claims(_units()))
    emerge = records["units_face_parts"]
    assert emerge["held"] is False  # the mouth's best trained unit (20) is below random (25)
    assert "no cells: eyebrows" in emerge["evidence"]
    depth = records["units_spikier_with_depth"]
    assert depth["ours"] == pytest.approx(-1.0) and depth["held"] is True
    assert records["units_netdissect"]["ours"] == 4 and records["units_netdissect"]["held"]
    glasses = records["units_glasses"]
    assert glasses["held"] is True and glasses["ours"] == 2 and glasses["baseline"] == 0
    assert "base rate 0.20" in glasses["evidence"]


def test_unit_claims_degrade():
    more_random = _units()
    more_random["06_units"]["glasses_precision_at_n"]["random_units_significant"] = 3
    # a random network with more glasses units than the trained one: not held
    assert _by_key(summary.evaluate_claims(more_random))["units_glasses"]["held"] is False
    chapters = _units(
        glasses_precision_at_n={},
        entropy_depth_spearman={"trained": 0.3, "random weights": -0.2},
    )
    del chapters["06_units"]["iou_detectors_per_region"]
    records = _by_key(summary.evaluate_claims(chapters))
    assert records["units_glasses"]["held"] is None
    # a saved trend wins over recomputing it
    assert records["units_spikier_with_depth"]["held"] is False
    assert records["units_spikier_with_depth"]["baseline"] == -0.2
    assert "iou_detectors_per_region" in records["units_netdissect"]["status"]


def _aus(**changes):
    rows = [
        {"AU": "AU12", "unit": 108, "intersection": 10, "p": 1e-4},
        {"AU": "AU15", "unit": 220, "intersection": 9, "p": 1e-3},
        {"AU": "AU01", "unit": 159, "intersection": 6, "p": 0.04},
        {"AU": "AU14", "unit": 1, "intersection": 50, "p": None},  # not scored: left out
    ]
    values = {
        "table2": rows,
        "au_model_accuracy": 0.885,
        "constant_baseline_accuracy": 0.88,
        "cnn_accuracy": 0.9,
        "estimator_correlation": {"AU01": 0.9, "AU02": 0.5, "AU14": None},
    }
    values.update(changes)
    return {"07_action_units": _chapter("07_action_units", **values)}


def test_action_unit_claims():
    records = _by_key(summary.evaluate_claims(_aus()))
    significant = records["table2_significant"]
    # Bonferroni over 3 AUs: 0.04 > 0.05 / 3 does not count
    assert significant["ours"] == 2 and significant["held"] is True
    assert significant["paper"] == 3  # AU12, AU15, AU23 in the paper's Table 2
    assert records["table2_lip_corners"]["ours"] == "AU12"
    assert records["table2_lip_corners"]["held"] is True
    assert records["table2_lip_corners"]["paper"] == "AU12, AU15"
    assert records["au_model_beats_constant"]["held"] is True
    near = records["au_model_near_cnn"]
    assert near["ours"] == pytest.approx(0.25) and near["held"] is False
    assert near["paper"] == pytest.approx((0.886 - 0.8814) / (0.912 - 0.8814))
    estimator = records["au_estimator_tracks_truth"]
    assert estimator["ours"] == pytest.approx(0.7) and estimator["held"] is True


def test_table2_other_shapes_and_a_cnn_below_the_constant():
    table = {
        "AU12": {"unit": 1, "overlap": "5/50", "p_value": 0.9},
        "AU45": {"unit": 2, "overlap": "7/50", "p_value": 0.08},
    }
    chapters = _aus(table2=table, cnn_accuracy=0.87)
    records = _by_key(summary.evaluate_claims(chapters))
    assert records["table2_significant"]["held"] is False
    assert records["table2_lip_corners"]["ours"] == "AU45"
    assert records["table2_lip_corners"]["held"] is False
    assert records["au_model_near_cnn"]["held"] is None
    # a tie between a lip-corner AU and another one does not count as the lip corners winning
    tied = {**table, "AU15": {"unit": 3, "overlap": "7/50", "p_value": 0.08}}
    record = _by_key(summary.evaluate_claims(_aus(table2=tied)))["table2_lip_corners"]
    assert record["ours"] == "AU15, AU45" and record["held"] is False


def test_provenance_verdicts_and_mixed_data():
    chapters = {**_units(), **_aus(), "05_cam": None}
    chapters["07_action_units"]["profile"] = "default"
    chapters["07_action_units"]["data"] = "First Impressions at /data"
    table = summary.provenance(chapters, profile="smoke")
    assert table.loc["05_cam", "status"] == "not run"
    assert table.loc["06_units", "same profile"] is True
    assert table.loc["07_action_units", "same profile"] is False
    assert summary.summary_data(chapters).startswith("mixed: ")
    assert summary.summary_data({"06_units": chapters["06_units"]}) == "synthetic (seed 0)"
    verdicts = summary.chapter_verdicts(chapters)
    assert verdicts.to_dict("records") == [
        {"chapter": "06_units", "claim": "something", "holds": True, "evidence": "numbers"}
    ]


def test_table1_rows_and_figures():
    constant = {**{trait: 0.87 for trait in TRAITS}, "mean": 0.87}
    chapters = {
        "01_data": _chapter("01_data", constant_baseline_test=constant),
        "03_full_frames": _chapter(
            "03_full_frames", mean_accuracy=0.88, per_trait_accuracy=PER_TRAIT
        ),
        "04_faces_model": None,
    }
    table = summary.table1_rows(chapters)
    assert list(table.index) == [
        "[23] NJU-LAMDA, audio+video (paper)",
        "img (full frames) (paper)",
        "face (paper)",
        "img (ours)",
        "constant (ours, training mean)",
    ]
    assert table.loc["img (ours)", "O"] == 0.90 and table.loc["img (ours)", "N"] == 0.86
    assert table.loc["constant (ours, training mean)", "MA"] == 0.87
    assert table.loc["face (paper)", "E"] == 0.915
    figure = summary.table1_figure(table)
    assert len(figure.data) == len(table)
    records = summary.evaluate_claims(chapters)
    claims_figure = summary.claims_figure(records)
    plotted = [claim for claim in summary.CLAIMS if claim.plot]
    assert [len(trace.x) for trace in claims_figure.data] == [len(plotted)] * 3
    # chapter 05 did not run: ours is empty but the paper's bar is there
    share = [claim.key for claim in plotted].index("cam_share_ge_0_9")
    assert claims_figure.data[0].y[share] == 0.728 and claims_figure.data[1].y[share] is None


def test_records_are_json_and_format_value():
    records = summary.evaluate_claims({**_cam(), **_aus()})
    json.dumps(records)
    assert {record["held"] for record in records} <= {True, False, None}
    assert summary.format_value(None) == "—"
    assert summary.format_value(3.0) == "3"
    assert summary.format_value(9.32e-5) == "9.32e-05"
    assert summary.format_value(0.87254) == "0.8725"
    frame = summary.claims_frame(records)
    assert len(frame) == len(summary.CLAIMS)
    assert set(frame.index) == {"3", "4", "5", "6", "7"}
    lines = summary.evidence_lines(records)
    assert lines[0].startswith("ch. 3 · full frames MA [not run]: chapter 03_full_frames has")
    share = next(line for line in lines if "CAM share" in line)
    assert share.startswith("ch. 5 · CAM share overlap ≥ 0.9 [held]: share 0.6000 [0.5000, 0.7")
    assert share.endswith("(profile smoke)")


def test_au_model_prefers_the_paired_interval_and_real_data_has_no_estimator_check():
    paired = {"AU model − constant": {"difference": 0.005, "low": -0.001, "high": 0.01}}
    chapters = _aus(
        accuracy_differences=paired,
        estimator_correlation={},
        significant_aus={"frames_formula": 2, "frames_bh": 1},
    )
    records = _by_key(summary.evaluate_claims(chapters))
    # the accuracies alone (0.885 > 0.88) would say held; the paired interval contains 0
    assert records["au_model_beats_constant"]["held"] is False
    assert "[-0.0010, +0.0100]" in records["au_model_beats_constant"]["evidence"]
    assert records["au_estimator_tracks_truth"]["status"] == "not testable here"
    assert "frames_bh 1" in records["table2_significant"]["evidence"]
    assert records["table2_clip_level"]["status"].startswith("incomplete")
    counts = {"frames_formula": 10, "frames_bh": 10, "clips_permutation_bh": 0}
    clip = _by_key(summary.evaluate_claims(_aus(significant_aus=counts)))["table2_clip_level"]
    assert clip["held"] is False and clip["ours"] == 0
    assert clip["evidence"].endswith("with every frame (formula): 10")
    counts["first_face_formula"] = 3
    clip = _by_key(summary.evaluate_claims(_aus(significant_aus=counts)))["table2_clip_level"]
    assert clip["evidence"].endswith("one face per clip, as the paper (formula): 3")


def test_claims_figure_axis_holds_a_share_above_one():
    records = summary.evaluate_claims(_aus(au_model_accuracy=0.95))  # (0.95-0.88)/(0.9-0.88) = 3.5
    share = next(r for r in records if r["key"] == "au_model_near_cnn")
    assert share["ours"] == pytest.approx(3.5) and share["held"] is True
    low, high = summary.claims_figure(records).layout.yaxis.range
    assert low == 0 and high >= 3.5
