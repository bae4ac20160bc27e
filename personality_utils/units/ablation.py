"""A causal test of the units' labels (chapter 06): silence the detectors, watch the traits.

Chapter 06 labels conv5_3 units as eye, nose, mouth or glasses detectors from where they peak.
A label says what a unit responds to, not what the model uses it for. Here the units labelled
as one part's detectors are silenced by *mean ablation*, as the literature does it (their
pooled values replaced by their mean over the crops, so the head still sees a typical value
rather than an out-of-distribution zero), and the change of each trait's prediction is measured
over the test crops, against random sets of as many units *matched on mean activation* (each
labelled unit replaced by a random unit of similar mean activation: strongly active units move
outputs more whatever they detect). On the synthetic set the planted weights say which traits
should move when which part's units go (:func:`~personality_utils.units.ground_truth.
planted_cue_table`), and the agreement is tested by permuting the traits within each set (the
cells of one set share its units, so they are not independent).

Silencing is exact and cheap: DAN+ sees conv5_3 only through pool5's global max and average
(L2-normalised), so an ablated unit is a replaced entry in two pooled vectors, and the head is
re-run on the pooled values of one pass (:func:`pooled_units`, :func:`ablated_logits`; a test
checks zeroing against a full forward pass with the units zeroed by a hook). The Fig. 4 CAM
model (global average pooling and one linear layer) works the same way; the authors' CAM head
mixes units in a 3x3 convolution before pooling and is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from personality_utils.core.stats import (
    N_RESAMPLES,
    benjamini_hochberg,
    bootstrap_interval,
    estimate,
    people,
    permutation_p_value,
)
from personality_utils.core.verdicts import ALPHA
from personality_utils.core.vocabulary import TRAITS
from personality_utils.models.networks import CAMModel, DANPlus
from personality_utils.units.ground_truth import cue_masks, planted_cue_table, top_units

__all__ = [
    "Ablation",
    "ablate",
    "ablated_logits",
    "detector_sets",
    "matched_units",
    "mean_activation",
    "pooled_units",
    "study_ablation",
]


#: The pooled values :func:`pooled_units` keeps of DAN+, in
#: :meth:`~personality_utils.models.networks.DANPlus.pooled`'s order; the last two (pool5) carry
#: conv5_3's units.
_DANPLUS_POOLED = ("relu5_2_max", "relu5_2_mean", "pool5_max", "pool5_mean")
#: Added to an effect and its null mean before their ratio (trait scores are 0-1).
_FLOOR = 1e-9


@torch.no_grad()
def pooled_units(trained, images: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
    """One pass over ``images``: what the head of the model reads, per unit.

    Returns:
        For DAN+: ``relu5_2_max``, ``relu5_2_mean``, ``pool5_max``, ``pool5_mean`` (n, units),
        before their L2 normalisation (:meth:`~personality_utils.models.networks.DANPlus.pooled`).
        For the Fig. 4 CAM model: ``conv5_3_mean`` (n, units), the global average of its maps.

    Raises:
        TypeError: For the authors' CAM head (units mixed before pooling).
    """

    model = trained.model.eval()
    device = next(model.parameters()).device
    if isinstance(model, DANPlus):
        names, pool = _DANPLUS_POOLED, model.pooled
    elif isinstance(model, CAMModel) and model.head_type == "fig4":
        names, pool = ("conv5_3_mean",), lambda inputs: [model.maps(inputs).mean(dim=(2, 3))]
    else:
        raise TypeError(f"units of {type(model).__name__} cannot be silenced in pooled form")
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, len(images), batch_size):
        inputs = trained.prepare(images[start : start + batch_size], device)
        for name, values in zip(names, pool(inputs), strict=True):
            parts[name].append(values.float().cpu().numpy())
    return {name: np.concatenate(values) for name, values in parts.items()}


@torch.no_grad()
def ablated_logits(
    trained, pooled: Mapping[str, np.ndarray], units: Sequence[int] = (), mean: bool = False
) -> np.ndarray:
    """The model's (n, 5) pre-sigmoid outputs with conv5_3's ``units`` silenced, from
    :func:`pooled_units`: the units' pooled values set to 0 (or, with ``mean``, to their mean
    over the n images: mean ablation) and the model's own head run on the rest."""
    model = trained.model
    device = next(model.parameters()).device
    units = torch.as_tensor(np.asarray(list(units), dtype=np.int64))

    def tensor(name: str, silence: bool) -> torch.Tensor:
        values = torch.as_tensor(np.array(pooled[name], dtype=np.float32), device=device)
        if silence:
            values[:, units] = values[:, units].mean(dim=0) if mean else 0.0
        return values

    if "conv5_3_mean" in pooled:
        maps = tensor("conv5_3_mean", True)[:, :, None, None]  # the average of a 1x1 map is it
        logits = model.head_logits(maps)
    else:
        logits = model.head_logits([tensor(n, n.startswith("pool5")) for n in _DANPLUS_POOLED])
    return logits.double().cpu().numpy()


