"""The First Impressions release: label pickles (opened safely) and the challenge's CSV,
scores checked, zips extracted with bounds, clips found by name, person-disjoint splits.

The same code reads the real ChaLearn First Impressions v2 release and the synthetic set in its
layout (chapter 01).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import pickle
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from personality_utils.core.files import follow_umask, write_atomic
from personality_utils.core.vocabulary import SPLITS, TRAITS, DataError, video_id

log = logging.getLogger(__name__)

__all__ = [
    "ANNOTATION_FILES",
    "CLIP_NAME_PATTERN",
    "UnsafePickleError",
    "UnsafeZipError",
    "ZipLimits",
    "check_scores",
    "load_annotations",
    "load_challenge_csv",
    "load_split_labels",
    "safe_extract_zip",
    "find_clips",
    "identity_disjoint_clips",
    "write_challenge_csv",
]
ANNOTATION_FILES: dict[str, str] = {
    "train": "annotation_training.pkl",
    "validation": "annotation_validation.pkl",
    "test": "annotation_test.pkl",
}
#: An 11-character YouTube id, a 3-digit clip number, ``.mp4``.
CLIP_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{11}\.\d{3}\.mp4$")

# The 2016 challenge CSV header, with its official spelling of "Neurotisicm".
_CSV_COLUMNS = {
    "ValueExtraversion": "extraversion",
    "ValueAgreeableness": "agreeableness",
    "ValueConscientiousness": "conscientiousness",
    "ValueNeurotisicm": "neuroticism",
    "ValueNeuroticism": "neuroticism",
    "ValueOpenness": "openness",
}
_CSV_HEADER = (
    "VideoName",
    "ValueExtraversion",
    "ValueAgreeableness",
    "ValueConscientiousness",
    "ValueNeurotisicm",
    "ValueOpenness",
)


class UnsafePickleError(DataError, pickle.UnpicklingError):
    """A pickle asked for something the annotation format never contains."""


class UnsafeZipError(DataError):
    """A zip member would be written outside the extraction folder."""


# ----------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------


def _checked_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.kind not in "fiub":
        raise UnsafePickleError(f"numpy dtype {dtype!r} is not a plain number type")
    return dtype


def _checked_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.kind not in "fiub":
        raise UnsafePickleError(f"numpy scalar of dtype {dtype!r} refused")
    if isinstance(data, str):  # Python-2 byte strings arrive as latin-1 text
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise UnsafePickleError("numpy scalar payload has the wrong size")
    return np.frombuffer(data, dtype=dtype)[0]


def _checked_encode(text, encoding="utf-8"):
    # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(text, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("only latin-1 byte strings may be encoded in annotation pickles")
    return text.encode("latin1")


class _AnnotationUnpickler(pickle.Unpickler):
    """Admits only what the annotation pickles need: dicts, strings, floats, numpy scalars.

    Containers, strings and floats are pickle opcodes of their own and never reach
    ``find_class``; the only globals these files name are numpy's scalar reconstructor,
    ``numpy.dtype`` and (when written by Python 3) ``_codecs.encode`` for the scalar's bytes;
    each is replaced by a checked version. Everything else is refused before it
    is imported, so a crafted file cannot run code.
    """

    _ALLOWED: ClassVar[dict] = {
        ("numpy.core.multiarray", "scalar"): _checked_scalar,
        ("numpy._core.multiarray", "scalar"): _checked_scalar,
        ("numpy", "dtype"): _checked_dtype,
        ("_codecs", "encode"): _checked_encode,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"it names the global {module}.{name}, which could run code (annotation "
                "pickles hold only dicts of clip names to numbers)"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError("persistent ids are not allowed in annotation pickles")


def load_annotations(path: str | os.PathLike) -> pd.DataFrame:
    """Read an ``annotation_*.pkl`` file safely.

    Args:
        path: Path to a First Impressions v2 annotation pickle (Python-2, protocol 2).

    Returns:
        A DataFrame indexed by clip name (sorted) with one float column per trait (in
        :data:`TRAITS` order) and ``interview`` when the file has it.

    Raises:
        UnsafePickleError: If the pickle names anything but numbers, strings and dicts.
        DataError: If the file is missing or its content is not the annotation layout.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    with path.open("rb") as handle:
        try:
            content = _AnnotationUnpickler(handle, encoding="latin1").load()
        except UnsafePickleError as error:
            raise UnsafePickleError(
                f"{path}: refused, {error}; it is not an annotation file of the release: "
                "use the official one"
            ) from None
        except Exception as error:  # truncated or not a pickle at all
            raise DataError(f"{path}: not a readable annotation pickle ({error})") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: expected a dict of traits, found {type(content).__name__}")
    missing = [trait for trait in TRAITS if trait not in content]
    if missing:
        raise DataError(f"{path}: missing trait keys {missing}; found {sorted(map(str, content))}")
    columns = list(TRAITS) + (["interview"] if "interview" in content else [])
    clip_names: set[str] | None = None
    for column in columns:
        scores = content[column]
        if not isinstance(scores, dict):
            raise DataError(f"{path}: '{column}' should map clip names to scores")
        names = set(scores)
        if clip_names is None:
            clip_names = names
        elif names != clip_names:
            raise DataError(f"{path}: '{column}' lists different clips than '{columns[0]}'")
        for name, value in scores.items():
            if not isinstance(name, str) or not isinstance(value, (float, int, np.number)):
                raise DataError(f"{path}: '{column}' has a non-numeric entry for {name!r}")
    ordered = sorted(clip_names or [])
    frame = pd.DataFrame(
        {column: [float(content[column][name]) for name in ordered] for column in columns},
        index=pd.Index(ordered, name="clip"),
    )
    check_scores(path, frame)
    return frame


