"""The attribution chapter's two control trainings of the profile's CAM model on frames.

``no_poster`` is the false-positive control: the same frames and recipe, with labels in which
the synthetic poster (the ``context_cue`` feature) carries no signal. Each clip's planted poster
term, ``LABEL_STD·W[t, context_cue]·z_context(c)``, is taken out of its labels and the term of
another training clip put in its place (a seeded permutation of the train clips), then the
labels are clipped and quantised again as the generator does
(:func:`~personality_utils.data.synthetic.labels.trait_scores`). The poster term keeps its
distribution, so the labels keep their spread, but it is independent of the clip's own poster:
an attribution method that still points at the poster of this model is pointing at nothing the
model could have learned. Only the traits with planted poster weight change (openness).

``random_init`` asks what the backbone brings: the same CAM model fine-tuned from random weights
instead of the identity-pretrained backbone (the CPU profiles) or the given backbone weights,
with the labels unchanged.

:func:`~personality_utils.models.experiments.run_experiment` takes a ``variant`` and trains it
in a folder of its own (:func:`~personality_utils.models.experiments.experiment_dir`); ``make
models`` trains them for chapter :data:`CHAPTER` only.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from personality_utils.core.planted import FEATURES
from personality_utils.core.profiles import TrainConfig
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.synthetic.labels import (
    LABEL_STD,
    LABEL_STEPS,
    _standardise,
    _weight_matrix,
)
from personality_utils.data.synthetic.truth import load_ground_truth

__all__ = [
    "CHAPTER",
    "VARIANTS",
    "check_variant",
    "describe",
    "variant_config",
    "variant_labels",
    "variant_start",
]

#: The control trainings, in the order the training plan lists them.
VARIANTS: tuple[str, ...] = ("no_poster", "random_init")
#: The chapter that reads them (``make models ONLY=...`` trains them for it alone).
CHAPTER = "05b_attribution"
_CONTEXT = "context_cue"
_DESCRIPTIONS = {
    "no_poster": (
        "false-positive control: the same frames and recipe, with labels in which the synthetic "
        "poster carries no signal (each clip's planted poster term replaced by that of another "
        "training clip, a seeded permutation)"
    ),
    "random_init": (
        "backbone control: the same model and labels, fine-tuned from random weights instead "
        "of the pretrained backbone"
    ),
}


def check_variant(variant: str | None) -> str | None:
    """Return ``variant`` when it is None or one of :data:`VARIANTS`.

    Raises:
        ValueError: For any other value, naming the known ones.
    """
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"unknown training variant {variant!r}; choose one of {VARIANTS}")
    return variant


def describe(variant: str | None) -> str:
    """One sentence on what a variant is (provenance records, pages); ``""`` for None (the
    chapters' own model)."""
    check_variant(variant)
    return "" if variant is None else _DESCRIPTIONS[variant]


def variant_start(variant: str | None, weights: str | None) -> str | None:
    """The weights a variant's model starts from: None (random weights) for ``random_init``,
    whatever the profile's model starts from (``weights``) otherwise.

    Args:
        variant: None, or one of :data:`VARIANTS`.
        weights: The starting weights of the chapters' own model
            (:func:`~personality_utils.models.experiments.starting_weights`).
    """
    check_variant(variant)
    return None if variant == "random_init" else weights


def variant_config(config: TrainConfig, variant: str | None) -> TrainConfig:
    """The recipe of a variant's model: ``config`` (the chapters' own model's) with the starting
    weights of :func:`variant_start`, the network and every other setting unchanged (a CPU
    profile given VGG-Face weights keeps the full-width VGG-16 those weights need)."""
    start = variant_start(variant, config.backbone_weights)
    if start == config.backbone_weights:
        return config
    return dataclasses.replace(config, backbone_weights=start)


def _poster_terms(dataset, clips: list[str]) -> np.ndarray:
    """``LABEL_STD·W[:, context_cue]·z_context(c)`` of each clip, shape ``(len(clips), 5)``."""
    truth = load_ground_truth(dataset.root)["clips"]
    missing = [clip for clip in clips if clip not in truth]
    if missing:
        raise ValueError(
            f"{dataset.root}: ground_truth.json has no features for {len(missing)} training "
            f"clip(s) (first {missing[0]!r}): the stores were not made from this synthetic set"
        )
    column = FEATURES.index(_CONTEXT)
    weights = _weight_matrix()[:, column]
    cue = np.array([_standardise(truth[clip]["features"])[column] for clip in clips])
    return LABEL_STD * cue[:, None] * weights[None, :]


def variant_labels(
    dataset, meta: pd.DataFrame, labels: np.ndarray, variant: str | None, seed: int
) -> np.ndarray:
    """The labels a variant's model trains on.

    For ``no_poster``, clip ``c``'s label of trait ``t`` becomes ``label_t(c) -
    LABEL_STD·W[t, ctx]·z_ctx(c) + LABEL_STD·W[t, ctx]·z_ctx(π(c))``, clipped to [0, 1] and
    quantised to the trait's steps again (:data:`~personality_utils.data.synthetic.labels.
    LABEL_STEPS`), where ``π`` is a permutation of the training clips drawn with ``seed``; the
    traits without planted poster weight keep their labels exactly. Other variants (and None)
    return ``labels`` unchanged.

    Args:
        dataset: The :class:`~personality_utils.data.datasets.Dataset` (its ``root`` holds
            ``ground_truth.json``).
        meta: The train split's frame (or face) metadata, with a ``clip`` column.
        labels: ``(len(meta), 5)`` labels in :data:`~personality_utils.core.vocabulary.TRAITS`
            order, one row per row of ``meta``.
        variant: None, or one of :data:`VARIANTS`.
        seed: Seed of the permutation (the training seed).

    Returns:
        ``(len(meta), 5)`` float labels.

    Raises:
        ValueError: For ``no_poster`` on a dataset that is not the synthetic set (the control
            needs its ground truth), or when the shapes disagree.
    """
    check_variant(variant)
    labels = np.asarray(labels)
    if variant != "no_poster":
        return labels
    if not dataset.synthetic:
        raise ValueError(
            f"{dataset.root}: the no_poster control needs the synthetic set's ground truth "
            "(each clip's planted poster), which real data do not have"
        )
    if labels.shape != (len(meta), len(TRAITS)):
        raise ValueError(
            f"labels must have one row per meta row and {len(TRAITS)} columns, got "
            f"{labels.shape} for {len(meta)} rows"
        )
    clip_of_row = meta["clip"].to_numpy()
    clips = sorted(set(clip_of_row))
    terms = _poster_terms(dataset, clips)
    swapped = terms[np.random.default_rng(seed).permutation(len(clips))]
    row = pd.Index(clips).get_indexer(clip_of_row)
    out = labels.astype(np.float64, copy=True)
    for column, trait in enumerate(TRAITS):
        if not np.any(terms[:, column]):
            continue  # no planted poster weight: the labels stay exactly as they are
        steps = LABEL_STEPS[trait]
        value = labels[:, column] - terms[row, column] + swapped[row, column]
        out[:, column] = np.round(np.clip(value, 0.0, 1.0) * steps) / steps
    return out
