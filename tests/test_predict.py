"""Tests of personality_utils.book.predict and ``python -m personality_utils predict``: a real clip
scored by a checkpoint trained here (tiny smoke-profile recipe, one epoch)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import faststart_copy

from personality_utils.__main__ import main
from personality_utils.book import predict
from personality_utils.core import vocabulary
from personality_utils.data import release
from personality_utils.data import video as data_video
from personality_utils.models import experiments, provenance, training

CLIP = "-AmMDnVl4s8.003"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A CAM model on frames and a DAN+ on faces, trained for one epoch on random images."""
    folder = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 224, 224, 3), dtype=np.uint8)
    targets = rng.uniform(0.2, 0.8, size=(16, 5)).astype(np.float32)
    made = {}
    for kind, source in (("cam_fig4", "frames"), ("danplus", "faces")):
        config = training.config_for("smoke", kind, device="cpu", source=source)
        config = dataclasses.replace(config, epochs=1, batch_size=8)
        made[source] = folder / f"smoke-{kind}-{source}-seed0"
        training.train_model(config, images, targets, made[source], progress=False)
    return made


def test_predict_scores_a_real_clip_and_writes_a_self_contained_report(
    shared_data, checkpoints, tmp_path, capsys
):
    video = shared_data / "firstimpressions" / "train" / f"{CLIP}.mp4"
    trained = training.load_trained(checkpoints["frames"], device="cpu")
    result = predict.predict_video(video, trained, "frames")
    assert result.indices == data_video.sample_frame_indices(459) and result.n_decoded == 459
    assert sum(box is not None for box in result.boxes) >= 9  # a face in (almost) every frame
    assert result.frame_scores.shape == (10, 5) and list(result.frame_scores) == list(
        vocabulary.TRAITS
    )
    np.testing.assert_allclose(result.mean, result.frame_scores.to_numpy().mean(0), rtol=1e-6)
    assert ((result.mean > 0) & (result.mean < 1)).all() and (result.spread >= 0).all()
    # The same frames through the store's path give the same scores (what the chapters see).
    frames = np.stack(
        [data_video.square_frame(f, 224) for f in data_video.read_sampled_frames(video).frames]
    )
    np.testing.assert_allclose(result.frame_scores, training.predict(trained, frames), rtol=1e-5)
    assert result.cams is not None and result.cams.shape[:2] == (10, 5)
    page = predict.report_html(result)
    assert page.count("<img") == 10 + 10 * 5  # frames with boxes, then 5 maps per frame
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "openness" in page and "Class activation maps" in page

    # The command line: scores printed, the report written (the shared folder is read-only).
    options = ["--checkpoint", str(checkpoints["frames"]), "--device", "cpu"]
    assert main(["predict", str(video), *options, "--out-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "10 frames sampled of 459" in printed and "cam_fig4 model on frames" in printed
    for trait in vocabulary.TRAITS:
        assert re.search(rf"{trait}\s+0\.\d{{3}}  \(± 0\.\d{{3}} over frames\)", printed)
    report = tmp_path / f"{CLIP}.personality.html"
    assert report.is_file() and f"report: {report}" in printed


def test_predict_with_a_face_model_and_what_it_cannot_do(shared_data, checkpoints, tmp_path):
    video = shared_data / "firstimpressions" / "train" / f"{CLIP}.mp4"
    assert predict.guess_source(checkpoints["faces"]) == "faces"
    trained = training.load_trained(checkpoints["faces"], device="cpu")
    result = predict.predict_video(video, trained, "faces")
    faces = sum(box is not None for box in result.boxes)
    assert len(result.frame_scores) == faces and result.cams is None
    assert any("no CAM head" in note for note in result.notes)
    # A clip with no face: a faces model refuses it by name, a frames model scores it and says so.
    blank = tmp_path / "blank.mov"  # QuickTime, as phones record
    import av

    with av.open(str(blank), "w", format="mov") as output:
        stream = output.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for index in range(30):
            image = np.full((64, 96, 3), 8 * index, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    with pytest.raises(vocabulary.DataError, match=r"blank\.mov: no face found in any of the 10"):
        predict.predict_video(blank, trained, "faces")
    frames_model = training.load_trained(checkpoints["frames"], device="cpu")
    result = predict.predict_video(blank, frames_model, "frames")
    assert result.boxes == [None] * 10 and len(result.frame_scores) == 10
    assert "no face found in any of the 10 sampled frames" in result.notes
    assert "no face found" in predict.report_html(result)


def test_predict_refuses_bad_input_with_one_line(checkpoints, tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    garbage = tmp_path / "garbage.mov"
    garbage.write_bytes(b"not a video" * 100)
    options = ["--checkpoint", str(checkpoints["frames"]), "--device", "cpu"]
    for video, message in (
        (empty, "empty file"),
        (garbage, "cannot decode video"),
        (tmp_path / "absent.mp4", "not found"),
    ):
        assert main(["predict", str(video), *options]) == 1  # the exit status counts failures
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and str(video) in err
        assert message in err
    assert main(["predict", str(empty), "--checkpoint", str(tmp_path / "none")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def _top(page: str) -> str:
    """What a page shows before its first section (the scores, or the table of clips)."""
    return page[: page.index("<h2>")] if "<h2>" in page else page[: page.index("<table>")]


def test_predict_with_the_books_synthetic_checkpoint_says_so_first(
    shared_data, smoke_dataset, tmp_path, capsys
):
    """``train`` with the book's defaults (the synthetic set; the smoke recipe for speed) records
    what it trained on; ``predict`` on a real clip refuses it unless --allow-synthetic, and
    either way says first, in the terminal and at the top of the page, that the model has only
    seen synthetic people."""
    cache = str(smoke_dataset.store_dir.parents[1])
    assert main(["train", "--profile", "smoke", "--device", "cpu", "--cache-dir", cache]) == 0
    folder = experiments.experiment_dir(
        smoke_dataset, "smoke", "danplus", "frames", 0, experiments.starting_weights("smoke")
    )
    record = json.loads((folder / provenance.PROVENANCE).read_text())
    assert record["dataset"]["kind"] == "synthetic" and record["dataset"]["seed"] == 0
    assert (record["profile"], record["source"], record["kind"]) == ("smoke", "frames", "danplus")
    test = record["scores"]["test"]
    low, high = test["mean_accuracy_interval"]
    assert low <= test["mean_accuracy"] <= high and 0 < test["constant_baseline_accuracy"] < 1
    assert record["backbone"]["start"] in ("random", "identity-pretrained")
    capsys.readouterr()

    video = shared_data / "firstimpressions" / "train" / f"{CLIP}.mp4"
    options = ["--checkpoint", str(folder), "--device", "cpu", "--out-dir", str(tmp_path)]
    assert main(["predict", str(video), *options]) == 2
    refused = capsys.readouterr()
    first = refused.out.splitlines()
    assert first[0].startswith("provenance: trained on SYNTHETIC data only: synthetic")
    assert first[-1] == (
        "WARNING: This model has only ever seen synthetic people (the generated planted-signal "
        "set): its scores say nothing about a real person."
    )
    assert any(line.startswith("provenance: test: MA 0.") for line in first)
    assert refused.err.count("\n") == 1 and "--allow-synthetic" in refused.err
    assert not list(tmp_path.iterdir())  # nothing scored, nothing written

    assert main(["predict", str(video), *options, "--allow-synthetic"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[: len(first)] == first  # the provenance first, then the scores
    assert lines[len(first)].startswith(f"{video}: 10 frames sampled")
    top = _top((tmp_path / f"{CLIP}.personality.html").read_text())
    assert "its scores say nothing about a real person" in top
    assert "trained on SYNTHETIC data only" in top and "test: MA 0." in top

    # A record that is not the checkpoint's (rewritten since), or none (an older checkpoint):
    # the provenance is unknown, said as plainly, and the model runs.
    stale = tmp_path / "stale"
    shutil.copytree(folder, stale)
    record["checkpoint_sha256"] = "0" * 64
    provenance.write_provenance(stale, record)
    assert not provenance.load_provenance(stale).known
    assert "belongs to another checkpoint.pt" in provenance.load_provenance(stale).details[0]
    (stale / provenance.PROVENANCE).unlink()
    assert (
        main(
            ["predict", str(video), "--checkpoint", str(stale), "--device", "cpu"]
            + ["--out-dir", str(tmp_path / "old")]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("provenance: unknown (provenance.json missing")
    assert lines[1].startswith("WARNING: Provenance unknown")
    top = _top((tmp_path / "old" / f"{CLIP}.personality.html").read_text())
    assert "Provenance unknown" in top


def test_predict_on_a_folder_writes_the_csv_the_index_and_counts_failures(
    shared_data, checkpoints, tmp_path, capsys
):
    real = shared_data / "firstimpressions" / "train"
    clips = tmp_path / "clips"
    (clips / "day2").mkdir(parents=True)
    (clips / f"{CLIP}.mp4").symlink_to(real / f"{CLIP}.mp4")
    other = sorted(name for name in real.glob("*.mp4") if name.stem != CLIP)[0]
    (clips / "day2" / other.name).symlink_to(other)
    damaged = clips / "day2" / "damaged.mp4"
    damaged.write_bytes(np.random.default_rng(0).bytes(5000))
    (clips / "notes.txt").write_text("not a video")  # not searched for
    (clips / ".hidden.mp4").write_bytes(b"resource fork")  # hidden: left out
    out = tmp_path / "out"
    options = ["--checkpoint", str(checkpoints["frames"]), "--device", "cpu"]
    assert main(["predict", str(clips), *options, "--out-dir", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("provenance: unknown")
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(damaged) in errors[0]
    assert "2 of 3 videos scored, 1 failed" in captured.out

    table = release.load_challenge_csv(out / "predictions.csv")
    assert sorted(table.index) == sorted([f"{CLIP}.mp4", other.name])
    assert ((table > 0) & (table < 1)).all().all()
    page = (out / "index.html").read_text()
    assert "Provenance unknown" in _top(page)
    links = re.findall(r'href="([^"]+)"', page)
    assert len(links) == 2 and all(not Path(link).is_absolute() for link in links)
    assert {(out / link).resolve() for link in links} == {
        (out / f"{CLIP}.personality.html").resolve(),
        (out / "day2" / f"{other.stem}.personality.html").resolve(),
    }
    assert all((out / link).is_file() for link in links)
    failed = page[page.index("<h2>Failed (1)</h2>") :]
    assert str(damaged) in failed and "cannot decode" in failed
    assert not (out / "day2" / "damaged.personality.html").exists()


def test_predict_exit_status_is_the_number_of_failed_videos(checkpoints, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    for index in range(3):
        (broken / f"clip{index}.mp4").write_bytes(b"\0" * (index + 1) * 100)
    out = tmp_path / "out"
    options = ["--checkpoint", str(checkpoints["frames"]), "--device", "cpu", "--out-dir"]
    assert main(["predict", str(broken), *options, str(out)]) == 3
    captured = capsys.readouterr()
    assert captured.err.count("error: ") == 3 and "0 of 3 videos scored" in captured.out
    assert (
        not (out / "predictions.csv").exists()
        and "<h2>Failed (3)</h2>" in (out / "index.html").read_text()
    )
    assert predict.MAX_EXIT == 125
    assert main(["predict", str(tmp_path / "out"), *options, str(out)]) == 2
    assert "no video in this folder" in capsys.readouterr().err


def test_predict_names_a_truncated_clip_with_both_counts(
    shared_data, checkpoints, tmp_path, caplog, capsys
):
    # A truncated download that keeps its index at the front decodes without an error: predict
    # says so on the terminal (the package's warning and the clip's note) and on the page.
    whole = tmp_path / "whole.mp4"
    faststart_copy(shared_data / "firstimpressions" / "train" / f"{CLIP}.mp4", whole)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 5])
    options = ["--checkpoint", str(checkpoints["frames"]), "--device", "cpu"]
    with caplog.at_level("WARNING", logger="personality_utils.data.video"):
        assert main(["predict", str(cut), *options, "--out-dir", str(tmp_path)]) == 0
    warned = [r.getMessage() for r in caplog.records if "cut.mp4" in r.getMessage()]
    counts = re.search(r"decodes (\d+) frames where its container promises 459", warned[0])
    assert len(warned) == 1 and counts and int(counts.group(1)) < 0.9 * 459
    assert f"note: the clip {counts.group(0)}" in capsys.readouterr().out
    assert counts.group(0) in (tmp_path / "cut.personality.html").read_text()
