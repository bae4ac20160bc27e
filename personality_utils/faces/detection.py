"""Faces with dlib: HOG frontal detector and the 68-point shape predictor.

Chapter 01 uses it to check that dlib sees the synthetic faces; chapter 02 builds the aligned
face store on top of it. The 68-point model comes from the ``face-recognition-models`` wheel,
found on disk without importing that package (its ``__init__`` needs ``pkg_resources``).

:func:`detect_faces` returns every face of a frame (box, score, landmarks, alignment);
:func:`detect_face` returns the one a frame keeps (:func:`keep_order`: largest box, then
score). Both search a 640-px copy first and again with upsampling when that answer is empty,
weak or out of line with the frame (:func:`needs_finer_search`, thresholds
:data:`WEAK_SCORE` and :data:`BOX_SHARE`, chosen on real clips and photos).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from personality_utils.faces.alignment import alignment_matrix, apply_matrix, warp_face

__all__ = [
    "WEAK_SCORE",
    "BOX_SHARE",
    "Face",
    "FaceDetection",
    "shape_predictor_path",
    "needs_finer_search",
    "keep_order",
    "detect_faces",
    "detect_face",
    "AlignedFace",
    "align_frame",
    "detection_summary",
]


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
    raise FileNotFoundError(
        "shape_predictor_68_face_landmarks.dat missing from face-recognition-models"
    )


@functools.lru_cache(maxsize=1)
def _models():
    import dlib

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(shape_predictor_path()))


#: Below this HOG score the coarse pass's answer is weak and the finer search runs. Chosen on
#: real photos: on the 243 sampled frames of the 24 real First Impressions clips the coarse
#: scores have median 1.78 and 5th percentile 0.50, and on every frame below 0.5 the finer
#: pass found the same face (box overlap 0.64-0.89) with a higher score; the faces of the
#: photos in ``shared/data/faces`` score 1.1-2.1. A group photo whose faces sit at the coarse
#: pass's smallest window gets boxes of 0.3-0.5 there, too big for the faces they hold.
WEAK_SCORE = 0.5
#: A box side outside these shares of the scanned frame's shorter side is out of line with the
#: frame and the finer search runs: under 0.2 a face is at or below the coarse window (80 px
#: in a 640 x 360 copy is 0.22; the real clips' faces measure 0.24-0.6), over 0.9 a box fills
#: the frame, which no detection of a real face in these clips or photos does.
BOX_SHARE = (0.2, 0.9)


@dataclass
class Face:
    """One face of a frame (see :func:`detect_faces`).

    Attributes:
        box: (left, top, right, bottom) in full-resolution frame pixels.
        score: HOG detector score.
        landmarks: (68, 2) array of (x, y) in full-resolution frame pixels.
        matrix: The 2x3 alignment matrix (frame -> aligned crop of ``face_size``), see
            :func:`alignment_matrix`; crop with :func:`warp_face`.
        upsampled: Whether the finer (upsampled) search found it.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    matrix: np.ndarray
    upsampled: bool


@dataclass
class FaceDetection:
    """The face kept in a frame (the rule of :func:`keep_order`).

    Attributes:
        found: Whether any face was detected.
        score: HOG detector score of the kept face (NaN when none).
        box: (left, top, right, bottom) in full-resolution frame pixels.
        landmarks: (68, 2) array of (x, y) in full-resolution frame pixels.
        upsampled: Whether the finer (upsampled) search found it.
        n_faces: How many faces the detector found.
    """

    found: bool
    score: float = float("nan")
    box: tuple[float, float, float, float] | None = None
    landmarks: np.ndarray | None = None
    upsampled: bool = False
    n_faces: int = 0


