"""The dataset a chapter asks for: the synthetic set (made on first use) or a real release at
``data_root``, with its frame and face stores built by the profile's sampling and sizes.

Every chapter starts with :func:`prepare_dataset`. It sits above :mod:`~personality_utils.data`,
:mod:`~personality_utils.stores` and :mod:`~personality_utils.synthetic`, which never import it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from . import synthetic
from .data import DataError, find_clips
from .profiles import get_profile
from .stores import (
    FaceStore,
    FrameStore,
    build_frame_store,
    open_face_store,
    open_frame_store,
)

__all__ = ["Dataset", "prepare_dataset"]


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
) -> Dataset:
    """Resolve ``data_root`` (None = the synthetic set, generated on first use) and build its
    frame and face stores with the profile's sampling and sizes (one decoding per clip).

    Args:
        profile: A :class:`~personality_utils.profiles.Profile` or its name.
        data_root: Real dataset root, or None for the synthetic set.
        seed: Seed of the synthetic set.
        cache_dir: Where generated data and stores go (default: the package cache).
        progress: Show progress bars.
    """
    profile = get_profile(profile)
    cache = Path(cache_dir) if cache_dir is not None else synthetic.default_cache_dir()
    if data_root is None:
        root = synthetic.ensure_dataset(profile, seed, cache, progress=progress)
        key = root.name
        description = f"synthetic planted-signal set ({profile.name} profile, seed {seed})"
        is_synthetic = True
    else:
        root = Path(data_root).expanduser().resolve()
        if not root.is_dir():
            raise DataError(f"{root}: data_root is not a folder")
        key = "real-" + hashlib.sha1(str(root).encode()).hexdigest()[:10]
        description = f"First Impressions at {root}"
        is_synthetic = (root / "ground_truth.json").is_file()
    store_dir = cache / "stores" / key
    build_frame_store(
        root,
        store_dir,
        n_samples=profile.frames_per_clip,
        size=profile.store_size,
        workers=profile.workers,
        progress=progress,
        face_size=profile.face_size,
    )
    return Dataset(root=root, store_dir=store_dir, synthetic=is_synthetic, description=description)
