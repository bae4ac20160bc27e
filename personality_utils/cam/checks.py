"""Checks of the class activation maps that the paper did not run (chapter 05).

What a map that ignores the image scores on the same frames (a centre prior, random maps);
Grad-CAM and LayerCAM of DAN+, the model behind Table 1, on its own top frames; whether Grad-CAM
of the CAM model is its CAM; the cascading-randomisation sanity check of Adebayo et al. (2018);
and, on the synthetic set, whether the maps find the cue planted outside the face. The maps and
their face-box scores are :mod:`~personality_utils.cam.maps`'s; the test split's maps and top images
a :class:`~personality_utils.cam.study.CamStudy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from personality_utils.cam.maps import (
    gradient_maps,
    score_maps,
    summarise_overlap,
    top_images,
    upsample,
)
from personality_utils.core.stats import (
    N_RESAMPLES,
    bootstrap_interval,
    estimate,
    gap_to_others,
    people,
)
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.synthetic.generator import dataset_identity
from personality_utils.data.synthetic.labels import face_driven, outside_face_shares
from personality_utils.data.synthetic.truth import store_boxes
from personality_utils.models.experiments import split_predictions

if TYPE_CHECKING:
    from personality_utils.cam.study import CamStudy, Overlap
import pandas as pd

__all__ = [
    "Agreement",
    "Baselines",
    "DanplusMaps",
    "GroundTruth",
    "baselines",
    "centre_prior",
    "danplus_maps",
    "face_location_prior",
    "gradcam_agreement",
    "ground_truth",
    "map_scores",
    "random_map",
    "rank_correlation",
]

#: The measures of :func:`map_scores`, as
#: :func:`~personality_utils.cam.maps.summarise_overlap` names them.
MAP_MEASURES = ("share_ge_0_9", "mean_overlap", "pointing_game", "energy_in_box")
#: How the chapter names the ``torchcam`` methods.
_METHOD_NAMES = {"GradCAM": "Grad-CAM"}


# ----------------------------------------------------------------------------------------------
# Maps that ignore the image, and DAN+'s own maps
# ----------------------------------------------------------------------------------------------


def map_scores(
    named: dict[str, tuple[np.ndarray, np.ndarray]],
    boxes: np.ndarray,
    clips: np.ndarray,
    size: int,
    upsampling: Literal["bicubic", "bilinear"] = "bicubic",
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Score several sets of maps against the face boxes of their frames, each summarised
    overall with intervals that resample people (:func:`~personality_utils.cam.maps.score_maps`,
    :func:`~personality_utils.cam.maps.summarise_overlap`).

    Args:
        named: ``{name: (maps, rows)}``: (n, g, g) maps and the frame row of each.
        boxes, clips: Face box and clip of every frame.

    Returns:
        ``(table, overlaps)``: one row per (``map``, ``measure``) with ``value``,
        ``value_low`` and ``value_high`` (the measures of :data:`MEASURES`, and ``box_area``,
        the overlap a map with no preference for faces would get on average, without an
        interval); and each set's per-map overlaps (NaN where the frame has no box).
    """
    clips = np.asarray(clips)
    table, overlaps = [], {}
    for name, (maps, rows) in named.items():
        scored = score_maps(maps, boxes[rows], size, upsampling=upsampling)
        scored["clip"] = clips[rows]
        overlaps[name] = scored["overlap"].to_numpy()
        summary = summarise_overlap(scored, n_boot=n_boot, seed=seed, by=None).loc["all"]
        for measure in MAP_MEASURES:
            table.append(
                {
                    "map": name,
                    "measure": measure,
                    "value": summary[measure],
                    "value_low": summary[f"{measure}_low"],
                    "value_high": summary[f"{measure}_high"],
                }
            )
        table.append({"map": name, "measure": "box_area", "value": summary["box_area"]})
    return pd.DataFrame(table), overlaps


@dataclass
class DanplusMaps:
    """Gradient maps of DAN+ on its own top test frames (:func:`danplus_maps`): one map per
    (``rows[i]``, ``traits[i]``), the ``rows`` of each trait's top images in trait order."""

    trained: Any
    rows: np.ndarray
    traits: np.ndarray
    maps: dict[str, np.ndarray]


