"""Tests of personality_utils.units.ground_truth: glasses units against chance and the planted-cue
check
on hand-made statistics, a tiny seeded network and the smoke dataset's ground truth."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import UNIT_BATCH, hand_accumulator, tiny_unit_model, unit_images

from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.synthetic import labels, truth
from personality_utils.faces import regions
from personality_utils.units import activations, ground_truth, passes, semantics, summaries


def test_glasses_flags_read_the_ground_truth(smoke_dataset):
    clips = smoke_dataset.faces("test").meta["clip"].to_numpy()
    flags = ground_truth.glasses_flags(smoke_dataset, clips)
    recorded = truth.load_ground_truth(smoke_dataset.root)["clips"]
    assert flags.dtype == bool and flags.shape == clips.shape
    assert flags.tolist() == [bool(recorded[c]["features"]["glasses"]) for c in clips]
    assert ground_truth.glasses_flags(SimpleNamespace(synthetic=False), clips) is None


def _glasses():
    maps = np.zeros((10, 2, 2, 2), dtype=np.float32)
    maps[:, 0, 0, 0] = np.arange(10)  # unit 0: top 3 are images 9, 8, 7
    maps[:, 1, 1, 1] = 10 - np.arange(10)  # unit 1: top 3 are images 0, 1, 2
    stats = hand_accumulator(maps, 4, top_n=3, grid=2).result()
    wears = np.zeros(10, dtype=bool)
    wears[[7, 8, 9, 0]] = True
    return stats, wears


def test_glasses_units_summary_against_chance():
    stats, wears = _glasses()
    found = ground_truth.glasses_units(stats, stats, wears)
    summary = found.summary()
    assert summary["base_rate"] == pytest.approx(0.4)
    assert summary["best_unit"] == 0 and summary["precision"] == 1.0
    # P(3 of 3 glasses among 10 faces, 4 with glasses) = 4 / 120, corrected for 2 units
    assert summary["p_value_layer"] == pytest.approx(1 - (1 - 4 / 120) ** 2)
    assert summary["units_significant"] == summary["random_units_significant"] == 0
    assert "precision@3 1.00" in found.description()
    assert ground_truth.glasses_units(stats, stats, None) is None
    more = wears.copy()
    more[:] = False
    more[[9, 8, 7]] = True  # 3 of 10: p = 1 / 120 per unit, 1 - (119/120)^2 < 0.05
    assert ground_truth.glasses_units(stats, stats, more).summary()["units_significant"] == 1
    # No pretrained network: its entries are None and the description says so.
    assert summary["pretrained_units_significant"] is None
    assert "no pretrained network" in found.description()
    assert list(found.by_network()) == ["trained", "random"]
    # The network before fine-tuning, here the trained statistics under other labels.
    found = ground_truth.glasses_units(stats, stats, more, pretrained_stats=stats)
    summary = found.summary()
    assert summary["pretrained_units_significant"] == summary["units_significant"] == 1
    assert summary["pretrained_best_precision"] == summary["precision"]
    assert list(found.by_network()) == ["trained", "pretrained", "random"]
    assert found.by_network()["pretrained"] == {
        "best_precision": summary["precision"],
        "units_significant": 1,
    }
    assert "pretrained before fine-tuning: 1" in found.description()


def test_cue_masks_merge_eyebrows_only_without_cells():
    eyes = np.array([[True, False], [False, False]])
    brows = np.array([[False, True], [False, False]])
    nose = np.array([[False, False], [True, False]])
    mouth = np.array([[False, False], [False, True]])
    masks = {"eyebrows": brows, "eyes": eyes, "nose": nose, "mouth": mouth}
    assert ground_truth.cue_masks(masks) == masks
    merged = ground_truth.cue_masks({**masks, "eyebrows": np.zeros((2, 2), dtype=bool)})
    assert list(merged) == ["eyes & brows", "nose", "mouth"]
    np.testing.assert_array_equal(merged["eyes & brows"], eyes)


def test_planted_cue_table_shares_the_face_signal():
    parts = ["eyebrows", "eyes", "nose", "mouth"]
    table = ground_truth.planted_cue_table(parts)
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    assert list(table.columns) == [*parts, "glasses"]
    planted = labels.planted_shares()["conscientiousness"]
    face = sum(planted[c] for c in [*parts, "glasses"])
    assert table.loc["conscientiousness", "glasses"] == pytest.approx(planted["glasses"] / face)
    merged = ground_truth.planted_cue_table(["eyes & brows", "nose", "mouth"])
    assert merged.loc["neuroticism", "eyes & brows"] == pytest.approx(
        table.loc["neuroticism", ["eyes", "eyebrows"]].sum()
    )


def test_planted_cue_check_on_a_tiny_network():
    trained = tiny_unit_model()
    images = unit_images(40)
    stats = passes.unit_statistics(
        trained, images, layers=["conv5_3"], top_n=6, batch_size=UNIT_BATCH
    )
    grid = stats.layer_sizes["conv5_3"][0]  # 3
    masks = {region: np.zeros((grid, grid), dtype=bool) for region in regions.REGIONS}
    masks["eyes"][0] = masks["nose"][1] = masks["mouth"][2] = True  # rows; no eyebrows
    wears = np.random.default_rng(1).random(40) < 0.3
    glasses = ground_truth.glasses_units(stats, stats, wears)
    r2 = pd.Series([0.5, 0.05, 0.3, 0.2, 0.0], index=list(TRAITS))
    check = ground_truth.planted_cue_check(
        trained, images, stats, masks, glasses, r2, n_permutations=199, seed=2
    )
    units_n = stats.n_units("conv5_3")
    assert check.top_k == max(3, units_n // 8)
    assert list(check.planted.columns) == ["eyes & brows", "nose", "mouth", "glasses"]
    assert list(check.table.index) == list(TRAITS)
    enrichment = check.enrichment.set_index(["trait", "region"])
    importance = summaries.trait_contributions(trained, images)
    cells = activations.grid_locations(stats, "conv5_3", grid)
    for trait, row in check.table.iterrows():
        assert row["planted_cue"] == check.planted.loc[trait].idxmax()
        assert row["top_units"] == enrichment.loc[(trait, row["planted_cue"]), "share_top"]
        # brute force: the mean value of the trait's top-k units on its cue
        top = importance[trait].sort_values(ascending=False, kind="stable").index[: check.top_k]
        if row["planted_cue"] == "glasses":
            values = glasses.ranked.set_index("unit")["precision"].sort_index()
        else:
            mask = (
                masks["eyes"] if row["planted_cue"] == "eyes & brows" else masks[row["planted_cue"]]
            )
            values = pd.Series(semantics.n_prime(cells, mask) / stats.top_n)
        assert row["top_units"] == pytest.approx(values.fillna(0)[top].mean())
    # q-values only for the traits the model learned (R² >= 0.1)
    assert check.table["q_value"].isna().tolist() == (r2 < ground_truth.MIN_R2).tolist()
    measured = check.measurements()
    assert measured["openness"]["r2"] == 0.5 and set(measured["openness"]) == {
        "cue",
        "top",
        "all",
        "p",
        "q",
        "r2",
        "critical",
    }
    # What the top units needed for p < 0.05: the random sets' 95th percentile.
    assert all(row["critical"] >= row["all"] - 1e-12 for row in measured.values())
    record = check.record()
    assert record["ground_truth_top_k"] == check.top_k
    assert len(record["trait_cue_enrichment"]) == len(TRAITS) * 4
    assert check.ratio.shape == (len(TRAITS), 4)
