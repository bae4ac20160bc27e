"""Landmark geometry and eye-based alignment to the face crop: the eyes' centres and
inter-ocular distance, the canonical eye positions, the similarity transform, the warp, and how far
the eyes land from where they should.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "LEFT_EYE",
    "RIGHT_EYE",
    "eye_centres",
    "inter_ocular_distance",
    "landmark_error_iod",
    "CANONICAL_EYES",
    "canonical_eyes",
    "alignment_matrix",
    "apply_matrix",
    "warp_face",
    "eye_alignment_error",
]

#: iBUG 68-point indices of the subject's right eye (image left) and left eye (image right).
RIGHT_EYE = tuple(range(36, 42))
LEFT_EYE = tuple(range(42, 48))


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the subject's right eye (image left) and left eye: means of 36-41, 42-47."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    return landmarks[list(RIGHT_EYE)].mean(axis=0), landmarks[list(LEFT_EYE)].mean(axis=0)


def inter_ocular_distance(landmarks: np.ndarray) -> float:
    """Distance between the two eye centres."""
    right, left = eye_centres(landmarks)
    return float(np.linalg.norm(left - right))


def landmark_error_iod(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean point-to-point distance over the 68 landmarks, in units of the true inter-ocular
    distance (the usual normalised mean error)."""
    predicted = np.asarray(predicted, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if predicted.shape != (68, 2) or truth.shape != (68, 2):
        raise ValueError(f"expected two (68, 2) arrays, got {predicted.shape} and {truth.shape}")
    return float(np.linalg.norm(predicted - truth, axis=1).mean() / inter_ocular_distance(truth))


# ----------------------------------------------------------------------------------------------
# Alignment by the eyes
# ----------------------------------------------------------------------------------------------

#: Canonical eye centres as fractions of the crop side: (x, y) of the subject's right eye (image
#: left) and left eye. With the 68-point mean shape this puts the brows, the mouth and the chin
#: inside the crop with a margin (chin at about 0.87 of the side).
CANONICAL_EYES = ((0.5 - 0.13, 0.40), (0.5 + 0.13, 0.40))


def canonical_eyes(size: int) -> np.ndarray:
    """Canonical eye centres in pixels of a ``size`` x ``size`` crop, (2, 2) array."""
    return np.asarray(CANONICAL_EYES, dtype=np.float64) * size


def alignment_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """The similarity transform (2x3, crop = M @ [x, y, 1]) that maps the two eye centres of
    ``landmarks`` exactly onto the canonical positions of a ``size`` crop."""
    source = np.stack(eye_centres(landmarks))
    target = canonical_eyes(size)
    source_vector = source[1] - source[0]
    target_vector = target[1] - target[0]
    # A similarity is multiplication by one complex number plus a translation.
    ratio = complex(*target_vector) / complex(*source_vector)
    linear = np.array([[ratio.real, -ratio.imag], [ratio.imag, ratio.real]])
    translation = target[0] - linear @ source[0]
    return np.column_stack([linear, translation])


def apply_matrix(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (n, 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def warp_face(rgb: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Resample the aligned ``size`` x ``size`` crop (bilinear; outside the frame is black)."""
    from PIL import Image

    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    image = Image.fromarray(rgb).transform(
        (size, size), Image.AFFINE, data=tuple(inverse.ravel()), resample=Image.BILINEAR
    )
    return np.asarray(image)


def eye_alignment_error(detected: np.ndarray, reference: np.ndarray, size: int) -> float:
    """Distance in crop pixels between the canonical eye positions and the ``reference`` eye
    centres after the alignment estimated from ``detected`` landmarks (mean of both eyes).

    With ``reference = detected`` this checks the transform itself (≈ 0); with the true
    landmarks of a synthetic frame it measures how far dlib's errors move the real eyes.
    """
    matrix = alignment_matrix(detected, size)
    aligned = np.stack(eye_centres(apply_matrix(matrix, reference)))
    return float(np.linalg.norm(aligned - canonical_eyes(size), axis=1).mean())
