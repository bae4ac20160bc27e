"""What the units detect (chapter 06; chapter 07 reuses its statistics): peak locations and N'
per face part (Figs. 9-10), layer spikiness, NetDissect IoU, attribute units such as glasses
(Fig. 11), the units' top images and maps (Fig. 7), the two nulls (the network before
fine-tuning, :func:`pretrained_like`, first; a random network of the same shape,
:func:`random_like`, second), the unit studies of a dataset's face crops, and the planted-cue
checks through the model's linear head.

Everything here reads :class:`~personality_utils.units.activations.UnitStats` from the one
streaming pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from personality_utils.cam.maps import upsample
from personality_utils.core import paper
from personality_utils.core.stats import N_RESAMPLES, permutation_p_value
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.video import first_frame_rows
from personality_utils.faces.regions import REGIONS, region_masks
from personality_utils.models.experiments import checkpoint_key
from personality_utils.models.networks import CAMModel, DANPlus, _l2, build_model
from personality_utils.models.training import TrainedModel
from personality_utils.units.activations import (
    UnitStats,
    check_layer,
    grid_locations,
    ordered_regions,
    thresholds_and_iou,
    unit_statistics,
)

#: NetDissect's rule: a unit detects a concept when its IoU with the concept's masks exceeds this.
DETECTOR_IOU = 0.04


# ----------------------------------------------------------------------------------------------
# Locations, N' (Fig. 9) and the layer histograms (Fig. 10)
# ----------------------------------------------------------------------------------------------


def _mask_grid(masks_grid: Mapping[str, np.ndarray]) -> int:
    """The common side of square region masks."""
    shapes = {np.asarray(mask).shape for mask in masks_grid.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or len(set(next(iter(shapes)))) != 1:
        raise ValueError(f"region masks must share one square shape, got {sorted(shapes)}")
    return next(iter(shapes))[0]


def n_prime(locations: np.ndarray, region_mask_grid: np.ndarray) -> np.ndarray:
    """The paper's N': how many of a unit's top-N maximum locations fall inside a region.

    Args:
        locations: (..., N, 2) integer (row, col) cells on the G grid (:func:`grid_locations`);
            negative entries (undefined locations) never count.
        region_mask_grid: bool (G, G) region mask on the same grid.

    Returns:
        Integer array of shape ``locations.shape[:-2]``.
    """
    locations = np.asarray(locations)
    mask = np.asarray(region_mask_grid, dtype=bool)
    if locations.shape[-1:] != (2,) or locations.ndim < 2:
        raise ValueError(f"locations must be (..., N, 2), got {locations.shape}")
    if mask.ndim != 2:
        raise ValueError(f"the region mask must be 2-D, got {mask.shape}")
    rows, cols = locations[..., 0], locations[..., 1]
    valid = (rows >= 0) & (cols >= 0) & (rows < mask.shape[0]) & (cols < mask.shape[1])
    if ((rows >= mask.shape[0]) | (cols >= mask.shape[1])).any():
        raise ValueError(f"locations fall outside the {mask.shape} mask")
    hits = mask[np.where(valid, rows, 0), np.where(valid, cols, 0)] & valid
    return hits.sum(axis=-1)


def rank_units_by_region(
    stats: UnitStats,
    layer: str,
    masks_grid: Mapping[str, np.ndarray],
    top: int | None = None,
) -> pd.DataFrame:
    """Units of ``layer`` ranked by N' for each face region (Fig. 9).

    Args:
        stats: The unit statistics.
        layer: E.g. ``"conv5_3"``.
        masks_grid: ``{region: bool (G, G)}``, e.g. ``faces.region_masks(mean_landmarks,
            size, grid=G)`` drawn on the average face; their side G sets the grid the
            locations are pooled to (:func:`grid_locations`).
        top: Keep only the best ``top`` units per region (all when None).

    Returns:
        Columns region, rank (1 = best), unit, n_prime, share (N' / N); regions in
        :data:`~personality_utils.faces.regions.REGIONS` order, units by decreasing N' (ties: lower
        unit first).
    """
    cells = grid_locations(stats, layer, _mask_grid(masks_grid))
    frames = []
    for region in ordered_regions(masks_grid):
        mask = np.asarray(masks_grid[region], dtype=bool)
        counts = n_prime(cells, mask)
        order = np.lexsort((np.arange(len(counts)), -counts))
        if top is not None:
            order = order[:top]
        frames.append(
            pd.DataFrame(
                {
                    "region": region,
                    "rank": np.arange(1, len(order) + 1),
                    "unit": order,
                    "n_prime": counts[order],
                    "share": counts[order] / stats.top_n,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def histogram_entropy(histogram: np.ndarray) -> float:
    """Shannon entropy in bits of a histogram normalised to sum 1 (NaN if it is empty). A single
    spike gives 0; a uniform G x G histogram gives log2(G²)."""
    counts = np.asarray(histogram, dtype=np.float64).ravel()
    if (counts < 0).any():
        raise ValueError("a histogram cannot have negative counts")
    total = counts.sum()
    if total == 0:
        return float("nan")
    share = counts[counts > 0] / total
    return float(-(share * np.log2(share)).sum() + 0.0)


def layer_entropy(stats: UnitStats) -> pd.Series:
    """Spikiness of each layer's location histogram (Fig. 10): its entropy in bits, lower is
    spikier; the maximum is log2(G²). Indexed by layer in network order."""
    return pd.Series(
        {layer: histogram_entropy(stats.location_histograms[layer]) for layer in stats.layers},
        name="entropy_bits",
        dtype=float,
    )


# ----------------------------------------------------------------------------------------------
# IoU (NetDissect) and attributes (Fig. 11)
# ----------------------------------------------------------------------------------------------


def iou_table(
    stats: UnitStats,
    layer: str = "conv5_3",
    quantile: float | None = None,
    min_iou: float = 0.04,
) -> pd.DataFrame:
    """IoU of every unit of ``layer`` with every region, NetDissect style.

    Args:
        stats: Statistics computed with masks.
        layer: An IoU layer.
        quantile: Recompute at another quantile from the stored histograms (default: the one
            of the pass).
        min_iou: Detector rule: IoU above this (0.04).

    Returns:
        One row per (unit, region): unit, region, iou, threshold, best (the unit's region with
        the highest IoU) and detector (best and IoU > ``min_iou``); sorted by unit, then
        region in :data:`~personality_utils.faces.regions.REGIONS` order.
    """
    layer = check_layer(stats, layer, iou=True)
    if not stats.regions:
        raise ValueError("these statistics were computed without masks")
    if quantile is None:
        thresholds, iou = stats.thresholds[layer], stats.iou[layer]
    else:
        thresholds, iou = thresholds_and_iou(stats, layer, quantile)
    units, regions = iou.shape
    best = np.zeros_like(iou, dtype=bool)
    best[np.arange(units), iou.argmax(axis=1)] = True
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(units), regions),
            "region": np.tile(np.array(stats.regions), units),
            "iou": iou.ravel(),
            "threshold": np.repeat(thresholds, regions),
            "best": best.ravel(),
            "detector": (best & (iou > min_iou)).ravel(),
        }
    )


def attribute_units(stats: UnitStats, layer: str, has_attribute: np.ndarray) -> pd.DataFrame:
    """Units ranked by how many of their top-N images show an attribute (Fig. 11: glasses).

    Only top-N entries where the unit is active (maximum > 0) count.

    Args:
        stats: The unit statistics.
        layer: E.g. ``"conv5_3"``.
        has_attribute: bool (n_images,), e.g. whether each face wears glasses.

    Returns:
        One row per unit: unit, hits (top images with the attribute), n_top, precision
        (precision@N = hits / n_top), base_rate (share of all images with it, the chance
        level), lift (precision / base_rate), p_value (hypergeometric chance of at least
        ``hits`` in ``n_top`` random images) and p_value_layer (``1 - (1 - p)^U``: the chance
        that any of the layer's U units reaches it, as in the paper's Table 2); sorted by
        decreasing precision, then p-value, then unit.
    """
    from scipy import stats as scipy_stats

    layer = check_layer(stats, layer)
    flags = np.asarray(has_attribute, dtype=bool)
    if flags.shape != (stats.n_images,):
        raise ValueError(f"has_attribute must have shape ({stats.n_images},), got {flags.shape}")
    images = stats.images[layer]
    valid = (images >= 0) & (stats.values[layer] > 0)
    hits = (flags[np.where(valid, images, 0)] & valid).sum(axis=1)
    n_top = valid.sum(axis=1)
    positives = int(flags.sum())
    base_rate = positives / stats.n_images
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_top > 0, hits / np.maximum(n_top, 1), np.nan)
        lift = precision / base_rate if base_rate > 0 else np.full(len(hits), np.nan)
    p_value = scipy_stats.hypergeom.sf(hits - 1, stats.n_images, positives, n_top)
    p_value = np.where(n_top > 0, p_value, np.nan)
    table = pd.DataFrame(
        {
            "unit": np.arange(len(hits)),
            "hits": hits,
            "n_top": n_top,
            "precision": precision,
            "base_rate": base_rate,
            "lift": lift,
            "p_value": p_value,
            "p_value_layer": 1 - (1 - p_value) ** len(hits),
        }
    )
    return table.sort_values(
        ["precision", "p_value", "unit"],
        ascending=[False, True, True],
        na_position="last",
    ).reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# Maps of top images (Fig. 7) and the random-network null
# ----------------------------------------------------------------------------------------------


def unit_segmentation(map_hw: np.ndarray, image_size: int, threshold: float = 0.5) -> np.ndarray:
    """The authors' segmentation of a top image (Fig. 7): the unit's map upsampled to the image
    (MATLAB's bicubic ``imresize``, :func:`~personality_utils.cam.maps.upsample`) and kept where it
    reaches ``threshold`` times its maximum.

    Returns:
        bool (image_size, image_size); empty when the map has no positive value.
    """

    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    map_hw = np.asarray(map_hw, dtype=np.float32)
    if map_hw.ndim != 2:
        raise ValueError(f"expected a (h, w) map, got {map_hw.shape}")
    upsampled = upsample(map_hw, image_size)
    top = upsampled.max()
    if not top > 0:
        return np.zeros((image_size, image_size), dtype=bool)
    return upsampled >= threshold * top


@dataclass
class UnitMaps:
    """Maps of some units on their top images.

    Attributes:
        layer: The layer.
        units: (U,) unit indices.
        image_indices: (U, n) top images of each unit (-1 where fewer were seen).
        values: (U, n) their maxima as stored in the statistics.
        maps: (U, n, h, w) float32 maps recomputed for those images (NaN for padding).
    """

    layer: str
    units: np.ndarray
    image_indices: np.ndarray
    values: np.ndarray
    maps: np.ndarray


def top_unit_maps(
    trained,
    images: np.ndarray,
    stats: UnitStats,
    layer: str,
    units: Sequence[int],
    n: int = 10,
    batch_size: int = 32,
) -> UnitMaps:
    """Recompute the maps of ``units`` on their ``n`` top images only (Fig. 7 shows 10).

    Args:
        trained: The :class:`~personality_utils.models.training.TrainedModel` of the statistics.
        images: The same uint8 images the statistics were computed on.
        stats: The statistics.
        layer: E.g. ``"conv5_3"``.
        units: Unit indices.
        n: Top images per unit (at most N).
    """
    layer = check_layer(stats, layer)
    units = np.asarray(units, dtype=np.int64).ravel()
    if not 0 < n <= stats.top_n:
        raise ValueError(f"n must be in 1..{stats.top_n}, got {n}")
    if len(images) != stats.n_images:
        raise ValueError(f"{len(images)} images, but the statistics saw {stats.n_images}")
    chosen = stats.images[layer][units, :n]
    wanted = np.unique(chosen[chosen >= 0])
    height, width = stats.layer_sizes[layer]
    maps = np.full((*chosen.shape, height, width), np.nan, dtype=np.float32)
    tap = "relu" + layer[4:]
    backbone = trained.model.backbone
    device = next(trained.model.parameters()).device
    trained.model.eval()
    with torch.inference_mode():
        for start in range(0, len(wanted), batch_size):
            subset = wanted[start : start + batch_size]
            output = backbone(trained.prepare(images[subset], device), taps=(tap,))[tap]
            output = output[:, torch.as_tensor(units, device=output.device)]
            output = output.float().cpu().numpy()  # (b, U, h, w)
            for row, image in enumerate(subset):
                unit_rows, columns = np.nonzero(chosen == image)
                maps[unit_rows, columns] = output[row, unit_rows]
    return UnitMaps(layer, units, chosen, stats.values[layer][units, :n], maps)


def random_model(
    kind: str, width_divisor: int = 1, batch_norm: bool = False, seed: int = 0
) -> torch.nn.Module:
    """A randomly initialised network of the given shape (the null for N'), in eval mode.

    The global torch random state is left untouched. With batch normalisation the fresh
    running statistics (mean 0, variance 1) make each normalisation nearly the identity.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(kind, width_divisor, batch_norm=batch_norm)
    return model.eval()


def random_like(trained, seed: int = 0):
    """A :class:`~personality_utils.models.training.TrainedModel` with the same architecture, input
    size and normalisation as ``trained`` but random weights: feed it to
    :func:`unit_statistics` for the random-network N'."""

    config = trained.config
    model = random_model(config.kind, config.width_divisor, config.batch_norm, seed)
    model = model.to(next(trained.model.parameters()).device)
    return TrainedModel(model, config, trained.mean.clone(), trained.scale, history=[])


def pretrained_like(trained, seed: int = 0):
    """The network ``trained`` was fine-tuned from, as a
    :class:`~personality_utils.models.training.TrainedModel` with the same architecture,
    configuration
    and input normalisation: its backbone loaded from ``trained.config.backbone_weights`` (the
    identity-pretrained backbone of the CPU profiles, VGG-Face or ImageNet on the paper's), its
    head freshly initialised (``seed``; the units do not depend on it). This is the fair null of
    an emergence claim: what the units were before fine-tuning on the traits.

    Returns:
        The model in eval mode, or None when the trained model started from random weights
        (``backbone_weights`` None): then there is no pretrained network, only the random one.
    """

    config = trained.config
    if config.backbone_weights is None:
        return None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(
            config.kind,
            config.width_divisor,
            backbone_weights=config.backbone_weights,
            batch_norm=config.batch_norm,
        )
    model = model.eval().to(next(trained.model.parameters()).device)
    return TrainedModel(model, config, trained.mean.clone(), trained.scale, history=[])


# ----------------------------------------------------------------------------------------------
# Chapter entry points: the statistics of a dataset's face crops, cached beside the checkpoint
# ----------------------------------------------------------------------------------------------


def face_masks(
    landmarks: np.ndarray, crop_size: int, mask_size: int
) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """A mask function for :func:`unit_statistics`: each face's own eyebrow, eye, nose and mouth
    masks (:func:`~personality_utils.faces.regions.region_masks`), drawn at ``mask_size`` from its
    landmarks in ``crop_size`` crop coordinates.

    Args:
        landmarks: (n, 68, 2) landmarks of the crops (a face store's ``landmarks``).
        crop_size: Side of the crops the landmarks refer to.
        mask_size: Side of the masks (the model's input size: the IoU is measured at the
            resolution the network sees).
    """

    landmarks = np.asarray(landmarks)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2):
        raise ValueError(f"expected (n, 68, 2) landmarks, got {landmarks.shape}")
    scale = mask_size / crop_size

    def masks(indices: np.ndarray) -> dict[str, np.ndarray]:
        drawn = [region_masks(landmarks[i] * scale, mask_size) for i in np.asarray(indices)]
        return {region: np.stack([face[region] for face in drawn]) for region in REGIONS}

    return masks


#: The networks :func:`face_unit_statistics` reads: the trained model, the network it was
#: fine-tuned from (:func:`pretrained_like`) and a random one of its shape (:func:`random_like`).
NETWORKS = ("trained", "pretrained", "random")

#: The test crops a unit study ranks
# (:attr:`~personality_utils.core.profiles.Profile.unit_population`).
POPULATIONS = ("first_face_per_clip", "all_faces")


def population_rows(meta: pd.DataFrame, population: str) -> np.ndarray:
    """Rows of a face store that a unit or AU study ranks: ``"first_face_per_clip"`` (the
    authors': the first face image of each clip, so F = the clips with a face) or
    ``"all_faces"`` (every crop)."""

    if population == "first_face_per_clip":
        return first_frame_rows(meta)
    if population == "all_faces":
        return np.arange(len(meta))
    raise ValueError(f"population must be one of {POPULATIONS}, got {population!r}")


def study_top_n(population_size: int, top_n: int = paper.UNIT_TOP_N) -> int:
    """N for a population of F images: the paper's 50 where F allows it, else F // 10 (at least
    1), so that a top set is never more than a tenth of the population (the paper's is 2.5%)."""
    return max(1, min(top_n, population_size // 10))


def face_unit_statistics(
    dataset,
    trained,
    checkpoint_dir: str | os.PathLike,
    split: str = "test",
    random_seed: int | None = None,
    top_n: int = paper.UNIT_TOP_N,
    progress: bool = False,
    population: str = "all_faces",
    network: str | None = None,
    dense: bool = False,
) -> UnitStats:
    """Unit statistics of a face model over one split's aligned crops, as chapters 06 and 07
    use them: all thirteen conv layers, the per-face part masks for the IoU of conv4_3 and
    conv5_3 (conv4_3 has the paper's 14x14 conv5_3 grid at 112-pixel input), cached in the
    checkpoint folder (``units-<split>[-first][-random<seed>|-pretrained].npz``) so every
    chapter re-opens the same pass.

    Args:
        dataset: A :class:`~personality_utils.data.datasets.Dataset` with faces.
        trained: The trained face model (DAN+ or a CAM model).
        checkpoint_dir: Its checkpoint folder
            (:func:`~personality_utils.models.experiments.experiment_dir`); retraining invalidates
            the
            cache.
        split: Which split's crops.
        random_seed: If given, the statistics of a randomly initialised network of the same
            shape (:func:`random_like`) instead of the trained one (the same as
            ``network="random"``).
        top_n: N, top images per unit.
        progress: Show a progress bar.
        population: Which crops (:func:`population_rows`); image indices in the statistics
            count from 0 over that population, in its row order.
        network: Which network's units (:data:`NETWORKS`): ``"trained"``, ``"pretrained"`` (the
            network before fine-tuning, :func:`pretrained_like`) or ``"random"`` (seeded with
            ``random_seed``, 0 when None). None: ``"random"`` if ``random_seed`` is given, else
            ``"trained"``.
        dense: Keep every crop of the population per unit (N = the population, ``top_n``
            ignored) and skip the IoU: what :mod:`~personality_utils.units.emergence` resamples
            (cached as ``units-<split>...-dense.npz``).

    Raises:
        ValueError: For ``network="pretrained"`` when the model started from random weights
            (no ``backbone_weights``), or an unknown network.
    """
    if network is None:
        network = "trained" if random_seed is None else "random"
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")
    face_store = dataset.faces(split)
    rows = population_rows(face_store.meta, population)
    every = population == "all_faces"
    crops = face_store.crops if every else np.asarray(face_store.crops[rows])
    suffix = "" if every else "-first"
    extra = ""
    if network == "trained":
        model = trained
    elif network == "random":
        seed = 0 if random_seed is None else random_seed
        model, suffix = random_like(trained, seed), f"{suffix}-random{seed}"
    else:
        model = pretrained_like(trained)
        if model is None:
            raise ValueError(
                "this model was trained from random weights: there is no pretrained network"
            )
        suffix += "-pretrained"
        extra = f"|{trained.config.backbone_weights}"
    if dense:
        suffix += "-dense"
    key = f"{checkpoint_key(checkpoint_dir)}|{face_store.path.resolve()}|{split}{suffix}{extra}"
    return unit_statistics(
        model,
        crops,
        top_n=len(rows) if dense else top_n,
        iou_layers=() if dense else ("conv4_3", "conv5_3"),
        masks=None
        if dense
        else face_masks(face_store.landmarks[rows], crops.shape[1], trained.config.input_size),
        cache_path=Path(checkpoint_dir) / f"units-{split}{suffix}.npz",
        cache_key=key,
        progress=progress,
    )


def region_shares(
    stats: UnitStats, layer: str, masks_grid: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """Per unit, the share of its top-N maxima in each region (N' / N) and elsewhere; the
    masks' side sets the grid (:func:`grid_locations`).

    Returns:
        DataFrame indexed by unit, one column per region plus ``elsewhere`` (maxima outside
        every region, or silent); rows sum to 1.
    """
    cells = grid_locations(stats, layer, _mask_grid(masks_grid))
    table = pd.DataFrame(
        {
            region: n_prime(cells, np.asarray(masks_grid[region], dtype=bool)) / stats.top_n
            for region in ordered_regions(masks_grid)
        }
    )
    table["elsewhere"] = 1 - table.sum(axis=1)
    table.index.name = "unit"
    return table


def trait_contributions(
    trained, images: np.ndarray, layer: str = "conv5_3", batch_size: int = 64
) -> pd.DataFrame:
    """How much each unit of ``layer`` moves each trait's output, through the model's linear head.

    For DAN+ the head is linear in the L2-normalised max- and average-pooled maps (pool5 for
    conv5_3, relu5_2 for conv5_2); for the Fig. 4 CAM model in the average-pooled conv5_3
    maps. A unit's contribution to trait t on an image is the sum of its pooled values times
    their head weights for t; the contributions of all units plus the bias are the pre-sigmoid
    output. Its importance is the standard deviation of that contribution over the images: a
    unit with a large weight that never varies moves no prediction.

    Args:
        trained: A :class:`~personality_utils.models.training.TrainedModel`.
        images: uint8 (n, h, w, 3), at least two.
        layer: ``"conv5_3"`` (or ``"conv5_2"`` for DAN+).
        batch_size: Images per forward pass.

    Returns:
        DataFrame indexed by unit, one column per trait (in
        :data:`~personality_utils.core.vocabulary.TRAITS` order), of standard deviations of the
        contributions (in logit units).

    Raises:
        TypeError: For a model whose head is not linear in per-unit pooled values (the authors'
            CAM head mixes units in a 3x3 convolution before pooling).
    """

    contributions = unit_contributions(trained, images, layer, batch_size)
    return pd.DataFrame(contributions.std(axis=0, ddof=1), columns=list(TRAITS)).rename_axis("unit")


def unit_contributions(
    trained, images: np.ndarray, layer: str = "conv5_3", batch_size: int = 64
) -> np.ndarray:
    """Per image, unit and trait, the unit's additive share of the pre-sigmoid output
    (:func:`trait_contributions`): (n, units, 5) float64."""

    model = trained.model
    if isinstance(model, DANPlus):
        tap = {"conv5_3": "pool5", "conv5_2": "relu5_2"}.get(layer)
        if tap is None:
            raise ValueError(f"DAN+ pools conv5_2 and conv5_3 only, not {layer!r}")
        channels = model.backbone.channels
        offset = 2 * channels if tap == "pool5" else 0
        weight = model.head.weight.detach().double().cpu().numpy()
        w_max, w_mean = (
            weight[:, offset : offset + channels],
            weight[:, offset + channels : offset + 2 * channels],
        )
    elif isinstance(model, CAMModel) and model.head_type == "fig4":
        if layer != "conv5_3":
            raise ValueError(f"the CAM model pools conv5_3 only, not {layer!r}")
        tap = "relu5_3"
        w_max, w_mean = None, model.fc.weight.detach().double().cpu().numpy()
    else:
        raise TypeError(
            f"{type(model).__name__} has no head that is linear in per-unit pooled values"
        )
    if len(images) < 2:
        raise ValueError("need at least two images")
    device = next(model.parameters()).device
    model.eval()
    parts = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            maps = model.backbone(
                trained.prepare(images[start : start + batch_size], device), (tap,)
            )[tap]
            maps = maps.flatten(2).double()
            if w_max is None:  # Fig. 4 head: plain average pooling
                pooled_mean = maps.mean(dim=2).cpu().numpy()
                parts.append(np.einsum("bu,tu->but", pooled_mean, w_mean))
            else:
                pooled_max = _l2(maps.amax(dim=2)).cpu().numpy()
                pooled_mean = _l2(maps.mean(dim=2)).cpu().numpy()
                parts.append(
                    np.einsum("bu,tu->but", pooled_max, w_max)
                    + np.einsum("bu,tu->but", pooled_mean, w_mean)
                )
    return np.concatenate(parts)


def trait_region_enrichment(
    shares: pd.DataFrame,
    importance: pd.DataFrame,
    top_k: int,
    n_permutations: int = N_RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Where the units that matter most for each trait put their maxima, against random units.

    Args:
        shares: Per unit, share of its top-N maxima per region (:func:`region_shares`).
        importance: Per unit, importance per trait (:func:`trait_contributions`), same index.
        top_k: Units kept per trait (the most important ones).
        n_permutations: Random draws of ``top_k`` units for the null.
        seed: Seed of the draws.

    Returns:
        One row per (trait, region): share_top (mean share of the trait's top-k units),
        share_all (mean over all units), enrichment (share_top / share_all) and p_value (one
        sided: the chance that ``top_k`` random units reach share_top,
        :func:`~personality_utils.core.stats.permutation_p_value`) and null_q95 (the 95th
        percentile of the random sets' share: what the top units needed for p < 0.05).
    """
    if not shares.index.equals(importance.index):
        raise ValueError("shares and importance must describe the same units")
    units = len(shares)
    if not 0 < top_k < units:
        raise ValueError(f"top_k must be in 1..{units - 1}, got {top_k}")
    values = shares.to_numpy(dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = np.argsort(rng.random((n_permutations, units)), axis=1)[:, :top_k]
    null = values[draws].mean(axis=1)  # (permutations, regions)
    rows = []
    for trait in importance.columns:
        order = np.lexsort((np.arange(units), -importance[trait].to_numpy()))[:top_k]
        top = values[order].mean(axis=0)
        for index, region in enumerate(shares.columns):
            overall = values[:, index].mean()
            rows.append(
                {
                    "trait": trait,
                    "region": region,
                    "share_top": float(top[index]),
                    "share_all": float(overall),
                    "enrichment": float(top[index] / overall) if overall > 0 else np.nan,
                    "p_value": permutation_p_value(top[index] - 1e-12, null[:, index]),
                    # The share a trait's units would need for p < 0.05 (before any
                    # correction across traits): the smallest effect the test could detect.
                    "null_q95": float(np.quantile(null[:, index], 0.95)),
                }
            )
    return pd.DataFrame(rows)


def emerged_units(
    trained_shares: pd.DataFrame,
    random_shares: pd.DataFrame,
    pretrained_shares: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per region, how many trained units reach an N' share that no unit of a null network
    reaches: the random network (what the input's structure alone gives a network of that
    shape) and, when given, the pretrained network before fine-tuning (what the face
    pretraining already gave; the fair null of "emerged with fine-tuning").

    Returns:
        Indexed by region: random_max (the random network's best share), trained_max,
        trained_above (units strictly above random_max) and units (layer width); with
        ``pretrained_shares`` also pretrained_max and trained_above_pretrained.
    """
    rows = {}
    for region in trained_shares.columns:
        shares = trained_shares[region]
        ceiling = float(random_shares[region].max())
        row = {
            "random_max": ceiling,
            "trained_max": float(shares.max()),
            "trained_above": int((shares > ceiling + 1e-12).sum()),
            "units": len(trained_shares),
        }
        if pretrained_shares is not None:
            pretrained = float(pretrained_shares[region].max())
            row["pretrained_max"] = pretrained
            row["trained_above_pretrained"] = int((shares > pretrained + 1e-12).sum())
        rows[region] = row
    return pd.DataFrame(rows).T.rename_axis("region")


def study_summary(
    stats: UnitStats,
    random_stats: UnitStats,
    masks_grid: Mapping[str, np.ndarray],
    has_attribute: np.ndarray | None = None,
    layer: str = "conv5_3",
    pretrained_stats: UnitStats | None = None,
) -> dict[str, float]:
    """The unit study's key figures for one population, the trained network against the
    pretrained one before fine-tuning (when there is one) and the random one: chapter 06 sets
    the paper's population (one face per test clip) beside every face frame.

    Args:
        stats, random_stats: The trained and random networks' statistics over one population.
        masks_grid: Face-part masks on ``layer``'s grid (:func:`region_shares`).
        has_attribute: Optional bool per image (glasses) for :func:`attribute_units`.
        pretrained_stats: The pretrained network's statistics over the same population (None:
            the model was trained from random weights).

    Returns:
        F and N; per part the best trained, pretrained and random N'/N and the trained units
        above the best pretrained and the best random one; the Spearman correlation of depth
        with layer entropy per network and the layer's entropy minus each null's; NetDissect
        detectors per network; and, with ``has_attribute``, the units with a layer-corrected
        p < 0.05 per network. The pretrained entries are left out when there is no pretrained
        network.
    """
    from scipy.stats import spearmanr

    nulls = {"pretrained": pretrained_stats, "random": random_stats}
    nulls = {name: value for name, value in nulls.items() if value is not None}
    shares = region_shares(stats, layer, masks_grid).drop(columns="elsewhere")
    null_shares = {
        name: region_shares(value, layer, masks_grid).drop(columns="elsewhere")
        for name, value in nulls.items()
    }
    emerged = emerged_units(shares, null_shares["random"], null_shares.get("pretrained"))
    out: dict[str, float] = {"F": float(stats.n_images), "N": float(stats.top_n)}
    for region, row in emerged.iterrows():
        if masks_grid[region].any():
            out[f"{region}: best N'/N"] = float(row["trained_max"])
            if "pretrained" in nulls:
                out[f"{region}: best N'/N, pretrained"] = float(row["pretrained_max"])
                out[f"{region}: units above pretrained"] = float(row["trained_above_pretrained"])
            out[f"{region}: best N'/N, random"] = float(row["random_max"])
            out[f"{region}: units above random"] = float(row["trained_above"])
    entropy = layer_entropy(stats)
    depth = np.arange(len(entropy))
    out["Spearman(depth, entropy)"] = float(spearmanr(depth, entropy).statistic)
    for name, value in nulls.items():
        null_entropy = layer_entropy(value)
        out[f"Spearman(depth, entropy), {name}"] = float(spearmanr(depth, null_entropy).statistic)
        out[f"{layer} entropy − {name} (bits)"] = float(entropy[layer] - null_entropy[layer])
    if stats.regions and layer in stats.iou:
        out["NetDissect detectors"] = float(iou_table(stats, layer)["detector"].sum())
        for name, value in nulls.items():
            out[f"NetDissect detectors, {name}"] = float(iou_table(value, layer)["detector"].sum())
    if has_attribute is not None:
        for label, source in (("", stats), *((f", {n}", v) for n, v in nulls.items())):
            table = attribute_units(source, layer, has_attribute)
            out[f"glasses units (p < 0.05){label}"] = float((table["p_value_layer"] < 0.05).sum())
    return out


def spikiness_table(
    stats: UnitStats, random_stats: UnitStats, pretrained_stats: UnitStats | None = None
) -> pd.DataFrame:
    """Fig. 10 in numbers: each layer's entropy (:func:`layer_entropy`) for the trained network,
    for the network it was fine-tuned from (when there is one: the fair null of "fine-tuning
    made it spikier") and for the random one of the same shape (which has the same number of
    peaks per layer), the differences, and the share of the layer's peaks in its busiest cell.

    Returns:
        Indexed by layer in network order; columns ``trained``, ``pretrained`` (with
        ``pretrained_stats``), ``random weights``, ``trained − pretrained`` (with it),
        ``trained − random`` and ``top cell share`` (trained).
    """
    table = pd.DataFrame({"trained": layer_entropy(stats)})
    if pretrained_stats is not None:
        table["pretrained"] = layer_entropy(pretrained_stats)
    table["random weights"] = layer_entropy(random_stats)
    if pretrained_stats is not None:
        table["trained − pretrained"] = table["trained"] - table["pretrained"]
    table["trained − random"] = table["trained"] - table["random weights"]
    table["top cell share"] = [
        stats.location_histograms[layer].max() / stats.location_histograms[layer].sum()
        for layer in table.index
    ]
    return table


def depth_trend(table: pd.DataFrame) -> dict[str, float]:
    """Spearman correlation of depth (the row order of :func:`spikiness_table`) with the
    ``trained``, ``pretrained`` (when the table has it), ``random weights``, ``trained −
    pretrained`` (likewise) and ``trained − random`` entropies; below 0: spikier with depth."""
    from scipy.stats import spearmanr

    depth = np.arange(len(table))
    columns = (
        "trained",
        "pretrained",
        "random weights",
        "trained − pretrained",
        "trained − random",
    )
    # A constant column has no rank correlation (NaN, without SciPy's warning).
    return {
        column: float(spearmanr(depth, table[column]).statistic)
        if np.ptp(table[column].to_numpy(dtype=float)) > 0
        else float("nan")
        for column in columns
        if column in table.columns
    }
