"""The claims of chapter 06 (what conv5_3's units became), each judge just above the rows
that use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from personality_utils.claims.common import _FACE, MODEL_INSTRUMENTS, _estimate, r2_gate
from personality_utils.core.planted import TRAIT_WEIGHTS
from personality_utils.core.records import UNITS
from personality_utils.core.verdicts import (
    ALPHA,
    Claim,
    Evidence,
    Judgement,
    Untestable,
    get,
    number,
    with_interval,
)
from personality_utils.core.vocabulary import TRAITS

#: The planted features every cue group names (synthetic.FEATURES).


_NULL_NAMES = {"pretrained": "the network before fine-tuning", "random": "random weights"}


def _emergence_null(measurements: Mapping[str, Any]) -> str:
    null = get(measurements, UNITS.emergence_null)
    if null not in _NULL_NAMES:
        raise Untestable(f"unknown null network {null!r}")
    return null


def _null_note(measurements: Mapping[str, Any]) -> str:
    """What the evidence says of the null: the seeds and random networks behind the
    interval, and the fallback when there is no pretrained network."""
    null = _emergence_null(measurements)
    design = measurements.get(UNITS.emergence_design) or {}
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
        gaps = get(measurements, UNITS.emergence, layer)
        if not gaps:
            raise Untestable(f"no face part has a cell on the {layer} grid")
        parts, words = [], []
        for part in gaps:
            evidence, value, low, high = _estimate(
                measurements, UNITS.emergence, layer, part, scale="share"
            )
            parts.append((part, evidence))
            words.append(f"{part} {with_interval(value, low, high, 3)}")
        levels = (measurements.get(UNITS.emergence_levels) or {}).get(layer) or {}
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
        measurements, UNITS.entropy_depth_spearman, scale="correlation", direction="below"
    )
    others = measurements.get(UNITS.entropy_depth_spearman_levels) or {}
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
    best = get(measurements, UNITS.glasses_best)
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
        row = get(measurements, UNITS.planted_cues, trait)
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
    sets = get(measurements, UNITS.ablation_min_q)
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
    agreement = get(measurements, UNITS.ablation_planted_agreement)
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


UNIT_CLAIMS: tuple[Claim, ...] = (
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
        rests_on=MODEL_INSTRUMENTS,
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
        rests_on=MODEL_INSTRUMENTS,
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
        rests_on=MODEL_INSTRUMENTS,
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
        _null_gap(UNITS.deepest_entropy_gap, "conv5_3 entropy (bits)", "bits", "below"),
        check=True,
        rests_on=MODEL_INSTRUMENTS,
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
        _null_gap(UNITS.netdissect_gap, "top-unit IoU", "share"),
        check=True,
        rests_on=MODEL_INSTRUMENTS,
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
        rests_on=MODEL_INSTRUMENTS,
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
        _null_gap(UNITS.glasses_gap, "top-unit glasses precision at N", "share"),
        check=True,
        cues=("glasses",),
        rests_on=MODEL_INSTRUMENTS,
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
            rests_on=MODEL_INSTRUMENTS,
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
        rests_on=MODEL_INSTRUMENTS,
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
        rests_on=MODEL_INSTRUMENTS,
    ),
)


# ----------------------------------------------------------------------------------------------
# Chapter 07: action units
# ----------------------------------------------------------------------------------------------

#: The AU sources Table 2 and the AU model run on: the measured AUs (the chapter's source, an
#: instrument with its own check) and, on the synthetic set, the planted AUs (a perfect one).
