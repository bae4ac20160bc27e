"""The frame and face stores: every sampled frame of a split squashed to a square, and the
aligned face crops found in it, as memory-mapped uint8 arrays with their metadata, built from one
decoding of each clip (resumable, atomic) and opened by every chapter.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from personality_utils.core.files import file_lock, read_json, shown_path, write_atomic
from personality_utils.core.pools import process_pool
from personality_utils.core.vocabulary import SPLITS, TRAITS, DataError
from personality_utils.data.parts import (
    check_part,
    clock,
    part_clips,
    part_record,
    unfinished,
    write_part_record,
)
from personality_utils.data.release import find_clips, load_split_labels
from personality_utils.data.video import SHORT_CLIP_RATIO, read_sampled_frames, square_frame
from personality_utils.faces.detection import align_frame

log = logging.getLogger(__name__)

__all__ = [
    "DETECTION_FIELDS",
    "NO_VIDEO",
    "MISSING_LIST",
    "missing_summary",
    "skip_report",
    "FaceStore",
    "FrameStore",
    "build_frame_store",
    "open_face_store",
    "open_frame_store",
]


_STORE_VERSION = 3  # 3: frames resized bicubically, as the authors' imresize
#: Beside a clip's shard name: the file holding why that clip could not be decoded.
_FAILED = ".failed.txt"
#: The reason recorded for a labelled clip whose video is not on disk (a partial download).
NO_VIDEO = "labelled but no video file found"
#: The file beside a split's store that lists its labelled clips without a video, one a line.
MISSING_LIST = "missing_videos.txt"
#: Per-frame face records kept in ``detections.npz`` (one entry per frame-store row).
DETECTION_FIELDS = (
    "found",
    "score",
    "upsampled",
    "box_frame",
    "box_store",
    "landmarks_frame",
    "landmarks_store",
    "landmarks_crop",
)


@dataclass
class FrameStore:
    """Sampled frames of one split, memory-mapped, with their metadata.

    Attributes:
        frames: uint8 array (n_frames, size, size, 3), memory-mapped read-only.
        meta: One row per frame: clip, frame_index, n_decoded, split, the five traits, fps,
            width and height of the original video.
        skipped: Clips that could not be read, with the reason.
        path: Folder of the store.
        short: Clips that decode far fewer frames than their container promises
            (:attr:`~personality_utils.data.video.SampledClip.short`): ``{clip: (decoded,
            promised)}``, kept in the store unless it was built with ``skip_short``.
        detections: Face records per frame when the store was built with faces
            (:data:`DETECTION_FIELDS`; boxes are (left, top, right, bottom); NaN where no face).
    """

    frames: np.ndarray
    meta: pd.DataFrame
    skipped: dict[str, str]
    path: Path
    detections: dict[str, np.ndarray] | None = None
    short: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.meta)

    def clip_labels(self) -> pd.DataFrame:
        """One row of trait scores per clip (clip order of the store)."""
        return self.meta.groupby("clip", sort=True)[list(TRAITS)].first()

    @property
    def missing_videos(self) -> list[str]:
        """Labelled clips with no video file on disk, sorted (also in :data:`MISSING_LIST`)."""
        return sorted(clip for clip, reason in self.skipped.items() if reason == NO_VIDEO)

    @property
    def undecoded(self) -> dict[str, str]:
        """Clips whose video is there but could not be read, with the reason."""
        return {clip: reason for clip, reason in self.skipped.items() if reason != NO_VIDEO}


@dataclass
class FaceStore:
    """Aligned face crops of one split: only frames where a face was found.

    Attributes:
        crops: uint8 array (n_faces, size, size, 3), memory-mapped read-only.
        meta: The frame store's metadata rows of those frames, plus ``frame_row`` (row in the
            frame store).
        landmarks: (n_faces, 68, 2) landmarks in crop coordinates.
        path: Folder of the store.
    """

    crops: np.ndarray
    meta: pd.DataFrame
    landmarks: np.ndarray
    path: Path

    def __len__(self) -> int:
        return len(self.meta)

    def clip_labels(self) -> pd.DataFrame:
        """One row of trait scores per clip that kept at least one face."""
        return self.meta.groupby("clip", sort=True)[list(TRAITS)].first()


#: Shape and type of each :data:`DETECTION_FIELDS` entry of a split with no frame.
_EMPTY_DETECTIONS = {
    "found": ((0,), bool),
    "score": ((0,), np.float32),
    "upsampled": ((0,), bool),
    "box_frame": ((0, 4), np.float32),
    "box_store": ((0, 4), np.float32),
    "landmarks_frame": ((0, 68, 2), np.float32),
    "landmarks_store": ((0, 68, 2), np.float32),
    "landmarks_crop": ((0, 68, 2), np.float32),
}
_INTEGER_COLUMNS = ("frame_row", "frame_index", "n_decoded", "width", "height")


def _read_meta(path: Path) -> pd.DataFrame:
    """A store's metadata CSV with its column types also when it has no row (a split without
    clips on disk), where pandas would read every column as text."""
    meta = pd.read_csv(path, dtype={"clip": str, "split": str})
    if len(meta) == 0:
        types = {column: np.int64 for column in _INTEGER_COLUMNS if column in meta}
        types.update({column: np.float64 for column in (*TRAITS, "fps") if column in meta})
        meta = meta.astype(types)
    return meta


def _face_records(frames: np.ndarray, size: int, face_size: int) -> dict[str, np.ndarray]:
    aligned = [align_frame(frame, store_size=size, face_size=face_size) for frame in frames]
    nan_box = np.full(4, np.nan, dtype=np.float32)
    records = {
        "found": np.array([a.detection.found for a in aligned]),
        "score": np.array([a.detection.score for a in aligned], dtype=np.float32),
        "upsampled": np.array([a.detection.upsampled for a in aligned]),
        "box_frame": np.stack(
            [
                np.asarray(a.detection.box, dtype=np.float32) if a.detection.found else nan_box
                for a in aligned
            ]
        ),
        "box_store": np.stack([a.box_store for a in aligned]),
        "landmarks_frame": np.stack(
            [a.detection.landmarks if a.detection.found else a.landmarks_store for a in aligned]
        ).astype(np.float32),
        "landmarks_store": np.stack([a.landmarks_store for a in aligned]),
        "landmarks_crop": np.stack([a.landmarks_crop for a in aligned]),
    }
    crops = [a.crop for a in aligned if a.crop is not None]
    records["crops"] = (
        np.stack(crops) if crops else np.zeros((0, face_size, face_size, 3), dtype=np.uint8)
    )
    return records


def _shard_clip(task: tuple) -> tuple[str, str | None]:
    clip, video, shard_path, n_samples, size, face_size = task
    try:
        sampled = read_sampled_frames(video, n_samples, warn=False)  # warned per split
    except DataError as error:
        return clip, str(error)
    arrays = {"frames": np.stack([square_frame(frame, size) for frame in sampled.frames])}
    if face_size:
        arrays.update(_face_records(sampled.frames, size, face_size))
    info = {
        "indices": sampled.indices,
        "n_decoded": sampled.n_decoded,
        "fps": sampled.fps,
        "n_promised": sampled.n_promised,
        "width": int(sampled.frames.shape[2]),
        "height": int(sampled.frames.shape[1]),
    }
    arrays["info"] = np.frombuffer(json.dumps(info).encode(), np.uint8)

    def write(temporary: str) -> None:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    write_atomic(Path(shard_path), write)
    return clip, None


def build_frame_store(
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    splits: Sequence[str] = SPLITS,
    n_samples: int = 10,
    size: int = 224,
    workers: int = 0,
    progress: bool = True,
    face_size: int = 0,
    skip_short: bool = False,
    part: int | None = None,
    parts: int = 1,
    merge: bool = False,
) -> dict[str, FrameStore]:
    """Sample every labelled clip and write one memory-mappable frame store per split, and with
    ``face_size`` its aligned faces too, from a single decoding of each clip.

    Each clip becomes a shard written atomically, so a rerun resumes where an interrupted run
    stopped; the split's arrays and metadata are then assembled (also atomically). A clip that
    cannot be decoded, or has labels but no video, is reported by name in ``skipped`` and the
    others continue. Frames without a detected face stay in the frame store (flagged in its
    ``detections``) and are absent from the face store: never replaced or duplicated.

    With ``part`` the call samples only its share of the clips
    (:func:`~personality_utils.data.parts.part_clips`) into the
    shards and assembles nothing, so that ``parts`` calls on as many machines sharing
    ``out_dir`` split the work side by side; a later call without ``part`` assembles every
    split from the shards they left (sampling any clip still missing, or with ``merge``
    refusing to).

    Args:
        data_root: Dataset root (annotation pickles plus clips, extracted or zipped).
        out_dir: Folder of the store.
        splits: Splits to build (those without labels are skipped).
        n_samples: ``n_samples`` of the authors' rule (10).
        size: Side of the stored square frames.
        workers: Processes (0 = every core).
        progress: Show a progress bar.
        face_size: Side of the aligned face crops (0 = no faces).
        skip_short: Leave out clips that decode far fewer frames than their container promises
            (:attr:`~personality_utils.data.video.SampledClip.short`, a truncated download); either
            way each is named in a warning with both counts and listed in the store's
            ``short``.
        part: This call's share, from 0 to ``parts - 1`` (None = every clip, then assemble).
        parts: How many shares the clips are dealt into.
        merge: Assemble from the shards only: refuse, naming the clips and their parts, when a
            part has not finished (instead of sampling those clips here).

    Returns:
        ``{split: FrameStore}``; open the faces with :func:`open_face_store`. A ``part`` call
        returns ``{}`` and leaves a record of its work beside the shards
        (:func:`~personality_utils.data.parts.part_records`).

    Raises:
        ValueError: If ``part`` is not one of ``parts``, or comes with ``merge``.
        DataError: With ``merge``, if some clips have no shard yet.
    """
    from tqdm.auto import tqdm

    if part is not None:
        check_part(part, parts)
        if merge:
            raise ValueError("merge assembles the parts' shards: it takes no part")
    out_dir = Path(out_dir)
    labels = load_split_labels(data_root)
    # Parts started side by side extract a zipped release once (the others find it extracted).
    with file_lock(out_dir / ".extract.lock"):
        clips = find_clips(data_root, extract_dir=out_dir / "_extracted")
    share = part_clips(labels, part, parts) if part is not None else None
    workers = workers or os.cpu_count() or 1
    stores = {}
    for split in splits:
        if split not in labels:
            continue
        split_dir = out_dir / split
        final = split_dir / "frames.npy"
        settings = {
            "version": _STORE_VERSION,
            "n_samples": n_samples,
            "size": size,
            "face_size": face_size,
            "skip_short": skip_short,
        }
        if final.is_file() and read_json(split_dir / "store.json").get("settings") == settings:
            if part is not None:
                continue  # assembled already: nothing left to share
            stores[split] = open_frame_store(out_dir, split)
            if not (split_dir / MISSING_LIST).is_file():  # a store built before the list was
                _write_missing_list(split_dir, stores[split].skipped)
            continue
        shard_dir = split_dir / f"shards-v{_STORE_VERSION}-{n_samples}-{size}-{face_size}"
        skipped: dict[str, str] = {}
        tasks = []
        for clip in labels[split].index:
            if share is not None and clip not in share:
                continue
            if clip not in clips:
                skipped[clip] = NO_VIDEO
                continue
            shard = shard_dir / f"{clip}.npz"
            failure = shard_dir / f"{clip}{_FAILED}"
            if failure.is_file():  # a clip that could not be decoded, by this or another part
                skipped[clip] = failure.read_text()
            elif not shard.is_file():
                tasks.append((clip, str(clips[clip]), shard, n_samples, size, face_size))
        if merge and tasks:
            raise DataError(unfinished(split, shard_dir, [task[0] for task in tasks], labels))
        started = clock()
        if tasks:
            what = "frames + faces" if face_size else "frames"
            share_name = f" (part {part} of {parts})" if part is not None else ""
            bar = tqdm(total=len(tasks), desc=f"{what} {split}{share_name}", disable=not progress)
            if workers > 1 and len(tasks) > 1:
                with process_pool(workers) as pool:
                    for clip, error in pool.map(_shard_clip, tasks, chunksize=2):
                        if error:
                            skipped[clip] = error
                            _record_failure(shard_dir, clip, error)
                        bar.update()
            else:
                for task in tasks:
                    clip, error = _shard_clip(task)
                    if error:
                        skipped[clip] = error
                        _record_failure(shard_dir, clip, error)
                    bar.update()
            bar.close()
        if part is not None:
            record = part_record(part, parts, share, labels[split].index, len(tasks), skipped)
            write_part_record(shard_dir, record, workers, started)
            continue
        _assemble_split(split, labels[split], shard_dir, split_dir, skipped, settings)
        stores[split] = open_frame_store(out_dir, split)
        for clip, (decoded, promised) in sorted(stores[split].short.items()):
            log.warning(
                "%s: decodes %d frames where its container promises %d (truncated or damaged "
                "file?)%s",
                clips[clip],
                decoded,
                promised,
                "; skipped (skip_short)" if skip_short else "; sampled from the frames it has",
            )
        # A few lines whatever the count (a partial download misses thousands of clips); the
        # command line and the chapters print the same report of every store they open.
        for line in skip_report({split: stores[split]}):
            log.info(line)
        # The assembled split is complete; its shards were only needed to resume.
        shutil.rmtree(shard_dir, ignore_errors=True)
    return stores


def _record_failure(shard_dir: Path, clip: str, error: str) -> None:
    """A clip that could not be decoded is done too: its reason replaces its shard, so that the
    assembly (maybe another part's) reports it without decoding it again."""
    write_atomic(
        shard_dir / f"{clip}{_FAILED}", lambda temporary: Path(temporary).write_text(error)
    )


def _assemble_split(
    split: str,
    labels: pd.DataFrame,
    shard_dir: Path,
    split_dir: Path,
    skipped: dict[str, str],
    settings: dict,
) -> None:
    from numpy.lib.format import open_memmap

    rows = []
    shards = []
    face_size = settings["face_size"]
    detections: dict[str, list] = {field: [] for field in DETECTION_FIELDS}
    short: dict[str, list[int]] = {}
    for clip in labels.index:  # sorted clip order: never file-system order
        shard = shard_dir / f"{clip}.npz"
        if clip in skipped or not shard.is_file():
            continue
        with np.load(shard, allow_pickle=False) as content:
            info = json.loads(content["info"].tobytes())
        promised = int(info.get("n_promised", 0))
        if promised and info["n_decoded"] < SHORT_CLIP_RATIO * promised:
            short[clip] = [int(info["n_decoded"]), promised]
            if settings.get("skip_short"):
                skipped[clip] = (
                    f"decodes {info['n_decoded']} frames where its container promises "
                    f"{promised} (truncated or damaged file?)"
                )
                continue
        with np.load(shard, allow_pickle=False) as content:
            n = content["frames"].shape[0]
            n_faces = content["crops"].shape[0] if face_size else 0
            if face_size:
                for field in DETECTION_FIELDS:
                    detections[field].append(content[field])
        shards.append((shard, n, n_faces))
        for index in info["indices"]:
            row = {
                "clip": clip,
                "frame_index": index,
                "n_decoded": info["n_decoded"],
                "split": split,
            }
            row.update({trait: float(labels.at[clip, trait]) for trait in TRAITS})
            row.update(fps=info["fps"], width=info["width"], height=info["height"])
            rows.append(row)
    total = sum(n for _, n, _ in shards)
    total_faces = sum(n for _, _, n in shards)
    size = settings["size"]

    def write_array(key: str, count: int, side: int):
        def write(temporary: str) -> None:
            array = open_memmap(temporary, mode="w+", dtype=np.uint8, shape=(count, side, side, 3))
            position = 0
            for shard, *_ in shards:
                with np.load(shard, allow_pickle=False) as content:
                    block = content[key]
                array[position : position + len(block)] = block
                position += len(block)
            array.flush()
            del array

        return write

    meta = pd.DataFrame(
        rows,
        columns=["clip", "frame_index", "n_decoded", "split", *TRAITS, "fps", "width", "height"],
    )
    write_atomic(split_dir / "frames.npy", write_array("frames", total, size))
    write_atomic(split_dir / "meta.csv", lambda temporary: meta.to_csv(temporary, index=False))
    record = {
        "settings": settings,
        # By clip: the same record whether one run or several parts found them.
        "skipped": dict(sorted(skipped.items())),
        "short": short,
        "n_frames": total,
        "n_clips": len(shards),
    }
    if face_size:
        merged = {
            field: (np.concatenate(parts) if parts else np.zeros(*_EMPTY_DETECTIONS[field]))
            for field, parts in detections.items()
        }

        def write_detections(temporary: str) -> None:
            with open(temporary, "wb") as handle:
                np.savez(handle, **merged)

        found = merged["found"].astype(bool) if total else np.zeros(0, dtype=bool)
        face_meta = meta[found].copy()
        face_meta.insert(0, "frame_row", np.flatnonzero(found))
        write_atomic(split_dir / "detections.npz", write_detections)
        write_atomic(split_dir / "faces.npy", write_array("crops", total_faces, face_size))
        write_atomic(
            split_dir / "faces_meta.csv",
            lambda temporary: face_meta.to_csv(temporary, index=False),
        )
        record["n_faces"] = total_faces
    _write_missing_list(split_dir, skipped)
    write_atomic(
        split_dir / "store.json",
        lambda temporary: Path(temporary).write_text(json.dumps(record, indent=1)),
    )


def _write_missing_list(split_dir: Path, skipped: dict[str, str]) -> None:
    missing = sorted(clip for clip, reason in skipped.items() if reason == NO_VIDEO)
    text = "".join(f"{clip}\n" for clip in missing)
    write_atomic(split_dir / MISSING_LIST, lambda temporary: Path(temporary).write_text(text))


def missing_summary(store: FrameStore, split: str, shown: int = 3) -> str | None:
    """One line on a split's labelled clips that have no video (None when there are none):
    how many of how many labelled, the first ``shown`` names, and the file listing them all
    (:data:`MISSING_LIST` beside the store)."""
    missing = store.missing_videos
    if not missing:
        return None
    labelled = store.meta["clip"].nunique() + len(store.skipped)
    names = ", ".join(missing[:shown]) + (", ..." if len(missing) > shown else "")
    return (
        f"{split}: {len(missing)} of {labelled} labelled clips have no video ({names}); "
        f"full list in {shown_path(store.path / MISSING_LIST)}"
    )


def skip_report(stores: Mapping[str, FrameStore], shown: int = 5) -> list[str]:
    """What the stores left out or hold damaged, in a few lines whatever the count: per split
    one :func:`missing_summary` line, the clips that decode far fewer frames than their
    container promises (:attr:`FrameStore.short`, both counts), and the clips that could not be
    decoded (each kind: the first ``shown`` by name, then how many more; all are in
    ``store.json``). The command line and every chapter print it for each store they open, so a
    truncated download is named on every read, not only when the store is built."""
    lines = []
    for split, store in stores.items():
        summary = missing_summary(store, split)
        if summary:
            lines.append(summary)
        short = sorted(store.short.items())
        for clip, (decoded, promised) in short[:shown]:
            kept = "skipped" if clip in store.skipped else "sampled from the frames it has"
            lines.append(
                f"{split}: {clip} decodes {decoded} frames where its container promises "
                f"{promised} (truncated or damaged file?); {kept}"
            )
        if len(short) > shown:
            lines.append(
                f"{split}: and {len(short) - shown} more clips decode far fewer frames than "
                f"their container promises (each in {shown_path(store.path / 'store.json')})"
            )
        undecoded = sorted(i for i in store.undecoded.items() if i[0] not in store.short)
        for clip, reason in undecoded[:shown]:
            lines.append(f"{split}: skipped {clip}: {reason}")
        if len(undecoded) > shown:
            lines.append(
                f"{split}: and {len(undecoded) - shown} more clips could not be decoded "
                f"(each with its reason in {shown_path(store.path / 'store.json')})"
            )
    return lines


def open_frame_store(store_dir: str | os.PathLike, split: str) -> FrameStore:
    """Open a split written by :func:`build_frame_store` (frames memory-mapped, read-only).

    Raises:
        DataError: If the split's files are missing or disagree with each other.
    """
    split_dir = Path(store_dir) / split
    record = read_json(split_dir / "store.json")
    if not record or not (split_dir / "frames.npy").is_file():
        raise DataError(f"{split_dir}: no frame store here (run build_frame_store first)")
    frames = np.load(split_dir / "frames.npy", mmap_mode="r", allow_pickle=False)
    meta = _read_meta(split_dir / "meta.csv")
    if len(meta) != frames.shape[0]:
        raise DataError(f"{split_dir}: meta.csv has {len(meta)} rows for {frames.shape[0]} frames")
    detections = None
    if (split_dir / "detections.npz").is_file():
        with np.load(split_dir / "detections.npz", allow_pickle=False) as content:
            detections = {key: content[key] for key in content.files}
    return FrameStore(
        frames=frames,
        meta=meta,
        skipped=record.get("skipped", {}),
        path=split_dir,
        detections=detections,
        short={clip: tuple(counts) for clip, counts in record.get("short", {}).items()},
    )


def open_face_store(store_dir: str | os.PathLike, split: str) -> FaceStore:
    """Open the aligned faces of a split built with ``face_size`` (memory-mapped, read-only).

    Raises:
        DataError: If the store was built without faces.
    """
    split_dir = Path(store_dir) / split
    if not (split_dir / "faces.npy").is_file():
        raise DataError(f"{split_dir}: no face store here (build the store with face_size > 0)")
    crops = np.load(split_dir / "faces.npy", mmap_mode="r", allow_pickle=False)
    meta = _read_meta(split_dir / "faces_meta.csv")
    with np.load(split_dir / "detections.npz", allow_pickle=False) as content:
        landmarks = content["landmarks_crop"][meta["frame_row"].to_numpy(dtype=np.int64)]
    if len(meta) == 0:  # stores written before empty splits kept the fields' shapes
        landmarks = np.zeros(_EMPTY_DETECTIONS["landmarks_crop"][0], np.float32)
    if len(meta) != crops.shape[0]:
        raise DataError(
            f"{split_dir}: faces_meta.csv has {len(meta)} rows for {crops.shape[0]} crops"
        )
    return FaceStore(crops=crops, meta=meta, landmarks=landmarks, path=split_dir)
