"""Tests of ``prepare --part I --parts N``: the deal of the clips into shares, the share read
from a Slurm array or a Kubernetes indexed Job, and three parts side by side then a merge
writing the same stores as one run."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from personality_utils.__main__ import main
from personality_utils.core import vocabulary
from personality_utils.core.profiles import get_profile
from personality_utils.data import parts, release, stores

BROKEN = "brokenbroke.009.mp4"
MISSING = "zzzzzzzzzzz.001.mp4"


def test_shares_are_disjoint_complete_and_balanced():
    labels = {
        "train": pd.DataFrame(index=[f"c{k:02d}.mp4" for k in range(7)]),
        "test": pd.DataFrame(index=[f"t{k:02d}.mp4" for k in range(4)]),
    }
    shares = [parts.part_clips(labels, part, 3) for part in range(3)]
    every = set().union(*map(set, (table.index for table in labels.values())))
    assert set().union(*shares) == every and sum(map(len, shares)) == len(every)
    assert sorted(map(len, shares)) == [3, 4, 4]
    assert parts.part_clips(labels, 0, 1) == every
    with pytest.raises(ValueError, match="numbered from 0 to 2"):
        parts.part_clips(labels, 3, 3)
    with pytest.raises(ValueError, match="at least 1"):
        parts.check_part(0, 0)


def test_share_from_slurm_and_kubernetes():
    read = parts.part_from_environment
    assert read({}) is None
    slurm = {
        "SLURM_ARRAY_TASK_MIN": "0",
        "SLURM_ARRAY_TASK_MAX": "7",
        "SLURM_ARRAY_TASK_COUNT": "8",
    }
    assert read({**slurm, "SLURM_ARRAY_TASK_ID": "5"}) == (5, 8, "SLURM_ARRAY_TASK_ID")
    # --array=1-8 and --array=10-24:2 are 8 parts too, numbered by position.
    one_based = {"SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "8"}
    assert read({**slurm, **one_based, "SLURM_ARRAY_TASK_ID": "1"})[:2] == (0, 8)
    stepped = {"SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_MAX": "24"}
    stepped.update(SLURM_ARRAY_TASK_COUNT="8", SLURM_ARRAY_TASK_STEP="2")
    assert read({**stepped, "SLURM_ARRAY_TASK_ID": "24"})[:2] == (7, 8)
    listed = {"SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "7"}  # --array=1,3,7
    listed.update(SLURM_ARRAY_TASK_COUNT="3", SLURM_ARRAY_TASK_ID="3")
    with pytest.raises(ValueError, match="not an evenly spaced range"):
        read(listed)
    assert read({"JOB_COMPLETION_INDEX": "2", parts.PARTS_VARIABLE: "4"}) == (
        2,
        4,
        "JOB_COMPLETION_INDEX",
    )
    with pytest.raises(ValueError, match=parts.PARTS_VARIABLE):
        read({"JOB_COMPLETION_INDEX": "2"})
    # The options beat the environment; --merge and no share at all take none.
    slurm_task = {**slurm, "SLURM_ARRAY_TASK_ID": "5"}
    assert parts.resolve_part(1, 2, environ=slurm_task) == (1, 2, "--part")
    assert parts.resolve_part(None, 6, environ=slurm_task) == (5, 6, "SLURM_ARRAY_TASK_ID")
    assert parts.resolve_part(None, 3, environ={"JOB_COMPLETION_INDEX": "2"})[:2] == (2, 3)
    assert parts.resolve_part(None, None, merge=True, environ=slurm_task) == (None, 1, "")
    assert parts.resolve_part(None, None, environ={}) == (None, 1, "")
    with pytest.raises(ValueError, match="numbered from 0 to 3"):
        parts.resolve_part(None, 4, environ=slurm_task)


def test_part_options_are_checked(tmp_path, capsys):
    options = ["prepare", "--data-root", str(tmp_path), "--out", str(tmp_path / "out")]
    for extra, message in (
        (["--part", "3", "--parts", "3"], "numbered from 0 to 2"),
        (["--part", "0"], "--part 0 needs --parts"),
        (["--parts", "3"], "--parts needs --part"),
        (["--part", "0", "--parts", "2", "--merge"], "takes no --part"),
    ):
        assert main([*options, *extra]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error  # one line, no traceback


def _dataset_with_gaps(smoke_dataset, root: Path) -> list[str]:
    """Eight training and three validation clips of the smoke set (linked, not copied) with
    their labels, plus a training clip that cannot be decoded and one labelled without a
    video."""
    root.mkdir()
    names = []
    videos = smoke_dataset.clips()
    for split, table in release.load_split_labels(smoke_dataset.root).items():
        if split == "test":
            continue
        table = table.iloc[: 8 if split == "train" else 3]
        for name in table.index:
            (root / name).symlink_to(videos[name])
            names.append(name)
        content = {trait: table[trait].to_dict() for trait in vocabulary.TRAITS}
        if split == "train":
            for trait in vocabulary.TRAITS:
                content[trait].update({BROKEN: 0.5, MISSING: 0.4})
        pickle_name = release.ANNOTATION_FILES[split]
        (root / pickle_name).write_bytes(pickle.dumps(content, protocol=2))
    (root / BROKEN).write_bytes(b"garbage")
    return names


def _store_files(folder: Path) -> dict[str, object]:
    """Every file of the stores, by path under ``folder``: bytes, or arrays for an npz (a zip
    whose members carry a time)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_dir() or "_extracted" in path.parts or path.name.startswith("."):
            continue
        key = str(path.relative_to(folder))
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as content:
                found[key] = {name: content[name] for name in content.files}
        else:
            found[key] = path.read_bytes()
    return found