def danplus_maps(study: CamStudy, danplus, methods=("GradCAM", "LayerCAM")) -> DanplusMaps:
    """Grad-CAM and LayerCAM (through ``torchcam``) of DAN+ on the frames it predicts highest,
    chosen as the study chooses the CAM model's (:func:`~personality_utils.cam.maps.top_images`).

    Args:
        study: The test split's maps (:func:`~personality_utils.cam.study.prepare`).
        danplus: Chapter 03's DAN+ (an :class:`~personality_utils.models.experiments.Experiment`);
            its test predictions are the ones stored beside its checkpoint.
        methods: ``torchcam.methods`` class names.
    """

    frames = study.store.frames
    predictions = split_predictions(danplus.trained, frames, danplus.checkpoint, "frames-test")
    top = top_images(study.store.meta, predictions, study.top_n, study.ranking, study.has_face)
    rows = np.concatenate([top[trait] for trait in TRAITS])
    traits = np.concatenate([[t] * len(top[trait]) for t, trait in enumerate(TRAITS)])
    unique, position = np.unique(rows, return_inverse=True)
    maps = {
        method: gradient_maps(danplus.trained, frames[unique], method)[position, traits]
        for method in methods
    }
    return DanplusMaps(danplus.trained, rows, traits, maps)


@dataclass
class Baselines:
    """The CAM beside maps that ignore the image and DAN+'s gradient maps (:func:`baselines`).

    Attributes:
        comparison: :func:`map_scores`'s table: one row per (``map``, ``measure``).
        against: Per image-blind map, the paired mean overlap of the CAM minus that map's on
            the same frames (:func:`~personality_utils.core.stats.estimate`, people resampled).
    """

    comparison: pd.DataFrame
    against: dict[str, dict]

    def table(self) -> pd.DataFrame:
        """The values as a (map, measure) table."""
        return self.comparison.pivot(index="map", columns="measure", values="value").astype(float)

    def scores(self) -> pd.DataFrame:
        """The rows with intervals (all but ``box_area``), for
        :func:`~personality_utils.figures.plots.measure_bars`."""
        return self.comparison[self.comparison["measure"] != "box_area"]

    def description(self) -> str:
        """One line: the paired differences of the mean overlap."""
        return (
            "mean overlap, CAM minus the same frames' image-blind map (paired, people resampled): "
            + ", ".join(
                f"{name} {d['value']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
                for name, d in self.against.items()
            )
        )

    def record(self) -> dict[str, float]:
        """The results-file entries of the baselines."""
        table = self.table()
        return {
            "centre_prior_mean_overlap": float(table.loc["centre prior", "mean_overlap"]),
            "centre_prior_share_ge_0_9": float(table.loc["centre prior", "share_ge_0_9"]),
            "random_map_mean_overlap": float(table.loc["random map", "mean_overlap"]),
            "face_prior_mean_overlap": (
                float(table.loc["face-location prior", "mean_overlap"])
                if "face-location prior" in table.index
                else None
            ),
            "box_area": float(table.loc["CAM model", "box_area"]),
            "danplus_gradcam_mean_overlap": float(table.loc["DAN+ Grad-CAM", "mean_overlap"]),
        }

    def measurements(self) -> dict[str, Any]:
        """The measurements of the claims against the image-blind maps."""
        out = {
            "centre_prior_share": float(self.table().loc["centre prior", "share_ge_0_9"]),
            "cam_minus_centre_prior": self.against["centre prior"],
            "cam_minus_random_map": self.against["random map"],
        }
        if "face-location prior" in self.against:
            out["cam_minus_face_prior"] = self.against["face-location prior"]
        return out


def baselines(
    study: CamStudy,
    headline: Overlap,
    danplus: DanplusMaps,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
    face_prior: np.ndarray | None = None,
) -> Baselines:
    """Score the CAM model's maps of the headline's frames beside a centre prior
    (:func:`centre_prior`), uniform random maps at the CAM's grid and, when given, the
    dataset's face-location prior (:func:`face_location_prior`) on the same frames, and beside
    DAN+'s gradient maps of its own top frames; then the paired difference of the mean overlap
    of the CAM and each image-blind map, resampling people."""

    rows, size, grid = headline.rows, study.size, study.grid
    rng = np.random.default_rng(seed)
    blind = {"centre prior": centre_prior(size)}
    if face_prior is not None:
        blind["face-location prior"] = np.asarray(face_prior, dtype=np.float64)
    named = {
        "CAM model": (study.frame_maps[rows, headline.traits], rows),
        **{
            name: (np.broadcast_to(prior, (len(rows), *prior.shape)), rows)
            for name, prior in blind.items()
        },
        "random map": (rng.random((len(rows), grid, grid)), rows),
        **{
            f"DAN+ {_METHOD_NAMES.get(method, method)}": (maps, danplus.rows)
            for method, maps in danplus.maps.items()
        },
    }
    comparison, overlaps = map_scores(
        named, study.boxes, study.clips, size, study.upsampling, n_boot, seed
    )
    persons = people(study.clips[rows])
    against = {
        name: estimate(
            *bootstrap_interval(overlaps["CAM model"] - overlaps[name], persons, n_boot, seed)
        )
        for name in (*blind, "random map")
    }
    return Baselines(comparison, against)


