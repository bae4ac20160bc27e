"""The synthetic set's ground truth, read back: its sidecar files, the planted boxes of every
stored frame, dlib against the true landmarks, and a check that the labels follow the planted
function. Chapters 01, 02 and 05-07 use it on the synthetic set only (real data has no truth).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from personality_utils.core.planted import FEATURES
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.release import load_split_labels
from personality_utils.data.video import read_sampled_frames
from personality_utils.faces.alignment import eye_alignment_error, landmark_error_iod
from personality_utils.faces.detection import detect_face

if TYPE_CHECKING:
    from personality_utils.faces.detection import FaceDetection

__all__ = [
    "DetectionExample",
    "agreement_summary",
    "alignment_quality",
    "detection_example",
    "fit_labels",
    "label_fit",
    "landmark_agreement",
    "load_frame_truth",
    "load_ground_truth",
    "planted_share_table",
    "planted_weight_table",
    "store_boxes",
    "true_eye_alignment_errors",
]


def load_ground_truth(data_root: str | os.PathLike) -> dict:
    """Read ``ground_truth.json`` of a synthetic dataset.

    Raises:
        FileNotFoundError: If ``data_root`` is not a synthetic dataset (real data has none).
    """
    path = Path(data_root) / "ground_truth.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no ground truth here (only synthetic datasets have one)")
    return json.loads(path.read_text())


def load_frame_truth(data_root: str | os.PathLike, clip: str) -> dict[str, np.ndarray]:
    """Per-frame ground truth of one clip (landmarks, aus, face_box, poster_box)."""
    path = Path(data_root) / "ground_truth" / f"{clip.removesuffix('.mp4')}.npz"
    with np.load(path, allow_pickle=False) as content:
        return {key: content[key] for key in content.files}


def _true_landmarks_of_found(data_root: str | os.PathLike, store):
    """Yield (store row, true landmarks) for every frame where dlib found a face, reading each
    clip's ground truth once."""
    found = np.flatnonzero(store.detections["found"])
    clips = store.meta["clip"].to_numpy()
    frame_indices = store.meta["frame_index"].to_numpy()
    loaded_clip, truth = None, None
    for row in found:  # store rows are grouped by clip
        if clips[row] != loaded_clip:
            loaded_clip = clips[row]
            truth = load_frame_truth(data_root, loaded_clip)["landmarks"]
        yield row, truth[int(frame_indices[row])]


def store_boxes(data_root: str | os.PathLike, store, key: str = "poster_box") -> np.ndarray:
    """A ground-truth box of every frame of a store, in frame-store pixels: ``"poster_box"``
    (the planted context cue) or ``"face_box"`` (the true face). Frames are squashed to the
    store's square, so x and y are scaled separately."""
    if key not in ("poster_box", "face_box"):
        raise ValueError(f"key must be 'poster_box' or 'face_box', got {key!r}")
    size = store.frames.shape[1]
    meta = store.meta
    out = np.full((len(meta), 4), np.nan)
    loaded_clip, truth = None, None
    for row, (clip, index) in enumerate(zip(meta["clip"], meta["frame_index"], strict=True)):
        if clip != loaded_clip:
            loaded_clip, truth = clip, load_frame_truth(data_root, clip)[key]
        box = truth if truth.ndim == 1 else truth[int(index)]
        scale = np.array([size / meta["width"].iloc[row], size / meta["height"].iloc[row]] * 2)
        out[row] = np.asarray(box, dtype=np.float64) * scale
    return out


def landmark_agreement(data_root: str | os.PathLike, store) -> pd.DataFrame:
    """Compare the dlib detections kept in a frame store with the ground truth.

    Args:
        data_root: Dataset root (synthetic sets have ``ground_truth/``; real data has none).
        store: A :class:`~personality_utils.data.stores.FrameStore` built with faces.

    Returns:
        One row per stored frame: clip, frame_index, found, upsampled, score and ``error_iod``
        (mean distance of dlib's 68 landmarks from the true ones, in true inter-ocular
        distances; NaN where no face was found or no ground truth exists).
    """

    if store.detections is None:
        raise ValueError(f"{store.path}: the store was built without faces")
    table = store.meta[["clip", "frame_index"]].copy()
    for field in ("found", "upsampled", "score"):
        table[field] = store.detections[field]
    table["found"] = table["found"].astype(bool)
    errors = np.full(len(table), np.nan)
    if (Path(data_root) / "ground_truth").is_dir():
        for row, truth in _true_landmarks_of_found(data_root, store):
            errors[row] = landmark_error_iod(store.detections["landmarks_frame"][row], truth)
    table["error_iod"] = errors
    return table


