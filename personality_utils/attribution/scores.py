"""Scores of attribution maps against the planted causes, and the removal test beside them.

Chapter 05b scores signed maps (one per image and target trait, at the model's input resolution)
against boolean masks of the regions a cause was planted in:

* localisation: the share of the map's positive mass inside the mask (:func:`relevance_mass`)
  and the share of its K highest pixels inside a mask of K pixels (:func:`rank_accuracy`), both
  from Arras et al. (2022, CLEVR-XAI), and the pointing game (:func:`pointing_game`);
* faithfulness without a mask: patches of the input replaced by a fill image in the order the
  map ranks them (:func:`removal_curves`), most relevant first (MoRF) and least relevant first
  (LeRF), scored by the symmetric relevance gain, the area between the two curves
  (:func:`srg`; Blücher et al. 2024, "Decoupling pixel flipping and occlusion strategy for
  consistent XAI benchmarks"), against random orders (:func:`null_srg`), for two fills
  (:data:`FILLS`) whose rankings of the methods should agree (:func:`fill_agreement`);
* intervals that resample people, not images (:func:`interval`, :func:`paired_difference`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from personality_utils.core.stats import N_RESAMPLES, bootstrap_interval

__all__ = [
    "FILLS",
    "relevance_mass",
    "rank_accuracy",
    "pointing_game",
    "patch_scores",
    "patch_orders",
    "removal_curves",
    "srg",
    "random_orders",
    "null_srg",
    "mean_fill",
    "blur_fill",
    "fill_agreement",
    "interval",
    "paired_difference",
]

#: The fills that replace removed patches: the training mean image and a blur of the image.
FILLS = ("training mean", "blur")


# ----------------------------------------------------------------------------------------------
# Localisation against the planted masks
# ----------------------------------------------------------------------------------------------


def _maps_and_masks(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, h·w) float64 maps and bool masks, checked to be (n, h, w) of the same shape."""
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks)
    if maps.ndim != 3:
        raise ValueError(f"expected (n, h, w) maps, got shape {maps.shape}")
    if masks.shape != maps.shape:
        raise ValueError(f"masks have shape {masks.shape}, the maps {maps.shape}")
    if masks.dtype != bool:
        if not np.isin(masks, (0, 1)).all():
            raise ValueError("masks must be boolean (or 0/1)")
        masks = masks.astype(bool)
    if not np.isfinite(maps).all():
        raise ValueError("maps have non-finite values")
    return maps.reshape(len(maps), -1), masks.reshape(len(masks), -1)


