"""Tests of personality_utils.data.datasets: the tables chapter 01 draws from the labels and
stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from personality_utils.core import vocabulary
from personality_utils.core.profiles import get_profile
from personality_utils.data import datasets, stores


def _labels(clips: list[str], value: float = 0.5) -> pd.DataFrame:
    return pd.DataFrame({trait: value for trait in vocabulary.TRAITS}, index=clips)


def _store(frames_per_clip: dict[str, int], skipped: dict[str, str] | None = None):
    """A tiny frame store: each frame's pixels hold its row number, extraversion = row / 100."""
    clips = [clip for clip, count in frames_per_clip.items() for _ in range(count)]
    meta = pd.DataFrame({"clip": clips, "frame_index": range(len(clips))})
    for trait in vocabulary.TRAITS:
        meta[trait] = np.arange(len(clips)) / 100
    frames = np.arange(len(clips), dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3))
    return stores.FrameStore(frames.astype(np.uint8), meta, skipped or {}, Path("store"))


def test_split_table_counts_clips_frames_and_skips():
    labels = {"train": _labels(["a", "b", "c", "e"]), "test": _labels(["d"])}
    skipped = {"c": "cannot decode video", "e": stores.NO_VIDEO}
    built = {"train": _store({"a": 2, "b": 3}, skipped), "test": _store({"d": 4})}
    table = datasets.split_table(labels, built)
    assert table.loc["train"].to_dict() == {
        "labelled clips": 4,
        "no video file": 1,
        "clips in store": 2,
        "frames in store": 5,
        "clips skipped": 1,
    }
    assert table.loc["test", "frames in store"] == 4
    assert list(table.index) == ["train", "test"]


def test_skipped_clips_lists_every_reason_sorted():
    built = {"train": _store({"a": 1}, {"z": "bad", "b": "empty"}), "test": _store({"d": 1})}
    table = datasets.skipped_clips(built)
    assert table.values.tolist() == [["train", "b", "empty"], ["train", "z", "bad"]]
    assert list(datasets.skipped_clips({"test": _store({"d": 1})}).columns) == [
        "split",
        "clip",
        "reason",
    ]


def test_label_summary_is_mean_and_std_per_split():
    table = pd.DataFrame({trait: [0.2, 0.4, 0.6] for trait in vocabulary.TRAITS}, index=list("abc"))
    summary = datasets.label_summary({"train": table})
    assert summary.loc[("train", "mean"), "openness"] == pytest.approx(0.4)
    assert summary.loc[("train", "std"), "neuroticism"] == pytest.approx(0.2)  # sample std


def test_sampling_examples_follow_the_matlab_rule():
    table = datasets.sampling_examples((459, 452), 10)
    # 1:round(458/10):459 = 1:46:459 ends at 415; 1:45:452 reaches 451, an 11th frame.
    assert table.loc[459, "MATLAB indices"] == list(range(1, 416, 46))
    assert table.loc[452, "frames"] == 11 and table.loc[452, "MATLAB indices"][-1] == 451
    assert table.index.name == "N"


def test_frames_per_clip_counts_clips_by_length():
    table = datasets.frames_per_clip({"train": _store({"a": 2, "b": 3}), "test": _store({"c": 2})})
    assert table["clips"].to_dict() == {2: 2, 3: 1}


def test_first_frames_takes_the_first_frame_of_each_clip_in_store_order():
    store = _store({"zz": 2, "aa": 3})  # rows 0-1 are clip zz, rows 2-4 clip aa
    frames, titles = datasets.first_frames(store, count=5)
    assert [int(frame[0, 0, 0]) for frame in frames] == [0, 2]
    assert titles == ["zz E=0.00", "aa E=0.02"]
    assert len(datasets.first_frames(store, count=1)[0]) == 1


def test_store_record_names_skipped_clips():
    labels = {"train": _labels(["a", "b", "c"])}
    skipped = {"c": "x", "b": "y", "d": stores.NO_VIDEO}
    store = _store({"a": 2}, skipped)
    store.short = {"a": (61, 367)}
    record = datasets.store_record(labels, {"train": store})
    assert record == {
        "clips": {"train": 3},
        "frames": {"train": 2},
        "clips_without_video": {"train": 1},
        "skipped_clips": {"train": ["b", "c"]},
        "short_clips": {"train": {"a": [61, 367]}},
    }


def test_a_partial_download_is_reported_in_a_few_lines():
    missing = {f"{index:011d}.000.mp4": stores.NO_VIDEO for index in range(6000)}
    undecoded = {f"broken{index:05d}.000.mp4": "cannot decode video" for index in range(7)}
    built = {
        "train": _store({"a": 2}, {**missing, **undecoded}),
        "validation": _store({}, {"v": stores.NO_VIDEO}),
        "test": _store({"d": 1}),
    }
    lines = stores.skip_report(built)
    assert lines[0] == (
        "train: 6000 of 6008 labelled clips have no video (00000000000.000.mp4, "
        "00000000001.000.mp4, 00000000002.000.mp4, ...); full list in "
        f"{Path('store') / stores.MISSING_LIST}"
    )
    assert lines[1:6] == [
        f"train: skipped broken{i:05d}.000.mp4: cannot decode video" for i in range(5)
    ]
    assert lines[6].startswith("train: and 2 more clips could not be decoded")
    assert lines[7].startswith("validation: 1 of 1 labelled clips have no video (v); full list")
    assert len(lines) == 8
    assert datasets.split_for(built, "validation") == (
        "train",
        "validation has no clip on disk: measured on train instead",
    )
    assert datasets.split_for(built, "test") == ("test", None)
    assert datasets.split_for({"validation": built["validation"]}, "validation")[0] is None
    assert datasets.splits_without_frames(built, "the table") == [
        "validation: no clip on disk (1 labelled clips have no video), so the table leaves it out"
    ]


def test_dataset_opens_every_split_it_built(smoke_dataset):
    frame_stores, face_stores = smoke_dataset.stores(), smoke_dataset.face_stores()
    assert list(frame_stores) == list(face_stores) == list(vocabulary.SPLITS)
    for split, store in frame_stores.items():
        assert len(face_stores[split]) == int(store.detections["found"].sum())


def test_a_real_root_and_its_stores_are_shown_without_this_machines_folders(tmp_path, monkeypatch):
    # A chapter runs in its book folder; what it prints of the data root and of the stores goes
    # into the page, so neither may be an absolute path (.ci/check_paths.py fails on one).
    import pickle

    from helpers import write_video

    root = tmp_path / "fi"
    root.mkdir()
    write_video(root / "abcdefghijk.001.mp4", 12)
    names = ["abcdefghijk.001.mp4", "zzzzzzzzzzz.001.mp4"]  # the second has no video
    labels = {trait: dict.fromkeys(names, 0.5) for trait in vocabulary.TRAITS}
    (root / "annotation_training.pkl").write_bytes(pickle.dumps(labels, protocol=2))
    book = tmp_path / "book"
    book.mkdir()
    monkeypatch.chdir(book)
    monkeypatch.setenv("PERSONALITY_UTILS_CACHE", str(tmp_path / "cache"))
    settings = get_profile("smoke").replace(store_size=32, face_size=0, workers=1)
    dataset = datasets.prepare_dataset(settings, data_root=root, progress=False)
    assert dataset.description == "First Impressions at ../fi"
    lines = stores.skip_report(dataset.stores())
    assert lines and all(str(tmp_path) not in line for line in lines)
    assert "full list in $PERSONALITY_UTILS_CACHE/stores/real-" in lines[0]
