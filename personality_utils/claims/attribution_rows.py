"""The claims of chapter 05b (which explanation can be trusted): the leaderboard's verdict rows,
each judge just above the rows that use it. None is the paper's: the paper reads one instrument,
the CAM, and these rows ask of every method whether it finds the cause the generator planted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from personality_utils.claims.common import _ALL, MODEL_INSTRUMENTS, r2_gate
from personality_utils.core.records import ATTRIBUTION
from personality_utils.core.verdicts import (
    Claim,
    Evidence,
    Judgement,
    Untestable,
    get,
    number,
    with_interval,
)
from personality_utils.core.vocabulary import ATTRIBUTION_METHODS as METHODS

#: The model every per-method row is judged on: the paper's CAM model on full frames (the
#: leaderboard shows DAN+ beside it).
JUDGED_MODEL = "CAM model"


def _part(record: Mapping[str, Any], scale: str, bar: float = 0.0) -> Evidence:
    value, low, high = (record.get(key) for key in ("value", "low", "high"))
    if value is None or low is None or high is None:
        return Evidence(absent="not measured (no planted region, or no map)", scale=scale)
    return Evidence(number(value), (number(low), number(high)), bar, "above", scale, null=bar)


def _words(name: str, record: Mapping[str, Any]) -> str:
    if record.get("value") is None or record.get("low") is None:
        return f"{name} n/a"
    return f"{name} {with_interval(number(record['value']), number(record['low']), number(record['high']), 3)}"  # noqa: E501


def _localises(method: str) -> Callable[[Mapping[str, Any]], Judgement]:
    """Per trait: the paired interval of ``method``'s relevance mass in the planted region
    minus the face-location prior's, on the judged model's frames; every trait the model
    learned must hold."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        gains = (get(measurements, ATTRIBUTION.localisation_gain).get(JUDGED_MODEL) or {}).get(
            method
        )
        if not gains:
            raise Untestable(f"{method} was not run on the {JUDGED_MODEL}")
        parts, words = [], []
        for trait, record in gains.items():
            evidence = _part(record, "share").gated(r2_gate(measurements, trait))
            parts.append((trait, evidence))
            words.append(_words(trait[0].upper(), record))
        estimates = [part.estimate for _t, part in parts if part.estimate is not None]
        return Judgement(
            Evidence(parts=tuple(parts), scale="share"),
            min(estimates) if estimates else None,
            0.0,
            f"relevance mass in the planted region, {method} minus the face-location prior "
            f"(paired, people resampled): " + ", ".join(words),
        )

    return judge_


def _per_method(
    key: str, what: str, scale: str, gate: str | None = None
) -> Callable[[Mapping[str, Any]], Judgement]:
    """One part per method: the interval of ``key``'s estimate for the method against 0.
    ``gate``: a measurement naming the trait whose test R² every part rests on."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        by_method = get(measurements, key)
        if not by_method:
            raise Untestable(f"no {what} measured")
        gates = () if gate is None else (r2_gate(measurements, get(measurements, gate)),)
        parts, words = [], []
        for method, record in by_method.items():
            parts.append((method, _part(record, scale).gated(*gates)))
            words.append(_words(method, record))
        estimates = [part.estimate for _m, part in parts if part.estimate is not None]
        return Judgement(
            Evidence(parts=tuple(parts), scale=scale),
            min(estimates) if estimates else None,
            0.0,
            f"{what}: " + ", ".join(words),
        )

    return judge_


def _randomisation(measurements: Mapping[str, Any]) -> Judgement:
    """Per method and trait: relevance mass in the planted region, trained minus the fully
    randomised network, on the same frames (paired); every learned trait must hold."""
    drops = get(measurements, ATTRIBUTION.randomisation_drop)
    if not drops:
        raise Untestable("no randomisation")
    parts, words = [], []
    for method, traits in drops.items():
        worst = None
        for trait, record in traits.items():
            evidence = _part(record, "share").gated(r2_gate(measurements, trait))
            parts.append((f"{method}, {trait}", evidence))
            if evidence.estimate is not None and (worst is None or evidence.estimate < worst[1]):
                worst = (trait, evidence.estimate, record)
        if worst is not None:
            words.append(_words(f"{method} (lowest: {worst[0]})", worst[2]))
    return Judgement(
        Evidence(parts=tuple(parts), scale="share"),
        min((p.estimate for _n, p in parts if p.estimate is not None), default=None),
        0.0,
        "relevance mass in the planted region, trained minus randomised network (paired, "
        "people resampled), each method's lowest trait: " + ", ".join(words),
    )


def _removal(measurements: Mapping[str, Any]) -> Judgement:
    """Per method and trait: the interval of the symmetric removal score (training-mean fill)
    against the upper end of the random orders' 95% band."""
    srg = get(measurements, ATTRIBUTION.removal_against_null)
    if not srg:
        raise Untestable("no removal curves")
    parts, words = [], []
    for method, traits in srg.items():
        held = 0
        for trait, record in traits.items():
            bar = number(record["bar"])
            evidence = _part(record, "spread", bar).gated(r2_gate(measurements, trait))
            parts.append((f"{method}, {trait}", evidence))
            held += evidence.interval is not None and evidence.interval[0] > bar
        words.append(f"{method} {held}/{len(traits)}")
    return Judgement(
        Evidence(parts=tuple(parts), scale="spread"),
        None,
        "random orders' 97.5th percentile",
        "traits whose SRG interval lies above the random orders' band: " + ", ".join(words),
    )


