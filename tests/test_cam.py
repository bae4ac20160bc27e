"""Tests of personality_utils.cam on hand-made maps and masks."""

from __future__ import annotations

import numpy as np
import pytest

from personality_utils import cam


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
    np.testing.assert_array_equal(cam.binarise(cam_map, 0.5, "minmax"), [[False, True], [True, True]])
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


def test_centre_prior_and_random_map():
    prior = cam.centre_prior(16)
    assert prior.shape == (16, 16) and prior.argmax() in {7 * 16 + 7, 7 * 16 + 8, 8 * 16 + 7, 8 * 16 + 8}
    np.testing.assert_allclose(prior, prior.T)
    np.testing.assert_allclose(prior, prior[::-1])
    rng = np.random.default_rng(0)
    noise = cam.random_map(32, 4, rng)
    assert noise.shape == (32, 32) and 0 <= noise.min() and noise.max() <= 1


def test_upsample_keeps_a_constant_map():
    np.testing.assert_allclose(cam.upsample(np.full((7, 7), 2.5), 112), 2.5, rtol=1e-6)


def test_region_mass_adds_up():
    cam_map = np.zeros((4, 4))
    cam_map[0, 0], cam_map[3, 3], cam_map[1, 1] = 2.0, 1.0, 1.0
    masks = {"eyes": np.zeros((4, 4), bool), "mouth": np.zeros((4, 4), bool)}
    masks["eyes"][0, 0] = True
    masks["mouth"][3, 3] = True
    shares = cam.region_mass(cam_map, masks)
    assert shares == pytest.approx({"eyes": 0.5, "mouth": 0.25, "elsewhere": 0.25})
