"""Where each trait's planted cause is, image by image (chapter 05b): the masks an attribution
map is scored against on the synthetic set.

The cue of a trait is read off the generator's planted weights
(:data:`~personality_utils.core.planted.TRAIT_WEIGHTS`), never typed in: a trait whose largest
weight is on the poster (``context_cue``) has the poster's true box; one whose largest weight is
on glasses has the glasses' region (the two lenses, the bridge and the temples, drawn from the
eye landmarks with the generator's proportions); any other trait has the union of the face parts
its planted action units move (:data:`~personality_utils.faces.facs.AU_REGIONS`, masks of
:func:`~personality_utils.faces.regions.region_masks`).
"""

from __future__ import annotations

import numpy as np

from personality_utils.cam.maps import box_mask
from personality_utils.core.planted import TRAIT_WEIGHTS
from personality_utils.core.vocabulary import TRAITS
from personality_utils.faces.alignment import eye_centres
from personality_utils.faces.facs import AU_REGIONS
from personality_utils.faces.regions import region_masks

__all__ = [
    "GLASSES_HALF_AXES",
    "planted_cue",
    "cue_label",
    "glasses_mask",
    "trait_masks",
]

#: The glasses' lens half-axes as a share of the inter-ocular distance, and how far the temples
#: reach beyond a lens (the generator draws these proportions:
#: :mod:`personality_utils.data.synthetic.render`), with a margin for the frame's width and blur.
GLASSES_HALF_AXES = (0.32, 0.24)
_TEMPLE = 0.5
_MARGIN = 0.06


def planted_cue(trait: str) -> str | tuple[str, ...]:
    """The planted cause of ``trait``: ``"poster"``, ``"glasses"`` or the face parts of its
    action units (a tuple, in the order of the weights), from the generator's planted weights."""
    weights = TRAIT_WEIGHTS[trait]
    strongest = max(weights, key=lambda feature: abs(weights[feature]))
    if strongest == "context_cue":
        return "poster"
    if strongest == "glasses":
        return "glasses"
    parts: list[str] = []
    for feature in weights:
        if feature.startswith("AU") and AU_REGIONS[int(feature[2:])] not in parts:
            parts.append(AU_REGIONS[int(feature[2:])])
    return tuple(parts)


def cue_label(trait: str) -> str:
    """The planted cause of ``trait`` in words (``"poster"``, ``"mouth + eyes"``)."""
    cue = planted_cue(trait)
    return cue if isinstance(cue, str) else " + ".join(cue)


def glasses_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """The glasses' region of one face, a (size, size) mask: two lens ellipses around the eye
    centres, the bridge between them and the temples beyond them, widened by a margin (the same
    region whether or not this person wears glasses: their absence is the cue too).

    Args:
        landmarks: (68, 2) points in pixels of the ``size`` image.
    """
    from PIL import Image, ImageDraw

    right, left = eye_centres(landmarks)
    iod = float(np.linalg.norm(left - right))
    if not np.isfinite(iod) or iod <= 0:
        return np.zeros((size, size), dtype=bool)
    across = (left - right) / iod
    down = np.array([-across[1], across[0]])
    half_x, half_y = (value + _MARGIN for value in GLASSES_HALF_AXES)
    angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for centre in (right, left):
        lens = [
            tuple(centre + iod * (half_x * np.cos(a) * across + half_y * np.sin(a) * down))
            for a in angles
        ]
        draw.polygon([tuple(map(float, point)) for point in lens], fill=1)
    outer = GLASSES_HALF_AXES[0] + _TEMPLE
    band = _MARGIN * iod
    start, end = right - outer * iod * across, left + outer * iod * across
    corners = [start - band * down, end - band * down, end + band * down, start + band * down]
    draw.polygon([tuple(map(float, point)) for point in corners], fill=1)
    return np.asarray(canvas, dtype=bool)


def trait_masks(
    landmarks: np.ndarray, poster_boxes: np.ndarray | None, size: int
) -> dict[str, np.ndarray]:
    """Each trait's planted region (:func:`planted_cue`) in every image, as (n, size, size) masks.

    Args:
        landmarks: (n, 68, 2) landmarks in pixels of the ``size`` image (NaN rows: no face, so
            empty face-part and glasses masks).
        poster_boxes: (n, 4) poster boxes in the same pixels, or None where the images hold no
            poster (face crops): the poster trait's masks are then empty.
        size: Side of the images (the model's input).

    Returns:
        ``{trait: bool (n, size, size)}`` in :data:`~personality_utils.core.vocabulary.TRAITS`
        order; an empty mask means the cause is not in that image.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    n = len(landmarks)
    masks = {trait: np.zeros((n, size, size), dtype=bool) for trait in TRAITS}
    for row in range(n):
        points = landmarks[row]
        has_face = bool(np.isfinite(points).all())
        parts = region_masks(points, size) if has_face else {}
        for trait in TRAITS:
            cue = planted_cue(trait)
            if cue == "poster":
                if poster_boxes is not None:
                    masks[trait][row] = box_mask(poster_boxes[row], size)
            elif not has_face:
                continue
            elif cue == "glasses":
                masks[trait][row] = glasses_mask(points, size)
            else:
                masks[trait][row] = np.logical_or.reduce([parts[part] for part in cue])
    return masks
