"""Tests of personality_utils.aus.links: the paper's formula, the unit overlaps, the clip level, the
permutation null and the face-part agreement."""

from __future__ import annotations

import math
import time
import types

import numpy as np
import pandas as pd
import pytest

from personality_utils.aus import links


def _random_units(rng, population, n_units, n_top):
    return np.stack([rng.choice(population, n_top, replace=False) for _ in range(n_units)])


def test_formula_reproduces_the_paper():
    # REFERENCE.md: F=2000, N=50, U=512.
    assert links.overlap_p_value(10) == pytest.approx(9.32e-5, rel=2e-3)
    assert links.overlap_p_value(9) == pytest.approx(1.07e-3, rel=5e-3)  # paper prints 1.10e-3
    assert links.overlap_p_value(7) == pytest.approx(0.0855, rel=5e-3)  # paper prints 0.086
    assert links.overlap_p_value(5) == pytest.approx(0.976, abs=1e-3)  # paper prints 0.974
    # The paper prints 0.439 for k=6; its own formula gives 0.469.
    assert links.overlap_p_value(6) == pytest.approx(0.469, abs=1e-3)
    assert abs(links.overlap_p_value(6) - 0.439) > 0.02
    table = links.paper_table2()
    assert len(table) == 17 and table.loc["AU12", "unit"] == 108
    agree = table["overlap"] != 6  # every row but the k=6 ones matches the printed value
    np.testing.assert_allclose(
        table.loc[agree, "formula_p"], table.loc[agree, "printed_p"], rtol=0.03
    )
    np.testing.assert_allclose(table.loc[~agree, "formula_p"], 0.4689, atol=1e-4)


def test_formula_against_brute_force_and_for_tiny_p():
    # Small case by direct counting: P(X >= k) from binomial coefficients.
    population, n_top, n_units = 12, 4, 3
    for k in range(n_top + 1):
        tail = sum(
            math.comb(n_top, i) * math.comb(population - n_top, n_top - i)
            for i in range(k, n_top + 1)
        ) / math.comb(population, n_top)
        expected = 1 - (1 - tail) ** n_units
        assert links.overlap_p_value(k, population, n_top, n_units) == pytest.approx(expected)
    # Tiny p keep their digits (1 - (1 - q)^U would round to 0 or lose them).
    from scipy.stats import hypergeom

    q = hypergeom.sf(29, 2000, 50, 50)
    assert 0 < links.overlap_p_value(30) == pytest.approx(512 * q, rel=1e-9)
    np.testing.assert_allclose(
        links.overlap_p_value(np.array([7, 10])), [0.0855, 9.323e-5], rtol=5e-3
    )


def test_unit_overlap_finds_a_planted_unit():
    rng = np.random.default_rng(7)
    population, n_units, n_top = 300, 40, 20
    units = _random_units(rng, population, n_units, n_top)
    values = rng.normal(size=(population, 2))
    # AU "A": its 20 highest frames include 12 of unit 7's top frames.
    values[units[7][:12], 0] += 10
    values[np.setdiff1d(np.arange(population), units[7])[:8], 0] += 10
    values[5, 1] = np.nan  # NaN is never in a top set
    table = links.unit_overlap(pd.DataFrame(values, columns=["A", "B"]), units)
    assert table.loc["A", "unit"] == 7 and table.loc["A", "overlap"] == 12
    assert table.loc["A", "p_value"] < 1e-8
    assert table.loc["A", "population"] == population and table.loc["A", "n_units"] == n_units
    # Brute force with Python sets for the other column.
    top = set(links.top_items(values[:, 1], n_top).tolist())
    overlaps = [len(top & set(unit.tolist())) for unit in units]
    assert table.loc["B", "overlap"] == max(overlaps)
    assert table.loc["B", "unit"] == int(np.argmax(overlaps))
    assert table.loc["B", "p_value"] == pytest.approx(
        links.overlap_p_value(max(overlaps), population, n_top, n_units)
    )
    # The units module pads with -1 when it saw fewer than N images: no item.
    padded = units.copy()
    padded[7, 15:] = -1
    assert links.unit_overlap(pd.DataFrame(values[:, :1]), padded).loc[0, "overlap"] == 12
    padded[7, :12] = -1
    assert links.unit_overlap(pd.DataFrame(values[:, :1]), padded).loc[0, "unit"] != 7
    np.testing.assert_array_equal(links.top_items([1.0, np.nan, 3.0, 3.0, 0.0], 3), [2, 3, 0])
    with pytest.raises(ValueError, match="finite"):
        links.top_items([1.0, np.nan], 2)
    with pytest.raises(ValueError, match="outside"):
        links.unit_overlap(pd.DataFrame(values), units + population)


