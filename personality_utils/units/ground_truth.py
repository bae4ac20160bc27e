"""The units against the synthetic set's ground truth (chapter 06): glasses units measured against
chance (Fig. 11) and, per trait, whether the units that move its prediction carry the face cue
that was planted to drive it.

On real data there is no ground truth: :func:`glasses_flags` then returns None and the chapter
skips both checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from personality_utils.core.stats import N_RESAMPLES, benjamini_hochberg
from personality_utils.core.verdicts import ALPHA, R2_GATE
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.synthetic.labels import planted_shares
from personality_utils.data.synthetic.truth import load_ground_truth
from personality_utils.units.activations import UnitStats, grid_locations
from personality_utils.units.semantics import attribute_units, n_prime
from personality_utils.units.summaries import trait_contributions, trait_region_enrichment

#: A trait the model barely learned (test R² below this) has no units that carry it: its check
#: is not testable rather than failed (the claims' one R² gate,
#: :data:`~personality_utils.core.verdicts.R2_GATE`).
MIN_R2 = R2_GATE


# ----------------------------------------------------------------------------------------------
# Glasses (Fig. 11)
# ----------------------------------------------------------------------------------------------


def glasses_flags(dataset, clips: Sequence[str]) -> np.ndarray | None:
    """Whether the face of each clip in ``clips`` wears glasses, from the synthetic set's ground
    truth (:func:`~personality_utils.data.synthetic.truth.load_ground_truth`); None on real data."""
    flags = glasses_flags_by_clip(dataset)
    if flags is None:
        return None
    return np.array([flags[clip] for clip in clips], dtype=bool)


def glasses_flags_by_clip(dataset) -> dict[str, bool] | None:
    """Whether each clip's person wears glasses, for every clip of the synthetic set; None on
    real data."""

    if not dataset.synthetic:
        return None
    clips = load_ground_truth(dataset.root)["clips"]
    return {clip: bool(entry["features"]["glasses"]) for clip, entry in clips.items()}


@dataclass
class GlassesUnits:
    """A layer's units ranked by the share of glasses faces among their top N
    (:func:`~personality_utils.units.semantics.attribute_units`): the trained network, the network
    it was fine-tuned from (when there is one) and a random one.

    Attributes:
        ranked: The trained network's ranking (best first).
        random: The random network's.
        top_n: N.
        pretrained: The pretrained network's before fine-tuning (None: trained from random
            weights).
    """

    ranked: pd.DataFrame
    random: pd.DataFrame
    top_n: int
    pretrained: pd.DataFrame | None = None
    n_images: int = 0

    def detectable_precision(self) -> float | None:
        """The smallest precision at N whose layer-corrected p would fall below :data:`ALPHA`
        (hypergeometric over the population, corrected over the layer's units); None when
        even N of N would not."""
        from scipy.stats import hypergeom

        best = self.ranked.iloc[0]
        population, n, units = self.n_images, self.top_n, len(self.ranked)
        positives = round(float(best["base_rate"]) * population)
        hits = np.arange(n + 1)
        p_layer = 1 - (1 - hypergeom.sf(hits - 1, population, positives, n)) ** units
        below = p_layer < ALPHA
        return float(hits[np.argmax(below)] / n) if below.any() else None

    def summary(self) -> dict[str, float | int | None]:
        """Chance level, the best unit, the smallest precision the test could detect, and how
        many units of each network have a layer-corrected p below :data:`ALPHA` (the
        pretrained entries None without one)."""
        best = self.ranked.iloc[0]
        pretrained = self.pretrained
        return {
            "detectable_precision": self.detectable_precision(),
            "base_rate": float(best["base_rate"]),
            "best_unit": int(best["unit"]),
            "precision": float(best["precision"]),
            "p_value_layer": float(best["p_value_layer"]),
            "units_significant": int((self.ranked["p_value_layer"] < ALPHA).sum()),
            "pretrained_best_precision": (
                None if pretrained is None else float(pretrained.iloc[0]["precision"])
            ),
            "pretrained_units_significant": (
                None if pretrained is None else int((pretrained["p_value_layer"] < ALPHA).sum())
            ),
            "random_best_precision": float(self.random.iloc[0]["precision"]),
            "random_units_significant": int((self.random["p_value_layer"] < ALPHA).sum()),
        }

    def by_network(self) -> dict[str, dict[str, float | int]]:
        """Per network (``trained``, ``pretrained`` when there is one, ``random``): the best
        unit's precision at N and the units with a layer-corrected p below :data:`ALPHA`."""
        tables = {"trained": self.ranked, "pretrained": self.pretrained, "random": self.random}
        return {
            name: {
                "best_precision": float(table.iloc[0]["precision"]),
                "units_significant": int((table["p_value_layer"] < ALPHA).sum()),
            }
            for name, table in tables.items()
            if table is not None
        }

    def description(self) -> str:
        """:meth:`summary` in one sentence."""
        s = self.summary()
        pretrained = (
            "no pretrained network"
            if self.pretrained is None
            else f"pretrained before fine-tuning: {s['pretrained_units_significant']}, best "
            f"precision {s['pretrained_best_precision']:.2f}"
        )
        return (
            f"glasses on {s['base_rate']:.1%} of test crops; best unit {s['best_unit']}: "
            f"precision@{self.top_n} {s['precision']:.2f}, layer-corrected p "
            f"{s['p_value_layer']:.2g}; units with p < 0.05: {s['units_significant']} "
            f"({pretrained}; random network: {s['random_units_significant']}, best precision "
            f"{s['random_best_precision']:.2f})"
        )


def glasses_units(
    stats: UnitStats,
    random_stats: UnitStats,
    wears: np.ndarray | None,
    layer: str = "conv5_3",
    pretrained_stats: UnitStats | None = None,
) -> GlassesUnits | None:
    """Glasses units of ``layer`` in every network (the pretrained one when its statistics are
    given); None when ``wears`` is (real data)."""
    if wears is None:
        return None
    return GlassesUnits(
        attribute_units(stats, layer, wears),
        attribute_units(random_stats, layer, wears),
        stats.top_n,
        None if pretrained_stats is None else attribute_units(pretrained_stats, layer, wears),
        stats.n_images,
    )


# ----------------------------------------------------------------------------------------------
# Planted cues
# ----------------------------------------------------------------------------------------------


def cue_masks(masks_grid: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The face-part masks the cue check compares: the parts themselves, or, where the grid
    gives the eyebrows no cell of their own, eyebrows and eyes as one ``"eyes & brows"`` area
    beside the nose and mouth."""
    masks = dict(masks_grid)
    if masks["eyebrows"].sum() == 0:
        masks = {
            "eyes & brows": masks["eyes"] | masks["eyebrows"],
            "nose": masks["nose"],
            "mouth": masks["mouth"],
        }
    return masks


def planted_cue_table(parts: Sequence[str]) -> pd.DataFrame:
    """Per trait (rows), the share of its planted face signal on each of ``parts`` and on
    glasses (:func:`~personality_utils.data.synthetic.labels.planted_shares`), rows summing to 1; an
    ``"eyes & brows"`` part sums the two."""

    planted = pd.DataFrame(planted_shares()).T
    if "eyes & brows" in parts:
        planted["eyes & brows"] = planted["eyes"] + planted["eyebrows"]
    cues = [*parts, "glasses"]
    return planted[cues].div(planted[cues].sum(axis=1), axis=0)


@dataclass
class PlantedCueCheck:
    """Do the units that drive a trait carry its planted cue? (:func:`planted_cue_check`)

    Attributes:
        top_k: Units kept per trait (the most influential ones).
        enrichment: :func:`~personality_utils.units.semantics.trait_region_enrichment` over the
        cues.
        table: Per trait: planted_cue (its dominant cue), planted_share, test_r2, top_units and
            all_units (mean share on the cue of its top-k units and of all units), p_value and
            q_value (Benjamini-Hochberg across the traits with test R² ≥ :data:`MIN_R2`, NaN
            for the others).
        planted: Traits x cues, the planted shares (:func:`planted_cue_table`).
        ratio: Traits x cues, share of the top-k units over share of all units.
        spearman: Spearman correlation of ``planted`` with ``ratio`` over the cells.
    """

    top_k: int
    enrichment: pd.DataFrame
    table: pd.DataFrame
    planted: pd.DataFrame
    ratio: pd.DataFrame
    spearman: float

    def measurements(self) -> dict[str, dict]:
        """Per trait, what :mod:`~personality_utils.claims.catalogue` judges: cue, top, all, p,
        q, r2."""
        return {
            trait: {
                "cue": row["planted_cue"],
                "top": row["top_units"],
                "all": row["all_units"],
                "p": row["p_value"],
                "q": row["q_value"],
                "r2": row["test_r2"],
                "critical": row["null_q95"],
            }
            for trait, row in self.table.iterrows()
        }

    def record(self) -> dict:
        """The chapter's results entries."""
        return {
            "ground_truth": self.table.to_dict(orient="index"),
            "planted_vs_enrichment_spearman": self.spearman,
            "ground_truth_top_k": int(self.top_k),
            "trait_cue_enrichment": self.enrichment.to_dict(orient="records"),
        }


def top_units(n_units: int) -> int:
    """How many units of a layer the ground-truth checks take per trait or cue: an eighth of
    the layer, at least 3 (:func:`planted_cue_check`, and the detector sets chapter 06
    silences)."""
    return max(3, n_units // 8)


def planted_cue_check(
    trained,
    crops: np.ndarray,
    stats: UnitStats,
    masks_grid: Mapping[str, np.ndarray],
    glasses: GlassesUnits,
    r2: pd.Series,
    layer: str = "conv5_3",
    n_permutations: int = N_RESAMPLES,
    seed: int = 0,
) -> PlantedCueCheck:
    """For each trait, the most influential units of ``layer`` (through the model's linear
    head, :func:`~personality_utils.units.semantics.trait_contributions`) against random sets of as
    many units, on the trait's dominant planted cue: for a face part the share of their peaks
    on it (:func:`cue_masks`), for glasses the share of glasses faces among their top crops.

    Args:
        trained: The model of the statistics (DAN+ or the Fig. 4 CAM model).
        crops: The images the statistics ranked, in their order.
        stats: The trained network's statistics.
        masks_grid: The part masks on ``layer``'s own grid, drawn on the average face.
        glasses: :func:`glasses_units` of the same statistics.
        r2: Test R² per trait (a trait below :data:`MIN_R2` is not tested).
        layer: The layer.
        n_permutations: Random unit sets of the null.
        seed: Their seed.
    """
    from scipy.stats import spearmanr

    masks = cue_masks(masks_grid)
    parts = list(masks)
    cells = grid_locations(stats, layer, next(iter(masks.values())).shape[0])
    unit_values = pd.DataFrame(
        {region: n_prime(cells, mask) / stats.top_n for region, mask in masks.items()}
    )
    unit_values["glasses"] = glasses.ranked.set_index("unit")["precision"].sort_index()
    importance = trait_contributions(trained, crops, layer)
    top_k = top_units(stats.n_units(layer))
    enrichment = trait_region_enrichment(
        unit_values.fillna(0), importance, top_k=top_k, n_permutations=n_permutations, seed=seed
    )
    planted = planted_cue_table(parts)
    cues = list(planted.columns)
    share_top = enrichment.pivot(index="trait", columns="region", values="share_top")
    share_all = enrichment.pivot(index="trait", columns="region", values="share_all")
    p_values = enrichment.pivot(index="trait", columns="region", values="p_value")
    critical = enrichment.pivot(index="trait", columns="region", values="null_q95")
    rows = {}
    for trait in TRAITS:
        cue = planted.loc[trait].idxmax()
        rows[trait] = {
            "planted_cue": cue,
            "planted_share": float(planted.loc[trait, cue]),
            "test_r2": float(r2[trait]),
            "top_units": float(share_top.loc[trait, cue]),
            "all_units": float(share_all.loc[trait, cue]),
            "p_value": float(p_values.loc[trait, cue]),
            "null_q95": float(critical.loc[trait, cue]),
        }
    table = pd.DataFrame(rows).T
    tested = table["test_r2"].astype(float) >= MIN_R2
    table["q_value"] = benjamini_hochberg(table["p_value"].astype(float).where(tested))
    ratio = (share_top / share_all).loc[list(TRAITS), cues]
    spearman = float(
        spearmanr(
            planted.loc[list(TRAITS), cues].to_numpy().ravel(), ratio.to_numpy().ravel()
        ).statistic
    )
    return PlantedCueCheck(top_k, enrichment, table, planted.loc[list(TRAITS)], ratio, spearman)
