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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "LEFT_EYE",
    "RIGHT_EYE",
    "WEAK_SCORE",
    "BOX_SHARE",
    "Face",
    "FaceDetection",
    "shape_predictor_path",
    "needs_finer_search",
    "keep_order",
    "detect_faces",
    "detect_face",
    "eye_centres",
    "inter_ocular_distance",
    "landmark_error_iod",
    "CANONICAL_EYES",
    "canonical_eyes",
    "alignment_matrix",
    "apply_matrix",
    "warp_face",
    "AlignedFace",
    "align_frame",
    "REGIONS",
    "region_masks",
    "mean_face",
    "average_face",
    "mask_areas",
    "detection_summary",
    "eye_alignment_error",
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


def eye_alignment_error(detected: np.ndarray, reference: np.ndarray, size: int) -> float:
    """Distance in crop pixels between the canonical eye positions and the ``reference`` eye
    centres after the alignment estimated from ``detected`` landmarks (mean of both eyes).

    With ``reference = detected`` this checks the transform itself (≈ 0); with the true
    landmarks of a synthetic frame it measures how far dlib's errors move the real eyes.
    """
    matrix = alignment_matrix(detected, size)
    aligned = np.stack(eye_centres(apply_matrix(matrix, reference)))
    return float(np.linalg.norm(aligned - canonical_eyes(size), axis=1).mean())
