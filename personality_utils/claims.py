"""Every claim of the paper, and every check this book adds, judged once.

Each chapter saves a record of its measurements (``measurements`` in its results file) and ends
with :func:`report`, which judges that chapter's rows of :data:`CLAIMS`, prints them with their
rules, and returns them for the results file; the summary page (chapter 08) judges the same rows
from the same records with :func:`evaluate`, so a chapter and the summary cannot disagree.

Verdicts are four-valued (:data:`~personality_utils.verdicts.VERDICTS`): *held*, *did not hold*,
*inconclusive* (an interval straddles the bar) and *not testable here* (no data, a missing or
non-finite measurement, or a real-data-only claim). Where a measurement carries an interval the
rule uses it; claims of sameness are judged against an equivalence margin with an interval,
never by a large p-value. On the synthetic set, claims whose truth the generator's planted
weights decide are read as checks of the method, not as findings about people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from . import paper
from .data import TRAITS
from .results import to_jsonable
from .verdicts import (
    ALPHA,
    EQUIVALENCE_MARGIN,
    HELD,
    INCONCLUSIVE,
    NOT_HELD,
    NOT_TESTABLE,
    VERDICTS,
    Claim,
    Judgement,
    Untestable,
    above,
    below,
    equivalent,
    get,
    interval,
    judge,
    number,
    point,
    with_interval,
)

__all__ = ["CLAIMS", "VERDICTS", "claims_of", "counts", "evaluate", "judge", "report"]


# ----------------------------------------------------------------------------------------------
# Chapters 03-04: the models
# ----------------------------------------------------------------------------------------------


def _gain(key: str, what: str, ours: tuple[str, ...] = ()) -> Callable[..., Judgement]:
    """Held if the paired interval of a difference lies above 0 (:func:`above`). ``ours`` names
    the figure the difference is taken from (an accuracy, an overlap); the baseline is then that
    figure minus the difference, the reference's value on the same items."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        value, low, high = interval(measurements, key)
        figure = number(get(measurements, *ours)) if ours else value
        baseline = figure - value if ours else 0.0
        levels = f"{figure:.4f} vs {baseline:.4f}, " if ours else ""
        return Judgement(
            above(low, high, 0.0),
            figure,
            baseline,
            f"{what}: {levels}paired difference {with_interval(value, low, high)}",
        )

    return judge_


def _audio_video(measurements: Mapping[str, Any]) -> Judgement:
    accuracy = number(get(measurements, "accuracy", "value"))
    return Judgement(
        NOT_TESTABLE,
        None,
        None,
        f"this book trains no audio model, so the gap cannot be measured (video alone: MA "
        f"{accuracy:.4f})",
    )


def _identity_disjoint(measurements: Mapping[str, Any]) -> Judgement:
    value, low, high = interval(measurements, "identity_disjoint_gain")
    clips = int(number(get(measurements, "identity_disjoint_clips")))
    return Judgement(
        above(low, high, 0.0),
        value,
        0.0,
        f"faces MA − constant on {clips} clips of unseen people {with_interval(value, low, high)}",
    )


# ----------------------------------------------------------------------------------------------
# Chapter 05: where the model looks
# ----------------------------------------------------------------------------------------------


def _cam_share(measurements: Mapping[str, Any]) -> Judgement:
    value, low, high = interval(measurements, "share_ge_0_9")
    prior = number(get(measurements, "centre_prior_share"))
    bar = max(0.5, prior)
    return Judgement(
        above(low, high, bar),
        value,
        prior,
        f"share {value:.3f} [{low:.3f}, {high:.3f}] vs max(0.5, centre prior {prior:.3f})",
    )


def _cam_randomisation(measurements: Mapping[str, Any]) -> Judgement:
    finals = get(measurements, "randomised_rank_correlation")
    values = {label: number(value) for label, value in finals.items()}
    if not values:
        raise Untestable("no randomisation")
    worst = max(values.values())
    return Judgement(
        point(worst < 0.5),
        worst,
        0.5,
        "rank correlation with the trained maps once every layer is randomised: "
        + ", ".join(f"{label} {value:+.2f}" for label, value in values.items()),
    )


