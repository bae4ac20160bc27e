"""What the units of the convolutional layers respond to, from one streaming pass over images.

Chapter 06 uses it: each unit's top-N images and the location of its maximum (the paper's
Sec. 4.4, Figs. 7, 9, 10 and 11), N' per face region, the spikiness of each layer's location
histogram, glasses units, and a NetDissect-style IoU against face-part masks. Memory is bounded
whatever the number of images: a running top-N per unit and fixed-bin activation histograms.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from . import paper
from .data import write_atomic
from .faces import REGIONS
from .models import CONV_NAMES, build_model
from .stats import N_RESAMPLES, permutation_p_value
from .training import checkpoint_key

__all__ = [
    "DETECTOR_IOU",
    "POPULATIONS",
    "UnitAccumulator",
    "UnitMaps",
    "UnitStats",
    "attribute_units",
    "checkpoint_key",
    "emerged_units",
    "face_masks",
    "face_unit_statistics",
    "grid_locations",
    "histogram_edges",
    "histogram_entropy",
    "iou_table",
    "layer_entropy",
    "load_stats",
    "n_prime",
    "population_rows",
    "random_like",
    "random_model",
    "rank_units_by_region",
    "region_shares",
    "save_stats",
    "study_summary",
    "study_top_n",
    "top_unit_maps",
    "trait_contributions",
    "trait_region_enrichment",
    "unit_contributions",
    "unit_histograms",
    "unit_segmentation",
    "unit_statistics",
]

#: NetDissect's rule: a unit detects a concept when its IoU with the concept's masks exceeds this.
DETECTOR_IOU = 0.04
_FORMAT_VERSION = 1
# Upper bound on the entries of one bincount in the IoU pass (keeps the per-batch temporary
# around 32 MB whatever the layer width).
_BINCOUNT_ENTRIES = 1 << 22
# Upper bound on the elements of one upsampled chunk of the IoU pass (about 50 MB of
# temporaries).
_CHUNK_ELEMENTS = 1 << 22  # < 2**24: see the float32 sums below

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
        return int(self.values[_check_layer(self, layer)].shape[0])

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


def _check_layer(stats: UnitStats, layer: str, iou: bool = False) -> str:
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


def _ordered_regions(names) -> tuple[str, ...]:
    names = set(names)
    return tuple(r for r in REGIONS if r in names) + tuple(sorted(names - set(REGIONS)))


class UnitAccumulator:
    """The state of the streaming pass: feed it activation maps batch after batch.

    Per unit it keeps the N highest maxima over positions with their image index and position
    (a running top-N: each batch's maxima are appended to the kept ones and the list re-sorted
    with a stable descending sort, so ties keep the lower image index), and, for the IoU layers,
    fixed-bin histograms of its activations (see :func:`histogram_edges`). Nothing grows with the
    number of images; arrays live on the device of the first batch.

    Args:
        layers: Layers for the top-N statistics (conv or relu names).
        top_n: N.
        grid: G, the side of the grid locations are pooled to.
        iou_layers: Layers for the quantile thresholds and IoU (a subset is cheapest).
        quantile: Quantile of the activations that thresholds a unit (0.995: the top 0.5 %).
        bins_per_octave, octaves: Histogram bins (:func:`histogram_edges`).
    """

    def __init__(
        self,
        layers: Sequence[str],
        top_n: int = paper.UNIT_TOP_N,
        grid: int = 14,
        iou_layers: Sequence[str] = (),
        quantile: float = 0.995,
        bins_per_octave: int = 64,
        octaves: tuple[int, int] = (-16, 16),
    ):
        if top_n < 1:
            raise ValueError(f"top_n must be positive, got {top_n}")
        if grid < 1:
            raise ValueError(f"grid must be positive, got {grid}")
        if not 0 < quantile < 1:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}")
        self.layers = _ordered_layers(layers)
        self.iou_layers = _ordered_layers(iou_layers)
        if not self.layers and not self.iou_layers:
            raise ValueError("no layers requested")
        self.top_n = int(top_n)
        self.grid = int(grid)
        self.quantile = float(quantile)
        self.edges = histogram_edges(bins_per_octave, octaves)
        self._shift = _shift(bins_per_octave)
        self._low_code = (127 + int(octaves[0])) * bins_per_octave
        self.n_bins = len(self.edges) + 1
        self.seen = 0
        self.layer_sizes: dict[str, tuple[int, int]] = {}
        self._values: dict[str, torch.Tensor] = {}
        self._images: dict[str, torch.Tensor] = {}
        self._positions: dict[str, torch.Tensor] = {}
        self._native: dict[str, torch.Tensor] = {}
        self._upsampled: dict[str, torch.Tensor] = {}
        self._in_region: dict[str, torch.Tensor] = {}
        self.regions: tuple[str, ...] | None = None
        self.mask_size = 0
        self._mask_pixels: torch.Tensor | None = None

    @property
    def nbytes(self) -> int:
        """Bytes held by the running state."""
        tensors = [
            *self._values.values(),
            *self._images.values(),
            *self._positions.values(),
            *self._native.values(),
            *self._upsampled.values(),
            *self._in_region.values(),
        ]
        if self._mask_pixels is not None:
            tensors.append(self._mask_pixels)
        return int(sum(t.numel() * t.element_size() for t in tensors))

    def update(
        self,
        activations: Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]],
        masks: Mapping[str, np.ndarray | torch.Tensor] | None = None,
    ) -> None:
        """Add one batch.

        Args:
            activations: ``{layer: (b, units, h, w)}``, or an iterable of ``(layer, maps)``
                pairs (e.g. a generator that runs the network layer by layer, so that only one
                layer's maps are alive at a time), covering every layer of the accumulator
                (conv or relu names; the values must be the post-ReLU ones). Other names are
                ignored.
            masks: ``{region: bool (b, S, S)}`` for the same b images, or None. Give them for
                every batch or for none.
        """
        wanted = {*self.layers, *self.iou_layers}
        pairs = activations.items() if isinstance(activations, Mapping) else activations
        batch, checked, done = None, None, set()
        for name, maps in pairs:
            name = "conv" + name[4:] if name.startswith("relu") else name
            if name not in wanted or name in done:
                continue
            if batch is None:
                batch = len(maps)
                checked = self._check_masks(masks, batch)
            elif len(maps) != batch:
                raise ValueError(f"{name} has {len(maps)} images, other layers {batch}")
            if name in self.layers:
                self._update_top(name, maps)
            if name in self.iou_layers:
                self._update_histograms(name, maps, checked)
            done.add(name)
        missing = [name for name in CONV_NAMES if name in wanted - done]
        if missing:
            raise ValueError(f"activations lack layers {missing}")
        self.seen += batch

    def _check_masks(self, masks, batch: int) -> dict[str, torch.Tensor] | None:
        if not self.iou_layers:
            return None
        regions = _ordered_regions(masks or {})
        if self.regions is None:
            self.regions = regions
        elif regions != self.regions:
            raise ValueError(
                f"mask regions {regions} differ from the first batch's {self.regions}: give "
                "masks for every batch or for none"
            )
        if not regions:
            return None
        checked = {}
        for region in regions:
            mask = torch.from_numpy(np.array(masks[region], dtype=bool))  # a writable copy
            if mask.ndim != 3 or len(mask) != batch or mask.shape[1] != mask.shape[2]:
                raise ValueError(
                    f"mask {region!r} must be bool (batch={batch}, S, S), got {tuple(mask.shape)}"
                )
            if self.mask_size and mask.shape[1] != self.mask_size:
                raise ValueError(f"mask size {mask.shape[1]} differs from {self.mask_size}")
            self.mask_size = int(mask.shape[1])
            checked[region] = mask
        return checked

    def _update_top(self, layer: str, maps: torch.Tensor) -> None:
        batch, units, height, width = maps.shape
        self._check_size(layer, height, width)
        device = maps.device
        if layer not in self._values:
            self._values[layer] = torch.full((units, self.top_n), -math.inf, device=device)
            self._images[layer] = torch.full((units, self.top_n), -1, device=device)
            self._positions[layer] = torch.full(
                (units, self.top_n), -1, dtype=torch.int32, device=device
            )
        maxima, positions = maps.detach().float().flatten(2).max(dim=2)  # first max on ties
        indices = torch.arange(self.seen, self.seen + batch, device=device)
        # The kept list comes first and holds only lower image indices, the batch follows in
        # image order, and the sort is stable: ties always keep the lower image index.
        values = torch.cat([self._values[layer], maxima.T], dim=1)
        order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, : self.top_n]
        self._values[layer] = values.gather(1, order)
        images = torch.cat([self._images[layer], indices.expand(units, batch)], dim=1)
        self._images[layer] = images.gather(1, order)
        positions = torch.cat([self._positions[layer], positions.T.int()], dim=1)
        self._positions[layer] = positions.gather(1, order)

    def _check_size(self, layer: str, height: int, width: int) -> None:
        if self.layer_sizes.setdefault(layer, (height, width)) != (height, width):
            raise ValueError(f"{layer}: map size changed to {(height, width)}")

    def _update_histograms(
        self, layer: str, maps: torch.Tensor, masks: dict[str, torch.Tensor] | None
    ) -> None:
        batch, units, height, width = maps.shape
        self._check_size(layer, height, width)
        device = maps.device
        bins = self.n_bins
        maps = maps.detach().float()
        if layer not in self._native:
            self._native[layer] = torch.zeros(units, bins, dtype=torch.long, device=device)
        offsets = torch.arange(units, device=device, dtype=torch.int32).view(1, units, 1) * bins
        keys = _bin_index(maps.flatten(2), self._shift, self._low_code, len(self.edges))
        keys += offsets
        self._native[layer] += torch.bincount(keys.flatten(), minlength=units * bins).view(
            units, bins
        )
        if masks is None:
            return
        regions = self.regions
        size = self.mask_size
        if layer not in self._upsampled:
            self._upsampled[layer] = torch.zeros(units, bins, dtype=torch.long, device=device)
            self._in_region[layer] = torch.zeros(
                units, len(regions), bins, dtype=torch.long, device=device
            )
        if self._mask_pixels is None:
            self._mask_pixels = torch.zeros(len(regions), dtype=torch.long, device=device)
        if layer == self.iou_layers[0]:
            for index, region in enumerate(regions):
                self._mask_pixels[index] += int(masks[region].sum())
        # Regions are counted a few at a time: each position gets a code (one bit per region
        # of the group) and a single bincount over (code, unit, bin) gives every region's
        # histogram and, summed over codes, the overall one.
        per_code = units * bins
        group = max(
            1,
            min(4, len(regions), int(math.log2(max(1, _BINCOUNT_ENTRIES // per_code)))),
        )
        chunk = max(1, _CHUNK_ELEMENTS // (units * size * size))
        for start in range(0, batch, chunk):
            upsampled = F.interpolate(
                maps[start : start + chunk],
                size=(size, size),
                mode="bilinear",
                align_corners=False,
            ).flatten(2)
            keys = _bin_index(upsampled, self._shift, self._low_code, len(self.edges))
            keys += offsets
            del upsampled
            region_masks = [masks[r][start : start + chunk].to(device).flatten(1) for r in regions]
            for first in range(0, len(regions), group):
                members = list(range(first, min(first + group, len(regions))))
                code = torch.zeros_like(region_masks[0], dtype=torch.int32)
                for bit, member in enumerate(members):
                    code |= region_masks[member].int() << bit
                code *= per_code
                counts = torch.bincount(
                    (keys + code[:, None, :]).flatten(), minlength=per_code << len(members)
                ).view(1 << len(members), per_code)
                # Row 0: every code (the overall histogram); row 1 + k: codes with bit k. A
                # chunk holds fewer than 2**24 values, so float32 sums of counts are exact.
                combine = _code_membership(len(members), device)
                sums = (combine @ counts.float()).round_().long().view(-1, units, bins)
                if first == 0:
                    self._upsampled[layer] += sums[0]
                for bit, member in enumerate(members):
                    self._in_region[layer][:, member] += sums[1 + bit]

    def result(self, cache_key: str = "") -> UnitStats:
        """The statistics so far (numpy arrays on the CPU)."""
        if self.seen == 0:
            raise ValueError("no images were added")
        values = {k: v.cpu().numpy().astype(np.float32) for k, v in self._values.items()}
        images = {k: v.cpu().numpy().astype(np.int64) for k, v in self._images.items()}
        locations, histograms = {}, {}
        for layer in self.layers:
            width = self.layer_sizes[layer][1]
            positions = self._positions[layer].cpu().numpy().astype(np.int64)
            valid = (images[layer] >= 0) & (values[layer] > 0)
            where = np.stack([positions // width, positions % width], axis=-1)
            where[~valid] = -1
            locations[layer] = where.astype(np.int16)
        regions = self.regions or ()
        stats = UnitStats(
            layers=self.layers,
            top_n=self.top_n,
            n_images=self.seen,
            grid=self.grid,
            layer_sizes=dict(self.layer_sizes),
            values=values,
            images=images,
            locations=locations,
            location_histograms=histograms,
            quantile=self.quantile,
            bin_edges=self.edges.copy(),
            iou_layers=self.iou_layers,
            activation_histograms={k: v.cpu().numpy() for k, v in self._native.items()},
            regions=regions,
            mask_size=self.mask_size if regions else 0,
            upsampled_histograms={k: v.cpu().numpy() for k, v in self._upsampled.items()},
            region_histograms={k: v.cpu().numpy() for k, v in self._in_region.items()},
            mask_pixels=(
                self._mask_pixels.cpu().numpy()
                if self._mask_pixels is not None
                else np.zeros(0, np.int64)
            ),
            cache_key=cache_key,
        )
        for layer in self.layers:
            histograms[layer] = unit_histograms(stats, layer).sum(axis=0)
        for layer in self.iou_layers:
            thresholds, iou = _thresholds_and_iou(stats, layer, self.quantile)
            stats.thresholds[layer] = thresholds
            if regions:
                stats.iou[layer] = iou
        return stats


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


def _thresholds_and_iou(
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


def _full_key(cache_key: str, n_images: int, **settings) -> str:
    return json.dumps({"key": cache_key, "n_images": n_images, **settings}, sort_keys=True)


def _layer_by_layer(
    backbone, images: torch.Tensor, taps: set[str]
) -> Iterator[tuple[str, torch.Tensor]]:
    """Run a :class:`~personality_utils.models.VGGBackbone` and yield each tapped output as
    soon as it exists: the accumulator uses it before the next layer runs, so a batch never
    holds more than a layer or two of maps (the same arithmetic as ``backbone(x, taps)``)."""
    last = max(backbone.names.index(name) for name in taps)
    x = images
    for index, layer in enumerate(backbone.features[: last + 1]):
        x = layer(x)
        if backbone.names[index] in taps:
            yield backbone.names[index], x


def unit_statistics(
    trained,
    images: np.ndarray,
    layers: Sequence[str] | None = None,
    top_n: int = paper.UNIT_TOP_N,
    masks: Masks | None = None,
    iou_layers: Sequence[str] = ("conv5_3",),
    quantile: float = 0.995,
    grid: int | None = None,
    batch_size: int = 64,
    bins_per_octave: int = 64,
    octaves: tuple[int, int] = (-16, 16),
    cache_path: str | os.PathLike | None = None,
    cache_key: str = "",
    progress: bool = False,
) -> UnitStats:
    """Unit statistics of a trained model over uint8 images, in one pass (or from the cache).

    Args:
        trained: A :class:`~personality_utils.training.TrainedModel` (DAN+ or CAM model).
        images: uint8 (n, h, w, 3), e.g. a memory-mapped face store; read in batches.
        layers: Layers for the top-N statistics (default: all thirteen conv layers).
        top_n: N, images kept per unit (50 in the paper).
        masks: Region masks for the IoU: ``{region: bool (n, S, S)}`` aligned with ``images``,
            or a function taking an array of image indices and returning ``{region: bool
            (len(indices), S, S)}`` (e.g. drawn from each face's landmarks with
            :func:`~personality_utils.faces.region_masks`). None skips the IoU. The IoU is
            measured at the masks' resolution S: unit maps are upsampled (bilinear) to it.
        iou_layers: Layers for the thresholds and IoU (the costly part; conv5_3 by default).
        quantile: Quantile of a unit's activations used as its threshold (NetDissect: 0.995).
        grid: G, the grid of the location histograms (default: the conv5 map, input / 16).
        batch_size: Images per forward pass.
        bins_per_octave, octaves: Histogram bins (:func:`histogram_edges`).
        cache_path: A .npz to reuse: statistics are loaded from it when its key matches (the
            caller's ``cache_key``, the number of images and every setting above), otherwise
            computed and written there.
        cache_key: What identifies the model, the images and the masks (none of them is
            hashed), e.g. :func:`checkpoint_key` plus the store's name.
        progress: Show a progress bar.

    Returns:
        The :class:`UnitStats`. The network runs layer by layer and each map is reduced as soon
        as it exists, so a batch never holds all the layers' maps at once.
    """
    from tqdm.auto import tqdm

    requested = None if layers is None else _ordered_layers(layers)
    iou_requested = _ordered_layers(iou_layers) if masks is not None else ()
    grid = int(grid or trained.config.input_size // 16)
    n_images = len(images)
    key = _full_key(
        cache_key,
        n_images,
        layers=requested or "all",
        top_n=top_n,
        iou_layers=iou_requested,
        masks=masks is not None,
        quantile=quantile,
        grid=grid,
        bins_per_octave=bins_per_octave,
        octaves=list(octaves),
        input_size=trained.config.input_size,
    )
    # The cache is read before the model is touched: re-opening results needs no network.
    if cache_path is not None and Path(cache_path).is_file():
        try:
            cached = load_stats(cache_path)
        except (
            OSError,
            ValueError,
            KeyError,
        ):  # unreadable or another format: recompute
            cached = None
        if cached is not None and cached.cache_key == key:
            return cached
    if n_images == 0:
        raise ValueError("no images")
    model = trained.model
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise TypeError(f"{type(model).__name__} has no backbone")
    available = [name for name in CONV_NAMES if "relu" + name[4:] in backbone.names]
    layers = tuple(available) if requested is None else requested
    absent = [name for name in (*layers, *iou_requested) if name not in available]
    if absent:
        raise ValueError(f"layers {absent} are not in this backbone")
    iou_layers = iou_requested
    accumulator = UnitAccumulator(
        layers, top_n, grid, iou_layers, quantile, bins_per_octave, octaves
    )
    taps = {"relu" + name[4:] for name in (*layers, *iou_layers)}
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        for start in tqdm(range(0, n_images, batch_size), disable=not progress, desc="units"):
            stop = min(start + batch_size, n_images)
            outputs = _layer_by_layer(backbone, trained.prepare(images[start:stop], device), taps)
            batch_masks = None
            if masks is not None and iou_layers:
                batch_masks = (
                    masks(np.arange(start, stop))
                    if callable(masks)
                    else {region: array[start:stop] for region, array in masks.items()}
                )
            accumulator.update(outputs, batch_masks)
    stats = accumulator.result(cache_key=key)
    if cache_path is not None:
        save_stats(stats, cache_path)
    return stats


# ----------------------------------------------------------------------------------------------
# Locations, N' (Fig. 9) and the layer histograms (Fig. 10)
# ----------------------------------------------------------------------------------------------


def grid_locations(stats: UnitStats, layer: str, grid: int | None = None) -> np.ndarray:
    """Top-N locations of every unit of ``layer`` on a G grid: (units, N, 2) int64 (row, col),
    -1 where undefined. A position p of a side-L map goes to cell ``floor(p * G / L)``.

    Args:
        stats: The unit statistics.
        layer: E.g. ``"conv5_3"``.
        grid: G (default: the statistics' grid, the conv5 map). A layer's own side keeps its
            full resolution (e.g. 14 for conv4_3 at 112-pixel input).
    """
    layer = _check_layer(stats, layer)
    grid = stats.grid if grid is None else int(grid)
    if grid < 1:
        raise ValueError(f"grid must be positive, got {grid}")
    locations = stats.locations[layer].astype(np.int64)
    sizes = np.array(stats.layer_sizes[layer], dtype=np.int64)
    cells = locations * grid // sizes
    cells[locations < 0] = -1
    return cells


def _mask_grid(masks_grid: Mapping[str, np.ndarray]) -> int:
    """The common side of square region masks."""
    shapes = {np.asarray(mask).shape for mask in masks_grid.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or len(set(next(iter(shapes)))) != 1:
        raise ValueError(f"region masks must share one square shape, got {sorted(shapes)}")
    return next(iter(shapes))[0]


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
        :data:`~personality_utils.faces.REGIONS` order, units by decreasing N' (ties: lower
        unit first).
    """
    cells = grid_locations(stats, layer, _mask_grid(masks_grid))
    frames = []
    for region in _ordered_regions(masks_grid):
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
        region in :data:`~personality_utils.faces.REGIONS` order.
    """
    layer = _check_layer(stats, layer, iou=True)
    if not stats.regions:
        raise ValueError("these statistics were computed without masks")
    if quantile is None:
        thresholds, iou = stats.thresholds[layer], stats.iou[layer]
    else:
        thresholds, iou = _thresholds_and_iou(stats, layer, quantile)
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

    layer = _check_layer(stats, layer)
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
    (MATLAB's bicubic ``imresize``, :func:`~personality_utils.cam.upsample`) and kept where it
    reaches ``threshold`` times its maximum.

    Returns:
        bool (image_size, image_size); empty when the map has no positive value.
    """
    from .cam import upsample

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
        trained: The :class:`~personality_utils.training.TrainedModel` of the statistics.
        images: The same uint8 images the statistics were computed on.
        stats: The statistics.
        layer: E.g. ``"conv5_3"``.
        units: Unit indices.
        n: Top images per unit (at most N).
    """
    layer = _check_layer(stats, layer)
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
    """A :class:`~personality_utils.training.TrainedModel` with the same architecture, input
    size and normalisation as ``trained`` but random weights: feed it to
    :func:`unit_statistics` for the random-network N'."""
    from .training import TrainedModel

    config = trained.config
    model = random_model(config.kind, config.width_divisor, config.batch_norm, seed)
    model = model.to(next(trained.model.parameters()).device)
    return TrainedModel(model, config, trained.mean.clone(), trained.scale, history=[])


# ----------------------------------------------------------------------------------------------
# Chapter entry points: the statistics of a dataset's face crops, cached beside the checkpoint
# ----------------------------------------------------------------------------------------------


def face_masks(
    landmarks: np.ndarray, crop_size: int, mask_size: int
) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """A mask function for :func:`unit_statistics`: each face's own eyebrow, eye, nose and mouth
    masks (:func:`~personality_utils.faces.region_masks`), drawn at ``mask_size`` from its
    landmarks in ``crop_size`` crop coordinates.

    Args:
        landmarks: (n, 68, 2) landmarks of the crops (a face store's ``landmarks``).
        crop_size: Side of the crops the landmarks refer to.
        mask_size: Side of the masks (the model's input size: the IoU is measured at the
            resolution the network sees).
    """
    from .faces import region_masks

    landmarks = np.asarray(landmarks)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2):
        raise ValueError(f"expected (n, 68, 2) landmarks, got {landmarks.shape}")
    scale = mask_size / crop_size

    def masks(indices: np.ndarray) -> dict[str, np.ndarray]:
        drawn = [region_masks(landmarks[i] * scale, mask_size) for i in np.asarray(indices)]
        return {region: np.stack([face[region] for face in drawn]) for region in REGIONS}

    return masks


#: The test crops a unit study ranks (:attr:`~personality_utils.profiles.Profile.unit_population`).
POPULATIONS = ("first_face_per_clip", "all_faces")


def population_rows(meta: pd.DataFrame, population: str) -> np.ndarray:
    """Rows of a face store that a unit or AU study ranks: ``"first_face_per_clip"`` (the
    authors': the first face image of each clip, so F = the clips with a face) or
    ``"all_faces"`` (every crop)."""
    from .data import first_frame_rows

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
) -> UnitStats:
    """Unit statistics of a face model over one split's aligned crops, as chapters 06 and 07
    use them: all thirteen conv layers, the per-face part masks for the IoU of conv4_3 and
    conv5_3 (conv4_3 has the paper's 14x14 conv5_3 grid at 112-pixel input), cached in the
    checkpoint folder (``units-<split>[-first][-random<seed>].npz``) so every chapter re-opens
    the same pass.

    Args:
        dataset: A :class:`~personality_utils.datasets.Dataset` with faces.
        trained: The trained face model (DAN+ or a CAM model).
        checkpoint_dir: Its checkpoint folder (:func:`~personality_utils.training.experiment_dir`);
            retraining invalidates the cache.
        split: Which split's crops.
        random_seed: If given, the statistics of a randomly initialised network of the same
            shape (:func:`random_like`) instead of the trained one.
        top_n: N, top images per unit.
        progress: Show a progress bar.
        population: Which crops (:func:`population_rows`); image indices in the statistics
            count from 0 over that population, in its row order.
    """
    face_store = dataset.faces(split)
    rows = population_rows(face_store.meta, population)
    every = population == "all_faces"
    crops = face_store.crops if every else np.asarray(face_store.crops[rows])
    model = trained if random_seed is None else random_like(trained, random_seed)
    suffix = ("" if every else "-first") + ("" if random_seed is None else f"-random{random_seed}")
    key = f"{checkpoint_key(checkpoint_dir)}|{face_store.path.resolve()}|{split}{suffix}"
    return unit_statistics(
        model,
        crops,
        top_n=top_n,
        iou_layers=("conv4_3", "conv5_3"),
        masks=face_masks(face_store.landmarks[rows], crops.shape[1], trained.config.input_size),
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
            for region in _ordered_regions(masks_grid)
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
        trained: A :class:`~personality_utils.training.TrainedModel`.
        images: uint8 (n, h, w, 3), at least two.
        layer: ``"conv5_3"`` (or ``"conv5_2"`` for DAN+).
        batch_size: Images per forward pass.

    Returns:
        DataFrame indexed by unit, one column per trait (in
        :data:`~personality_utils.data.TRAITS` order), of standard deviations of the
        contributions (in logit units).

    Raises:
        TypeError: For a model whose head is not linear in per-unit pooled values (the authors'
            CAM head mixes units in a 3x3 convolution before pooling).
    """
    from .data import TRAITS

    contributions = unit_contributions(trained, images, layer, batch_size)
    return pd.DataFrame(contributions.std(axis=0, ddof=1), columns=list(TRAITS)).rename_axis("unit")


def unit_contributions(
    trained, images: np.ndarray, layer: str = "conv5_3", batch_size: int = 64
) -> np.ndarray:
    """Per image, unit and trait, the unit's additive share of the pre-sigmoid output
    (:func:`trait_contributions`): (n, units, 5) float64."""
    from .models import CAMModel, DANPlus, _l2

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
        :func:`~personality_utils.stats.permutation_p_value`).
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
                }
            )
    return pd.DataFrame(rows)


def emerged_units(trained_shares: pd.DataFrame, random_shares: pd.DataFrame) -> pd.DataFrame:
    """Per region, how many trained units reach an N' share that no unit of the random network
    reaches (the null: what the input's structure alone gives a network of that shape).

    Returns:
        Indexed by region: random_max (the random network's best share), trained_max,
        trained_above (units strictly above random_max) and units (layer width).
    """
    rows = {}
    for region in trained_shares.columns:
        ceiling = float(random_shares[region].max())
        rows[region] = {
            "random_max": ceiling,
            "trained_max": float(trained_shares[region].max()),
            "trained_above": int((trained_shares[region] > ceiling + 1e-12).sum()),
            "units": len(trained_shares),
        }
    return pd.DataFrame(rows).T.rename_axis("region")


def study_summary(
    stats: UnitStats,
    random_stats: UnitStats,
    masks_grid: Mapping[str, np.ndarray],
    has_attribute: np.ndarray | None = None,
    layer: str = "conv5_3",
) -> dict[str, float]:
    """The unit study's key figures for one population, trained against random network:
    chapter 06 sets the paper's population (one face per test clip) beside every face frame.

    Args:
        stats, random_stats: The trained and random networks' statistics over one population.
        masks_grid: Face-part masks on ``layer``'s grid (:func:`region_shares`).
        has_attribute: Optional bool per image (glasses) for :func:`attribute_units`.

    Returns:
        F and N; per part the best trained and random N'/N and the trained units above the best
        random one; the Spearman correlation of depth with layer entropy (trained, random) and
        the layer's entropy minus the random network's; NetDissect detectors (trained, random);
        and, with ``has_attribute``, the units with a layer-corrected p < 0.05 (trained, random).
    """
    from scipy.stats import spearmanr

    shares = region_shares(stats, layer, masks_grid)
    random_shares = region_shares(random_stats, layer, masks_grid)
    emerged = emerged_units(
        shares.drop(columns="elsewhere"), random_shares.drop(columns="elsewhere")
    )
    out: dict[str, float] = {"F": float(stats.n_images), "N": float(stats.top_n)}
    for region, row in emerged.iterrows():
        if masks_grid[region].any():
            out[f"{region}: best N'/N"] = float(row["trained_max"])
            out[f"{region}: best N'/N, random"] = float(row["random_max"])
            out[f"{region}: units above random"] = float(row["trained_above"])
    entropy, random_entropy = layer_entropy(stats), layer_entropy(random_stats)
    depth = np.arange(len(entropy))
    out["Spearman(depth, entropy)"] = float(spearmanr(depth, entropy).statistic)
    out["Spearman(depth, entropy), random"] = float(spearmanr(depth, random_entropy).statistic)
    out[f"{layer} entropy − random (bits)"] = float(entropy[layer] - random_entropy[layer])
    if stats.regions and layer in stats.iou:
        out["NetDissect detectors"] = float(iou_table(stats, layer)["detector"].sum())
        out["NetDissect detectors, random"] = float(
            iou_table(random_stats, layer)["detector"].sum()
        )
    if has_attribute is not None:
        for label, source in (("", stats), (", random", random_stats)):
            table = attribute_units(source, layer, has_attribute)
            out[f"glasses units (p < 0.05){label}"] = float((table["p_value_layer"] < 0.05).sum())
    return out
