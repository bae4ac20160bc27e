"""Tests of personality_utils.cam.parts: CAM mass per face part and the traits' difference."""

from __future__ import annotations

import numpy as np
import pytest

from personality_utils.cam import parts as cam_parts
from personality_utils.core.vocabulary import TRAITS
from personality_utils.faces import facs


def test_region_mass_adds_up():
    cam_map = np.zeros((4, 4))
    cam_map[0, 0], cam_map[3, 3], cam_map[1, 1] = 2.0, 1.0, 1.0
    masks = {"eyes": np.zeros((4, 4), bool), "mouth": np.zeros((4, 4), bool)}
    masks["eyes"][0, 0] = True
    masks["mouth"][3, 3] = True
    shares = cam_parts.region_mass(cam_map, masks)
    assert shares == pytest.approx({"eyes": 0.5, "mouth": 0.25, "elsewhere": 0.25})


def test_region_shares_and_trait_difference():

    size = 56
    shape = facs.MEAN_SHAPE * size * 0.25 + size / 2  # a face filling the crop
    shape = shape - shape.mean(axis=0) + size / 2
    maps = np.zeros((2, 7, 7))
    maps[0, 5, 3] = 1.0  # low in the face: the mouth
    maps[1, 2, 2] = 1.0
    shares = cam_parts.map_part_shares(maps, np.stack([shape, shape]), size)
    assert set(shares.columns) >= {"eyes", "mouth", "elsewhere", "mouth_area"}
    np.testing.assert_allclose(
        shares[["eyebrows", "eyes", "nose", "mouth", "elsewhere"]].sum(axis=1), 1
    )
    assert shares.loc[0, "mouth"] > shares.loc[1, "mouth"]
    # Paired: five traits' maps of the same two crops, shares per part.
    values = cam_parts.trait_part_values(
        np.stack([maps] * 5, axis=1), np.stack([shape, shape]), size, ["eyes", "mouth"]
    )
    assert values.shape == (2, 5, 2)
    np.testing.assert_allclose(values[:, 0], values[:, 4])  # the same map under every trait
    rng = np.random.default_rng(0)
    items = rng.random((60, 1, 2)) + np.zeros((60, 3, 2))  # 60 crops, 3 traits, 2 parts
    noisy = items + rng.normal(0, 0.01, items.shape)
    groups = np.repeat(np.arange(20), 3)  # 3 crops per person
    same = cam_parts.trait_difference_test(noisy, ["a", "b"], groups, n_permutations=300)
    assert same["p_value"] > 0.05 and same["largest_spread_high"] < 0.02
    differ = noisy.copy()
    differ[:, 0, 0] += 0.05  # trait 0 puts more on part a, on every crop
    result = cam_parts.trait_difference_test(differ, ["a", "b"], groups, n_permutations=300)
    assert result["p_value"] < 0.01 and result["largest_spread_region"] == "a"
    assert result["largest_spread_low"] < 0.05 < result["largest_spread_high"] + 0.01


def test_face_parts_finds_the_trait_that_looks_at_the_mouth():
    size, crops = 56, 12
    shape = facs.MEAN_SHAPE * size * 0.25 + size / 2
    shape = shape - shape.mean(axis=0) + size / 2
    landmarks = np.repeat(shape[None], crops, axis=0)
    rng = np.random.default_rng(0)
    maps = rng.random((crops, 5, 7, 7)) * 0.1
    maps[:, :, 0, 0] += 1.0  # every trait looks at a corner, off the face ...
    extraversion = TRAITS.index("extraversion")
    maps[:, extraversion, 4, 3] += 2.0  # ... and extraversion also at the mouth
    tops = {trait: np.arange(t, t + 6) for t, trait in enumerate(TRAITS)}
    clips = np.array([f"{i // 2:011d}.000.mp4" for i in range(crops)])  # 2 crops per person
    parts = cam_parts.face_parts(maps, landmarks, tops, clips, size, n_boot=200, seed=0)
    # Each trait's share is the mean over its own top crops of its own map.
    for t, trait in enumerate(TRAITS):
        rows = tops[trait]
        by_hand = cam_parts.map_part_shares(maps[rows, t], landmarks[rows], size)
        for region in (*cam_parts.PARTS, "elsewhere"):
            assert parts.mass_table.loc[trait, region] == pytest.approx(by_hand[region].mean())
    mouth = parts.mass_table["mouth"].drop("area of the part")
    assert mouth.idxmax() == "extraversion"
    area = parts.mass_table.loc["area of the part"]
    assert area.sum() == pytest.approx(1.0) and area["mouth"] > 0
    assert len(parts.shares) == 25 and (parts.shares["value_low"] <= parts.shares["value"]).all()
    # Paired over the 10 crops some trait mapped, the traits differ, most on the mouth.
    assert parts.crops == 10
    assert parts.difference["largest_spread_region"] == "mouth"
    assert parts.difference["p_value"] < 0.05
    measured = parts.measurements()
    assert measured["part_spread"]["value"] == parts.difference["largest_spread"]
    assert measured["part_spread_region"] == "mouth"
    assert set(parts.record()["face_region_mass"]) == {*TRAITS, "area of the part"}
    assert parts.description().startswith("do traits differ on the same 10 crops?")
