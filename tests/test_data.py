"""Tests of personality_utils.data.release: labels, zips, sampling, the challenge format and
clip names."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import faststart_copy, write_noisy_mp4, write_video

from personality_utils.core import files as core_files
from personality_utils.core import vocabulary
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data import release
from personality_utils.data import video as data_video

# ----------------------------------------------------------------------------- real label files


def test_real_annotation_pickles(shared_data):
    train = release.load_annotations(shared_data / "firstimpressions" / "annotation_training.pkl")
    validation = release.load_annotations(
        shared_data / "firstimpressions" / "annotation_validation.pkl"
    )
    assert len(train) == 6000 and len(validation) == 2000
    expected = set(vocabulary.TRAITS) | {"interview"}
    assert set(train.columns) == expected and set(validation.columns) == expected
    for table in (train, validation):
        assert all(release.CLIP_NAME_PATTERN.match(name) for name in table.index)
        values = table.to_numpy()
        assert values.min() >= 0 and values.max() <= 1
    # Mapped by name: the SOURCES.md values of one clip.
    row = train.loc["-AmMDnVl4s8.003.mp4"]
    assert row.extraversion == pytest.approx(0.7664, abs=1e-4)
    assert row.neuroticism == pytest.approx(0.8438, abs=1e-4)
    assert row.agreeableness == pytest.approx(0.8242, abs=1e-4)
    assert row.conscientiousness == pytest.approx(0.7573, abs=1e-4)
    assert row.openness == pytest.approx(0.7889, abs=1e-4)


# ----------------------------------------------------------------------------- pickle safety


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = {trait: {"aaaaaaaaaaa.001.mp4": 0.5} for trait in vocabulary.TRAITS}
    payload["interview"] = {"aaaaaaaaaaa.001.mp4": _RunsCode(marker)}
    path = tmp_path / "annotation_training.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(release.UnsafePickleError, match="refused, it names the global"):
        release.load_annotations(path)
    assert not marker.exists()
    # The same file through plain pickle would have run the command: the test is not vacuous.
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_numpy_scalars_pass_but_arrays_are_refused(tmp_path):
    content = {trait: {"aaaaaaaaaaa.001.mp4": np.float64(0.5)} for trait in vocabulary.TRAITS}
    raw = pickle.dumps(content, protocol=2)
    path = tmp_path / "annotation_validation.pkl"
    path.write_bytes(raw)
    table = release.load_annotations(path)  # numpy float scalars, written by Python 3, are fine
    assert table.loc["aaaaaaaaaaa.001.mp4", "openness"] == 0.5
    evil = pickle.dumps({"openness": np.array(["x"], dtype=object)[0:1]}, protocol=2)
    path.write_bytes(evil)
    with pytest.raises(release.UnsafePickleError):
        release.load_annotations(path)


def test_bad_annotation_files_name_the_file(tmp_path):
    path = tmp_path / "annotation_test.pkl"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(vocabulary.DataError, match=r"annotation_test\.pkl"):
        release.load_annotations(path)
    path.write_bytes(pickle.dumps({"openness": {}}, protocol=2))
    with pytest.raises(vocabulary.DataError, match="missing trait keys"):
        release.load_annotations(path)


def test_challenge_csv_maps_by_name(tmp_path):
    path = tmp_path / "validation_gt.csv"
    path.write_text(
        "VideoName,ValueExtraversion,ValueAgreeableness,ValueConscientiousness,"
        "ValueNeurotisicm,ValueOpenness\nabcdefghijk.001.mp4,0.1,0.2,0.3,0.4,0.5\n"
    )
    table = release.load_challenge_csv(path)
    row = table.loc["abcdefghijk.001.mp4"]
    assert (
        row.extraversion,
        row.agreeableness,
        row.conscientiousness,
        row.neuroticism,
        row.openness,
    ) == (0.1, 0.2, 0.3, 0.4, 0.5)
    assert list(table.columns) == list(vocabulary.TRAITS)


# ----------------------------------------------------------------------------- zips


def _zip_bytes(members: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def test_nested_zip_is_extracted(tmp_path):
    inner = _zip_bytes({"abcdefghijk.001.mp4": b"video-1"})
    outer = tmp_path / "training80_01.zip"
    outer.write_bytes(
        _zip_bytes(
            {"training80_01/inner.zip": inner, "training80_01/abcdefghijk.002.mp4": b"video-2"}
        )
    )
    files = release.safe_extract_zip(outer, tmp_path / "out")
    assert sorted(path.name for path in files) == ["abcdefghijk.001.mp4", "abcdefghijk.002.mp4"]
    assert release.safe_extract_zip(outer, tmp_path / "out") == files  # reused, not re-extracted


@pytest.mark.parametrize(
    "name", ["../evil.mp4", "/tmp/evil.mp4", "a/../../evil.mp4", "C:/evil.mp4"]
)
def test_escaping_zip_members_are_refused(tmp_path, name):
    archive = tmp_path / "training80_02.zip"
    archive.write_bytes(_zip_bytes({"fine.mp4": b"ok", name: b"evil"}))
    with pytest.raises(release.UnsafeZipError, match="escapes"):
        release.safe_extract_zip(archive, tmp_path / "out" / "deep")
    assert not (tmp_path / "evil.mp4").exists()
    assert not (tmp_path / "out" / "deep" / "training80_02").exists()  # nothing half-written


def test_symlink_members_are_refused(tmp_path):
    archive = tmp_path / "training80_03.zip"
    archive.write_bytes(_zip_bytes({"fine.mp4": b"ok"}, symlink="link.mp4"))
    with pytest.raises(release.UnsafeZipError, match="symbolic link"):
        release.safe_extract_zip(archive, tmp_path / "out")


def test_encrypted_members_get_a_clear_error(tmp_path):
    payload = bytearray(_zip_bytes({"abcdefghijk.001.mp4": b"ciphertext"}))
    # Set the "encrypted" flag of the one member in its local and central headers, as a
    # password-protected archive of the release has it (zipfile cannot write one).
    local, central = payload.find(b"PK\x03\x04"), payload.find(b"PK\x01\x02")
    payload[local + 6] |= 0x1
    payload[central + 8] |= 0x1
    path = tmp_path / "test80_01.zip"
    path.write_bytes(bytes(payload))
    with zipfile.ZipFile(path) as archive, pytest.raises(RuntimeError, match="encrypted"):
        archive.read("abcdefghijk.001.mp4")  # what zipfile alone raises
    with pytest.raises(vocabulary.DataError, match=r"test80_01\.zip.*encrypted"):
        release.safe_extract_zip(path, tmp_path / "out")


# ----------------------------------------------------------------------------- frame sampling


def test_sampling_rule_matches_the_authors():
    assert [i + 1 for i in data_video.sample_frame_indices(459)] == list(range(1, 416, 46))
    assert [i + 1 for i in data_video.sample_frame_indices(367)] == list(range(1, 335, 37))
    assert len(data_video.sample_frame_indices(452)) == 11  # the rule sometimes gives 11
    assert data_video.sample_frame_indices(5) == [0, 1, 2, 3, 4]  # step would round to 0
    assert data_video.sample_frame_indices(16) == list(range(0, 16, 2))  # 1.5 rounds up, as MATLAB
    with pytest.raises(ValueError):
        data_video.sample_frame_indices(0)


def test_sampler_on_real_clips(shared_data):
    # Three of the real clips, all 29.97-30 fps with 459 frames (SOURCES.md).
    folder = shared_data / "firstimpressions" / "train"
    clips = [
        folder / f"{name}.mp4" for name in ("-AmMDnVl4s8.003", "98fnGDVky00.005", "L_gmlaz-0s4.003")
    ]
    for clip in clips:
        sampled = data_video.read_sampled_frames(clip)
        assert sampled.n_decoded == 459
        assert sampled.indices == data_video.sample_frame_indices(459)
        assert sampled.frames.shape == (10, 720, 1280, 3) and sampled.frames.dtype == np.uint8
        assert 29 < sampled.fps < 31
        # Frames differ from each other: they were really taken at different times.
        assert np.abs(sampled.frames[0].astype(int) - sampled.frames[-1]).mean() > 1


def test_sampler_counts_decoded_frames_when_the_header_has_none(tmp_path):
    path = tmp_path / "clip.mkv"  # Matroska stores no frame count: the header says 0
    write_video(path, 23, container="matroska")
    sampled = data_video.read_sampled_frames(path)
    assert sampled.n_decoded == 23
    assert sampled.indices == data_video.sample_frame_indices(23)
    assert sampled.n_promised == 23  # no count in the header: its duration times its rate
    # Each kept frame is the one at its index (brightness encodes the index).
    for frame, index in zip(sampled.frames, sampled.indices, strict=True):
        assert abs(frame.mean() - index * 10) < 5


def test_portrait_clip(tmp_path):
    path = tmp_path / "portrait.mp4"
    write_video(path, 30, size=(48, 64))
    sampled = data_video.read_sampled_frames(path)
    assert sampled.frames.shape[1:] == (64, 48, 3)


def test_undecodable_clip_names_the_file(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00" * 1000)
    with pytest.raises(vocabulary.DataError, match=r"broken\.mp4"):
        data_video.read_sampled_frames(path)


def _full_decode(path: Path, indices: list[int]) -> tuple[int, dict[int, np.ndarray]]:
    """Every frame decoded with plain PyAV, no skipping: the reference for the fast path."""
    import av

    kept, count = {}, 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if count in indices:
                kept[count] = frame.to_ndarray(format="rgb24")
            count += 1
    return count, kept


def test_sampled_frames_are_bit_identical_to_a_full_decode(shared_data):
    # One real clip of each frame rate and length in the folder (23.976 fps x 367 frames,
    # 25 x 383, 29.97 x 459, 30 x 459): the decoder skips frames nothing references, yet every
    # sampled frame must be exactly the one a full decode gives, and N the full decode's count.
    folder = shared_data / "firstimpressions" / "train"
    names = ("50gokPvvMs8.000", "BWAEpai6FK0.003", "-AmMDnVl4s8.003", "98fnGDVky00.005")
    for name in names:
        clip = folder / f"{name}.mp4"
        sampled = data_video.read_sampled_frames(clip)
        count, reference = _full_decode(clip, sampled.indices)
        assert sampled.n_decoded == count == sampled.n_promised
        assert sampled.indices == data_video.sample_frame_indices(count)
        for frame, index in zip(sampled.frames, sampled.indices, strict=True):
            assert np.array_equal(frame, reference[index]), f"{name} frame {index} differs"


def test_skipping_unneeded_frames_changes_nothing(tmp_path):
    path = tmp_path / "bframes.mp4"
    write_noisy_mp4(path, 97)
    fast = data_video.read_sampled_frames(path)
    full = data_video.read_sampled_frames(path, skip_unneeded=False)
    count, reference = _full_decode(path, fast.indices)
    assert fast.n_decoded == full.n_decoded == count == 97
    assert fast.indices == full.indices
    np.testing.assert_array_equal(fast.frames, full.frames)
    for frame, index in zip(fast.frames, fast.indices, strict=True):
        np.testing.assert_array_equal(frame, reference[index])
    assert not fast.short and fast.shortfall() == ""


def test_truncated_clip_is_sampled_from_what_decodes_and_flagged_short(tmp_path):
    # The index (moov) at the front promises 120 frames; the file is cut after a third of its
    # bytes, as an interrupted download leaves it.
    whole = tmp_path / "whole.mp4"
    write_noisy_mp4(whole, 120)
    cut = tmp_path / "cut.mp4"
    payload = whole.read_bytes()
    cut.write_bytes(payload[: len(payload) // 3])
    sampled = data_video.read_sampled_frames(cut)
    assert sampled.n_promised == 120
    assert 0 < sampled.n_decoded < 100
    assert sampled.indices == data_video.sample_frame_indices(sampled.n_decoded)
    assert sampled.short
    message = sampled.shortfall()
    assert f"decodes {sampled.n_decoded} frames" in message and "promises 120" in message
    # The frames it has are the right ones: those of the whole file at the same indices.
    _, reference = _full_decode(whole, sampled.indices)
    for frame, index in zip(sampled.frames, sampled.indices, strict=True):
        np.testing.assert_array_equal(frame, reference[index])
    assert data_video.read_sampled_frames(whole).short is False


def test_empty_file_says_empty(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(vocabulary.DataError, match=r"empty\.mp4: empty file"):
        data_video.read_sampled_frames(path)
    with pytest.raises(vocabulary.DataError, match="not found"):
        data_video.read_sampled_frames(tmp_path / "absent.mp4")


# ----------------------------------------------------------------------------- the measure


_HEADER = (
    "VideoName,ValueExtraversion,ValueAgreeableness,ValueConscientiousness,"
    "ValueNeurotisicm,ValueOpenness"
)


@pytest.mark.parametrize(
    "row, count",
    [("abcdefghijk.002.mp4,0.1,0.2,0.3,0.4,0.5,0.6", 7), ("abcdefghijk.002.mp4,0.1,0.2,0.3", 4)],
)
def test_challenge_csv_row_with_more_or_fewer_fields_is_an_error(tmp_path, row, count):
    path = tmp_path / "validation_gt.csv"
    path.write_text(f"{_HEADER}\nabcdefghijk.001.mp4,0.1,0.2,0.3,0.4,0.5\n{row}\n")
    with pytest.raises(vocabulary.DataError) as caught:
        release.load_challenge_csv(path)
    message = str(caught.value)
    assert str(path) in message and "line 3" in message
    assert f"has {count} fields, the header has 6" in message


def test_challenge_csv_header_names_the_missing_columns(tmp_path):
    # A 5-name header over 6-field rows: the header lost VideoName.
    path = tmp_path / "validation_gt.csv"
    path.write_text(
        _HEADER.removeprefix("VideoName,") + "\nabcdefghijk.001.mp4,0.1,0.2,0.3,0.4,0.5\n"
    )
    with pytest.raises(
        vocabulary.DataError, match=r"validation_gt\.csv: header lacks VideoName \("
    ):
        release.load_challenge_csv(path)
    path.write_text(
        _HEADER.replace(",ValueOpenness", "").replace("Agreeableness", "Agreeable") + "\n"
    )
    with pytest.raises(
        vocabulary.DataError, match="header lacks ValueAgreeableness, ValueOpenness"
    ):
        release.load_challenge_csv(path)


def test_challenge_csv_roundtrip(tmp_path):
    predictions = pd.DataFrame(
        {trait: [0.1 * (k + 1), 0.5] for k, trait in enumerate(vocabulary.TRAITS)},
        index=["abcdefghijk.001.mp4", "abcdefghijk.002.mp4"],
    )
    path = release.write_challenge_csv(predictions, tmp_path / "predictions.csv")
    header = path.read_text().splitlines()[0]
    assert header == (
        "VideoName,ValueExtraversion,ValueAgreeableness,ValueConscientiousness,"
        "ValueNeurotisicm,ValueOpenness"
    )
    pd.testing.assert_frame_equal(
        release.load_challenge_csv(path), predictions.rename_axis("clip"), check_exact=False
    )


def test_identity_disjoint_clips(shared_data):
    train = release.load_annotations(shared_data / "firstimpressions" / "annotation_training.pkl")
    validation = release.load_annotations(
        shared_data / "firstimpressions" / "annotation_validation.pkl"
    )
    disjoint = release.identity_disjoint_clips(train.index, validation.index)
    train_ids = {vocabulary.video_id(clip) for clip in train.index}
    assert disjoint and all(vocabulary.video_id(clip) not in train_ids for clip in disjoint)
    # The official splits leak identities: most validation clips share an id with training.
    assert len(disjoint) < 0.5 * len(validation)


def test_first_frame_rows():
    meta = pd.DataFrame({"clip": ["b", "a", "a", "b", "c"], "frame_index": [9, 5, 0, 3, 7]})
    np.testing.assert_array_equal(data_video.first_frame_rows(meta), [2, 3, 4])  # a, b, c
    assert data_video.first_frame_rows(meta.iloc[:0]).size == 0


@pytest.mark.parametrize("umask", [0o022, 0o007])
def test_written_files_and_extracted_folders_follow_the_umask(tmp_path, umask):
    import stat

    archive = tmp_path / "training80_04.zip"
    archive.write_bytes(_zip_bytes({"training80_04/abcdefghijk.001.mp4": b"video"}))
    old = os.umask(umask)
    try:
        core_files.write_atomic(
            tmp_path / "store" / "meta.csv", lambda t: Path(t).write_text("a\n")
        )
        release.write_challenge_csv(
            pd.DataFrame(
                {trait: [0.5] for trait in vocabulary.TRAITS}, index=["abcdefghijk.001.mp4"]
            ),
            tmp_path / "store" / "predictions.csv",
        )
        (video,) = release.safe_extract_zip(archive, tmp_path / "extracted")
    finally:
        os.umask(old)
    for path in (tmp_path / "store" / "meta.csv", tmp_path / "store" / "predictions.csv", video):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    for folder in (tmp_path / "extracted" / "training80_04", video.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask, folder


def test_file_lock_is_exclusive_between_processes(tmp_path):
    import subprocess
    import sys

    lock = tmp_path / "sub" / ".prepare.lock"
    probe = (
        "import fcntl, sys\n"
        f"handle = open({str(lock)!r}, 'a')\n"
        "try:\n"
        "    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n"
        "    sys.exit(3)\n"
    )
    with core_files.file_lock(lock):
        assert subprocess.run([sys.executable, "-c", probe]).returncode == 3
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0


def _zip(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return path


def test_extraction_is_bounded_before_and_while_it_writes(tmp_path):
    out = tmp_path / "out"
    # A member inflating a thousand-fold: refused before anything is written.
    bomb = _zip(tmp_path / "bomb.zip", {"a.mp4": bytes(4 << 20)})
    with pytest.raises(release.UnsafeZipError, match=r"'a\.mp4' inflates .*-fold") as refused:
        release.safe_extract_zip(bomb, out)
    assert str(bomb) in str(refused.value) and "4.0 MiB" in str(refused.value)
    assert not out.exists() or not any(out.iterdir())
    # The same rule inside a nested archive.
    inner = _zip(tmp_path / "inner.zip", {"b.mp4": bytes(4 << 20)})
    outer = _zip(tmp_path / "outer.zip", {"inner.zip": inner.read_bytes()}, zipfile.ZIP_STORED)
    with pytest.raises(release.UnsafeZipError, match=r"outer\.zip!inner\.zip: refused, member 'b"):
        release.safe_extract_zip(outer, out)
    assert not any(out.iterdir())
    # A declared size above the bound (configurable, here 1 MiB), even for data that does not
    # compress; raising the bound admits it.
    clip = np.random.default_rng(0).integers(0, 256, 2 << 20, dtype=np.uint8).tobytes()
    big = _zip(tmp_path / "big.zip", {"c.mp4": clip}, zipfile.ZIP_STORED)
    small = release.ZipLimits(max_member_bytes=1 << 20)
    with pytest.raises(release.UnsafeZipError, match=r"declares 2\.0 MiB, above the 1\.0 MiB"):
        release.safe_extract_zip(big, out, small)
    (extracted,) = release.safe_extract_zip(big, out, release.ZipLimits(max_member_bytes=4 << 20))
    assert extracted.read_bytes() == clip


def test_a_member_that_inflates_past_its_declared_size_is_removed(tmp_path):
    payload = np.random.default_rng(1).integers(0, 256, 1 << 16, dtype=np.uint8).tobytes()
    path = _zip(tmp_path / "forged.zip", {"d.mp4": payload}, zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    # Declare half the size in the local header and the central directory.
    half = (len(payload) // 2).to_bytes(4, "little")
    local, central = raw.find(b"PK\x03\x04"), raw.find(b"PK\x01\x02")
    raw[local + 22 : local + 26] = half
    raw[central + 24 : central + 28] = half
    path.write_bytes(bytes(raw))
    with pytest.raises(
        release.UnsafeZipError, match=r"does not inflate to the 32\.0 KiB it declares"
    ):
        release.safe_extract_zip(path, tmp_path / "out")
    assert not list((tmp_path / "out").rglob("*.mp4"))


def test_zip_limits_can_be_raised_from_the_environment(monkeypatch):
    monkeypatch.setenv("PERSONALITY_UTILS_ZIP_MAX_MEMBER_GB", "8")
    monkeypatch.setenv("PERSONALITY_UTILS_ZIP_MAX_RATIO", "50")
    limits = release.ZipLimits.from_environment()
    assert limits.max_member_bytes == 8 << 30 and limits.max_ratio == 50
    monkeypatch.setenv("PERSONALITY_UTILS_ZIP_MAX_RATIO", "lots")
    with pytest.raises(vocabulary.DataError, match="must be numbers"):
        release.ZipLimits.from_environment()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.1, 1.5])
def test_every_label_source_refuses_a_score_that_is_not_a_number_in_0_1(tmp_path, bad):
    scores = {trait: {"abcdefghijk.001.mp4": 0.5, "abcdefghijk.002.mp4": 0.5} for trait in TRAITS}
    scores["neuroticism"]["abcdefghijk.002.mp4"] = bad
    path = tmp_path / "annotation_training.pkl"
    path.write_bytes(pickle.dumps(scores, protocol=2))
    with pytest.raises(vocabulary.DataError) as refused:
        release.load_annotations(path)
    message = str(refused.value)
    assert str(path) in message and "abcdefghijk.002.mp4" in message and "neuroticism" in message
    header = (
        "VideoName,ValueExtraversion,ValueAgreeableness,ValueConscientiousness,"
        "ValueNeurotisicm,ValueOpenness"
    )
    csv_path = tmp_path / "training_gt.csv"
    csv_path.write_text(f"{header}\nabcdefghijk.003.mp4,.1,.2,{bad},.4,.5\n")
    with pytest.raises(vocabulary.DataError) as refused:
        release.load_challenge_csv(csv_path)
    message = str(refused.value)
    assert str(csv_path) in message and "abcdefghijk.003.mp4" in message
    assert "conscientiousness" in message


def test_a_truncated_real_clip_is_named_with_both_counts_on_every_read(
    shared_data, tmp_path, caplog, capsys
):
    # A real training clip, index at the front, cut after 40% of its bytes: the container still
    # promises every frame, the decoder gives fewer and no error. Reading it directly (predict,
    # a synthetic clip's truth), building a store, reopening that store (the chapters) and
    # `prepare` run again all name it with both counts.
    import pickle

    from personality_utils.__main__ import main
    from personality_utils.data import stores

    clip = sorted((shared_data / "firstimpressions" / "train").glob("*.mp4"))[0]
    whole = tmp_path / "whole.mp4"
    faststart_copy(clip, whole)
    root = tmp_path / "fi"
    root.mkdir()
    name = "cutcutcutcu.001.mp4"
    payload = whole.read_bytes()
    (root / name).write_bytes(payload[: len(payload) * 2 // 5])
    with caplog.at_level("WARNING", logger="personality_utils.data.video"):
        sampled = data_video.read_sampled_frames(root / name, 4)
    assert sampled.short and 0 < sampled.n_decoded < 0.9 * sampled.n_promised
    counts = f"decodes {sampled.n_decoded} frames where its container promises {sampled.n_promised}"
    read = [r.getMessage() for r in caplog.records if r.name == "personality_utils.data.video"]
    assert len(read) == 1 and name in read[0] and counts in read[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="personality_utils.data.video"):
        assert data_video.read_sampled_frames(whole, 4).short is False
        data_video.read_sampled_frames(root / name, 4, warn=False)
    assert not [r for r in caplog.records if r.name == "personality_utils.data.video"]

    labels = {trait: {name: 0.5} for trait in vocabulary.TRAITS}
    (root / "annotation_training.pkl").write_bytes(pickle.dumps(labels, protocol=2))
    stores.build_frame_store(root, tmp_path / "store", n_samples=4, size=32, progress=False)
    reopened = {"train": stores.open_frame_store(tmp_path / "store", "train")}
    assert [line for line in stores.skip_report(reopened) if counts in line and name in line]
    options = ["prepare", "--data-root", str(root), "--profile", "smoke", "--workers", "1"]
    capsys.readouterr()
    assert main([*options, "--out", str(tmp_path / "store"), "--no-faces"]) == 0
    err = capsys.readouterr().err
    assert f"train: {name} {counts}" in err and "1 clips decode far fewer frames" in err