def face_location_prior(boxes: np.ndarray, size: int) -> np.ndarray:
    """The dataset's face-location prior: the share of training frames whose face box covers
    each pixel (frames without a box left out), a (size, size) map. It is the strongest
    image-blind baseline for a face overlap: it knows where faces usually are, nothing about
    the frame at hand.

    Args:
        boxes: (frames, 4) face boxes (left, top, right, bottom) in pixels of a ``size`` frame,
            NaN where no face (:func:`~personality_utils.cam.maps.store_boxes` of the training
            store).
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    if len(boxes) == 0:
        raise ValueError("no training frame has a face box")
    # cam.box_mask's pixel-centre rule, for every box at once: a box's mask is the outer
    # product of its rows and columns, so the sum of masks is one matrix product.
    centres = np.arange(size) + 0.5
    rows = (centres >= boxes[:, 1:2]) & (centres <= boxes[:, 3:4])
    columns = (centres >= boxes[:, 0:1]) & (centres <= boxes[:, 2:3])
    return rows.T.astype(np.float64) @ columns.astype(np.float64) / len(boxes)


def centre_prior(size: int, sigma: float = 0.25) -> np.ndarray:
    """A Gaussian at the image centre, ``sigma`` as a fraction of the side: the map a model that
    always looked at the middle of the frame would give."""
    coordinates = (np.arange(size) + 0.5) / size - 0.5
    squared = coordinates[:, None] ** 2 + coordinates[None, :] ** 2
    return np.exp(-squared / (2 * sigma**2))


def random_map(
    size: int,
    grid: int,
    rng: np.random.Generator,
    upsampling: Literal["bicubic", "bilinear"] = "bicubic",
) -> np.ndarray:
    """A random map at the model's grid resolution, upsampled like a CAM."""
    return upsample(rng.random((grid, grid)), size, upsampling)


@dataclass
class Agreement:
    """Grad-CAM of the CAM model against its own CAM (:func:`gradcam_agreement`).

    Attributes:
        kind: The CAM model's kind; only the Fig. 4 head (``"cam_fig4"``) is compared.
        frames: How many frames (each with its five traits' maps).
        spearman: Mean Spearman correlation of Grad-CAM with ReLU(CAM), map by map.
        scale: Their total mass ratio (1/g² for a global-average-pooling + linear head).
        grid: Side of the maps.
    """

    kind: str
    frames: int = 0
    spearman: float = float("nan")
    scale: float = float("nan")
    grid: int = 0

    def description(self) -> str:
        """One line."""
        if self.kind != "cam_fig4":
            return "the authors' head (L2 normalisation) makes Grad-CAM differ from the CAM"
        return (
            f"Grad-CAM vs ReLU(CAM) on {self.frames} frames x 5 traits: mean Spearman "
            f"{self.spearman:.4f}, scale {self.scale:.5f} "
            f"(1/{self.grid * self.grid} = {1 / self.grid**2:.5f})"
        )


def gradcam_agreement(
    study: CamStudy, headline: Overlap, trained, kind: str, limit: int = 100
) -> Agreement:
    """For a global-average-pooling + linear head the CAM and Grad-CAM are the same map up to a
    positive scale: compare them on the first ``limit`` distinct frames the headline mapped
    (nothing is computed for another head)."""
    if kind != "cam_fig4":
        return Agreement(kind)
    rows = np.unique(headline.rows)[:limit]
    grid = study.grid
    grad_of_cam = gradient_maps(trained, study.store.frames[rows], "GradCAM")
    relu_cam = np.clip(study.frame_maps[rows], 0, None)
    spearman = rank_correlation(
        grad_of_cam.reshape(-1, grid, grid), relu_cam.reshape(-1, grid, grid)
    )
    scale = grad_of_cam.sum() / relu_cam.sum()
    return Agreement(kind, len(rows), float(np.nanmean(spearman)), float(scale), grid)


# ----------------------------------------------------------------------------------------------
# Sanity check: cascading randomisation (Adebayo et al., 2018)
# ----------------------------------------------------------------------------------------------