def _overlap_rewards_cause(measurements: Mapping[str, Any]) -> Judgement:
    """Per trait: the interval of the Spearman correlation, across the CAM model's maps, of the
    paper's mean face overlap with the mean relevance mass in the trait's planted region; every
    learned trait must hold (the correlation over all traits together is printed beside)."""
    by_trait = get(measurements, ATTRIBUTION.overlap_against_cause)
    if not by_trait:
        raise Untestable("no planted regions (real data)")
    parts, words = [], []
    for trait, record in by_trait.items():
        if trait == "all traits":
            continue
        parts.append((trait, _part(record, "correlation").gated(r2_gate(measurements, trait))))
        words.append(_words(trait[0].upper(), record))
    pooled = by_trait.get("all traits") or {}
    estimates = [part.estimate for _t, part in parts if part.estimate is not None]
    return Judgement(
        Evidence(parts=tuple(parts), scale="correlation"),
        min(estimates) if estimates else None,
        0.0,
        "Spearman correlation across the CAM model's maps (methods and image-blind priors) of "
        "the paper's mean face overlap with the mean relevance mass in the planted region, per "
        "trait (people resampled): " + ", ".join(words) + f"; {_words('all traits', pooled)}",
    )


#: The ``key`` of each method's localisation row.
def _slug(method: str) -> str:
    return method.lower().replace("++", "pp").replace("-", "_").replace(" ", "_")


ATTRIBUTION_CLAIMS: tuple[Claim, ...] = (
    *(
        Claim(
            f"attribution_localises_{_slug(method)}",
            "05b_attribution",
            f"{method} puts more of its map on each trait's planted cause than the dataset's "
            "face-location prior does",
            "per trait, the paired 95% interval (people resampled) of the relevance mass in the "
            f"planted region (poster, glasses or the AUs' face parts), {method} minus the "
            "face-location prior, on the CAM model's test frames (synthetic only)",
            None,
            "face-location prior",
            f"{method} vs face prior",
            _localises(method),
            check=True,
            cues=_ALL,
            rests_on=MODEL_INSTRUMENTS,
        )
        for method in METHODS
    ),
    Claim(
        "attribution_false_positive",
        "05b_attribution",
        "every method's map of the poster-driven trait leaves the poster when the poster "
        "carries no signal (the false-positive control)",
        "per method, the paired 95% interval of the openness map's mass on the poster, the CAM "
        "model minus the same model trained where the poster carries no signal (synthetic only)",
        None,
        "0",
        "poster mass, trained − control",
        _per_method(
            ATTRIBUTION.false_positive_drop,
            "mass on the poster, trained minus no-poster control",
            "share",
            gate=ATTRIBUTION.context_trait,
        ),
        check=True,
        cues=("context_cue",),
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "attribution_randomisation",
        "05b_attribution",
        "every method's planted-region mass depends on the learned weights: a network with "
        "every weight re-initialised puts less of its map on the planted causes",
        "per method and trait, the paired 95% interval of the relevance mass in the planted "
        "region, trained minus fully randomised CAM model (synthetic only)",
        None,
        "0",
        "mass, trained − randomised",
        _randomisation,
        check=True,
        cues=_ALL,
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "attribution_removal",
        "05b_attribution",
        "every method ranks the image by what moves the prediction: removing patches in its "
        "order separates the outputs more than random orders do",
        "per method and trait, the 95% interval (people resampled) of the symmetric removal "
        "score LeRF − MoRF (training-mean fill, in units of the output's spread) against the "
        "97.5th percentile of random orders' scores",
        None,
        "random orders",
        "SRG vs random orders",
        _removal,
        check=True,
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "attribution_overlap_rewards_cause",
        "05b_attribution",
        "the paper's instrument rewards the method that finds the cause: for every trait, maps "
        "with a higher face overlap put more of their mass on the trait's planted cause",
        "per trait, the 95% interval (people resampled) of the Spearman correlation across the "
        "CAM model's maps of mean face overlap and mean relevance mass in the planted region",
        None,
        "0",
        "overlap vs cause (ρ)",
        _overlap_rewards_cause,
        check=True,
        cues=_ALL,
        rests_on=MODEL_INSTRUMENTS,
    ),
    Claim(
        "attribution_backbone",
        "05b_attribution",
        "the identity-pretrained backbone helps the maps find the planted causes: the same CAM "
        "model fine-tuned from random weights puts less of its maps on them",
        "per method, the paired 95% interval of the relevance mass in the planted regions "
        "(mean over traits), pretrained minus random start (synthetic only)",
        None,
        "0",
        "mass, pretrained − random start",
        _per_method(
            ATTRIBUTION.backbone_gain,
            "mass in the planted regions, pretrained minus random start",
            "share",
        ),
        check=True,
        cues=_ALL,
        rests_on=MODEL_INSTRUMENTS,
    ),
)
