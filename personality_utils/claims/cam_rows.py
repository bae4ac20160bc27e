"""The claims of chapter 05 (where the model looks), each judge just above the rows that use it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from personality_utils.claims.common import (
    _ALL,
    _FACE,
    MODEL_INSTRUMENTS,
    _estimate,
    _gain,
    _per_trait,
    r2_gate,
)
from personality_utils.core import paper
from personality_utils.core.records import CAM
from personality_utils.core.verdicts import (
    EQUIVALENCE_MARGIN,
    Claim,
    Evidence,
    Judgement,
    Untestable,
    get,
    number,
    with_interval,
)

#: The planted features every cue group names (synthetic.FEATURES).


def _cam_share(measurements: Mapping[str, Any]) -> Judgement:
    prior = number(get(measurements, CAM.centre_prior_share))
    bar = max(0.5, prior)
    evidence, value, low, high = _estimate(
        measurements, CAM.share_ge_0_9, scale="share", bar=bar, null=prior
    )
    return Judgement(
        evidence,
        value,
        prior,
        f"share {value:.3f} [{low:.3f}, {high:.3f}] vs max(0.5, centre prior {prior:.3f})",
    )


def _cam_randomisation(measurements: Mapping[str, Any]) -> Judgement:
    """Adebayo et al.'s question on the paper's own statistic: as the network is randomised
    from the top down, do the maps still overlap the face as much as the trained model's? One
    part per map (the CAM model's, DAN+'s Grad-CAM) and randomisation stage: the paired
    interval of the trained maps' mean overlap minus the randomised network's, on the same
    frames, must lie above 0 at every stage."""
    gaps = get(measurements, CAM.randomised_overlap_gap)
    correlation = measurements.get(CAM.randomised_rank_correlation) or {}
    parts, words = [], []
    for label, stages in gaps.items():
        closest = None
        for stage in stages:
            evidence, value, low, high = _estimate(
                measurements, CAM.randomised_overlap_gap, label, stage, scale="share"
            )
            parts.append((f"{label}, {stage}", evidence))
            if closest is None or value < closest[1]:
                closest = (stage, value, low, high)
        if closest is not None:
            rank = correlation.get(label)
            stage, value, low, high = closest
            words.append(
                f"{label} closest at {stage} {with_interval(value, low, high, 3)}"
                + ("" if rank is None else f" (rank correlation at the end {number(rank):+.2f})")
            )
    if not parts:
        raise Untestable("no randomisation")
    return Judgement(
        Evidence(parts=tuple(parts)),
        min(part.estimate for _name, part in parts),
        0.0,
        "mean face overlap, trained minus randomised, at the stage that comes closest "
        "(paired, people resampled): " + ", ".join(words),
    )


def _context_gap(key: str, direction: str, what: str) -> Callable[..., Judgement]:
    """The synthetic set's context-driven trait against the nearest of the others on one
    per-trait figure: the interval of (its figure − the others' lowest, ``direction="below"``,
    or highest) from a people bootstrap."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        context = get(measurements, CAM.context_trait)
        evidence, value, low, high = _estimate(
            measurements, key, scale="share", direction=direction
        )
        evidence = evidence.gated(r2_gate(measurements, context))
        return Judgement(
            evidence,
            value,
            0.0,
            f"{what}: {context} (planted outside the face) minus the "
            f"{'lowest' if direction == 'below' else 'highest'} other trait "
            f"{with_interval(value, low, high, 3)}",
        )

    return judge_


def _cam_parts(measurements: Mapping[str, Any]) -> Judgement:
    region = get(measurements, CAM.part_spread_region)
    p_value = number(get(measurements, CAM.part_difference_p))
    evidence, value, low, high = _estimate(
        measurements,
        CAM.part_spread,
        scale="share",
        bar=EQUIVALENCE_MARGIN,
        direction="below",
        null=None,  # a claim of sameness: the margin is its bar, there is no absence to show
    )
    return Judgement(
        evidence,
        value,
        EQUIVALENCE_MARGIN,
        f"largest spread of a part's mean share across traits ({region}) {value:.3f} "
        f"[{low:.3f}, {high:.3f}]; paired permutation p = {p_value:.4f}",
    )


def _poster_occlusion(measurements: Mapping[str, Any]) -> Judgement:
    trait = get(measurements, CAM.occlusion_context_trait)
    evidence, value, low, high = _estimate(
        measurements, CAM.occlusion_poster_minus_face, trait, scale="score"
    )
    return Judgement(
        evidence.gated(r2_gate(measurements, trait)),
        value,
        0.0,
        f"{trait} (planted on the poster): mean |change| hiding the poster minus hiding the "
        f"face {with_interval(value, low, high)}",
    )