def test_three_parts_then_merge_equal_one_run(smoke_dataset, tmp_path, monkeypatch, capsys):
    root = tmp_path / "fi"
    names = _dataset_with_gaps(smoke_dataset, root)
    profile = get_profile("smoke")
    settings = {
        "n_samples": profile.frames_per_clip,
        "size": profile.store_size,
        "face_size": profile.face_size,
        "workers": 1,
        "progress": False,
    }
    one = stores.build_frame_store(root, tmp_path / "one", **settings)
    assert BROKEN in one["train"].undecoded and one["train"].missing_videos == [MISSING]
    assert int(one["train"].detections["found"].sum()) > 0  # real crops to compare

    out = tmp_path / "parts"
    cli = ["prepare", "--data-root", str(root), "--out", str(out)]
    cli += ["--profile", "smoke", "--workers", "1"]
    decoded = []
    original = stores._shard_clip
    monkeypatch.setattr(
        stores, "_shard_clip", lambda task: decoded.append(task[0]) or original(task)
    )
    # Part 0 from the flags, part 2 from a Kubernetes indexed Job; part 1 not yet.
    assert main([*cli, "--part", "0", "--parts", "3"]) == 0
    printed = capsys.readouterr().out
    assert "train: part 0 of 3: " in printed and "validation: part 0 of 3: " in printed
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    monkeypatch.setenv(parts.PARTS_VARIABLE, "3")
    assert main(cli) == 0
    monkeypatch.delenv("JOB_COMPLETION_INDEX")
    monkeypatch.delenv(parts.PARTS_VARIABLE)
    labels = release.load_split_labels(root)
    assert set(decoded) == (parts.part_clips(labels, 0, 3) | parts.part_clips(labels, 2, 3)) - {
        MISSING
    }
    assert not list(out.glob("*/frames.npy"))  # a part writes shards only
    capsys.readouterr()
    assert main([*cli, "--merge"]) == 2
    error = capsys.readouterr().err
    assert "part 1 of 3 has not finished: rerun prepare --part 1 --parts 3" in error
    assert error.count("error:") == 1 and error.endswith("here\n"), error
    assert not list(out.glob("*/frames.npy"))

    # Part 1 from a Slurm array written --array=1-3 (task 2 is the second part).
    slurm = {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1"}
    slurm.update(SLURM_ARRAY_TASK_MAX="3", SLURM_ARRAY_TASK_COUNT="3")
    for name, value in slurm.items():
        monkeypatch.setenv(name, value)
    assert main(cli) == 0
    assert "part 1 of 3 (SLURM_ARRAY_TASK_ID)" in capsys.readouterr().err
    for name in slurm:
        monkeypatch.delenv(name)
    assert sorted(decoded) == sorted(set(names) | {BROKEN})  # each clip decoded once
    records = parts.part_records(out, "train")
    assert [(r["part"], r["parts"]) for r in records] == [(0, 3), (1, 3), (2, 3)]
    assert sum(r["sampled"] for r in records) == len(labels["train"]) - 1  # not the missing one
    skipped = {clip: why for record in records for clip, why in record["skipped"].items()}
    assert sum(len(record["skipped"]) for record in records) == 2  # each in its own part only
    assert set(skipped) == {BROKEN, MISSING} and skipped[MISSING] == stores.NO_VIDEO

    decoded.clear()
    assert main([*cli, "--merge"]) == 0
    assert decoded == []  # the merge only assembles
    assert parts.part_records(out, "train") == []  # shards and records gone once assembled
    expected = _store_files(tmp_path / "one")
    merged = _store_files(out)
    assert sorted(merged) == sorted(expected)
    assert {key.split("/")[1] for key in merged} == {
        "frames.npy",
        "faces.npy",
        "meta.csv",
        "faces_meta.csv",
        "detections.npz",
        "store.json",
        stores.MISSING_LIST,
    }
    for key, content in expected.items():
        if isinstance(content, dict):
            assert content.keys() == merged[key].keys(), key
            for name, array in content.items():
                np.testing.assert_array_equal(merged[key][name], array, err_msg=f"{key} {name}")
        else:
            assert merged[key] == content, key
    assert json.loads(merged["train/store.json"])["skipped"][BROKEN]


def test_a_part_of_assembled_stores_has_nothing_to_do(smoke_dataset, capsys, monkeypatch):
    # The notebooks' stores (no --out), already assembled: a late part samples nothing and
    # leaves them as they are.
    monkeypatch.setattr(stores, "_shard_clip", lambda task: pytest.fail("decoded again"))
    cache = str(smoke_dataset.store_dir.parents[1])
    options = ["prepare", "--profile", "smoke", "--workers", "1", "--cache-dir", cache]
    assert main([*options, "--part", "1", "--parts", "2"]) == 0
    captured = capsys.readouterr()
    assert "part 1 of 2 (--part)" in captured.err
    assert "part 1 of 2: nothing to do, stores assembled" in captured.out
    assert parts.part_records(smoke_dataset.store_dir, "train") == []
    assert len(smoke_dataset.store("train")) > 0
