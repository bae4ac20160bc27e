"""Action-unit intensities for chapter 07 from three sources behind :func:`au_intensities`:
OpenFace CSV files, a geometric estimator on dlib's 68 landmarks (offline, the default), and the
synthetic set's ground truth; and a clip's mean intensities.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from personality_utils.aus.openface import AU_COLUMNS, _check_meta, openface_intensities
from personality_utils.core.planted import AU_IDS
from personality_utils.core.vocabulary import DataError
from personality_utils.data.synthetic.truth import load_frame_truth
from personality_utils.faces.facs import MEAN_SHAPE, deform

log = logging.getLogger(__name__)

__all__ = [
    "GEOMETRY_BLIND",
    "GEOMETRY_PROXIES",
    "MEASURES",
    "RIGID_POINTS",
    "align_landmarks",
    "au_intensities",
    "clip_means",
    "estimate_from_landmarks",
    "estimator_correlation",
    "intensities_from_deviations",
    "split_intensities",
    "landmark_measures",
    "response_matrix",
    "truth_intensities",
    "truth_landmarks",
]


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
    """Map each frame's 68 landmarks onto :data:`~personality_utils.faces.facs.MEAN_SHAPE`.

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

    It is the FACS displacement model of :func:`personality_utils.faces.facs.deform` (written
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


def intensities_from_deviations(
    deviations: np.ndarray, max_intensity: float = 5.0, penalty: float = 0.004
) -> pd.DataFrame:
    """The AU intensities the estimator reads from changes of the :data:`MEASURES` (n rows,
    inter-ocular distances, from whatever neutral face): the non-negative mix of AUs that
    explains them best under :func:`response_matrix` (see :func:`estimate_from_landmarks`);
    blind AUs NaN."""
    deviations = np.atleast_2d(np.asarray(deviations, dtype=np.float64))
    return pd.DataFrame(_unmix(deviations, max_intensity, penalty), columns=list(AU_COLUMNS))


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
    * ``"population"``: the mean face (:data:`~personality_utils.faces.facs.MEAN_SHAPE`,
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
    table = intensities_from_deviations(deviations, max_intensity, penalty)
    table.attrs.update(
        source="landmarks",
        reference=reference if isinstance(reference, str) else "shape",
        blind=sorted(GEOMETRY_BLIND),
        proxies=sorted(GEOMETRY_PROXIES),
    )
    return table


def _frame_truth(
    data_root: str | os.PathLike, meta: pd.DataFrame, key: str, shape: tuple[int, ...]
) -> np.ndarray:
    """One per-frame ground-truth array (``"aus"``, ``"landmarks"``) of a synthetic dataset,
    (len(meta), *shape), reading each clip's sidecar once."""

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

    Reads each clip's sidecar (:func:`~personality_utils.data.synthetic.truth.load_frame_truth`)
    once and takes the rows of the store's 0-based ``frame_index``.

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
        store: A :class:`~personality_utils.data.stores.FrameStore` or
            :class:`~personality_utils.data.stores.FaceStore`, or their ``meta`` DataFrame.
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


def clip_means(intensities: pd.DataFrame, clips: Sequence[str] | np.ndarray) -> pd.DataFrame:
    """Each clip's mean intensity per AU over its frames (NaN frames skipped), clips sorted:
    the 17-d feature of the paper's AU -> trait model."""
    grouped = intensities.groupby(np.asarray(clips), sort=True).mean()
    grouped.index.name = "clip"
    return grouped
