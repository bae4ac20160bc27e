"""Tests of personality_utils.units.netdissect: detectors and best IoU per part on hand-made maps
and
masks, and the agreement of IoU with N'."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import hand_accumulator
from scipy.stats import spearmanr

from personality_utils.faces import regions
from personality_utils.units import netdissect, semantics


def _stats(top_left: bool):
    """4 images of two units on 4 x 4 maps; unit 0 fires in the top-left quarter (or, when
    ``top_left`` is False, in the bottom-right one), unit 1 nowhere in particular."""
    rng = np.random.default_rng(0)
    maps = rng.uniform(0, 0.2, size=(4, 2, 4, 4)).astype(np.float32)
    rows = (0, 1) if top_left else (2, 3)
    for image in range(4):
        for k, (row, col) in enumerate([(r, c) for r in rows for c in rows]):
            maps[image, 0, row, col] = 5.0 + image + 0.5 * k
    masks = {region: np.zeros((4, 4, 4), dtype=bool) for region in regions.REGIONS}
    masks["mouth"][:, 0, :] = True  # top row
    masks["eyes"][:, 3, 3] = True
    masks["nose"][:, 2, 1] = True
    masks["eyebrows"][:, 1, 3] = True
    accumulator = hand_accumulator(maps, 3, masks=masks, iou_layers=["conv5_3"], quantile=0.76)
    return accumulator.result()


def test_detectors_and_best_iou_match_the_iou_tables():
    networks = {"trained": _stats(top_left=True), "random weights": _stats(top_left=False)}
    shares = pd.DataFrame({region: [0.5, 0.1] for region in regions.REGIONS})
    found = netdissect.dissect(networks, shares, layers=("conv5_3",))
    assert list(found.detectors.columns) == ["conv5_3 trained", "conv5_3 random weights"]
    assert list(found.detectors.index) == list(regions.REGIONS)
    for name, stats in networks.items():
        table = semantics.iou_table(stats, "conv5_3")
        for region in regions.REGIONS:
            rows = table[table["region"] == region]
            expected = int((rows["best"] & (rows["iou"] > semantics.DETECTOR_IOU)).sum())
            assert found.detectors.loc[region, f"conv5_3 {name}"] == expected
            assert found.best_iou.loc[region, f"conv5_3 {name}"] == rows["iou"].max()
        pd.testing.assert_frame_equal(found.tables[("conv5_3", name)], table)
    # unit 0 detects the mouth (half its row) in one network, the eyes' corner in the other
    for name, part in (("trained", "mouth"), ("random weights", "eyes")):
        table = found.tables[("conv5_3", name)]
        assert table.loc[(table["unit"] == 0) & table["detector"], "region"].tolist() == [part]
    # agreement on the trained network: unit 0 has both the higher share and the higher IoU
    assert set(found.agreement) == set(regions.REGIONS)
    assert found.agreement["mouth"] == pytest.approx(1.0)
    combined = found.table()
    assert list(combined.columns.get_level_values(0).unique()) == ["detectors", "best IoU"]
    record = found.record()
    assert record["iou_detectors_per_region"] == found.detectors.to_dict()
    assert set(record) == {
        "iou_detectors_per_region",
        "iou_best_per_region",
        "iou_n_prime_spearman",
    }


def test_agreement_is_spearman_over_units_and_skips_constant_parts():
    table = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(5), 2),
            "region": ["eyes", "mouth"] * 5,
            "iou": [0.1, 0.5, 0.2, 0.4, 0.3, 0.3, 0.4, 0.2, 0.5, 0.1],
        }
    )
    shares = pd.DataFrame(
        {
            "eyebrows": [0.2] * 5,
            "eyes": [0.0, 0.1, 0.3, 0.2, 0.4],
            "nose": [0.0] * 5,
            "mouth": [0.4, 0.3, 0.2, 0.1, 0.0],
        }
    )
    agreement = netdissect.iou_agreement(table, shares)
    assert set(agreement) == {"eyes", "mouth"}  # constant shares are left out
    assert agreement["mouth"] == pytest.approx(1.0)
    expected = spearmanr([0.1, 0.2, 0.3, 0.4, 0.5], [0.0, 0.1, 0.3, 0.2, 0.4]).statistic
    assert agreement["eyes"] == pytest.approx(expected) and agreement["eyes"] < 1
