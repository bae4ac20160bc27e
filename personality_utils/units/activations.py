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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from personality_utils.core import paper
from personality_utils.core.files import write_atomic
from personality_utils.faces.regions import REGIONS
from personality_utils.models.networks import CONV_NAMES

__all__ = [
    "UnitAccumulator",
    "grid_locations",
    "UnitStats",
    "check_layer",
    "histogram_edges",
    "load_stats",
    "ordered_regions",
    "save_stats",
    "thresholds_and_iou",
    "unit_histograms",
    "unit_statistics",
]

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
        regions = ordered_regions(masks or {})
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
            thresholds, iou = thresholds_and_iou(stats, layer, self.quantile)
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


def _full_key(cache_key: str, n_images: int, **settings) -> str:
    return json.dumps({"key": cache_key, "n_images": n_images, **settings}, sort_keys=True)


def _layer_by_layer(
    backbone, images: torch.Tensor, taps: set[str]
) -> Iterator[tuple[str, torch.Tensor]]:
    """Run a :class:`~personality_utils.models.networks.VGGBackbone` and yield each tapped output as
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
        trained: A :class:`~personality_utils.models.training.TrainedModel` (DAN+ or CAM model).
        images: uint8 (n, h, w, 3), e.g. a memory-mapped face store; read in batches.
        layers: Layers for the top-N statistics (default: all thirteen conv layers).
        top_n: N, images kept per unit (50 in the paper).
        masks: Region masks for the IoU: ``{region: bool (n, S, S)}`` aligned with ``images``,
            or a function taking an array of image indices and returning ``{region: bool
            (len(indices), S, S)}`` (e.g. drawn from each face's landmarks with
            :func:`~personality_utils.faces.regions.region_masks`). None skips the IoU. The IoU is
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