def _context_trait(key: str, lowest: bool, what: str) -> Callable[..., Judgement]:
    """The synthetic set's context-driven trait against the others on one per-trait figure:
    held if it is the lowest (``lowest``) or the highest (point values)."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        context = get(measurements, "context_trait")
        values = {t: number(v) for t, v in get(measurements, key).items()}
        others = {t: v for t, v in values.items() if t != context}
        bar = min(others.values()) if lowest else max(others.values())
        held = values[context] < bar if lowest else values[context] > bar
        return Judgement(
            point(held),
            values[context],
            bar,
            f"{what}: {context} (planted outside the face) {values[context]:.3f}; others "
            + ", ".join(f"{t} {v:.3f}" for t, v in others.items()),
        )

    return judge_


def _cam_parts(measurements: Mapping[str, Any]) -> Judgement:
    value, low, high = interval(measurements, "part_spread")
    region = get(measurements, "part_spread_region")
    p_value = number(get(measurements, "part_difference_p"))
    return Judgement(
        equivalent(low, high, EQUIVALENCE_MARGIN),
        value,
        EQUIVALENCE_MARGIN,
        f"largest spread of a part's mean share across traits ({region}) {value:.3f} "
        f"[{low:.3f}, {high:.3f}]; paired permutation p = {p_value:.4f}",
    )


def _combine(verdicts: Sequence[str]) -> str:
    """Every trait held: held; any did not hold: did not hold; otherwise inconclusive."""
    if verdicts and all(v == HELD for v in verdicts):
        return HELD
    if any(v == NOT_HELD for v in verdicts):
        return NOT_HELD
    return INCONCLUSIVE


def _per_trait(
    key: str, what: str, traits_key: str | None = None, lower: bool = False
) -> Callable[[Mapping[str, Any]], Judgement]:
    """Held if, for every trait (of ``traits_key``'s list, or all), the interval of the
    per-trait estimate ``key`` lies above 0 (below 0 with ``lower``)."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        traits = list(get(measurements, traits_key)) if traits_key else list(TRAITS)
        if not traits:
            raise Untestable(f"no trait to test in {traits_key}")
        verdicts, parts = [], []
        for trait in traits:
            value, low, high = interval(measurements, key, trait)
            verdicts.append(below(low, high, 0.0) if lower else above(low, high, 0.0))
            parts.append(f"{trait[0].upper()} {with_interval(value, low, high, 3)}")
        held = sum(v == HELD for v in verdicts)
        return Judgement(
            _combine(verdicts), float(held), float(len(traits)), f"{what}: " + ", ".join(parts)
        )

    return judge_


def _poster_occlusion(measurements: Mapping[str, Any]) -> Judgement:
    trait = get(measurements, "occlusion_context_trait")
    value, low, high = interval(measurements, "occlusion_poster_minus_face", trait)
    return Judgement(
        above(low, high, 0.0),
        value,
        0.0,
        f"{trait} (planted on the poster): mean |change| hiding the poster minus hiding the "
        f"face {with_interval(value, low, high)}",
    )


# ----------------------------------------------------------------------------------------------
# Chapter 06: units
# ----------------------------------------------------------------------------------------------


#: What the emergence claims of chapters 06-07 are judged against, in order: the network before
#: fine-tuning (a face-pretrained network is the fair null of "emerged with fine-tuning"), else
#: a random network of the same shape (a model trained from random weights has no other).
NULLS = ("pretrained", "random")

_NULL_NAMES = {"pretrained": "pretrained before fine-tuning", "random": "random weights"}


def _null(measurements: Mapping[str, Any], key: str) -> str:
    """The null an emergence claim reads from ``key``: ``"pretrained"`` when the measurement
    has that network, else ``"random"``."""
    figures = get(measurements, key)
    return "pretrained" if figures.get("pretrained") is not None else "random"


def _fallback(null: str) -> str:
    """The evidence's note when the rule had to fall back on the random network."""
    return "" if null == "pretrained" else " (no pretrained network: judged against random weights)"


def _parts_emerge(layer: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        pretrained = measurements.get("units_above_pretrained")
        null = "pretrained" if isinstance(pretrained, Mapping) else "random"
        above_null = get(measurements, f"units_above_{null}", layer)
        best = get(measurements, "best_n_prime_share", layer)
        null_best = get(measurements, f"{null}_best_n_prime_share", layer)
        if not above_null:
            raise Untestable(f"no face part has a cell on the {layer} grid")
        counts = {part: int(number(n)) for part, n in above_null.items()}
        evidence = (
            f"{layer}, trained units above the best unit's N'/N ({_NULL_NAMES[null]}) per part: "
            + ", ".join(
                f"{p} {n} (best {number(best[p]):.2f} vs {number(null_best[p]):.2f})"
                for p, n in counts.items()
            )
            + _fallback(null)
        )
        if null == "pretrained":
            random_above = get(measurements, "units_above_random", layer)
            evidence += "; above the best random-weight unit: " + ", ".join(
                f"{p} {int(number(random_above[p]))}" for p in counts if p in random_above
            )
        return Judgement(
            point(all(n > 0 for n in counts.values())),
            min(number(best[p]) for p in counts),
            max(number(null_best[p]) for p in counts),
            evidence,
        )

    return judge_


def _spikier(measurements: Mapping[str, Any]) -> Judgement:
    figures = get(measurements, "entropy_depth_spearman")
    trained = number(get(figures, "trained"))
    random = number(get(figures, "random"))
    null = _null(measurements, "entropy_depth_spearman")
    pretrained = (
        f"network before fine-tuning {number(figures['pretrained']):+.2f}, "
        if null == "pretrained"
        else ""
    )
    return Judgement(
        point(trained < 0),
        trained,
        number(figures[null]),
        f"Spearman(depth, entropy) {trained:+.2f}; {pretrained}random network {random:+.2f}",
    )


def _versus_null(key: str, what: str, lower: bool = False) -> Callable[..., Judgement]:
    """Held if the trained network's figure is above (``lower``: below) the null network's
    (point values: each null is one network): the network before fine-tuning when the
    measurement has it, else the random network of the same shape, which the evidence says.
    The evidence gives the random network's figure beside the pretrained one's."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        trained = number(get(measurements, key, "trained"))
        random = number(get(measurements, key, "random"))
        null = _null(measurements, key)
        reference = number(get(measurements, key, null))
        held = trained < reference if lower else trained > reference
        if null == "pretrained":
            versus = f"{reference:.4g} pretrained before fine-tuning, {random:.4g} random weights"
        else:
            versus = f"{random:.4g} random weights"
        return Judgement(
            point(held),
            trained,
            reference,
            f"{what}: {trained:.4g} trained vs {versus}{_fallback(null)}",
        )

    return judge_


def _glasses(measurements: Mapping[str, Any]) -> Judgement:
    significant = number(get(measurements, "glasses_units", "trained"))
    best_p = number(get(measurements, "glasses_best_p_layer"))
    return Judgement(
        point(significant > 0),
        significant,
        None,
        f"conv5_3 units with a layer-corrected p < 0.05: {int(significant)} (best p {best_p:.2g})",
    )


def _carries_cue(trait: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        row = get(measurements, "planted_cues", trait)
        r2 = number(row["r2"])
        evidence = (
            f"{trait}'s most influential units: {number(row['top']):.2f} on its planted cue "
            f"({row['cue']}) vs {number(row['all']):.2f} for all units, test R² {r2:.2f}"
        )
        if r2 < 0.1:
            return Judgement(NOT_TESTABLE, None, None, evidence + ": the model barely learned it")
        q_value = number(row["q"])
        return Judgement(
            point(q_value < ALPHA),
            q_value,
            ALPHA,
            evidence + f", BH q = {q_value:.3f} (p = {number(row['p']):.3f})",
        )

    return judge_


def _ablation_causal(measurements: Mapping[str, Any]) -> Judgement:
    sets = get(measurements, "ablation_min_q")
    if not sets:
        raise Untestable("no labelled unit set")
    passed = {name: number(row["q"]) < ALPHA for name, row in sets.items()}
    return Judgement(
        point(all(passed.values())),
        float(sum(passed.values())),
        float(len(passed)),
        "smallest BH q per set: "
        + ", ".join(
            f"{name} {number(row['q']):.3f} ({row['trait']}, ×{number(row['ratio']):.1f} the "
            f"random units')"
            for name, row in sets.items()
        ),
    )


def _ablation_planted(measurements: Mapping[str, Any]) -> Judgement:
    agreement = get(measurements, "ablation_planted_agreement")
    rho, p_value = number(agreement["spearman"]), number(agreement["spearman_p"])
    matched = f"{agreement['matched']} of {agreement['cues']} sets move their planted trait most"
    return Judgement(
        point(rho > 0 and p_value < ALPHA),
        rho,
        0.0,
        f"Spearman(planted share, effect over random) {rho:+.2f}, p = {p_value:.4f}; {matched}",
    )


# ----------------------------------------------------------------------------------------------
# Chapter 07: action units
# ----------------------------------------------------------------------------------------------


def _significant(key: str, what: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        aus = list(get(measurements, key))
        tested = int(number(get(measurements, "aus_tested")))
        return Judgement(
            point(len(aus) > 0),
            float(len(aus)),
            None,
            f"{what}: {len(aus)} of {tested} AUs with BH q < 0.05"
            + (f" ({', '.join(aus)})" if aus else ""),
        )

    return judge_


def _paper_aus(measurements: Mapping[str, Any]) -> Judgement:
    q_values = {au: get(measurements, "paper_aus_q").get(au) for au in ("AU12", "AU15", "AU23")}
    measured = {au: number(q) for au, q in q_values.items() if q is not None}
    if not measured:
        raise Untestable("none of AU12, AU15, AU23 measured")
    return Judgement(
        point(all(q < ALPHA for q in measured.values())),
        float(sum(q < ALPHA for q in measured.values())),
        float(len(measured)),
        "BH q (one face per clip): " + ", ".join(f"{au} {q:.3g}" for au, q in measured.items()),
    )


def _lip_corners(measurements: Mapping[str, Any]) -> Judgement:
    winners = sorted(get(measurements, "best_matched_aus"))
    if not winners:
        raise Untestable("no AU measured")
    return Judgement(
        point(all(au in paper.LIP_CORNER_AUS for au in winners)),
        ", ".join(winners),
        None,
        f"largest intersection for {', '.join(winners)}",
    )


def _au_near_cnn(measurements: Mapping[str, Any]) -> Judgement:
    share = get(measurements, "au_gain_share")
    cnn_gain = number(get(measurements, "cnn_gain"))
    if cnn_gain <= 0:
        raise Untestable(f"the CNN is not above the constant (gain {cnn_gain:+.4f})")
    share = number(share)
    return Judgement(
        point(share >= 0.5),
        share,
        0.5,
        f"the AU model recovers {share:.2f} of the CNN's gain over the constant ({cnn_gain:+.4f})",
    )


def _threshold(key: str, bar: float, what: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        value = number(get(measurements, key))
        return Judgement(point(value >= bar), value, bar, f"{what} {value:.2f}")

    return judge_


def _links(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        row = get(measurements, "region_links", source)
        testable = int(number(row["n_testable"]))
        if testable == 0:
            raise Untestable("no AU's part has a cell on the grid")
        p_value = number(row["p_value"])
        return Judgement(
            point(p_value < ALPHA),
            number(row["observed"]),
            number(row["expected"]),
            f"{int(number(row['observed']))} of {testable} testable AUs, "
            f"{number(row['expected']):.1f} expected by chance, p = {p_value:.3f}",
        )

    return judge_


# ----------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------

_IMG, _FACE = paper.TABLE1["img (full frames)"], paper.TABLE1["face"]

#: Every claim, in the order of the paper; ``check=True`` rows test what the paper did not.
CLAIMS: tuple[Claim, ...] = (
    Claim(
        "frames_beat_constant",
        "03_full_frames",
        "DAN+ on full video frames predicts the traits better than the training mean",
        "held: the paired 95% interval of MA − constant lies above 0 (MA: the mean over the "
        "training seeds; the interval resamples people and seeds)",
        _IMG["MA"],
        "training-mean constant",
        "full frames MA",
        _gain("gain_over_constant", "MA vs the constant", ("accuracy", "value")),
        planted=True,
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
        "held: the paired 95% interval of MA − constant lies above 0 (MA: the mean over the "
        "training seeds; the interval resamples people and seeds)",
        _FACE["MA"],
        "training-mean constant",
        "faces MA",
        _gain("gain_over_constant", "MA vs the constant", ("accuracy", "value")),
        planted=True,
        plot=True,
    ),
    Claim(
        "faces_beat_frames",
        "04_faces_model",
        "faces alone are more accurate than full frames",
        "held: the paired 95% interval of MA(faces) − MA(frames) lies above 0 (means over the "
        "training seeds; the interval resamples people and each model's seeds)",
        _FACE["MA"] - _IMG["MA"],
        "no difference",
        "MA faces − frames",
        _gain("faces_minus_frames", "MA(faces) − MA(full frames), same clips"),
        planted=True,
    ),
    Claim(
        "faces_better_every_trait",
        "04_faces_model",
        "the face model's gain is along all five traits",
        "held: each trait's paired 95% interval lies above 0; not held: some lies at or below",
        float(sum(_FACE[t[0].upper()] > _IMG[t[0].upper()] for t in TRAITS)),
        "5 traits",
        "traits faces > frames",
        _per_trait("faces_minus_frames_per_trait", "per trait"),
        planted=True,
    ),
    Claim(
        "faces_identity_disjoint",
        "04_faces_model",
        "the face model still beats the constant on clips of people never seen in training",
        "held: the paired 95% interval of MA − constant on those clips lies above 0",
        None,
        "constant on those clips",
        "faces gain, new identities",
        _identity_disjoint,
        check=True,
        planted=True,
    ),
    Claim(
        "cam_share_ge_0_9",
        "05_cam",
        "most CAMs of the full-frame model overlap the face box by ≥ 0.9",
        "held: the share's 95% interval lies above both 0.5 and an image-blind centre prior's",
        paper.CAM_OVERLAP_SHARE,
        "centre prior's share",
        "CAM share overlap ≥ 0.9",
        _cam_share,
        planted=True,
        plot=True,
    ),
    Claim(
        "cam_above_centre_prior",
        "05_cam",
        "the maps overlap the face more than an image-blind centre prior does",
        "held: the paired 95% interval of the mean overlap minus the prior's lies above 0",
        paper.CAM_MEAN_OVERLAP,
        "centre prior mean overlap",
        "CAM mean overlap",
        _gain(
            "cam_minus_centre_prior", "mean overlap, CAM vs centre prior", ("mean_overlap", "value")
        ),
        check=True,
        planted=True,
        plot=True,
    ),
    Claim(
        "cam_above_random",
        "05_cam",
        "the maps overlap the face more than random maps do",
        "held: the paired 95% interval of the mean overlap minus random maps' lies above 0",
        paper.CAM_MEAN_OVERLAP,
        "random map mean overlap",
        "CAM vs random map",
        _gain(
            "cam_minus_random_map", "mean overlap, CAM vs random maps", ("mean_overlap", "value")
        ),
        check=True,
        planted=True,
        plot=True,
    ),
    Claim(
        "cam_sanity_check",
        "05_cam",
        "the maps depend on the learned weights (cascading randomisation)",
        "held: rank correlation with the trained maps below 0.5 once every layer is randomised",
        None,
        "threshold",
        "rank corr. after randomising",
        _cam_randomisation,
        check=True,
    ),
    Claim(
        "cam_finds_context",
        "05_cam",
        "the face overlap shows where the information is: the trait planted outside the face "
        "has the lowest overlap",
        "held: the context-driven trait's mean overlap is the lowest (point values; synthetic "
        "only)",
        None,
        "lowest overlap of the other traits",
        "overlap, context trait",
        _context_trait("overlap_by_trait", True, "mean overlap"),
        check=True,
        planted=True,
    ),
    Claim(
        "cam_finds_poster",
        "05_cam",
        "the context-driven trait's maps put more mass on the planted poster than the others'",
        "held: its share of map mass on the poster is the largest (point values; synthetic only)",
        None,
        "largest share of the other traits",
        "poster mass, context trait",
        _context_trait("poster_energy_by_trait", False, "share of map mass on the poster"),
        check=True,
        planted=True,
    ),
    Claim(
        "cam_face_parts_same",
        "05_cam",
        "face-model maps use the same face parts for every trait",
        f"held: the 95% interval of the largest spread of a part's share across traits lies "
        f"below {EQUIVALENCE_MARGIN}; not held: above it",
        None,
        "equivalence margin",
        "largest part spread",
        _cam_parts,
        planted=True,
    ),
    Claim(
        "occlusion_face",
        "05_cam",
        "the face carries the information (causally): hiding the face moves the face-driven "
        "traits' predictions more than hiding as large a box off the face",
        "held: for every face-driven trait the paired 95% interval of mean |change| (face hidden "
        "minus off-face box hidden) lies above 0; did not hold: one lies at or below 0",
        None,
        "traits tested",
        "traits held, face vs off-face occlusion",
        _per_trait(
            "occlusion_face_minus_off_face",
            "face minus off-face, mean |change|",
            "face_driven_traits",
        ),
        check=True,
        planted=True,
    ),
    Claim(
        "occlusion_poster",
        "05_cam",
        "the trait planted outside the face responds to the poster, not to the face",
        "held: its paired 95% interval of mean |change| (poster hidden minus face hidden) lies "
        "above 0 (synthetic only)",
        None,
        "0",
        "poster minus face occlusion",
        _poster_occlusion,
        check=True,
        planted=True,
    ),
    Claim(
        "face_alone_beats_context",
        "05_cam",
        "the face alone carries more of the full-frame model's accuracy than the context alone",
        "held: the paired 95% interval of MA (only the face shown) minus MA (the face hidden) "
        "lies above 0",
        None,
        "0",
        "MA face only − context only",
        _gain("face_only_minus_context_only", "MA, face only minus context only"),
        check=True,
        planted=True,
    ),
    Claim(
        "deletion_cam_beats_random",
        "05_cam",
        "the CAM ranks pixels by what moves the prediction: deleting in its order lowers each "
        "trait's output faster than a random order",
        "held: for every trait the paired 95% interval of the deletion AUC, CAM minus random, "
        "lies below 0",
        None,
        "traits tested",
        "traits held, deletion CAM vs random",
        _per_trait("deletion_cam_minus_random", "deletion AUC, CAM minus random", lower=True),
        check=True,
    ),
    Claim(
        "deletion_cam_beats_centre",
        "05_cam",
        "deleting in the CAM's order lowers each trait's output faster than an image-blind "
        "centre prior's order",
        "held: for every trait the paired 95% interval of the deletion AUC, CAM minus centre "
        "prior, lies below 0",
        None,
        "traits tested",
        "traits held, deletion CAM vs centre",
        _per_trait(
            "deletion_cam_minus_centre_prior", "deletion AUC, CAM minus centre prior", lower=True
        ),
        check=True,
    ),
    Claim(
        "units_face_parts",
        "06_units",
        "conv5_3 units became face-part detectors (Fig. 9) with fine-tuning, beyond what the "
        "network had before it",
        "held: for every part with cells, some trained unit's N'/N is above the best unit's of "
        "the pretrained network before fine-tuning (where there is none, of a random network of "
        "the same shape)",
        None,
        "best N'/N before fine-tuning (else random)",
        "worst part's best N'/N",
        _parts_emerge("conv5_3"),
        plot=True,
    ),
    Claim(
        "units_face_parts_conv4_3",
        "06_units",
        "conv4_3 units became face-part detectors with fine-tuning, beyond the network before it",
        "held: for every part with cells, some trained unit's N'/N is above the best unit's of "
        "the pretrained network before fine-tuning (where there is none, of a random network of "
        "the same shape)",
        None,
        "best N'/N before fine-tuning (else random)",
        "conv4_3 worst part's best N'/N",
        _parts_emerge("conv4_3"),
        check=True,
    ),
    Claim(
        "units_spikier_with_depth",
        "06_units",
        "peak-location histograms get spikier with depth (Fig. 10)",
        "held: Spearman correlation of depth with entropy below 0 (the baseline column: the "
        "same for the network before fine-tuning, else a random one)",
        None,
        "same correlation, before fine-tuning (else random)",
        "Spearman(depth, entropy)",
        _spikier,
    ),
    Claim(
        "units_deepest_spikier",
        "06_units",
        "fine-tuning makes the deepest layer spikier than it was before",
        "held: conv5_3's entropy below the pretrained network's before fine-tuning (where there "
        "is none, below a random network's of the same shape)",
        None,
        "entropy before fine-tuning (else random)",
        "conv5_3 entropy (bits)",
        _versus_null("deepest_entropy", "conv5_3 entropy (bits)", lower=True),
        check=True,
    ),
    Claim(
        "units_netdissect",
        "06_units",
        "conv5_3 has more face-part detectors (NetDissect IoU > 0.04) after fine-tuning than "
        "before",
        "held: more detectors in the trained network than in the pretrained one before "
        "fine-tuning (where there is none, than in a random network of the same shape)",
        None,
        "detectors before fine-tuning (else random)",
        "conv5_3 detectors",
        _versus_null("netdissect_detectors", "conv5_3 units with IoU > 0.04"),
        check=True,
    ),
    Claim(
        "units_glasses",
        "06_units",
        "some conv5_3 units respond to glasses (Fig. 11)",
        "held: some unit's precision among its top faces has a layer-corrected p < 0.05",
        None,
        "—",
        "glasses units",
        _glasses,
    ),
    Claim(
        "units_glasses_learned",
        "06_units",
        "glasses units are learned with fine-tuning: the trained network has more of them than "
        "the network before fine-tuning",
        "held: more units with a layer-corrected p < 0.05 in the trained network than in the "
        "pretrained one before fine-tuning (where there is none, than in a random network)",
        None,
        "same count, before fine-tuning (else random)",
        "glasses units vs random",
        _versus_null("glasses_units", "conv5_3 glasses units with p < 0.05"),
        check=True,
    ),
    *(
        Claim(
            f"units_carry_cue_{trait}",
            "06_units",
            f"{trait}: its most influential conv5_3 units carry its planted cue",
            "held: their share on the cue beats random unit sets, BH q < 0.05 across the "
            "learned traits; not testable where test R² < 0.1",
            None,
            "random unit sets",
            f"{trait} units on its cue",
            _carries_cue(trait),
            check=True,
            planted=True,
        )
        for trait in TRAITS
    ),
    Claim(
        "units_ablation_causal",
        "06_units",
        "the units labelled as face-part (and glasses) detectors matter to the predictions: "
        "silencing them moves some trait more than silencing as many random units",
        "held: for every labelled set, some trait's Benjamini-Hochberg q (random-unit null) is "
        "below 0.05",
        None,
        "sets tested",
        "sets moving a trait",
        _ablation_causal,
        check=True,
    ),
    Claim(
        "units_ablation_planted",
        "06_units",
        "silencing a part's detectors moves the traits planted on that part",
        "held: Spearman correlation of planted share with effect over random units (set x "
        "trait) above 0 with p < 0.05 (synthetic only)",
        None,
        "0",
        "Spearman(planted, ablation)",
        _ablation_planted,
        check=True,
        planted=True,
    ),
    Claim(
        "table2_significant",
        "07_action_units",
        "some AUs have a conv5_3 unit whose top faces overlap the AU's above chance (Table 2, "
        "one face per test clip)",
        "held: at least one AU with the paper's formula p, Benjamini-Hochberg q < 0.05",
        float(sum(p < ALPHA for _unit, _k, p in paper.TABLE2.values())),
        "—",
        "AUs matched by a unit",
        _significant("significant_aus", "one face per test clip"),
    ),
    Claim(
        "table2_paper_aus",
        "07_action_units",
        "the paper's significant AUs (AU12, AU15, AU23) have a matching unit here",
        "held: each has BH q < 0.05 (one face per test clip)",
        3.0,
        "AUs measured",
        "paper's AUs matched",
        _paper_aus,
    ),
    Claim(
        "table2_every_frame",
        "07_action_units",
        "with every test frame instead of one per clip, some AU has a matching unit",
        "held: at least one AU with BH q < 0.05 (formula, every face frame)",
        None,
        "—",
        "AUs matched, every frame",
        _significant("significant_aus_every_frame", "every face frame"),
        check=True,
    ),
    Claim(
        "table2_clip_level",
        "07_action_units",
        "some AU keeps a matching unit at the clip level, each clip scored by its best frame",
        "held: at least one AU with a clip-level permutation BH q < 0.05",
        None,
        "—",
        "AUs matched, clip level",
        _significant("significant_aus_clip_level", "clip level"),
        check=True,
    ),
    Claim(
        "table2_random_network",
        "07_action_units",
        "the trained units match the AUs better than the units of the network before fine-tuning",
        "held: the mean best intersection over the AUs is larger for the trained network than "
        "for the pretrained one before fine-tuning (where there is none, than for a random "
        "network of the same shape)",
        None,
        "mean before fine-tuning (else random)",
        "mean best k",
        _versus_null("mean_best_k", "mean best intersection over the AUs"),
        check=True,
    ),
    Claim(
        "table2_lip_corners",
        "07_action_units",
        "the best-matched AUs are the lip-corner ones, AU12 and AU15 (Table 2)",
        "held: every AU tied for the largest intersection is one of them",
        ", ".join(
            sorted(
                au
                for au, (_u, k, _p) in paper.TABLE2.items()
                if k == max(v[1] for v in paper.TABLE2.values())
            )
        ),
        "—",
        "best-matched AU",
        _lip_corners,
    ),
    Claim(
        "au_model_beats_constant",
        "07_action_units",
        "17 AU intensities predict the traits: the linear AU model beats the constant predictor",
        "held: the paired 95% interval of MA − constant lies above 0 (MA: the mean over the "
        "training seeds; the interval resamples people and seeds)",
        paper.AU_MODEL_ACCURACY,
        "training-mean constant",
        "AU model MA",
        _gain("au_gain_over_constant", "AU model MA vs the constant", ("au_model_accuracy",)),
        planted=True,
        plot=True,
    ),
    Claim(
        "au_model_near_cnn",
        "07_action_units",
        "the AU model predicts almost as well as the CNN",
        "held: it recovers at least half of the CNN's gain over the constant (point values; "
        "the paper's figure uses the real-data constant)",
        (paper.AU_MODEL_ACCURACY - paper.REAL_CONSTANT["test"])
        / (_FACE["MA"] - paper.REAL_CONSTANT["test"]),
        "half of the CNN's gain",
        "AU share of CNN's gain",
        _au_near_cnn,
        planted=True,
        plot=True,
    ),
    Claim(
        "au_estimator_tracks_truth",
        "07_action_units",
        "the AU measurements follow the true AUs",
        "held: mean per-frame Pearson r with the planted AUs ≥ 0.5 (synthetic only)",
        None,
        "threshold",
        "AU estimator r",
        _threshold("estimator_r", 0.5, "mean per-frame r"),
        check=True,
    ),
    Claim(
        "au_coefficients_planted",
        "07_action_units",
        "the AU model's coefficients follow the planted weights",
        "held: overall Pearson r with the planted weights ≥ 0.5 (synthetic only)",
        None,
        "threshold",
        "coefficients vs planted r",
        _threshold("coefficient_r", 0.5, "r with the planted weights"),
        check=True,
        planted=True,
    ),
    *(
        Claim(
            f"au_links_{key}",
            "07_action_units",
            f"AU↔unit links ({source}) point at the face part the AU moves more often than chance",
            "held: one-sided p < 0.05 against units picked at random",
            None,
            "expected by chance",
            f"AU links to their part ({source})",
            _links(source),
            check=True,
        )
        for key, source in (("measured", "measured AUs"), ("planted", "planted AUs"))
    ),
)


# ----------------------------------------------------------------------------------------------
# Judging and reporting
# ----------------------------------------------------------------------------------------------


def claims_of(chapter: str) -> tuple[Claim, ...]:
    """The rows of :data:`CLAIMS` that one chapter judges."""
    return tuple(claim for claim in CLAIMS if claim.chapter == chapter)


def report(chapter: str, measurements: Mapping[str, Any], synthetic: bool) -> list[dict]:
    """A chapter's "What held": judge its rows of :data:`CLAIMS`, print each with its verdict,
    rule and evidence, and return the rows for its results file (``claims``)."""
    # Judged as saved (NaN becomes None, numpy values plain numbers), so that the summary,
    # which reads the results file, gives exactly these rows.
    saved = to_jsonable(measurements)
    rows = [judge(claim, saved, synthetic) for claim in claims_of(chapter)]
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
            row = judge(claim, {}, synthetic=False)
            row.update(
                verdict="not run",
                evidence=f"chapter {claim.chapter} has no results file with measurements",
                profile=None,
                data=None,
            )
        else:
            row = judge(claim, content["measurements"], bool(content.get("synthetic")))
            row.update(profile=content.get("profile"), data=content.get("data"))
        rows.append(row)
    return rows


def counts(rows: Sequence[Mapping]) -> dict[str, int]:
    """How many rows have each verdict (and "not run")."""
    out: dict[str, int] = {}
    for row in rows:
        out[row["verdict"]] = out.get(row["verdict"], 0) + 1
    return out
