"""Tests of personality_utils.core.images: the raster images the chapters show."""

from __future__ import annotations

import numpy as np

from personality_utils.cam import overlay as cam_overlay
from personality_utils.core import images


def test_masks_over_paints_each_part_in_its_colour():
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    grid = {"mouth": np.zeros((4, 4), dtype=bool), "eyes": np.zeros((4, 4), dtype=bool)}
    grid["mouth"][3, 1] = True
    painted = images.masks_over(image, grid)
    purple = np.array([int(images.REGION_COLOURS["mouth"][i : i + 2], 16) for i in (1, 3, 5)])
    # a 4x4 grid on an 8-pixel image: each cell is 2x2 pixels
    np.testing.assert_array_equal(
        painted[6:8, 2:4], np.broadcast_to((purple * 150 / 255).astype(np.uint8), (2, 2, 3))
    )
    assert painted[:6].max() == 0 and painted[6:, 4:].max() == 0


def test_cam_overlay_is_red_where_the_map_peaks():
    image = np.full((32, 32, 3), 100, dtype=np.uint8)
    cam_map = np.zeros((4, 4))
    cam_map[0, 0] = 1.0
    overlay = cam_overlay.cam_overlay(image, cam_map, alpha=1.0)
    assert overlay.shape == (32, 32, 3)
    top_left, bottom_right = overlay[1, 1].astype(int), overlay[30, 30].astype(int)
    assert top_left[0] > top_left[2] and bottom_right[2] > bottom_right[0]  # Jet: red vs blue


def test_mosaic_lays_out_tiles_with_gaps():
    tiles = [np.full((4, 4, 3), v, dtype=np.uint8) for v in (10, 20, 30)] + [None]
    mosaic = images.mosaic(tiles, columns=2, tile=4, gap=2)
    assert mosaic.shape == (10, 10, 3)  # two 4-pixel tiles and a 2-pixel gap each way
    assert mosaic[0, 0, 0] == 10 and mosaic[0, 6, 0] == 20 and mosaic[6, 0, 0] == 30
    assert mosaic[6, 6, 0] == 255  # None: blank
