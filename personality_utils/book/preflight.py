"""What ``make book`` checks before any work starts: the profile, the data root, the weights,
the OpenFace folder and the chapters asked for, each wrong or missing one in a single line
(``python -m personality_utils check-run``, the Makefile's ``preflight``).

A real study takes hours; an argument that is wrong should stop it in a second, not after the
data stage has sampled every clip. Only cheap checks run here: the files exist and are of the
right kind, the label pickles load (safely) and name clips; nothing is decoded or trained.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from personality_utils.book import chapters
from personality_utils.core.profiles import get_profile
from personality_utils.core.vocabulary import DataError
from personality_utils.data import release

__all__ = ["check_run", "trains_models"]

#: The profiles made for a real dataset: pointed at the synthetic generator they would write a
#: set the size of First Impressions (10,000 15-s clips at 1280x720).
REAL_DATA_PROFILES = ("paper",)


def trains_models(only: Sequence[str] | None) -> bool:
    """Whether the chapters ``only`` (None: all) read trained models (:attr:`~personality_utils.
    book.chapters.ChapterSpec.models`; the summary reads the others' results, not models)."""
    if not only:
        return True
    return any(chapters.CHAPTERS[stem].models for stem in only if stem != chapters.SUMMARY)


def _torch_file(path: Path) -> bool:
    """Whether the file starts as ``torch.save`` writes: a zip (torch >= 1.6) or a pickle."""
    with open(path, "rb") as handle:
        head = handle.read(2)
    return head == b"PK" or head[:1] == b"\x80"


def check_run(
    profile: str,
    data_root: str | os.PathLike | None = None,
    backbone_weights: str | os.PathLike | None = None,
    openface_dir: str | os.PathLike | None = None,
    only: Sequence[str] | None = None,
    notebooks: str | os.PathLike = "notebooks",
) -> list[str]:
    """Check a run's arguments; return a line per check that passed.

    Raises:
        ValueError: A chapter or profile that does not exist, or a combination that cannot run
            (the ``paper`` profile without ``DATA_ROOT``; a profile that starts from VGG-Face
            without ``BACKBONE_WEIGHTS`` while its chapters train models).
        DataError: A data root, weight file or OpenFace folder that is missing or not what it
            should be, naming the path and the problem.
    """
    settings = get_profile(profile)
    known = [source.stem for source in chapters.chapter_sources(notebooks)]
    unknown = sorted(set(only or ()) - set(known))
    if unknown:
        raise ValueError(f"ONLY: no chapter {', '.join(unknown)}; the chapters are {known}")
    lines = [f"profile {settings.name}; chapters: {' '.join(only or known)}"]
    if data_root is None:
        if settings.name in REAL_DATA_PROFILES:
            raise ValueError(
                f"PROFILE={settings.name} is the study on the real dataset: give "
                "DATA_ROOT=/path/to/first-impressions (on the synthetic generator this profile "
                "would write 10,000 15-s clips)"
            )
        lines.append("data: the synthetic planted-signal set")
    else:
        root = Path(data_root).expanduser()
        if not root.is_dir():
            raise DataError(f"{root}: DATA_ROOT is not a folder")
        labels = release.load_split_labels(root)  # DataError when no split has labels
        videos = next(root.rglob("*.mp4"), None) or next(root.rglob("*.zip"), None)
        if videos is None:
            raise DataError(f"{root}: DATA_ROOT has labels but no .mp4 clip or .zip archive")
        counts = ", ".join(f"{split} {len(table)}" for split, table in labels.items())
        lines.append(f"data: {root} (labelled clips: {counts})")
    training = trains_models(only)
    if backbone_weights:
        weights = Path(backbone_weights).expanduser()
        if not weights.is_file():
            raise DataError(f"{weights}: BACKBONE_WEIGHTS is not a file")
        if weights.stat().st_size == 0 or not _torch_file(weights):
            raise DataError(
                f"{weights}: BACKBONE_WEIGHTS is not a PyTorch weight file (torch.save's zip or "
                "pickle); convert VGG-Face with pytorch-mcn to vgg_face_dag.pth"
            )
        lines.append(f"starting weights: {weights}")
    elif training and settings.pretraining is None:
        raise ValueError(
            f"PROFILE={settings.name} fine-tunes VGG-Face: give "
            'BACKBONE_WEIGHTS=/path/to/vgg_face_dag.pth (or ONLY="01_data 02_faces", which '
            "train nothing)"
        )
    elif training:
        lines.append("starting weights: the profile's identity-pretrained backbone")
    if openface_dir is not None:
        folder = Path(openface_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f"{folder}: OPENFACE_DIR is not a folder")
        if next(folder.rglob("*.csv"), None) is None:
            raise DataError(f"{folder}: OPENFACE_DIR holds no OpenFace CSV (*.csv)")
        lines.append(f"action units: OpenFace CSVs in {folder}")
    return lines
