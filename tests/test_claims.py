"""Tests of personality_utils.claims.catalogue: each chapter's judges on small hand-written
measurement
records, the instruments and the R² gate, planted answers computed from the generator, every
row re-derived from its own evidence fields, and one code path for a chapter and the summary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from personality_utils.claims import catalogue
from personality_utils.core import stats, verdicts
from personality_utils.core.vocabulary import TRAITS

HELD, NOT_HELD, INCONCLUSIVE, UNTESTABLE = catalogue.VERDICTS


def _by_key(rows):
    return {row["key"]: row for row in rows}


def _judge(chapter, measurements, synthetic=True):
    rows = [catalogue.judge_claim(c, measurements, synthetic) for c in catalogue.claims_of(chapter)]
    for row in rows:  # every row re-derives its verdict from its own evidence fields
        assert verdicts.derive(row) == row["verdict"], row["key"]
    return _by_key(rows)


def _passed(name):
    return {"name": name, "figure": 1.0, "bar": 0.0, "status": "passed", "what": "fine"}


def _failed(name, what):
    return {"name": name, "figure": 0.0, "bar": 0.5, "status": "failed", "what": what}


_INSTRUMENTS = {name: _passed(name) for name in catalogue.INSTRUMENTS}
_R2 = dict.fromkeys(TRAITS, 0.3)


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
        ((0.003, -0.001, 0.007), INCONCLUSIVE),
        ((0.001, -0.002, 0.003), NOT_HELD),  # inside ± 0.005: no gain of interest
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
        "instruments": dict(_INSTRUMENTS),
        "trait_r2": dict(_R2),
        "share_ge_0_9": stats.estimate(0.6, 0.55, 0.7),
        "mean_overlap": stats.estimate(0.7, 0.65, 0.75),
        "centre_prior_share": 0.3,
        "cam_minus_centre_prior": stats.estimate(0.1, 0.05, 0.15),
        "cam_minus_face_prior": stats.estimate(0.08, 0.02, 0.12),
        "randomised_overlap_gap": {
            "CAM model": {
                "head": stats.estimate(0.2, 0.1, 0.3),
                "conv5_3": stats.estimate(0.15, 0.1, 0.2),
            },
            "DAN+ Grad-CAM": {"head": stats.estimate(0.1, 0.06, 0.2)},
        },
        "randomised_rank_correlation": {"CAM model": 0.02, "DAN+ Grad-CAM": 0.1},
        "part_spread": stats.estimate(0.02, 0.01, 0.03),
        "part_spread_region": "mouth",
        "part_difference_p": 0.4,
        "context_trait": "openness",
        "context_overlap_gap": stats.estimate(-0.2, -0.3, -0.1),
        "context_poster_gap": stats.estimate(0.1, 0.05, 0.2),
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
    assert {key: row["verdict"] for key, row in rows.items()} == dict.fromkeys(
        [claim.key for claim in catalogue.claims_of("05_cam")], HELD
    )
    assert rows["occlusion_face"]["ours"] == 2 and rows["occlusion_face"]["baseline"] == 2
    # "Most maps overlap the face" must also beat what a centre prior gets.
    rows = _judge("05_cam", _cam(centre_prior_share=0.8))
    assert rows["cam_share_ge_0_9"]["verdict"] == NOT_HELD
    # A difference between traits too uncertain to bound is no evidence of sameness, however
    # large the p-value.
    wide = _cam(part_spread=stats.estimate(0.04, 0.01, 0.2), part_difference_p=0.9)
    assert _judge("05_cam", wide)["cam_face_parts_same"]["verdict"] == INCONCLUSIVE
    far = _cam(part_spread=stats.estimate(0.2, 0.1, 0.3), part_difference_p=0.001)
    assert _judge("05_cam", far)["cam_face_parts_same"]["verdict"] == NOT_HELD
    real = _cam()
    for key in ("context_trait", "context_overlap_gap", "context_poster_gap"):
        real.pop(key)
    assert _judge("05_cam", real, synthetic=False)["cam_finds_context"]["verdict"] == UNTESTABLE
    # A NaN measurement is "not testable here", never "did not hold".
    nan = _cam(cam_minus_face_prior=stats.estimate(float("nan"), None, None))
    assert _judge("05_cam", nan)["cam_above_face_prior"]["verdict"] == UNTESTABLE


def test_the_sanity_check_reads_the_overlap_of_randomised_maps():
    # Randomised maps overlap the face as much as the trained ones: the overlap does not depend
    # on what was learned, whatever the rank correlation says.
    # One stage of the cascade (here conv5_1) is enough to show the statistic blind to it.
    same = _cam(
        randomised_overlap_gap={
            "CAM model": {
                "head": stats.estimate(0.2, 0.1, 0.3),
                "conv5_1": stats.estimate(-0.03, -0.06, 0.0),
            },
            "DAN+ Grad-CAM": {"head": stats.estimate(0.1, 0.06, 0.2)},
        }
    )
    row = _judge("05_cam", same)["cam_sanity_check"]
    assert row["verdict"] == NOT_HELD and "rank correlation at the end +0.02" in row["evidence"]
    assert "CAM model closest at conv5_1" in row["evidence"]
    assert [part["name"] for part in row["parts"]] == [
        "CAM model, head",
        "CAM model, conv5_1",
        "DAN+ Grad-CAM, head",
    ]


def test_the_context_trait_is_judged_with_intervals_and_its_r2():
    straddles = _cam(context_overlap_gap=stats.estimate(-0.02, -0.1, 0.05))
    assert _judge("05_cam", straddles)["cam_finds_context"]["verdict"] == INCONCLUSIVE
    unlearned = _cam(trait_r2={**_R2, "openness": 0.05})
    rows = _judge("05_cam", unlearned)
    for key in ("cam_finds_context", "cam_finds_poster", "occlusion_poster"):
        assert rows[key]["verdict"] == UNTESTABLE, key
        assert "R² of openness" in rows[key]["evidence"], key


def test_instruments_gate_the_chapter():
    no_gain = _cam(
        instruments={**_INSTRUMENTS, "model gain": _failed("model gain", "MA − constant −0.001")}
    )
    rows = _judge("05_cam", no_gain)
    assert rows["cam_share_ge_0_9"]["verdict"] == UNTESTABLE
    assert "MA − constant −0.001" in rows["cam_share_ge_0_9"]["evidence"]
    # The face parts read the face model, which has its own instrument.
    assert rows["cam_face_parts_same"]["verdict"] == HELD
    no_faces = _cam(
        instruments={**_INSTRUMENTS, "face detection": _failed("face detection", "12% of frames")}
    )
    assert _judge("05_cam", no_faces)["occlusion_face"]["verdict"] == UNTESTABLE


def test_causal_claims_read_every_trait_interval_behind_the_r2_gate():
    straddles = _cam()
    straddles["occlusion_face_minus_off_face"]["neuroticism"] = stats.estimate(0.01, -0.01, 0.02)
    assert _judge("05_cam", straddles)["occlusion_face"]["verdict"] == INCONCLUSIVE
    below = _cam()
    below["occlusion_face_minus_off_face"]["neuroticism"] = stats.estimate(-0.02, -0.03, -0.01)
    assert _judge("05_cam", below)["occlusion_face"]["verdict"] == NOT_HELD
    # The poster-driven trait answering the face more than the poster: the method's failure.
    face = _cam(occlusion_poster_minus_face={"openness": stats.estimate(-0.02, -0.03, -0.01)})
    assert _judge("05_cam", face)["occlusion_poster"]["verdict"] == NOT_HELD
    deletion = _cam()
    deletion["deletion_cam_minus_random"]["neuroticism"] = stats.estimate(0.05, 0.01, 0.1)
    assert _judge("05_cam", deletion)["deletion_cam_beats_random"]["verdict"] == NOT_HELD
    # A trait the model barely learned is left out of "every trait", and named.
    gated = dict(deletion, trait_r2={**_R2, "neuroticism": 0.088})
    row = _judge("05_cam", gated)["deletion_cam_beats_random"]
    assert row["verdict"] == HELD and "R² of neuroticism" in str(row["parts"])
    # Real data: no poster, every trait face-driven.
    real = _cam(face_driven_traits=list(TRAITS))
    real["occlusion_face_minus_off_face"] = {t: stats.estimate(0.01, 0.005, 0.02) for t in TRAITS}
    for key in ("occlusion_poster_minus_face", "occlusion_context_trait"):
        real.pop(key)
    rows = _judge("05_cam", real, synthetic=False)
    assert rows["occlusion_poster"]["verdict"] == UNTESTABLE
    assert rows["occlusion_face"]["verdict"] == HELD and rows["occlusion_face"]["ours"] == 5
    assert rows["occlusion_face"]["reading"] == "finding"  # real data: nothing planted


def _levels(trained, pretrained, random):
    return {"trained": trained, "pretrained": pretrained, "random": random}


def _units(**changes):
    measurements = {
        "instruments": dict(_INSTRUMENTS),
        "trait_r2": dict(_R2),
        "emergence_null": "pretrained",
        "emergence_design": {"trained_seeds": 3, "random_networks": 3},
        "emergence": {
            "conv5_3": {
                "eyes": stats.estimate(0.1, 0.05, 0.2),
                "mouth": stats.estimate(0.2, 0.1, 0.3),
            },
            "conv4_3": {"eyes": stats.estimate(0.01, -0.02, 0.03)},  # inside ± 0.05
        },
        "emergence_levels": {
            "conv5_3": {"eyes": _levels(0.9, 0.8, 0.5), "mouth": _levels(0.8, 0.6, 0.5)},
            "conv4_3": {"eyes": _levels(0.5, 0.49, 0.4)},
        },
        "entropy_depth_spearman": stats.estimate(-0.6, -0.8, -0.3),
        "entropy_depth_spearman_levels": _levels(-0.6, -0.5, 0.2),
        "deepest_entropy_gap": stats.estimate(-0.4, -0.6, -0.2),
        "deepest_entropy_gap_levels": _levels(4.0, 4.4, 5.0),
        "netdissect_gap": stats.estimate(0.03, 0.01, 0.06),
        "glasses_gap": stats.estimate(-0.1, -0.2, -0.06),
        "glasses_best": {
            "precision": 0.9,
            "base_rate": 0.35,
            "p_layer": 1e-4,
            "units_significant": 5,
            "detectable_precision": 0.6,
        },
        "planted_cues": {
            trait: {
                "cue": "mouth",
                "top": 0.3,
                "all": 0.1,
                "p": 0.01,
                "q": 0.03,
                "r2": 0.3,
                "critical": 0.2,
            }
            for trait in TRAITS
        },
        "ablation_min_q": {
            "eyes & brows": {"q": 0.01, "trait": "neuroticism", "ratio": 3.0},
            "mouth": {"q": 0.02, "trait": "extraversion", "ratio": 2.5},
        },
        "ablation_planted_agreement": {
            "spearman": 0.6,
            "p": 0.01,
            "permutations": 2000,
            "detectable": 0.3,
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
    weak["ablation_min_q"]["mouth"]["q"] = 0.3  # one set moves nothing beyond random, or so
    assert _judge("06_units", weak)["units_ablation_causal"]["verdict"] == INCONCLUSIVE
    unrelated = _units(
        ablation_planted_agreement={
            "spearman": 0.1,
            "p": 0.6,
            "permutations": 2000,
            "detectable": 0.3,
            "matched": 0,
            "cues": 2,
        }
    )
    row = _judge("06_units", unrelated)["units_ablation_planted"]
    assert row["verdict"] == INCONCLUSIVE
    assert "smallest estimate this test could have detected: 0.3" in row["evidence"]
    real = _units()
    real.pop("ablation_planted_agreement")
    assert _judge("06_units", real, synthetic=False)["units_ablation_planted"]["verdict"] == (
        UNTESTABLE
    )


def test_unit_claims():
    measurements = _units()
    measurements["trait_r2"]["openness"] = 0.05
    measurements["planted_cues"]["openness"]["q"] = None  # left out of the correction
    measurements["planted_cues"]["neuroticism"]["q"] = 0.2
    rows = _judge("06_units", measurements)
    assert rows["units_face_parts"]["verdict"] == HELD
    assert rows["units_face_parts_conv4_3"]["verdict"] == NOT_HELD  # shown absent, not missed
    assert rows["units_spikier_with_depth"]["verdict"] == HELD
    assert rows["units_deepest_spikier"]["verdict"] == HELD
    assert rows["units_netdissect"]["verdict"] == HELD
    assert rows["units_glasses"]["verdict"] == HELD
    assert rows["units_glasses_learned"]["verdict"] == NOT_HELD
    assert rows["units_carry_cue_openness"]["verdict"] == UNTESTABLE  # barely learned
    assert "R² of openness" in rows["units_carry_cue_openness"]["evidence"]
    assert rows["units_carry_cue_neuroticism"]["verdict"] == INCONCLUSIVE  # missed, not refuted
    assert rows["units_carry_cue_extraversion"]["verdict"] == HELD
    assert rows["units_carry_cue_extraversion"]["reading"] == "check of the method (planted)"
    assert rows["units_glasses"]["reading"] == "check of the method (planted)"
    assert rows["units_face_parts"]["reading"] == "finding"
    assert "3 fine-tuning seeds" in rows["units_face_parts"]["evidence"]
    missed = _units(glasses_best={**_units()["glasses_best"], "p_layer": 0.09})
    row = _judge("06_units", missed)["units_glasses"]
    assert row["verdict"] == INCONCLUSIVE and "could have detected" in row["evidence"]
    no_cells = _units(emergence={"conv5_3": {}, "conv4_3": {}})
    assert _judge("06_units", no_cells)["units_face_parts"]["verdict"] == UNTESTABLE
    random_null = _units(emergence_null="random")
    row = _judge("06_units", random_null)["units_deepest_spikier"]
    assert "no pretrained network: judged against random weights" in row["evidence"]


def _table2(q12=0.01, q15=0.3, q23=0.02):
    return {
        "aus": {
            "AU12": {"k": 6.0, "p": q12 / 2, "q": q12},
            "AU15": {"k": 3.0, "p": q15 / 2, "q": q15},
            "AU23": {"k": 5.0, "p": q23 / 2, "q": q23},
            "AU04": {"k": 2.0, "p": 0.5, "q": 0.8},
        },
        "detectable_k_aus": 5,
        "best_matched": ["AU12"],
        "lip_corner_gap": stats.estimate(0.1, 0.02, 0.2),
    }


def _aus(**changes):
    measured = _table2()
    measured["every_frame"] = {"AU04": {"k": 9, "p": 0.001, "q": 0.004}}
    measured["clip_level"] = {"AU04": {"k": 2, "p": 0.4, "q": 0.5}}
    measurements = {
        "instruments": {**_INSTRUMENTS, "AU source": _failed("AU source", "r 0.20 against 0.5")},
        "trait_r2": dict(_R2),
        "table2": {"measured": measured, "planted": _table2(0.001, 0.01, 0.03)},
        "best_k_gap": stats.estimate(0.05, 0.01, 0.08),
        "best_k_gap_levels": _levels(0.3, 0.25, 0.2),
        "emergence_null": "pretrained",
        "au_model": {
            "measured": {
                "accuracy": 0.885,
                "gain_over_constant": stats.estimate(0.005, -0.001, 0.01),
                "gain_share": stats.estimate(0.25, 0.05, 0.45),
            },
            "planted": {
                "accuracy": 0.9,
                "gain_over_constant": stats.estimate(0.02, 0.01, 0.03),
                "gain_share": stats.estimate(0.8, 0.6, 1.0),
            },
        },
        "cnn_gain": stats.estimate(0.02, 0.01, 0.03),
        "au_beyond_glasses": {
            "measured": stats.estimate(0.001, -0.002, 0.004),  # nothing beyond glasses
            "planted": stats.estimate(0.02, 0.01, 0.03),
        },
        "au_beyond_glasses_trait": "conscientiousness",
        "estimator_r": stats.estimate(0.2, 0.15, 0.25),
        "estimator_bar": 0.5,
        "coefficient_r": stats.estimate(0.7, 0.6, 0.8),
        "region_links": {
            "measured AUs": {
                "observed": 7,
                "expected": 4.2,
                "p_value": 0.086,
                "n_testable": 13,
                "detectable": 8,
            },
            "planted AUs": {
                "observed": 9,
                "expected": 3.0,
                "p_value": 0.01,
                "n_testable": 13,
                "detectable": 7,
            },
        },
    }
    measurements.update(changes)
    return measurements


def test_action_unit_claims():
    # The estimator fails its own check: every claim on the measured AUs is not testable and
    # names it; the same analyses on the planted AUs are judged.
    rows = _judge("07_action_units", _aus())
    verdicts_ = {key: row["verdict"] for key, row in rows.items()}
    assert verdicts_["au_estimator_tracks_truth"] == NOT_HELD
    assert rows["au_estimator_tracks_truth"]["reading"] == "check of an instrument"
    for key in ("table2_significant", "table2_paper_aus", "au_model_near_cnn", "au_links_measured"):
        assert verdicts_[key] == UNTESTABLE, key
        assert "AU source" in rows[key]["evidence"], key
    assert verdicts_["table2_significant_planted"] == HELD
    assert verdicts_["table2_paper_aus_planted"] == HELD
    assert verdicts_["table2_lip_corners_planted"] == HELD
    assert verdicts_["au_model_beats_constant_planted"] == HELD
    assert verdicts_["au_model_near_cnn_planted"] == HELD
    assert verdicts_["au_links_planted"] == HELD
    assert verdicts_["au_model_beyond_glasses_planted"] == HELD
    assert verdicts_["au_model_beyond_glasses"] == UNTESTABLE
    # A source that passes its check: the measured rows are judged; a missed test (the AU
    # links' p = 0.086) is inconclusive, with what it could have detected.
    good = _aus(estimator_r=stats.estimate(0.7, 0.6, 0.8))
    good["instruments"]["AU source"] = _passed("AU source")
    rows = _judge("07_action_units", good)
    assert rows["au_estimator_tracks_truth"]["verdict"] == HELD
    assert rows["table2_significant"]["verdict"] == HELD
    assert rows["table2_paper_aus"]["verdict"] == INCONCLUSIVE  # AU15 missed, not refuted
    assert rows["table2_every_frame"]["verdict"] == HELD
    assert rows["table2_clip_level"]["verdict"] == INCONCLUSIVE
    assert rows["table2_random_network"]["verdict"] == HELD
    assert rows["au_model_beats_constant"]["verdict"] == INCONCLUSIVE
    assert rows["au_model_near_cnn"]["verdict"] == NOT_HELD  # wholly below half
    assert rows["au_links_measured"]["verdict"] == INCONCLUSIVE
    assert "7 of 13 testable AUs, 4.2 expected" in rows["au_links_measured"]["evidence"]
    assert rows["au_coefficients_planted"]["verdict"] == HELD
    # The measured AUs add nothing on conscientiousness once glasses are known: shown absent.
    assert rows["au_model_beyond_glasses"]["verdict"] == NOT_HELD
    for key in ("table2_significant", "table2_paper_aus", "table2_lip_corners"):
        assert rows[key]["reading"] == "check of the method (planted)", key
    # The CNN not above the constant leaves nothing to recover; real data has no planted AUs
    # and an unchecked source.
    real = _aus(cnn_gain=stats.estimate(-0.01, -0.02, 0.0))
    real.pop("estimator_r")
    real["instruments"].pop("AU source")
    rows = _judge("07_action_units", real, synthetic=False)
    assert rows["au_model_near_cnn"]["verdict"] == UNTESTABLE
    assert rows["au_estimator_tracks_truth"]["verdict"] == UNTESTABLE
    assert rows["table2_significant"]["verdict"] == HELD
    assert "unchecked instrument: AU source" in rows["table2_significant"]["evidence"]
    assert rows["table2_significant"]["reading"] == "finding"


def test_planted_answers_are_computed_from_the_generator(monkeypatch):
    rows = _by_key(catalogue.evaluate({}))
    assert all(catalogue.planted(c) for c in catalogue.CLAIMS if c.key.startswith("table2_"))
    assert catalogue.planted(next(c for c in catalogue.CLAIMS if c.key == "units_glasses"))
    assert not catalogue.planted(next(c for c in catalogue.CLAIMS if c.key == "cam_sanity_check"))
    # Take glasses out of the generator's weights: the glasses rows stop being planted.
    from personality_utils.core import planted as core_planted

    weights = {t: dict(w) for t, w in core_planted.TRAIT_WEIGHTS.items()}
    weights["conscientiousness"].pop("glasses")
    monkeypatch.setattr(core_planted, "TRAIT_WEIGHTS", weights)
    assert not catalogue.planted(next(c for c in catalogue.CLAIMS if c.key == "units_glasses"))
    assert rows  # every claim judged, none raised


def test_the_paper_column_comes_from_the_paper_module():
    rows = _by_key(catalogue.evaluate({}))
    assert rows["frames_beat_constant"]["paper"] == 0.909
    assert rows["cam_share_ge_0_9"]["paper"] == 0.728
    assert rows["table2_significant"]["paper"] == 3  # AU12, AU15, AU23 at p < 0.05
    assert rows["table2_lip_corners"]["paper"] == "AU12, AU15"
    assert rows["au_model_near_cnn"]["paper"] == pytest.approx((0.886 - 0.8814) / (0.912 - 0.8814))
    assert {row["verdict"] for row in rows.values()} == {"not run"}


def test_a_chapter_and_the_summary_give_the_same_rows(capsys):
    measurements = _cam()
    printed = catalogue.report("05_cam", measurements, synthetic=True)
    output = capsys.readouterr().out
    assert output.count("    rule: ") == len(printed) == len(catalogue.claims_of("05_cam"))
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
    summary_rows = [row for row in catalogue.evaluate(chapters) if row["chapter"] == "05_cam"]
    for row in summary_rows:
        assert row.pop("profile") == "smoke" and row.pop("data") == "synthetic"
    assert summary_rows == printed
    assert catalogue.counts(summary_rows) == {HELD: len(printed)}
    json.dumps(summary_rows)
    assert all(np.isfinite(row["paper"]) for row in summary_rows if isinstance(row["paper"], float))


def _attribution(**changes):
    from personality_utils.core.vocabulary import ATTRIBUTION_METHODS

    good = stats.estimate(0.1, 0.06, 0.14)
    measured = {
        "localisation_gain": {
            "CAM model": {m: dict.fromkeys(TRAITS, good) for m in ATTRIBUTION_METHODS}
        },
        "false_positive_drop": dict.fromkeys(ATTRIBUTION_METHODS, good),
        "randomisation_drop": {m: dict.fromkeys(TRAITS, good) for m in ATTRIBUTION_METHODS},
        "removal_against_null": {
            m: {t: {**stats.estimate(0.8, 0.5, 1.1), "bar": 0.2} for t in TRAITS}
            for m in ATTRIBUTION_METHODS
        },
        "fill_agreement": {"spearman": 0.9, "p": 1e-6, "cells": 55},
        "overlap_against_cause": {
            "all traits": stats.estimate(0.5, 0.2, 0.7),
            **dict.fromkeys(TRAITS, stats.estimate(0.5, 0.2, 0.7)),
        },
        "backbone_gain": dict.fromkeys(ATTRIBUTION_METHODS, good),
        "context_trait": "openness",
        "trait_r2": _R2,
        "instruments": _INSTRUMENTS,
    }
    measured.update(changes)
    return measured


def test_attribution_claims():
    from personality_utils.core.vocabulary import ATTRIBUTION_METHODS

    rows = _judge("05b_attribution", _attribution())
    # One localisation row per method, then the controls, the removal, the overlap question
    # and the backbone: every one held on these measurements, each a check this book adds.
    assert len(rows) == len(ATTRIBUTION_METHODS) + 5
    assert {row["verdict"] for row in rows.values()} == {HELD}
    assert all(claim.check for claim in catalogue.claims_of("05b_attribution"))
    # One trait whose interval lies below the face-location prior's: the method did not hold;
    # one that straddles 0 beyond the margin: inconclusive.
    below = _attribution()
    below["localisation_gain"]["CAM model"]["Saliency"] = {
        **dict.fromkeys(TRAITS, stats.estimate(0.1, 0.06, 0.14)),
        "extraversion": stats.estimate(-0.1, -0.14, -0.06),
    }
    below["localisation_gain"]["CAM model"]["Occlusion"] = {
        **dict.fromkeys(TRAITS, stats.estimate(0.1, 0.06, 0.14)),
        "extraversion": stats.estimate(0.02, -0.07, 0.11),
    }
    rows = _judge("05b_attribution", below)
    assert rows["attribution_localises_saliency"]["verdict"] == NOT_HELD
    assert rows["attribution_localises_occlusion"]["verdict"] == INCONCLUSIVE
    assert rows["attribution_localises_grad_campp"]["verdict"] == HELD
    # A trait the CAM model did not learn is left out, not counted against a method.
    unlearned = _attribution(trait_r2={**_R2, "extraversion": 0.01})
    rows = _judge("05b_attribution", {**below, "trait_r2": unlearned["trait_r2"]})
    assert rows["attribution_localises_saliency"]["verdict"] == HELD
    # The removal score is judged against the random orders' band, not against 0.
    inside = _attribution(
        removal_against_null={
            m: {t: {**stats.estimate(0.25, 0.15, 0.3), "bar": 0.2} for t in TRAITS}
            for m in ATTRIBUTION_METHODS
        }
    )
    assert _judge("05b_attribution", inside)["attribution_removal"]["verdict"] == NOT_HELD
    # The paper's overlap must reward the cause for every trait: the poster trait's
    # correlation below 0 is a did-not-hold, whatever the pooled figure says.
    poster = _attribution()
    poster["overlap_against_cause"] = {
        **poster["overlap_against_cause"],
        "openness": stats.estimate(-0.6, -0.8, -0.3),
    }
    row = _judge("05b_attribution", poster)["attribution_overlap_rewards_cause"]
    assert row["verdict"] == NOT_HELD and "all traits +0.500" in row["evidence"]
    # The false-positive control rests on the context trait's R².
    gated = _judge("05b_attribution", _attribution(trait_r2={**_R2, "openness": 0.01}))
    assert gated["attribution_false_positive"]["verdict"] == UNTESTABLE
    # On real data nothing is planted: the rows that need the truth are not testable.
    real = _attribution(
        localisation_gain={},
        false_positive_drop={},
        randomisation_drop={},
        backbone_gain={},
        overlap_against_cause={},
    )
    rows = _judge("05b_attribution", real, synthetic=False)
    assert rows["attribution_localises_cam"]["verdict"] == UNTESTABLE
    assert rows["attribution_false_positive"]["verdict"] == UNTESTABLE
    assert rows["attribution_overlap_rewards_cause"]["verdict"] == UNTESTABLE
    assert rows["attribution_removal"]["verdict"] == HELD
