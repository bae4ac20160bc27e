"""The claims engine: every claim of the paper, and every check this book adds, judged once.

Each chapter saves a record of its measurements (``measurements`` in its results file) and ends
with :func:`report`, which judges that chapter's rows of :data:`CLAIMS`, prints them with their
rules, and returns them for the results file; the summary page (chapter 08) judges the same rows
from the same records with :func:`evaluate`, so a chapter and the summary cannot disagree.

Verdicts are four-valued (:data:`VERDICTS`): *held*, *did not hold*, *inconclusive* (an
interval straddles the bar) and *not testable here* (no data, a missing or non-finite
measurement, or a real-data-only claim). Where a measurement carries an interval the rule uses
it; claims of sameness are judged against an equivalence margin with an interval, never by a
large p-value. On the synthetic set, claims whose truth the generator's planted weights decide
are read as checks of the method, not as findings about people.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import paper
from .data import TRAITS
from .results import to_jsonable

__all__ = [
    "CLAIMS",
    "EQUIVALENCE_MARGIN",
    "HELD",
    "INCONCLUSIVE",
    "NOT_HELD",
    "NOT_TESTABLE",
    "VERDICTS",
    "Claim",
    "Judgement",
    "above",
    "below",
    "claims_of",
    "counts",
    "equivalent",
    "evaluate",
    "judge",
    "report",
]

HELD, NOT_HELD, INCONCLUSIVE, NOT_TESTABLE = (
    "held",
    "did not hold",
    "inconclusive",
    "not testable here",
)
#: The four verdicts, in the order the summary counts them.
VERDICTS: tuple[str, ...] = (HELD, NOT_HELD, INCONCLUSIVE, NOT_TESTABLE)
#: How far apart the traits' shares of CAM mass on a face part may be and still count as "the
#: same parts" (chapter 05): five percentage points of the map's mass.
EQUIVALENCE_MARGIN = 0.05
_ALPHA = 0.05


class _Untestable(Exception):
    """A measurement the claim needs is absent, None or not finite."""


@dataclass(frozen=True)
class Judgement:
    """A claim judged on one chapter's measurements.

    Attributes:
        verdict: One of :data:`VERDICTS`.
        ours: Our figure (a number, or a short text such as an AU name).
        baseline: What the rule compares it with (None when nothing).
        evidence: The numbers behind the verdict, in words.
    """

    verdict: str
    ours: float | str | None
    baseline: float | str | None
    evidence: str


@dataclass(frozen=True)
class Claim:
    """One claim, and how to judge it.

    Attributes:
        key: Short identifier.
        chapter: Results stem whose ``measurements`` it reads.
        text: The claim.
        rule: The rule that decides the verdict, printed with every row.
        paper: The paper's figure for it (None when the paper gives none).
        baseline: What the baseline column is.
        label: Short name for figures.
        judge: Reads the chapter's measurements and returns a :class:`Judgement`.
        check: A check this book adds (True) or a claim of the paper (False).
        planted: On the synthetic set, the planted weights decide it: a check of the method.
        plot: Whether the summary's figure shows it (figures on a 0-1 scale).
    """

    key: str
    chapter: str
    text: str
    rule: str
    paper: float | str | None
    baseline: str
    label: str
    judge: Callable[[Mapping[str, Any]], Judgement]
    check: bool = False
    planted: bool = False
    plot: bool = False


# ----------------------------------------------------------------------------------------------
# Reading measurements and the rules
# ----------------------------------------------------------------------------------------------


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Untestable(f"a measurement it needs has no finite value ({value!r})")
    number = float(value)
    if not math.isfinite(number):
        raise _Untestable(f"a measurement it needs has no finite value ({value!r})")
    return number


def _get(measurements: Mapping[str, Any], *path: str) -> Any:
    value: Any = measurements
    for key in path:
        if not isinstance(value, Mapping) or value.get(key) is None:
            raise _Untestable(f"no measurement {'.'.join(path)}")
        value = value[key]
    return value


def _interval(measurements: Mapping[str, Any], *path: str) -> tuple[float, float, float]:
    item = _get(measurements, *path)
    if not isinstance(item, Mapping):
        raise _Untestable(f"{'.'.join(path)} has no interval")
    return _number(item["value"]), _number(item.get("low")), _number(item.get("high"))


def above(low: float, high: float, bar: float) -> str:
    """Held if the whole interval lies above ``bar``, not held if it lies at or below it,
    inconclusive if it straddles it."""
    if low > bar:
        return HELD
    if high <= bar:
        return NOT_HELD
    return INCONCLUSIVE


def below(low: float, high: float, bar: float) -> str:
    """Held if the whole interval lies below ``bar``, not held if at or above it."""
    if high < bar:
        return HELD
    if low >= bar:
        return NOT_HELD
    return INCONCLUSIVE


def equivalent(low: float, high: float, margin: float) -> str:
    """Sameness: held if the interval of a (non-negative) difference lies below ``margin``, not
    held if it lies above it, inconclusive if it straddles it (a two one-sided test read from
    the interval; a small sample can never make two things "the same")."""
    if high < margin:
        return HELD
    if low > margin:
        return NOT_HELD
    return INCONCLUSIVE


def _point(condition: bool) -> str:
    return HELD if condition else NOT_HELD


def _with_interval(value: float, low: float, high: float, digits: int = 4) -> str:
    return f"{value:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


# ----------------------------------------------------------------------------------------------
# Chapters 03-04: the models
# ----------------------------------------------------------------------------------------------


def _gain_over_constant(measurements: Mapping[str, Any]) -> Judgement:
    value, low, high = _interval(measurements, "gain_over_constant")
    accuracy = _number(_get(measurements, "accuracy", "value"))
    constant = _number(_get(measurements, "constant"))
    return Judgement(
        above(low, high, 0.0),
        accuracy,
        constant,
        f"MA {accuracy:.4f} vs constant {constant:.4f}: paired difference "
        f"{_with_interval(value, low, high)}",
    )


def _audio_video(measurements: Mapping[str, Any]) -> Judgement:
    accuracy = _number(_get(measurements, "accuracy", "value"))
    return Judgement(
        NOT_TESTABLE,
        None,
        None,
        f"this book trains no audio model, so the gap cannot be measured (video alone: MA "
        f"{accuracy:.4f})",
    )


def _faces_vs_frames(measurements: Mapping[str, Any]) -> Judgement:
    value, low, high = _interval(measurements, "faces_minus_frames")
    return Judgement(
        above(low, high, 0.0),
        value,
        0.0,
        f"MA(faces) − MA(full frames) {_with_interval(value, low, high)} (paired, same clips)",
    )


def _faces_every_trait(measurements: Mapping[str, Any]) -> Judgement:
    verdicts, parts = [], []
    for trait in TRAITS:
        value, low, high = _interval(measurements, "faces_minus_frames_per_trait", trait)
        verdicts.append(above(low, high, 0.0))
        parts.append(f"{trait[0].upper()} {_with_interval(value, low, high, 3)}")
    if all(v == HELD for v in verdicts):
        verdict = HELD
    elif any(v == NOT_HELD for v in verdicts):
        verdict = NOT_HELD
    else:
        verdict = INCONCLUSIVE
    return Judgement(
        verdict, float(sum(v == HELD for v in verdicts)), 5.0, "per trait: " + ", ".join(parts)
    )


def _identity_disjoint(measurements: Mapping[str, Any]) -> Judgement:
    value, low, high = _interval(measurements, "identity_disjoint_gain")
    clips = int(_number(_get(measurements, "identity_disjoint_clips")))
    return Judgement(
        above(low, high, 0.0),
        value,
        0.0,
        f"faces MA − constant on {clips} clips of unseen people {_with_interval(value, low, high)}",
    )


# ----------------------------------------------------------------------------------------------
# Chapter 05: where the model looks
# ----------------------------------------------------------------------------------------------


def _cam_share(measurements: Mapping[str, Any]) -> Judgement:
    value, low, high = _interval(measurements, "share_ge_0_9")
    prior = _number(_get(measurements, "centre_prior_share"))
    bar = max(0.5, prior)
    return Judgement(
        above(low, high, bar),
        value,
        prior,
        f"share {value:.3f} [{low:.3f}, {high:.3f}] vs max(0.5, centre prior {prior:.3f})",
    )


def _cam_against(key: str, name: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        value, low, high = _interval(measurements, key)
        cam = _number(_get(measurements, "mean_overlap", "value"))
        return Judgement(
            above(low, high, 0.0),
            cam,
            cam - value,
            f"mean overlap {cam:.3f}, {name} {cam - value:.3f}; paired difference over the same "
            f"maps {_with_interval(value, low, high, 3)}",
        )

    return judge_


def _cam_randomisation(measurements: Mapping[str, Any]) -> Judgement:
    finals = _get(measurements, "randomised_rank_correlation")
    values = {label: _number(value) for label, value in finals.items()}
    if not values:
        raise _Untestable("no randomisation")
    worst = max(values.values())
    return Judgement(
        _point(worst < 0.5),
        worst,
        0.5,
        "rank correlation with the trained maps once every layer is randomised: "
        + ", ".join(f"{label} {value:+.2f}" for label, value in values.items()),
    )


def _cam_context(measurements: Mapping[str, Any]) -> Judgement:
    context = _get(measurements, "context_trait")
    overlap = {t: _number(v) for t, v in _get(measurements, "overlap_by_trait").items()}
    others = {t: v for t, v in overlap.items() if t != context}
    return Judgement(
        _point(overlap[context] < min(others.values())),
        overlap[context],
        min(others.values()),
        f"mean overlap, {context} (planted outside the face) {overlap[context]:.3f}; others "
        + ", ".join(f"{t} {v:.3f}" for t, v in others.items()),
    )


def _cam_poster(measurements: Mapping[str, Any]) -> Judgement:
    context = _get(measurements, "context_trait")
    energy = {t: _number(v) for t, v in _get(measurements, "poster_energy_by_trait").items()}
    flat = _number(_get(measurements, "flat_poster_energy"))
    others = {t: v for t, v in energy.items() if t != context}
    return Judgement(
        _point(energy[context] > max(others.values())),
        energy[context],
        max(others.values()),
        f"share of map mass on the poster, {context} {energy[context]:.3f} vs at most "
        f"{max(others.values()):.3f} for the others (a flat map: {flat:.3f})",
    )


def _cam_parts(measurements: Mapping[str, Any]) -> Judgement:
    value, low, high = _interval(measurements, "part_spread")
    region = _get(measurements, "part_spread_region")
    p_value = _number(_get(measurements, "part_difference_p"))
    return Judgement(
        equivalent(low, high, EQUIVALENCE_MARGIN),
        value,
        EQUIVALENCE_MARGIN,
        f"largest spread of a part's mean share across traits ({region}) {value:.3f} "
        f"[{low:.3f}, {high:.3f}]; paired permutation p = {p_value:.4f}",
    )


# ----------------------------------------------------------------------------------------------
# Chapter 06: units
# ----------------------------------------------------------------------------------------------


def _parts_emerge(layer: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        above_random = _get(measurements, "units_above_random", layer)
        best = _get(measurements, "best_n_prime_share", layer)
        random_best = _get(measurements, "random_best_n_prime_share", layer)
        if not above_random:
            raise _Untestable(f"no face part has a cell on the {layer} grid")
        counts = {part: int(_number(n)) for part, n in above_random.items()}
        return Judgement(
            _point(all(n > 0 for n in counts.values())),
            min(_number(best[p]) for p in counts),
            max(_number(random_best[p]) for p in counts),
            f"{layer}, trained units above the best random N'/N per part: "
            + ", ".join(
                f"{p} {n} (best {_number(best[p]):.2f} vs {_number(random_best[p]):.2f})"
                for p, n in counts.items()
            ),
        )

    return judge_


def _spikier(measurements: Mapping[str, Any]) -> Judgement:
    trained = _number(_get(measurements, "entropy_depth_spearman", "trained"))
    random = _number(_get(measurements, "entropy_depth_spearman", "random"))
    return Judgement(
        _point(trained < 0),
        trained,
        random,
        f"Spearman(depth, entropy) {trained:+.2f}, random network {random:+.2f}",
    )


def _deepest_spikier(measurements: Mapping[str, Any]) -> Judgement:
    trained = _number(_get(measurements, "deepest_entropy", "trained"))
    random = _number(_get(measurements, "deepest_entropy", "random"))
    return Judgement(
        _point(trained < random),
        trained,
        random,
        f"conv5_3 entropy {trained:.2f} bits vs {random:.2f} with random weights",
    )


def _count_above(key: str, what: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        trained = _number(_get(measurements, key, "trained"))
        random = _number(_get(measurements, key, "random"))
        return Judgement(
            _point(trained > random),
            trained,
            random,
            f"{what}: {int(trained)} trained vs {int(random)} random",
        )

    return judge_


def _glasses(measurements: Mapping[str, Any]) -> Judgement:
    significant = _number(_get(measurements, "glasses_units", "trained"))
    best_p = _number(_get(measurements, "glasses_best_p_layer"))
    return Judgement(
        _point(significant > 0),
        significant,
        None,
        f"conv5_3 units with a layer-corrected p < 0.05: {int(significant)} (best p {best_p:.2g})",
    )


def _carries_cue(trait: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        row = _get(measurements, "planted_cues", trait)
        r2 = _number(row["r2"])
        evidence = (
            f"{trait}'s most influential units: {_number(row['top']):.2f} on its planted cue "
            f"({row['cue']}) vs {_number(row['all']):.2f} for all units, test R² {r2:.2f}"
        )
        if r2 < 0.1:
            return Judgement(NOT_TESTABLE, None, None, evidence + ": the model barely learned it")
        q_value = _number(row["q"])
        return Judgement(
            _point(q_value < _ALPHA),
            q_value,
            _ALPHA,
            evidence + f", BH q = {q_value:.3f} (p = {_number(row['p']):.3f})",
        )

    return judge_


# ----------------------------------------------------------------------------------------------
# Chapter 07: action units
# ----------------------------------------------------------------------------------------------


def _significant(key: str, what: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        aus = list(_get(measurements, key))
        tested = int(_number(_get(measurements, "aus_tested")))
        return Judgement(
            _point(len(aus) > 0),
            float(len(aus)),
            None,
            f"{what}: {len(aus)} of {tested} AUs with BH q < 0.05"
            + (f" ({', '.join(aus)})" if aus else ""),
        )

    return judge_


def _paper_aus(measurements: Mapping[str, Any]) -> Judgement:
    q_values = {au: _get(measurements, "paper_aus_q").get(au) for au in ("AU12", "AU15", "AU23")}
    measured = {au: _number(q) for au, q in q_values.items() if q is not None}
    if not measured:
        raise _Untestable("none of AU12, AU15, AU23 measured")
    return Judgement(
        _point(all(q < _ALPHA for q in measured.values())),
        float(sum(q < _ALPHA for q in measured.values())),
        float(len(measured)),
        "BH q (one face per clip): " + ", ".join(f"{au} {q:.3g}" for au, q in measured.items()),
    )


def _table2_random(measurements: Mapping[str, Any]) -> Judgement:
    trained = _number(_get(measurements, "mean_best_k", "trained"))
    random = _number(_get(measurements, "mean_best_k", "random"))
    return Judgement(
        _point(trained > random),
        trained,
        random,
        f"mean best intersection over the AUs: trained {trained:.2f}, random network {random:.2f}",
    )


def _lip_corners(measurements: Mapping[str, Any]) -> Judgement:
    winners = sorted(_get(measurements, "best_matched_aus"))
    if not winners:
        raise _Untestable("no AU measured")
    return Judgement(
        _point(all(au in paper.LIP_CORNER_AUS for au in winners)),
        ", ".join(winners),
        None,
        f"largest intersection for {', '.join(winners)}",
    )


def _au_model(measurements: Mapping[str, Any]) -> Judgement:
    value, low, high = _interval(measurements, "au_gain_over_constant")
    accuracy = _number(_get(measurements, "au_model_accuracy"))
    constant = _number(_get(measurements, "constant"))
    return Judgement(
        above(low, high, 0.0),
        accuracy,
        constant,
        f"AU model MA {accuracy:.4f} vs constant {constant:.4f}, paired difference "
        f"{_with_interval(value, low, high)} (paper: {paper.AU_MODEL_ACCURACY} vs "
        f"{paper.REAL_CONSTANT['test']} on real data)",
    )


def _au_near_cnn(measurements: Mapping[str, Any]) -> Judgement:
    share = _get(measurements, "au_gain_share")
    cnn_gain = _number(_get(measurements, "cnn_gain"))
    if cnn_gain <= 0:
        raise _Untestable(f"the CNN is not above the constant (gain {cnn_gain:+.4f})")
    share = _number(share)
    return Judgement(
        _point(share >= 0.5),
        share,
        0.5,
        f"the AU model recovers {share:.2f} of the CNN's gain over the constant ({cnn_gain:+.4f})",
    )


def _threshold(key: str, bar: float, what: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        value = _number(_get(measurements, key))
        return Judgement(_point(value >= bar), value, bar, f"{what} {value:.2f}")

    return judge_


def _links(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        row = _get(measurements, "region_links", source)
        testable = int(_number(row["n_testable"]))
        if testable == 0:
            raise _Untestable("no AU's part has a cell on the grid")
        p_value = _number(row["p_value"])
        return Judgement(
            _point(p_value < _ALPHA),
            _number(row["observed"]),
            _number(row["expected"]),
            f"{int(_number(row['observed']))} of {testable} testable AUs, "
            f"{_number(row['expected']):.1f} expected by chance, p = {p_value:.3f}",
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
        "held: the paired 95% interval of MA − constant lies above 0",
        _IMG["MA"],
        "training-mean constant",
        "full frames MA",
        _gain_over_constant,
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
        "held: the paired 95% interval of MA − constant lies above 0",
        _FACE["MA"],
        "training-mean constant",
        "faces MA",
        _gain_over_constant,
        planted=True,
        plot=True,
    ),
    Claim(
        "faces_beat_frames",
        "04_faces_model",
        "faces alone are more accurate than full frames",
        "held: the paired 95% interval of MA(faces) − MA(frames) lies above 0",
        _FACE["MA"] - _IMG["MA"],
        "no difference",
        "MA faces − frames",
        _faces_vs_frames,
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
        _faces_every_trait,
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
        _cam_against("cam_minus_centre_prior", "centre prior"),
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
        _cam_against("cam_minus_random_map", "random maps"),
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
        _cam_context,
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
        _cam_poster,
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
        "units_face_parts",
        "06_units",
        "conv5_3 units became face-part detectors (Fig. 9), beyond what a random network of "
        "the same shape gives",
        "held: for every part with cells, some trained unit's N'/N is above the best random one",
        None,
        "best N'/N of a random network",
        "worst part's best N'/N",
        _parts_emerge("conv5_3"),
        plot=True,
    ),
    Claim(
        "units_face_parts_conv4_3",
        "06_units",
        "conv4_3 units are face-part detectors beyond a random network of the same shape",
        "held: for every part with cells, some trained unit's N'/N is above the best random one",
        None,
        "best N'/N of a random network",
        "conv4_3 worst part's best N'/N",
        _parts_emerge("conv4_3"),
        check=True,
    ),
    Claim(
        "units_spikier_with_depth",
        "06_units",
        "peak-location histograms get spikier with depth (Fig. 10)",
        "held: Spearman correlation of depth with entropy below 0",
        None,
        "same correlation, random network",
        "Spearman(depth, entropy)",
        _spikier,
    ),
    Claim(
        "units_deepest_spikier",
        "06_units",
        "training makes the deepest layer spikier than a random network of the same shape",
        "held: conv5_3's entropy below the random network's",
        None,
        "random network's entropy",
        "conv5_3 entropy (bits)",
        _deepest_spikier,
        check=True,
    ),
    Claim(
        "units_netdissect",
        "06_units",
        "conv5_3 has more face-part detectors (NetDissect IoU > 0.04) than a random network",
        "held: more trained than random detectors",
        None,
        "detectors of a random network",
        "conv5_3 detectors",
        _count_above("netdissect_detectors", "conv5_3 units with IoU > 0.04"),
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
        "glasses units are learned: the trained network has more of them than a random one",
        "held: more trained than random units with a layer-corrected p < 0.05",
        None,
        "same count, random network",
        "glasses units vs random",
        _count_above("glasses_units", "conv5_3 glasses units with p < 0.05"),
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
        "table2_significant",
        "07_action_units",
        "some AUs have a conv5_3 unit whose top faces overlap the AU's above chance (Table 2, "
        "one face per test clip)",
        "held: at least one AU with the paper's formula p, Benjamini-Hochberg q < 0.05",
        float(sum(p < _ALPHA for _unit, _k, p in paper.TABLE2.values())),
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
        "the trained units match the AUs better than a random network's units",
        "held: the mean best intersection over the AUs is larger for the trained network",
        None,
        "random network's mean",
        "mean best k",
        _table2_random,
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
        "held: the paired 95% interval of MA − constant lies above 0",
        paper.AU_MODEL_ACCURACY,
        "training-mean constant",
        "AU model MA",
        _au_model,
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


def judge(claim: Claim, measurements: Mapping[str, Any], synthetic: bool) -> dict:
    """One claim judged on a chapter's measurements.

    Returns:
        ``key``, ``chapter``, ``claim``, ``rule``, ``paper``, ``ours``, ``baseline``,
        ``baseline_kind``, ``verdict``, ``evidence``, ``reading`` ("finding", "check of the
        method" for the book's checks, "check of the method (planted)" where the synthetic set's
        planted weights decide it) and ``label``.
    """
    try:
        judged = claim.judge(measurements)
    except _Untestable as reason:
        judged = Judgement(NOT_TESTABLE, None, None, str(reason))
    if synthetic and claim.planted:
        reading = "check of the method (planted)"
    elif claim.check:
        reading = "check of the method"
    else:
        reading = "finding"
    return {
        "key": claim.key,
        "chapter": claim.chapter,
        "claim": claim.text,
        "rule": claim.rule,
        "paper": claim.paper,
        "ours": judged.ours,
        "baseline": judged.baseline,
        "baseline_kind": claim.baseline,
        "verdict": judged.verdict,
        "evidence": judged.evidence,
        "reading": reading,
        "label": claim.label,
    }


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
