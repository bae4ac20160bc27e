"""Tests of personality_utils.claims and verdicts: the four-valued rules, each chapter's judges
on small hand-written measurement records, and one code path for a chapter and the summary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from personality_utils import claims, stats
from personality_utils.data import TRAITS

HELD, NOT_HELD, INCONCLUSIVE, UNTESTABLE = claims.VERDICTS


def _by_key(rows):
    return {row["key"]: row for row in rows}


def _judge(chapter, measurements, synthetic=True):
    return _by_key(claims.judge(c, measurements, synthetic) for c in claims.claims_of(chapter))


def _models(gain=(0.01, 0.005, 0.015), **extra):
    return {
        "accuracy": stats.estimate(0.89, 0.88, 0.90),
        "constant": 0.89 - gain[0],  # the gain is the paired difference on the same clips
        "gain_over_constant": stats.estimate(*gain),
        **extra,
    }


@pytest.mark.parametrize(
    ("gain", "verdict"),
    [
        ((0.01, 0.005, 0.015), HELD),
        ((0.002, -0.001, 0.005), INCONCLUSIVE),
        ((-0.01, -0.02, -0.001), NOT_HELD),
    ],
)
def test_beating_the_constant_uses_the_paired_interval(gain, verdict):
    row = _judge("03_full_frames", _models(gain))["frames_beat_constant"]
    assert row["verdict"] == verdict and row["ours"] == 0.89
    assert row["baseline"] == pytest.approx(0.89 - gain[0])
    assert "paired difference" in row["evidence"]
    assert (
        _judge("03_full_frames", _models())["video_close_to_audio_video"]["verdict"] == UNTESTABLE
    )


def test_faces_against_frames_every_trait_and_new_identities():
    per_trait = {t: stats.estimate(0.01, 0.002, 0.02) for t in TRAITS}
    base = _models(
        faces_minus_frames=stats.estimate(0.01, 0.004, 0.02),
        faces_minus_frames_per_trait=per_trait,
    )
    rows = _judge("04_faces_model", base)
    assert rows["faces_beat_frames"]["verdict"] == HELD
    assert rows["faces_better_every_trait"]["verdict"] == HELD
    assert rows["faces_better_every_trait"]["ours"] == 5
    # No identity-disjoint subset: not testable, never an error.
    assert rows["faces_identity_disjoint"]["verdict"] == UNTESTABLE
    per_trait["openness"] = stats.estimate(0.0, -0.01, 0.01)
    assert _judge("04_faces_model", base)["faces_better_every_trait"]["verdict"] == INCONCLUSIVE
    per_trait["openness"] = stats.estimate(-0.02, -0.03, -0.01)
    assert _judge("04_faces_model", base)["faces_better_every_trait"]["verdict"] == NOT_HELD
    base.update(identity_disjoint_gain=stats.estimate(0.02, 0.01, 0.03), identity_disjoint_clips=17)
    row = _judge("04_faces_model", base)["faces_identity_disjoint"]
    assert row["verdict"] == HELD and "17 clips" in row["evidence"]


def _cam(**changes):
    measurements = {
        "share_ge_0_9": stats.estimate(0.6, 0.55, 0.7),
        "mean_overlap": stats.estimate(0.7, 0.65, 0.75),
        "centre_prior_share": 0.3,
        "cam_minus_centre_prior": stats.estimate(0.1, 0.05, 0.15),
        "cam_minus_random_map": stats.estimate(0.4, 0.35, 0.45),
        "randomised_rank_correlation": {"CAM model": 0.02, "DAN+ Grad-CAM": 0.1},
        "part_spread": stats.estimate(0.02, 0.01, 0.03),
        "part_spread_region": "mouth",
        "part_difference_p": 0.4,
        "context_trait": "openness",
        "overlap_by_trait": {"openness": 0.1, "extraversion": 0.5},
        "poster_energy_by_trait": {"openness": 0.1, "extraversion": 0.03},
        "flat_poster_energy": 0.04,
        "face_driven_traits": ["extraversion", "neuroticism"],
        "occlusion_face_minus_off_face": {
            "extraversion": stats.estimate(0.02, 0.01, 0.03),
            "neuroticism": stats.estimate(0.01, 0.002, 0.02),
            "openness": stats.estimate(-0.01, -0.02, -0.005),  # not face-driven: not asked
        },
        "occlusion_poster_minus_face": {"openness": stats.estimate(0.03, 0.01, 0.05)},
        "occlusion_context_trait": "openness",
        "face_only_minus_context_only": stats.estimate(0.01, 0.004, 0.02),
        "deletion_cam_minus_random": {t: stats.estimate(-0.1, -0.2, -0.05) for t in TRAITS},
        "deletion_cam_minus_centre_prior": {t: stats.estimate(-0.1, -0.2, -0.05) for t in TRAITS},
    }
    measurements.update(changes)
    return measurements


def test_cam_claims():
    rows = _judge("05_cam", _cam())
    assert {key: row["verdict"] for key, row in rows.items()} == {
        "cam_share_ge_0_9": HELD,
        "cam_above_centre_prior": HELD,
        "cam_above_random": HELD,
        "cam_sanity_check": HELD,
        "cam_finds_context": HELD,
        "cam_finds_poster": HELD,
        "cam_face_parts_same": HELD,
        "occlusion_face": HELD,
        "occlusion_poster": HELD,
        "face_alone_beats_context": HELD,
        "deletion_cam_beats_random": HELD,
        "deletion_cam_beats_centre": HELD,
    }
    assert rows["occlusion_face"]["ours"] == 2 and rows["occlusion_face"]["baseline"] == 2
    # "Most maps overlap the face" must also beat what a centre prior gets.
    rows = _judge("05_cam", _cam(centre_prior_share=0.8))
    assert rows["cam_share_ge_0_9"]["verdict"] == NOT_HELD
    # A difference between traits too uncertain to bound is no evidence of sameness, however
    # large the p-value (the rule the summary used to apply).
    wide = _cam(part_spread=stats.estimate(0.04, 0.01, 0.2), part_difference_p=0.9)
    assert _judge("05_cam", wide)["cam_face_parts_same"]["verdict"] == INCONCLUSIVE
    far = _cam(part_spread=stats.estimate(0.2, 0.1, 0.3), part_difference_p=0.001)
    assert _judge("05_cam", far)["cam_face_parts_same"]["verdict"] == NOT_HELD
    real = _cam()
    for key in ("context_trait", "overlap_by_trait", "poster_energy_by_trait"):
        real.pop(key)
    assert _judge("05_cam", real, synthetic=False)["cam_finds_context"]["verdict"] == UNTESTABLE
    # A NaN measurement is "not testable here", never "did not hold".
    nan = _cam(cam_minus_random_map=stats.estimate(float("nan"), None, None))
    assert _judge("05_cam", nan)["cam_above_random"]["verdict"] == UNTESTABLE


def test_causal_claims_read_every_trait_interval():
    straddles = _cam()
    straddles["occlusion_face_minus_off_face"]["neuroticism"] = stats.estimate(0.0, -0.01, 0.01)
    assert _judge("05_cam", straddles)["occlusion_face"]["verdict"] == INCONCLUSIVE
    below = _cam()
    below["occlusion_face_minus_off_face"]["neuroticism"] = stats.estimate(-0.02, -0.03, -0.01)
    assert _judge("05_cam", below)["occlusion_face"]["verdict"] == NOT_HELD
    # The poster-driven trait answering the face more than the poster: the method's failure.
    face = _cam(occlusion_poster_minus_face={"openness": stats.estimate(-0.02, -0.03, -0.01)})
    assert _judge("05_cam", face)["occlusion_poster"]["verdict"] == NOT_HELD
    deletion = _cam()
    deletion["deletion_cam_minus_random"]["openness"] = stats.estimate(0.05, 0.01, 0.1)
    assert _judge("05_cam", deletion)["deletion_cam_beats_random"]["verdict"] == NOT_HELD
    # Real data: no poster, every trait face-driven.
    real = _cam(face_driven_traits=list(TRAITS))
    real["occlusion_face_minus_off_face"] = {t: stats.estimate(0.01, 0.005, 0.02) for t in TRAITS}
    for key in ("occlusion_poster_minus_face", "occlusion_context_trait"):
        real.pop(key)
    rows = _judge("05_cam", real, synthetic=False)
    assert rows["occlusion_poster"]["verdict"] == UNTESTABLE
    assert rows["occlusion_face"]["verdict"] == HELD and rows["occlusion_face"]["ours"] == 5


def _units(**changes):
    measurements = {
        "units_above_random": {"conv5_3": {"eyes": 2, "mouth": 1}, "conv4_3": {"eyes": 0}},
        "best_n_prime_share": {"conv5_3": {"eyes": 0.9, "mouth": 1.0}, "conv4_3": {"eyes": 0.5}},
        "random_best_n_prime_share": {
            "conv5_3": {"eyes": 0.8, "mouth": 0.7},
            "conv4_3": {"eyes": 0.6},
        },
        "entropy_depth_spearman": {"trained": -0.3, "random": 0.9},
        "deepest_entropy": {"trained": 4.0, "random": 5.0},
        "netdissect_detectors": {"trained": 3, "random": 1},
        "glasses_units": {"trained": 5, "random": 6},
        "glasses_best_p_layer": 1e-4,
        "planted_cues": {
            trait: {"cue": "mouth", "top": 0.3, "all": 0.1, "p": 0.01, "q": 0.03, "r2": 0.3}
            for trait in TRAITS
        },
        "ablation_min_q": {
            "eyes & brows": {"q": 0.01, "trait": "neuroticism", "ratio": 3.0},
            "mouth": {"q": 0.02, "trait": "extraversion", "ratio": 2.5},
        },
        "ablation_planted_agreement": {
            "spearman": 0.6,
            "spearman_p": 0.01,
            "matched": 2,
            "cues": 2,
        },
    }
    measurements.update(changes)
    return measurements


def test_unit_ablation_claims():
    rows = _judge("06_units", _units())
    assert rows["units_ablation_causal"]["verdict"] == HELD
    assert rows["units_ablation_planted"]["verdict"] == HELD
    weak = _units()
    weak["ablation_min_q"]["mouth"]["q"] = 0.3  # one labelled set moves nothing beyond random
    assert _judge("06_units", weak)["units_ablation_causal"]["verdict"] == NOT_HELD
    unrelated = _units(
        ablation_planted_agreement={"spearman": 0.1, "spearman_p": 0.6, "matched": 0, "cues": 2}
    )
    assert _judge("06_units", unrelated)["units_ablation_planted"]["verdict"] == NOT_HELD
    real = _units()
    real.pop("ablation_planted_agreement")
    assert _judge("06_units", real, synthetic=False)["units_ablation_planted"]["verdict"] == (
        UNTESTABLE
    )


def test_unit_claims():
    measurements = _units()
    measurements["planted_cues"]["openness"]["r2"] = 0.05
    measurements["planted_cues"]["neuroticism"]["q"] = 0.2
    rows = _judge("06_units", measurements)
    assert rows["units_face_parts"]["verdict"] == HELD
    assert rows["units_face_parts_conv4_3"]["verdict"] == NOT_HELD
    assert rows["units_spikier_with_depth"]["verdict"] == HELD
    assert rows["units_deepest_spikier"]["verdict"] == HELD
    assert rows["units_netdissect"]["verdict"] == HELD
    assert rows["units_glasses"]["verdict"] == HELD
    assert rows["units_glasses_learned"]["verdict"] == NOT_HELD
    assert rows["units_carry_cue_openness"]["verdict"] == UNTESTABLE  # barely learned
    assert rows["units_carry_cue_neuroticism"]["verdict"] == NOT_HELD
    assert rows["units_carry_cue_extraversion"]["verdict"] == HELD
    assert rows["units_carry_cue_extraversion"]["reading"] == "check of the method (planted)"
    assert rows["units_face_parts"]["reading"] == "finding"
    assert rows["units_netdissect"]["reading"] == "check of the method"
    no_cells = _units(units_above_random={"conv5_3": {}, "conv4_3": {}})
    assert _judge("06_units", no_cells)["units_face_parts"]["verdict"] == UNTESTABLE


def test_emergence_claims_read_the_pretrained_network_first():
    """Trained beats random weights everywhere but not the network before fine-tuning: every
    emergence claim did not hold; without a pretrained network the same rules fall back on the
    random one and say so."""
    pretrained = _units(
        units_above_random={"conv5_3": {"eyes": 2, "mouth": 1}, "conv4_3": {"eyes": 3}},
        units_above_pretrained={"conv5_3": {"eyes": 0, "mouth": 1}, "conv4_3": {"eyes": 0}},
        pretrained_best_n_prime_share={
            "conv5_3": {"eyes": 0.95, "mouth": 0.8},
            "conv4_3": {"eyes": 0.7},
        },
        entropy_depth_spearman={"trained": -0.3, "pretrained": -0.4, "random": 0.9},
        deepest_entropy={"trained": 4.0, "pretrained": 3.5, "random": 5.0},
        netdissect_detectors={"trained": 3, "pretrained": 4, "random": 1},
        glasses_units={"trained": 5, "pretrained": 7, "random": 1},
    )
    emergence = (
        "units_face_parts",
        "units_face_parts_conv4_3",
        "units_deepest_spikier",
        "units_netdissect",
        "units_glasses_learned",
    )
    rows = _judge("06_units", pretrained)
    for key in emergence:
        assert rows[key]["verdict"] == NOT_HELD, key
        assert "pretrained before fine-tuning" in rows[key]["evidence"], key
        assert "random" in rows[key]["evidence"], key  # the random comparison is still reported
        assert "no pretrained network" not in rows[key]["evidence"], key
    assert rows["units_netdissect"]["baseline"] == 4  # the pretrained network's count
    assert rows["units_face_parts"]["baseline"] == pytest.approx(0.95)
    assert "eyes 0 (best 0.90 vs 0.95)" in rows["units_face_parts"]["evidence"]
    assert (
        "above the best random-weight unit: eyes 2, mouth 1"
        in (rows["units_face_parts"]["evidence"])
    )
    assert rows["units_spikier_with_depth"]["baseline"] == pytest.approx(-0.4)
    assert "before fine-tuning -0.40" in rows["units_spikier_with_depth"]["evidence"]
    # Fine-tuning beating the pretrained network holds, whatever the random network does.
    better = dict(pretrained)
    better.update(
        netdissect_detectors={"trained": 3, "pretrained": 2, "random": 9},
        units_above_pretrained={"conv5_3": {"eyes": 1, "mouth": 1}, "conv4_3": {"eyes": 1}},
        units_above_random={"conv5_3": {"eyes": 0, "mouth": 0}, "conv4_3": {"eyes": 0}},
    )
    rows = _judge("06_units", better)
    assert rows["units_netdissect"]["verdict"] == HELD
    assert rows["units_face_parts"]["verdict"] == HELD
    assert rows["units_face_parts_conv4_3"]["verdict"] == HELD
    # No pretrained network (trained from random weights): the random one is the null.
    rows = _judge("06_units", _units())
    for key in emergence:
        assert "no pretrained network: judged against random weights" in rows[key]["evidence"]
    assert rows["units_netdissect"]["verdict"] == HELD and rows["units_netdissect"]["baseline"] == 1
    assert rows["units_spikier_with_depth"]["baseline"] == pytest.approx(0.9)
    # As saved: a pretrained entry of None (JSON null) is no pretrained network either.
    saved = _units(glasses_units={"trained": 5, "pretrained": None, "random": 1})
    row = _judge("06_units", saved)["units_glasses_learned"]
    assert row["verdict"] == HELD and "no pretrained network" in row["evidence"]
    aus = _aus(mean_best_k={"trained": 4.0, "pretrained": 4.5, "random": 3.5})
    row = _judge("07_action_units", aus)["table2_random_network"]
    assert row["verdict"] == NOT_HELD and row["baseline"] == 4.5


def _aus(**changes):
    measurements = {
        "aus_tested": 16,
        "significant_aus": ["AU12"],
        "paper_aus_q": {"AU12": 0.01, "AU15": 0.3, "AU23": 0.02},
        "significant_aus_every_frame": ["AU04", "AU12"],
        "significant_aus_clip_level": [],
        "mean_best_k": {"trained": 4.0, "random": 3.5},
        "best_matched_aus": ["AU12", "AU15"],
        "au_model_accuracy": 0.885,
        "constant": 0.88,
        "au_gain_over_constant": stats.estimate(0.005, -0.001, 0.01),
        "au_gain_share": 0.25,
        "cnn_gain": 0.02,
        "estimator_r": 0.2,
        "coefficient_r": 0.7,
        "region_links": {
            "measured AUs": {"observed": 2, "expected": 3.0, "p_value": 0.8, "n_testable": 13},
            "planted AUs": {"observed": 9, "expected": 3.0, "p_value": 0.01, "n_testable": 13},
        },
    }
    measurements.update(changes)
    return measurements


def test_action_unit_claims():
    rows = _judge("07_action_units", _aus())
    verdicts = {key: row["verdict"] for key, row in rows.items()}
    assert verdicts == {
        "table2_significant": HELD,
        "table2_paper_aus": NOT_HELD,
        "table2_every_frame": HELD,
        "table2_clip_level": NOT_HELD,
        "table2_random_network": HELD,
        "table2_lip_corners": HELD,
        "au_model_beats_constant": INCONCLUSIVE,  # 0.885 > 0.88, but the interval contains 0
        "au_model_near_cnn": NOT_HELD,
        "au_estimator_tracks_truth": NOT_HELD,
        "au_coefficients_planted": HELD,
        "au_links_measured": NOT_HELD,
        "au_links_planted": HELD,
    }
    assert "AU12 0.01, AU15 0.3, AU23 0.02" in rows["table2_paper_aus"]["evidence"]
    # The CNN below the constant leaves nothing to recover; real data has no planted AUs.
    real = _aus(cnn_gain=-0.01)
    real.pop("estimator_r")
    rows = _judge("07_action_units", real, synthetic=False)
    assert rows["au_model_near_cnn"]["verdict"] == UNTESTABLE
    assert rows["au_estimator_tracks_truth"]["verdict"] == UNTESTABLE


def test_the_paper_column_comes_from_the_paper_module():
    rows = _by_key(claims.evaluate({}))
    assert rows["frames_beat_constant"]["paper"] == 0.909
    assert rows["cam_share_ge_0_9"]["paper"] == 0.728
    assert rows["table2_significant"]["paper"] == 3  # AU12, AU15, AU23 at p < 0.05
    assert rows["table2_lip_corners"]["paper"] == "AU12, AU15"
    assert rows["au_model_near_cnn"]["paper"] == pytest.approx((0.886 - 0.8814) / (0.912 - 0.8814))
    assert {row["verdict"] for row in rows.values()} == {"not run"}


def test_a_chapter_and_the_summary_give_the_same_rows(capsys):
    measurements = _cam()
    printed = claims.report("05_cam", measurements, synthetic=True)
    output = capsys.readouterr().out
    assert output.count("    rule: ") == len(printed) == len(claims.claims_of("05_cam"))
    assert "[held] most CAMs of the full-frame model overlap the face box by ≥ 0.9" in output
    chapters = {
        "05_cam": {
            "profile": "smoke",
            "data": "synthetic",
            "synthetic": True,
            "measurements": json.loads(json.dumps(measurements)),
            "claims": printed,
        }
    }
    summary_rows = [row for row in claims.evaluate(chapters) if row["chapter"] == "05_cam"]
    for row in summary_rows:
        assert row.pop("profile") == "smoke" and row.pop("data") == "synthetic"
    assert summary_rows == printed
    assert claims.counts(summary_rows) == {HELD: 12}
    json.dumps(summary_rows)
    assert all(np.isfinite(row["paper"]) for row in summary_rows if isinstance(row["paper"], float))
