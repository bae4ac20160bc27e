"""Tests of personality_utils.figures.face_panels: what the face figures are made of, without a
browser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from personality_utils.data import stores
from personality_utils.data.synthetic.truth import DetectionExample
from personality_utils.faces import alignment, facs, regions
from personality_utils.faces.detection import FaceDetection
from personality_utils.figures import face_panels


def _crop_landmarks(size: int = 64) -> np.ndarray:
    return alignment.apply_matrix(
        alignment.alignment_matrix(facs.MEAN_SHAPE, size), facs.MEAN_SHAPE
    )


def _frame_store(found: list[bool]) -> stores.FrameStore:
    count = len(found)
    frames = np.zeros((count, 32, 32, 3), dtype=np.uint8)
    meta = pd.DataFrame({"clip": [f"c{i}" for i in range(count)], "frame_index": range(count)})
    detections = {
        "found": np.array(found),
        "landmarks_store": np.repeat(_crop_landmarks(32)[None], count, axis=0),
        "box_store": np.tile([1.0, 2.0, 30.0, 31.0], (count, 1)),
    }
    return stores.FrameStore(frames, meta, {}, Path("s"), detections)


def _face_store(count: int, size: int = 64) -> stores.FaceStore:
    crops = np.zeros((count, size, size, 3), dtype=np.uint8)
    meta = pd.DataFrame({"clip": [f"clip{i:02d}.mp4" for i in range(count)], "frame_index": 3})
    landmarks = np.repeat(_crop_landmarks(size)[None], count, axis=0)
    return stores.FaceStore(crops, meta, landmarks, Path("f"))


def test_detections_grid_draws_only_frames_with_a_face():
    figure = face_panels.detections_grid(_frame_store([True, False, True, True, False, True]), 4)
    assert [trace.type for trace in figure.data] == ["image", "scatter"] * 4
    assert len(figure.layout.shapes) == 4  # one box per face
    assert figure.data[1].x[0] == pytest.approx(_crop_landmarks(32)[0, 0])
    assert figure.layout.height == 2 * 260  # 4 frames on rows of 3


def test_aligned_faces_spread_over_the_store():
    figure = face_panels.aligned_faces(_face_store(30), count=3, columns=3)
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert titles == ["clip00.mp4 #3", "clip14.mp4 #3", "clip29.mp4 #3"]
    assert "64x64" in figure.layout.title.text


def test_detection_against_truth_shows_both_landmark_sets_and_the_box():
    points = _crop_landmarks(64)
    detection = FaceDetection(True, 1.0, (1.0, 2.0, 60.0, 61.0), points + 1, n_faces=1)
    frame = np.zeros((64, 64, 3), dtype=np.uint8)
    example = DetectionExample("a.mp4", 7, 0.05, frame, points, detection)
    figure = face_panels.detection_against_truth(example)
    assert [trace.name for trace in figure.data[1:]] == ["ground truth", "dlib"]
    assert figure.data[2].x[0] == pytest.approx(points[0, 0] + 1)
    assert figure.layout.shapes[0].x1 == 60.0 and "frame 7" in figure.layout.title.text


def test_error_histograms_one_or_several_series():
    single = face_panels.error_histograms({"v": [0.1, 0.2]}, "t", "x", threshold=(0.1, "bar"))
    assert single.layout.showlegend is False and len(single.layout.shapes) == 1
    several = face_panels.error_histograms(
        {"a": [1.0], "b": [2.0, 3.0]}, "t", "x", histnorm="probability"
    )
    assert [trace.name for trace in several.data] == ["a", "b"]
    assert several.data[0].histnorm == "probability" and several.layout.barmode == "overlay"
    assert not several.layout.shapes


def test_face_part_masks_draw_the_grid_and_a_legend_per_part():
    size, grid = 64, 4
    landmarks = _crop_landmarks(size)
    average = np.zeros((size, size, 3), dtype=np.uint8)
    pixel = regions.region_masks(landmarks, size)
    on_grid = regions.region_masks(landmarks, size, grid=grid)
    figure = face_panels.face_part_masks(average, landmarks, pixel, on_grid)
    assert [trace.type for trace in figure.data[:4]] == ["image", "scatter", "image", "image"]
    assert [trace.name for trace in figure.data[4:]] == list(regions.REGIONS)
    assert len(figure.layout.shapes) == 2 * (grid + 1)  # vertical and horizontal lines
    assert "4x4" in figure.layout.annotations[2].text


def test_face_masks_of_one_face():
    figure = face_panels.face_masks_figure(_face_store(5), 2)
    assert [trace.type for trace in figure.data] == ["image", "scatter", "image"]
    assert figure.layout.title.text.endswith("clip02.mp4")
