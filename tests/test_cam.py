"""Tests of personality_utils.cam.maps on hand-made maps and masks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import cam_images, tiny_cam_model

from personality_utils.cam import maps as cam


def test_overlap_on_hand_made_masks():
    face = cam.box_mask((2, 2, 6, 6), 8)  # pixel centres 2.5 .. 5.5 -> a 4x4 block
    assert face.sum() == 16 and face[2:6, 2:6].all()
    activated = np.zeros((8, 8), dtype=bool)
    activated[4:8, 4:8] = True  # 16 pixels, 4 of them (rows/cols 4-5) on the face
    assert cam.overlap(activated, face) == pytest.approx(4 / 16)
    # A recall of the map, not an IoU: a small map fully inside the face scores 1.
    small = np.zeros((8, 8), dtype=bool)
    small[3, 3] = True
    assert cam.overlap(small, face) == 1.0
    assert np.isnan(cam.overlap(np.zeros((8, 8), dtype=bool), face))
    with pytest.raises(ValueError):
        cam.overlap(activated, face[:4])


def test_binarise_raw_and_minmax():
    cam_map = np.array([[-1.0, 0.0], [0.7, 1.0]])
    np.testing.assert_array_equal(cam.binarise(cam_map, 0.8), [[False, False], [False, True]])
    np.testing.assert_array_equal(cam.binarise(cam_map, 0.5), [[False, False], [True, True]])
    # min-max: threshold at -1 + 0.5 * 2 = 0 -> the zero passes too
    np.testing.assert_array_equal(
        cam.binarise(cam_map, 0.5, "minmax"), [[False, True], [True, True]]
    )
    assert not cam.binarise(-np.ones((3, 3)), 0.8).any()  # nothing positive, nothing activated
    with pytest.raises(ValueError):
        cam.binarise(cam_map, 0.0)


def test_pointing_game_and_energy():
    face = cam.box_mask((0, 0, 4, 8), 8)  # left half
    cam_map = np.zeros((8, 8))
    cam_map[1, 1] = 3.0
    cam_map[1, 6] = 1.0
    cam_map[5, 6] = -5.0  # negative mass is ignored by the energy
    assert cam.pointing_game(cam_map, face) is True
    assert cam.energy_in_box(cam_map, face) == pytest.approx(3 / 4)
    assert cam.pointing_game(-cam_map, face) is False  # the negated map peaks at column 6
    flipped = cam_map[:, ::-1]
    assert cam.pointing_game(flipped, face) is False
    assert cam.energy_in_box(flipped, face) == pytest.approx(1 / 4)


def test_upsample_keeps_a_constant_map():
    for method in ("bicubic", "bilinear"):
        np.testing.assert_allclose(cam.upsample(np.full((7, 7), 2.5), 112, method), 2.5, rtol=1e-6)
    with pytest.raises(ValueError, match="bicubic"):
        cam.upsample(np.ones((2, 2)), 4, "nearest")


def test_bicubic_upsampling_is_matlabs_imresize():
    # MATLAB's imresize([1 2 3 4], [1 8]) by hand: output 1 sits at input x = 0.75; the taps
    # 0 and -1 mirror to pixels 1 and 2 (aux = [1:4, 4:-1:1]) and Keys' kernel (a = -0.5) at
    # distances 1.75, 0.75, 0.25, 1.25 gives -0.0234375, 0.2265625, 0.8671875, -0.0703125,
    # so 1.09375 * 1 - 0.09375 * 2 = 0.90625. Output 3 (x = 1.75) has tap 0 mirrored to pixel
    # 1: -0.0234375 * 1 + 0.2265625 * 1 + 0.8671875 * 2 - 0.0703125 * 3 = 1.7265625. Where no
    # tap leaves the signal (outputs 4, 5) the cubic reproduces the ramp: x itself.
    row = cam.upsample(np.array([[1.0, 2, 3, 4]] * 4), 8)[0]
    assert row[0] == pytest.approx(0.90625)
    assert row[2] == pytest.approx(1.7265625)
    np.testing.assert_allclose(row[3:5], [2.25, 2.75], rtol=1e-6)
    np.testing.assert_allclose(row, 5 - row[::-1], rtol=1e-6)  # mirrored edges: symmetric
    # Away from the edges it is PIL's bicubic (also a = -0.5, pixel centres at +0.5), which
    # differs only in how it treats the edges (it drops and renormalises the taps).
    from PIL import Image

    small = np.random.default_rng(1).random((14, 14)).astype(np.float32)
    ours = cam.upsample(small, 224)
    pil = np.asarray(Image.fromarray(small, mode="F").resize((224, 224), Image.BICUBIC))
    np.testing.assert_allclose(ours[40:-40, 40:-40], pil[40:-40, 40:-40], atol=1e-5)
    assert np.abs(ours - pil).max() > 1e-3  # the edges do differ
    # Not PyTorch's bicubic (a = -0.75).
    import torch
    import torch.nn.functional as F

    torch_bicubic = F.interpolate(
        torch.from_numpy(small)[None, None], size=224, mode="bicubic", align_corners=False
    )[0, 0].numpy()
    assert np.abs(ours - torch_bicubic)[40:-40, 40:-40].max() > 1e-3


# ----------------------------------------------------------------------------------------------
# Maps from models, top images, scores and intervals
# ----------------------------------------------------------------------------------------------


def test_cam_equals_grad_cam_up_to_a_positive_scale_for_gap_linear():
    trained = tiny_cam_model("cam_fig4")
    images = cam_images()
    maps, predictions = cam.class_activation_maps(trained, images, batch_size=4)
    grid = maps.shape[-1]
    assert maps.shape == (6, 5, grid, grid) and predictions.shape == (6, 5)
    # The same forward pass as the model's own prediction.
    from personality_utils.models import training

    np.testing.assert_allclose(predictions, training.predict(trained, images), atol=1e-6)
    grad = cam.gradient_maps(trained, images, "GradCAM", batch_size=4)
    # Grad-CAM weights of a GAP + linear head are w / (h * w); torchcam applies a ReLU.
    np.testing.assert_allclose(grad, np.clip(maps, 0, None) / grid**2, rtol=1e-4, atol=1e-7)
    assert (grad > 0).any()


def test_grad_cam_runs_on_danplus_and_rejects_unknown_layers():
    trained = tiny_cam_model("danplus")
    grad = cam.gradient_maps(trained, cam_images(3), "GradCAM", layer="relu5_3")
    assert grad.shape == (3, 5, 2, 2) and np.isfinite(grad).all() and (grad >= 0).all()
    layer = cam.gradient_maps(trained, cam_images(3), "LayerCAM", layer="relu4_3")
    assert layer.shape == (3, 5, 4, 4)
    with pytest.raises(ValueError, match="relu9_9"):
        cam.gradient_maps(trained, cam_images(3), layer="relu9_9")
    with pytest.raises(TypeError, match="CAM head"):
        cam.class_activation_maps(trained, cam_images(3))


def test_top_predicted_orders_breaks_ties_and_respects_eligibility():
    predictions = np.zeros((6, 5))
    predictions[:, 0] = [0.1, 0.9, 0.5, 0.9, 0.2, 0.95]
    top = cam.top_predicted(predictions, n=3)
    np.testing.assert_array_equal(top["openness"], [5, 1, 3])  # tie 0.9: lower row first
    eligible = np.array([True, True, True, True, True, False])
    np.testing.assert_array_equal(cam.top_predicted(predictions, 2, eligible)["openness"], [1, 3])


def test_score_maps_on_hand_made_maps():
    size = 8
    maps = np.zeros((3, size, size))
    maps[0, 2:4, 2:4] = 1.0  # entirely inside the box below
    maps[1, 6:8, 6:8] = 1.0  # entirely outside
    maps[2, 3, 3] = 1.0
    maps[2, 7, 7] = 0.9  # two peaks, one in, one out: overlap 1/2, energy 1/1.9
    boxes = np.array([(2, 2, 6, 6), (2, 2, 6, 6), (2, 2, 6, 6)], dtype=float)
    scores = cam.score_maps(maps, boxes, size)
    np.testing.assert_allclose(scores["overlap"], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(scores["pointing"], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(scores["energy"], [1.0, 0.0, 1 / 1.9])
    np.testing.assert_allclose(scores["box_area"], 16 / 64)
    nan_box = cam.score_maps(maps[:1], np.full((1, 4), np.nan), size)
    assert nan_box.isna().all(axis=None)
    curve = cam.threshold_curve(maps, boxes, size, fractions=(0.5, 0.95), modes=("raw",))
    # At 0.95 the second peak of map 2 drops out: overlap 1 there.
    np.testing.assert_allclose(curve["mean_overlap"], [0.5, 2 / 3])


def test_summarise_overlap_per_trait():
    rng = np.random.default_rng(0)
    values = np.repeat(rng.normal(size=30), 10)
    clips = np.array([f"{index:011d}.000.mp4" for index in np.repeat(np.arange(30), 10)])
    scores = pd_scores(values, np.repeat(np.arange(30), 10))
    scores["clip"] = clips
    table = cam.summarise_overlap(scores, n_boot=200)
    assert set(table.index) == {"all", "a", "b"}
    assert table.loc["all", "maps"] == 300
    assert table.loc["all", "mean_overlap_low"] < table.loc["all", "mean_overlap"]


def pd_scores(values, clips):
    import pandas as pd

    overlap = (values - values.min()) / (values.max() - values.min())
    return pd.DataFrame(
        {
            "overlap": overlap,
            "pointing": (overlap > 0.5).astype(float),
            "energy": overlap,
            "box_area": 0.2,
            "clip": clips,
            "trait": np.where(clips % 2, "a", "b"),
        }
    )


def test_top_videos_rank_clips_and_map_their_first_frame():
    # Three clips, frames stored out of order: the clip score is the mean of its frames.
    meta = pd.DataFrame(
        {
            "clip": ["b", "a", "a", "b", "c", "c"],
            "frame_index": [9, 5, 0, 0, 4, 2],
        }
    )
    predictions = np.zeros((6, 5))
    predictions[:, 0] = [0.9, 0.2, 0.3, 0.1, 0.6, 0.6]  # b: 0.5, a: 0.25, c: 0.6
    predictions[:, 1] = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]  # a tie: clip name order
    top = cam.top_videos(meta, predictions, n=2)
    # c first (its first frame is frame 2, row 5), then b (frame 0, row 3).
    np.testing.assert_array_equal(top["openness"], [5, 3])
    np.testing.assert_array_equal(top["conscientiousness"], [2, 3])
    # The frame-level ranking differs: its best frame (row 0) belongs to clip b.
    assert cam.top_predicted(predictions, 1)["openness"][0] == 0
    with pytest.raises(ValueError):
        cam.top_videos(meta, predictions[:3])
