"""Helpers every chapter's judges share: the planted features a claim can name, the
instruments a claim rests on and their gates, and evidence from an estimate with its interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from personality_utils.core.planted import FEATURES, planted_features
from personality_utils.core.records import GATES
from personality_utils.core.verdicts import (
    HELD,
    R2_GATE,
    Claim,
    Evidence,
    Instrument,
    Judgement,
    Untestable,
    derive,
    evidence_fields,
    get,
    interval,
    number,
    with_interval,
)
from personality_utils.core.vocabulary import TRAITS

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
#: What the claims of chapters 05 and 06 rest on: dlib's face boxes and the model's gain over
#: the constant.
MODEL_INSTRUMENTS = ("face detection", "model gain")


def planted(claim: Claim) -> bool:
    """Whether the synthetic generator's planted weights decide the claim's answer: some
    feature the claim is about (``claim.cues``) carries planted weight in some trait
    (:func:`~personality_utils.core.planted.planted_features`). Read only on the synthetic set."""
    return bool(set(claim.cues) & set(planted_features()))


def instrument(measurements: Mapping[str, Any], name: str) -> Instrument:
    """The instrument ``name`` as the chapter checked it (``measurements["instruments"]``);
    unchecked when the chapter has no check of it."""
    item = (measurements.get(GATES.instruments) or {}).get(name)
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
    value = (measurements.get(GATES.trait_r2) or {}).get(trait)
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