def needs_finer_search(boxes: Sequence, scores: Sequence[float], shape: tuple[int, ...]) -> bool:
    """Whether the coarse pass's answer on a scanned copy of ``shape`` should be searched
    again with one level of upsampling: when it found nothing, when any box scores below
    :data:`WEAK_SCORE`, or when any box side is out of line with the frame (outside
    :data:`BOX_SHARE` of the copy's shorter side).

    ``boxes`` are (left, top, right, bottom) tuples or dlib rectangles in the copy's pixels.
    """
    if len(boxes) == 0:
        return True
    shorter = min(shape[:2])
    low, high = BOX_SHARE
    for box, score in zip(boxes, scores, strict=True):
        left, top, right, bottom = _corners(box)
        side = max(right - left, bottom - top) / shorter
        if score < WEAK_SCORE or not low <= side <= high:
            return True
    return False


def keep_order(boxes: Sequence, scores: Sequence[float]) -> list[int]:
    """The order in which faces are kept: the largest box area first, ties broken by the
    higher detector score, then by the detector's own order. The first is the face a frame
    keeps (the speaker, who fills most of a First Impressions frame)."""
    areas = [_area(box) for box in boxes]
    return sorted(range(len(areas)), key=lambda index: (-areas[index], -scores[index], index))


def _corners(box) -> tuple[float, float, float, float]:
    if hasattr(box, "left"):
        return box.left(), box.top(), box.right(), box.bottom()
    return tuple(box)


def _area(box) -> float:
    left, top, right, bottom = _corners(box)
    return float(max(0, right - left) * max(0, bottom - top))


def _search(rgb: np.ndarray, detect_width: int) -> tuple[list, list[float], bool, float]:
    """Boxes (in the scanned copy), scores, whether the finer search found them, and the
    copy's scale (see :func:`detect_faces`)."""
    from PIL import Image

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB frame (h, w, 3), got {rgb.dtype} {rgb.shape}")
    detector, _ = _models()
    height, width = rgb.shape[:2]
    scale = min(1.0, detect_width / width)
    small = rgb
    if scale < 1.0:
        size = (round(width * scale), round(height * scale))
        small = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
    boxes, scores, _ = detector.run(small, 0, 0.0)
    upsampled = False
    if needs_finer_search(boxes, scores, small.shape):
        fine_boxes, fine_scores, _ = detector.run(small, 1, 0.0)
        if len(fine_boxes):  # a weak coarse face is kept when the finer pass finds none
            boxes, scores, upsampled = fine_boxes, fine_scores, True
    return list(boxes), [float(score) for score in scores], upsampled, scale


def _landmarks(rgb: np.ndarray, box) -> np.ndarray:
    import dlib

    _, predictor = _models()
    rect = dlib.rectangle(*(round(v) for v in box))
    shape = predictor(rgb, rect)
    return np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.float32)


def _full_box(box, scale: float) -> tuple[float, float, float, float]:
    return tuple(float(v) / scale for v in _corners(box))


def detect_faces(rgb: np.ndarray, detect_width: int = 640, face_size: int = 224) -> list[Face]:
    """Every face dlib's HOG detector finds in a frame, with its landmarks and alignment, in
    the order of :func:`keep_order` (the first is the face :func:`detect_face` keeps).

    The detector scans a copy downscaled to ``detect_width`` (fast). The finer search, one
    level of upsampling (faces down to half the size), runs when :func:`needs_finer_search`
    says the coarse answer is empty, weak or out of line with the frame; its faces then replace
    the coarse ones (unless it finds none). Landmarks are fitted on the full-resolution frame.

    Args:
        rgb: uint8 array (height, width, 3).
        detect_width: Width of the copy the detector scans (frames narrower are not enlarged).
        face_size: Side of the aligned crop each face's ``matrix`` maps to.
    """
    boxes, scores, upsampled, scale = _search(rgb, detect_width)
    found = []
    for index in keep_order(boxes, scores):
        box = _full_box(boxes[index], scale)
        landmarks = _landmarks(rgb, box)
        matrix = alignment_matrix(landmarks, face_size)
        found.append(Face(box, scores[index], landmarks, matrix, upsampled))
    return found


