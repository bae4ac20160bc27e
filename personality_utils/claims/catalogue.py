"""Every claim of the paper, and every check this book adds, judged once.

Each chapter saves a record of its measurements (``measurements`` in its results file) and ends
with :func:`report`, which judges that chapter's rows of :data:`CLAIMS`, prints them with their
rules, and returns them for the results file; the summary page (chapter 08) judges the same rows
from the same records with :func:`evaluate`, so a chapter and the summary cannot disagree.

A judge turns a chapter's measurements into typed :class:`~personality_utils.core.verdicts.Evidence`
(an estimate with its interval, or a test's p and q, a bar and a smallest effect of interest,
parts, and the instruments it rests on); the verdict is derived from that evidence by
:func:`~personality_utils.core.verdicts.derive`, with one meaning everywhere: a test that misses
significance is *inconclusive*, never *did not hold*; a claim whose instrument failed its own
check is *not testable here*. On the synthetic set, a claim whose answer the generator's planted
weights decide (:func:`planted`) is read as a check of the method, not as a finding.

Each chapter's judges sit just above its rows of the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from personality_utils.core import paper
from personality_utils.core.planted import FEATURES, TRAIT_WEIGHTS, planted_features
from personality_utils.core.results import to_jsonable
from personality_utils.core.verdicts import (
    ALPHA,
    EQUIVALENCE_MARGIN,
    HELD,
    R2_GATE,
    VERDICTS,
    Claim,
    Evidence,
    Instrument,
    Judgement,
    Untestable,
    derive,
    evidence_fields,
    get,
    interval,
    judge,
    number,
    with_interval,
)
from personality_utils.core.vocabulary import TRAITS

__all__ = [
    "CLAIMS",
    "INSTRUMENTS",
    "VERDICTS",
    "claims_of",
    "counts",
    "evaluate",
    "instrument",
    "judge_claim",
    "planted",
    "r2_gate",
    "report",
]

#: The planted features every cue group names (synthetic.FEATURES).
_ALL = tuple(FEATURES)
_AUS = tuple(feature for feature in FEATURES if feature.startswith("AU"))
_FACE = (*_AUS, "glasses")

#: The instruments a claim can rest on, each checked in the chapter that uses it and saved in
#: its measurements (``instruments``): the AU source against the planted AUs, dlib's detection
#: rate on the frames a chapter reads, and the chapter's model against the constant predictor
#: (chapter 05 reads two: the CAM model on frames, and on faces for the face parts).
#: Each trait's test R² (``trait_r2``) gates the per-trait parts (:func:`r2_gate`).
INSTRUMENTS = ("AU source", "face detection", "model gain", "face model gain")


def planted(claim: Claim) -> bool:
    """Whether the synthetic generator's planted weights decide the claim's answer: some
    feature the claim is about (``claim.cues``) carries planted weight in some trait
    (:func:`~personality_utils.core.planted.planted_features`). Read only on the synthetic set."""
    return bool(set(claim.cues) & set(planted_features()))


def instrument(measurements: Mapping[str, Any], name: str) -> Instrument:
    """The instrument ``name`` as the chapter checked it (``measurements["instruments"]``);
    unchecked when the chapter has no check of it."""
    item = (measurements.get("instruments") or {}).get(name)
    if not isinstance(item, Mapping):
        return Instrument(name, None, None, "unchecked", "not checked on this data")
    return Instrument(
        name,
        item.get("figure"),
        item.get("bar"),
        item.get("status", "unchecked"),
        str(item.get("what", "")),
    )


def r2_gate(measurements: Mapping[str, Any], trait: str) -> Instrument:
    """The trait's test R² (``measurements["trait_r2"]``) against :data:`R2_GATE`: a trait the
    model barely learned has no maps, units or AUs that say anything about it."""
    value = (measurements.get("trait_r2") or {}).get(trait)
    if value is None:
        return Instrument(f"R² of {trait}", None, R2_GATE, "unchecked", "no R² recorded")
    r2 = number(value)
    status = "passed" if r2 >= R2_GATE else "failed"
    return Instrument(
        f"R² of {trait}", r2, R2_GATE, status, f"test R² {r2:.3f} against {R2_GATE:g}"
    )


def _estimate(
    measurements: Mapping[str, Any],
    *path: str,
    scale: str,
    bar: float = 0.0,
    direction: str = "above",
    null: float | None = 0.0,
) -> tuple[Evidence, float, float, float]:
    """Evidence from an :func:`~personality_utils.core.stats.estimate` record, and its numbers."""
    value, low, high = interval(measurements, *path)
    evidence = Evidence(value, (low, high), bar, direction, scale, null=null)
    return evidence, value, low, high


# ----------------------------------------------------------------------------------------------
# Chapters 03-04: the models
# ----------------------------------------------------------------------------------------------


def _gain(
    key: str, what: str, ours: tuple[str, ...] = (), scale: str = "accuracy"
) -> Callable[..., Judgement]:
    """The paired interval of a difference against 0. ``ours`` names the figure the difference
    is taken from (an accuracy, an overlap); the baseline is then that figure minus the
    difference, the reference's value on the same items."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        evidence, value, low, high = _estimate(measurements, key, scale=scale)
        figure = number(get(measurements, *ours)) if ours else value
        baseline = figure - value if ours else 0.0
        levels = f"{figure:.4f} vs {baseline:.4f}, " if ours else ""
        return Judgement(
            evidence,
            figure,
            baseline,
            f"{what}: {levels}paired difference {with_interval(value, low, high)}",
        )

    return judge_


