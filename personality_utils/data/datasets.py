"""The dataset a chapter asks for: the synthetic set (made on first use) or a real release at
``data_root``, with its frame and face stores built by the profile's sampling and sizes.

Every chapter starts with :func:`prepare_dataset`. It sits above
:mod:`~personality_utils.data.release`,
:mod:`~personality_utils.data.stores` and :mod:`~personality_utils.data.synthetic.generator`, which
never import it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from personality_utils.core.files import file_lock, shown_path
from personality_utils.core.profiles import get_profile
from personality_utils.core.vocabulary import SPLITS, TRAITS, DataError
from personality_utils.data.release import find_clips
from personality_utils.data.stores import (
    FaceStore,
    FrameStore,
    build_frame_store,
    open_face_store,
    open_frame_store,
)
from personality_utils.data.synthetic import generator
from personality_utils.data.video import sample_frame_indices

__all__ = [
    "Dataset",
    "first_frames",
    "frames_per_clip",
    "label_summary",
    "prepare_dataset",
    "sampling_examples",
    "skipped_clips",
    "split_for",
    "splits_with_frames",
    "splits_without_frames",
    "split_table",
    "store_record",
]


@dataclass
class Dataset:
    """A dataset ready for the chapters.

    Attributes:
        root: Dataset root in the official layout.
        store_dir: Folder of its frame stores (one sub-folder per split).
        synthetic: Whether it is the generated planted-signal set (it then has ground truth).
        description: What produced it, for results files and captions.
    """

    root: Path
    store_dir: Path
    synthetic: bool
    description: str

    def store(self, split: str) -> FrameStore:
        """The frame store of one split."""
        return open_frame_store(self.store_dir, split)

    def faces(self, split: str) -> FaceStore:
        """The aligned faces of one split."""
        return open_face_store(self.store_dir, split)

    def stores(self) -> dict[str, FrameStore]:
        """The frame store of every split that has one, in
        :data:`~personality_utils.core.vocabulary.SPLITS`
        order."""
        return {split: self.store(split) for split in SPLITS if (self.store_dir / split).is_dir()}

    def face_stores(self) -> dict[str, FaceStore]:
        """The aligned faces of every split that has a frame store (see :meth:`stores`)."""
        return {split: self.faces(split) for split in SPLITS if (self.store_dir / split).is_dir()}

    def clips(self) -> dict[str, Path]:
        """Clip name -> video file (zips were extracted next to the stores, not into the
        dataset, which may be read-only)."""
        return find_clips(self.root, extract_dir=self.store_dir / "_extracted")


def prepare_dataset(
    profile,
    data_root: str | os.PathLike | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    skip_short: bool = False,
    part: int | None = None,
    parts: int = 1,
    merge: bool = False,
) -> Dataset:
    """Resolve ``data_root`` (None = the synthetic set, generated on first use) and build its
    frame and face stores with the profile's sampling and sizes (one decoding per clip).

    Args:
        profile: A :class:`~personality_utils.core.profiles.Profile` or its name.
        data_root: Real dataset root, or None for the synthetic set.
        seed: Seed of the synthetic set.
        cache_dir: Where generated data and stores go (default: the package cache).
        progress: Show progress bars.
        skip_short: Leave out clips that decode far fewer frames than their container promises
            (see :func:`~personality_utils.data.stores.build_frame_store`).
        part: Sample only this share of ``parts`` of the clips and assemble nothing (see
            :func:`~personality_utils.data.stores.build_frame_store`); its stores are then
            not ready to open.
        parts: How many shares the clips are dealt into.
        merge: Assemble the parts' shards, refusing when some clips have none.
    """
    profile = get_profile(profile)
    cache = Path(cache_dir) if cache_dir is not None else generator.default_cache_dir()
    # Chapters started side by side on a cold cache take turns (the first builds, the others
    # find it built). Parts take turns only to find or generate the data: their shards are
    # written atomically, one file per clip, side by side.
    with file_lock(cache / ".prepare.lock"):
        dataset = _resolve_dataset(profile, data_root, seed, cache, progress)
        if part is None:
            _build_stores(dataset, profile, progress, skip_short, merge=merge)
            return dataset
    _build_stores(dataset, profile, progress, skip_short, part=part, parts=parts)
    return dataset


def store_dir_for(
    profile, data_root: str | os.PathLike | None = None, seed: int = 0, cache_dir=None
) -> Path:
    """Where :func:`prepare_dataset` puts (or has put) a dataset's stores, without preparing
    anything."""
    cache = Path(cache_dir) if cache_dir is not None else generator.default_cache_dir()
    if data_root is None:
        key = generator.dataset_key(profile, seed)
    else:
        root = Path(data_root).expanduser().resolve()
        key = "real-" + hashlib.sha1(str(root).encode()).hexdigest()[:10]
    return cache / "stores" / key


def _resolve_dataset(profile, data_root, seed, cache, progress) -> Dataset:
    if data_root is None:
        root = generator.ensure_dataset(profile, seed, cache, progress=progress)
        description = f"synthetic planted-signal set ({profile.name} profile, seed {seed})"
        is_synthetic = True
    else:
        root = Path(data_root).expanduser().resolve()
        if not root.is_dir():
            raise DataError(f"{root}: data_root is not a folder")
        # Shown in the chapters and the summary: no absolute path of this machine in a page.
        description = f"First Impressions at {shown_path(root)}"
        is_synthetic = (root / "ground_truth.json").is_file()
    store_dir = store_dir_for(profile, data_root, seed, cache)
    return Dataset(root=root, store_dir=store_dir, synthetic=is_synthetic, description=description)


def _build_stores(dataset: Dataset, profile, progress, skip_short, **sharing) -> None:
    build_frame_store(
        dataset.root,
        dataset.store_dir,
        n_samples=profile.frames_per_clip,
        size=profile.store_size,
        workers=profile.workers,
        progress=progress,
        face_size=profile.face_size,
        skip_short=skip_short,
        **sharing,
    )


# ----------------------------------------------------------------------------------------------
# What a dataset holds (chapter 01)
# ----------------------------------------------------------------------------------------------


def split_table(
    labels: Mapping[str, pd.DataFrame], stores: Mapping[str, FrameStore]
) -> pd.DataFrame:
    """One row per labelled split: labelled clips, those with no video file on disk (a partial
    download; :func:`~personality_utils.data.stores.missing_summary` says where they are listed),
    clips and frames in its store, clips skipped because their video could not be decoded."""
    return pd.DataFrame(
        {
            split: {
                "labelled clips": len(labels[split]),
                "no video file": len(stores[split].missing_videos),
                "clips in store": stores[split].meta["clip"].nunique(),
                "frames in store": len(stores[split]),
                "clips skipped": len(stores[split].undecoded),
            }
            for split in labels
        }
    ).T


def skipped_clips(stores: Mapping[str, FrameStore]) -> pd.DataFrame:
    """Every clip a store skipped because its video could not be decoded, with the reason:
    columns split, clip, reason (clips sorted within each split). Labelled clips with no video
    at all are counted by :func:`split_table` and listed in a file beside each store."""
    rows = [
        (split, clip, reason)
        for split, store in stores.items()
        for clip, reason in sorted(store.undecoded.items())
    ]
    return pd.DataFrame(rows, columns=["split", "clip", "reason"])


def split_for(
    stores: Mapping[str, FrameStore], preferred: str, order: Iterable[str] = SPLITS
) -> tuple[str | None, str | None]:
    """The split a measure runs on: ``preferred`` when its store holds frames, else the first
    split of ``order`` that does (None when none does), and a line saying why when it is not
    ``preferred`` (None when it is)."""
    if preferred in splits_with_frames(stores, [preferred]):
        return preferred, None
    others = splits_with_frames(stores, order)
    why = f"{preferred} has no clip on disk"
    if not others:
        return None, f"{why}, nor has any other split: nothing to measure"
    return others[0], f"{why}: measured on {others[0]} instead"


def splits_without_frames(stores: Mapping[str, FrameStore], what: str) -> list[str]:
    """One line per split whose store holds no frame (no clip of it on disk): it says that
    ``what`` leaves that split out and why."""
    return [
        f"{split}: no clip on disk ({len(store.missing_videos)} labelled clips have no video), "
        f"so {what} leaves it out"
        for split, store in stores.items()
        if len(store) == 0
    ]


def splits_with_frames(stores: Mapping[str, FrameStore], order: Iterable[str]) -> list[str]:
    """The splits of ``order`` whose store holds at least one frame (a partial download can
    leave a labelled split without any clip)."""
    return [split for split in order if split in stores and len(stores[split])]


def label_summary(labels: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean and standard deviation of each trait, rows (split, "mean" | "std")."""
    return pd.concat(
        {split: table[list(TRAITS)].agg(["mean", "std"]) for split, table in labels.items()}
    )