CAM_CLAIMS: tuple[Claim, ...] = (
    Claim(
        "cam_share_ge_0_9",
        "05_cam",
        "most CAMs of the full-frame model overlap the face box by ≥ 0.9",
        "the 95% interval of the share of maps overlapping the face box by ≥ 0.9, against "
        "max(0.5, an image-blind centre prior's share)",
        paper.CAM_OVERLAP_SHARE,
        "centre prior's share",
        "CAM share overlap ≥ 0.9",
        _cam_share,
        cues=_ALL,
        plot=True,
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "cam_above_centre_prior",
        "05_cam",
        "the maps overlap the face more than an image-blind centre prior does",
        "the paired 95% interval of the mean overlap minus the centre prior's",
        paper.CAM_MEAN_OVERLAP,
        "centre prior mean overlap",
        "CAM mean overlap",
        _gain(
            CAM.cam_minus_centre_prior,
            "mean overlap, CAM vs centre prior",
            (CAM.mean_overlap, "value"),
            "share",
        ),
        check=True,
        cues=_ALL,
        plot=True,
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "cam_above_face_prior",
        "05_cam",
        "the maps overlap the face more than the dataset's face-location prior does (the mean "
        "face box of the training frames, a map that knows where faces usually are)",
        "the paired 95% interval of the mean overlap minus the face-location prior's",
        paper.CAM_MEAN_OVERLAP,
        "face-location prior mean overlap",
        "CAM vs face-location prior",
        _gain(
            CAM.cam_minus_face_prior,
            "mean overlap, CAM vs face-location prior",
            (CAM.mean_overlap, "value"),
            "share",
        ),
        check=True,
        cues=_ALL,
        plot=True,
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "cam_sanity_check",
        "05_cam",
        "the face overlap depends on the learned weights: at every stage of a cascading "
        "randomisation the maps overlap the face less than the trained model's (Adebayo et al., "
        "2018)",
        "per map (CAM model, DAN+ Grad-CAM) and randomisation stage (the head, then conv5_3 down "
        "to conv1_1), the paired 95% interval of the trained maps' mean overlap minus the "
        "randomised network's, on the same frames",
        None,
        "0",
        "overlap, trained − randomised",
        _cam_randomisation,
        check=True,
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "cam_finds_context",
        "05_cam",
        "the face overlap shows where the information is: the trait planted outside the face "
        "has the lowest overlap",
        "the 95% interval (people resampled) of the context trait's mean overlap minus the "
        "lowest of the other traits' (synthetic only)",
        None,
        "0",
        "overlap, context trait − lowest other",
        _context_gap(CAM.context_overlap_gap, "below", "mean overlap"),
        check=True,
        cues=("context_cue",),
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "cam_finds_poster",
        "05_cam",
        "the context-driven trait's maps put more mass on the planted poster than the others'",
        "the paired 95% interval (people resampled) of its share of map mass on the poster "
        "minus the highest of the other traits' (synthetic only)",
        None,
        "0",
        "poster mass, context trait − highest other",
        _context_gap(CAM.context_poster_gap, "above", "share of map mass on the poster"),
        check=True,
        cues=("context_cue",),
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "cam_face_parts_same",
        "05_cam",
        "face-model maps use the same face parts for every trait",
        "the 95% interval of the largest spread of a part's share across traits, against the "
        f"equivalence margin {EQUIVALENCE_MARGIN:g}",
        None,
        "equivalence margin",
        "largest part spread",
        _cam_parts,
        cues=_FACE,
        rests_on=("face detection", "face model gain"),
    ),
    Claim(
        "occlusion_face",
        "05_cam",
        "the face carries the information (causally): hiding the face moves the face-driven "
        "traits' predictions more than hiding as large a box off the face",
        "per face-driven trait (planted signal outside the face, poster and identity-shared "
        "cues, small), the paired 95% interval of mean |change| (face hidden minus off-face box "
        "hidden)",
        None,
        "traits tested",
        "traits held, face vs off-face occlusion",
        _per_trait(
            CAM.occlusion_face_minus_off_face,
            "face minus off-face, mean |change|",
            "score",
            CAM.face_driven_traits,
            gate=True,
        ),
        check=True,
        cues=_FACE,
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "occlusion_poster",
        "05_cam",
        "the trait planted outside the face responds to the poster, not to the face",
        "the paired 95% interval of mean |change| (poster hidden minus face hidden) (synthetic "
        "only)",
        None,
        "0",
        "poster minus face occlusion",
        _poster_occlusion,
        check=True,
        cues=("context_cue",),
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "face_alone_beats_context",
        "05_cam",
        "the face alone carries more of the full-frame model's accuracy than the context alone",
        "the paired 95% interval of MA (only the face shown) minus MA (the face hidden)",
        None,
        "0",
        "MA face only − context only",
        _gain(CAM.face_only_minus_context_only, "MA, face only minus context only"),
        check=True,
        cues=_ALL,
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "deletion_cam_beats_random",
        "05_cam",
        "the CAM ranks pixels by what moves the prediction: deleting in its order lowers each "
        "trait's output faster than a random order",
        "per trait, the paired 95% interval of the deletion AUC (pre-sigmoid output), CAM minus "
        "random order, below 0",
        None,
        "traits tested",
        "traits held, deletion CAM vs random",
        _per_trait(
            CAM.deletion_cam_minus_random,
            "deletion AUC, CAM minus random",
            "logit",
            direction="below",
            gate=True,
        ),
        check=True,
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "deletion_cam_beats_centre",
        "05_cam",
        "deleting in the CAM's order lowers each trait's output faster than an image-blind "
        "centre prior's order",
        "per trait, the paired 95% interval of the deletion AUC (pre-sigmoid output), CAM minus "
        "centre prior, below 0",
        None,
        "traits tested",
        "traits held, deletion CAM vs centre",
        _per_trait(
            CAM.deletion_cam_minus_centre_prior,
            "deletion AUC, CAM minus centre prior",
            "logit",
            direction="below",
            gate=True,
        ),
        check=True,
        rests_on=MODEL_INSTRUMENTS,
    ),
)


# ----------------------------------------------------------------------------------------------
# Chapter 06: units
# ----------------------------------------------------------------------------------------------
