"""Tests of personality_utils.data.stores: building, resuming and opening the frame and face
stores."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import write_video

from personality_utils.core import vocabulary
from personality_utils.data import stores, video


def _tiny_dataset(root: Path, n_clips: int = 3, broken: str | None = None) -> dict[str, float]:
    root.mkdir(parents=True, exist_ok=True)
    names = [f"abcdefghij{k}.00{k}.mp4" for k in range(n_clips)]
    for k, name in enumerate(names):
        write_video(root / name, 20 + k)
    if broken:
        names.append(broken)
        (root / broken).write_bytes(b"garbage")
    names.append("zzzzzzzzzzz.001.mp4")  # labelled but missing
    content = {
        trait: {name: 0.1 * (i + 1) for i, name in enumerate(names)} for trait in vocabulary.TRAITS
    }
    (root / "annotation_training.pkl").write_bytes(pickle.dumps(content, protocol=2))
    return content


def test_frame_store_skips_bad_clips_and_resumes(tmp_path, monkeypatch):
    root = tmp_path / "fi"
    _tiny_dataset(root, broken="brokenbroke.009.mp4")
    built = stores.build_frame_store(root, tmp_path / "store", size=32, workers=1, progress=False)
    store = built["train"]
    assert set(store.skipped) == {"brokenbroke.009.mp4", "zzzzzzzzzzz.001.mp4"}
    assert "brokenbroke.009.mp4" in store.skipped["brokenbroke.009.mp4"]
    assert store.frames.shape[1:] == (32, 32, 3) and store.frames.dtype == np.uint8
    expected = sum(len(video.sample_frame_indices(20 + k)) for k in range(3))
    assert len(store) == expected == store.frames.shape[0]
    assert list(store.meta["clip"]) == sorted(
        store.meta["clip"]
    )  # clip order, not file-system order
    assert isinstance(store.frames, np.memmap)
    reopened = stores.open_frame_store(tmp_path / "store", "train")
    np.testing.assert_array_equal(reopened.frames, store.frames)

    # A finished split is reused as it is, without decoding anything.
    monkeypatch.setattr(stores, "_shard_clip", lambda task: pytest.fail("decoded again"))
    assert (
        len(
            stores.build_frame_store(root, tmp_path / "store", size=32, workers=1, progress=False)[
                "train"
            ]
        )
        == expected
    )


def test_interrupted_frame_store_resumes(tmp_path, monkeypatch):
    root = tmp_path / "fi"
    _tiny_dataset(root)
    original = stores._shard_clip
    done = []

    def interrupted(task):
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(task[0])
        return original(task)

    monkeypatch.setattr(stores, "_shard_clip", interrupted)
    with pytest.raises(KeyboardInterrupt):
        stores.build_frame_store(root, tmp_path / "store", size=32, workers=1, progress=False)
    assert not (tmp_path / "store" / "train" / "frames.npy").exists()
    resumed = []
    monkeypatch.setattr(
        stores, "_shard_clip", lambda task: resumed.append(task[0]) or original(task)
    )
    store = stores.build_frame_store(root, tmp_path / "store", size=32, workers=1, progress=False)
    assert resumed == ["abcdefghij2.002.mp4"]  # only the clip that was not finished
    fresh = stores.build_frame_store(root, tmp_path / "fresh", size=32, workers=1, progress=False)
    np.testing.assert_array_equal(store["train"].frames, fresh["train"].frames)
    pd.testing.assert_frame_equal(store["train"].meta, fresh["train"].meta)


def test_open_missing_store_is_clear(tmp_path):
    with pytest.raises(vocabulary.DataError, match="no frame store"):
        stores.open_frame_store(tmp_path, "train")


def test_short_clips_are_named_counted_and_can_be_skipped(tmp_path, caplog, capsys):
    from helpers import write_noisy_mp4

    root = tmp_path / "fi"
    _tiny_dataset(root, n_clips=2)
    whole = tmp_path / "whole.mp4"
    write_noisy_mp4(whole, 120)
    payload = whole.read_bytes()
    (root / "truncated00.001.mp4").write_bytes(payload[: len(payload) // 3])
    content = pickle.loads((root / "annotation_training.pkl").read_bytes())
    for trait in vocabulary.TRAITS:
        content[trait]["truncated00.001.mp4"] = 0.5
    (root / "annotation_training.pkl").write_bytes(pickle.dumps(content, protocol=2))
    with caplog.at_level("WARNING", logger="personality_utils.data.stores"):
        kept = stores.build_frame_store(root, tmp_path / "kept", size=32, workers=1, progress=False)
    decoded, promised = kept["train"].short["truncated00.001.mp4"]
    assert promised == 120 and 0 < decoded < 100
    assert list(kept["train"].short) == ["truncated00.001.mp4"]
    assert "truncated00.001.mp4" in set(kept["train"].meta["clip"])
    warning = [r.getMessage() for r in caplog.records if "truncated00" in r.getMessage()]
    assert len(warning) == 1 and f"decodes {decoded} frames" in warning[0]
    assert "promises 120" in warning[0]
    skipped = stores.build_frame_store(
        root, tmp_path / "skipped", size=32, workers=1, progress=False, skip_short=True
    )["train"]
    assert "truncated00.001.mp4" not in set(skipped.meta["clip"])
    assert "promises 120" in skipped.skipped["truncated00.001.mp4"]
    assert skipped.short == kept["train"].short
    assert len(skipped.clip_labels()) == 2
    # The command line: `prepare --skip-short` leaves it out and says so.
    from personality_utils.__main__ import main

    options = ["prepare", "--data-root", str(root), "--profile", "smoke", "--workers", "1"]
    assert main([*options, "--out", str(tmp_path / "cli"), "--skip-short"]) == 0
    assert "1 clips decode far fewer frames" in capsys.readouterr().err
    assert "truncated00.001.mp4" in stores.open_frame_store(tmp_path / "cli", "train").skipped


def test_a_labelled_split_without_clips_opens_empty_with_its_types(tmp_path):
    # A partial download: validation labels, none of its videos. Its face store used to read
    # faces_meta.csv as text and fail on indexing (IndexError in open_face_store).
    root = tmp_path / "fi"
    _tiny_dataset(root, n_clips=1)
    content = {
        trait: {"vvvvvvvvvvv.001.mp4": 0.5, "vvvvvvvvvvv.002.mp4": 0.4}
        for trait in vocabulary.TRAITS
    }
    (root / "annotation_validation.pkl").write_bytes(pickle.dumps(content, protocol=2))
    out = tmp_path / "store"
    built = stores.build_frame_store(root, out, size=32, workers=1, progress=False, face_size=32)
    empty = built["validation"]
    assert len(empty) == 0 and empty.missing_videos == [
        "vvvvvvvvvvv.001.mp4",
        "vvvvvvvvvvv.002.mp4",
    ]
    assert empty.undecoded == {} and empty.detections["landmarks_crop"].shape == (0, 68, 2)
    faces = stores.open_face_store(out, "validation")
    assert len(faces) == 0 and faces.landmarks.shape == (0, 68, 2)
    assert faces.meta["frame_row"].dtype == np.int64 and faces.meta["openness"].dtype == float
    listed = (out / "validation" / stores.MISSING_LIST).read_text().split()
    assert listed == empty.missing_videos
    assert (out / "train" / stores.MISSING_LIST).read_text() == "zzzzzzzzzzz.001.mp4\n"
    # A store built before the list existed gets it when reused.
    (out / "train" / stores.MISSING_LIST).unlink()
    stores.build_frame_store(root, out, size=32, workers=1, progress=False, face_size=32)
    assert (out / "train" / stores.MISSING_LIST).is_file()
