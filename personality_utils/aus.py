"""Action units for chapter 07: per-frame AU intensities, the paper's Table 2, AUs and traits.

Three sources of AU intensities behind :func:`au_intensities` (OpenFace CSV files, a geometric
estimator on dlib's 68 landmarks, the synthetic ground truth); the paper's unit-vs-AU overlap test
(Table 2) with a clip-level variant, a permutation null and Benjamini-Hochberg; a ridge model from
clip-mean AUs to the five traits and a trait x AU correlation matrix.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from . import paper
from .data import TRAITS, DataError
from .facs import AU_IDS, AU_REGIONS, MEAN_SHAPE, deform
from .stats import N_RESAMPLES, permutation_p_value, trait_accuracy

__all__ = [
    "AU_COLUMNS",
    "GEOMETRY_BLIND",
    "GEOMETRY_PROXIES",
    "MEASURES",
    "OPENFACE_LAYOUTS",
    "PRESENCE_COLUMNS",
    "RIGID_POINTS",
    "OpenFaceError",
    "OpenFaceFile",
    "RidgeResult",
    "align_landmarks",
    "au_intensities",
    "clip_max",
    "clip_means",
    "clip_unit_overlap",
    "compare_with_planted",
    "estimate_from_landmarks",
    "estimator_correlation",
    "split_intensities",
    "fit_au_ridge",
    "fit_dataset_au_model",
    "landmark_measures",
    "openface_intensities",
    "overlap_p_value",
    "paper_table2",
    "permutation_test",
    "read_openface_csv",
    "region_agreement",
    "region_agreement_summary",
    "response_matrix",
    "top_items",
    "trait_au_correlation",
    "truth_intensities",
    "truth_landmarks",
    "unit_overlap",
    "unit_top_clips",
]

log = logging.getLogger(__name__)

#: The paper's 17 AUs (OpenFace's intensity set) as column names, ``AU01`` ... ``AU45``.
AU_COLUMNS: tuple[str, ...] = tuple(f"AU{au:02d}" for au in AU_IDS)
#: OpenFace's 18 presence AUs (the intensity set plus AU28, lip suck).
PRESENCE_COLUMNS: tuple[str, ...] = tuple(f"AU{au:02d}" for au in sorted((*AU_IDS, 28)))


# ----------------------------------------------------------------------------------------------
# (a) OpenFace CSV files
# ----------------------------------------------------------------------------------------------

#: The CSV layouts :func:`read_openface_csv` reads, told apart by their header.
OPENFACE_LAYOUTS: dict[str, str] = {
    "openface2-short": (
        "OpenFace 2.x FeatureExtraction with some outputs off (e.g. -aus -pose): frame, face_id, "
        "timestamp, confidence, success, [pose_*], 17 AUxx_r, 18 AUxx_c; ',' separators"
    ),
    "openface2-full": (
        "OpenFace 2.x with every output on: 714 columns (gaze, eye landmarks, pose, 2D and 3D "
        "landmarks, shape parameters, then the AUs)"
    ),
    "openface-pre2": (
        "OpenFace 0.x/1.x (2016-2017): no face_id column, ', ' separators (rows rewritten by the "
        "AU post-processing use ','); the AU set depends on the release: the WACV 2016 models "
        "give 14 intensities (no AU07_r, AU23_r, AU45_r)"
    ),
}

_OPENFACE_REQUIRED = ("frame", "confidence", "success")


class OpenFaceError(DataError):
    """An OpenFace CSV file is malformed or lacks columns; the message names the file."""


@dataclass
class OpenFaceFile:
    """One OpenFace output file, one row per video frame.

    Attributes:
        path: The file.
        layout: One of :data:`OPENFACE_LAYOUTS`.
        intensity: AU intensities (0-5), index ``frame`` (OpenFace's 1-based frame number),
            columns :data:`AU_COLUMNS`; NaN on frames that fail the filter and for AUs the
            file lacks.
        presence: AU presence (0/1), columns :data:`PRESENCE_COLUMNS`, same rows and filter.
        confidence: OpenFace's tracking confidence per frame.
        success: OpenFace's success flag per frame.
        valid: Frames kept: ``success == 1`` and ``confidence >= min_confidence``.
        missing: Intensity and presence columns (``AU07_r`` ...) absent from the file.
    """

    path: Path
    layout: str
    intensity: pd.DataFrame
    presence: pd.DataFrame
    confidence: pd.Series
    success: pd.Series
    valid: pd.Series
    missing: tuple[str, ...]


def _layout(header: Sequence[str]) -> str:
    if "face_id" not in header:
        return "openface-pre2"
    if len(header) >= 700 or "x_0" in header or "eye_lmk_x_0" in header:
        return "openface2-full"
    return "openface2-short"


def read_openface_csv(
    path: str | os.PathLike,
    min_confidence: float = 0.8,
    missing: Literal["raise", "nan"] = "raise",
) -> OpenFaceFile:
    """Read the AUs of an OpenFace ``FeatureExtraction`` CSV (any layout of
    :data:`OPENFACE_LAYOUTS`).

    Separators ``","`` and ``", "`` are both accepted and header names are stripped. Every row
    must have as many fields as the header. Frames whose ``success`` is 0 or whose
    ``confidence`` is below ``min_confidence`` keep their row with NaN intensities. OpenFace
    numbers frames from 1 (it writes ``frame_count + 1`` with a 0-based ``frame_count``; the
    real file starts at frame 1, timestamp 0), so OpenFace frame ``f`` is the decoder's frame
    ``f - 1``, the ``frame_index`` of the frame store. Files written for several faces per frame
    (``FaceLandmarkVidMulti``) keep the most confident face of each frame.

    Args:
        path: The CSV file.
        min_confidence: Lowest tracking confidence kept (OpenFace's confidence is in [0, 1];
            every frame of the real test file has 0.98).
        missing: ``"raise"`` (default): every one of the 17 ``AUxx_r`` columns must be
            present. ``"nan"``: absent intensity columns become NaN (the pre-2.0 releases lack
            some); at least one must be present.

    Returns:
        An :class:`OpenFaceFile`.

    Raises:
        OpenFaceError: If the file is missing or empty, a row has the wrong number of fields,
            a required column (frame, confidence, success, the AU intensities) is absent, or a
            value is not a number. The message names the file and what is wrong.
    """
    path = Path(path)
    if missing not in ("raise", "nan"):
        raise ValueError(f"missing must be 'raise' or 'nan', got {missing!r}")
    if not path.is_file():
        raise OpenFaceError(f"{path}: OpenFace CSV not found")
    text = path.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or not lines[0].strip():
        raise OpenFaceError(f"{path}: empty file, expected an OpenFace header")
    header = [name.strip() for name in lines[0].split(",")]
    for number, line in enumerate(lines[1:], start=2):
        fields = line.count(",") + 1
        if fields != len(header):
            raise OpenFaceError(
                f"{path}: line {number} has {fields} fields, the header has {len(header)}"
            )
    absent = [name for name in _OPENFACE_REQUIRED if name not in header]
    if absent:
        raise OpenFaceError(f"{path}: missing columns {absent}; header starts {header[:6]}")
    intensity_names = [f"{column}_r" for column in AU_COLUMNS]
    presence_names = [f"{column}_c" for column in PRESENCE_COLUMNS]
    missing_r = [name for name in intensity_names if name not in header]
    if len(missing_r) == len(intensity_names) or (missing_r and missing == "raise"):
        hint = "" if len(missing_r) == len(intensity_names) else "; missing='nan' reads it anyway"
        raise OpenFaceError(
            f"{path}: missing AU intensity columns {missing_r} "
            f"({_layout(header)} layout, {len(header)} columns){hint}"
        )
    missing_c = [name for name in presence_names if name not in header]
    wanted = [
        name for name in (*_OPENFACE_REQUIRED, *intensity_names, *presence_names) if name in header
    ]
    # Only the columns used are parsed (a full file has 714), by position: raw names may
    # carry the spaces of ", " separators.
    positions = sorted(header.index(name) for name in wanted)
    table = pd.read_csv(
        io.StringIO("\n".join(lines)), skipinitialspace=True, dtype=str, usecols=positions
    )
    table.columns = [header[position] for position in positions]
    numbers = {}
    for name in wanted:
        column = pd.to_numeric(table[name].str.strip(), errors="coerce")
        bad = column.isna() & ~table[name].str.strip().str.lower().isin({"nan", "-nan"})
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise OpenFaceError(
                f"{path}: line {row + 2}, column {name}: {table[name].iloc[row]!r} is not a number"
            )
        numbers[name] = column.to_numpy(dtype=np.float64)
    frames = numbers["frame"]
    if len(frames) and (np.any(frames != np.round(frames)) or np.nanmin(frames) < 1):
        raise OpenFaceError(f"{path}: frame numbers must be integers from 1 (OpenFace's count)")
    order = np.lexsort((-numbers["confidence"], frames))  # by frame, most confident first
    keep = order[np.r_[True, np.diff(frames[order]) != 0]] if len(order) else order
    index = pd.Index(frames[keep].astype(np.int64), name="frame")
    confidence = pd.Series(numbers["confidence"][keep], index=index, name="confidence")
    success = pd.Series(numbers["success"][keep], index=index, name="success")
    valid = (success == 1) & (confidence >= min_confidence)
    valid.name = "valid"

    def block(names: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
        values = np.full((len(keep), len(names)), np.nan)
        for position, name in enumerate(names):
            if name in numbers:
                values[:, position] = numbers[name][keep]
        values[~valid.to_numpy()] = np.nan
        return pd.DataFrame(values, index=index, columns=list(columns))

    return OpenFaceFile(
        path=path,
        layout=_layout(header),
        intensity=block(intensity_names, AU_COLUMNS),
        presence=block(presence_names, PRESENCE_COLUMNS),
        confidence=confidence,
        success=success,
        valid=valid,
        missing=tuple(missing_r + missing_c),
    )


def _openface_path(files: str | os.PathLike | Mapping[str, str | os.PathLike], clip: str) -> Path:
    if isinstance(files, Mapping):
        if clip not in files:
            raise OpenFaceError(f"no OpenFace CSV given for clip {clip}")
        return Path(files[clip])
    # FeatureExtraction names its output after the video: J4GQm9j0JZ0.003.mp4 -> .003.csv
    return Path(files) / f"{clip.removesuffix('.mp4')}.csv"


def openface_intensities(
    meta: pd.DataFrame,
    files: str | os.PathLike | Mapping[str, str | os.PathLike],
    min_confidence: float = 0.8,
    missing: Literal["raise", "nan"] = "raise",
) -> pd.DataFrame:
    """AU intensities of the frame store's sampled frames from OpenFace CSV files.

    Row ``r`` of ``meta`` (clip ``c``, 0-based ``frame_index`` ``i``) takes OpenFace frame
    ``i + 1`` of ``c``'s file (see :func:`read_openface_csv`). A sampled frame that the file
    lacks (OpenCV and PyAV can disagree on a clip's last frames) or that fails the confidence
    filter is NaN; the counts are in ``attrs``.

    Args:
        meta: Frame-store metadata (``clip``, ``frame_index``).
        files: A folder of ``<clip without .mp4>.csv`` files, or a mapping clip -> CSV path.
        min_confidence: See :func:`read_openface_csv`.
        missing: See :func:`read_openface_csv`.

    Returns:
        A DataFrame indexed like ``meta`` with the :data:`AU_COLUMNS`.

    Raises:
        OpenFaceError: If a clip's file is missing or malformed.
    """
    _check_meta(meta)
    values = np.full((len(meta), len(AU_COLUMNS)), np.nan)
    unmatched = invalid = 0
    layouts = set()
    positions = pd.Series(np.arange(len(meta)), index=meta.index)
    for clip, rows in meta.groupby("clip", sort=True):
        content = read_openface_csv(_openface_path(files, clip), min_confidence, missing)
        layouts.add(content.layout)
        wanted = rows["frame_index"].to_numpy(dtype=np.int64) + 1
        found = np.isin(wanted, content.intensity.index.to_numpy())
        unmatched += int((~found).sum())
        invalid += int((~content.valid.reindex(wanted[found]).to_numpy()).sum())
        where = positions.loc[rows.index].to_numpy()
        values[where[found]] = content.intensity.loc[wanted[found]].to_numpy()
    if unmatched:
        log.warning("%d sampled frames have no row in their OpenFace file", unmatched)
    table = pd.DataFrame(values, index=meta.index, columns=list(AU_COLUMNS))
    table.attrs.update(
        source="openface",
        layouts=sorted(layouts),
        n_unmatched=unmatched,
        n_invalid=invalid,
        min_confidence=min_confidence,
    )
    return table


# ----------------------------------------------------------------------------------------------
# (b) A geometric estimator on dlib's 68 landmarks
# ----------------------------------------------------------------------------------------------

#: Landmarks no action unit of the paper moves: nose bridge (27-30) and eye corners (36, 39, 42,
#: 45). Each frame is mapped onto the mean face by the similarity (scale, rotation, shift) that
#: best fits these points, so every measure is in inter-ocular distances of a level face.
RIGID_POINTS: tuple[int, ...] = (27, 28, 29, 30, 36, 39, 42, 45)

# name -> (landmarks, axis, sign, description). The value of a measure is sign * the mean
# coordinate (x or y, y pointing down) of the landmarks; "pair" measures are a difference.
_MEASURES: dict[str, tuple[tuple[int, ...], str, float, str]] = {
    "brow_inner_raise": ((21, 22), "y", -1, "inner brow ends up (AU1; AU4 and AU9 lower them)"),
    "brow_outer_raise": ((17, 18, 25, 26), "y", -1, "outer brows up (AU2; AU4 lowers them)"),
    "brow_gather": ((21, 22), "gap", -1, "inner brow ends drawn together (AU4 only)"),
    "upper_lid_raise": ((37, 38, 43, 44), "y", -1, "upper lids up (AU5) or down (AU45, AU7)"),
    "lower_lid_raise": ((40, 41, 46, 47), "y", -1, "lower lids up (AU6 and AU7)"),
    "nostril_raise": ((31, 32, 33, 34, 35), "y", -1, "nostril wings up (AU9)"),
    "upper_lip_raise": ((50, 51, 52), "y", -1, "upper lip up (AU10, AU9; AU23 lowers it)"),
    "upper_inner_lip_raise": ((61, 62, 63), "y", -1, "inner upper lip up (AU10, AU25)"),
    "corner_raise": ((48, 54), "y", -1, "mouth corners up (AU12, AU6) or down (AU15, AU20)"),
    "mouth_width": ((48, 54), "gap", 1, "mouth corners apart (AU12, AU20; AU14, AU23 narrow)"),
    "upper_lip_width": ((49, 53), "gap", 1, "outer upper-lip points apart (AU12, AU20)"),
    "upper_outer_lip_raise": ((49, 53), "y", -1, "outer upper lip up (AU10, AU12; AU15 down)"),
    "lower_outer_lip_raise": ((55, 59), "y", -1, "outer lower lip up (AU12, AU23; AU15 down)"),
    "lower_lip_raise": ((56, 57, 58), "y", -1, "lower lip up (AU17, AU23) or down (AU25, AU26)"),
    "lower_inner_lip_raise": ((65, 66, 67), "y", -1, "inner lower lip (AU17 up; AU25, AU26)"),
    "chin_raise": ((7, 8, 9), "y", -1, "chin up (AU17) or down (AU26)"),
    "jaw_side_drop": ((5, 6, 10, 11), "y", 1, "jaw sides down (AU26 only)"),
}
#: The geometric measures read from each aligned frame: name -> what moves it.
MEASURES: dict[str, str] = {name: spec[3] for name, spec in _MEASURES.items()}

#: AUs that landmark geometry cannot see on real faces: returned as NaN. Their small landmark
#: motion is still part of the unmixing, so that it does not leak into other AUs.
GEOMETRY_BLIND: dict[str, str] = {
    "AU14": (
        "dimpler: the dimple is a texture cue; its landmark motion (corners drawn in and up a "
        "little) is a few hundredths of the inter-ocular distance, like AU23's and under "
        "AU12/AU20's, and on real faces cannot be told from them (the synthetic model gives it "
        "a clean corner motion, so there it could be read: we do not, to stay honest on real "
        "faces)"
    ),
}
#: AUs read from a weak geometric proxy of a mostly textural cue: returned, but flagged.
GEOMETRY_PROXIES: dict[str, str] = {
    "AU06": (
        "cheek raiser: the raised cheek and crow's feet are texture; only the lower-lid lift "
        "shows, which AU7 shares (the model tells them apart only by AU6's slight corner lift "
        "and AU7's slight upper-lid drop; a pure AU6 or AU7 reads as a mix of both)"
    ),
    "AU09": (
        "nose wrinkler: the wrinkles are texture; read from the nostril-wing lift alone, a few "
        "hundredths of the inter-ocular distance on real faces, near dlib's noise"
    ),
}


def align_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Map each frame's 68 landmarks onto :data:`~personality_utils.facs.MEAN_SHAPE`.

    The similarity transform (scale, rotation, shift) is the least-squares fit of the
    :data:`RIGID_POINTS`; afterwards coordinates are in inter-ocular distances with the eyes
    level (eye centres near (-0.5, 0) and (0.5, 0)), whatever the face's size and roll in the
    image. Out-of-plane rotation (yaw, pitch) is not undone.

    Args:
        landmarks: (n, 68, 2) or (68, 2) points in any pixel frame; NaN rows stay NaN.

    Returns:
        Array of the same shape, aligned.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    single = points.ndim == 2
    if single:
        points = points[None]
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise ValueError(f"expected landmarks of shape (n, 68, 2), got {np.shape(landmarks)}")
    rigid = list(RIGID_POINTS)
    source = points[:, rigid, 0] + 1j * points[:, rigid, 1]
    target = MEAN_SHAPE[rigid, 0] + 1j * MEAN_SHAPE[rigid, 1]
    source_centre = source.mean(axis=1, keepdims=True)
    target_centre = target.mean()
    centred = source - source_centre
    # In complex numbers a similarity is z -> c z + t; the least-squares c has a closed form.
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = (np.conj(centred) * (target - target_centre)).sum(axis=1) / (
            np.abs(centred) ** 2
        ).sum(axis=1)
    complex_points = points[..., 0] + 1j * points[..., 1]
    moved = (complex_points - source_centre) * factor[:, None] + target_centre
    aligned = np.stack([moved.real, moved.imag], axis=-1)
    return aligned[0] if single else aligned


def _measure_array(aligned: np.ndarray) -> np.ndarray:
    x, y = aligned[..., 0], aligned[..., 1]
    columns = []
    for points, axis, sign, _ in _MEASURES.values():
        if axis == "y":
            value = y[:, list(points)].mean(axis=1)
        else:  # the pair's distance along x: right (image-left) point first
            half = len(points) // 2
            value = x[:, list(points[half:])].mean(axis=1) - x[:, list(points[:half])].mean(axis=1)
        columns.append(sign * value)
    return np.stack(columns, axis=1)


def landmark_measures(landmarks: np.ndarray) -> pd.DataFrame:
    """The :data:`MEASURES` of each frame, in inter-ocular distances after
    :func:`align_landmarks` (absolute values, before any neutral reference is subtracted).

    Args:
        landmarks: (n, 68, 2) landmarks.

    Returns:
        A DataFrame with n rows and one column per measure.
    """
    aligned = align_landmarks(np.asarray(landmarks, dtype=np.float64).reshape(-1, 68, 2))
    return pd.DataFrame(_measure_array(aligned), columns=list(_MEASURES))


@functools.lru_cache(maxsize=1)
def _response() -> np.ndarray:
    neutral = _measure_array(MEAN_SHAPE[None])[0]
    columns = []
    for position in range(len(AU_IDS)):
        unit = np.zeros(len(AU_IDS))
        unit[position] = 1.0
        columns.append(_measure_array(deform(MEAN_SHAPE, unit)[None])[0] - neutral)
    return np.stack(columns, axis=1)


def response_matrix() -> pd.DataFrame:
    """How much each measure moves per unit of each AU (inter-ocular distances).

    It is the FACS displacement model of :func:`personality_utils.facs.deform` (written
    from FACS descriptions on dlib's mean face) measured at intensity 1. The estimator inverts
    it; on the synthetic set the model is the truth, on real faces it is an approximation.
    """
    return pd.DataFrame(_response(), index=list(_MEASURES), columns=list(AU_COLUMNS))


def _unmix(deviations: np.ndarray, max_intensity: float, penalty: float) -> np.ndarray:
    from scipy.optimize import nnls

    n_aus = len(AU_COLUMNS)
    # Non-negative least squares with a small ridge penalty: rows penalty * I appended to the
    # response matrix. The penalty settles near-collinear AUs (AU6 and AU7 both lift the lower
    # lid) instead of letting noise swing them against each other.
    matrix = np.vstack([_response(), penalty * np.eye(n_aus)])
    padding = np.zeros(n_aus)
    out = np.full((len(deviations), n_aus), np.nan)
    for row, deviation in enumerate(deviations):
        if np.all(np.isfinite(deviation)):
            solution, _ = nnls(matrix, np.concatenate([deviation, padding]))
            out[row] = np.minimum(solution, max_intensity)
    blind = [AU_COLUMNS.index(column) for column in GEOMETRY_BLIND]
    out[:, blind] = np.nan
    return out


def estimate_from_landmarks(
    landmarks: np.ndarray,
    clips: Sequence[str] | np.ndarray | None = None,
    reference: Literal["clip_median", "population"] | np.ndarray = "clip_median",
    max_intensity: float = 5.0,
    penalty: float = 0.004,
) -> pd.DataFrame:
    """Offline AU intensities from dlib's 68 landmarks (no AU model, no download).

    Each frame is aligned (:func:`align_landmarks`: inter-ocular units, eyes level) and
    reduced to the geometric :data:`MEASURES` (brow heights and gathering, lid heights, nostril
    lift, lip and corner heights, mouth width, chin and jaw). Their change from a neutral face
    is read as the non-negative mix of AUs that explains it best under the FACS displacement
    model (:func:`response_matrix`: non-negative least squares with a small ridge ``penalty``),
    capped at ``max_intensity``. The penalty, in inter-ocular distances per intensity unit,
    shrinks the weakest AUs (the eyelid ones move about 0.01 per unit) by 10-30% in exchange
    for stable AU6/AU7 readings under landmark noise.
    Antagonists that move the same points in opposite directions (AU12/AU15 on the corners,
    AU5/AU45 on the upper lid, AU26/AU17 on the chin) are separated by the sign of the change;
    when both act at once only their net shows.

    The neutral face (``reference``):

    * ``"clip_median"`` (default): each measure's median over the clip's frames. Subtracting
      it removes the person's face shape, so intensities are expression changes within the
      clip, as in OpenFace's person-specific normalisation (Baltrusaitis et al., FG 2015),
      which makes the same assumption: the person is near neutral in most frames. The median
      is preferred to a single "least expressive" frame: picking that frame against the mean
      face is confounded by face shape (a long face reads as a jaw drop, so a frame whose
      chin raise cancels it gets picked: AU17's correlation fell to 0.72 in our synthetic
      test, against 0.97 with the median), and the median of about ten frames also averages
      their landmark jitter. An expression held in most of the clip reads as 0, and frames
      calmer than the median are cut at 0.
    * ``"population"``: the mean face (:data:`~personality_utils.facs.MEAN_SHAPE`,
      dlib's mean on real faces). It keeps expressions held all clip long, the clip-level
      signal of the synthetic set's labels, but reads differences in face shape as AUs.
    * a (68, 2) array: that neutral shape, for every frame.

    Honesty about what geometry cannot see: :data:`GEOMETRY_BLIND` AUs (AU14) are NaN;
    :data:`GEOMETRY_PROXIES` AUs (AU6, AU9) are returned but rest on a weak cue; eyelid AUs
    (AU5, AU7, AU45) move the lids by about a hundredth of the inter-ocular distance per
    intensity unit, near dlib's per-frame jitter, and a blink hides AU5. Measured on landmarks
    deformed by the synthetic model with a jitter of 0.005 inter-ocular distances (the
    scenarios of tests/test_aus.py, mean r over five seeds): with 1-3 AUs at a time on varied
    faces and the clip median, r >= 0.94 for every visible AU but AU6 (0.71) and AU7 (0.79);
    with all 17 at once on the mean face, as in the synthetic set, r >= 0.96 for the brow,
    nose, lip, jaw and blink AUs, 0.84-0.92 for AU12/AU15/AU20 and 0.59-0.68 for AU5/AU6/AU7.

    Args:
        landmarks: (n, 68, 2) landmarks in any pixel frame (NaN rows for frames without a
            face give NaN rows).
        clips: Clip of each frame (needed for ``reference="clip_median"``).
        reference: The neutral face, see above.
        max_intensity: Cap on each intensity (the FACS scale's 5).
        penalty: Ridge penalty of the unmixing (0 = plain non-negative least squares).

    Returns:
        A DataFrame of n rows and the :data:`AU_COLUMNS`, intensities on the 0-5 scale of the
        displacement model; ``attrs`` name the reference, blind and proxy AUs.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise ValueError(f"expected landmarks of shape (n, 68, 2), got {points.shape}")
    measures = _measure_array(align_landmarks(points))
    if isinstance(reference, str) and reference == "population":
        deviations = measures - _measure_array(MEAN_SHAPE[None])
    elif isinstance(reference, str) and reference == "clip_median":
        if clips is None:
            raise ValueError("reference='clip_median' needs the clip of every frame")
        clips = np.asarray(clips)
        if clips.shape != (len(points),):
            raise ValueError(f"{len(clips)} clip names for {len(points)} frames")
        deviations = np.full_like(measures, np.nan)
        names, codes = np.unique(clips, return_inverse=True)
        for code in range(len(names)):
            rows = np.flatnonzero(codes == code)
            finite = rows[np.isfinite(measures[rows]).all(axis=1)]
            if len(finite):
                deviations[rows] = measures[rows] - np.median(measures[finite], axis=0)
    else:
        shape = np.asarray(reference, dtype=np.float64)
        if shape.shape != (68, 2):
            raise ValueError("reference must be 'clip_median', 'population' or a (68, 2) shape")
        deviations = measures - _measure_array(align_landmarks(shape)[None])
    table = pd.DataFrame(_unmix(deviations, max_intensity, penalty), columns=list(AU_COLUMNS))
    table.attrs.update(
        source="landmarks",
        reference=reference if isinstance(reference, str) else "shape",
        blind=sorted(GEOMETRY_BLIND),
        proxies=sorted(GEOMETRY_PROXIES),
    )
    return table


# ----------------------------------------------------------------------------------------------
# (c) The synthetic ground truth, and the one interface
# ----------------------------------------------------------------------------------------------


def _check_meta(meta: pd.DataFrame) -> None:
    absent = [column for column in ("clip", "frame_index") if column not in meta.columns]
    if absent:
        raise ValueError(f"meta lacks columns {absent} (pass a frame or face store's meta)")


def _frame_truth(
    data_root: str | os.PathLike, meta: pd.DataFrame, key: str, shape: tuple[int, ...]
) -> np.ndarray:
    """One per-frame ground-truth array (``"aus"``, ``"landmarks"``) of a synthetic dataset,
    (len(meta), *shape), reading each clip's sidecar once."""
    from .truth import (
        load_frame_truth,  # the synthetic set only: real data has no truth
    )

    _check_meta(meta)
    values = np.full((len(meta), *shape), np.nan)
    positions = pd.Series(np.arange(len(meta)), index=meta.index)
    for clip, rows in meta.groupby("clip", sort=True):
        try:
            planted = load_frame_truth(data_root, clip)[key]
        except (OSError, KeyError) as error:
            raise DataError(f"{data_root}: no ground truth for {clip} ({error})") from None
        indices = rows["frame_index"].to_numpy(dtype=np.int64)
        if indices.min() < 0 or indices.max() >= len(planted):
            raise DataError(
                f"{clip}: frame index out of range (its truth has {len(planted)} frames)"
            )
        values[positions.loc[rows.index].to_numpy()] = planted[indices]
    return values


def truth_intensities(data_root: str | os.PathLike, meta: pd.DataFrame) -> pd.DataFrame:
    """The planted AU intensities of the sampled frames of a synthetic dataset.

    Reads each clip's sidecar (:func:`~personality_utils.truth.load_frame_truth`) once and
    takes the rows of the store's 0-based ``frame_index``.

    Raises:
        DataError: If a clip has no ground truth or a frame index is out of its range.
    """
    values = _frame_truth(data_root, meta, "aus", (len(AU_COLUMNS),))
    table = pd.DataFrame(values, index=meta.index, columns=list(AU_COLUMNS))
    table.attrs.update(source="truth")
    return table


def truth_landmarks(data_root: str | os.PathLike, meta: pd.DataFrame) -> np.ndarray:
    """The planted 68 landmarks (original frame pixels) of the sampled frames of a synthetic
    dataset: (n, 68, 2), one per ``meta`` row.

    Chapter 07 feeds them to :func:`estimate_from_landmarks` to separate the estimator's own
    error from dlib's landmark error.

    Raises:
        DataError: If a clip has no ground truth or a frame index is out of its range.
    """
    return _frame_truth(data_root, meta, "landmarks", (68, 2))


def _store_landmarks(store) -> np.ndarray:
    if getattr(store, "landmarks", None) is not None:  # FaceStore: crop coordinates
        return np.asarray(store.landmarks, dtype=np.float64)
    detections = getattr(store, "detections", None)
    if detections is None:
        raise ValueError("no landmarks given and the store was built without faces")
    landmarks = np.asarray(detections["landmarks_frame"], dtype=np.float64).copy()
    landmarks[~np.asarray(detections["found"], dtype=bool)] = np.nan
    return landmarks


def au_intensities(
    source: Literal["openface", "landmarks", "truth"],
    store,
    *,
    openface: str | os.PathLike | Mapping[str, str | os.PathLike] | None = None,
    landmarks: np.ndarray | None = None,
    data_root: str | os.PathLike | None = None,
    min_confidence: float = 0.8,
    missing: Literal["raise", "nan"] = "raise",
    reference: Literal["clip_median", "population"] | np.ndarray = "clip_median",
) -> pd.DataFrame:
    """Per-frame AU intensities from one of three sources, indexed like the store's meta.

    Args:
        source: ``"openface"`` (CSV files, :func:`openface_intensities`), ``"landmarks"``
            (:func:`estimate_from_landmarks`) or ``"truth"`` (synthetic sidecar,
            :func:`truth_intensities`).
        store: A :class:`~personality_utils.stores.FrameStore` or
            :class:`~personality_utils.stores.FaceStore`, or their ``meta`` DataFrame.
        openface: For ``"openface"``: folder of CSV files or mapping clip -> file.
        landmarks: For ``"landmarks"``: (n, 68, 2), one per meta row; by default the store's
            (a face store's crop landmarks, or a frame store's detections with NaN where no
            face was found).
        data_root: For ``"truth"``: the synthetic dataset root.
        min_confidence: OpenFace confidence filter.
        missing: OpenFace absent-column policy (see :func:`read_openface_csv`).
        reference: The estimator's neutral face (see :func:`estimate_from_landmarks`).

    Returns:
        A DataFrame indexed like the meta, columns :data:`AU_COLUMNS` (``AU01`` ... ``AU45``).
    """
    meta = store if isinstance(store, pd.DataFrame) else store.meta
    _check_meta(meta)
    if source == "openface":
        if openface is None:
            raise ValueError("source='openface' needs openface= (a folder or a mapping)")
        return openface_intensities(meta, openface, min_confidence, missing)
    if source == "truth":
        if data_root is None:
            raise ValueError("source='truth' needs data_root= (a synthetic dataset)")
        return truth_intensities(data_root, meta)
    if source == "landmarks":
        if landmarks is None:
            if isinstance(store, pd.DataFrame):
                raise ValueError("source='landmarks' needs landmarks= or a store")
            landmarks = _store_landmarks(store)
        if len(landmarks) != len(meta):
            raise ValueError(f"{len(landmarks)} landmark sets for {len(meta)} meta rows")
        table = estimate_from_landmarks(landmarks, meta["clip"].to_numpy(), reference)
        table.index = meta.index
        return table
    raise ValueError(f"source must be 'openface', 'landmarks' or 'truth', got {source!r}")


def estimator_correlation(estimated: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """Pearson correlation per AU between two intensity tables over the rows where both are
    finite (NaN for an AU with fewer than three such rows or no variation)."""
    correlations = {}
    for column in AU_COLUMNS:
        if column not in estimated or column not in truth:
            correlations[column] = np.nan
            continue
        a = estimated[column].to_numpy(dtype=np.float64)
        b = truth[column].reindex(estimated.index).to_numpy(dtype=np.float64)
        both = np.isfinite(a) & np.isfinite(b)
        if both.sum() < 3 or np.std(a[both]) == 0 or np.std(b[both]) == 0:
            correlations[column] = np.nan
        else:
            correlations[column] = float(np.corrcoef(a[both], b[both])[0, 1])
    return pd.Series(correlations, name="r")


# ----------------------------------------------------------------------------------------------
# Table 2: AU top frames against unit top frames
# ----------------------------------------------------------------------------------------------


def overlap_p_value(
    k: int | np.ndarray,
    population: int = paper.TABLE2_FRAMES,
    n_top: int = paper.TABLE2_TOP_N,
    n_units: int = paper.TABLE2_UNITS,
) -> float | np.ndarray:
    """The paper's significance of a best intersection of ``k``:
    ``p = 1 - (1 - P(X >= k))^U`` with X hypergeometric (``population`` frames, ``n_top`` of
    them in the AU's set, ``n_top`` drawn by a unit), the chance that at least one of ``U``
    independent units reaches ``k``.

    Computed as ``-expm1(U * log1p(-q))`` so that tiny p keep their digits. F=2000, N=50,
    U=512 gives 9.32e-5 for k=10 and 0.0855 for k=7 as in the paper, but 0.469 for k=6 where
    the paper prints 0.439.
    """
    from scipy.stats import hypergeom

    k = np.asarray(k)
    tail = hypergeom.sf(k - 1, population, n_top, n_top)  # P(X >= k)
    with np.errstate(divide="ignore"):  # k <= 0: q = 1, log1p(-1) = -inf, p = 1
        p = -np.expm1(n_units * np.log1p(-tail))
    return float(p) if p.ndim == 0 else p


def paper_table2() -> pd.DataFrame:
    """The paper's Table 2 with the p-value its own formula gives (F=2000, N=50, U=512)."""
    table = pd.DataFrame(paper.TABLE2, index=["unit", "overlap", "printed_p"]).T
    table = table.astype({"unit": int, "overlap": int, "printed_p": float})
    table["formula_p"] = overlap_p_value(table["overlap"].to_numpy())
    return table


def top_items(values: np.ndarray | pd.Series, n: int) -> np.ndarray:
    """Positions of the ``n`` largest finite values, largest first (ties: lower position
    first; NaN never chosen).

    Raises:
        ValueError: If fewer than ``n`` values are finite.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(values))
    if len(finite) < n:
        raise ValueError(f"only {len(finite)} finite values for a top {n}")
    order = finite[np.argsort(-values[finite], kind="stable")]
    return order[:n]


def _check_unit_top(unit_top: np.ndarray, population: int) -> np.ndarray:
    unit_top = np.asarray(unit_top)
    if unit_top.ndim != 2 or not np.issubdtype(unit_top.dtype, np.integer):
        raise ValueError(f"unit top sets must be an int array (units, N), got {unit_top.shape}")
    # -1 is the units module's padding (fewer than N images seen): no item.
    if unit_top.size and (unit_top.min() < -1 or unit_top.max() >= population):
        raise ValueError(f"unit top sets index rows outside 0..{population - 1} (or -1)")
    return unit_top


def _membership(unit_top: np.ndarray, population: int) -> np.ndarray:
    """(population, units) 0/1 matrix: which rows each unit's top set holds."""
    matrix = np.zeros((population, len(unit_top)), dtype=np.float32)
    units = np.broadcast_to(np.arange(len(unit_top))[:, None], unit_top.shape)
    kept = unit_top >= 0
    matrix[unit_top[kept], units[kept]] = 1.0
    return matrix


def unit_overlap(
    intensities: pd.DataFrame, unit_top: np.ndarray, n_top: int | None = None
) -> pd.DataFrame:
    """Table 2: for each AU, the unit whose top set shares the most rows with the AU's top set.

    Rows of ``intensities`` and the indices in ``unit_top`` are the same items (frames here,
    clips in :func:`clip_unit_overlap`): ``unit_top[u]`` holds the positions (0-based rows of
    ``intensities``, not index labels) of unit u's ``N`` highest activations, e.g.
    ``UnitStats.images["conv5_3"]`` of :mod:`personality_utils.units` computed on the same
    store (-1 entries, its padding, are ignored; its ties go to the lower index, as here). The
    population F is every row. An AU with fewer than ``n_top`` finite values (AU14 from the
    geometric estimator) is left out.

    Args:
        intensities: Items x AUs (e.g. from :func:`au_intensities`).
        unit_top: int array (units, N).
        n_top: Size of the AU sets (default N, as in the paper's formula).

    Returns:
        A DataFrame indexed by AU with ``unit`` (the best, lowest index on ties), ``overlap``
        (k), ``n_top``, ``population``, ``n_units`` and ``p_value``
        (:func:`overlap_p_value`).
    """
    population = len(intensities)
    unit_top = _check_unit_top(unit_top, population)
    n_top = unit_top.shape[1] if n_top is None else n_top
    membership = _membership(unit_top, population)
    rows = {}
    for column in intensities.columns:
        values = intensities[column].to_numpy(dtype=np.float64)
        if np.isfinite(values).sum() < n_top:
            continue  # e.g. AU14 from the geometric estimator: all NaN
        chosen = np.zeros(population, dtype=np.float32)
        chosen[top_items(values, n_top)] = 1.0
        overlaps = chosen @ membership
        best = int(np.argmax(overlaps))
        rows[column] = {
            "unit": best,
            "overlap": int(overlaps[best]),
            "n_top": n_top,
            "population": population,
            "n_units": len(unit_top),
            "p_value": overlap_p_value(int(overlaps[best]), population, n_top, len(unit_top)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def clip_max(intensities: pd.DataFrame, clips: Sequence[str] | np.ndarray) -> pd.DataFrame:
    """Each clip's highest intensity per AU (its max-intensity frame), clips sorted."""
    grouped = intensities.groupby(np.asarray(clips), sort=True).max()
    grouped.index.name = "clip"
    return grouped


def unit_top_clips(
    clips: Sequence[str] | np.ndarray,
    n_top: int,
    activations: np.ndarray | None = None,
    unit_top: np.ndarray | None = None,
) -> np.ndarray:
    """Each unit's top ``n_top`` clips, as positions in the sorted list of distinct clips.

    From ``activations`` (frames x units, e.g. each frame's max over positions): a clip scores
    its best frame. From ``unit_top`` (units x N frame rows, best first): the distinct clips
    in rank order; a unit whose N frames span fewer than ``n_top`` clips is an error (pass the
    activations, or a smaller ``n_top``).
    """
    clips = np.asarray(clips)
    names, codes = np.unique(clips, return_inverse=True)
    if activations is not None:
        activations = np.asarray(activations, dtype=np.float64)
        if activations.shape[0] != len(clips):
            raise ValueError(f"{activations.shape[0]} activation rows for {len(clips)} frames")
        per_clip = np.full((len(names), activations.shape[1]), -np.inf)
        np.maximum.at(per_clip, codes, np.nan_to_num(activations, nan=-np.inf))
        order = np.argsort(-per_clip, axis=0, kind="stable")
        return order[:n_top].T.copy()
    if unit_top is None:
        raise ValueError("give activations or unit_top")
    unit_top = _check_unit_top(unit_top, len(clips))
    out = np.zeros((len(unit_top), n_top), dtype=np.int64)
    for unit, frames in enumerate(unit_top):
        distinct = list(dict.fromkeys(codes[frames[frames >= 0]].tolist()))
        if len(distinct) < n_top:
            raise ValueError(
                f"unit {unit}: its {len(frames)} top frames span {len(distinct)} clips, "
                f"fewer than n_top={n_top}; pass activations or a smaller n_top"
            )
        out[unit] = distinct[:n_top]
    return out


def clip_unit_overlap(
    intensities: pd.DataFrame,
    clips: Sequence[str] | np.ndarray,
    n_top: int,
    activations: np.ndarray | None = None,
    unit_top: np.ndarray | None = None,
) -> pd.DataFrame:
    """Table 2 at the clip level: one frame per clip on each side, F = number of clips.

    Frames of one clip are near-copies (the same face a second apart), so the frame-level test
    counts one coincidence up to ten times. Here each AU ranks clips by their max-intensity
    frame (:func:`clip_max`) and each unit by its best frame (:func:`unit_top_clips`, from the
    units' ``activations`` or their top frame lists ``unit_top``); the result is
    :func:`unit_overlap`'s table with F = the number of clips.
    """
    table = clip_max(intensities, clips)
    tops = unit_top_clips(clips, n_top, activations=activations, unit_top=unit_top)
    return unit_overlap(table, tops, n_top=n_top)


def permutation_test(
    intensities: pd.DataFrame,
    unit_top: np.ndarray,
    *,
    n_top: int | None = None,
    n_permutations: int = N_RESAMPLES,
    seed: int = 0,
    batch: int = 250,
) -> pd.DataFrame:
    """A permutation null for the best intersection, free of the formula's assumptions.

    Shuffling an AU's intensities across the rows turns its top set into a uniformly random
    set of the same size; the null is the largest intersection over all units of such a set
    with the (fixed) unit top sets, which keeps the real dependence between units (units with
    overlapping top sets). Vectorised: one matrix product per batch of permutations.

    Returns:
        A DataFrame indexed by AU: ``overlap`` (observed best), ``p_permutation``
        (``(1 + #null >= observed) / (1 + n_permutations)``), ``null_mean``, ``null_q95``
        and the formula's ``p_value`` for comparison.
    """
    population = len(intensities)
    unit_top = _check_unit_top(unit_top, population)
    n_top = unit_top.shape[1] if n_top is None else n_top
    membership = _membership(unit_top, population)
    rng = np.random.default_rng(seed)
    rows = {}
    for column in intensities.columns:
        values = intensities[column].to_numpy(dtype=np.float64)
        if np.isfinite(values).sum() < n_top:
            continue
        chosen = np.zeros(population, dtype=np.float32)
        chosen[top_items(values, n_top)] = 1.0
        observed = int((chosen @ membership).max())
        null = []
        for start in range(0, n_permutations, batch):
            size = min(batch, n_permutations - start)
            permutations = np.argsort(rng.random((size, population)), axis=1)
            null.append((chosen[permutations] @ membership).max(axis=1))
        null = np.concatenate(null).astype(np.int64)
        rows[column] = {
            "overlap": observed,
            "p_permutation": permutation_p_value(observed, null),
            "null_mean": float(null.mean()),
            "null_q95": float(np.quantile(null, 0.95)),
            "p_value": overlap_p_value(observed, population, n_top, len(unit_top)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def region_agreement(
    best_units: Mapping[str, int] | pd.Series,
    shares: pd.DataFrame,
    regions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Does each AU's best-matching unit look at the face part the AU moves?

    For an AU moving region r (:data:`~personality_utils.facs.AU_REGIONS`), its unit's
    share of top-N maxima in r is compared with the average unit's share in r. A unit drawn
    at random beats the average with probability ``chance`` (the share of units above it), so
    the number of AUs whose unit beats it can be compared with the sum of those chances
    (:func:`region_agreement_summary`). An AU whose region holds no unit maximum at all (a
    region with no cell on a coarse grid, e.g. the eyebrows at 7x7) is not testable.

    Args:
        best_units: AU -> unit (e.g. the ``unit`` column of :func:`unit_overlap`).
        shares: Units x regions, each unit's share of maxima per region
            (:func:`personality_utils.semantics.region_shares`).
        regions: AU -> region (default: :data:`~personality_utils.facs.AU_REGIONS`).

    Returns:
        Indexed by AU: ``region``, ``unit``, ``unit_share``, ``mean_share``, ``chance``,
        ``above`` (bool, NaN when not testable) and ``testable``.
    """
    if regions is None:
        regions = {f"AU{au:02d}": region for au, region in AU_REGIONS.items()}
    rows = {}
    for au, unit in dict(best_units).items():
        region = regions.get(au)
        if region is None:
            raise ValueError(f"no face region known for {au}")
        if region not in shares.columns:
            raise ValueError(f"the shares have no column {region!r} (columns {list(shares)})")
        if unit not in shares.index:
            raise ValueError(f"unit {unit} of {au} is not in the shares")
        column = shares[region].astype(float)
        mean = float(column.mean())
        testable = bool(column.sum() > 0)
        unit_share = float(column.loc[unit])
        rows[au] = {
            "region": region,
            "unit": int(unit),
            "unit_share": unit_share,
            "mean_share": mean,
            "chance": float((column > mean).mean()),
            "above": (unit_share > mean) if testable else np.nan,
            "testable": testable,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def region_agreement_summary(table: pd.DataFrame) -> dict[str, float]:
    """How many testable AUs of :func:`region_agreement` have a unit above the average one,
    against chance.

    Under the null each AU's unit is a random unit, independent across AUs; the count is then
    a sum of Bernoulli(``chance``) variables, whose exact tail gives ``p_value``
    (P(count >= observed)).

    Returns:
        ``observed``, ``expected``, ``n_testable`` and ``p_value`` (NaN with no testable AU).
    """
    testable = table[table["testable"].astype(bool)]
    chances = testable["chance"].to_numpy(dtype=np.float64)
    observed = int(testable["above"].astype(bool).sum())
    distribution = np.array([1.0])
    for chance in chances:  # exact Poisson-binomial law by convolution
        distribution = np.convolve(distribution, [1 - chance, chance])
    return {
        "observed": observed,
        "expected": float(chances.sum()),
        "n_testable": len(testable),
        "p_value": float(distribution[observed:].sum()) if len(testable) else np.nan,
    }


# ----------------------------------------------------------------------------------------------
# AUs and traits
# ----------------------------------------------------------------------------------------------


def clip_means(intensities: pd.DataFrame, clips: Sequence[str] | np.ndarray) -> pd.DataFrame:
    """Each clip's mean intensity per AU over its frames (NaN frames skipped), clips sorted:
    the 17-d feature of the paper's AU -> trait model."""
    grouped = intensities.groupby(np.asarray(clips), sort=True).mean()
    grouped.index.name = "clip"
    return grouped


@dataclass
class RidgeResult:
    """A ridge model from AU features to the five traits (see :func:`fit_au_ridge`).

    Attributes:
        alpha: The penalty chosen on validation.
        validation_mse: Validation mean squared error (averaged over traits) per alpha.
        coefficients: traits x features, per standard deviation of each feature.
        intercept: Per trait (the training mean, features being centred).
        feature_mean: Training means used to standardise.
        feature_std: Training standard deviations used to standardise.
        predictions: Test predictions, clipped to [0, 1] (the labels' range).
        accuracy: Per-trait accuracy and ``mean`` (:func:`~personality_utils.stats.trait_accuracy`),
            when test labels were given.
        r2: Per-trait R^2 on the test set and their ``mean``, when test labels were given.
        dropped: Features left out because they had no value in training.
    """

    alpha: float
    validation_mse: pd.Series
    coefficients: pd.DataFrame
    intercept: pd.Series
    feature_mean: pd.Series
    feature_std: pd.Series
    predictions: pd.DataFrame
    accuracy: pd.Series | None
    r2: pd.Series | None
    dropped: tuple[str, ...]

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Predict the traits of new clips (same feature columns), clipped to [0, 1]."""
        columns = list(self.feature_mean.index)
        standard = ((features[columns] - self.feature_mean) / self.feature_std).fillna(0.0)
        raw = standard.to_numpy() @ self.coefficients.to_numpy().T + self.intercept.to_numpy()
        return pd.DataFrame(np.clip(raw, 0, 1), index=features.index, columns=list(TRAITS))


def _r2(predicted: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    truth = truth.loc[predicted.index, list(TRAITS)]
    residual = ((truth - predicted[list(TRAITS)]) ** 2).sum()
    total = ((truth - truth.mean()) ** 2).sum()
    r2 = 1 - residual / total
    r2["mean"] = r2[list(TRAITS)].mean()
    return r2


def fit_au_ridge(
    x_train: pd.DataFrame,
    y_train: pd.DataFrame,
    x_validation: pd.DataFrame,
    y_validation: pd.DataFrame,
    x_test: pd.DataFrame,
    y_test: pd.DataFrame | None = None,
    alphas: Sequence[float] | np.ndarray | None = None,
) -> RidgeResult:
    """Ridge regression from clip-level AU features to the five traits (the paper's "simple
    linear" AU model, with its penalty chosen on validation).

    Features are standardised with the training mean and standard deviation (features with
    no value in training, e.g. AU14 from the geometric estimator, are dropped; other missing
    values become the training mean). Targets are centred on the training mean, so the
    intercept is that mean. The closed form ``(X'X + alpha I)^-1 X'y`` is evaluated for every
    alpha through one SVD of the training design; the alpha with the lowest validation mean
    squared error over the five traits is kept, fitted on training only, and scored on test.

    Args:
        x_train, x_validation, x_test: Clips x features (e.g. :func:`clip_means`).
        y_train, y_validation: Clips x traits (the five :data:`~personality_utils.data.TRAITS`).
        y_test: Test labels, to report accuracy and R^2 (optional).
        alphas: Penalties to try (default ``logspace(-3, 5, 33)``).

    Returns:
        A :class:`RidgeResult`.
    """
    alphas = np.logspace(-3, 5, 33) if alphas is None else np.asarray(alphas, dtype=np.float64)
    traits = list(TRAITS)
    dropped = tuple(column for column in x_train.columns if x_train[column].notna().sum() == 0)
    columns = [column for column in x_train.columns if column not in dropped]
    mean = x_train[columns].mean()
    std = x_train[columns].std().replace(0, 1).fillna(1)

    def design(features: pd.DataFrame) -> np.ndarray:
        return ((features[columns] - mean) / std).fillna(0.0).to_numpy(dtype=np.float64)

    train = design(x_train)
    y_train = y_train.loc[x_train.index, traits]  # aligned by clip name
    target_mean = y_train.mean()
    centred = (y_train - target_mean).to_numpy(dtype=np.float64)
    u, singular, vt = np.linalg.svd(train, full_matrices=False)
    projected = u.T @ centred
    validation = design(x_validation)
    validation_targets = y_validation.loc[x_validation.index, traits].to_numpy(dtype=np.float64)
    errors = []
    for alpha in alphas:
        coefficients = vt.T @ (projected * (singular / (singular**2 + alpha))[:, None])
        predicted = validation @ coefficients + target_mean.to_numpy()
        errors.append(float(((predicted - validation_targets) ** 2).mean()))
    errors = pd.Series(errors, index=pd.Index(alphas, name="alpha"), name="validation_mse")
    best = float(alphas[int(np.argmin(errors.to_numpy()))])
    coefficients = vt.T @ (projected * (singular / (singular**2 + best))[:, None])
    result = RidgeResult(
        alpha=best,
        validation_mse=errors,
        coefficients=pd.DataFrame(coefficients.T, index=traits, columns=columns),
        intercept=target_mean,
        feature_mean=mean,
        feature_std=std,
        predictions=pd.DataFrame(),
        accuracy=None,
        r2=None,
        dropped=dropped,
    )
    result.predictions = result.predict(x_test)
    if y_test is not None:
        result.accuracy = trait_accuracy(result.predictions, y_test.loc[x_test.index])
        result.r2 = _r2(result.predictions, y_test)
    return result


def split_intensities(
    dataset,
    split: str,
    source: Literal["openface", "landmarks", "truth"],
    openface: str | os.PathLike | Mapping[str, str | os.PathLike] | None = None,
    reference: Literal["clip_median", "population"] = "clip_median",
) -> pd.DataFrame:
    """Per-frame AU intensities of one split's face crops (:func:`au_intensities` on
    ``dataset.faces(split)``; chapter 07)."""
    return au_intensities(
        source, dataset.faces(split), openface=openface, data_root=dataset.root, reference=reference
    )


def fit_dataset_au_model(
    dataset,
    source: Literal["openface", "landmarks", "truth"],
    alphas: Sequence[float] | np.ndarray | None = None,
    openface: str | os.PathLike | Mapping[str, str | os.PathLike] | None = None,
    reference: Literal["clip_median", "population"] = "clip_median",
) -> tuple[RidgeResult, dict[str, pd.DataFrame]]:
    """The paper's AU model on a dataset (chapter 07): the clip means of each split's AU
    intensities (:func:`clip_means`) as features, :func:`fit_au_ridge` with the penalty chosen
    on validation, scored on every test clip (a clip with no face gets the training mean).

    Returns:
        The fitted model and the features per split.
    """
    splits = ("train", "validation", "test")
    labels = {split: dataset.store(split).clip_labels() for split in splits}
    features = {
        split: clip_means(
            split_intensities(dataset, split, source, openface, reference),
            dataset.faces(split).meta["clip"],
        )
        for split in splits
    }
    model = fit_au_ridge(
        features["train"],
        labels["train"],
        features["validation"],
        labels["validation"],
        features["test"].reindex(labels["test"].index),
        labels["test"],
        alphas,
    )
    return model, features


def compare_with_planted(coefficients: pd.DataFrame) -> pd.DataFrame:
    """Fitted AU coefficients against the planted weights of the synthetic labels.

    The planted weights (:data:`~personality_utils.synthetic.TRAIT_WEIGHTS`) act on
    standardised features, like the ridge coefficients; glasses and the context cue are
    independent of the AUs, so leaving them out only scales the AU weights. Scale-free
    comparisons are therefore used.

    Args:
        coefficients: traits x AU features (e.g. :attr:`RidgeResult.coefficients`).

    Returns:
        Indexed by trait plus ``overall`` (all trait x AU cells together): ``correlation``
        (Pearson r between fitted and planted weights over the AU columns, 0 where nothing is
        planted) and ``sign_agreement`` (share of planted non-zero weights whose fitted sign
        matches).
    """
    from .synthetic import TRAIT_WEIGHTS  # the synthetic set only

    columns = [column for column in coefficients.columns if column in AU_COLUMNS]
    traits = [trait for trait in TRAITS if trait in coefficients.index]
    planted = pd.DataFrame(
        [[TRAIT_WEIGHTS[trait].get(column, 0.0) for column in columns] for trait in traits],
        index=traits,
        columns=columns,
    )
    fitted = coefficients.loc[traits, columns].astype(float)

    def compare(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        nonzero = b != 0
        return {
            "correlation": float(np.corrcoef(a, b)[0, 1]) if a.std() and b.std() else np.nan,
            "sign_agreement": float((np.sign(a[nonzero]) == np.sign(b[nonzero])).mean())
            if nonzero.any()
            else np.nan,
        }

    rows = {
        trait: compare(fitted.loc[trait].to_numpy(), planted.loc[trait].to_numpy())
        for trait in traits
    }
    rows["overall"] = compare(fitted.to_numpy().ravel(), planted.to_numpy().ravel())
    return pd.DataFrame(rows).T


def trait_au_correlation(
    au_clip: pd.DataFrame,
    labels: pd.DataFrame,
    method: Literal["pearson", "spearman"] = "pearson",
) -> pd.DataFrame:
    """Traits x AUs correlation matrix over the clips both tables hold (for a heatmap).

    Args:
        au_clip: Clips x AUs (e.g. :func:`clip_means`).
        labels: Clips x traits.
        method: ``"pearson"`` or ``"spearman"``.
    """
    common = au_clip.index.intersection(labels.index)
    if len(common) < 3:
        raise ValueError(f"only {len(common)} clips in common between AUs and labels")
    features = au_clip.loc[common]
    targets = labels.loc[common, list(TRAITS)]
    if method == "spearman":
        features, targets = features.rank(), targets.rank()
    elif method != "pearson":
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    return pd.DataFrame(
        {column: targets.corrwith(features[column]) for column in features.columns},
        index=list(TRAITS),
    )
