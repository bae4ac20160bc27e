"""Chapter 06's study of one face model's units, set up in one call.

:func:`prepare` runs (or re-opens from the cache beside the model's checkpoint) the streaming
pass of the trained network, of the network it was fine-tuned from (the fair null of an
emergence claim, when there is one) and of a random network of the same shape over the test
crops the authors ranked (one face per clip), and draws the average face's part masks on the
grids of conv4_3 and conv5_3. The other functions turn the :class:`UnitStudy` into the chapter's
tables (cells per part, the N' leaders, the units above the null networks, the explorer's units,
the check over every face frame) and the measurements its claims are judged from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from personality_utils.core import paper
from personality_utils.core.files import shown_path
from personality_utils.faces.regions import mean_face, region_masks
from personality_utils.units.activations import UnitStats
from personality_utils.units.ground_truth import glasses_flags
from personality_utils.units.populations import face_unit_statistics, population_rows, study_top_n
from personality_utils.units.semantics import rank_units_by_region, region_shares
from personality_utils.units.summaries import emerged_units, study_summary

if TYPE_CHECKING:
    from personality_utils.units.emergence import Emergence
    from personality_utils.units.ground_truth import GlassesUnits, PlantedCueCheck

#: Layers whose part masks the study draws: conv5_3 (the paper's) and conv4_3 (the paper's
#: 14x14 grid at the CPU profiles' 112-pixel input).
MASK_LAYERS = ("conv4_3", "conv5_3")


@dataclass
class UnitStudy:
    """One face model's units over a population of test crops (:func:`prepare`).

    Attributes:
        dataset: The :class:`~personality_utils.data.datasets.Dataset`.
        run: The face model's :class:`~personality_utils.models.experiments.Experiment`.
        population: Which test crops (:func:`~personality_utils.units.semantics.population_rows`).
        rows: Their rows in the test face store.
        crops: Their crops, in the statistics' image order.
        stats: The trained network's statistics.
        random_stats: Those of a random network of the same shape (seeded with ``seed``).
        input_size: The model's input side.
        mean_face: The average training crop (crop size).
        mean_face_small: The same at the input size.
        mean_landmarks: The average training landmarks at the input size.
        side: Each layer's grid side.
        masks: Per layer of :data:`MASK_LAYERS`, the part masks on its own grid.
        shares: Per layer of :data:`MASK_LAYERS`, the trained units' N' / N per part
            (:func:`~personality_utils.units.semantics.region_shares`).
        random_shares: The same for the random network.
        seed: The random network's seed.
        pretrained_stats: The statistics of the network before fine-tuning
            (:func:`~personality_utils.units.semantics.pretrained_like`); None when the model was
            trained from random weights.
        pretrained_shares: Its N' / N per part, like ``shares`` (None likewise).
    """

    dataset: Any
    run: Any
    population: str
    rows: np.ndarray
    crops: np.ndarray
    stats: UnitStats
    random_stats: UnitStats
    input_size: int
    mean_face: np.ndarray
    mean_face_small: np.ndarray
    mean_landmarks: np.ndarray
    side: dict[str, int]
    masks: dict[str, dict[str, np.ndarray]]
    shares: dict[str, pd.DataFrame]
    random_shares: dict[str, pd.DataFrame]
    seed: int = 0
    pretrained_stats: UnitStats | None = None
    pretrained_shares: dict[str, pd.DataFrame] | None = None

    @property
    def trained(self):
        """The face model."""
        return self.run.trained

    def networks(self) -> dict[str, UnitStats]:
        """The statistics by network: ``trained``, ``pretrained`` (when there is one) and
        ``random``."""
        out = {"trained": self.stats, "pretrained": self.pretrained_stats}
        out["random"] = self.random_stats
        return {name: stats for name, stats in out.items() if stats is not None}

    def network_shares(self) -> dict[str, dict[str, pd.DataFrame]]:
        """The N' / N tables by network, like :meth:`networks`."""
        out = {"trained": self.shares, "pretrained": self.pretrained_shares}
        out["random"] = self.random_shares
        return {name: shares for name, shares in out.items() if shares is not None}

    @property
    def clips(self) -> np.ndarray:
        """The clip of each crop of the population."""
        return self.dataset.faces("test").meta["clip"].iloc[self.rows].to_numpy()

    def description(self) -> str:
        """The population, the model and the statistics, in three lines."""
        stats, side = self.stats, self.side
        clips = self.dataset.faces("test").meta["clip"]
        return "\n".join(
            [
                f"population: {self.population}; F = {stats.n_images} crops "
                f"({len(np.unique(clips))} test clips with a face, "
                f"{self.dataset.store('test').meta['clip'].nunique()} test clips)",
                f"DAN+ face model, test MA {self.run.test.all.mean_accuracy:.4f}; "
                f"F = {stats.n_images}, N = {stats.top_n}; "
                f"conv5_3: {stats.n_units('conv5_3')} "
                f"units on a {side['conv5_3']}x{side['conv5_3']} grid, conv4_3: "
                f"{stats.n_units('conv4_3')} units on {side['conv4_3']}x{side['conv4_3']}",
                f"kept by the streaming pass: {stats.nbytes_kept / 1e6:.2f} MB "
                f"(cached in {shown_path(self.run.checkpoint)})",
            ]
        )

    def record(self) -> dict[str, Any]:
        """The chapter's results entries on the population and the grids."""
        return {
            "layer_grid": {layer: int(self.side[layer]) for layer in MASK_LAYERS},
            "units_conv5_3": int(self.stats.n_units("conv5_3")),
            "population": self.population,
            "n_images": int(self.stats.n_images),
            "test_clips": int(self.dataset.store("test").meta["clip"].nunique()),
            "test_clips_with_face": int(self.dataset.faces("test").meta["clip"].nunique()),
            "top_n": int(self.stats.top_n),
        }