def check_scores(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    """Every trait score finite and in [0, 1], the rule of every label source (pickles and the
    2016 CSVs): a NaN or an infinite score would flow into the constant baseline, the training
    targets and every metric.

    Raises:
        DataError: Naming the file, the first bad clip and trait, its value, and how many
            scores are bad.
    """
    scores = frame[list(TRAITS)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(scores) | (scores < 0) | (scores > 1)
    if bad.any():
        row, column = (int(i[0]) for i in np.nonzero(bad))
        value = scores[row, column]
        kind = "not a finite number" if not np.isfinite(value) else "outside [0, 1]"
        raise DataError(
            f"{path}: clip {frame.index[row]}, {TRAITS[column]}: score {value!r} is {kind} "
            f"({int(bad.sum())} bad scores in all); every score must be a number in [0, 1]"
        )


def load_challenge_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read the 2016 challenge CSV form of the labels (``VideoName,ValueExtraversion,...``).

    Columns are mapped by name (the file's order is E, A, C, N, O), including the official
    "Neurotisicm" spelling. Every row must hold as many fields as the header: a row with more
    or fewer is an error (a value would otherwise be dropped or shifted in silence).

    Raises:
        DataError: If the file is missing, a column is absent (the message names the missing
            ones), a row has more or fewer fields than the header (it names the line and both
            counts) or a score is not a number.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: label CSV not found")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        lines = list(csv.reader(handle, skipinitialspace=True))
    while lines and not any(field.strip() for field in lines[-1]):
        lines.pop()
    if not lines:
        raise DataError(f"{path}: empty file; expected the header {','.join(_CSV_HEADER)}")
    header = [name.strip() for name in lines[0]]
    mapping = {column: _CSV_COLUMNS[column] for column in header if column in _CSV_COLUMNS}
    present = set(mapping.values())
    missing = [
        column
        for column in _CSV_HEADER
        if column not in header and _CSV_COLUMNS.get(column) not in present
    ]
    if missing:
        raise DataError(
            f"{path}: header lacks {', '.join(missing)} (it has {len(header)} columns: "
            f"{','.join(header)}); a 2016 challenge label CSV starts with the line "
            f"{','.join(_CSV_HEADER)}"
        )
    if len(mapping) != len(present):
        raise DataError(f"{path}: a trait has two columns in the header {','.join(header)}")
    rows = {}
    for line_number, fields in enumerate(lines[1:], start=2):
        if not any(field.strip() for field in fields):
            continue  # a blank line
        if len(fields) != len(header):
            raise DataError(
                f"{path}: line {line_number} has {len(fields)} fields, the header has "
                f"{len(header)}; every row must hold exactly the header's columns"
            )
        row = dict(zip(header, fields, strict=True))
        try:
            rows[row["VideoName"].strip()] = {
                trait: float(row[column]) for column, trait in mapping.items()
            }
        except ValueError as error:
            raise DataError(f"{path}: line {line_number}: bad number ({error})") from None
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(TRAITS)).sort_index()
    frame.index.name = "clip"
    check_scores(path, frame)
    return frame


def load_split_labels(data_root: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Labels of every split found under ``data_root``.

    Looks for the three ``annotation_*.pkl`` files (anywhere below the root); a split without a
    pickle may instead have a challenge CSV named after it (``*training*.csv`` ...).

    Returns:
        ``{split: DataFrame}`` for the splits that have labels, in :data:`SPLITS` order.

    Raises:
        DataError: If no split has labels.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(f"{root}: data root is not a folder")
    found: dict[str, pd.DataFrame] = {}
    csv_names = {"train": "train", "validation": "val", "test": "test"}
    for split in SPLITS:
        pickles = sorted(root.rglob(ANNOTATION_FILES[split]))
        if pickles:
            found[split] = load_annotations(pickles[0])
            continue
        csvs = sorted(p for p in root.rglob("*.csv") if csv_names[split] in p.name.lower())
        if csvs:
            found[split] = load_challenge_csv(csvs[0])
    if not found:
        raise DataError(f"{root}: no annotation_*.pkl (or challenge CSV) found")
    return found


# ----------------------------------------------------------------------------------------------
# Clips and zips
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZipLimits:
    """What an archive member may be before :func:`safe_extract_zip` writes it.

    The release's members are H.264 clips and the zips that hold them, and neither compresses:
    a member that inflates far beyond its compressed size, or declares a size no clip or part
    archive has, is not a clip (a decompression bomb, or a damaged download), and is refused
    before it fills the disk.

    Attributes:
        max_member_bytes: The largest member (declared, and inflated while it is written):
            4 GiB, several times the largest part archive of the release (its clips are a few
            MB each).
        max_ratio: The largest inflated / compressed size of a member above ``ratio_floor``
            bytes: 20, where video and zips stay near 1.
        ratio_floor: Members smaller than this (a text file, a tiny clip) may compress well:
            1 MiB.
        free_margin_bytes: Room left on the target's disk after the declared sizes: 256 MiB.

    Raise them for an archive you trust with ``PERSONALITY_UTILS_ZIP_MAX_MEMBER_GB`` and
    ``PERSONALITY_UTILS_ZIP_MAX_RATIO`` (:meth:`from_environment`), or pass your own.
    """

    max_member_bytes: int = 4 << 30
    max_ratio: float = 20.0
    ratio_floor: int = 1 << 20
    free_margin_bytes: int = 256 << 20

    @classmethod
    def from_environment(cls) -> ZipLimits:
        """The defaults, raised where the environment says so."""
        limits = cls()
        gigabytes = os.environ.get("PERSONALITY_UTILS_ZIP_MAX_MEMBER_GB")
        ratio = os.environ.get("PERSONALITY_UTILS_ZIP_MAX_RATIO")
        try:
            if gigabytes:
                limits = dataclasses.replace(limits, max_member_bytes=int(float(gigabytes) * 2**30))
            if ratio:
                limits = dataclasses.replace(limits, max_ratio=float(ratio))
        except ValueError:
            raise DataError(
                "PERSONALITY_UTILS_ZIP_MAX_MEMBER_GB and PERSONALITY_UTILS_ZIP_MAX_RATIO must be "
                f"numbers, got {gigabytes!r} and {ratio!r}"
            ) from None
        return limits


#: Bytes copied at a time while a member is inflated.
_COPY_CHUNK = 1 << 20


def safe_extract_zip(
    zip_path: str | os.PathLike, out_dir: str | os.PathLike, limits: ZipLimits | None = None
) -> list[Path]:
    """Extract a First Impressions zip (zips inside zips included) without trusting it.

    Members with absolute paths, drive letters or ``..`` components, and symbolic links, are
    refused before anything is written, as are members whose declared size or compression
    ratio no clip has (:class:`ZipLimits`) and archives whose declared sizes would not fit on
    the target's disk. While a member is written its inflated bytes are counted: past its
    declared size or the bound, extraction stops. Extraction goes to a temporary folder that is
    renamed into place, so an interrupted or refused run leaves nothing behind; a folder already
    extracted is reused. Nested zips get the same rules.

    Args:
        zip_path: The zip file.
        out_dir: Folder to extract into (``out_dir/<zip stem>/...``).
        limits: The bounds (default: :meth:`ZipLimits.from_environment`).

    Returns:
        The extracted ``.mp4`` files, sorted.

    Raises:
        UnsafeZipError: If a member would escape the extraction folder, is a link, or breaks a
            bound (the message names the archive, the member and the figures).
        DataError: If the file is not a valid zip.
    """
    zip_path = Path(zip_path)
    limits = limits or ZipLimits.from_environment()
    target = Path(out_dir) / zip_path.stem
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{zip_path.stem}-", dir=target.parent))
        try:
            _extract_members(zip_path, zip_path, staging, 0, limits)
            follow_umask(staging, directory=True)  # mkdtemp makes it drwx------
            os.replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return sorted(target.rglob("*.mp4"))


def _extract_members(
    label: Path | str, source: Path, out_dir: Path, depth: int, limits: ZipLimits
) -> None:
    if depth > 3:
        raise UnsafeZipError(
            f"{label}: refused, zips nested more than 3 deep; the release nests at most 2: "
            "use the official archive"
        )
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile as error:
        raise DataError(f"{label}: not a valid zip ({error})") from None
    with archive:
        members = archive.infolist()
        for member in members:  # check everything before writing anything
            _check_member(label, member)
            _check_size(label, member, limits)
        _check_free_space(label, members, out_dir, limits)
        for member in members:
            if member.is_dir():
                continue
            destination = out_dir / member.filename
            if member.filename.lower().endswith(".zip"):
                inner = destination.with_suffix("")
                inner.mkdir(parents=True, exist_ok=True)
                nested = inner / f".{destination.name}.part"
                _inflate(label, archive, member, nested, limits)
                try:
                    _extract_members(f"{label}!{member.filename}", nested, inner, depth + 1, limits)
                finally:
                    nested.unlink(missing_ok=True)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                _inflate(label, archive, member, destination, limits)


def _size(value: float) -> str:
    if value < 2**20:
        return f"{value / 2**10:,.1f} KiB"
    return f"{value / 2**20:,.1f} MiB"


def _check_size(label: Path | str, member: zipfile.ZipInfo, limits: ZipLimits) -> None:
    """A member's declared size and compression ratio against the bounds."""
    if member.is_dir():
        return
    if member.file_size > limits.max_member_bytes:
        raise UnsafeZipError(
            f"{label}: refused, member {member.filename!r} declares {_size(member.file_size)}, "
            f"above the {_size(limits.max_member_bytes)} any clip or part archive needs "
            "(nothing was extracted); raise PERSONALITY_UTILS_ZIP_MAX_MEMBER_GB for an archive "
            "you trust"
        )
    ratio = member.file_size / max(member.compress_size, 1)
    if member.file_size > limits.ratio_floor and ratio > limits.max_ratio:
        raise UnsafeZipError(
            f"{label}: refused, member {member.filename!r} inflates {ratio:,.0f}-fold "
            f"({_size(member.compress_size)} to {_size(member.file_size)}), where video and "
            f"zips stay near 1 (bound {limits.max_ratio:g}; nothing was extracted); raise "
            "PERSONALITY_UTILS_ZIP_MAX_RATIO for an archive you trust"
        )


def _check_free_space(
    label: Path | str, members: list[zipfile.ZipInfo], out_dir: Path, limits: ZipLimits
) -> None:
    declared = sum(member.file_size for member in members if not member.is_dir())
    free = shutil.disk_usage(out_dir).free
    if declared + limits.free_margin_bytes > free:
        raise UnsafeZipError(
            f"{label}: refused, its members declare {_size(declared)} and {out_dir} has "
            f"{_size(free)} free (nothing was extracted)"
        )


def _inflate(
    label: Path | str,
    archive: zipfile.ZipFile,
    member: zipfile.ZipInfo,
    destination: Path,
    limits: ZipLimits,
) -> None:
    """Write one member, counting its inflated bytes: past its declared size or the bound,
    the partial file is removed and the archive refused."""
    bound = min(member.file_size, limits.max_member_bytes)
    written = 0
    try:
        with archive.open(member) as source, destination.open("wb") as out:
            while chunk := source.read(_COPY_CHUNK):
                written += len(chunk)
                if written > bound:
                    raise UnsafeZipError(
                        f"{label}: refused, member {member.filename!r} inflates past "
                        f"{_size(bound)} (it declares {_size(member.file_size)}); the partial "
                        "file was removed"
                    )
                out.write(chunk)
    except zipfile.BadZipFile as error:
        # zipfile stops at the declared size and checks the CRC there: a member whose data
        # inflates past what it declares fails that check.
        destination.unlink(missing_ok=True)
        raise UnsafeZipError(
            f"{label}: refused, member {member.filename!r} does not inflate to the "
            f"{_size(member.file_size)} it declares ({error}): damaged or forged; the partial "
            "file was removed"
        ) from None
    except BaseException:
        destination.unlink(missing_ok=True)
        raise


def _check_member(label: Path | str, member: zipfile.ZipInfo) -> None:
    name = member.filename.replace("\\", "/")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise UnsafeZipError(
            f"{label}: refused, member {member.filename!r} escapes the target folder (nothing "
            "was extracted); the release's archives never do this: use the official archive"
        )
    mode = member.external_attr >> 16
    if mode and (mode & 0o170000) == 0o120000:
        raise UnsafeZipError(
            f"{label}: refused, member {member.filename!r} is a symbolic link (nothing was "
            "extracted); the release's archives hold none: use the official archive"
        )
    if member.flag_bits & 0x1:
        # Some archives of the official release are password-protected: the password comes
        # with the registration, and the book never asks for it.
        raise DataError(
            f"{label}: member {member.filename!r} is encrypted; extract the archive with the "
            "password of the ChaLearn release and point data_root at the extracted folder"
        )


def find_clips(
    data_root: str | os.PathLike,
    extract_dir: str | os.PathLike | None = None,
    limits: ZipLimits | None = None,
) -> dict[str, Path]:
    """Map clip names to video files under ``data_root``.

    Already-extracted ``.mp4`` files are found anywhere below the root; zips (the official
    ``training80_XX.zip`` ...) are extracted safely into ``extract_dir`` first (default
    ``data_root/_extracted``), within ``limits`` (:func:`safe_extract_zip`).

    Raises:
        DataError: If two files carry the same clip name.
    """
    root = Path(data_root)
    extract_dir = Path(extract_dir) if extract_dir is not None else root / "_extracted"
    videos = {p for p in root.rglob("*.mp4") if extract_dir not in p.parents}
    for zip_path in sorted(root.rglob("*.zip")):
        if extract_dir not in zip_path.parents:
            videos.update(safe_extract_zip(zip_path, extract_dir, limits))
    clips: dict[str, Path] = {}
    for video in sorted(set(videos)):
        if video.name in clips and clips[video.name] != video:
            raise DataError(f"clip {video.name} found twice: {clips[video.name]} and {video}")
        clips[video.name] = video
    return dict(sorted(clips.items()))


def identity_disjoint_clips(train_clips: Iterable[str], evaluate_clips: Iterable[str]) -> list[str]:
    """Evaluation clips whose YouTube id never occurs in training.

    The official splits share ids (1201 of the 1455 test ids are also in training), so a model
    can score by recognising people; scoring on this subset removes that help.
    """
    seen = {video_id(clip) for clip in train_clips}
    return sorted(clip for clip in evaluate_clips if video_id(clip) not in seen)


def write_challenge_csv(predictions: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write clip predictions in the 2016 challenge format (official column order and the
    official "Neurotisicm" spelling), so the official tools can score them."""
    path = Path(path)
    columns = {
        "extraversion": "ValueExtraversion",
        "agreeableness": "ValueAgreeableness",
        "conscientiousness": "ValueConscientiousness",
        "neuroticism": "ValueNeurotisicm",
        "openness": "ValueOpenness",
    }
    table = predictions[list(columns)].rename(columns=columns)
    table.index.name = "VideoName"
    write_atomic(path, lambda temporary: table.to_csv(temporary, float_format="%.6f"))
    return path
