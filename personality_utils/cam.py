"""Scoring class activation maps against face boxes and face-part masks.

Chapter 05 uses it: the paper's overlap measure (Section 4.2), the baselines it lacks (a centre
prior and random maps), the pointing game and the energy inside the box. Maps are plain arrays
here; computing them is the models' job (:meth:`personality_utils.models.CAMModel.cam`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = [
    "upsample",
    "binarise",
    "box_mask",
    "overlap",
    "pointing_game",
    "energy_in_box",
    "centre_prior",
    "random_map",
    "region_mass",
]


def upsample(cam: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of a (h, w) map to (size, size), as the authors display CAMs."""
    import torch
    import torch.nn.functional as F

    tensor = torch.as_tensor(np.asarray(cam, dtype=np.float32))[None, None]
    resized = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False)
    return resized[0, 0].numpy()


def binarise(
    cam: np.ndarray, fraction: float = 0.8, mode: Literal["raw", "minmax"] = "raw"
) -> np.ndarray:
    """The paper's M_CAM: pixels at or above ``fraction`` of the map's maximum.

    ``mode="raw"`` thresholds at ``fraction · max`` of the map as it is (the paper's wording;
    negative values can never pass when the maximum is positive). ``mode="minmax"`` first
    rescales the map to [0, 1], so the threshold is ``min + fraction · (max - min)``. A map whose
    maximum is not positive in raw mode has no activated region (an empty mask).
    """
    cam = np.asarray(cam, dtype=np.float64)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if mode == "raw":
        top = cam.max()
        if top <= 0:
            return np.zeros(cam.shape, dtype=bool)
        return cam >= fraction * top
    if mode == "minmax":
        low, high = cam.min(), cam.max()
        if high <= low:
            return np.ones(cam.shape, dtype=bool)
        return (cam - low) / (high - low) >= fraction
    raise ValueError(f"mode must be 'raw' or 'minmax', got {mode!r}")


def box_mask(box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """Boolean (size, size) mask of a (left, top, right, bottom) box; pixel (x, y) is inside
    when its centre (x + 0.5, y + 0.5) is."""
    left, top, right, bottom = (float(v) for v in box)
    centres = np.arange(size) + 0.5
    inside_x = (centres >= left) & (centres <= right)
    inside_y = (centres >= top) & (centres <= bottom)
    return inside_y[:, None] & inside_x[None, :]


def overlap(cam_mask: np.ndarray, face_mask: np.ndarray) -> float:
    """The paper's overlap |M_face ∩ M_CAM| / |M_CAM| (a recall of the map by the face box).

    Returns NaN when the map has no activated pixel.
    """
    cam_mask = np.asarray(cam_mask, dtype=bool)
    face_mask = np.asarray(face_mask, dtype=bool)
    if cam_mask.shape != face_mask.shape:
        raise ValueError(f"mask shapes differ: {cam_mask.shape} and {face_mask.shape}")
    area = cam_mask.sum()
    return float((cam_mask & face_mask).sum() / area) if area else float("nan")


def pointing_game(cam: np.ndarray, face_mask: np.ndarray) -> bool:
    """Whether the map's maximum falls inside the face (ties: any maximal pixel counts)."""
    cam = np.asarray(cam)
    return bool(np.asarray(face_mask, dtype=bool)[cam == cam.max()].any())


def energy_in_box(cam: np.ndarray, face_mask: np.ndarray) -> float:
    """Share of the map's positive mass inside the face (NaN if the map has none)."""
    positive = np.clip(np.asarray(cam, dtype=np.float64), 0, None)
    total = positive.sum()
    return (
        float(positive[np.asarray(face_mask, dtype=bool)].sum() / total) if total else float("nan")
    )


def centre_prior(size: int, sigma: float = 0.25) -> np.ndarray:
    """A Gaussian at the image centre, ``sigma`` as a fraction of the side: the map a model that
    always looked at the middle of the frame would give."""
    coordinates = (np.arange(size) + 0.5) / size - 0.5
    squared = coordinates[:, None] ** 2 + coordinates[None, :] ** 2
    return np.exp(-squared / (2 * sigma**2))


def random_map(size: int, grid: int, rng: np.random.Generator) -> np.ndarray:
    """A random map at the model's grid resolution, upsampled like a CAM."""
    return upsample(rng.random((grid, grid)), size)


def region_mass(cam: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, float]:
    """Share of the map's positive mass on each face-part mask (and ``"elsewhere"``)."""
    positive = np.clip(np.asarray(cam, dtype=np.float64), 0, None)
    total = positive.sum()
    shares = {}
    covered = np.zeros(positive.shape, dtype=bool)
    for region, mask in masks.items():
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != positive.shape:
            raise ValueError(f"mask {region!r} has shape {mask.shape}, map {positive.shape}")
        shares[region] = float(positive[mask].sum() / total) if total else float("nan")
        covered |= mask
    shares["elsewhere"] = float(positive[~covered].sum() / total) if total else float("nan")
    return shares