def true_eye_alignment_errors(data_root: str | os.PathLike, store, face_size: int) -> np.ndarray:
    """For every frame with a face: where the *true* eye centres land after the alignment that
    dlib's landmarks produced, as the distance (crop pixels) from the canonical positions."""

    detected = store.detections["landmarks_frame"]
    return np.asarray(
        [
            eye_alignment_error(detected[row], truth, face_size)
            for row, truth in _true_landmarks_of_found(data_root, store)
        ]
    )


def label_fit(data_root: str | os.PathLike) -> pd.DataFrame:
    """Check that the written labels follow the documented function.

    Fits each trait by least squares on the realised, standardised features of every clip and
    compares the recovered weights with the planted ones.

    Returns:
        A DataFrame indexed by trait with ``r2`` (variance the linear fit explains; about
        1 - NOISE_SHARE when the labels are right) and ``weight_corr`` (correlation between
        recovered and planted weights).
    """

    truth = load_ground_truth(data_root)
    labels = pd.concat(load_split_labels(data_root).values())[list(TRAITS)]
    features = pd.DataFrame({name: info["features"] for name, info in truth["clips"].items()}).T
    return fit_labels(features.loc[labels.index], labels, np.asarray(truth["weight_matrix"]))


def fit_labels(features, labels, weight_matrix: np.ndarray) -> pd.DataFrame:
    """Least-squares fit of each trait on standardised features (see :func:`label_fit`).

    Args:
        features: DataFrame, one row per clip, the :data:`FEATURES` columns.
        labels: DataFrame, same rows, one column per trait.
        weight_matrix: Planted weights (traits x features).
    """

    features = features[list(FEATURES)].astype(float)
    standardised = (features - features.mean()) / features.std().replace(0, 1)
    design = np.column_stack([np.ones(len(standardised)), standardised.to_numpy()])
    targets = labels[list(TRAITS)].to_numpy(dtype=float)
    coefficients, *_ = np.linalg.lstsq(design, targets, rcond=None)
    residual = ((targets - design @ coefficients) ** 2).sum(axis=0)
    total = ((targets - targets.mean(axis=0)) ** 2).sum(axis=0)
    rows = {}
    for index, trait in enumerate(TRAITS):
        recovered = coefficients[1:, index]
        rows[trait] = {
            "r2": float(1 - residual[index] / total[index]),
            "weight_corr": float(np.corrcoef(recovered, weight_matrix[index])[0, 1]),
        }
    return pd.DataFrame(rows).T


# ----------------------------------------------------------------------------------------------
# The planted signal (chapter 01)
# ----------------------------------------------------------------------------------------------


def planted_weight_table(ground_truth: dict) -> pd.DataFrame:
    """The planted weights **W** (traits x standardised features, before the label scale),
    keeping only the features that drive at least one trait."""

    weights = pd.DataFrame(
        ground_truth["weight_matrix"], index=list(TRAITS), columns=ground_truth["features"]
    )
    return weights.loc[:, (weights != 0).any(axis=0)]


def planted_share_table(ground_truth: dict) -> pd.DataFrame:
    """Share of each label's variance planted per source (traits x sources)."""

    return pd.DataFrame(ground_truth["planted_shares"]).T


# ----------------------------------------------------------------------------------------------
# dlib against the ground truth (chapters 01-02)
# ----------------------------------------------------------------------------------------------