def detect_face(rgb: np.ndarray, detect_width: int = 640) -> FaceDetection:
    """Find the face a frame keeps and place its 68 landmarks.

    The search is :func:`detect_faces`'s (a coarse pass on a copy ``detect_width`` wide, the
    finer upsampled pass when the coarse answer is empty, weak or out of line); of the faces
    found, the one with the largest box is kept, ties going to the higher detector score
    (:func:`keep_order`). Landmarks are fitted on the full-resolution frame, for that face
    only.

    Args:
        rgb: uint8 array (height, width, 3).
        detect_width: Width of the copy the detector scans (frames narrower are not enlarged).

    Returns:
        A :class:`FaceDetection`; ``found`` is False when no face was detected.
    """
    boxes, scores, upsampled, scale = _search(rgb, detect_width)
    if not boxes:
        return FaceDetection(found=False)
    best = keep_order(boxes, scores)[0]
    full_box = _full_box(boxes[best], scale)
    landmarks = _landmarks(rgb, full_box)
    return FaceDetection(True, scores[best], full_box, landmarks, upsampled, len(boxes))


@dataclass
class AlignedFace:
    """One sampled frame after detection and alignment.

    Attributes:
        detection: The dlib result in original-frame pixels.
        box_store: Face box in the square frame-store coordinates (NaN when no face).
        landmarks_store: Landmarks in frame-store coordinates ((68, 2), NaN when no face).
        landmarks_crop: Landmarks in the aligned crop ((68, 2), NaN when no face).
        crop: The aligned uint8 crop, or None when no face was found.
        matrix: The 2x3 alignment matrix (frame -> crop), or None.
    """

    detection: FaceDetection
    box_store: np.ndarray
    landmarks_store: np.ndarray
    landmarks_crop: np.ndarray
    crop: np.ndarray | None
    matrix: np.ndarray | None


def align_frame(
    rgb: np.ndarray, store_size: int = 224, face_size: int = 224, detect_width: int = 640
) -> AlignedFace:
    """Detect, place landmarks and align one full-resolution frame.

    Coordinates are also mapped into the square frame store (the whole frame squashed to
    ``store_size``), where the CAM chapter measures overlap.
    """
    detection = detect_face(rgb, detect_width=detect_width)
    missing = np.full((68, 2), np.nan, dtype=np.float32)
    if not detection.found:
        return AlignedFace(
            detection, np.full(4, np.nan, dtype=np.float32), missing, missing, None, None
        )
    height, width = rgb.shape[:2]
    scale = np.array([store_size / width, store_size / height])
    box = np.asarray(detection.box, dtype=np.float64).reshape(2, 2) * scale
    matrix = alignment_matrix(detection.landmarks, face_size)
    return AlignedFace(
        detection=detection,
        box_store=box.ravel().astype(np.float32),
        landmarks_store=(detection.landmarks * scale).astype(np.float32),
        landmarks_crop=apply_matrix(matrix, detection.landmarks).astype(np.float32),
        crop=warp_face(rgb, matrix, face_size),
        matrix=matrix,
    )


# ----------------------------------------------------------------------------------------------
# Measures of chapter 02
# ----------------------------------------------------------------------------------------------


def detection_summary(store) -> dict[str, float]:
    """Detection figures of one split's frame store (built with faces).

    Returns:
        frames, faces, detection_rate, share kept from the finer (upsampled) search, clips, and
        the share of clips that lost at least one frame (about 10% for the authors).
    """
    if store.detections is None:
        raise ValueError(f"{store.path}: the store was built without faces")
    found = store.detections["found"].astype(bool)
    per_clip = store.meta.assign(found=found).groupby("clip")["found"].all()
    return {
        "frames": len(found),
        "faces": int(found.sum()),
        "detection_rate": float(found.mean()) if len(found) else float("nan"),
        "upsampled_share": float(store.detections["upsampled"][found].mean())
        if found.any()
        else 0.0,
        "clips": len(per_clip),
        "clips_missing_frames": float((~per_clip).mean()) if len(per_clip) else float("nan"),
    }
