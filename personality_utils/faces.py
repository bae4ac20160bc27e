"""Faces with dlib: HOG frontal detector and the 68-point shape predictor.

Chapter 01 uses it to check that dlib sees the synthetic faces; chapter 02 builds the aligned
face store on top of it. The 68-point model comes from the ``face-recognition-models`` wheel,
found on disk without importing that package (its ``__init__`` needs ``pkg_resources``).
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "LEFT_EYE",
    "RIGHT_EYE",
    "FaceDetection",
    "shape_predictor_path",
    "detect_face",
    "eye_centres",
    "inter_ocular_distance",
    "landmark_error_iod",
]

#: iBUG 68-point indices of the subject's right eye (image left) and left eye (image right).
RIGHT_EYE = tuple(range(36, 42))
LEFT_EYE = tuple(range(42, 48))


def shape_predictor_path() -> Path:
    """Path of dlib's 68-point shape predictor shipped by ``face-recognition-models``.

    Raises:
        FileNotFoundError: If the package or its model file is not installed.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "face-recognition-models is not installed; it ships dlib's 68-point model "
            "(pip install face-recognition-models)"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "models" / "shape_predictor_68_face_landmarks.dat"
        if path.is_file():
            return path
    raise FileNotFoundError("shape_predictor_68_face_landmarks.dat missing from face-recognition-models")


@functools.lru_cache(maxsize=1)
def _models():
    import dlib

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(shape_predictor_path()))


@dataclass
class FaceDetection:
    """The largest face dlib found in a frame.

    Attributes:
        found: Whether any face was detected.
        score: HOG detector score of the chosen face (NaN when none).
        box: (left, top, right, bottom) in full-resolution frame pixels.
        landmarks: (68, 2) array of (x, y) in full-resolution frame pixels.
        upsampled: Whether the finer fallback search found it.
    """

    found: bool
    score: float = float("nan")
    box: tuple[float, float, float, float] | None = None
    landmarks: np.ndarray | None = None
    upsampled: bool = False


def detect_face(rgb: np.ndarray, detect_width: int = 640) -> FaceDetection:
    """Find the largest face with dlib's HOG detector and place its 68 landmarks.

    Detection runs on a copy downscaled to ``detect_width`` (fast); only when nothing is found
    does it retry with one level of upsampling. Landmarks are always fitted on the
    full-resolution frame.

    Args:
        rgb: uint8 array (height, width, 3).
        detect_width: Width of the copy the detector scans (frames narrower are not enlarged).

    Returns:
        A :class:`FaceDetection`; ``found`` is False when no face was detected.
    """
    import dlib
    from PIL import Image

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB frame (h, w, 3), got {rgb.dtype} {rgb.shape}")
    detector, predictor = _models()
    height, width = rgb.shape[:2]
    scale = min(1.0, detect_width / width)
    small = rgb
    if scale < 1.0:
        size = (round(width * scale), round(height * scale))
        small = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
    upsampled = False
    boxes, scores, _ = detector.run(small, 0, 0.0)
    if not boxes:
        boxes, scores, _ = detector.run(small, 1, 0.0)
        upsampled = True
    if not boxes:
        return FaceDetection(found=False)
    best = int(np.argmax([box.area() for box in boxes]))
    box = boxes[best]
    full_box = tuple(float(v) / scale for v in (box.left(), box.top(), box.right(), box.bottom()))
    rect = dlib.rectangle(*(int(round(v)) for v in full_box))
    shape = predictor(rgb, rect)
    landmarks = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.float32)
    return FaceDetection(True, float(scores[best]), full_box, landmarks, upsampled)


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
