"""Did the units emerge with fine-tuning? Chapters 06's and 07's trained-against-null comparisons,
each a difference with an interval.

The units of several networks over the same test crops are compared: the face model once per
fine-tuning seed, the network before fine-tuning (the fair null: what the face pretraining
already gave) and random networks of the same shape (what the aligned input alone gives). Each
network is measured from one dense pass (every crop's maximum and its position, per unit:
:func:`dense_networks`), so every statistic can be recomputed on a bootstrap resample of people
(the crops' multiplicities) without running a network again. A network is summarised by the tail
of its units' distribution (the mean over the layer's most selective eighth,
:func:`~personality_utils.units.ground_truth.top_units`), not by its single best unit, and the
trained networks by their mean over the fine-tuning seeds, which each draw resamples too: the
trained-minus-null difference then has an interval over people and seeds (:func:`compare`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from personality_utils.core.stats import (
    LEVEL,
    N_RESAMPLES,
    cluster_weights,
    estimate,
    people,
    percentile_interval,
)
from personality_utils.units.activations import UnitStats
from personality_utils.units.ground_truth import top_units
from personality_utils.units.populations import (
    face_unit_statistics,
    population_rows,
    pretrained_like,
    random_like,
)
from personality_utils.units.top_sets import (
    best_part_iou,
    iou_counts,
    layer_entropies,
    part_shares,
    precision_at_n,
    top_mean,
)

__all__ = [
    "Emergence",
    "Networks",
    "Resample",
    "compare",
    "depth_spearman",
    "emergence",
    "dense_networks",
]


@dataclass
class Networks:
    """Dense unit statistics (N = the population) of every network over one population.

    Attributes:
        trained: Per fine-tuning seed, the face model's.
        pretrained: The network before fine-tuning's (None: trained from random weights).
        random: Per seed, a random network's of the same shape.
        rows: The population's rows in the test face store.
        clips: The clip of each crop of the population.
        models: The networks themselves, under the same keys (``("trained", seed)``,
            ``("pretrained", 0)``, ``("random", seed)``), for passes that need them again.
    """

    trained: dict[int, UnitStats]
    pretrained: UnitStats | None
    random: dict[int, UnitStats]
    rows: np.ndarray
    clips: np.ndarray
    models: dict[tuple[str, int], Any] = field(default_factory=dict)

    @property
    def null(self) -> str:
        """The null of an emergence claim: ``"pretrained"`` when there is one, else
        ``"random"``."""
        return "pretrained" if self.pretrained is not None else "random"

    def design(self) -> dict[str, Any]:
        """What the intervals rest on: the seeds and networks."""
        return {
            "trained_seeds": len(self.trained),
            "random_networks": len(self.random),
            "pretrained": self.pretrained is not None,
            "null": self.null,
            "crops": len(self.rows),
            "people": len(np.unique(people(self.clips))),
        }


def dense_networks(
    dataset,
    seed_runs: Mapping[int, Any],
    population: str,
    random_seeds: Sequence[int] = (0, 1, 2),
) -> Networks:
    """The dense unit statistics of every network over the population's test crops (cached
    beside each checkpoint, :func:`~personality_utils.units.semantics.face_unit_statistics` with
    ``dense=True``).

    Args:
        dataset: The dataset, with its face stores.
        seed_runs: ``{training seed: Experiment}``, the face model once per fine-tuning seed
            (:meth:`~personality_utils.book.session.Chapter.seed_runs`); the first one's checkpoint
            keeps the pretrained and random networks' statistics.
        population: Which test crops (:func:`~personality_utils.units.semantics.population_rows`).
        random_seeds: Seeds of the random networks.
    """
    if not seed_runs:
        raise ValueError("no trained network")
    first = next(iter(seed_runs.values()))

    def dense(run, network: str, random_seed: int | None = None) -> UnitStats:
        return face_unit_statistics(
            dataset,
            run.trained,
            run.checkpoint,
            population=population,
            network=network,
            random_seed=random_seed,
            dense=True,
        )

    trained = {seed: dense(run, "trained") for seed, run in seed_runs.items()}
    pretrained = None
    if first.trained.config.backbone_weights is not None:
        pretrained = dense(first, "pretrained")
    random = {seed: dense(first, "random", seed) for seed in random_seeds}
    meta = dataset.faces("test").meta
    rows = population_rows(meta, population)
    return Networks(trained, pretrained, random, rows, meta["clip"].to_numpy()[rows].astype(str))


@dataclass
class Resample:
    """The people bootstrap shared by every network's statistic, so that differences are
    paired: the point (every crop once) and ``draws`` multiplicities of the crops.

    Attributes:
        weights: (1 + draws, crops): row 0 the point, then one row per draw.
        seed: The seed of the draws (the seeds' own resampling uses ``seed + 1``).
    """

    weights: np.ndarray
    seed: int = 0

    @classmethod
    def of(cls, clips: np.ndarray, n_boot: int = N_RESAMPLES, seed: int = 0) -> Resample:
        """The point and ``n_boot`` cluster-bootstrap draws of people
        (:func:`~personality_utils.core.stats.cluster_weights`)."""
        draws = cluster_weights(people(clips), n_boot, seed)
        return cls(np.vstack([np.ones((1, draws.shape[1])), draws]), seed)

    @property
    def n_draws(self) -> int:
        return len(self.weights) - 1


# ----------------------------------------------------------------------------------------------
# Trained against null
# ----------------------------------------------------------------------------------------------


def compare(
    trained: Sequence[np.ndarray],
    null: np.ndarray | None,
    seed: int = 0,
    level: float = LEVEL,
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict:
    """The trained networks' statistic minus the null network's, with a percentile interval
    over the people draws (shared, so the difference is paired) and the fine-tuning seeds
    (resampled with replacement in each draw).

    Args:
        trained: Per fine-tuning seed, (1 + draws, ...) values: row 0 the point, then the draws
            (a :class:`Resample`'s rows).
        null: (1 + draws, ...) values of the null network on the same rows; None: the trained
            networks' own statistic, with its interval.
        statistic: Applied to the (seed-averaged) trained and the null values before they are
            subtracted (e.g. a Spearman correlation over layers); None: the values themselves,
            which must then be one number per row.

    Returns:
        An :func:`~personality_utils.core.stats.estimate` record of trained − null.
    """
    stacked = np.stack([np.asarray(t, dtype=np.float64) for t in trained])  # (seeds, rows, ...)
    reduce = statistic or (lambda values: values)
    if null is None:
        null = np.zeros(stacked.shape[1])
        null_reduce: Callable[[np.ndarray], np.ndarray] = lambda values: values  # noqa: E731
    else:
        null = np.asarray(null, dtype=np.float64)
        null_reduce = reduce
    point = float(reduce(stacked[:, 0].mean(axis=0)[None])[0] - null_reduce(null[:1])[0])
    draws = stacked[:, 1:]
    rng = np.random.default_rng(seed + 1)
    seeds = len(stacked)
    if seeds > 1:
        picks = rng.multinomial(seeds, np.full(seeds, 1 / seeds), size=draws.shape[1])
        mean = np.einsum("rs,sr...->r...", picks, draws) / seeds
    else:
        mean = draws[0]
    differences = reduce(mean) - null_reduce(null[1:])
    differences = differences[np.isfinite(differences)]
    if len(differences) == 0:
        return estimate(point)
    low, high = percentile_interval(differences, level)
    return estimate(point, low, high)


def depth_spearman(entropies: np.ndarray) -> np.ndarray:
    """Per row of (rows, layers) entropies in network order, the Spearman correlation of depth
    with entropy (below 0: spikier with depth); NaN for a constant row."""
    from scipy.stats import rankdata

    entropies = np.asarray(entropies, dtype=np.float64)
    ranks = rankdata(entropies, axis=1)
    depth = np.arange(entropies.shape[1], dtype=np.float64)
    ranks -= ranks.mean(axis=1, keepdims=True)
    depth -= depth.mean()
    denominator = np.sqrt((ranks**2).sum(axis=1) * (depth**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (ranks @ depth) / denominator, np.nan)


# ----------------------------------------------------------------------------------------------
# Chapter 06's comparisons in one call
# ----------------------------------------------------------------------------------------------


@dataclass
class Emergence:
    """Chapter 06's trained-against-null comparisons (:func:`emergence`), each an
    :func:`~personality_utils.core.stats.estimate` of trained − null with the networks' own levels.

    Attributes:
        networks: The dense statistics behind them.
        n: N, each unit's top set.
        n_draws: People draws of the intervals.
        parts: Per layer and part with cells, the top-unit N'/N gap.
        part_levels: The same per network group (``trained``, ``pretrained``, ``random``).
        deepest: conv5_3's peak entropy gap (bits), and ``deepest_levels``.
        spearman: The trained networks' Spearman(depth, entropy), and ``spearman_levels``.
        netdissect: The top-unit best-part IoU gap (conv5_3), and ``netdissect_levels``.
        glasses: The top-unit glasses precision gap (conv5_3; None on real data), and
            ``glasses_levels``.
    """

    networks: Networks
    n: int
    n_draws: int
    parts: dict[str, dict[str, dict]]
    part_levels: dict[str, dict[str, dict[str, float]]]
    deepest: dict
    deepest_levels: dict[str, float]
    spearman: dict
    spearman_levels: dict[str, float]
    netdissect: dict
    netdissect_levels: dict[str, float]
    glasses: dict | None = None
    glasses_levels: dict[str, float] | None = None

    def table(self):
        """One row per comparison: the estimate with its interval and each group's level."""

        rows = []

        def add(name: str, gap: dict, group_levels: Mapping[str, float]) -> None:
            rows.append(
                {
                    "comparison": name,
                    "trained − null": gap["value"],
                    "95% low": gap["low"],
                    "95% high": gap["high"],
                    **{f"{k} (level)": v for k, v in group_levels.items()},
                }
            )

        for layer, gaps in self.parts.items():
            for part, gap in gaps.items():
                add(f"{layer} top-unit N'/N, {part}", gap, self.part_levels[layer][part])
        add("conv5_3 peak entropy (bits)", self.deepest, self.deepest_levels)
        add("Spearman(depth, entropy), trained", self.spearman, self.spearman_levels)
        add("conv5_3 top-unit best-part IoU", self.netdissect, self.netdissect_levels)
        if self.glasses is not None:
            add("conv5_3 top-unit glasses precision", self.glasses, self.glasses_levels or {})
        return pd.DataFrame(rows).set_index("comparison")

    def description(self) -> str:
        """One line: the networks and the resampling."""
        design = self.networks.design()
        return (
            f"{design['trained_seeds']} fine-tuned networks (one per training seed) against "
            f"{'the network before fine-tuning' if design['pretrained'] else 'random weights'}"
            f", with {design['random_networks']} random networks beside them; {design['crops']} "
            f"crops of {design['people']} people, N = {self.n}; intervals: {self.n_draws} "
            "people draws, the seeds resampled in each"
        )

    def measurements(self) -> dict[str, Any]:
        """What :mod:`~personality_utils.claims.catalogue` judges of the emergence claims."""
        out = {
            "emergence": self.parts,
            "emergence_levels": self.part_levels,
            "emergence_null": self.networks.null,
            "emergence_design": self.networks.design(),
            "deepest_entropy_gap": self.deepest,
            "deepest_entropy_gap_levels": self.deepest_levels,
            "entropy_depth_spearman": self.spearman,
            "entropy_depth_spearman_levels": self.spearman_levels,
            "netdissect_gap": self.netdissect,
            "netdissect_gap_levels": self.netdissect_levels,
        }
        if self.glasses is not None:
            out["glasses_gap"] = self.glasses
            out["glasses_gap_levels"] = self.glasses_levels
        return out


def _groups(values: Mapping[tuple[str, int], np.ndarray]) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for (group, _seed), value in values.items():
        out.setdefault(group, []).append(value)
    return out


def _gap(groups: Mapping[str, list[np.ndarray]], null: str, seed: int, **options) -> dict:
    """trained − the null group (its networks' mean, row by row)."""
    null_values = np.mean(np.stack(groups[null]), axis=0)
    return compare(groups["trained"], null_values, seed, **options)


def _levels(groups: Mapping[str, list[np.ndarray]], statistic=None) -> dict[str, float]:
    reduce = statistic or (lambda values: values)
    return {
        name: float(np.mean([reduce(np.asarray(v)[:1])[0] for v in values]))
        for name, values in groups.items()
    }


def emergence(
    dataset,
    seed_runs: Mapping[int, Any],
    study,
    flags: np.ndarray | None = None,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
    random_seeds: Sequence[int] = (0, 1, 2),
) -> Emergence:
    """Every trained-against-null comparison of chapter 06, with intervals over people and
    fine-tuning seeds.

    Args:
        dataset: The dataset.
        seed_runs: ``{training seed: Experiment}`` of the face model.
        study: The chapter's :class:`~personality_utils.units.study.UnitStudy` (its population,
            N, crops and part masks).
        flags: Whether each crop of the population wears glasses (None on real data).
        n_boot: People draws.
        seed: Seed of the draws.
        random_seeds: Seeds of the random networks.
    """

    networks = dense_networks(dataset, seed_runs, study.population, random_seeds)
    resample = Resample.of(networks.clips, n_boot, seed)
    weights, n = resample.weights, study.stats.top_n
    dense = {("trained", s): v for s, v in networks.trained.items()}
    if networks.pretrained is not None:
        dense[("pretrained", 0)] = networks.pretrained
    dense.update({("random", s): v for s, v in networks.random.items()})
    null = networks.null
    parts, part_levels = {}, {}
    for layer, masks in study.masks.items():
        with_cells = {part: mask for part, mask in masks.items() if np.asarray(mask).any()}
        if not with_cells:
            continue
        m = top_units(next(iter(dense.values())).n_units(layer))
        shares = {key: part_shares(v, layer, with_cells, weights, n) for key, v in dense.items()}
        parts[layer], part_levels[layer] = {}, {}
        for part in with_cells:
            groups = _groups({key: top_mean(value[part], m) for key, value in shares.items()})
            parts[layer][part] = _gap(groups, null, seed)
            part_levels[layer][part] = _levels(groups)
    entropies = _groups({key: layer_entropies(v, weights, n) for key, v in dense.items()})
    deepest = networks.trained[next(iter(networks.trained))].layers.index("conv5_3")
    deepest_groups = {name: [e[:, deepest] for e in group] for name, group in entropies.items()}
    first = next(iter(seed_runs.values())).trained
    models = {("trained", s): run.trained for s, run in seed_runs.items()}
    if networks.pretrained is not None:
        models[("pretrained", 0)] = pretrained_like(first)
    models.update({("random", s): random_like(first, s) for s in random_seeds})
    landmarks = dataset.faces("test").landmarks[networks.rows]
    m5 = top_units(networks.trained[next(iter(networks.trained))].n_units("conv5_3"))
    iou = _groups(
        {
            key: top_mean(best_part_iou(iou_counts(model, study.crops, landmarks), weights), m5)
            for key, model in models.items()
        }
    )
    out = Emergence(
        networks=networks,
        n=n,
        n_draws=resample.n_draws,
        parts=parts,
        part_levels=part_levels,
        deepest=_gap(deepest_groups, null, seed),
        deepest_levels=_levels(deepest_groups),
        spearman=compare(entropies["trained"], None, seed, statistic=depth_spearman),
        spearman_levels=_levels(entropies, depth_spearman),
        netdissect=_gap(iou, null, seed),
        netdissect_levels=_levels(iou),
    )
    if flags is not None:
        glasses = _groups(
            {
                key: top_mean(precision_at_n(v, "conv5_3", flags, weights, n), m5)
                for key, v in dense.items()
            }
        )
        out.glasses = _gap(glasses, null, seed)
        out.glasses_levels = _levels(glasses)
    return out
