"""OpenFace's CSV files (what the paper used): the 17 intensity columns, the layouts
OpenFace writes, reading a file with its bad frames counted and left out.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from personality_utils.core.planted import AU_IDS
from personality_utils.core.vocabulary import DataError

log = logging.getLogger(__name__)

__all__ = [
    "AU_COLUMNS",
    "OPENFACE_LAYOUTS",
    "PRESENCE_COLUMNS",
    "OpenFaceError",
    "OpenFaceFile",
    "openface_intensities",
    "read_openface_csv",
]

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
        valid: Frames kept: ``success == 1``, ``confidence >= min_confidence`` and every AU
            intensity the file has finite.
        missing: Intensity and presence columns (``AU07_r`` ...) absent from the file.
        nonfinite: Frames that passed the confidence filter but hold a NaN or infinite AU
            intensity: left out (NaN), never used, and counted here.
    """

    path: Path
    layout: str
    intensity: pd.DataFrame
    presence: pd.DataFrame
    confidence: pd.Series
    success: pd.Series
    valid: pd.Series
    missing: tuple[str, ...]
    nonfinite: int = 0


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
    # keep_default_na=False: pandas would turn "nan" into a missing value before the check
    # below could tell OpenFace's written nan (kept, counted) from a field that is no number.
    table = pd.read_csv(
        io.StringIO("\n".join(lines)),
        skipinitialspace=True,
        dtype=str,
        usecols=positions,
        keep_default_na=False,
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
    present = [name for name in intensity_names if name in numbers]
    finite = np.isfinite(np.column_stack([numbers[name][keep] for name in present])).all(axis=1)
    nonfinite = int((valid.to_numpy() & ~finite).sum())
    valid &= finite
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
        nonfinite=nonfinite,
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
        A DataFrame indexed like ``meta`` with the :data:`AU_COLUMNS`; ``attrs`` count the
        sampled frames without a row (``n_unmatched``), those that fail the filter
        (``n_invalid``) and, of all the files' frames, those left out for a NaN or infinite
        intensity (``n_nonfinite``, also logged with the files).

    Raises:
        OpenFaceError: If a clip's file is missing or malformed.
    """
    _check_meta(meta)
    values = np.full((len(meta), len(AU_COLUMNS)), np.nan)
    unmatched = invalid = nonfinite = 0
    damaged: list[str] = []
    layouts = set()
    positions = pd.Series(np.arange(len(meta)), index=meta.index)
    for clip, rows in meta.groupby("clip", sort=True):
        content = read_openface_csv(_openface_path(files, clip), min_confidence, missing)
        layouts.add(content.layout)
        if content.nonfinite:
            nonfinite += content.nonfinite
            damaged.append(content.path.name)
        wanted = rows["frame_index"].to_numpy(dtype=np.int64) + 1
        found = np.isin(wanted, content.intensity.index.to_numpy())
        unmatched += int((~found).sum())
        invalid += int((~content.valid.reindex(wanted[found]).to_numpy()).sum())
        where = positions.loc[rows.index].to_numpy()
        values[where[found]] = content.intensity.loc[wanted[found]].to_numpy()
    if unmatched:
        log.warning("%d sampled frames have no row in their OpenFace file", unmatched)
    if nonfinite:
        log.warning(
            "%d frames left out for a NaN or infinite AU intensity, in %s",
            nonfinite,
            ", ".join(damaged[:5]) + (f" and {len(damaged) - 5} more" if len(damaged) > 5 else ""),
        )
    table = pd.DataFrame(values, index=meta.index, columns=list(AU_COLUMNS))
    table.attrs.update(
        source="openface",
        layouts=sorted(layouts),
        n_unmatched=unmatched,
        n_invalid=invalid,
        n_nonfinite=nonfinite,
        min_confidence=min_confidence,
    )
    return table


# ----------------------------------------------------------------------------------------------
# (c) The synthetic ground truth, and the one interface
# ----------------------------------------------------------------------------------------------


def _check_meta(meta: pd.DataFrame) -> None:
    absent = [column for column in ("clip", "frame_index") if column not in meta.columns]
    if absent:
        raise ValueError(f"meta lacks columns {absent} (pass a frame or face store's meta)")
