"""Statistics of units' top images: which face part each top set falls on, precision at
N, entropies, best intersections and IoU counts (what emergence compares across networks).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from personality_utils.units.activations import UnitStats, grid_locations
from personality_utils.units.passes import _layer_by_layer
from personality_utils.units.semantics import face_masks

__all__ = [
    "best_intersections",
    "best_part_iou",
    "iou_counts",
    "layer_entropies",
    "part_shares",
    "precision_at_n",
    "top_mean",
    "top_takes",
]

#: Elements of one (draws, units, crops) temporary (about 160 MB of float64).
_ELEMENTS = 1 << 24


# ----------------------------------------------------------------------------------------------
# Each network's statistics under every draw
# ----------------------------------------------------------------------------------------------


def top_takes(stats: UnitStats, layer: str, weights: np.ndarray, n: int) -> np.ndarray:
    """How much of each crop goes into each unit's top-N under each row of multiplicities.

    A unit's dense list holds every crop by decreasing maximum; with multiplicities ``w`` the
    top N are taken down the list, a crop drawn k times counting k times, the last one in part.

    Args:
        stats: Dense statistics (N = the population, :func:`dense_networks`).
        layer: The layer.
        weights: (b, crops) multiplicities.
        n: N.

    Returns:
        (b, units, crops) amounts, in each unit's own crop order (``stats.images[layer]``).
    """
    images = stats.images[layer]
    if (images < 0).any():
        raise ValueError(f"{layer}: the statistics are not dense (N < the population)")
    taken = weights[:, images]  # (b, units, crops)
    before = np.cumsum(taken, axis=2) - taken
    return np.clip(n - before, 0.0, taken)


def _chunks(weights: np.ndarray, units: int = 1) -> list[np.ndarray]:
    """Rows of ``weights`` a few at a time, so that a (rows, units, crops) temporary stays
    within :data:`_ELEMENTS`."""
    size = max(1, _ELEMENTS // max(1, units * weights.shape[1]))
    return [weights[start : start + size] for start in range(0, len(weights), size)]


def part_shares(
    stats: UnitStats,
    layer: str,
    masks_grid: Mapping[str, np.ndarray],
    weights: np.ndarray,
    n: int,
) -> dict[str, np.ndarray]:
    """N'/N of every unit for each part, per row of ``weights``: ``{part: (b, units)}`` (the
    share of the unit's top-N maxima inside the part's cells on the masks' grid)."""
    grid = int(next(iter(masks_grid.values())).shape[0])
    cells = grid_locations(stats, layer, grid)  # (units, crops, 2), -1 where silent
    valid = cells[..., 0] >= 0
    out = {}
    inside = {
        part: np.where(valid, np.asarray(mask, bool)[cells[..., 0], cells[..., 1]], False)
        for part, mask in masks_grid.items()
    }
    results: dict[str, list[np.ndarray]] = {part: [] for part in masks_grid}
    for chunk in _chunks(weights, len(cells)):
        take = top_takes(stats, layer, chunk, n)
        for part, hits in inside.items():
            results[part].append((take * hits[None]).sum(axis=2) / n)
    for part, pieces in results.items():
        out[part] = np.concatenate(pieces)
    return out


def precision_at_n(
    stats: UnitStats, layer: str, flags: np.ndarray, weights: np.ndarray, n: int
) -> np.ndarray:
    """Per row of ``weights``, each unit's share of flagged crops (glasses) among its top N:
    (b, units)."""
    flagged = np.asarray(flags, dtype=np.float64)[stats.images[layer]]  # (units, crops)
    pieces = [
        (top_takes(stats, layer, chunk, n) * flagged[None]).sum(axis=2) / n
        for chunk in _chunks(weights, len(flagged))
    ]
    return np.concatenate(pieces)


def _entropy(counts: np.ndarray) -> np.ndarray:
    """Entropy in bits of each row of non-negative counts (NaN for an empty row)."""
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = counts / total
        terms = np.where(share > 0, -share * np.log2(np.where(share > 0, share, 1.0)), 0.0)
    out = terms.sum(axis=1)
    out[total[:, 0] == 0] = np.nan
    return out + 0.0


def layer_entropies(stats: UnitStats, weights: np.ndarray, n: int) -> np.ndarray:
    """Per row of ``weights``, each layer's peak entropy (Fig. 10's histogram of the units'
    top-N maximum locations pooled to the conv5 grid, in bits): (b, layers), layers in
    network order."""
    grid = stats.grid
    out = np.zeros((len(weights), len(stats.layers)))
    for index, layer in enumerate(stats.layers):
        cells = grid_locations(stats, layer, grid)
        valid = cells[..., 0] >= 0
        flat = np.where(valid, cells[..., 0] * grid + cells[..., 1], 0)
        onehot = np.zeros((valid.size, grid * grid))
        onehot[np.arange(valid.size)[valid.ravel()], flat.ravel()[valid.ravel()]] = 1.0
        pieces = []
        for chunk in _chunks(weights, len(cells)):
            take = top_takes(stats, layer, chunk, n).reshape(len(chunk), -1)
            pieces.append(_entropy(take @ onehot))
        out[:, index] = np.concatenate(pieces)
    return out


