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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from personality_utils.cam.maps import upsample
from personality_utils.faces.regions import REGIONS, region_masks
from personality_utils.units.activations import (
    UnitStats,
    check_layer,
    grid_locations,
    ordered_regions,
    thresholds_and_iou,
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