def prepare(dataset, run, settings, top_n: int = paper.UNIT_TOP_N, seed: int = 0) -> UnitStudy:
    """The unit study of a face model, as chapter 06 opens it.

    Args:
        dataset: The dataset, with its face stores.
        run: The face model's experiment (``trained`` and ``checkpoint``; ``test`` for
            :meth:`UnitStudy.description`).
        settings: The :class:`~personality_utils.core.profiles.Profile` (its ``unit_population``
            and ``model_input_size``).
        top_n: N, capped at a tenth of the population
            (:func:`~personality_utils.units.semantics.study_top_n`).
        seed: Seed of the random network.

    The pretrained network's pass runs when the model was fine-tuned from a backbone
    (``run.trained.config.backbone_weights``).
    """
    from PIL import Image

    face_store = dataset.faces("test")
    population = settings.unit_population
    rows = population_rows(face_store.meta, population)
    crops = np.asarray(face_store.crops[rows])
    n_top = study_top_n(len(rows), top_n)
    stats = face_unit_statistics(
        dataset, run.trained, run.checkpoint, top_n=n_top, population=population
    )
    random_stats = face_unit_statistics(
        dataset, run.trained, run.checkpoint, random_seed=seed, top_n=n_top, population=population
    )
    pretrained_stats = None
    if run.trained.config.backbone_weights is not None:
        pretrained_stats = face_unit_statistics(
            dataset,
            run.trained,
            run.checkpoint,
            top_n=n_top,
            population=population,
            network="pretrained",
        )
    input_size = settings.model_input_size
    train_faces = dataset.faces("train")
    average = mean_face(train_faces.crops)
    average_small = np.asarray(Image.fromarray(average).resize((input_size, input_size)))
    landmarks = train_faces.landmarks.mean(axis=0) * input_size / crops.shape[1]
    side = {layer: stats.layer_sizes[layer][0] for layer in stats.layers}
    masks = {layer: region_masks(landmarks, input_size, grid=side[layer]) for layer in MASK_LAYERS}
    return UnitStudy(
        dataset=dataset,
        run=run,
        population=population,
        rows=rows,
        crops=crops,
        stats=stats,
        random_stats=random_stats,
        input_size=input_size,
        mean_face=average,
        mean_face_small=average_small,
        mean_landmarks=landmarks,
        side=side,
        masks=masks,
        shares={layer: region_shares(stats, layer, masks[layer]) for layer in masks},
        random_shares={layer: region_shares(random_stats, layer, masks[layer]) for layer in masks},
        seed=seed,
        pretrained_stats=pretrained_stats,
        pretrained_shares=(
            None
            if pretrained_stats is None
            else {layer: region_shares(pretrained_stats, layer, masks[layer]) for layer in masks}
        ),
    )