def best_intersections(
    stats: UnitStats,
    values: np.ndarray,
    weights: np.ndarray,
    n: int,
    layer: str = "conv5_3",
) -> np.ndarray:
    """Table 2's best intersection k of each column of ``values`` (AU intensities of the
    population's crops) with any unit's top N, per row of multiplicities: (b, columns), NaN for
    a column with fewer than N finite values. A crop drawn k times counts k times in both top
    sets (their intersection is the sum of the smaller amounts).

    Args:
        stats: Dense statistics of the network (N = the population).
        values: (crops, columns) in the statistics' crop order.
        weights: (b, crops) multiplicities.
        n: N.
    """
    values = np.asarray(values, dtype=np.float64)
    images = stats.images[layer]
    inverse = np.argsort(images, axis=1)  # crop -> its place in each unit's list
    columns = []  # (column, crop order of its top set) for the columns with N finite values
    for column in range(values.shape[1]):
        finite = np.flatnonzero(np.isfinite(values[:, column]))
        if len(finite) >= n:
            columns.append((column, finite[np.argsort(-values[finite, column], kind="stable")]))
    out = np.full((len(weights), values.shape[1]), np.nan)
    start = 0
    for chunk in _chunks(weights, len(images)):
        # Each unit's top-N amounts in crop order, once per chunk for every column.
        units = np.take_along_axis(
            top_takes(stats, layer, chunk, n),
            np.broadcast_to(inverse, (len(chunk), *inverse.shape)),
            axis=2,
        ).astype(np.float32)
        for column, order in columns:
            taken = chunk[:, order]
            before = np.cumsum(taken, axis=1) - taken
            au = np.zeros(chunk.shape, dtype=np.float32)
            au[:, order] = np.clip(n - before, 0.0, taken)
            out[start : start + len(chunk), column] = (
                np.minimum(au[:, None, :], units).sum(axis=2).max(axis=1)
            )
        start += len(chunk)
    return out


def top_mean(values: np.ndarray, m: int) -> np.ndarray:
    """Per row, the mean of the ``m`` largest values (over the last axis)."""
    values = np.asarray(values, dtype=np.float64)
    m = max(1, min(int(m), values.shape[-1]))
    return np.sort(values, axis=-1)[..., -m:].mean(axis=-1)


def iou_counts(
    trained,
    crops: np.ndarray,
    landmarks: np.ndarray,
    layer: str = "conv5_3",
    quantile: float = 0.995,
    batch_size: int = 32,
) -> dict[str, np.ndarray]:
    """Per crop, what NetDissect's IoU of ``layer``'s units with each face part is made of, so
    that the IoU can be recomputed on any resample of the crops.

    Each unit's threshold is its ``quantile`` activation over the crops (NetDissect's top
    0.5%); a unit's map, upsampled (bilinear) to the network's input size, is activated above
    it. Each crop's own part masks are drawn from its landmarks
    (:func:`~personality_utils.units.semantics.face_masks`).

    Returns:
        ``activated`` (crops, units), ``inside`` (crops, units, parts), ``pixels`` (crops,
        parts) and ``parts`` (their names): IoU = Σ inside / Σ (activated + pixels − inside).
    """
    model = trained.model.eval()
    backbone = model.backbone
    tap = "relu" + layer[4:]
    size = trained.config.input_size
    device = next(model.parameters()).device
    maps = []
    with torch.inference_mode():
        for start in range(0, len(crops), batch_size):
            images = trained.prepare(np.asarray(crops[start : start + batch_size]), device)
            for _name, output in _layer_by_layer(backbone, images, {tap}):
                maps.append(output.float().cpu())
    maps = torch.cat(maps)  # (crops, units, h, w)
    units = maps.shape[1]
    values = maps.transpose(0, 1).reshape(units, -1).numpy()
    thresholds = torch.from_numpy(
        np.quantile(values, quantile, axis=1, method="inverted_cdf").astype(np.float32)
    )
    draw = face_masks(landmarks, crops.shape[1], size)
    parts = None
    activated = np.zeros((len(crops), units))
    inside_list, pixels_list = [], []
    # Upsampled maps are large (units x size²): a few crops at a time.
    step = max(1, _ELEMENTS // (units * size * size))
    for start in range(0, len(crops), step):
        stop = min(start + step, len(crops))
        masks = draw(np.arange(start, stop))
        parts = parts or tuple(masks)
        upsampled = F.interpolate(maps[start:stop], size=(size, size), mode="bilinear")
        on = upsampled > thresholds.view(1, units, 1, 1)
        activated[start:stop] = on.flatten(2).sum(dim=2).numpy()
        stacked = torch.from_numpy(np.stack([masks[p] for p in parts], axis=1))  # (b, P, S, S)
        inside = torch.einsum("busv,bpsv->bup", on.float(), stacked.float())
        inside_list.append(inside.numpy())
        pixels_list.append(stacked.flatten(2).sum(dim=2).numpy())
    return {
        "activated": activated,
        "inside": np.concatenate(inside_list),
        "pixels": np.concatenate(pixels_list).astype(np.float64),
        "parts": np.array(parts),
    }


def best_part_iou(counts: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Per row of ``weights``, each unit's IoU with its best part: (b, units)."""
    inside = np.einsum("bf,fup->bup", weights, counts["inside"])
    activated = weights @ counts["activated"]  # (b, units)
    pixels = weights @ counts["pixels"]  # (b, parts)
    union = activated[:, :, None] + pixels[:, None, :] - inside
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inside / np.where(union > 0, union, 1.0), 0.0)
    return iou.max(axis=2)
