"""Units' maps drawn over faces: one unit's segmentation, and rows of top images per unit."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from personality_utils.cam.overlay import cam_overlay
from personality_utils.core.images import mosaic
from personality_utils.units import activations, semantics
from personality_utils.units.semantics import unit_segmentation

__all__ = [
    "unit_rows",
    "unit_segment",
]


def unit_segment(
    image: np.ndarray, unit_map: np.ndarray, threshold: float = 0.5, dim: float = 0.25
) -> np.ndarray:
    """The authors' view of a unit on one of its top images (Fig. 7): the image where the
    unit's upsampled map reaches ``threshold`` times its maximum, dimmed elsewhere."""

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"expected a square RGB image, got {image.shape}")
    if not np.isfinite(unit_map).all():
        return np.full(image.shape, 255, dtype=np.uint8)  # no such top image
    keep = unit_segmentation(unit_map, image.shape[0], threshold)[..., None]
    return np.where(keep, image, dim * image).astype(np.uint8)


def unit_rows(
    trained,
    images: np.ndarray,
    stats,
    layer: str,
    unit_list: Sequence[int],
    background: np.ndarray,
    n_images: int = 5,
    tile: int = 64,
) -> np.ndarray:
    """One row per unit (chapter 06's Figs. 9 and 11 and its explorer): the unit's top images,
    segmented as the authors did (:func:`unit_segment`), then its peak histogram on its layer's
    own grid drawn over ``background`` (the average face), as one mosaic image.

    Args:
        trained: The model whose units these are.
        images: The images the statistics ranked (uint8, in the statistics' order).
        stats: Their :class:`~personality_utils.units.activations.UnitStats`.
        n_images: Top images per row (at most the statistics' N).
    """

    n_images = min(n_images, stats.top_n)
    maps = semantics.top_unit_maps(trained, images, stats, layer, unit_list, n=n_images)
    histograms = activations.unit_histograms(stats, layer, stats.layer_sizes[layer][0])
    tiles: list[np.ndarray | None] = []
    for row, unit in enumerate(unit_list):
        tiles += [
            unit_segment(images[image], maps.maps[row, k]) if image >= 0 else None
            for k, image in enumerate(maps.image_indices[row])
        ]
        tiles.append(cam_overlay(background, histograms[unit].astype(np.float32), alpha=0.55))
    return mosaic(tiles, columns=n_images + 1, tile=tile)