def test_clip_level_overlap():
    rng = np.random.default_rng(8)
    n_clips, per_clip, n_units = 80, 5, 30
    clips = np.repeat([f"c{i:02d}" for i in range(n_clips)], per_clip)
    activations = rng.normal(size=(len(clips), n_units))
    intensity = rng.normal(size=len(clips))
    # Unit 3 fires on the clips where the AU is strong (one frame each is enough).
    strong = np.flatnonzero(np.isin(clips, [f"c{i:02d}" for i in range(0, 80, 8)]))
    intensity[strong[::per_clip]] += 10
    activations[strong[1::per_clip], 3] += 10
    frame_table = pd.DataFrame({"AU12": intensity})
    table = links.clip_unit_overlap(frame_table, clips, n_top=10, activations=activations)
    assert table.loc["AU12", "unit"] == 3 and table.loc["AU12", "overlap"] == 10
    assert table.loc["AU12", "population"] == n_clips
    maxima = links.clip_max(frame_table, clips)
    assert len(maxima) == n_clips and maxima.index[0] == "c00"
    # From top frame lists: distinct clips in rank order.
    picked = links.unit_top_clips(clips, 3, unit_top=np.array([[0, 1, -1, 5, 2, 10]]))
    np.testing.assert_array_equal(picked, [[0, 1, 2]])
    with pytest.raises(ValueError, match="span 1 clips"):
        links.unit_top_clips(clips, 2, unit_top=np.array([[5, 6, 7, 8, 9]]))


def test_permutation_null():
    rng = np.random.default_rng(9)
    population, n_units, n_top = 400, 64, 20
    units = _random_units(rng, population, n_units, n_top)
    values = rng.normal(size=(population, 40))
    values[units[11][:9], 0] += 10  # a planted overlap of 9 (chance level is about 4)
    table = links.permutation_test(pd.DataFrame(values), units, n_permutations=300, seed=1)
    assert table.loc[0, "overlap"] >= 9
    assert table.loc[0, "p_permutation"] == pytest.approx(1 / 301)
    # No relation: permutation p-values spread over (0, 1].
    p = table["p_permutation"].iloc[1:]
    assert 0.25 < p.mean() < 0.75 and (p < 0.05).mean() <= 0.2 and p.max() > 0.5
    # Seeded: the same seed gives the same null.
    again = links.permutation_test(pd.DataFrame(values[:, :3]), units, n_permutations=300, seed=1)
    pd.testing.assert_frame_equal(again, table.iloc[:3])
    # With independent random units the formula is exact: E[max] = sum over j of P(max >= j).
    null = links.permutation_test(
        pd.DataFrame(rng.normal(size=(population, 1))), units, n_permutations=3000, seed=2
    )
    expected = sum(
        links.overlap_p_value(j, population, n_top, n_units) for j in range(1, n_top + 1)
    )
    assert null.loc[0, "null_mean"] == pytest.approx(expected, rel=0.05)


def test_permutation_null_at_the_papers_size_is_fast():

    rng = np.random.default_rng(10)
    units = _random_units(rng, 2000, 512, 50)
    start = time.perf_counter()
    values = pd.DataFrame(rng.normal(size=(2000, 1)))
    table = links.permutation_test(values, units, n_permutations=1000)
    elapsed = time.perf_counter() - start
    expected = sum(links.overlap_p_value(j) for j in range(1, 51))  # 5.54: the paper's 5-7/50
    assert table.loc[0, "null_mean"] == pytest.approx(expected, rel=0.03)
    assert elapsed < 15  # measured about 1 s on one core


