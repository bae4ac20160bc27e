"""Tests of personality_utils.book.predict and ``python -m personality_utils predict``: a real clip
scored by a checkpoint trained here (tiny smoke-profile recipe, one epoch)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from personality_utils.__main__ import main
from personality_utils.book import predict
from personality_utils.core import vocabulary
from personality_utils.data import video as data_video
from personality_utils.models import training

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
        assert main(["predict", str(video), *options]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and str(video) in err
        assert message in err
    assert main(["predict", str(empty), "--checkpoint", str(tmp_path / "none")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