def rank_correlation(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Spearman rank correlation between paired maps, one value per pair: (n, ...) arrays are
    compared map by map over their trailing (spatial) axes. A constant map gives NaN."""
    from scipy.stats import rankdata

    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    if first.shape != second.shape:
        raise ValueError(f"shapes differ: {first.shape} and {second.shape}")
    a = rankdata(first.reshape(len(first), -1), axis=1)
    b = rankdata(second.reshape(len(second), -1), axis=1)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / denominator, np.nan)


# ----------------------------------------------------------------------------------------------
# Ground truth: the cue planted outside the face (synthetic set)
# ----------------------------------------------------------------------------------------------


@dataclass
class GroundTruth:
    """Per trait, what the synthetic set planted and where the maps put their mass
    (:func:`ground_truth`).

    Attributes:
        table: Per trait: ``planted outside the face`` (share of the explained label variance
            in the poster), ``readable outside the face (with identity)`` (the poster plus the
            per-person glasses,
            :func:`~personality_utils.data.synthetic.labels.outside_face_shares`),
            ``mean overlap (top frames)``, ``energy in the poster box`` and ``energy in the
            face box`` (mean over every test frame with a face box) and ``test R² (CAM
            model)``.
        flat_poster_energy: The poster box's share of the frame (a flat map's energy in it).
        context_trait: The trait planted mostly on the poster.
        overlap_gap: Its mean overlap minus the lowest of the other traits' (each trait's
            top frames; people resampled, :func:`~personality_utils.core.stats.gap_to_others`).
        poster_gap: Its share of map mass on the poster minus the highest of the other
            traits' (every test frame with a face box, each frame's maps paired).
    """

    table: pd.DataFrame
    flat_poster_energy: float
    context_trait: str = ""
    overlap_gap: dict | None = None
    poster_gap: dict | None = None

    def description(self) -> str:
        """One line: what a flat map puts in the poster box."""
        return (
            "share of the frame inside the poster box (a flat map's energy): "
            f"{self.flat_poster_energy:.3f}"
        )

    def record(self) -> dict[str, dict]:
        """The results-file entry ``ground_truth``."""
        return {
            "ground_truth": {
                trait: {k: float(v) for k, v in row.items()} for trait, row in self.table.iterrows()
            }
        }

    def measurements(self) -> dict[str, Any]:
        """The measurements of the claims on the planted context cue."""
        table = self.table
        return {
            "context_trait": self.context_trait,
            "overlap_by_trait": table["mean overlap (top frames)"].astype(float).to_dict(),
            "poster_energy_by_trait": table["energy in the poster box"].astype(float).to_dict(),
            "flat_poster_energy": self.flat_poster_energy,
            "context_overlap_gap": self.overlap_gap,
            "context_poster_gap": self.poster_gap,
        }


def ground_truth(
    study: CamStudy,
    headline: Overlap,
    dataset,
    r2: pd.Series,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
) -> GroundTruth | None:
    """On the synthetic set, per trait: the planted share of label variance outside the face
    (:func:`~personality_utils.data.synthetic.labels.outside_face_shares`; and with the per-person
    glasses, readable through who the person is), the headline's mean face overlap, and
    the share of the maps' positive mass inside the poster's true box
    (:func:`~personality_utils.data.synthetic.truth.store_boxes`) and inside the face box, over
    every test frame with a face box. None on real data (nothing planted).

    Args:
        r2: The CAM model's test R² per trait.
    """

    if not dataset.synthetic:
        return None
    identity = dataset_identity(dataset.root)
    outside = outside_face_shares(identity)
    context = face_driven(identity)[1]
    poster = store_boxes(dataset.root, study.store, "poster_box")
    rows = np.flatnonzero(study.has_face)
    size, upsampling = study.size, study.upsampling
    table, poster_energies = [], []
    for t, trait in enumerate(TRAITS):
        maps = study.frame_maps[rows, t]
        poster_energy = score_maps(maps, poster[rows], size, upsampling=upsampling)["energy"]
        poster_energies.append(poster_energy.to_numpy(dtype=np.float64))
        face_energy = score_maps(maps, study.boxes[rows], size, upsampling=upsampling)["energy"]
        table.append(
            {
                "trait": trait,
                "planted outside the face": outside[trait]["context"],
                "readable outside the face (with identity)": outside[trait]["context or identity"],
                "mean overlap (top frames)": headline.table.loc[trait, "mean_overlap"],
                "energy in the poster box": float(poster_energy.mean()),
                "energy in the face box": float(face_energy.mean()),
                "test R² (CAM model)": r2[trait],
            }
        )
    flat = np.broadcast_to(np.ones((study.grid, study.grid)), (len(rows), study.grid, study.grid))
    flat_energy = score_maps(flat, poster[rows], size, upsampling=upsampling)["energy"]
    # Each trait's maps of its own top frames, one column per trait (NaN elsewhere).
    scores = headline.scores
    overlaps = np.full((len(scores), len(TRAITS)), np.nan)
    overlaps[np.arange(len(scores)), headline.traits] = scores["overlap"].to_numpy(float)
    target = TRAITS.index(context)
    return GroundTruth(
        pd.DataFrame(table).set_index("trait"),
        float(np.nanmean(flat_energy)),
        context,
        gap_to_others(overlaps, people(scores["clip"]), target, "min", n_boot, seed),
        gap_to_others(
            np.column_stack(poster_energies), people(study.clips[rows]), target, "max", n_boot, seed
        ),
    )