def relevance_mass(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Relevance mass accuracy (Arras et al. 2022): the share of each map's positive mass that
    lies inside its mask.

    Negative values are set to 0 first (positive relevance only), as
    :func:`~personality_utils.cam.maps.energy_in_box` does for one map.

    Parameters
    ----------
    maps : (n, h, w) float
        Signed attribution maps.
    masks : (n, h, w) bool
        The planted regions.

    Returns
    -------
    (n,) float
        In [0, 1]; NaN for a map with no positive mass or an empty mask (nothing to score).
    """
    maps, masks = _maps_and_masks(maps, masks)
    positive = np.clip(maps, 0, None)
    total = positive.sum(axis=1)
    inside = np.where(masks, positive, 0.0).sum(axis=1)
    scored = (total > 0) & masks.any(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scored, inside / total, np.nan)


def rank_accuracy(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Relevance rank accuracy (Arras et al. 2022): with K the number of pixels of the mask, the
    share of the map's K highest pixels that lie inside it.

    Pixels are ranked by their signed value; equal values keep their row-major order (a stable
    sort of ``-value``), so that a tie is always broken the same way.

    Parameters
    ----------
    maps : (n, h, w) float
        Signed attribution maps.
    masks : (n, h, w) bool
        The planted regions.

    Returns
    -------
    (n,) float
        In [0, 1]; NaN where the mask is empty.
    """
    maps, masks = _maps_and_masks(maps, masks)
    order = np.argsort(-maps, axis=1, kind="stable")
    hits = np.take_along_axis(masks, order, axis=1)
    size = masks.sum(axis=1)
    top = np.arange(maps.shape[1])[None, :] < size[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(size > 0, (hits & top).sum(axis=1) / size, np.nan)


def pointing_game(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Whether each map's maximum falls inside its mask (1.0) or not (0.0).

    When several pixels share the maximum, any of them inside counts (as
    :func:`~personality_utils.cam.maps.pointing_game` for one map, and Quantus's
    ``PointingGame``).

    Returns
    -------
    (n,) float
        0.0 or 1.0; NaN where the mask is empty.
    """
    maps, masks = _maps_and_masks(maps, masks)
    peak = maps == maps.max(axis=1, keepdims=True)
    hit = (peak & masks).any(axis=1).astype(np.float64)
    return np.where(masks.any(axis=1), hit, np.nan)


# ----------------------------------------------------------------------------------------------
# Patch removal and the symmetric relevance gain
# ----------------------------------------------------------------------------------------------


def _grid(height: int, width: int, patch: int) -> tuple[int, int]:
    """Patches along each side; ValueError unless the patch size divides both."""
    if patch < 1 or height % patch or width % patch:
        raise ValueError(f"patch size {patch} does not divide the maps' size {height}x{width}")
    return height // patch, width // patch


def patch_scores(maps: np.ndarray, patch: int) -> np.ndarray:
    """Mean map value of each non-overlapping ``patch`` x ``patch`` cell.

    Parameters
    ----------
    maps : (n, h, w) float
    patch : int
        Side of a cell in pixels; must divide h and w.

    Returns
    -------
    (n, P) float
        P = (h / patch)·(w / patch) cells in row-major order (cell index ``row·(w / patch) +
        column``, the index that :func:`removal_curves`' orders use).
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"expected (n, h, w) maps, got shape {maps.shape}")
    rows, columns = _grid(maps.shape[1], maps.shape[2], patch)
    cells = maps.reshape(len(maps), rows, patch, columns, patch).mean(axis=(2, 4))
    return cells.reshape(len(maps), rows * columns)


def patch_orders(maps: np.ndarray, patch: int) -> np.ndarray:
    """MoRF orders: each map's patches by descending :func:`patch_scores` (ties in cell order,
    a stable sort). The LeRF order is its exact reverse, ``orders[:, ::-1]``.

    Returns
    -------
    (n, P) int
    """
    return np.argsort(-patch_scores(maps, patch), axis=1, kind="stable")


def _removal_outputs(
    predict: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    fills: np.ndarray,
    orders: np.ndarray,
    sources: np.ndarray,
    patch: int,
    steps: int,
    batch_size: int,
) -> np.ndarray:
    """Removal curves of ``orders[r]`` applied to image ``sources[r]``: (rows, steps + 1, k).

    The intact (nothing removed) and the filled (everything removed) image of each source are
    run once, however many orders it has; the other steps stream through ``predict`` in chunks
    of ``batch_size`` perturbed images, one call per chunk.
    """
    # Arrays (memory-mapped stores included) are indexed chunk by chunk, never copied whole.
    images = images if isinstance(images, np.ndarray) else np.asarray(images)
    fills = fills if isinstance(fills, np.ndarray) else np.asarray(fills)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 (n, h, w, 3) images, got {images.dtype} {images.shape}")
    if fills.shape != images.shape or fills.dtype != np.uint8:
        raise ValueError(f"fills are {fills.dtype} {fills.shape}, the images {images.shape}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    n, height, width, _ = images.shape
    rows, columns = _grid(height, width, patch)
    cells = rows * columns
    orders = np.asarray(orders)
    if orders.ndim != 2 or orders.shape[1] != cells:
        raise ValueError(f"orders must be (n, {cells}) patch indices, got shape {orders.shape}")
    if not (np.sort(orders, axis=1) == np.arange(cells)).all():
        raise ValueError("each row of orders must be a permutation of the patch indices")
    if len(sources) != len(orders) or not ((sources >= 0) & (sources < n)).all():
        raise ValueError(f"each order needs the index of one of the {n} images")
    ranks = np.empty(orders.shape, dtype=np.int32)
    np.put_along_axis(ranks, orders, np.arange(cells, dtype=np.int32)[None, :], axis=1)

    counts = np.round(np.arange(steps + 1) * cells / steps).astype(np.int64)
    inner = np.flatnonzero((counts > 0) & (counts < cells))
    # Jobs: the intact and the filled image of every source, then each order's inner steps.
    used = np.unique(sources)
    job_source = np.concatenate([used, used, np.repeat(sources, len(inner))])
    job_row = np.concatenate(
        [np.zeros(2 * len(used), np.int64), np.repeat(np.arange(len(orders)), len(inner))]
    )
    job_count = np.concatenate(
        [
            np.zeros(len(used), np.int64),
            np.full(len(used), cells),
            np.tile(counts[inner], len(orders)),
        ]
    )
    outputs = []
    for start in range(0, len(job_source), batch_size):
        chunk = slice(start, start + batch_size)
        source = job_source[chunk]
        cell_ranks = ranks[job_row[chunk]].reshape(-1, rows, columns)
        pixel_ranks = np.repeat(np.repeat(cell_ranks, patch, axis=1), patch, axis=2)
        removed = pixel_ranks < job_count[chunk, None, None]
        batch = np.where(removed[..., None], fills[source], images[source])
        out = np.asarray(predict(batch), dtype=np.float64)
        outputs.append(out.reshape(len(batch), -1))
    outputs = np.concatenate(outputs)

    curves = np.empty((len(orders), steps + 1, outputs.shape[1]))
    position = np.searchsorted(used, sources)
    curves[:, counts == 0] = outputs[position][:, None]
    curves[:, counts == cells] = outputs[len(used) + position][:, None]
    curves[:, inner] = outputs[2 * len(used) :].reshape(len(orders), len(inner), -1)
    return curves


def removal_curves(
    predict: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    fills: np.ndarray,
    orders: np.ndarray,
    patch: int,
    steps: int,
    batch_size: int = 256,
    sources: np.ndarray | None = None,
) -> np.ndarray:
    """The model's outputs as each image's patches are replaced by its fill, in ``orders``.

    At step k = 0..steps the first ``round(k·P / steps)`` patches of the image's order hold the
    fill image's pixels (k = 0: the image itself; k = steps: the fill).

    Parameters
    ----------
    predict : callable
        uint8 (m, h, w, 3) batch -> (m, outputs) float (e.g. the five pre-sigmoid traits).
    images, fills : uint8 (n, h, w, 3)
        The images and what replaces their removed patches (:func:`mean_fill`,
        :func:`blur_fill`).
    orders : (n, P) int
        Per image, a permutation of the patch indices (:func:`patch_orders`), first removed
        first.
    patch : int
        Side of a patch in pixels; must divide h and w.
    steps : int
        Steps from no patch to all of them (``steps + 1`` points).
    batch_size : int
        Perturbed images per ``predict`` call.
    sources : (m,) int, optional
        With several orders per image: the image of each row of ``orders`` (then (m, P)). The
        intact and the filled image of each are run once, however many orders it has.

    Returns
    -------
    (n, steps + 1, outputs) float, or (m, steps + 1, outputs) with ``sources``
    """
    orders = np.asarray(orders)
    if sources is None:
        if len(orders) != len(images):
            raise ValueError(f"{len(orders)} orders for {len(images)} images")
        sources = np.arange(len(images))
    return _removal_outputs(
        predict, images, fills, orders, np.asarray(sources), patch, steps, batch_size
    )


def srg(morf_curves: np.ndarray, lerf_curves: np.ndarray) -> np.ndarray:
    """Symmetric relevance gain: the area between the LeRF and the MoRF curve of one output.

    The trapezoid rule over the removed fraction k / steps in [0, 1] of ``LeRF - MoRF``:
    positive when removing what the map ranks highest first lowers the output faster than
    removing what it ranks lowest first.

    Parameters
    ----------
    morf_curves, lerf_curves : (n, steps + 1) float
        Curves of one output (:func:`removal_curves` with the output selected) with patches
        removed most relevant first and least relevant first.

    Returns
    -------
    (n,) float
    """
    morf = np.asarray(morf_curves, dtype=np.float64)
    lerf = np.asarray(lerf_curves, dtype=np.float64)
    if morf.shape != lerf.shape or morf.ndim != 2 or morf.shape[1] < 2:
        raise ValueError(
            f"expected two (n, steps + 1) curves of one shape, got {morf.shape} and {lerf.shape}"
        )
    return np.trapezoid(lerf - morf, np.linspace(0.0, 1.0, morf.shape[1]), axis=1)


def random_orders(n: int, cells: int, count: int, seed: int = 0) -> np.ndarray:
    """``count`` random patch orders of each of ``n`` images: (count, n, cells) permutations."""
    rng = np.random.default_rng(seed)
    return rng.permuted(np.broadcast_to(np.arange(cells), (count, n, cells)), axis=-1)


def null_srg(
    predict: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    fills: np.ndarray,
    patch: int,
    steps: int,
    count: int,
    seed: int = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """The symmetric relevance gain of rankings that carry no information.

    For each random order r (:func:`random_orders`), :func:`srg` with r as the MoRF order and
    its reverse as the LeRF order, as for a map that ranks patches at random: centred on 0.
    All ``count`` orders share one stream of :func:`removal_curves`' chunks.

    Returns
    -------
    (count, n, outputs) float
    """
    n, height, width = np.shape(images)[:3]
    rows, columns = _grid(height, width, patch)
    orders = random_orders(n, rows * columns, count, seed).reshape(count * n, -1)
    both = np.concatenate([orders, orders[:, ::-1]])
    sources = np.tile(np.arange(n), 2 * count)
    curves = _removal_outputs(predict, images, fills, both, sources, patch, steps, batch_size)
    morf, lerf = curves[: count * n], curves[count * n :]
    outputs = curves.shape[2]
    # srg() on (count·n·outputs, steps + 1) curves.
    gains = srg(
        morf.transpose(0, 2, 1).reshape(-1, steps + 1),
        lerf.transpose(0, 2, 1).reshape(-1, steps + 1),
    )
    return gains.reshape(count, n, outputs)


def mean_fill(images: np.ndarray, mean_image) -> np.ndarray:
    """Fills of the training mean image: the same for every image.

    Parameters
    ----------
    images : uint8 (n, h, w, 3)
    mean_image : array-like on the 0-255 scale
        (h, w, 3), or channels first (3, h, w) as
        :func:`~personality_utils.models.training.mean_image` returns it (a tensor is read with
        ``np.asarray``).

    Returns
    -------
    uint8 (n, h, w, 3)
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (n, h, w, 3) images, got shape {images.shape}")
    mean = np.asarray(mean_image, dtype=np.float64)
    if mean.shape != images.shape[1:] and mean.shape == (3, *images.shape[1:3]):
        mean = mean.transpose(1, 2, 0)
    if mean.shape != images.shape[1:]:
        raise ValueError(f"mean image has shape {mean.shape}, the images {images.shape[1:]}")
    pixels = np.clip(np.round(mean), 0, 255).astype(np.uint8)
    return np.repeat(pixels[None], len(images), axis=0)


def blur_fill(images: np.ndarray, sigma: float) -> np.ndarray:
    """Fills of each image blurred: ``scipy.ndimage.gaussian_filter`` over the two spatial axes
    of each channel (``sigma`` in pixels; edges reflected), rounded back to uint8.

    Returns
    -------
    uint8 (n, h, w, 3)
    """
    from scipy.ndimage import gaussian_filter

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (n, h, w, 3) images, got shape {images.shape}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    blurred = gaussian_filter(images.astype(np.float32), sigma=(0, sigma, sigma, 0))
    return np.clip(np.round(blurred), 0, 255).astype(np.uint8)


def fill_agreement(srg_a: np.ndarray, srg_b: np.ndarray) -> tuple[float, float]:
    """Do two fills rank the cells alike? Spearman's rank correlation (``scipy.stats.spearmanr``)
    of their mean SRG over the same (method, trait) cells.

    Cells where either is not finite are left out.

    Returns
    -------
    ``(rho, p)``; NaN twice with fewer than three cells left.
    """
    from scipy.stats import spearmanr

    a = np.asarray(srg_a, dtype=np.float64)
    b = np.asarray(srg_b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"expected two 1-D arrays of one length, got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3:
        return float("nan"), float("nan")
    result = spearmanr(a[keep], b[keep])
    return float(result.statistic), float(result.pvalue)


# ----------------------------------------------------------------------------------------------
# Intervals over people
# ----------------------------------------------------------------------------------------------


def interval(
    values: np.ndarray, persons: np.ndarray, n_boot: int = N_RESAMPLES, seed: int = 0
) -> dict:
    """Mean of per-image scores with a cluster-bootstrap interval that resamples people
    (:func:`~personality_utils.core.stats.bootstrap_interval`; NaN scores are left out).

    Parameters
    ----------
    values : (n,) float
    persons : (n,)
        The person of each image (:func:`~personality_utils.core.stats.people` of its clip).

    Returns
    -------
    dict
        ``value``, ``low``, ``high`` and ``n`` (the finite scores).
    """
    values = np.asarray(values, dtype=np.float64)
    persons = np.asarray(persons)
    if values.ndim != 1 or persons.shape != values.shape:
        raise ValueError(f"expected (n,) values and persons, got {values.shape}, {persons.shape}")
    value, low, high = bootstrap_interval(values, persons, n_boot, seed)
    return {"value": value, "low": low, "high": high, "n": int(np.isfinite(values).sum())}


def paired_difference(
    a: np.ndarray, b: np.ndarray, persons: np.ndarray, n_boot: int = N_RESAMPLES, seed: int = 0
) -> dict:
    """:func:`interval` of ``a - b`` on the same images (pairs with a NaN side are left out).

    Returns
    -------
    dict
        ``value``, ``low``, ``high`` and ``n`` (the pairs scored).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores differ in shape: {a.shape} and {b.shape}")
    return interval(a - b, persons, n_boot, seed)
