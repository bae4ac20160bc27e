"""Unit statistics from one streaming pass over images: each unit's top-N images, the location
of its maximum in each, a fixed-bin histogram of its activations and, against face-part masks,
NetDissect's thresholds and IoU (chapters 06 and 07, cached to disk).

Memory is bounded whatever the number of images: a running top-N per unit and fixed-bin
activation histograms. What the statistics say about the units is
:mod:`~personality_utils.units.semantics`.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from personality_utils.core.files import write_atomic
from personality_utils.faces.regions import REGIONS
from personality_utils.models.networks import CONV_NAMES

__all__ = [
    "grid_locations",
    "UnitStats",
    "check_layer",
    "histogram_edges",
    "load_stats",
    "ordered_regions",
    "save_stats",
    "thresholds_and_iou",
    "unit_histograms",
]

_FORMAT_VERSION = 1

Masks = Mapping[str, np.ndarray] | Callable[[np.ndarray], Mapping[str, np.ndarray]]


# ----------------------------------------------------------------------------------------------
# Histogram bins: log-spaced, read straight from the float32 bit pattern
# ----------------------------------------------------------------------------------------------


def histogram_edges(bins_per_octave: int = 64, octaves: tuple[int, int] = (-16, 16)) -> np.ndarray:
    """Lower edges of the activation histogram's bins (float32, ascending).

    Bin 0 holds everything below ``edges[0] = 2**octaves[0]`` (the ReLU zeros), bin ``j`` holds
    ``[edges[j-1], edges[j])`` and the last bin everything from ``edges[-1] = 2**octaves[1]``.
    Inside each octave the ``bins_per_octave`` bins are equally wide, so a bin is never wider than
    ``1 / bins_per_octave`` of its lower edge (1.6 % by default): that is the tolerance of every
    quantile read from the histogram. The edges are exact float32 numbers and a value's bin is
    the top bits of its float32 pattern, so binning is exact and cheap.

    Args:
        bins_per_octave: A power of two from 1 to 2**20.
        octaves: (lowest, highest) power of two covered.
    """
    shift = _shift(bins_per_octave)
    low, high = (int(v) for v in octaves)
    if not -126 < low < high < 128:
        raise ValueError(f"octaves must satisfy -126 < low < high < 128, got {octaves}")
    codes = np.arange((127 + low) * bins_per_octave, (127 + high) * bins_per_octave + 1)
    return (codes.astype(np.int64) << shift).astype(np.int32).view(np.float32)


def _shift(bins_per_octave: int) -> int:
    if bins_per_octave < 1 or bins_per_octave & (bins_per_octave - 1) or bins_per_octave > 2**20:
        raise ValueError(f"bins_per_octave must be a power of two <= 2**20, got {bins_per_octave}")
    return 23 - int(math.log2(bins_per_octave))


def _bin_index(values: torch.Tensor, shift: int, low_code: int, n_edges: int) -> torch.Tensor:
    """Bin of each float32 value for :func:`histogram_edges` (0 below, ``n_edges`` at the top),
    as int32. Zeros, tiny values and negatives (whose int32 pattern is negative) land in bin 0,
    NaN in the top bin."""
    code = values.float().contiguous().view(torch.int32) >> shift
    code -= low_code - 1
    return code.clamp_(0, n_edges)


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass
class UnitStats:
    """Per-unit statistics of some layers over a set of images (one streaming pass).

    Layers are named by their convolution (``"conv5_3"``); the values are those of the ReLU
    that follows it. Unit ``u`` of a layer is its channel ``u``.

    Attributes:
        layers: Layers with top-N statistics, in network order.
        top_n: N, images kept per unit (50 in the paper).
        n_images: Images seen.
        grid: G, side of the grid the locations are pooled to (the conv5 map: 14 at 224 input).
        layer_sizes: Spatial (height, width) of each layer's maps.
        values: Per layer (units, N) float32: each unit's N highest maxima over positions, in
            decreasing order (ties: lower image index first); ``-inf`` pads when fewer than N
            images were seen.
        images: Per layer (units, N) int64 image indices of those maxima (-1 for padding).
        locations: Per layer (units, N, 2) int16 (row, col) of the maximum in the layer's own
            map (first in row-major order on ties); -1 where the maximum is not positive (the
            unit is silent on that image) or for padding.
        location_histograms: Per layer (G, G) int64: the units' top-N locations pooled to the
            G grid and summed over units (Fig. 10).
        quantile: Quantile of each unit's activations used as its IoU threshold (0.995).
        bin_edges: The histogram's bin edges (:func:`histogram_edges`).
        iou_layers: Layers with activation histograms and thresholds.
        thresholds: Per IoU layer (units,) float32 thresholds: the lower edge of the bin that
            holds the unit's ``quantile`` activation (true quantile within one bin above it).
        activation_histograms: Per IoU layer (units, bins) int64 counts of the activations at
            the layer's own resolution (the quantile's source).
        regions: Mask regions of the IoU (empty when no masks were given).
        mask_size: Side of the masks, the resolution at which the IoU is measured (0 if none).
        upsampled_histograms: Per IoU layer (units, bins) int64 counts of the activations
            upsampled (bilinear) to the mask size.
        region_histograms: Per IoU layer (units, regions, bins) int64: the same inside each
            region's masks.
        mask_pixels: (regions,) int64 total mask pixels over all images.
        iou: Per IoU layer (units, regions) float64 IoU at the unit's threshold.
        cache_key: What the statistics were computed from (see :func:`unit_statistics`).
    """

    layers: tuple[str, ...]
    top_n: int
    n_images: int
    grid: int
    layer_sizes: dict[str, tuple[int, int]]
    values: dict[str, np.ndarray]
    images: dict[str, np.ndarray]
    locations: dict[str, np.ndarray]
    location_histograms: dict[str, np.ndarray]
    quantile: float = 0.995
    bin_edges: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    iou_layers: tuple[str, ...] = ()
    thresholds: dict[str, np.ndarray] = field(default_factory=dict)
    activation_histograms: dict[str, np.ndarray] = field(default_factory=dict)
    regions: tuple[str, ...] = ()
    mask_size: int = 0
    upsampled_histograms: dict[str, np.ndarray] = field(default_factory=dict)
    region_histograms: dict[str, np.ndarray] = field(default_factory=dict)
    mask_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    iou: dict[str, np.ndarray] = field(default_factory=dict)
    cache_key: str = ""

    @property
    def nbytes_kept(self) -> int:
        """Bytes of every array the pass keeps: independent of the number of images."""
        total = self.bin_edges.nbytes + self.mask_pixels.nbytes
        for name in _PER_LAYER_FIELDS:
            total += sum(array.nbytes for array in getattr(self, name).values())
        return int(total)

    def n_units(self, layer: str) -> int:
        """Number of units of ``layer``."""
        return int(self.values[check_layer(self, layer)].shape[0])

    def save(self, path: str | os.PathLike) -> None:
        """Write to ``path`` (.npz, atomically); see :func:`save_stats`."""
        save_stats(self, path)


_PER_LAYER_FIELDS = (
    "values",
    "images",
    "locations",
    "location_histograms",
    "thresholds",
    "activation_histograms",
    "upsampled_histograms",
    "region_histograms",
    "iou",
)


def check_layer(stats: UnitStats, layer: str, iou: bool = False) -> str:
    layer = _conv_name(layer)
    known = stats.iou_layers if iou else stats.layers
    if layer not in known:
        what = "IoU statistics" if iou else "statistics"
        raise KeyError(f"no {what} for layer {layer!r}; have {list(known)}")
    return layer


def save_stats(stats: UnitStats, path: str | os.PathLike) -> None:
    """Write the statistics to one compressed .npz (atomically: complete or absent)."""
    meta = {
        "version": _FORMAT_VERSION,
        "layers": list(stats.layers),
        "top_n": stats.top_n,
        "n_images": stats.n_images,
        "grid": stats.grid,
        "layer_sizes": {k: list(v) for k, v in stats.layer_sizes.items()},
        "quantile": stats.quantile,
        "iou_layers": list(stats.iou_layers),
        "regions": list(stats.regions),
        "mask_size": stats.mask_size,
        "cache_key": stats.cache_key,
    }
    arrays = {
        "meta": np.array(json.dumps(meta)),
        "bin_edges": stats.bin_edges,
        "mask_pixels": stats.mask_pixels,
    }
    for name in _PER_LAYER_FIELDS:
        for layer, array in getattr(stats, name).items():
            arrays[f"{name}__{layer}"] = array

    def write(temporary: str) -> None:
        with open(temporary, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    write_atomic(path, write)


def load_stats(path: str | os.PathLike) -> UnitStats:
    """Read statistics written by :func:`save_stats` (no pickles).

    Raises:
        FileNotFoundError: If there is no such file.
        ValueError: If the file is not a unit-statistics file of this version.
    """
    with np.load(Path(path), allow_pickle=False) as data:
        if "meta" not in data.files:
            raise ValueError(f"{path}: not a unit-statistics file")
        meta = json.loads(str(data["meta"]))
        if meta.get("version") != _FORMAT_VERSION:
            raise ValueError(f"{path}: format version {meta.get('version')}, expected 1")
        per_layer: dict[str, dict[str, np.ndarray]] = {name: {} for name in _PER_LAYER_FIELDS}
        for key in data.files:
            if "__" in key:
                name, layer = key.split("__", 1)
                per_layer[name][layer] = data[key]
        return UnitStats(
            layers=tuple(meta["layers"]),
            top_n=int(meta["top_n"]),
            n_images=int(meta["n_images"]),
            grid=int(meta["grid"]),
            layer_sizes={k: tuple(v) for k, v in meta["layer_sizes"].items()},
            quantile=float(meta["quantile"]),
            bin_edges=data["bin_edges"],
            iou_layers=tuple(meta["iou_layers"]),
            regions=tuple(meta["regions"]),
            mask_size=int(meta["mask_size"]),
            mask_pixels=data["mask_pixels"],
            cache_key=str(meta["cache_key"]),
            **per_layer,
        )


# ----------------------------------------------------------------------------------------------
# The streaming pass
# ----------------------------------------------------------------------------------------------


def _conv_name(layer: str) -> str:
    """``"relu5_3"`` or ``"conv5_3"`` -> ``"conv5_3"``."""
    name = "conv" + layer[4:] if layer.startswith("relu") else layer
    if name not in CONV_NAMES:
        raise ValueError(f"unknown layer {layer!r}; use one of {list(CONV_NAMES)}")
    return name


def _ordered_layers(layers: Sequence[str]) -> tuple[str, ...]:
    names = {_conv_name(layer) for layer in layers}
    return tuple(name for name in CONV_NAMES if name in names)


def ordered_regions(names) -> tuple[str, ...]:
    names = set(names)
    return tuple(r for r in REGIONS if r in names) + tuple(sorted(names - set(REGIONS)))


def _code_membership(bits: int, device: torch.device) -> torch.Tensor:
    """(1 + bits, 2**bits) float32: a row of ones, then row 1 + k marks the codes with bit k."""
    codes = torch.arange(1 << bits, device=device)
    rows = [torch.ones(1 << bits, device=device)]
    rows += [((codes >> bit) & 1).float() for bit in range(bits)]
    return torch.stack(rows)


def _threshold_bins(histogram: np.ndarray, quantile: float) -> np.ndarray:
    """Per row of a (units, bins) histogram, the bin holding the ``quantile`` value (the
    smallest value whose empirical CDF reaches ``quantile``, numpy's ``inverted_cdf``)."""
    cumulative = np.cumsum(histogram, axis=1)
    total = cumulative[:, -1]
    # Rounded first so that q * n landing exactly on an integer is not pushed up by float error.
    rank = np.maximum(1, np.ceil(np.round(quantile * total, 6)))
    return (cumulative < rank[:, None]).sum(axis=1)


def thresholds_and_iou(
    stats: UnitStats, layer: str, quantile: float
) -> tuple[np.ndarray, np.ndarray]:
    edges = stats.bin_edges
    native = stats.activation_histograms[layer]
    bins = _threshold_bins(native, quantile)
    if (bins >= len(edges)).any():
        warnings.warn(
            f"{layer}: {int((bins >= len(edges)).sum())} units have their quantile above the "
            f"histogram's range ({edges[-1]:g}); widen octaves",
            RuntimeWarning,
            stacklevel=3,
        )
    # Bin 0 holds the zeros: a unit silent at its quantile counts every positive value.
    selected_from = np.maximum(bins, 1)
    thresholds = edges[selected_from - 1].astype(np.float32)
    if layer not in stats.upsampled_histograms or not stats.regions:
        return thresholds, np.zeros((len(native), 0))
    # Tail sums: column j = count of values at or above the lower edge of bin j.
    above = np.cumsum(stats.upsampled_histograms[layer][:, ::-1], axis=1)[:, ::-1]
    inside = np.cumsum(stats.region_histograms[layer][:, :, ::-1], axis=2)[:, :, ::-1]
    rows = np.arange(len(native))
    activated = above[rows, selected_from].astype(np.float64)
    intersection = inside[rows, :, selected_from].astype(np.float64)
    union = activated[:, None] + stats.mask_pixels[None, :] - intersection
    iou = np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)
    return thresholds, iou


