"""Tests of personality_utils.faces on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from personality_utils import faces


def _photo(shared_data, name):
    return np.asarray(Image.open(shared_data / "faces" / name).convert("RGB"))


def test_predictor_ships_with_the_install():
    path = faces.shape_predictor_path()
    assert path.is_file() and path.stat().st_size > 50_000_000


def test_detects_a_real_face(shared_data):
    photo = _photo(shared_data, "obama.jpg")
    detection = faces.detect_face(photo)
    assert detection.found and detection.landmarks.shape == (68, 2)
    left, top, right, bottom = detection.box
    inside = ((detection.landmarks[:, 0] > left - 20) & (detection.landmarks[:, 0] < right + 20)
              & (detection.landmarks[:, 1] > top - 20) & (detection.landmarks[:, 1] < bottom + 20))
    assert inside.mean() > 0.9
    right_eye, left_eye = faces.eye_centres(detection.landmarks)
    assert right_eye[0] < left_eye[0]  # subject's right eye is on the image's left


def test_largest_face_wins(shared_data):
    photo = _photo(shared_data, "two_people.jpg")
    detection = faces.detect_face(photo)
    assert detection.found
    width = detection.box[2] - detection.box[0]
    import dlib

    boxes = dlib.get_frontal_face_detector()(photo, 1)
    assert len(boxes) >= 2
    assert width >= max(box.width() for box in boxes) * 0.9


def test_no_face_is_reported():
    blank = np.full((240, 320, 3), 128, dtype=np.uint8)
    assert faces.detect_face(blank).found is False
    with pytest.raises(ValueError):
        faces.detect_face(blank[..., 0])


def test_landmark_error_units():
    truth = np.zeros((68, 2))
    truth[36:42] = (0, 0)
    truth[42:48] = (10, 0)
    shifted = truth + (0, 2)
    assert faces.landmark_error_iod(shifted, truth) == pytest.approx(0.2)
    assert faces.inter_ocular_distance(truth) == pytest.approx(10)
