"""Raster images the chapters show: a map over a frame as the paper draws CAMs, the authors'
segmentation of a unit's top image, tiles laid out as one mosaic, face-part masks over a face,
and PNG data URIs for plotly. :mod:`~personality_utils.plots` puts them in figures.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np

__all__ = [
    "REGION_COLOURS",
    "TRAIT_COLOURS",
    "cam_overlay",
    "image_uri",
    "masks_over",
    "mosaic",
    "thumbnail",
    "unit_rows",
    "unit_segment",
]


#: One colour per trait, used by every chapter.
TRAIT_COLOURS = {
    "openness": "#8c564b",
    "conscientiousness": "#1f77b4",
    "extraversion": "#ff7f0e",
    "agreeableness": "#2ca02c",
    "neuroticism": "#d62728",
}
#: Face-part colours of the paper's Fig. 8: mouth purple, nose red, eyes blue, eyebrows orange.
REGION_COLOURS = {
    "mouth": "#9467bd",
    "nose": "#d62728",
    "eyes": "#1f77b4",
    "eyebrows": "#ff7f0e",
    "glasses": "#7f7f7f",
    "context": "#17becf",
    "noise": "#d9d9d9",
}

_JET = np.array(
    [(0, 0, 131), (0, 60, 170), (5, 255, 255), (255, 255, 0), (250, 0, 0), (128, 0, 0)],
    dtype=np.float64,
)
_JET_STOPS = np.array([0, 0.35, 0.5, 0.6, 0.7, 1.0])


def image_uri(image: np.ndarray, format: str = "png") -> str:
    """An RGB uint8 array as a data URI (PNG keeps synthetic edges exact; JPEG for photos)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format=format.upper())
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"data:image/{format};base64,{encoded}"


def cam_overlay(
    image: np.ndarray, cam_map: np.ndarray, alpha: float = 0.5, display_size: int | None = None
) -> np.ndarray:
    """A map drawn over an image as the paper shows CAMs: upsampled to the image as the authors
    did (MATLAB's bicubic ``imresize``, :func:`~personality_utils.cam.upsample`),
    rescaled to [0, 1] for display only, coloured with Jet (red = high) and blended."""
    from .cam import upsample

    image = np.asarray(image, dtype=np.float64)
    if image.shape[0] != image.shape[1]:
        raise ValueError(f"expected a square image, got {image.shape}")
    full = upsample(cam_map, image.shape[0])
    low, high = full.min(), full.max()
    scaled = (full - low) / (high - low) if high > low else np.zeros_like(full)
    colour = np.stack([np.interp(scaled, _JET_STOPS, _JET[:, c]) for c in range(3)], axis=-1)
    blended = np.clip((1 - alpha) * image + alpha * colour, 0, 255).astype(np.uint8)
    if display_size is None or display_size == blended.shape[0]:
        return blended
    from PIL import Image

    resized = Image.fromarray(blended).resize((display_size, display_size), Image.BILINEAR)
    return np.asarray(resized)


def mosaic(
    images: Sequence[np.ndarray | None], columns: int, tile: int, gap: int = 2
) -> np.ndarray:
    """Tiles resized to ``tile`` pixels and laid out ``columns`` to a row on a white canvas, as
    one RGB image (one plotly trace instead of one per tile keeps menus light). ``None``
    leaves a tile blank."""
    from PIL import Image

    if columns < 1 or tile < 1:
        raise ValueError("columns and tile must be positive")
    if not len(images):
        raise ValueError("mosaic needs at least one tile")
    rows = int(np.ceil(len(images) / columns))
    canvas = np.full(
        (rows * tile + (rows - 1) * gap, columns * tile + (columns - 1) * gap, 3),
        255,
        dtype=np.uint8,
    )
    for index, image in enumerate(images):
        if image is None:
            continue
        resized = np.asarray(
            Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((tile, tile), Image.BILINEAR)
        )
        top, left = (index // columns) * (tile + gap), (index % columns) * (tile + gap)
        canvas[top : top + tile, left : left + tile] = resized
    return canvas


def unit_segment(
    image: np.ndarray, unit_map: np.ndarray, threshold: float = 0.5, dim: float = 0.25
) -> np.ndarray:
    """The authors' view of a unit on one of its top images (Fig. 7): the image where the
    unit's upsampled map reaches ``threshold`` times its maximum, dimmed elsewhere."""
    from .semantics import unit_segmentation

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"expected a square RGB image, got {image.shape}")
    if not np.isfinite(unit_map).all():
        return np.full(image.shape, 255, dtype=np.uint8)  # no such top image
    keep = unit_segmentation(unit_map, image.shape[0], threshold)[..., None]
    return np.where(keep, image, dim * image).astype(np.uint8)


def thumbnail(
    image: np.ndarray, size: int, outline: str | None = None, width: int = 3
) -> np.ndarray:
    """An image resized to ``size`` pixels (bilinear), with a coloured frame of ``width`` pixels
    when ``outline`` (a ``"#rrggbb"`` colour) is given, e.g. to mark the frames two top sets
    share."""
    from PIL import Image

    small = np.asarray(
        Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((size, size), Image.BILINEAR)
    ).copy()
    if outline is not None:
        colour = [int(outline[i : i + 2], 16) for i in (1, 3, 5)]
        small[:width], small[-width:], small[:, :width], small[:, -width:] = (colour,) * 4
    return small


def masks_over(
    image: np.ndarray, masks: dict[str, np.ndarray], alpha: float = 150 / 255
) -> np.ndarray:
    """Face-part masks (:func:`~personality_utils.faces.region_masks`, at any grid that divides
    the image) painted over an image in :data:`REGION_COLOURS` (chapter 02's Fig. 8)."""
    image = np.asarray(image)
    size = image.shape[0]
    out = image.astype(np.float64)
    for region, mask in masks.items():
        mask = np.asarray(mask, dtype=bool)
        scale = size // mask.shape[0]
        full = np.kron(mask, np.ones((scale, scale), dtype=bool))
        colour = REGION_COLOURS[region].lstrip("#")
        rgb = np.array([int(colour[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)
        out[full] = out[full] * (1 - alpha) + rgb * alpha
    return out.astype(np.uint8)


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
        stats: Their :class:`~personality_utils.units.UnitStats`.
        n_images: Top images per row (at most the statistics' N).
    """
    from . import semantics, units

    n_images = min(n_images, stats.top_n)
    maps = semantics.top_unit_maps(trained, images, stats, layer, unit_list, n=n_images)
    histograms = units.unit_histograms(stats, layer, stats.layer_sizes[layer][0])
    tiles: list[np.ndarray | None] = []
    for row, unit in enumerate(unit_list):
        tiles += [
            unit_segment(images[image], maps.maps[row, k]) if image >= 0 else None
            for k, image in enumerate(maps.image_indices[row])
        ]
        tiles.append(cam_overlay(background, histograms[unit].astype(np.float32), alpha=0.55))
    return mosaic(tiles, columns=n_images + 1, tile=tile)
