"""The claims of chapters 03 and 04 (Table 1: DAN+ on full frames and on faces), each judge
just above the rows that use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from personality_utils.claims.common import _ALL, _estimate, _gain, _per_trait
from personality_utils.core import paper
from personality_utils.core.records import FACES_MODEL, MODEL
from personality_utils.core.verdicts import (
    Claim,
    Evidence,
    Judgement,
    get,
    number,
    with_interval,
)
from personality_utils.core.vocabulary import TRAITS

#: The planted features every cue group names (synthetic.FEATURES).


def _audio_video(measurements: Mapping[str, Any]) -> Judgement:
    accuracy = number(get(measurements, MODEL.accuracy, "value"))
    reason = "this book trains no audio model, so the gap cannot be measured"
    return Judgement(
        Evidence(absent=reason), None, None, f"{reason} (video alone: MA {accuracy:.4f})"
    )


def _identity_disjoint(measurements: Mapping[str, Any]) -> Judgement:
    evidence, value, low, high = _estimate(
        measurements, MODEL.identity_disjoint_gain, scale="accuracy"
    )
    clips = int(number(get(measurements, MODEL.identity_disjoint_clips)))
    return Judgement(
        evidence,
        value,
        0.0,
        f"faces MA − constant on {clips} clips of unseen people {with_interval(value, low, high)}",
    )


_IMG, _FACE_ROW = paper.TABLE1["img (full frames)"], paper.TABLE1["face"]
_SEED_MEAN = "MA: the mean over the training seeds; the interval resamples people and seeds"

MODEL_CLAIMS: tuple[Claim, ...] = (
    Claim(
        "frames_beat_constant",
        "03_full_frames",
        "DAN+ on full video frames predicts the traits better than the training mean",
        f"the paired 95% interval of MA − constant ({_SEED_MEAN})",
        _IMG["MA"],
        "training-mean constant",
        "full frames MA",
        _gain(MODEL.gain_over_constant, "MA vs the constant", (MODEL.accuracy, "value")),
        cues=_ALL,
        plot=True,
    ),
    Claim(
        "video_close_to_audio_video",
        "03_full_frames",
        "video frames alone come within 0.004 of audio+video (Table 1: img vs [23])",
        "needs an audio model",
        _IMG["MA"] - paper.TABLE1["[23] NJU-LAMDA, audio+video"]["MA"],
        "—",
        "video vs audio+video",
        _audio_video,
    ),
    Claim(
        "faces_beat_constant",
        "04_faces_model",
        "DAN+ on aligned faces predicts the traits better than the training mean",
        f"the paired 95% interval of MA − constant ({_SEED_MEAN})",
        _FACE_ROW["MA"],
        "training-mean constant",
        "faces MA",
        _gain(MODEL.gain_over_constant, "MA vs the constant", (MODEL.accuracy, "value")),
        cues=_ALL,
        plot=True,
    ),
    Claim(
        "faces_beat_frames",
        "04_faces_model",
        "faces alone are more accurate than full frames",
        "the paired 95% interval of MA(faces) − MA(frames) (means over the training seeds; the "
        "interval resamples people and each model's seeds)",
        _FACE_ROW["MA"] - _IMG["MA"],
        "no difference",
        "MA faces − frames",
        _gain(FACES_MODEL.faces_minus_frames, "MA(faces) − MA(full frames), same clips"),
        cues=_ALL,
    ),
    Claim(
        "faces_better_every_trait",
        "04_faces_model",
        "the face model's gain is along all five traits",
        "per trait, the paired 95% interval of accuracy(faces) − accuracy(frames)",
        float(sum(_FACE_ROW[t[0].upper()] > _IMG[t[0].upper()] for t in TRAITS)),
        "5 traits",
        "traits faces > frames",
        _per_trait(FACES_MODEL.faces_minus_frames_per_trait, "per trait", "accuracy"),
        cues=_ALL,
    ),
    Claim(
        "faces_identity_disjoint",
        "04_faces_model",
        "the face model still beats the constant on clips of people never seen in training",
        "the paired 95% interval of MA − constant on those clips",
        None,
        "constant on those clips",
        "faces gain, new identities",
        _identity_disjoint,
        check=True,
        cues=_ALL,
    ),
)


# ----------------------------------------------------------------------------------------------
# Chapter 05: where the model looks
# ----------------------------------------------------------------------------------------------
