"""A class activation map drawn over its image (upsampled, jet colours)."""

from __future__ import annotations

import numpy as np

from personality_utils.cam.maps import upsample
from personality_utils.core.images import _JET, _JET_STOPS

__all__ = [
    "cam_overlay",
]


def cam_overlay(
    image: np.ndarray, cam_map: np.ndarray, alpha: float = 0.5, display_size: int | None = None
) -> np.ndarray:
    """A map drawn over an image as the paper shows CAMs: upsampled to the image as the authors
    did (MATLAB's bicubic ``imresize``, :func:`~personality_utils.cam.maps.upsample`),
    rescaled to [0, 1] for display only, coloured with Jet (red = high) and blended."""

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