def grid_locations(stats: UnitStats, layer: str, grid: int | None = None) -> np.ndarray:
    """Top-N locations of every unit of ``layer`` on a G grid: (units, N, 2) int64 (row, col),
    -1 where undefined. A position p of a side-L map goes to cell ``floor(p * G / L)``.

    Args:
        stats: The unit statistics.
        layer: E.g. ``"conv5_3"``.
        grid: G (default: the statistics' grid, the conv5 map). A layer's own side keeps its
            full resolution (e.g. 14 for conv4_3 at 112-pixel input).
    """
    layer = check_layer(stats, layer)
    grid = stats.grid if grid is None else int(grid)
    if grid < 1:
        raise ValueError(f"grid must be positive, got {grid}")
    locations = stats.locations[layer].astype(np.int64)
    sizes = np.array(stats.layer_sizes[layer], dtype=np.int64)
    cells = locations * grid // sizes
    cells[locations < 0] = -1
    return cells


def unit_histograms(stats: UnitStats, layer: str, grid: int | None = None) -> np.ndarray:
    """Per unit, the histogram of its top-N maximum locations on a G grid: (units, G, G); G is
    the statistics' grid by default (:func:`grid_locations`)."""
    grid = stats.grid if grid is None else int(grid)
    cells = grid_locations(stats, layer, grid)
    units = len(cells)
    histograms = np.zeros((units, grid, grid), dtype=np.int64)
    valid = cells[..., 0] >= 0
    unit_index = np.broadcast_to(np.arange(units)[:, None], valid.shape)[valid]
    np.add.at(histograms, (unit_index, cells[valid][:, 0], cells[valid][:, 1]), 1)
    return histograms