def agreement_summary(agreement: pd.DataFrame | None) -> dict[str, Any]:
    """Headline figures of a :func:`landmark_agreement` table (None or an empty table: no
    frame to measure, every rate None).

    Returns:
        frames, clips, detection_rate, upsampled_share (share of frames whose face came from
        the finer, upsampled search), and the mean, median and 90th percentile of
        ``error_iod`` (None when no frame has an error, e.g. on real data).
    """
    if agreement is None or len(agreement) == 0:  # no split has a frame on disk
        keys = ("detection_rate", "upsampled_share", "error_mean", "error_median", "error_p90")
        return {"frames": 0, "clips": 0, **dict.fromkeys(keys)}
    errors = agreement["error_iod"]
    measured = bool(errors.notna().any())
    return {
        "frames": len(agreement),
        "clips": int(agreement["clip"].nunique()),
        "detection_rate": float(agreement["found"].mean()),
        "upsampled_share": float(agreement["upsampled"].fillna(False).mean()),
        "error_mean": float(errors.mean()) if measured else None,
        "error_median": float(errors.median()) if measured else None,
        "error_p90": float(errors.quantile(0.9)) if measured else None,
    }


@dataclass
class DetectionExample:
    """One frame decoded again from its clip, with its true landmarks and dlib's detection.

    Attributes:
        clip, frame_index: Which frame.
        error_iod: Its landmark error in the agreement table.
        frame: The full-resolution RGB frame.
        true_landmarks: (68, 2) ground truth in frame pixels.
        detection: :func:`~personality_utils.faces.detection.detect_face` on the frame (the call
        the store
            made).
    """

    clip: str
    frame_index: int
    error_iod: float
    frame: np.ndarray
    true_landmarks: np.ndarray
    detection: FaceDetection


def detection_example(
    dataset, agreement: pd.DataFrame, frames_per_clip: int, quantile: float = 0.5
) -> DetectionExample:
    """The frame at ``quantile`` of the landmark errors (the median case by default), decoded
    again from its clip and run through dlib.

    Args:
        dataset: A synthetic :class:`~personality_utils.data.datasets.Dataset`.
        agreement: Its :func:`landmark_agreement` table.
        frames_per_clip: The profile's ``frames_per_clip`` (the sampling the store used).
        quantile: Which case, 0 (the best) to 1 (the worst).
    """

    ranked = agreement.dropna(subset=["error_iod"]).sort_values("error_iod")
    if ranked.empty:
        raise ValueError("no frame has a landmark error (no face found, or no ground truth)")
    chosen = ranked.iloc[min(int(quantile * len(ranked)), len(ranked) - 1)]
    clip, index = str(chosen["clip"]), int(chosen["frame_index"])
    sampled = read_sampled_frames(dataset.clips()[clip], frames_per_clip)
    frame = sampled.frames[sampled.indices.index(index)]
    true_landmarks = load_frame_truth(dataset.root, clip)["landmarks"][index]
    return DetectionExample(
        clip, index, float(chosen["error_iod"]), frame, true_landmarks, detect_face(frame)
    )


def alignment_quality(
    stores: Mapping[str, Any], face_size: int, data_root: str | os.PathLike | None = None
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """How well the eyes are aligned, per split (chapter 02).

    Args:
        stores: ``{split: FrameStore}`` built with faces.
        face_size: Side of the aligned crops.
        data_root: A synthetic dataset's root, for the measures against the ground truth; None
            on real data.

    Returns:
        A table with one row per split: ``eye_alignment_error_px`` (dlib's own eyes through the
        alignment, ≈ 0; None without faces) and, with ``data_root``,
        ``true_eye_alignment_error_px``, ``landmark_error_iod`` and ``landmark_error_iod_p90``;
        and ``{split: true eye error of each frame with a face}`` (empty without
        ``data_root``).
    """

    rows, per_frame = {}, {}
    for split, store in stores.items():
        found = np.flatnonzero(store.detections["found"])
        detected = store.detections["landmarks_frame"]
        own = [eye_alignment_error(detected[i], detected[i], face_size) for i in found]
        row = {"eye_alignment_error_px": float(np.mean(own)) if len(found) else None}
        if data_root is not None:
            agreement = landmark_agreement(data_root, store)
            true_error = true_eye_alignment_errors(data_root, store, face_size)
            per_frame[split] = true_error
            row["true_eye_alignment_error_px"] = float(np.mean(true_error))
            row["landmark_error_iod"] = float(agreement.error_iod.mean())
            row["landmark_error_iod_p90"] = float(agreement.error_iod.quantile(0.9))
        rows[split] = row
    return pd.DataFrame(rows).T, per_frame
