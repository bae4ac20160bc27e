"""The paper's claims beside this book's numbers, read from every chapter's results file.

Chapter 08 uses it. :data:`CLAIMS` is a table: each row names the chapter whose
``book/results/<stem>.json`` it reads, the paper's figure, what the baseline is and a small
function that measures ours, the baseline and whether the claim held. A chapter that was not
run, or whose file lacks a key, gives a row that says so instead of an error.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from . import paper, results
from .data import TRAITS

__all__ = [
    "CHAPTERS",
    "CLAIMS",
    "Claim",
    "Measured",
    "chapter_verdicts",
    "claims_figure",
    "claims_frame",
    "evaluate_claims",
    "evidence_lines",
    "format_value",
    "load_chapters",
    "provenance",
    "summary_data",
    "table1_figure",
    "table1_rows",
]

#: The chapters whose results the summary reads, in book order.
CHAPTERS: tuple[str, ...] = (
    "01_data",
    "02_faces",
    "03_full_frames",
    "04_faces_model",
    "05_cam",
    "06_units",
    "07_action_units",
)
_ALPHA = 0.05


# ----------------------------------------------------------------------------------------------
# Reading the chapters
# ----------------------------------------------------------------------------------------------


def load_chapters(
    directory: str | os.PathLike | None = None, stems: Sequence[str] = CHAPTERS
) -> dict[str, dict | None]:
    """Every chapter's results, ``None`` for a chapter whose file is absent or unreadable.

    Args:
        directory: Results folder (default :func:`~personality_utils.results.results_dir`).
        stems: Notebook stems to read.

    Returns:
        ``{stem: results dict or None}`` in ``stems`` order.
    """
    chapters: dict[str, dict | None] = {}
    for stem in stems:
        try:
            content = results.load_results(stem, directory)
        except (FileNotFoundError, json.JSONDecodeError):
            content = None
        chapters[stem] = content if isinstance(content, dict) else None
    return chapters


def provenance(chapters: Mapping[str, dict | None], profile: str | None = None) -> pd.DataFrame:
    """One row per chapter: whether it ran, its profile and data, and whether its profile is the
    one asked for (``profile``; None: not checked)."""
    rows = []
    for stem, content in chapters.items():
        if content is None:
            rows.append({"chapter": stem, "status": "not run", "profile": None, "data": None})
            continue
        rows.append(
            {
                "chapter": stem,
                "status": "run",
                "profile": content.get("profile"),
                "data": content.get("data"),
            }
        )
    table = pd.DataFrame(rows, columns=["chapter", "status", "profile", "data"])
    if profile is not None:
        table["same profile"] = [
            None if row.status != "run" else row.profile == profile for row in table.itertuples()
        ]
    return table.set_index("chapter")


def summary_data(chapters: Mapping[str, dict | None]) -> str:
    """What data the summary rests on: the one description all chapters share, or each one."""
    described = sorted({str(c.get("data")) for c in chapters.values() if c is not None})
    if not described:
        return "no chapter results"
    if len(described) == 1:
        return described[0]
    return "mixed: " + "; ".join(described)


def chapter_verdicts(chapters: Mapping[str, dict | None]) -> pd.DataFrame:
    """The ``verdicts`` lists chapters save (records with claim, holds, evidence), one row each."""
    rows = []
    for stem, content in chapters.items():
        if content is None or not isinstance(content.get("verdicts"), list):
            continue
        for item in content["verdicts"]:
            if not isinstance(item, Mapping):
                continue
            holds = item.get("holds")
            rows.append(
                {
                    "chapter": stem,
                    "claim": item.get("claim"),
                    "holds": None if holds is None else bool(holds),
                    "evidence": item.get("evidence"),
                }
            )
    return pd.DataFrame(rows, columns=["chapter", "claim", "holds", "evidence"])


# ----------------------------------------------------------------------------------------------
# The claims
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """What a claim's measurement found.

    Attributes:
        ours: Our figure (a number, or a short text such as an AU name).
        baseline: The baseline's figure on the same data (None when there is none).
        held: Whether the claim held by the claim's rule; None when it cannot be tested here.
        evidence: The numbers behind the decision, in words.
    """

    ours: float | str | None
    baseline: float | str | None
    held: bool | None
    evidence: str


@dataclass(frozen=True)
class Claim:
    """One claim of the paper (or one check this book adds), and how to test it.

    Attributes:
        key: Short identifier.
        chapter: Results stem it reads (its profile and data are reported with it).
        claim: The statement, with the rule that decides "held".
        paper: The paper's figure for it (None when the paper gives none).
        baseline: What the baseline column is.
        label: Short name for figures.
        measure: Reads the chapter's results dict (and, through ``others``, other chapters')
            and returns a :class:`Measured`; a missing key raises ``KeyError``.
        also_needs: Other chapters ``measure`` reads.
        plot: Whether the claims figure shows it (figures on a 0-1 scale: shares, accuracies).
    """

    key: str
    chapter: str
    claim: str
    paper: float | str | None
    baseline: str
    label: str
    measure: Callable[[dict, Mapping[str, dict | None]], Measured]
    also_needs: tuple[str, ...] = ()
    plot: bool = False


def _number(value: Any) -> float:
    """A finite float from a JSON value, else ``KeyError`` (a key that holds no number counts
    as missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise KeyError(f"expected a number, found {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise KeyError(f"expected a finite number, found {value!r}")
    return number


def _overall(value: Any) -> float:
    """A headline number: the value itself, or its ``all`` / ``mean`` entry."""
    if isinstance(value, Mapping):
        for key in ("all", "mean"):
            if key in value:
                return _number(value[key])
        raise KeyError("no 'all' or 'mean' entry")
    return _number(value)


def _interval(content: Mapping, key: str) -> tuple[float, float] | None:
    value = content.get(key)
    if isinstance(value, Sequence) and len(value) == 2:
        try:
            return _number(value[0]), _number(value[1])
        except KeyError:
            return None
    return None


def _with_interval(value: float, interval: tuple[float, float] | None) -> str:
    if interval is None:
        return f"{value:.4f}"
    return f"{value:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]"


def _beats_constant(content: dict, _others) -> Measured:
    ours = _number(content["mean_accuracy"])
    constant = _number(content["constant_baseline_accuracy"])
    interval = _interval(content, "mean_accuracy_interval")
    low = interval[0] if interval else ours
    return Measured(
        ours,
        constant,
        low > constant,
        f"MA {_with_interval(ours, interval)} vs constant {constant:.4f}",
    )


def _audio_video(content: dict, _others) -> Measured:
    frames = _number(content["mean_accuracy"])
    return Measured(
        None,
        None,
        None,
        f"this book trains no audio model, so the gap cannot be measured (video alone: MA "
        f"{frames:.4f})",
    )


def _faces_vs_frames(content: dict, _others) -> Measured:
    paired = content["paired_difference_faces_minus_frames"]
    difference = _number(paired["difference"])
    low, high = _number(paired["low"]), _number(paired["high"])
    return Measured(
        difference,
        0.0,
        low > 0,
        f"MA(faces) − MA(full frames) {difference:+.4f}, paired 95% interval "
        f"[{low:+.4f}, {high:+.4f}] over {paired.get('clips', '?')} clips",
    )


def _faces_every_trait(content: dict, others: Mapping[str, dict | None]) -> Measured:
    frames = others.get("03_full_frames")
    if frames is None:
        raise KeyError("chapter 03_full_frames not run")
    faces, whole = content["per_trait_accuracy"], frames["per_trait_accuracy"]
    better = [t for t in TRAITS if _number(faces[t]) > _number(whole[t])]
    return Measured(
        float(len(better)),
        None,
        len(better) == len(TRAITS),
        "faces above full frames on "
        + (", ".join(better) if better else "no trait")
        + f" ({len(better)} of {len(TRAITS)})",
    )


def _identity_disjoint(content: dict, _others) -> Measured:
    subset = content["identity_disjoint"]
    ours, constant = _number(subset["mean_accuracy"]), _number(subset["constant_baseline_accuracy"])
    return Measured(
        ours,
        constant,
        ours > constant,
        f"MA {ours:.4f} vs constant {constant:.4f} on {subset.get('clips', '?')} clips whose "
        "video id is not in training (no interval: few clips)",
    )


def _cam_share(content: dict, _others) -> Measured:
    ours = _overall(content["overlap_ge_0_9_share"])
    centre = content.get("centre_prior_share_ge_0_9")
    centre = _number(centre) if centre is not None else None
    interval = _interval(content, "overlap_ge_0_9_share_interval")
    evidence = f"share {_with_interval(ours, interval)}"
    if centre is not None:
        evidence += f"; a centre prior scores {centre:.3f}"
    return Measured(ours, centre, ours >= 0.5, evidence)


def _cam_against(baseline_key: str, name: str):
    def measure(content: dict, _others) -> Measured:
        ours = _overall(content["mean_overlap"])
        baseline = _number(content[baseline_key])
        interval = _interval(content, "mean_overlap_interval")
        low = interval[0] if interval else ours
        return Measured(
            ours,
            baseline,
            low > baseline,
            f"mean overlap {_with_interval(ours, interval)} vs {name} {baseline:.3f}",
        )

    return measure


def _last_stage(curve: Mapping[str, Any]) -> tuple[str, float]:
    stage = "conv1_1" if "conv1_1" in curve else list(curve)[-1]
    return stage, _number(curve[stage])


def _cam_randomisation(content: dict, _others) -> Measured:
    curves = content["randomized_rank_correlation"]
    if not isinstance(curves, Mapping) or not curves:
        raise KeyError("randomized_rank_correlation is empty")
    finals = {label: _last_stage(curve) for label, curve in curves.items()}
    worst = max(value for _, value in finals.values())
    return Measured(
        worst,
        0.5,
        worst < 0.5,
        "rank correlation with the trained maps once randomised down to "
        + ", ".join(f"{stage} ({label}): {value:.2f}" for label, (stage, value) in finals.items()),
    )


def _cam_ground_truth(content: dict, _others) -> Measured:
    truth = content.get("ground_truth")
    if not truth:
        return Measured(None, None, None, "real data: no planted ground truth")
    outside = {t: _number(row["planted outside the face"]) for t, row in truth.items()}
    overlap = {t: _number(row["mean overlap (top frames)"]) for t, row in truth.items()}
    context = max(outside, key=outside.get)
    others = {t: v for t, v in overlap.items() if t != context}
    return Measured(
        overlap[context],
        min(others.values()) if others else None,
        bool(others) and overlap[context] < min(others.values()),
        f"{context} ({outside[context]:.0%} of its explained variance planted outside the face) "
        "has overlap "
        f"{overlap[context]:.3f}; other traits "
        + ", ".join(f"{t} {v:.3f}" for t, v in others.items()),
    )


def _cam_parts(content: dict, _others) -> Measured:
    test = content["face_region_trait_difference"]
    p_value = _number(test["p_value"])
    return Measured(
        p_value,
        _ALPHA,
        p_value >= _ALPHA,
        f"permutation p = {p_value:.4f}; largest spread "
        f"{test.get('largest_spread_region', '?')} {test.get('largest_spread', float('nan')):.3f}",
    )


def _best_n_prime(top5: Mapping[str, Any]) -> dict[str, float]:
    best = {}
    for region, rows in top5.items():
        values = [
            _number(row["n_prime"]) if isinstance(row, Mapping) else _number(row) for row in rows
        ]
        best[region] = max(values) if values else 0.0
    return best


def _units_emerge(content: dict, _others) -> Measured:
    trained = _best_n_prime(content["units_per_region_top5"])
    random = _best_n_prime(content["units_per_region_top5_random"])
    top_n = _number(content.get("top_n", 50))
    tested = [r for r in trained if trained[r] > 0 or random.get(r, 0) > 0]
    above = [r for r in tested if trained[r] > random.get(r, 0)]
    return Measured(
        min((trained[r] / top_n for r in tested), default=None),
        max((random.get(r, 0) / top_n for r in tested), default=None),
        bool(tested) and len(above) == len(tested),
        "best N'/N per part, trained vs random network: "
        + ", ".join(
            f"{r} {trained[r] / top_n:.2f} vs {random.get(r, 0) / top_n:.2f}" for r in trained
        )
        + (
            f" (no cells: {', '.join(r for r in trained if r not in tested)})"
            if len(tested) < len(trained)
            else ""
        ),
    )


def _depth_order(name: str) -> tuple[int, ...]:
    match = re.fullmatch(r"conv(\d+)_(\d+)", name)
    return (int(match.group(1)), int(match.group(2))) if match else (10**6,)


def _spearman_with_depth(entropy: Mapping[str, Any]) -> float:
    from scipy import stats

    layers = sorted(entropy, key=_depth_order)
    if len(layers) < 3:
        raise KeyError("layer_entropy needs at least three layers")
    return float(
        stats.spearmanr(range(len(layers)), [_number(entropy[k]) for k in layers]).statistic
    )


def _spikier_with_depth(content: dict, _others) -> Measured:
    trend = content.get("entropy_depth_spearman")
    if isinstance(trend, Mapping) and "trained" in trend:
        ours = _number(trend["trained"])
        random = trend.get("random weights")
        random = _number(random) if random is not None else None
    else:
        ours = _spearman_with_depth(content["layer_entropy"])
        random = (
            _spearman_with_depth(content["layer_entropy_random"])
            if "layer_entropy_random" in content
            else None
        )
    entropy = content["layer_entropy"]
    deepest = max(entropy, key=_depth_order)
    evidence = f"Spearman(depth, entropy) {ours:+.2f}"
    if random is not None:
        evidence += f", random network {random:+.2f}"
    evidence += f"; {deepest} {_number(entropy[deepest]):.2f} bits"
    random_entropy = content.get("layer_entropy_random", {})
    if deepest in random_entropy:
        evidence += f" vs {_number(random_entropy[deepest]):.2f} with random weights"
    return Measured(ours, random, ours < 0, evidence)


def _netdissect(content: dict, _others) -> Measured:
    counts = content["iou_detectors_per_region"]
    trained = counts["conv5_3 trained"]
    random = counts["conv5_3 random weights"]
    ours = sum(_number(v) for v in trained.values())
    baseline = sum(_number(v) for v in random.values())
    return Measured(
        ours,
        baseline,
        ours > baseline,
        "conv5_3 units with IoU > 0.04 per part, trained: "
        + ", ".join(f"{r} {int(_number(v))}" for r, v in trained.items())
        + f"; random network in all: {int(baseline)}",
    )


def _glasses(content: dict, _others) -> Measured:
    glasses = content["glasses_precision_at_n"]
    if not glasses:
        return Measured(None, None, None, "real data: no glasses labels (inspect units by hand)")
    precision, base = _number(glasses["precision"]), _number(glasses["base_rate"])
    significant = _number(glasses["units_significant"])
    random = glasses.get("random_units_significant")
    random = _number(random) if random is not None else None
    held = significant > 0 and (random is None or significant > random)
    evidence = (
        f"conv5_3 units with layer-corrected p < 0.05: {int(significant)}"
        + (f", random network {int(random)}" if random is not None else "")
        + f"; best unit precision@N {precision:.2f} vs base rate {base:.2f}"
    )
    if "random_best_precision" in glasses:
        evidence += f" (random network {_number(glasses['random_best_precision']):.2f})"
    return Measured(significant, random, held, evidence)


def _field(record: Mapping, *names: str) -> Any:
    lowered = {str(key).lower(): value for key, value in record.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    raise KeyError(f"none of {names} in a table2 record")


def _intersection(value: Any) -> float:
    if isinstance(value, str) and "/" in value:
        return _number(float(value.split("/")[0]))
    return _number(value)


def _table2_records(content: dict) -> list[dict]:
    table = content["table2"]
    if isinstance(table, Mapping):  # {AU: {unit, intersection, p}}
        table = [{"AU": au, **row} for au, row in table.items()]
    rows = []
    for row in table:
        p_value = _field(row, "p", "p_value", "p-value")
        if p_value is None:  # an AU the measurement could not score (NaN in the chapter)
            continue
        rows.append(
            {
                "au": str(_field(row, "AU", "au", "action_unit")),
                "intersection": _intersection(_field(row, "intersection", "overlap", "k")),
                "p": _number(p_value),
            }
        )
    if not rows:
        raise KeyError("table2 has no scored AU")
    return rows


def _paper_table2_significant() -> int:
    return sum(p < _ALPHA / len(paper.TABLE2) for _unit, _k, p in paper.TABLE2.values())


def _table2_significant(content: dict, _others) -> Measured:
    rows = _table2_records(content)
    threshold = _ALPHA / len(rows)
    significant = [row["au"] for row in rows if row["p"] < threshold]
    evidence = (
        f"{len(significant)} of {len(rows)} AUs with p < {threshold:.2g} (0.05 / {len(rows)})"
    )
    if significant:
        evidence += f": {', '.join(significant)}"
    counts = content.get("significant_aus")
    if isinstance(counts, Mapping) and counts:
        evidence += "; the chapter's own counts: " + ", ".join(
            f"{name} {value}" for name, value in counts.items()
        )
    return Measured(
        float(len(significant)), float(_ALPHA * len(rows)), len(significant) > 0, evidence
    )


def _table2_clip_level(content: dict, _others) -> Measured:
    counts = content["significant_aus"]
    clip_level = _number(counts["clips_permutation_bh"])
    others = {
        "frames_formula": "with every frame (formula)",
        "first_face_formula": "one face per clip, as the paper (formula)",
    }
    return Measured(
        clip_level,
        None,
        clip_level > 0,
        "AUs significant at the clip level (permutation, Benjamini–Hochberg q < 0.05): "
        f"{int(clip_level)}"
        + "".join(
            f"; {label}: {int(_number(counts[key]))}"
            for key, label in others.items()
            if counts.get(key) is not None
        ),
    )


def _table2_lip_corners(content: dict, _others) -> Measured:
    rows = _table2_records(content)
    best = max(row["intersection"] for row in rows)
    winners = sorted(row["au"] for row in rows if row["intersection"] == best)
    return Measured(
        ", ".join(winners),
        None,
        all(au in paper.LIP_CORNER_AUS for au in winners),
        f"largest intersection {best:g} for {', '.join(winners)}",
    )


def _au_model(content: dict, _others) -> Measured:
    ours = _number(content["au_model_accuracy"])
    constant = _number(content["constant_baseline_accuracy"])
    quoted = f"(paper: {paper.AU_MODEL_ACCURACY} vs {paper.REAL_CONSTANT['test']} on real data)"
    differences = content.get("accuracy_differences")
    paired = None
    if isinstance(differences, Mapping):  # chapter 07's paired bootstrap over clips
        paired = next(
            (
                value
                for name, value in differences.items()
                if name.startswith("AU model") and "constant" in name
            ),
            None,
        )
    if isinstance(paired, Mapping):
        low, high = _number(paired["low"]), _number(paired["high"])
        return Measured(
            ours,
            constant,
            low > 0,
            f"AU model MA {ours:.4f} vs constant {constant:.4f}, paired 95% interval of the "
            f"difference [{low:+.4f}, {high:+.4f}] {quoted}",
        )
    interval = _interval(content, "au_model_accuracy_interval")
    low = interval[0] if interval else ours
    return Measured(
        ours,
        constant,
        low > constant,
        f"AU model MA {_with_interval(ours, interval)} vs constant {constant:.4f} {quoted}",
    )


def _gain_share(model: float, constant: float, cnn: float) -> float:
    return (model - constant) / (cnn - constant) if cnn != constant else float("nan")


def _au_model_vs_cnn(content: dict, _others) -> Measured:
    ours = _number(content["au_model_accuracy"])
    constant = _number(content["constant_baseline_accuracy"])
    cnn = _number(content["cnn_accuracy"])
    share = _gain_share(ours, constant, cnn)
    if not math.isfinite(share) or cnn <= constant:
        return Measured(
            None, None, None, f"the CNN ({cnn:.4f}) is not above the constant ({constant:.4f})"
        )
    return Measured(
        share,
        0.5,
        share >= 0.5,
        f"(AU {ours:.4f} − constant {constant:.4f}) / (CNN {cnn:.4f} − constant) = {share:.2f}",
    )


def _estimator(content: dict, _others) -> Measured:
    value = content["estimator_correlation"]
    if isinstance(value, Mapping) and not value:
        return Measured(None, None, None, "real data: no true AUs to compare with")
    if isinstance(value, Mapping):
        numbers = [
            float(v)
            for v in value.values()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        numbers = [v for v in numbers if math.isfinite(v)]
        if not numbers:
            raise KeyError("estimator_correlation holds no number")
        ours = sum(numbers) / len(numbers)
        evidence = f"mean Pearson r over {len(numbers)} AUs {ours:.2f}"
    else:
        ours = _number(value)
        evidence = f"Pearson r {ours:.2f}"
    return Measured(ours, 0.5, ours >= 0.5, evidence)


#: The claims, in the order of the paper. "Book check" rows test what the paper did not.
CLAIMS: tuple[Claim, ...] = (
    Claim(
        "frames_beat_constant",
        "03_full_frames",
        "DAN+ on full video frames predicts the traits: mean accuracy above the constant "
        "predictor (held: 95% interval above it)",
        paper.TABLE1["img (full frames)"]["MA"],
        "training-mean constant",
        "full frames MA",
        _beats_constant,
    ),
    Claim(
        "video_close_to_audio_video",
        "03_full_frames",
        "video frames alone come within 0.004 of audio+video (Table 1: img vs [23])",
        paper.TABLE1["img (full frames)"]["MA"] - paper.TABLE1["[23] NJU-LAMDA, audio+video"]["MA"],
        "—",
        "video vs audio+video",
        _audio_video,
    ),
    Claim(
        "faces_beat_constant",
        "04_faces_model",
        "DAN+ on aligned faces predicts the traits: mean accuracy above the constant predictor "
        "(held: 95% interval above it)",
        paper.TABLE1["face"]["MA"],
        "training-mean constant",
        "faces MA",
        _beats_constant,
    ),
    Claim(
        "faces_beat_frames",
        "04_faces_model",
        "faces alone are more accurate than full frames (held: paired 95% interval of the "
        "difference above 0)",
        paper.TABLE1["face"]["MA"] - paper.TABLE1["img (full frames)"]["MA"],
        "no difference",
        "MA faces − frames",
        _faces_vs_frames,
    ),
    Claim(
        "faces_better_every_trait",
        "04_faces_model",
        "the face model's gain is along all five traits (held: 5 of 5 traits)",
        float(
            sum(
                paper.TABLE1["face"][t[0].upper()] > paper.TABLE1["img (full frames)"][t[0].upper()]
                for t in TRAITS
            )
        ),
        "—",
        "traits faces > frames",
        _faces_every_trait,
        also_needs=("03_full_frames",),
    ),
    Claim(
        "faces_identity_disjoint",
        "04_faces_model",
        "(book check) the face model still beats the constant on clips of people never seen in "
        "training",
        None,
        "constant on those clips",
        "faces MA, new identities",
        _identity_disjoint,
    ),
    Claim(
        "cam_share_ge_0_9",
        "05_cam",
        "most CAMs of the full-frame model overlap the face box by ≥ 0.9 (held: share ≥ 0.5)",
        paper.CAM_OVERLAP_SHARE,
        "image-blind centre prior",
        "CAM share overlap ≥ 0.9",
        _cam_share,
        plot=True,
    ),
    Claim(
        "cam_above_centre_prior",
        "05_cam",
        "the maps overlap the face more than an image-blind centre prior does (held: 95% "
        "interval of the mean overlap above the prior's)",
        paper.CAM_MEAN_OVERLAP,
        "centre prior mean overlap",
        "CAM mean overlap",
        _cam_against("centre_prior_mean_overlap", "centre prior"),
        plot=True,
    ),
    Claim(
        "cam_above_random",
        "05_cam",
        "the maps overlap the face more than random maps do (held: 95% interval above)",
        paper.CAM_MEAN_OVERLAP,
        "random map mean overlap",
        "CAM vs random map",
        _cam_against("random_map_mean_overlap", "random maps"),
        plot=True,
    ),
    Claim(
        "cam_sanity_check",
        "05_cam",
        "(book check) the maps depend on the learned weights: rank correlation with the trained "
        "maps below 0.5 once the network is fully randomised",
        None,
        "threshold",
        "rank corr. after randomising",
        _cam_randomisation,
    ),
    Claim(
        "cam_finds_context",
        "05_cam",
        "the face overlap shows where the information is: the trait planted outside the face "
        "has the lowest overlap (synthetic data only)",
        None,
        "lowest overlap of the other traits",
        "overlap, context trait",
        _cam_ground_truth,
    ),
    Claim(
        "cam_face_parts_same",
        "05_cam",
        "face-model maps use the same face parts for every trait (held: permutation p ≥ 0.05)",
        None,
        "α = 0.05",
        "p, parts differ by trait",
        _cam_parts,
    ),
    Claim(
        "units_face_parts",
        "06_units",
        "conv5_3 units specialise in face parts (Fig. 9): for every part, the best unit's N' "
        "beats the best of a random network of the same shape",
        None,
        "best N'/N of a random network",
        "worst part's best N'/N",
        _units_emerge,
        plot=True,
    ),
    Claim(
        "units_spikier_with_depth",
        "06_units",
        "peak-location histograms get spikier with depth (Fig. 10; held: Spearman correlation "
        "of depth with entropy below 0)",
        None,
        "same correlation, random network",
        "Spearman(depth, entropy)",
        _spikier_with_depth,
    ),
    Claim(
        "units_netdissect",
        "06_units",
        "(book check) conv5_3 has more face-part detectors (NetDissect IoU > 0.04) than a random "
        "network",
        None,
        "detectors of a random network",
        "conv5_3 detectors",
        _netdissect,
    ),
    Claim(
        "units_glasses",
        "06_units",
        "some units respond to glasses (Fig. 11; held: more conv5_3 units with layer-corrected "
        "p < 0.05 than in a random network of the same shape)",
        None,
        "same count, random network",
        "glasses units",
        _glasses,
    ),
    Claim(
        "table2_significant",
        "07_action_units",
        "some AUs have a conv5_3 unit whose top-N faces overlap the AU's top N above chance "
        "(Table 2, one face per test clip as the authors ranked them; held: at least one AU "
        "with p below 0.05 / number of measured AUs)",
        float(_paper_table2_significant()),
        "AUs expected by chance at α = 0.05",
        "AUs matched by a unit",
        _table2_significant,
    ),
    Claim(
        "table2_clip_level",
        "07_action_units",
        "(book check) some AU keeps a matching unit at the clip level, each clip scored by its "
        "best frame over all its frames (held: at least one AU with clip-level permutation "
        "q < 0.05)",
        None,
        "—",
        "AUs matched, clip level",
        _table2_clip_level,
    ),
    Claim(
        "table2_lip_corners",
        "07_action_units",
        "the best-matched AUs are the lip-corner ones, AU12 and AU15 (Table 2; held: every AU "
        "tied for the largest intersection is one of them)",
        ", ".join(
            sorted(
                au
                for au, (_u, k, _p) in paper.TABLE2.items()
                if k == max(v[1] for v in paper.TABLE2.values())
            )
        ),
        "—",
        "best-matched AU",
        _table2_lip_corners,
    ),
    Claim(
        "au_model_beats_constant",
        "07_action_units",
        "17 AU intensities predict the traits: the linear AU model beats the constant predictor",
        paper.AU_MODEL_ACCURACY,
        "training-mean constant",
        "AU model MA",
        _au_model,
        plot=True,
    ),
    Claim(
        "au_model_near_cnn",
        "07_action_units",
        "the AU model predicts almost as well as the CNN (held: it recovers at least half of the "
        "CNN's gain over the constant; the paper's figure uses the real-data constant)",
        _gain_share(
            paper.AU_MODEL_ACCURACY, paper.REAL_CONSTANT["test"], paper.TABLE1["face"]["MA"]
        ),
        "half of the CNN's gain",
        "AU share of CNN's gain",
        _au_model_vs_cnn,
        plot=True,
    ),
    Claim(
        "au_estimator_tracks_truth",
        "07_action_units",
        "(book check) the AU measurements follow the true AUs (held: mean Pearson r ≥ 0.5)",
        None,
        "threshold",
        "AU estimator r",
        _estimator,
    ),
)


def evaluate_claims(
    chapters: Mapping[str, dict | None], claims: Iterable[Claim] = CLAIMS
) -> list[dict]:
    """Measure every claim on the chapters' results.

    Returns:
        One record per claim: ``key``, ``claim``, ``paper``, ``ours``, ``baseline`` (its value),
        ``baseline_kind``, ``held`` (True, False or None), ``status`` ("held", "did not hold",
        "not testable here", "not run" or "incomplete: ..."), ``evidence``, ``chapter``,
        ``profile``, ``data`` and ``label``.
    """
    records = []
    for claim in claims:
        content = chapters.get(claim.chapter)
        record = {
            "key": claim.key,
            "claim": claim.claim,
            "paper": claim.paper,
            "ours": None,
            "baseline": None,
            "baseline_kind": claim.baseline,
            "held": None,
            "status": "not run",
            "evidence": f"chapter {claim.chapter} has no results file",
            "chapter": claim.chapter,
            "profile": None,
            "data": None,
            "label": claim.label,
        }
        if content is not None:
            record["profile"], record["data"] = content.get("profile"), content.get("data")
            try:
                measured = claim.measure(content, chapters)
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                reason = error.args[0] if isinstance(error, KeyError) and error.args else error
                record["status"] = f"incomplete: {reason}"
                record["evidence"] = f"results of {claim.chapter} lack what this claim reads"
            else:
                record.update(
                    ours=measured.ours,
                    baseline=measured.baseline,
                    held=measured.held,
                    evidence=measured.evidence,
                    status={True: "held", False: "did not hold", None: "not testable here"}[
                        measured.held
                    ],
                )
            mismatched = [
                stem
                for stem in claim.also_needs
                if chapters.get(stem) is not None
                and (chapters[stem].get("profile"), chapters[stem].get("data"))
                != (record["profile"], record["data"])
            ]
            if mismatched:
                record["evidence"] += f" (also reads {', '.join(mismatched)}, run on other data)"
        records.append(record)
    return records


def format_value(value: Any) -> str:
    """A table cell: numbers to 4 significant places (small ones in scientific notation),
    None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            return "—"
        if value == int(value) and abs(value) >= 1:
            return f"{int(value)}"
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


def _chapter_number(stem: str) -> str:
    prefix = stem.split("_", 1)[0]
    return str(int(prefix)) if prefix.isdigit() else stem


def claims_frame(records: Sequence[Mapping]) -> pd.DataFrame:
    """The claims as a display table (formatted numbers), indexed by chapter number; the
    evidence behind each decision is in :func:`evidence_lines`."""
    rows = [
        {
            "ch.": _chapter_number(record["chapter"]),
            "claim": record["claim"],
            "paper": format_value(record["paper"]),
            "ours": format_value(record["ours"]),
            "baseline": f"{format_value(record['baseline'])} ({record['baseline_kind']})"
            if record["baseline"] is not None
            else record["baseline_kind"],
            "held?": record["status"],
        }
        for record in records
    ]
    return pd.DataFrame(rows).set_index("ch.")


def evidence_lines(records: Sequence[Mapping]) -> list[str]:
    """One line per claim: chapter, short name, decision, the numbers behind it and the profile
    they come from."""
    return [
        f"ch. {_chapter_number(record['chapter'])} · {record['label']} [{record['status']}]: "
        f"{record['evidence']}" + (f" (profile {record['profile']})" if record["profile"] else "")
        for record in records
    ]


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


def table1_rows(chapters: Mapping[str, dict | None]) -> pd.DataFrame:
    """Table 1: the paper's three rows, then ours (full frames from chapter 03, faces from 04,
    the constant from 01, or only its MA from 03/04), each with its source.

    Returns:
        Rows by name, columns :data:`~personality_utils.paper.TABLE1_COLUMNS` plus ``source``
        (``"paper (real data)"``
        or the chapter's data description) and ``profile``.
    """
    rows = {
        f"{name} (paper)": {**values, "source": "paper (real First Impressions)", "profile": None}
        for name, values in paper.TABLE1.items()
    }
    for stem, name in (("03_full_frames", "img (ours)"), ("04_faces_model", "face (ours)")):
        content = chapters.get(stem)
        if content is None:
            continue
        try:
            row = {"MA": _number(content["mean_accuracy"])}
            for trait in TRAITS:
                row[trait[0].upper()] = _number(content["per_trait_accuracy"][trait])
        except (KeyError, TypeError):
            continue
        rows[name] = {**row, "source": content.get("data"), "profile": content.get("profile")}
    constant = _constant_row(chapters)
    if constant is not None:
        rows["constant (ours, training mean)"] = constant
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.reindex(columns=[*paper.TABLE1_COLUMNS, "source", "profile"])


def _constant_row(chapters: Mapping[str, dict | None]) -> dict | None:
    first = chapters.get("01_data")
    if first is not None and isinstance(first.get("constant_baseline_test"), Mapping):
        test = first["constant_baseline_test"]
        try:
            row = {"MA": _number(test["mean"])}
            row.update({trait[0].upper(): _number(test[trait]) for trait in TRAITS})
            return {**row, "source": first.get("data"), "profile": first.get("profile")}
        except KeyError:
            pass
    for stem in ("04_faces_model", "03_full_frames"):
        content = chapters.get(stem)
        if content is not None and "constant_baseline_accuracy" in content:
            try:
                value = _number(content["constant_baseline_accuracy"])
            except KeyError:
                continue
            return {"MA": value, "source": content.get("data"), "profile": content.get("profile")}
    return None


def table1_figure(table: pd.DataFrame) -> go.Figure:
    """Grouped bars of Table 1: the paper's rows hatched, ours solid, the constant in grey."""
    figure = go.Figure()
    palette = {"img": "#1f77b4", "face": "#2ca02c", "[23]": "#9467bd", "constant": "#7f7f7f"}
    for name, row in table.iterrows():
        colour = next((c for key, c in palette.items() if name.startswith(key)), "#ff7f0e")
        from_paper = name.endswith("(paper)")
        values = row[list(paper.TABLE1_COLUMNS)].astype(float)
        figure.add_trace(
            go.Bar(
                x=list(paper.TABLE1_COLUMNS),
                y=values,
                name=name,
                marker={
                    "color": colour,
                    "opacity": 0.55 if from_paper else 1.0,
                    "pattern": {"shape": "/" if from_paper else ""},
                },
                hovertemplate="%{x}: %{y:.4f}<extra>" + name + "</extra>",
            )
        )
    finite = table[list(paper.TABLE1_COLUMNS)].astype(float).stack()
    low = float(finite.min()) if len(finite) else 0.85
    high = float(finite.max()) if len(finite) else 0.95
    figure.update_layout(
        barmode="group",
        title="Table 1: mean accuracy (MA) and per-trait accuracy, the paper's rows and ours",
        yaxis={
            "title": "accuracy (1 − |error|)",
            "range": [max(0.0, low - 0.01), min(1.0, high + 0.01)],
        },
        legend={"orientation": "h", "y": -0.15},
        height=460,
    )
    return figure


def claims_figure(records: Sequence[Mapping], claims: Iterable[Claim] = CLAIMS) -> go.Figure:
    """Paper, ours and baseline side by side for the claims marked ``plot`` (figures on a 0-1
    scale), ours coloured by whether the claim held. A claim not run keeps its paper bar."""
    colours = {True: "#2ca02c", False: "#d62728", None: "#7f7f7f"}
    plotted = {claim.key for claim in claims if claim.plot}
    shown = [record for record in records if record["key"] in plotted]
    labels = [record["label"] for record in shown]

    def values(key: str) -> list[float | None]:
        return [
            record[key]
            if isinstance(record[key], (int, float)) and not isinstance(record[key], bool)
            else None
            for record in shown
        ]

    shown_values = [
        v for key in ("paper", "ours", "baseline") for v in values(key) if v is not None
    ]
    # a share of the CNN's gain can pass 1 or fall below 0: keep every bar inside the axis
    lowest = min(shown_values, default=0.0) * 1.05
    highest = max(shown_values, default=1.0) * 1.05
    figure = go.Figure(
        [
            go.Bar(
                x=labels,
                y=values("paper"),
                name="paper (real data)",
                marker={"color": "#bbbbbb", "pattern": {"shape": "/"}},
            ),
            go.Bar(
                x=labels,
                y=values("ours"),
                name="ours (green: held, red: did not, grey: untested or not run)",
                marker={"color": [colours[record["held"]] for record in shown]},
                customdata=[record["evidence"] for record in shown],
                hovertemplate="%{x}: %{y:.4g}<br>%{customdata}<extra>ours</extra>",
            ),
            go.Bar(
                x=labels,
                y=values("baseline"),
                name="baseline on our data",
                marker={"color": "#333333"},
            ),
        ]
    )
    figure.update_layout(
        barmode="group",
        title="Headline figures: the paper's, ours and the baseline on the same data",
        height=480,
        xaxis={"tickangle": -25},
        yaxis={"title": "share or accuracy", "range": [min(0.0, lowest), max(1.02, highest)]},
        legend={"orientation": "h", "y": 1.12, "x": 0},
        margin={"b": 120, "t": 110},
    )
    return figure
