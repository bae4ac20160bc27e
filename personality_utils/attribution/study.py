"""Chapter 05b's study: attribution methods of the book's models scored against the causes the
synthetic set planted.

One sample of test images per source (one frame, or one face crop, per test clip, the same clips
for both), every method's maps of every trait for each model (cached beside the model's
checkpoint), and per (model, method, trait):

* where the map puts its mass: the relevance mass and rank accuracy in the planted region and
  the pointing game (:mod:`.scores`), and the paper's face overlap (frames);
* what removing in the map's order does (:mod:`.removal`);
* against controls: the same model trained where the poster carries no signal (the
  false-positive control), the same network with every weight re-initialised (the
  randomisation check), and the same model fine-tuned from random weights (the backbone).

Every estimate has an interval that resamples people (:func:`~personality_utils.core.stats.
people`): a person's clips share a face, a room and a shirt.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from personality_utils.attribution import methods as attribution_methods
from personality_utils.attribution import regions, scores
from personality_utils.cam import checks
from personality_utils.cam import maps as cam_maps
from personality_utils.cam.randomisation import randomisation_stages, randomise_until
from personality_utils.core.files import write_atomic
from personality_utils.core.profiles import AttributionSettings
from personality_utils.core.stats import cluster_weights, estimate, people
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.synthetic.truth import load_frame_truth
from personality_utils.models import training

__all__ = [
    "PRIORS",
    "Sample",
    "sample",
    "training_mean",
    "prior_maps",
    "method_options",
    "model_maps",
    "randomised",
    "localisation",
    "summarise",
    "compare",
    "overlap_against_cause",
]

#: The image-blind maps every method is compared with (chapter 05's baselines).
PRIORS: tuple[str, ...] = ("centre prior", "face-location prior", "random map")


# ----------------------------------------------------------------------------------------------
# The sample
# ----------------------------------------------------------------------------------------------


@dataclass
class Sample:
    """One image per sampled test clip, at the model's input size.

    Attributes:
        source: ``"frames"`` or ``"faces"``.
        inputs: uint8 (n, size, size, 3), resized as the models resize them.
        clips, persons: The clip and person of every image.
        masks: ``{trait: bool (n, size, size)}``, each trait's planted region
            (:func:`~personality_utils.attribution.regions.trait_masks`); empty on real data.
        face_masks: bool (n, size, size) dlib face boxes (frames; all True for aligned crops).
        has_face: Whether dlib found a face in the frame.
    """

    source: str
    inputs: np.ndarray
    clips: np.ndarray
    persons: np.ndarray
    masks: dict[str, np.ndarray]
    face_masks: np.ndarray
    has_face: np.ndarray

    @property
    def size(self) -> int:
        return int(self.inputs.shape[1])

    def __len__(self) -> int:
        return len(self.inputs)

    def key(self) -> str:
        """A digest of the images (the maps' cache key)."""
        return hashlib.sha256(self.inputs.tobytes()).hexdigest()[:16]

    def subset(self, n: int) -> Sample:
        """The first ``n`` images."""
        return Sample(
            self.source,
            self.inputs[:n],
            self.clips[:n],
            self.persons[:n],
            {trait: mask[:n] for trait, mask in self.masks.items()},
            self.face_masks[:n],
            self.has_face[:n],
        )


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    return training._resized_store(np.ascontiguousarray(images), size)


def sample(dataset, source: str, n: int, size: int, seed: int = 0) -> Sample:
    """``n`` test clips drawn at random (seeded) among those with a face crop, and their first
    sampled frame (``frames``) or first face crop (``faces``): the two sources see the same
    clips. On the synthetic set every image gets its planted regions: the true landmarks and
    poster box for frames, the crop's own (dlib) landmarks for crops, which show no poster.
    """
    store = dataset.store("test")
    faces = dataset.faces("test")
    face_clips = faces.meta["clip"].to_numpy()
    candidates = np.array(sorted(set(face_clips)))
    if len(candidates) == 0:
        raise ValueError("no test clip has a face crop: nothing to sample")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(candidates, size=min(n, len(candidates)), replace=False)
    frame_clips = store.meta["clip"].to_numpy()
    if source == "frames":
        rows = np.array([np.flatnonzero(frame_clips == clip)[0] for clip in chosen])
        original = store.frames.shape[1]
        inputs = _resize(store.frames[np.sort(rows)][np.argsort(np.argsort(rows))], size)
        boxes = cam_maps.dlib_boxes(store)[rows] * (size / original)
        has_face = np.isfinite(boxes).all(axis=1)
        face_masks = np.stack([cam_maps.box_mask(box, size) for box in boxes])
        masks = _frame_masks(dataset, store, rows, size) if dataset.synthetic else {}
    elif source == "faces":
        rows = np.array([np.flatnonzero(face_clips == clip)[0] for clip in chosen])
        original = faces.crops.shape[1]
        inputs = _resize(faces.crops[np.sort(rows)][np.argsort(np.argsort(rows))], size)
        has_face = np.ones(len(rows), dtype=bool)
        face_masks = np.ones((len(rows), size, size), dtype=bool)
        landmarks = np.asarray(faces.landmarks[rows], dtype=np.float64) * (size / original)
        masks = regions.trait_masks(landmarks, None, size) if dataset.synthetic else {}
    else:
        raise ValueError(f"source must be 'frames' or 'faces', got {source!r}")
    return Sample(source, inputs, chosen, people(chosen), masks, face_masks, has_face)


def _frame_masks(dataset, store, rows: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """The planted regions of stored frames, from the generator's per-frame truth (frames are
    squashed to the store's square, so x and y scale separately)."""
    meta = store.meta
    landmarks = np.empty((len(rows), 68, 2))
    posters = np.empty((len(rows), 4))
    for out, row in enumerate(rows):
        truth = load_frame_truth(dataset.root, meta["clip"].iloc[row])
        index = int(meta["frame_index"].iloc[row])
        scale = np.array([size / meta["width"].iloc[row], size / meta["height"].iloc[row]])
        landmarks[out] = truth["landmarks"][index] * scale
        poster = truth["poster_box"]
        posters[out] = (poster if poster.ndim == 1 else poster[index]) * np.tile(scale, 2)
    return regions.trait_masks(landmarks, posters, size)


def training_mean(dataset, source: str, size: int, limit: int = 512, seed: int = 0) -> np.ndarray:
    """The training split's mean image at the model's input size (uint8), over ``limit``
    images drawn at random: the fill of occlusion, feature ablation and the removal curves, and
    Integrated Gradients' baseline (what carries no evidence for a model trained on them)."""
    images = dataset.store("train").frames if source == "frames" else dataset.faces("train").crops
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(images), size=min(limit, len(images)), replace=False))
    mean, _ = training.mean_image(images[rows], size)
    return np.clip(mean.permute(1, 2, 0).numpy().round(), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Maps
# ----------------------------------------------------------------------------------------------


def prior_maps(sample: Sample, train_boxes: np.ndarray | None, seed: int = 0) -> dict[str, Any]:
    """The image-blind maps, the same for every trait: a centre prior, the dataset's
    face-location prior (the share of training frames whose dlib box covers a pixel; flat on
    aligned crops, where the face fills the image) and a random map per image at the models'
    conv5 grid. Each is (n, 5, size, size).

    Args:
        train_boxes: dlib boxes of the training frames in pixels of the model's input (frames),
            None for crops.
    """
    size, n = sample.size, len(sample)
    rng = np.random.default_rng(seed)
    grid = max(size // 16, 1)
    face_prior = (
        np.ones((size, size))
        if train_boxes is None
        else checks.face_location_prior(train_boxes, size)
    )
    per_image = {
        "centre prior": np.broadcast_to(checks.centre_prior(size), (n, size, size)),
        "face-location prior": np.broadcast_to(face_prior, (n, size, size)),
        "random map": np.stack([checks.random_map(size, grid, rng) for _ in range(n)]),
    }
    return {
        name: np.broadcast_to(values[:, None], (n, len(TRAITS), size, size)).astype(np.float32)
        for name, values in per_image.items()
    }


def method_options(settings: AttributionSettings) -> dict[str, int]:
    """The options :func:`~personality_utils.attribution.methods.attribution_maps` takes from
    the profile's attribution settings."""
    return {
        "ig_steps": settings.ig_steps,
        "window": settings.window,
        "stride": settings.stride,
        "patch": settings.patch,
    }


def _cache_path(folder: Path, tag: str, method: str, key: str) -> Path:
    slug = method.lower().replace(" ", "_").replace("+", "p").replace("-", "_")
    return folder / "attribution" / f"{tag}-{slug}-{key}.npz"


def model_maps(
    trained,
    sample: Sample,
    method_names: Sequence[str],
    settings: AttributionSettings,
    baseline: np.ndarray,
    cache: str | Path | None = None,
    tag: str = "trained",
    progress: Callable[[str], None] | None = None,
) -> dict[str, np.ndarray]:
    """Every method's (n, 5, size, size) maps of one model on the sample, read from ``cache``
    (the model's checkpoint folder) when an earlier run of the same model, images, method and
    settings left them there, else computed and saved (atomically).

    Args:
        trained: A :class:`~personality_utils.models.training.TrainedModel`.
        method_names: Names of :data:`~personality_utils.attribution.methods.METHODS`; the CAM
            is skipped for a model without a CAM head.
        baseline: The training mean image (uint8, size x size x 3).
        tag: What the model is (``trained``, ``randomised``), part of the cache file's name.
    """
    out: dict[str, np.ndarray] = {}
    has_cam = hasattr(trained.model, "cam")
    for method in method_names:
        if attribution_methods.needs_cam_head(method) and not has_cam:
            continue
        path = None
        if cache is not None:
            key = hashlib.sha256(
                json.dumps(
                    [sample.key(), method, method_options(settings), _model_key(trained)]
                ).encode()
            ).hexdigest()[:16]
            path = _cache_path(Path(cache), tag, method, key)
            if path.is_file():
                with np.load(path, allow_pickle=False) as saved:
                    out[method] = saved["maps"]
                continue
        if progress is not None:
            progress(method)
        maps = attribution_methods.attribution_maps(
            trained, sample.inputs, method, baseline=baseline, **method_options(settings)
        ).astype(np.float32)
        out[method] = maps
        if path is not None:
            _save_maps(path, maps)
    return out


def _save_maps(path: Path, maps: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, maps=maps)
    write_atomic(path, lambda temporary: Path(temporary).write_bytes(buffer.getvalue()))


def _model_key(trained) -> str:
    """A digest of a model's weights (a randomised copy differs from its original)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(trained.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def randomised(trained, seed: int = 0):
    """The model with every weight re-initialised (the last stage of chapter 05's cascade,
    Adebayo et al.'s model parameter randomisation)."""
    return randomise_until(trained, randomisation_stages(trained.model)[-1], seed)


# ----------------------------------------------------------------------------------------------
# Where the maps put their mass
# ----------------------------------------------------------------------------------------------


def localisation(maps: Mapping[str, np.ndarray], sample: Sample) -> pd.DataFrame:
    """Per map, trait and image: the relevance mass, rank accuracy and pointing game in the
    trait's planted region (synthetic set), and the paper's face overlap (frames: the map
    binarised at 0.8 of its maximum, recall by the dlib box; NaN without a box).

    Returns:
        A long table: ``method``, ``trait``, ``image``, ``person``, ``mass``, ``rank``,
        ``pointing``, ``overlap``.
    """
    frames = []
    n = len(sample)
    for method, values in maps.items():
        for t, trait in enumerate(TRAITS):
            trait_maps = np.asarray(values[:, t], dtype=np.float64)
            table = {
                "method": method,
                "trait": trait,
                "image": np.arange(n),
                "person": sample.persons,
            }
            mask = sample.masks.get(trait)
            if mask is not None and mask.any():
                table["mass"] = scores.relevance_mass(trait_maps, mask)
                table["rank"] = scores.rank_accuracy(trait_maps, mask)
                table["pointing"] = scores.pointing_game(trait_maps, mask)
            else:
                table["mass"] = table["rank"] = table["pointing"] = np.full(n, np.nan)
            if sample.source == "frames":
                table["overlap"] = np.array(
                    [
                        cam_maps.overlap(cam_maps.binarise(m), face) if has else np.nan
                        for m, face, has in zip(
                            trait_maps, sample.face_masks, sample.has_face, strict=True
                        )
                    ]
                )
            else:
                table["overlap"] = np.full(n, np.nan)
            frames.append(pd.DataFrame(table))
    return pd.concat(frames, ignore_index=True)


MEASURES = ("mass", "rank", "pointing", "overlap")


def summarise(
    table: pd.DataFrame, n_boot: int, seed: int = 0, by: Sequence[str] = ("method", "trait")
) -> pd.DataFrame:
    """Each measure's mean per group with a 95% interval that resamples people
    (:func:`~personality_utils.attribution.scores.interval`): columns ``<measure>``,
    ``<measure>_low``, ``<measure>_high``."""
    rows = []
    for keys, group in table.groupby(list(by), sort=False):
        row = dict(zip(by, keys if isinstance(keys, tuple) else (keys,), strict=True))
        persons = group["person"].to_numpy()
        for measure in MEASURES:
            values = group[measure].to_numpy(dtype=np.float64)
            if np.isfinite(values).any():
                result = scores.interval(values, persons, n_boot, seed)
                row[measure], row[f"{measure}_low"], row[f"{measure}_high"] = (
                    result["value"],
                    result["low"],
                    result["high"],
                )
            else:
                row[measure] = row[f"{measure}_low"] = row[f"{measure}_high"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def compare(
    first: pd.DataFrame,
    second: pd.DataFrame,
    measure: str,
    n_boot: int,
    seed: int = 0,
    against: str | None = None,
) -> dict[str, dict[str, dict]]:
    """Paired differences of one measure, image by image, people resampled: ``{method: {trait:
    estimate}}`` of ``first`` minus ``second`` (two models' maps of the same images), or, with
    ``against``, of each method of ``first`` minus the map ``against`` of ``second``."""
    out: dict[str, dict[str, dict]] = {}
    keyed = second.set_index(["method", "trait", "image"])[measure]
    for (method, trait), group in first.groupby(["method", "trait"], sort=False):
        if method in PRIORS:
            continue
        other = against if against is not None else method
        try:
            reference = keyed.loc[[(other, trait, image) for image in group["image"]]]
        except KeyError:
            continue
        a = group[measure].to_numpy(dtype=np.float64)
        b = reference.to_numpy(dtype=np.float64)
        if not (np.isfinite(a) & np.isfinite(b)).any():
            continue
        result = scores.paired_difference(a, b, group["person"].to_numpy(), n_boot, seed)
        out.setdefault(method, {})[trait] = estimate(result["value"], result["low"], result["high"])
    return out


def _means_by_image(table: pd.DataFrame, measure: str) -> pd.DataFrame:
    """(images x maps) of one measure, every image and map kept (NaN where missing)."""
    return table.groupby(["image", "method"], sort=True)[measure].mean().unstack("method")


def _rank_agreement(table: pd.DataFrame, n_boot: int, seed: int) -> dict:
    """Spearman correlation across maps of mean face overlap and mean relevance mass, with a
    people interval (both means recomputed in each draw); NaN with fewer than three maps."""
    mass = _means_by_image(table, "mass")
    overlap = _means_by_image(table, "overlap").reindex(index=mass.index, columns=mass.columns)
    persons = table.drop_duplicates("image").set_index("image").loc[mass.index, "person"]
    mass, overlap = mass.to_numpy(), overlap.to_numpy()

    def statistic(weights: np.ndarray) -> float:
        w = weights[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.nansum(mass * w, axis=0) / np.nansum(np.isfinite(mass) * w, axis=0)
            o = np.nansum(overlap * w, axis=0) / np.nansum(np.isfinite(overlap) * w, axis=0)
        keep = np.isfinite(m) & np.isfinite(o)
        if keep.sum() < 3 or np.ptp(m[keep]) == 0 or np.ptp(o[keep]) == 0:
            return float("nan")
        return float(spearmanr(m[keep], o[keep]).statistic)

    observed = statistic(np.ones(len(persons)))
    draws = np.array(
        [statistic(w) for w in cluster_weights(persons.to_numpy(), n_boot, seed)], dtype=float
    )
    draws = draws[np.isfinite(draws)]
    if not np.isfinite(observed) or not len(draws):
        return {"value": None, "low": None, "high": None}
    return estimate(observed, float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5)))


def overlap_against_cause(table: pd.DataFrame, n_boot: int, seed: int = 0) -> dict[str, Any]:
    """Does the paper's instrument reward the method that finds the cause? Across the maps
    (methods and priors) of one model, the Spearman correlation of their mean face overlap with
    their mean relevance mass in the planted region: over every trait's maps together
    (``spearman``) and for each trait alone (``by_trait``; a trait whose cause is off the face
    is where the two can part), each with an interval from resampling people.

    Returns:
        ``spearman``, ``by_trait``, and the means behind them: ``mean_mass`` and
        ``mean_overlap`` per map (every trait), ``trait_mass`` and ``trait_overlap`` per trait
        and map.
    """
    by_trait, trait_mass, trait_overlap = {}, {}, {}
    for trait in TRAITS:
        rows = table[table["trait"] == trait]
        if not rows["mass"].notna().any():
            continue
        by_trait[trait] = _rank_agreement(rows, n_boot, seed)
        trait_mass[trait] = rows.groupby("method")["mass"].mean().to_dict()
        trait_overlap[trait] = rows.groupby("method")["overlap"].mean().to_dict()
    return {
        "spearman": _rank_agreement(table, n_boot, seed),
        "by_trait": by_trait,
        "maps": sorted(set(table["method"])),
        "mean_mass": table.groupby("method")["mass"].mean().to_dict(),
        "mean_overlap": table.groupby("method")["overlap"].mean().to_dict(),
        "trait_mass": trait_mass,
        "trait_overlap": trait_overlap,
    }