def _audio_video(measurements: Mapping[str, Any]) -> Judgement:
    accuracy = number(get(measurements, "accuracy", "value"))
    reason = "this book trains no audio model, so the gap cannot be measured"
    return Judgement(
        Evidence(absent=reason), None, None, f"{reason} (video alone: MA {accuracy:.4f})"
    )


def _per_trait(
    key: str,
    what: str,
    scale: str,
    traits_key: str | None = None,
    direction: str = "above",
    gate: bool = False,
) -> Callable[[Mapping[str, Any]], Judgement]:
    """One part per trait (of ``traits_key``'s list, or all): the interval of the per-trait
    estimate ``key`` against 0, every testable trait must hold. ``gate``: each part rests on its
    trait's test R² (:func:`r2_gate`)."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        traits = list(get(measurements, traits_key)) if traits_key else list(TRAITS)
        if not traits:
            raise Untestable(f"no trait to test in {traits_key}")
        parts, words = [], []
        for trait in traits:
            evidence, value, low, high = _estimate(
                measurements, key, trait, scale=scale, direction=direction
            )
            word = f"{trait[0].upper()} {with_interval(value, low, high, 3)}"
            if gate:
                instrument_ = r2_gate(measurements, trait)
                evidence = evidence.gated(instrument_)
                if instrument_.status == "failed":
                    word += f" (left out: R² {instrument_.figure:.3f} < {R2_GATE:g})"
            parts.append((trait, evidence))
            words.append(word)
        evidence = Evidence(parts=tuple(parts), scale=scale, direction=direction)
        held = sum(derive(evidence_fields(part)) == HELD for _t, part in parts)
        return Judgement(evidence, float(held), float(len(traits)), f"{what}: " + ", ".join(words))

    return judge_


def _identity_disjoint(measurements: Mapping[str, Any]) -> Judgement:
    evidence, value, low, high = _estimate(measurements, "identity_disjoint_gain", scale="accuracy")
    clips = int(number(get(measurements, "identity_disjoint_clips")))
    return Judgement(
        evidence,
        value,
        0.0,
        f"faces MA − constant on {clips} clips of unseen people {with_interval(value, low, high)}",
    )


_IMG, _FACE_ROW = paper.TABLE1["img (full frames)"], paper.TABLE1["face"]
_SEED_MEAN = "MA: the mean over the training seeds; the interval resamples people and seeds"

_MODEL_CLAIMS: tuple[Claim, ...] = (
    Claim(
        "frames_beat_constant",
        "03_full_frames",
        "DAN+ on full video frames predicts the traits better than the training mean",
        f"the paired 95% interval of MA − constant ({_SEED_MEAN})",
        _IMG["MA"],
        "training-mean constant",
        "full frames MA",
        _gain("gain_over_constant", "MA vs the constant", ("accuracy", "value")),
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
        _gain("gain_over_constant", "MA vs the constant", ("accuracy", "value")),
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
        _gain("faces_minus_frames", "MA(faces) − MA(full frames), same clips"),
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
        _per_trait("faces_minus_frames_per_trait", "per trait", "accuracy"),
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


def _cam_share(measurements: Mapping[str, Any]) -> Judgement:
    prior = number(get(measurements, "centre_prior_share"))
    bar = max(0.5, prior)
    evidence, value, low, high = _estimate(
        measurements, "share_ge_0_9", scale="share", bar=bar, null=prior
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
    gaps = get(measurements, "randomised_overlap_gap")
    correlation = measurements.get("randomised_rank_correlation") or {}
    parts, words = [], []
    for label, stages in gaps.items():
        closest = None
        for stage in stages:
            evidence, value, low, high = _estimate(
                measurements, "randomised_overlap_gap", label, stage, scale="share"
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
        context = get(measurements, "context_trait")
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
    region = get(measurements, "part_spread_region")
    p_value = number(get(measurements, "part_difference_p"))
    evidence, value, low, high = _estimate(
        measurements,
        "part_spread",
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
    trait = get(measurements, "occlusion_context_trait")
    evidence, value, low, high = _estimate(
        measurements, "occlusion_poster_minus_face", trait, scale="score"
    )
    return Judgement(
        evidence.gated(r2_gate(measurements, trait)),
        value,
        0.0,
        f"{trait} (planted on the poster): mean |change| hiding the poster minus hiding the "
        f"face {with_interval(value, low, high)}",
    )


_CAM_MODEL = ("face detection", "model gain")

_CAM_CLAIMS: tuple[Claim, ...] = (
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
        rests_on=_CAM_MODEL,
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
            "cam_minus_centre_prior",
            "mean overlap, CAM vs centre prior",
            ("mean_overlap", "value"),
            "share",
        ),
        check=True,
        cues=_ALL,
        plot=True,
        rests_on=_CAM_MODEL,
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
            "cam_minus_face_prior",
            "mean overlap, CAM vs face-location prior",
            ("mean_overlap", "value"),
            "share",
        ),
        check=True,
        cues=_ALL,
        plot=True,
        rests_on=_CAM_MODEL,
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
        rests_on=_CAM_MODEL,
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
        _context_gap("context_overlap_gap", "below", "mean overlap"),
        check=True,
        cues=("context_cue",),
        rests_on=_CAM_MODEL,
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
        _context_gap("context_poster_gap", "above", "share of map mass on the poster"),
        check=True,
        cues=("context_cue",),
        rests_on=_CAM_MODEL,
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
            "occlusion_face_minus_off_face",
            "face minus off-face, mean |change|",
            "score",
            "face_driven_traits",
            gate=True,
        ),
        check=True,
        cues=_FACE,
        rests_on=_CAM_MODEL,
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
        rests_on=_CAM_MODEL,
    ),
    Claim(
        "face_alone_beats_context",
        "05_cam",
        "the face alone carries more of the full-frame model's accuracy than the context alone",
        "the paired 95% interval of MA (only the face shown) minus MA (the face hidden)",
        None,
        "0",
        "MA face only − context only",
        _gain("face_only_minus_context_only", "MA, face only minus context only"),
        check=True,
        cues=_ALL,
        rests_on=_CAM_MODEL,
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
            "deletion_cam_minus_random",
            "deletion AUC, CAM minus random",
            "logit",
            direction="below",
            gate=True,
        ),
        check=True,
        rests_on=_CAM_MODEL,
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
            "deletion_cam_minus_centre_prior",
            "deletion AUC, CAM minus centre prior",
            "logit",
            direction="below",
            gate=True,
        ),
        check=True,
        rests_on=_CAM_MODEL,
    ),
)


# ----------------------------------------------------------------------------------------------
# Chapter 06: units
# ----------------------------------------------------------------------------------------------

_NULL_NAMES = {"pretrained": "the network before fine-tuning", "random": "random weights"}


def _emergence_null(measurements: Mapping[str, Any]) -> str:
    null = get(measurements, "emergence_null")
    if null not in _NULL_NAMES:
        raise Untestable(f"unknown null network {null!r}")
    return null


def _null_note(measurements: Mapping[str, Any]) -> str:
    """What the evidence says of the null: the seeds and random networks behind the
    interval, and the fallback when there is no pretrained network."""
    null = _emergence_null(measurements)
    design = measurements.get("emergence_design") or {}
    seeds = design.get("trained_seeds")
    randoms = design.get("random_networks")
    note = f"against {_NULL_NAMES[null]}"
    if seeds:
        note += f"; {seeds} fine-tuning seeds"
    if randoms:
        note += f", {randoms} random initialisations"
    if null == "random":
        note += " (no pretrained network: judged against random weights)"
    return note


def _parts_emerge(layer: str) -> Callable[[Mapping[str, Any]], Judgement]:
    """Per face part with cells: the interval of the trained networks' top-unit N'/N (the
    mean over the layer's most part-selective eighth, over the fine-tuning seeds) minus the
    null network's, people and seeds resampled."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        gaps = get(measurements, "emergence", layer)
        if not gaps:
            raise Untestable(f"no face part has a cell on the {layer} grid")
        parts, words = [], []
        for part in gaps:
            evidence, value, low, high = _estimate(
                measurements, "emergence", layer, part, scale="share"
            )
            parts.append((part, evidence))
            words.append(f"{part} {with_interval(value, low, high, 3)}")
        levels = (measurements.get("emergence_levels") or {}).get(layer) or {}
        trained = [number(v["trained"]) for v in levels.values() if v.get("trained") is not None]
        return Judgement(
            Evidence(parts=tuple(parts)),
            min(trained) if trained else None,
            None,
            f"{layer}, top-unit N'/N trained minus null per part: "
            + ", ".join(words)
            + f" ({_null_note(measurements)})",
        )

    return judge_


def _null_gap(
    key: str, what: str, scale: str, direction: str = "above"
) -> Callable[[Mapping[str, Any]], Judgement]:
    """The interval of a trained-minus-null difference (``key``: an estimate record), with the
    networks' own figures (``key + "_levels"``) in the evidence."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        evidence, value, low, high = _estimate(measurements, key, scale=scale, direction=direction)
        levels = measurements.get(f"{key}_levels") or {}
        figures = ", ".join(
            f"{name} {number(v):.4g}" for name, v in levels.items() if v is not None
        )
        return Judgement(
            evidence,
            value,
            0.0,
            f"{what}, trained minus null {with_interval(value, low, high, 3)}"
            + (f" ({figures})" if figures else "")
            + f"; {_null_note(measurements)}",
        )

    return judge_


def _spikier(measurements: Mapping[str, Any]) -> Judgement:
    evidence, value, low, high = _estimate(
        measurements, "entropy_depth_spearman", scale="correlation", direction="below"
    )
    others = measurements.get("entropy_depth_spearman_levels") or {}
    return Judgement(
        evidence,
        value,
        None,
        f"Spearman(depth, entropy) of the trained networks {with_interval(value, low, high, 2)}"
        + "".join(
            f"; {name} {number(v):+.2f}"
            for name, v in others.items()
            if name != "trained" and v is not None
        ),
    )


def _glasses(measurements: Mapping[str, Any]) -> Judgement:
    best = get(measurements, "glasses_best")
    precision, base = number(best["precision"]), number(best["base_rate"])
    p_value = number(best["p_layer"])
    detectable = best.get("detectable_precision")
    evidence = Evidence(
        precision - base,
        None,
        0.0,
        "above",
        "share",
        p=p_value,
        test="the best unit's hypergeometric p, corrected over the layer's units",
        detectable=None if detectable is None else number(detectable) - base,
    )
    return Judgement(
        evidence,
        precision,
        base,
        f"best conv5_3 unit: {precision:.2f} of its top faces wear glasses against "
        f"{base:.2f} of all, layer-corrected p = {p_value:.2g}; units with p < {ALPHA:g}: "
        f"{int(number(best['units_significant']))}",
    )


def _carries_cue(trait: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        row = get(measurements, "planted_cues", trait)
        top, everyone = number(row["top"]), number(row["all"])
        critical = row.get("critical")
        # No q where the R² gate left the trait out of the correction: the gate says why.
        q_value = None if row.get("q") is None else number(row["q"])
        evidence = Evidence(
            top - everyone,
            None,
            0.0,
            "above",
            "share",
            p=number(row["p"]),
            q=q_value,
            test="random unit sets of as many units (permutation), BH across the learned traits",
            detectable=None if critical is None else number(critical) - everyone,
        ).gated(r2_gate(measurements, trait))
        return Judgement(
            evidence,
            top,
            everyone,
            f"{trait}'s most influential units: {top:.2f} on its planted cue ({row['cue']}) vs "
            f"{everyone:.2f} for all units, "
            + ("" if q_value is None else f"BH q = {q_value:.3f} ")
            + f"(p = {number(row['p']):.3f})",
        )

    return judge_


def _ablation_causal(measurements: Mapping[str, Any]) -> Judgement:
    sets = get(measurements, "ablation_min_q")
    if not sets:
        raise Untestable("no labelled unit set")
    parts = []
    for name, row in sets.items():
        parts.append(
            (
                name,
                Evidence(
                    number(row["ratio"]),
                    None,
                    1.0,
                    "above",
                    "ratio",
                    q=number(row["q"]),
                    test="random unit sets matched on mean activation, BH over sets x traits",
                    detectable=None
                    if row.get("detectable_ratio") is None
                    else number(row["detectable_ratio"]),
                ),
            )
        )
    return Judgement(
        Evidence(parts=tuple(parts)),
        float(sum(number(row["q"]) < ALPHA for row in sets.values())),
        float(len(sets)),
        "smallest BH q per set: "
        + ", ".join(
            f"{name} {number(row['q']):.3f} ({row['trait']}, ×{number(row['ratio']):.1f} the "
            f"matched random units')"
            for name, row in sets.items()
        ),
    )


def _ablation_planted(measurements: Mapping[str, Any]) -> Judgement:
    agreement = get(measurements, "ablation_planted_agreement")
    rho, p_value = number(agreement["spearman"]), number(agreement["p"])
    matched = f"{agreement['matched']} of {agreement['cues']} sets move their planted trait most"
    return Judgement(
        Evidence(
            rho,
            None,
            0.0,
            "above",
            "correlation",
            p=p_value,
            test=f"traits permuted within sets ({agreement.get('permutations', '?')} permutations)",
            detectable=agreement.get("detectable"),
        ),
        rho,
        0.0,
        f"Spearman(planted share, effect over random) {rho:+.2f}, p = {p_value:.4f}; {matched}",
    )


_UNITS = ("face detection", "model gain")

_UNIT_CLAIMS: tuple[Claim, ...] = (
    Claim(
        "units_face_parts",
        "06_units",
        "conv5_3 units became face-part detectors (Fig. 9) with fine-tuning, beyond what the "
        "network had before it",
        "per face part with cells, the 95% interval (people and fine-tuning seeds resampled) of "
        "the top units' N'/N (mean over the layer's most part-selective eighth) of the trained "
        "networks minus the network's before fine-tuning (where there is none, random weights')",
        None,
        "0",
        "worst part's top-unit N'/N",
        _parts_emerge("conv5_3"),
        plot=True,
        rests_on=_UNITS,
    ),
    Claim(
        "units_face_parts_conv4_3",
        "06_units",
        "conv4_3 units became face-part detectors with fine-tuning, beyond the network before it",
        "as for conv5_3, on conv4_3",
        None,
        "0",
        "conv4_3 worst part's top-unit N'/N",
        _parts_emerge("conv4_3"),
        check=True,
        rests_on=_UNITS,
    ),
    Claim(
        "units_spikier_with_depth",
        "06_units",
        "peak-location histograms get spikier with depth (Fig. 10)",
        "the 95% interval (people and seeds resampled) of the Spearman correlation of depth "
        "with the layers' peak entropy, trained networks, below 0",
        None,
        "—",
        "Spearman(depth, entropy)",
        _spikier,
        rests_on=_UNITS,
    ),
    Claim(
        "units_deepest_spikier",
        "06_units",
        "fine-tuning makes the deepest layer spikier than it was before",
        "the 95% interval (people and seeds resampled) of conv5_3's peak entropy, trained minus "
        "before fine-tuning (where there is none, random weights), below 0",
        None,
        "0",
        "conv5_3 entropy gap (bits)",
        _null_gap("deepest_entropy_gap", "conv5_3 entropy (bits)", "bits", "below"),
        check=True,
        rests_on=_UNITS,
    ),
    Claim(
        "units_netdissect",
        "06_units",
        "conv5_3 units match face parts better (NetDissect IoU) after fine-tuning than before",
        "the 95% interval (people and seeds resampled) of the top units' best-part IoU (mean "
        "over the layer's best eighth), trained minus before fine-tuning (else random weights)",
        None,
        "0",
        "conv5_3 top-unit IoU gap",
        _null_gap("netdissect_gap", "top-unit IoU", "share"),
        check=True,
        rests_on=_UNITS,
    ),
    Claim(
        "units_glasses",
        "06_units",
        "some conv5_3 units respond to glasses (Fig. 11)",
        "the best unit's share of glasses faces among its top faces against the share among all "
        "faces (hypergeometric p, corrected over the layer's units)",
        None,
        "share of all faces",
        "glasses units",
        _glasses,
        cues=("glasses",),
        rests_on=_UNITS,
    ),
    Claim(
        "units_glasses_learned",
        "06_units",
        "glasses units are learned with fine-tuning: the trained networks' glasses units are "
        "more precise than the network's before fine-tuning",
        "the 95% interval (people and seeds resampled) of the top units' glasses precision at N "
        "(mean over the layer's best eighth), trained minus before fine-tuning (else random)",
        None,
        "0",
        "glasses precision gap",
        _null_gap("glasses_gap", "top-unit glasses precision at N", "share"),
        check=True,
        cues=("glasses",),
        rests_on=_UNITS,
    ),
    *(
        Claim(
            f"units_carry_cue_{trait}",
            "06_units",
            f"{trait}: its most influential conv5_3 units carry its planted cue",
            "their share on the cue against random unit sets (BH across the learned traits)",
            None,
            "all units",
            f"{trait} units on its cue",
            _carries_cue(trait),
            check=True,
            cues=tuple(TRAIT_WEIGHTS[trait]),
            rests_on=_UNITS,
        )
        for trait in TRAITS
    ),
    Claim(
        "units_ablation_causal",
        "06_units",
        "the units labelled as face-part (and glasses) detectors matter to the predictions: "
        "silencing them (set to their mean) moves some trait more than silencing as many random "
        "units of matched mean activation",
        "per labelled set, the smallest Benjamini-Hochberg q over the traits (random-unit null)",
        None,
        "sets tested",
        "sets moving a trait",
        _ablation_causal,
        check=True,
        rests_on=_UNITS,
    ),
    Claim(
        "units_ablation_planted",
        "06_units",
        "silencing a part's detectors moves the traits planted on that part",
        "Spearman correlation of planted share with effect over random units (set x trait), "
        "tested by permuting the traits within each set (synthetic only)",
        None,
        "0",
        "Spearman(planted, ablation)",
        _ablation_planted,
        check=True,
        cues=_FACE,
        rests_on=_UNITS,
    ),
)


# ----------------------------------------------------------------------------------------------
# Chapter 07: action units
# ----------------------------------------------------------------------------------------------

#: The AU sources Table 2 and the AU model run on: the measured AUs (the chapter's source, an
#: instrument with its own check) and, on the synthetic set, the planted AUs (a perfect one).
_SOURCES = {"measured": "measured AUs", "planted": "planted AUs"}


def _table2(measurements: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    table = get(measurements, "table2", source)
    if not table.get("aus"):
        raise Untestable(f"no AU measured ({_SOURCES[source]})")
    return table


def _au_part(au: str, row: Mapping[str, Any], detectable: Any, test: str) -> Evidence:
    return Evidence(
        number(row["k"]),
        None,
        0.0,
        "above",
        "count",
        p=None if row.get("p") is None else number(row["p"]),
        q=number(row["q"]),
        test=test,
        detectable=None if detectable is None else number(detectable),
    )


def _significant(
    source: str, level: str = "aus", what: str = "one face per test clip"
) -> Callable[[Mapping[str, Any]], Judgement]:
    """Some AU with q < α at one level (``aus``: one face per clip; ``every_frame``;
    ``clip_level``): one part per AU, combined by "any"."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        table = _table2(measurements, source)
        rows = table.get(level)
        if not rows:
            raise Untestable(f"no AU at the {what} level ({_SOURCES[source]})")
        detectable = table.get(f"detectable_k_{level}")
        test = f"Table 2's formula p ({what}), BH over the AUs"
        parts = tuple((au, _au_part(au, row, detectable, test)) for au, row in rows.items())
        significant = [au for au, row in rows.items() if number(row["q"]) < ALPHA]
        return Judgement(
            Evidence(parts=parts, combine="any"),
            float(len(significant)),
            None,
            f"{what} ({_SOURCES[source]}): {len(significant)} of {len(rows)} AUs with BH q < "
            f"{ALPHA:g}"
            + (f" ({', '.join(significant)})" if significant else "")
            + ("" if detectable is None else f"; p < {ALPHA:g} needs k ≥ {detectable}"),
        )

    return judge_


def _paper_aus(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        table = _table2(measurements, source)
        rows = {au: table["aus"][au] for au in paper.TABLE2_SIGNIFICANT if au in table["aus"]}
        if not rows:
            raise Untestable(f"none of {', '.join(paper.TABLE2_SIGNIFICANT)} measured")
        test = "Table 2's formula p (one face per test clip), BH over the AUs"
        detectable = table.get("detectable_k_aus")
        parts = tuple((au, _au_part(au, row, detectable, test)) for au, row in rows.items())
        return Judgement(
            Evidence(parts=parts),
            float(sum(number(row["q"]) < ALPHA for row in rows.values())),
            float(len(rows)),
            f"BH q ({_SOURCES[source]}): "
            + ", ".join(
                f"{au} k = {int(number(row['k']))}, q = {number(row['q']):.3g}"
                for au, row in rows.items()
            ),
        )

    return judge_


def _lip_corners(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        _table2(measurements, source)
        evidence, value, low, high = _estimate(
            measurements, "table2", source, "lip_corner_gap", scale="share"
        )
        winners = ", ".join(get(measurements, "table2", source, "best_matched"))
        return Judgement(
            evidence,
            winners,
            None,
            f"{_SOURCES[source]}: largest intersection for {winners}; best lip-corner AU's k/N "
            f"minus the best other AU's {with_interval(value, low, high, 3)}",
        )

    return judge_


def _au_model(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        model = get(measurements, "au_model", source)
        evidence, value, low, high = _estimate(
            measurements, "au_model", source, "gain_over_constant", scale="accuracy"
        )
        accuracy = number(model["accuracy"])
        return Judgement(
            evidence,
            accuracy,
            accuracy - value,
            f"AU model ({_SOURCES[source]}) MA {accuracy:.4f}, paired gain over the constant "
            f"{with_interval(value, low, high)}",
        )

    return judge_


def _au_near_cnn(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        cnn, cnn_low, _ = interval(measurements, "cnn_gain")
        if cnn_low <= 0:
            raise Untestable(f"the CNN is not shown above the constant (gain {cnn:+.4f})")
        evidence, value, low, high = _estimate(
            measurements, "au_model", source, "gain_share", scale="ratio", bar=0.5, null=None
        )
        return Judgement(
            evidence,
            value,
            0.5,
            f"the AU model ({_SOURCES[source]}) recovers {with_interval(value, low, high, 2)} of "
            f"the CNN's gain over the constant (the seed mean, {cnn:+.4f})",
        )

    return judge_


def _beyond_glasses(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        trait = get(measurements, "au_beyond_glasses_trait")
        evidence, value, low, high = _estimate(
            measurements, "au_beyond_glasses", source, scale="accuracy"
        )
        return Judgement(
            evidence,
            value,
            0.0,
            f"{trait} accuracy ({_SOURCES[source]}), AUs with glasses as a covariate minus "
            f"glasses alone {with_interval(value, low, high)}",
        )

    return judge_


def _estimator(measurements: Mapping[str, Any]) -> Judgement:
    bar = number(get(measurements, "estimator_bar"))
    evidence, value, low, high = _estimate(
        measurements, "estimator_r", scale="correlation", bar=bar, null=None
    )
    return Judgement(
        evidence,
        value,
        bar,
        f"mean per-frame Pearson r with the planted AUs {with_interval(value, low, high, 2)} "
        "(people resampled)",
    )


def _coefficients(measurements: Mapping[str, Any]) -> Judgement:
    evidence, value, low, high = _estimate(
        measurements, "coefficient_r", scale="correlation", bar=0.5, null=None
    )
    return Judgement(
        evidence,
        value,
        0.5,
        f"r with the planted weights {with_interval(value, low, high, 2)} (clips resampled, the "
        "model refitted)",
    )


def _links(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        row = get(measurements, "region_links", source)
        testable = int(number(row["n_testable"]))
        if testable == 0:
            raise Untestable("no AU's part has a cell on the grid")
        observed, expected = number(row["observed"]), number(row["expected"])
        p_value = number(row["p_value"])
        detectable = row.get("detectable")
        return Judgement(
            Evidence(
                observed - expected,
                None,
                0.0,
                "above",
                "count",
                p=p_value,
                test="exact test against units picked at random (one-sided)",
                detectable=None if detectable is None else number(detectable) - expected,
            ),
            observed,
            expected,
            f"{int(observed)} of {testable} testable AUs, {expected:.1f} expected by chance, "
            f"p = {p_value:.3f}"
            + ("" if detectable is None else f" (p < {ALPHA:g} needs {int(number(detectable))})"),
        )

    return judge_


def _source_claims(source: str) -> tuple[Claim, ...]:
    """Table 2 and the AU model on one AU source; the measured AUs rest on the AU source."""
    suffix = "" if source == "measured" else "_planted"
    on = "" if source == "measured" else " (planted AUs)"
    rests = ("AU source",) if source == "measured" else ()
    check = source != "measured"
    return (
        Claim(
            f"table2_significant{suffix}",
            "07_action_units",
            f"some AUs have a conv5_3 unit whose top faces overlap the AU's above chance "
            f"(Table 2, one face per test clip){on}",
            "per AU, Table 2's formula p, Benjamini-Hochberg across the AUs",
            float(sum(p < ALPHA for _unit, _k, p in paper.TABLE2.values())),
            "—",
            f"AUs matched by a unit{on}",
            _significant(source),
            check=check,
            cues=_AUS,
            rests_on=rests + ("model gain",),
        ),
        Claim(
            f"table2_paper_aus{suffix}",
            "07_action_units",
            f"the paper's significant AUs ({', '.join(paper.TABLE2_SIGNIFICANT)}) have a "
            f"matching unit here{on}",
            "each AU's BH q (one face per test clip)",
            float(len(paper.TABLE2_SIGNIFICANT)),
            "AUs measured",
            f"paper's AUs matched{on}",
            _paper_aus(source),
            check=check,
            cues=paper.TABLE2_SIGNIFICANT,
            rests_on=rests + ("model gain",),
        ),
        Claim(
            f"table2_lip_corners{suffix}",
            "07_action_units",
            f"the best-matched AUs are the lip-corner ones, {' and '.join(paper.LIP_CORNER_AUS)} "
            f"(Table 2){on}",
            "the 95% interval (people resampled) of the best lip-corner AU's k/N minus the best "
            "other AU's",
            ", ".join(paper.TABLE2_BEST),
            "—",
            f"best-matched AU{on}",
            _lip_corners(source),
            check=check,
            cues=paper.LIP_CORNER_AUS,
            rests_on=rests + ("model gain",),
        ),
        Claim(
            f"au_model_beats_constant{suffix}",
            "07_action_units",
            f"17 AU intensities predict the traits: the linear AU model beats the constant "
            f"predictor{on}",
            "the paired 95% interval of MA − constant (people resampled)",
            paper.AU_MODEL_ACCURACY if source == "measured" else None,
            "training-mean constant",
            f"AU model MA{on}",
            _au_model(source),
            check=check,
            cues=_AUS,
            rests_on=rests,
            plot=source == "measured",
        ),
        Claim(
            f"au_model_near_cnn{suffix}",
            "07_action_units",
            f"the AU model predicts almost as well as the CNN: it recovers at least half of the "
            f"CNN's gain over the constant{on}",
            "the 95% interval (people and the CNN's seeds resampled) of the AU model's gain over "
            "the constant as a share of the face CNN's (the mean over its seeds), against 0.5",
            (paper.AU_MODEL_ACCURACY - paper.REAL_CONSTANT["test"])
            / (_FACE_ROW["MA"] - paper.REAL_CONSTANT["test"])
            if source == "measured"
            else None,
            "half of the CNN's gain",
            f"AU share of CNN's gain{on}",
            _au_near_cnn(source),
            check=check,
            cues=_AUS,
            rests_on=rests,
            plot=source == "measured",
        ),
        Claim(
            f"au_model_beyond_glasses{suffix}",
            "07_action_units",
            f"the AU model's conscientiousness comes from the AUs, not from glasses read through "
            f"the landmarks: with glasses as a covariate the AUs still add accuracy{on}",
            "the paired 95% interval (people resampled) of conscientiousness accuracy, the AU "
            "model with glasses as a covariate minus a model of glasses alone (synthetic only)",
            None,
            "glasses alone",
            f"AUs beyond glasses{on}",
            _beyond_glasses(source),
            check=True,
            cues=("glasses", *TRAIT_WEIGHTS["conscientiousness"]),
            rests_on=rests,
        ),
        Claim(
            f"au_links_{source}",
            "07_action_units",
            f"AU↔unit links ({_SOURCES[source]}) point at the face part the AU moves more often "
            "than chance",
            "how many AUs' best units put more of their maxima in the AU's part than the average "
            "unit, against units picked at random (exact one-sided p)",
            None,
            "expected by chance",
            f"AU links to their part ({_SOURCES[source]})",
            _links(_SOURCES[source]),
            check=True,
            rests_on=rests + ("model gain",),
        ),
    )


_AU_CLAIMS: tuple[Claim, ...] = (
    Claim(
        "au_estimator_tracks_truth",
        "07_action_units",
        "the AU measurements follow the true AUs (the AU source's own check)",
        "the 95% interval (people resampled) of the mean per-frame Pearson r of the measured AUs "
        "with the planted ones (synthetic only)",
        None,
        "threshold",
        "AU estimator r",
        _estimator,
        check=True,
        instrument="AU source",
    ),
    *_source_claims("measured"),
    *_source_claims("planted"),
    Claim(
        "table2_every_frame",
        "07_action_units",
        "with every test frame instead of one per clip, some AU has a matching unit",
        "per AU, the formula p over every face frame, BH across the AUs",
        None,
        "—",
        "AUs matched, every frame",
        _significant("measured", "every_frame", "every face frame"),
        check=True,
        cues=_AUS,
        rests_on=("AU source", "model gain"),
    ),
    Claim(
        "table2_clip_level",
        "07_action_units",
        "some AU keeps a matching unit at the clip level, each clip scored by its best frame",
        "per AU, a clip-level permutation p, BH across the AUs",
        None,
        "—",
        "AUs matched, clip level",
        _significant("measured", "clip_level", "clip level"),
        check=True,
        cues=_AUS,
        rests_on=("AU source", "model gain"),
    ),
    Claim(
        "table2_random_network",
        "07_action_units",
        "the trained units match the AUs better than the units of the network before fine-tuning",
        "the 95% interval (people and seeds resampled) of the mean best k/N over the AUs, trained "
        "networks minus the network before fine-tuning (else random weights)",
        None,
        "0",
        "mean best k/N gap",
        _null_gap("best_k_gap", "mean best k/N over the AUs", "share"),
        check=True,
        cues=_AUS,
        rests_on=("AU source", "model gain"),
    ),
    Claim(
        "au_coefficients_planted",
        "07_action_units",
        "the AU model's coefficients follow the planted weights",
        "the 95% interval of the overall Pearson r with the planted weights, against 0.5 "
        "(synthetic only)",
        None,
        "threshold",
        "coefficients vs planted r",
        _coefficients,
        check=True,
        cues=_AUS,
        rests_on=("AU source",),
    ),
)

#: Every claim, in the order of the paper; ``check=True`` rows test what the paper did not.
CLAIMS: tuple[Claim, ...] = (*_MODEL_CLAIMS, *_CAM_CLAIMS, *_UNIT_CLAIMS, *_AU_CLAIMS)


# ----------------------------------------------------------------------------------------------
# Judging and reporting
# ----------------------------------------------------------------------------------------------


def claims_of(chapter: str) -> tuple[Claim, ...]:
    """The rows of :data:`CLAIMS` that one chapter judges."""
    return tuple(claim for claim in CLAIMS if claim.chapter == chapter)


def judge_claim(claim: Claim, measurements: Mapping[str, Any], synthetic: bool) -> dict:
    """One claim judged (:func:`~personality_utils.core.verdicts.judge`), resting on the instruments
    it names (:attr:`~personality_utils.core.verdicts.Claim.rests_on`, as the chapter checked them)
    and, on the synthetic set, read as planted where :func:`planted` says so."""
    rests = tuple(instrument(measurements, name) for name in claim.rests_on)
    return judge(claim, measurements, synthetic, planted(claim), rests)


def report(chapter: str, measurements: Mapping[str, Any], synthetic: bool) -> list[dict]:
    """A chapter's "What held": judge its rows of :data:`CLAIMS`, print each with its verdict,
    rule and evidence, and return the rows for its results file (``claims``)."""
    # Judged as saved (NaN becomes None, numpy values plain numbers), so that the summary,
    # which reads the results file, gives exactly these rows.
    saved = to_jsonable(measurements)
    rows = [judge_claim(claim, saved, synthetic) for claim in claims_of(chapter)]
    for row in rows:
        print(f"[{row['verdict']}] {row['claim']}")
        print(f"    rule: {row['rule']}")
        print(
            f"    {row['evidence']}"
            + ("" if row["reading"] == "finding" else f" ({row['reading']})")
        )
    return rows


def evaluate(chapters: Mapping[str, dict | None], claims: Iterable[Claim] = CLAIMS) -> list[dict]:
    """Every claim judged from the chapters' results files (the summary page): the same rows a
    chapter's :func:`report` gave, plus ``profile``, ``data`` and a ``status`` that is the
    verdict, or "not run" when the chapter has no results file.
    """
    rows = []
    for claim in claims:
        content = chapters.get(claim.chapter)
        if content is None or not isinstance(content.get("measurements"), Mapping):
            row = judge_claim(claim, {}, synthetic=False)
            row.update(
                verdict="not run",
                evidence=f"chapter {claim.chapter} has no results file with measurements",
                profile=None,
                data=None,
            )
        else:
            row = judge_claim(claim, content["measurements"], bool(content.get("synthetic")))
            row.update(profile=content.get("profile"), data=content.get("data"))
        rows.append(row)
    return rows


def counts(rows: Sequence[Mapping]) -> dict[str, int]:
    """How many rows have each verdict (and "not run")."""
    out: dict[str, int] = {}
    for row in rows:
        out[row["verdict"]] = out.get(row["verdict"], 0) + 1
    return out
