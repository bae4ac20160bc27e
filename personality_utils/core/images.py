"""Images as the book shows them: the trait and region colours, PNG/JPEG data URIs,
thumbnails, mosaics and masks drawn over a face.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np

__all__ = [
    "REGION_COLOURS",
    "TRAIT_COLOURS",
    "image_uri",
    "masks_over",
    "mosaic",
    "thumbnail",
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
    """Face-part masks (:func:`~personality_utils.faces.regions.region_masks`, at any grid that
    divides
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