def part_cells(masks: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """Cells of each part (rows) on each layer's grid (columns)."""
    return pd.DataFrame(
        {layer: {r: int(m.sum()) for r, m in masks[layer].items()} for layer in masks}
    )


def uncovered_parts(cells: pd.DataFrame) -> dict[str, list[str]]:
    """Per layer with any, the parts that get no cell of their own (they share their cells
    with a larger part)."""
    missing = {layer: [r for r, n in cells[layer].items() if n == 0] for layer in cells}
    return {layer: parts for layer, parts in missing.items() if parts}


def rankings(study: UnitStudy, top: int = 5) -> dict[str, dict[str, pd.DataFrame]]:
    """The ``top`` units per part by N'
    (:func:`~personality_utils.units.semantics.rank_units_by_region`)
    on each layer of :data:`MASK_LAYERS`: ``{"trained": {layer: table}, "pretrained": {...},
    "random": {...}}`` (no ``"pretrained"`` without a pretrained network)."""
    return {
        kind: {
            layer: rank_units_by_region(stats, layer, study.masks[layer], top=top)
            for layer in study.masks
        }
        for kind, stats in study.networks().items()
    }


def leaders_table(ranked: dict[str, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """The :func:`rankings` as one table: N' by rank (rows) and part, per layer and network."""
    layers = list(ranked["trained"])
    return pd.concat(
        {
            f"{layer} {kind}": ranked[kind][layer].pivot(
                index="rank", columns="region", values="n_prime"
            )
            for layer in layers
            for kind in ranked
        },
        axis=1,
    )


def top5_record(ranked: dict[str, dict[str, pd.DataFrame]]) -> dict[str, dict]:
    """The chapter's results entries of the :func:`rankings`: per part, the units and their N'
    (conv5_3, conv4_3, and conv5_3 of the pretrained network when there is one and of the
    random network)."""
    tables = [
        ("units_per_region_top5", ranked["trained"]["conv5_3"]),
        ("units_per_region_top5_conv4_3", ranked["trained"]["conv4_3"]),
    ]
    if "pretrained" in ranked:
        tables.append(("units_per_region_top5_pretrained", ranked["pretrained"]["conv5_3"]))
    tables.append(("units_per_region_top5_random", ranked["random"]["conv5_3"]))
    return {
        name: {
            region: rows[["unit", "n_prime"]].to_dict("records")
            for region, rows in table.groupby("region", sort=False)
        }
        for name, table in tables
    }


def emerged_table(study: UnitStudy) -> pd.DataFrame:
    """Per layer of :data:`MASK_LAYERS` and part, the trained units above the best N' / N of the
    pretrained network (when there is one) and of the random network
    (:func:`~personality_utils.units.semantics.emerged_units`)."""
    pretrained = study.pretrained_shares
    return pd.concat(
        {
            layer: emerged_units(
                study.shares[layer],
                study.random_shares[layer],
                None if pretrained is None else pretrained[layer],
            )
            for layer in study.masks
        },
        names=["layer"],
    )


def explorer_units(study: UnitStudy, conv5_3_units: int, other_units: int = 4) -> pd.DataFrame:
    """The units of the explorer, deepest layer first: the ``conv5_3_units`` of conv5_3 and the
    ``other_units`` of every other layer with the largest N' / N on any part, on a grid of at
    most twice conv5's side.

    Returns:
        One row per unit: layer, unit, part (its best) and share (its N' / N there).
    """
    rows = []
    for layer in reversed(study.stats.layers):
        grid = min(study.side[layer], 2 * study.stats.grid)
        masks = region_masks(study.mean_landmarks, study.input_size, grid=grid)
        shares = region_shares(study.stats, layer, masks).drop(columns="elsewhere")
        order = shares.max(axis=1).sort_values(ascending=False, kind="stable").index
        for unit in order[: conv5_3_units if layer == "conv5_3" else other_units]:
            part = shares.loc[unit].idxmax()
            rows.append(
                {"layer": layer, "unit": unit, "part": part, "share": shares.loc[unit, part]}
            )
    return pd.DataFrame(rows, columns=["layer", "unit", "part", "share"])


def population_check(study: UnitStudy, top_n: int = paper.UNIT_TOP_N) -> pd.DataFrame:
    """The study's key figures (:func:`~personality_utils.units.semantics.study_summary`) over its
    population (the headline) and over every test frame with a face (the check), with N the
    paper's ``top_n`` where that population allows it."""

    face_store = study.dataset.faces("test")
    every = study_top_n(len(face_store), top_n)
    checkpoint = study.run.checkpoint
    all_stats = face_unit_statistics(study.dataset, study.trained, checkpoint, top_n=every)
    all_random = face_unit_statistics(
        study.dataset, study.trained, checkpoint, random_seed=study.seed, top_n=every
    )
    all_pretrained = None
    if study.pretrained_stats is not None:
        all_pretrained = face_unit_statistics(
            study.dataset, study.trained, checkpoint, top_n=every, network="pretrained"
        )
    masks = study.masks["conv5_3"]
    return pd.DataFrame(
        {
            f"{study.population} (headline)": study_summary(
                study.stats,
                study.random_stats,
                masks,
                glasses_flags(study.dataset, study.clips),
                pretrained_stats=study.pretrained_stats,
            ),
            "all_faces (check)": study_summary(
                all_stats,
                all_random,
                masks,
                glasses_flags(study.dataset, face_store.meta["clip"]),
                pretrained_stats=all_pretrained,
            ),
        }
    )


def network_record(study: UnitStudy, glasses: GlassesUnits | None = None) -> dict[str, Any]:
    """The chapter's results entry ``networks``: per network (``trained``, ``pretrained`` when
    there is one, ``random``), the best N' / N per part on each layer of :data:`MASK_LAYERS`
    (the part detectors) and, with ``glasses``, its glasses units (best precision at N and the
    units with a layer-corrected p < 0.05)."""
    out: dict[str, dict[str, Any]] = {}
    for name, shares in study.network_shares().items():
        out[name] = {
            "best_n_prime_share": {
                layer: table.drop(columns="elsewhere").max().astype(float).to_dict()
                for layer, table in shares.items()
            }
        }
    if glasses is not None:
        for name, row in glasses.by_network().items():
            out[name]["glasses"] = row
    return {"networks": out}


def measurements(
    emergence: Emergence,
    glasses: GlassesUnits | None = None,
    cues: PlantedCueCheck | None = None,
    instruments: dict | None = None,
    trait_r2: dict | None = None,
) -> dict[str, Any]:
    """What :mod:`~personality_utils.claims.catalogue` judges chapter 06's claims from.

    Args:
        emergence: :func:`~personality_utils.units.emergence.emergence`: every trained-against-
            null comparison with its interval over people and fine-tuning seeds.
        glasses: :func:`~personality_utils.units.ground_truth.glasses_units` (None on real data).
        cues: :func:`~personality_utils.units.ground_truth.planted_cue_check` (None on real data).
        instruments: The instrument checks the claims rest on
            (:func:`~personality_utils.models.experiments.model_instruments`).
        trait_r2: The face model's test R² per trait (the claims' R² gate).
    """
    out: dict[str, Any] = {
        **emergence.measurements(),
        "instruments": instruments or {},
        "trait_r2": trait_r2 or {},
    }
    if glasses is not None:
        summary = glasses.summary()
        out["glasses_best"] = {
            "precision": summary["precision"],
            "base_rate": summary["base_rate"],
            "p_layer": summary["p_value_layer"],
            "units_significant": summary["units_significant"],
            "detectable_precision": summary["detectable_precision"],
        }
    if cues is not None:
        out["planted_cues"] = cues.measurements()
    return out
