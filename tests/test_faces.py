"""Tests of personality_utils.faces: detection, alignment, masks, on real photos and clips."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from personality_utils import data, faces, facs, stores, truth


def _photo(shared_data, name):
    return np.asarray(Image.open(shared_data / "faces" / name).convert("RGB"))


def test_predictor_ships_with_the_install():
    path = faces.shape_predictor_path()
    assert path.is_file() and path.stat().st_size > 50_000_000


@pytest.mark.parametrize(
    "name, expected", [("obama.jpg", 1), ("biden.jpg", 1), ("two_people.jpg", 2)]
)
def test_counts_real_faces(shared_data, name, expected):
    detection = faces.detect_face(_photo(shared_data, name))
    assert detection.found and detection.n_faces == expected
    assert detection.landmarks.shape == (68, 2)


def test_detects_a_real_face(shared_data):
    detection = faces.detect_face(_photo(shared_data, "obama.jpg"))
    left, top, right, bottom = detection.box
    inside = (
        (detection.landmarks[:, 0] > left - 20)
        & (detection.landmarks[:, 0] < right + 20)
        & (detection.landmarks[:, 1] > top - 20)
        & (detection.landmarks[:, 1] < bottom + 20)
    )
    assert inside.mean() > 0.9
    right_eye, left_eye = faces.eye_centres(detection.landmarks)
    assert right_eye[0] < left_eye[0]  # subject's right eye is on the image's left


def test_largest_face_wins(shared_data):
    import dlib

    photo = _photo(shared_data, "two_people.jpg")
    detection = faces.detect_face(photo)
    boxes = dlib.get_frontal_face_detector()(photo, 1)
    assert len(boxes) >= 2
    assert detection.box[2] - detection.box[0] >= max(box.width() for box in boxes) * 0.9


@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg", "two_people.jpg"])
def test_alignment_puts_the_eyes_on_the_canonical_positions(shared_data, name):
    aligned = faces.align_frame(_photo(shared_data, name), face_size=224)
    assert aligned.crop.shape == (224, 224, 3) and aligned.crop.dtype == np.uint8
    eyes = np.stack(faces.eye_centres(aligned.landmarks_crop))
    assert np.abs(eyes - faces.canonical_eyes(224)).max() < 2.0
    # The crop really is the face: the pixels at the canonical eye positions are darker than the
    # cheeks below them (eyes, brows and lashes), not background.
    gray = aligned.crop.mean(axis=2)
    for x, y in faces.canonical_eyes(224).astype(int):
        assert (
            gray[y - 3 : y + 4, x - 3 : x + 4].mean() < gray[y + 25 : y + 32, x - 3 : x + 4].mean()
        )


def test_alignment_matrix_is_a_similarity():
    rng = np.random.default_rng(0)
    landmarks = facs.MEAN_SHAPE * 40 + [100, 80]
    angle = 0.3
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = landmarks @ rotation.T + rng.normal(0, 0.0, landmarks.shape)
    matrix = faces.alignment_matrix(moved, 224)
    linear = matrix[:, :2]
    assert np.allclose(linear @ linear.T, np.eye(2) * (linear[0] @ linear[0]))  # no shear
    assert np.linalg.det(linear) > 0  # no mirror
    eyes = np.stack(faces.eye_centres(faces.apply_matrix(matrix, moved)))
    np.testing.assert_allclose(eyes, faces.canonical_eyes(224), atol=1e-9)
    assert faces.eye_alignment_error(moved, moved, 224) == pytest.approx(0, abs=1e-9)


def test_real_clips_have_faces_in_nine_of_ten_frames(shared_data):
    # The three real clips this test was written for (SOURCES.md); the folder now holds more,
    # some with a frame or two where the speaker turns away.
    folder = shared_data / "firstimpressions" / "train"
    for name in ("-AmMDnVl4s8.003", "98fnGDVky00.005", "L_gmlaz-0s4.003"):
        clip = folder / f"{name}.mp4"
        sampled = data.read_sampled_frames(clip)
        found = [faces.detect_face(frame).found for frame in sampled.frames]
        assert sum(found) >= 9, f"{clip.name}: faces in {sum(found)} of {len(found)} frames"


def test_no_face_is_reported():
    blank = np.full((240, 320, 3), 128, dtype=np.uint8)
    assert faces.detect_face(blank).found is False
    aligned = faces.align_frame(blank)
    assert aligned.crop is None and np.isnan(aligned.box_store).all()
    with pytest.raises(ValueError):
        faces.detect_face(blank[..., 0])


def test_landmark_error_units():
    truth = np.zeros((68, 2))
    truth[42:48] = (10, 0)
    shifted = truth + (0, 2)
    assert faces.landmark_error_iod(shifted, truth) == pytest.approx(0.2)
    assert faces.inter_ocular_distance(truth) == pytest.approx(10)


def _mean_crop_landmarks():
    matrix = faces.alignment_matrix(facs.MEAN_SHAPE, 224)
    return faces.apply_matrix(matrix, facs.MEAN_SHAPE)


def test_masks_are_in_anatomical_order_and_disjoint():
    masks = faces.region_masks(_mean_crop_landmarks(), 224)

    def centre_y(mask):
        return np.nonzero(mask)[0].mean()

    assert centre_y(masks["eyebrows"]) < centre_y(masks["eyes"]) < centre_y(masks["nose"])
    assert centre_y(masks["nose"]) < centre_y(masks["mouth"])
    assert (
        np.nonzero(masks["mouth"])[0].min() > np.nonzero(masks["nose"])[0].max()
    )  # strictly below
    for a in faces.REGIONS:
        assert masks[a].any()
        for b in faces.REGIONS:
            if a < b:
                assert not (masks[a] & masks[b]).any(), (a, b)
    grid = faces.region_masks(_mean_crop_landmarks(), 224, grid=14)
    assert all(grid[r].shape == (14, 14) and grid[r].any() for r in faces.REGIONS)
    assert sum(grid[r].astype(int) for r in faces.REGIONS).max() == 1
    # Two eye blobs, one on each side of the vertical midline.
    columns = np.nonzero(grid["eyes"])[1]
    assert columns.min() < 7 <= columns.max()


def test_masks_follow_a_frames_own_landmarks():
    landmarks = _mean_crop_landmarks()
    moved = faces.region_masks(landmarks + [0, 16], 224)
    base = faces.region_masks(landmarks, 224)
    assert np.array_equal(moved["mouth"][16:], base["mouth"][:-16])
    with pytest.raises(ValueError):
        faces.region_masks(landmarks, 224, grid=15)


def test_mean_face_streams():
    crops = np.stack([np.full((4, 4, 3), value, dtype=np.uint8) for value in (10, 20, 60)])
    assert (faces.mean_face(crops, batch=2) == 30).all()


def test_face_store_counts_frames_without_a_face(tmp_path, smoke_dataset):
    # Two real synthetic clips plus one blank video: its frames stay in the frame store,
    # flagged, and never reach the face store.
    import av

    root = tmp_path / "fi"
    root.mkdir()
    clips = data.find_clips(smoke_dataset.root)
    labels = data.load_split_labels(smoke_dataset.root)["train"].head(2)
    for name in labels.index:
        (root / name).symlink_to(clips[name])
    with av.open(str(root / "blankblankb.001.mp4"), "w") as output:
        stream = output.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for _ in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), 90, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    content = {t: {**labels[t].to_dict(), "blankblankb.001.mp4": 0.5} for t in data.TRAITS}
    (root / "annotation_training.pkl").write_bytes(pickle.dumps(content, protocol=2))
    store = stores.build_frame_store(
        root, tmp_path / "store", size=64, face_size=96, workers=1, progress=False
    )["train"]
    face_store = stores.open_face_store(tmp_path / "store", "train")
    blank = (store.meta["clip"] == "blankblankb.001.mp4").to_numpy()
    assert blank.sum() == 10 and not store.detections["found"][blank].any()
    assert store.detections["found"][~blank].mean() >= 0.9
    assert len(face_store) == int(store.detections["found"].sum())
    assert "blankblankb.001.mp4" not in set(face_store.meta["clip"])
    assert face_store.crops.shape[1:] == (96, 96, 3)
    rows = face_store.meta["frame_row"].to_numpy()
    assert len(set(rows)) == len(rows)  # nothing duplicated
    np.testing.assert_array_equal(face_store.landmarks, store.detections["landmarks_crop"][rows])
    summary = faces.detection_summary(store)
    assert summary["clips_missing_frames"] == pytest.approx(1 / 3)


def test_synthetic_detection_against_the_sidecar(smoke_dataset):
    agreement = truth.landmark_agreement(smoke_dataset.root, smoke_dataset.store("train"))
    assert agreement.found.mean() >= 0.95
    assert agreement.error_iod.mean() < 0.10


def test_mean_face_pools_several_stores():
    first = np.full((3, 2, 2, 3), 10, dtype=np.uint8)
    second = np.full((1, 2, 2, 3), 50, dtype=np.uint8)
    assert (faces.mean_face(first, second) == 20).all()  # (3·10 + 50) / 4
    with pytest.raises(ValueError):
        faces.mean_face(first[:0])


def _face_store(value: int, count: int, landmarks: np.ndarray) -> stores.FaceStore:
    crops = np.full((count, 2, 2, 3), value, dtype=np.uint8)
    meta = pd.DataFrame({"clip": [f"c{i}" for i in range(count)], "frame_index": range(count)})
    return stores.FaceStore(crops, meta, np.repeat(landmarks[None], count, axis=0), Path("f"))


def test_average_face_pools_training_and_validation_only():
    points = np.ones((68, 2))
    missing = np.full((68, 2), np.nan)
    pooled = {
        "train": _face_store(10, 3, points),
        "validation": _face_store(50, 1, points * 5),
        "test": _face_store(255, 4, missing),
    }
    image, landmarks, count = faces.average_face(pooled)
    assert count == 4 and (image == 20).all()  # (3·10 + 50) / 4, the test faces left out
    np.testing.assert_allclose(landmarks, 2.0)  # (3·1 + 5) / 4
    pooled["validation"] = _face_store(50, 1, missing)  # a NaN row does not count
    np.testing.assert_allclose(faces.average_face(pooled)[1], 1.0)
    with pytest.raises(ValueError):
        faces.average_face({"test": pooled["test"]})


def test_mask_areas_count_each_part_in_order():
    masks = {region: np.zeros((4, 4), dtype=bool) for region in faces.REGIONS}
    masks["mouth"][1:3, 0:3] = True
    masks["eyes"][0, 0] = True
    areas = faces.mask_areas(masks)
    assert list(areas) == list(faces.REGIONS)
    assert areas == {"eyebrows": 0, "eyes": 1, "nose": 0, "mouth": 6}