def detector_sets(
    shares: pd.DataFrame,
    parts: Sequence[str],
    size: int,
    glasses_precision: pd.Series | None = None,
) -> dict[str, list[int]]:
    """The units chapter 06 labels as each part's detectors: the ``size`` units with the largest
    N'/N on the part (the paper's reading of Fig. 9) and, with ``glasses_precision`` (per unit,
    the share of glasses crops among its top N), the ``size`` most precise glasses units.
    ``shares`` is :func:`~personality_utils.units.semantics.region_shares` of conv5_3; a part made
    of several of its columns (``"eyes & brows"``) sums them."""
    sets = {}
    for part in parts:
        columns = ["eyes", "eyebrows"] if part == "eyes & brows" else [part]
        score = shares[columns].sum(axis=1)
        sets[part] = [
            int(u) for u in score.sort_values(ascending=False, kind="stable").index[:size]
        ]
    if glasses_precision is not None:
        ranked = glasses_precision.sort_values(ascending=False, kind="stable")
        sets["glasses"] = [int(u) for u in ranked.index[:size]]
    return sets


@dataclass
class Ablation:
    """Trait changes when labelled detectors are silenced, against random units
    (:func:`ablate`).

    Attributes:
        table: One row per unit set × trait: ``mean |change|`` (trait score, 0-1, mean over the
            crops) with its person-bootstrap interval, ``null mean`` and ``null 95%`` (random
            sets of as many units matched on mean activation), ``ratio`` (effect over the null
            mean), ``p`` (share of random sets moving the trait as much,
            :func:`~personality_utils.core.stats.permutation_p_value`) and ``q`` (Benjamini-Hochberg
            over all rows).
        sets: The silenced units of each set.
        n_random: Random sets in the null.
        crops: Crops measured.
    """

    table: pd.DataFrame
    sets: dict[str, list[int]]
    n_random: int
    crops: int

    def ratios(self) -> pd.DataFrame:
        """Sets (rows) × traits: effect over the null mean."""
        return self.table["ratio"].unstack("trait").loc[list(self.sets), list(TRAITS)]

    def agreement(
        self, planted: pd.DataFrame, n_permutations: int = N_RESAMPLES, seed: int = 0
    ) -> dict[str, Any]:
        """Against the planted weights (traits × cues, :func:`~personality_utils.units.ground_truth.
        planted_cue_table`): the Spearman correlation of planted share with the effect ratio
        over set × trait cells, tested by permuting the traits within each set (the cells of
        one set share its units; scipy's p would assume them independent), and, per set,
        whether the trait it moves most (by ratio) is the trait with the largest planted share
        on that cue."""
        from scipy.stats import spearmanr

        ratios = self.ratios()
        cues = [cue for cue in ratios.index if cue in planted.columns]
        share = planted.loc[list(TRAITS), cues].T  # cues x traits
        observed = ratios.loc[cues].to_numpy()
        spearman = float(spearmanr(share.to_numpy().ravel(), observed.ravel()).statistic)
        rng = np.random.default_rng(seed)
        null = np.array(
            [
                spearmanr(
                    share.to_numpy().ravel(), rng.permuted(observed, axis=1).ravel()
                ).statistic
                for _ in range(n_permutations)
            ]
        )
        null = null[np.isfinite(null)]
        matches = {
            cue: {
                "moved_most": str(ratios.loc[cue].idxmax()),
                "planted_most": str(share.loc[cue].idxmax()),
            }
            for cue in cues
        }
        return {
            "spearman": spearman,
            "p": permutation_p_value(spearman - 1e-12, null),
            "permutations": len(null),
            "detectable": float(np.quantile(null, 1 - ALPHA)) if len(null) else None,
            "matches": matches,
            "matched": int(sum(m["moved_most"] == m["planted_most"] for m in matches.values())),
            "cues": len(cues),
        }

    def measurements(self, agreement: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the claims read: per set, the smallest q over the traits and the trait it
        belongs to; with ``agreement``, the planted agreement."""
        out = {
            "ablation_min_q": {
                name: {
                    "q": float(rows["q"].min()),
                    "trait": str(rows["q"].idxmin()[1]),
                    "ratio": float(rows.loc[rows["q"].idxmin(), "ratio"]),
                    "detectable_ratio": float(
                        (rows["null 95%"] / rows["null mean"]).loc[rows["q"].idxmin()]
                    ),
                }
                for name, rows in self.table.groupby(level="set", sort=False)
            }
        }
        if agreement is not None:
            out["ablation_planted_agreement"] = agreement
        return out

    def record(self) -> dict[str, Any]:
        """The results-file entry ``ablation``: per set and trait the effect with its interval,
        the null and the p and q values."""
        effects = {}
        for (name, trait), row in self.table.iterrows():
            effects.setdefault(name, {})[trait] = {
                **estimate(row["mean |change|"], row["95% low"], row["95% high"]),
                "null_mean": float(row["null mean"]),
                "null_high": float(row["null 95%"]),
                "ratio": float(row["ratio"]),
                "p": float(row["p"]),
                "q": float(row["q"]),
            }
        return {
            "effects": effects,
            "units": {name: list(units) for name, units in self.sets.items()},
            "random_sets": self.n_random,
            "crops": self.crops,
        }


def mean_activation(pooled: Mapping[str, np.ndarray]) -> np.ndarray:
    """Each conv5_3 unit's mean activation over the images (its global average, from
    :func:`pooled_units`): what the random sets are matched on."""
    name = "conv5_3_mean" if "conv5_3_mean" in pooled else "pool5_mean"
    return np.asarray(pooled[name], dtype=np.float64).mean(axis=0)


def matched_units(
    units: Sequence[int], activation: np.ndarray, rng: np.random.Generator
) -> list[int]:
    """A random set of as many *other* units as ``units``, matched on mean activation: each
    unit is replaced by a unit drawn among its neighbours in the activation ranking (a window
    of a sixteenth of the layer on either side, at least 2; widened where the window has no
    unit left), never one of ``units`` and never twice the same."""
    order = np.argsort(activation, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    half = max(2, len(order) // 16)
    labelled = {int(u) for u in units}
    if len(order) < 2 * len(labelled):
        raise ValueError(f"{len(labelled)} units leave too few others in a layer of {len(order)}")
    chosen: list[int] = []
    for unit in rng.permutation(np.asarray(list(units), dtype=np.int64)):
        width = half
        while True:
            low, high = max(0, rank[unit] - width), min(len(order), rank[unit] + width + 1)
            free = [int(u) for u in order[low:high] if int(u) not in chosen and u not in labelled]
            if free:
                chosen.append(int(rng.choice(free)))
                break
            width *= 2
    return chosen


def ablate(
    trained,
    crops: np.ndarray,
    clips: Sequence[str],
    sets: Mapping[str, Sequence[int]],
    n_units: int,
    n_random: int = N_RESAMPLES,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
) -> Ablation:
    """Mean-ablate each set of conv5_3 units, and ``n_random`` random sets of as many units
    matched on mean activation (:func:`matched_units`), and measure how far each trait score
    moves over ``crops`` (one per clip of ``clips``).

    Args:
        trained: DAN+ (or the Fig. 4 CAM model).
        crops: uint8 face crops; ``clips`` their clips (the person bootstrap's groups).
        sets: ``{name: units}`` (:func:`detector_sets`).
        n_units: Units in conv5_3 (random sets are drawn from all of them).
        n_random: Random sets of the null. A permutation p is at least 1 / (n_random + 1), so
            Benjamini-Hochberg over the sets x traits can only reach q < 0.05 with enough of
            them; fewer are refused rather than giving a test that cannot succeed.

    Raises:
        ValueError: If ``n_random`` is too small for any q to fall below 0.05.
    """
    tests = len(sets) * len(TRAITS)
    if tests / (n_random + 1) >= ALPHA:
        raise ValueError(
            f"n_random={n_random} cannot give a Benjamini-Hochberg q below {ALPHA} over {tests} "
            f"tests (the smallest p is 1/{n_random + 1}); use at least {int(tests / ALPHA)}"
        )
    pooled = pooled_units(trained, crops)
    intact = 1 / (1 + np.exp(-ablated_logits(trained, pooled)))
    groups = people(np.asarray(clips))
    rng = np.random.default_rng(seed)
    activation = mean_activation(pooled)

    def change(units) -> np.ndarray:  # (crops, traits) absolute change of the trait scores
        silenced = 1 / (1 + np.exp(-ablated_logits(trained, pooled, units, mean=True)))
        return np.abs(silenced - intact)

    rows = []
    for name, units in sets.items():
        null = np.array(
            [change(matched_units(units, activation, rng)).mean(axis=0) for _ in range(n_random)]
        )
        per_crop = change(list(units))
        for t, trait in enumerate(TRAITS):
            value, low, high = bootstrap_interval(per_crop[:, t], groups, n_boot, seed)
            rows.append(
                {
                    "set": name,
                    "trait": trait,
                    "mean |change|": value,
                    "95% low": low,
                    "95% high": high,
                    "null mean": float(null[:, t].mean()),
                    "null 95%": float(np.percentile(null[:, t], 95)),
                    # A floor keeps the ratio defined where neither moves the trait (1) or
                    # only the set does (very large).
                    "ratio": (value + _FLOOR) / (float(null[:, t].mean()) + _FLOOR),
                    "p": permutation_p_value(value, null[:, t]),
                }
            )
    table = pd.DataFrame(rows).set_index(["set", "trait"])
    table["q"] = benjamini_hochberg(table["p"].to_numpy())
    return Ablation(table, {k: list(map(int, v)) for k, v in sets.items()}, n_random, len(crops))


def study_ablation(
    study,
    glasses=None,
    synthetic: bool = False,
    n_random: int = N_RESAMPLES,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
) -> tuple[Ablation, dict[str, Any] | None]:
    """Chapter 06's ablation: silence the conv5_3 units it labels as each face part's
    detectors (and glasses detectors where glasses are labelled) in the face model, over the
    study's population of test crops.

    Args:
        study: The chapter's :class:`~personality_utils.units.study.UnitStudy`.
        glasses: :func:`~personality_utils.units.ground_truth.glasses_units` (None on real data).
        synthetic: Whether to score the agreement with the planted weights.

    Returns:
        The :class:`Ablation` and, on the synthetic set, its :meth:`Ablation.agreement` with
        :func:`~personality_utils.units.ground_truth.planted_cue_table` (else None).
    """

    n_units = study.stats.n_units("conv5_3")
    size = top_units(n_units)  # as many as the planted-cue check's top units
    parts = list(cue_masks(study.masks["conv5_3"]))
    precision = glasses.ranked.set_index("unit")["precision"] if glasses is not None else None
    sets = detector_sets(study.shares["conv5_3"], parts, size, precision)
    result = ablate(study.trained, study.crops, study.clips, sets, n_units, n_random, n_boot, seed)
    agreement = result.agreement(planted_cue_table(parts), n_random, seed) if synthetic else None
    return result, agreement
