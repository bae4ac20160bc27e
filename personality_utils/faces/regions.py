"""Face parts from the 68 landmarks (eyes, eyebrows, nose, mouth, ...), as masks on the
aligned crop, and the average face.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from personality_utils.faces.alignment import eye_centres

__all__ = [
    "REGIONS",
    "region_masks",
    "mean_face",
    "average_face",
    "mask_areas",
]


# ----------------------------------------------------------------------------------------------
# Face-part masks (Fig. 8)
# ----------------------------------------------------------------------------------------------

#: The four face parts of the paper's Fig. 8, in drawing order.
REGIONS = ("eyebrows", "eyes", "nose", "mouth")


def _region_polygons(landmarks: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Polygons of each face part, from one set of 68 landmarks (any coordinate frame)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    right, left = eye_centres(landmarks)
    iod = float(np.linalg.norm(left - right))
    across = (left - right) / iod
    down = np.array([-across[1], across[0]])  # towards the chin
    polygons: dict[str, list[np.ndarray]] = {region: [] for region in REGIONS}
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    for centre, start in ((right, 36), (left, 42)):
        width = np.linalg.norm(landmarks[start + 3] - landmarks[start])
        half_width, half_height = 0.65 * width, 0.16 * iod
        polygons["eyes"].append(
            np.array(
                [
                    centre + half_width * np.cos(a) * across + half_height * np.sin(a) * down
                    for a in angles
                ]
            )
        )
    for start in (17, 22):
        brow = landmarks[start : start + 5]
        polygons["eyebrows"].append(
            np.concatenate([brow - 0.09 * iod * down, brow[::-1] + 0.09 * iod * down])
        )
    bridge_top = landmarks[27] + 0.05 * iod * down
    polygons["nose"].append(
        np.array(
            [
                bridge_top - 0.10 * iod * across,
                bridge_top + 0.10 * iod * across,
                landmarks[35] + 0.08 * iod * across,
                landmarks[33] + 0.06 * iod * down,
                landmarks[31] - 0.08 * iod * across,
            ]
        )
    )
    mouth = landmarks[48:60]
    centre = mouth.mean(axis=0)
    polygons["mouth"].append(centre + 1.2 * (mouth - centre))
    return polygons


def region_masks(
    landmarks: np.ndarray, size: int, grid: int | None = None, min_coverage: float = 0.25
) -> dict[str, np.ndarray]:
    """Masks of the eyebrows, eyes, nose and mouth drawn from 68 landmarks.

    Args:
        landmarks: (68, 2) points in the pixel coordinates of a ``size`` x ``size`` image (the
            mean landmarks of the aligned faces, or one frame's own).
        size: Side of the image in pixels.
        grid: If given, masks on a ``grid`` x ``grid`` lattice (e.g. 14, the conv5 map at 224
            input): a cell belongs to the part that covers most of it, if that part covers at
            least ``min_coverage`` of the cell. Parts are then disjoint by construction.

    Returns:
        ``{region: bool array}`` of shape (size, size), or (grid, grid) with ``grid``.
    """
    from PIL import Image, ImageDraw

    if np.asarray(landmarks).shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got {np.asarray(landmarks).shape}")
    masks = {}
    for region, polygons in _region_polygons(landmarks).items():
        canvas = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(canvas)
        for polygon in polygons:
            draw.polygon([tuple(map(float, point)) for point in polygon], fill=1)
        masks[region] = np.asarray(canvas, dtype=bool)
    if grid is None:
        return masks
    if size % grid:
        raise ValueError(f"size {size} is not a multiple of the grid {grid}")
    cell = size // grid
    coverage = np.stack(
        [masks[region].reshape(grid, cell, grid, cell).mean(axis=(1, 3)) for region in REGIONS]
    )
    winner = coverage.argmax(axis=0)
    keep = coverage.max(axis=0) >= min_coverage
    return {region: (winner == index) & keep for index, region in enumerate(REGIONS)}


def mean_face(*crop_arrays: np.ndarray, batch: int = 512) -> np.ndarray:
    """Average of the aligned crops of one or more arrays (e.g. train and validation),
    streamed over memory-mapped stores, as uint8."""
    count = sum(len(crops) for crops in crop_arrays)
    if count == 0:
        raise ValueError("no faces to average")
    total = np.zeros(crop_arrays[0].shape[1:], dtype=np.float64)
    for crops in crop_arrays:
        for start in range(0, len(crops), batch):
            total += np.asarray(crops[start : start + batch], dtype=np.float64).sum(axis=0)
    return np.clip(np.round(total / count), 0, 255).astype(np.uint8)


def average_face(
    face_stores: Mapping, splits: Sequence[str] = ("train", "validation")
) -> tuple[np.ndarray, np.ndarray, int]:
    """The average aligned face and the mean landmarks over the ``splits`` present in
    ``face_stores`` (the base of the face-part masks, Fig. 8).

    Returns:
        The uint8 average crop (:func:`mean_face`), the (68, 2) mean landmarks in crop pixels
        (NaN rows ignored) and how many faces were averaged.
    """
    pooled = [face_stores[split] for split in splits if split in face_stores]
    if not pooled:
        raise ValueError(f"none of the splits {tuple(splits)} has a face store")
    image = mean_face(*(store.crops for store in pooled))
    landmarks = np.nanmean(np.concatenate([store.landmarks for store in pooled]), axis=0)
    return image, landmarks, sum(len(store) for store in pooled)


def mask_areas(masks: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Pixels (or grid cells) of each face part of :func:`region_masks`, in :data:`REGIONS`
    order."""
    return {region: int(np.asarray(masks[region]).sum()) for region in REGIONS}
