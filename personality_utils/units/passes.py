"""One streaming pass of a model over a store: every layer's activations accumulated
into histograms per unit and per face part, in bounded memory, and cached beside the checkpoint.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from personality_utils.core import paper
from personality_utils.models.networks import CONV_NAMES
from personality_utils.units.activations import (
    Masks,
    UnitStats,
    _bin_index,
    _code_membership,
    _ordered_layers,
    _shift,
    histogram_edges,
    load_stats,
    ordered_regions,
    save_stats,
    thresholds_and_iou,
    unit_histograms,
)

__all__ = [
    "UnitAccumulator",
    "unit_statistics",
]
# Upper bound on the entries of one bincount in the IoU pass (keeps the per-batch temporary
# around 32 MB whatever the layer width).
_BINCOUNT_ENTRIES = 1 << 22
# Upper bound on the elements of one upsampled chunk of the IoU pass (about 50 MB of
# temporaries).
_CHUNK_ELEMENTS = 1 << 22  # < 2**24: see the float32 sums below


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