def test_region_agreement_against_chance():
    # Four units; unit 0 looks at the mouth, unit 1 at the eyes, the eyebrows have no cell.
    shares = pd.DataFrame(
        {
            "eyebrows": [0.0, 0.0, 0.0, 0.0],
            "eyes": [0.0, 0.8, 0.1, 0.1],
            "nose": [0.1, 0.0, 0.1, 0.1],
            "mouth": [0.8, 0.0, 0.1, 0.2],
        }
    )
    table = links.region_agreement({"AU12": 0, "AU45": 1, "AU15": 2, "AU01": 3}, shares)
    assert table.loc["AU12", "region"] == "mouth" and table.loc["AU45", "region"] == "eyes"
    assert table.loc["AU12", "mean_share"] == pytest.approx(0.275)
    assert table.loc["AU12", "chance"] == pytest.approx(0.25)  # only unit 0 beats 0.275
    assert bool(table.loc["AU12", "above"]) and bool(table.loc["AU45", "above"])
    assert not bool(table.loc["AU15", "above"])
    assert not table.loc["AU01", "testable"] and np.isnan(table.loc["AU01", "above"])
    summary = links.region_agreement_summary(table)
    assert summary["n_testable"] == 3 and summary["observed"] == 2
    assert summary["expected"] == pytest.approx(0.25 + 0.25 + 0.25)
    # P(at least 2 of 3 Bernoulli(0.25)) = 3 * 0.25**2 * 0.75 + 0.25**3
    assert summary["p_value"] == pytest.approx(3 * 0.25**2 * 0.75 + 0.25**3)
    none = links.region_agreement_summary(links.region_agreement({"AU01": 0}, shares))
    assert none["n_testable"] == 0 and np.isnan(none["p_value"])
    with pytest.raises(ValueError, match="no face region"):
        links.region_agreement({"AU99": 0}, shares)
    with pytest.raises(ValueError, match="not in the shares"):
        links.region_agreement({"AU12": 9}, shares)


def test_smallest_significant_k_by_brute_force():
    for population, n_top, n_units in ((2000, 50, 512), (300, 20, 40), (120, 12, 8)):
        k = links.smallest_significant_k(population, n_top, n_units)
        assert links.overlap_p_value(k, population, n_top, n_units) < 0.05
        assert links.overlap_p_value(k - 1, population, n_top, n_units) >= 0.05
    assert links.smallest_significant_k(2000, 50, 512) == 8  # p(7) = 0.0855, p(8) < 0.05
    # A top set of one face among six, 32 units: even k = N = 1 is likely by chance.
    assert links.smallest_significant_k(6, 1, 32) is None


def test_face_part_grid_from_the_mean_landmarks():
    from personality_utils.faces import facs

    def store(landmarks, crop):
        return types.SimpleNamespace(landmarks=landmarks, crops=np.zeros((len(landmarks), crop)))

    face = facs.MEAN_SHAPE * 20 + 32  # a face in a 64-pixel crop
    shifted = np.stack([face + 1.5, face - 1.5])  # their mean is the face
    masks = links.face_part_grid(store(shifted, 64), input_size=112, grid=7)
    assert set(masks) == {"eyebrows", "eyes", "nose", "mouth"}
    assert all(mask.shape == (7, 7) and mask.dtype == bool for mask in masks.values())
    assert masks["mouth"].any() and masks["eyes"].any()
    # Only the crop's scale matters: the same face in a 128-pixel crop draws the same cells.
    bigger = links.face_part_grid(store(shifted * 2, 128), input_size=112, grid=7)
    for region, mask in masks.items():
        np.testing.assert_array_equal(mask, bigger[region])
    mouth_row = int(np.flatnonzero(masks["mouth"].any(axis=1)).mean())
    eyes_row = int(np.flatnonzero(masks["eyes"].any(axis=1)).mean())
    assert mouth_row > eyes_row  # image rows grow downwards


def test_describe_face_parts_counts_cells_and_names_empty_parts():
    masks = {"eyes": np.eye(3, dtype=bool), "mouth": np.zeros((3, 3), bool)}
    text = links.describe_face_parts(masks)
    assert text.startswith("cells per face part on the 3x3 conv5_3 grid: eyes 3, mouth 0")
    assert "no cell belongs to: mouth" in text
    assert "no cell" not in links.describe_face_parts({"eyes": np.ones((2, 2), bool)})