def sampling_examples(lengths: Iterable[int], n_samples: int) -> pd.DataFrame:
    """What the authors' rule keeps of clips of the given decoded lengths N: one row per N with
    the number of frames and their 1-based (MATLAB) indices."""
    rows = {}
    for n in lengths:
        matlab = [index + 1 for index in sample_frame_indices(n, n_samples)]
        rows[n] = {"frames": len(matlab), "MATLAB indices": matlab}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("N")


def frames_per_clip(stores: Mapping[str, FrameStore]) -> pd.DataFrame:
    """How many clips of all stores kept each number of frames (column ``clips``)."""
    per_clip = pd.concat([store.meta.groupby("clip").size() for store in stores.values()])
    counts = per_clip.value_counts().sort_index().rename("clips")
    return counts.to_frame().rename_axis("frames per clip")


def first_frames(store: FrameStore, count: int = 15) -> tuple[list[np.ndarray], list[str]]:
    """The first stored frame of each of the first ``count`` clips, in store order, with titles
    naming the clip and its extraversion label."""
    first = store.meta.groupby("clip", sort=True).head(1).head(count)
    frames = [np.asarray(store.frames[row]) for row in first.index]
    titles = [f"{row.clip[:11]} E={row.extraversion:.2f}" for row in first.itertuples()]
    return frames, titles


def store_record(
    labels: Mapping[str, pd.DataFrame], stores: Mapping[str, FrameStore]
) -> dict[str, dict]:
    """What chapter 01 saves of the stores: labelled clips and stored frames per split, how
    many labelled clips have no video file, the names of the clips each store skipped because
    they could not be decoded (sorted), and the clips that decode far fewer frames than their
    container promises, with both counts (``short_clips``)."""
    return {
        "clips": {split: len(table) for split, table in labels.items()},
        "frames": {split: len(store) for split, store in stores.items()},
        "clips_without_video": {
            split: len(store.missing_videos) for split, store in stores.items()
        },
        "skipped_clips": {split: sorted(store.undecoded) for split, store in stores.items()},
        "short_clips": {
            split: {clip: list(counts) for clip, counts in sorted(store.short.items())}
            for split, store in stores.items()
        },
    }
