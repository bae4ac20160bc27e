"""Tests of personality_utils.units.study: chapter 06's study opened on the smoke dataset with a
tiny seeded network, and the tables and measurements built from it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import UNIT_SIZE, make_unit_study, tiny_face_model

from personality_utils.claims import catalogue
from personality_utils.core import verdicts
from personality_utils.core.vocabulary import TRAITS
from personality_utils.faces import regions
from personality_utils.units import emergence as unit_emergence
from personality_utils.units import (
    ground_truth,
    passes,
    populations,
    semantics,
    summaries,
    top_sets,
)
from personality_utils.units import study as unit_study


@pytest.fixture(scope="module")
def study(smoke_dataset, tmp_path_factory):
    return make_unit_study(smoke_dataset, tmp_path_factory.mktemp("unit-study"))


def test_prepare_opens_the_population_and_both_networks(study, smoke_dataset):
    face_store = smoke_dataset.faces("test")
    clips = face_store.meta["clip"]
    assert study.stats.n_images == clips.nunique() == len(study.rows)  # one face per clip
    assert study.stats.top_n == populations.study_top_n(clips.nunique())
    np.testing.assert_array_equal(study.crops, face_store.crops[study.rows])
    assert sorted(study.clips) == sorted(clips.unique())
    assert study.side["conv5_3"] == 4 and study.side["conv4_3"] == 8
    assert set(study.masks) == set(unit_study.MASK_LAYERS)
    for layer in unit_study.MASK_LAYERS:
        assert {m.shape for m in study.masks[layer].values()} == {(study.side[layer],) * 2}
        pd.testing.assert_frame_equal(
            study.shares[layer], semantics.region_shares(study.stats, layer, study.masks[layer])
        )
    # the random and the pretrained network rank other crops than the trained one somewhere
    for null in (study.random_stats, study.pretrained_stats):
        assert any(
            not np.array_equal(study.stats.values[layer], null.values[layer])
            for layer in study.stats.layers
        )
    assert list(study.networks()) == ["trained", "pretrained", "random"]
    pretrained = populations.pretrained_like(study.trained)
    expected = passes.unit_statistics(
        pretrained, study.crops, top_n=study.stats.top_n, iou_layers=("conv4_3", "conv5_3")
    )
    for layer in study.stats.layers:  # the pass of the backbone before fine-tuning, cached
        np.testing.assert_allclose(
            study.pretrained_stats.values[layer], expected.values[layer], rtol=1e-5, atol=1e-6
        )
    assert (study.run.checkpoint / "units-test-first-pretrained.npz").is_file()
    for layer in unit_study.MASK_LAYERS:
        pd.testing.assert_frame_equal(
            study.pretrained_shares[layer],
            semantics.region_shares(study.pretrained_stats, layer, study.masks[layer]),
        )
    assert study.mean_face_small.shape == (UNIT_SIZE, UNIT_SIZE, 3)
    assert study.mean_landmarks.max() <= UNIT_SIZE
    lines = study.description().splitlines()
    assert len(lines) == 3 and "test MA 0.8750" in lines[1] and "4x4 grid" in lines[1]
    record = study.record()
    assert record["layer_grid"] == {"conv4_3": 8, "conv5_3": 4}
    assert record["n_images"] == record["test_clips_with_face"] == clips.nunique()
    assert record["units_conv5_3"] == 32 and record["top_n"] == study.stats.top_n


def test_part_cells_and_the_parts_without_any():
    on = np.ones((2, 2), dtype=bool)
    off = np.zeros((2, 2), dtype=bool)
    masks = {"fine": {"eyes": on, "mouth": off}, "coarse": {"eyes": off, "mouth": off}}
    cells = unit_study.part_cells(masks)
    assert cells.loc["eyes", "fine"] == 4 and cells.loc["mouth", "coarse"] == 0
    assert unit_study.uncovered_parts(cells) == {"fine": ["mouth"], "coarse": ["eyes", "mouth"]}
    full = unit_study.part_cells({"fine": {"eyes": on}})
    assert unit_study.uncovered_parts(full) == {}


def test_rankings_leaders_and_their_record(study):
    ranked = unit_study.rankings(study, top=5)
    assert list(ranked) == ["trained", "pretrained", "random"]
    table = ranked["trained"]["conv5_3"]
    assert len(table) == 5 * len(regions.REGIONS)
    # the best unit of a part has the largest N' of all units
    for region, rows in table.groupby("region"):
        best = semantics.n_prime(
            semantics.grid_locations(study.stats, "conv5_3", 4), study.masks["conv5_3"][region]
        ).max()
        assert rows["n_prime"].iloc[0] == best
    leaders = unit_study.leaders_table(ranked)
    assert list(leaders.columns.get_level_values(0).unique()) == [
        "conv4_3 trained",
        "conv4_3 pretrained",
        "conv4_3 random",
        "conv5_3 trained",
        "conv5_3 pretrained",
        "conv5_3 random",
    ]
    assert leaders[("conv5_3 trained", "mouth")].tolist() == (
        table.loc[table["region"] == "mouth", "n_prime"].tolist()
    )
    record = unit_study.top5_record(ranked)
    assert set(record) == {
        "units_per_region_top5",
        "units_per_region_top5_conv4_3",
        "units_per_region_top5_pretrained",
        "units_per_region_top5_random",
    }
    mouth = table[table["region"] == "mouth"]
    assert record["units_per_region_top5"]["mouth"] == [
        {"unit": u, "n_prime": n} for u, n in zip(mouth["unit"], mouth["n_prime"], strict=True)
    ]


def test_emerged_table_has_both_layers(study):
    emerged = unit_study.emerged_table(study)
    assert emerged.index.names == ["layer", "region"]
    pd.testing.assert_frame_equal(
        emerged.loc["conv5_3"],
        summaries.emerged_units(
            study.shares["conv5_3"],
            study.random_shares["conv5_3"],
            study.pretrained_shares["conv5_3"],
        ),
    )
    assert {"trained_above", "trained_above_pretrained", "pretrained_max"} <= set(emerged)
    assert (emerged["units"] == 32).all()


def test_explorer_units_are_the_best_of_each_layer(study):
    chosen = unit_study.explorer_units(study, conv5_3_units=5, other_units=2)
    layers = study.stats.layers
    assert len(chosen) == 5 + 2 * (len(layers) - 1)
    assert chosen["layer"].iloc[0] == "conv5_3" and chosen["layer"].iloc[-1] == layers[0]
    conv5 = chosen[chosen["layer"] == "conv5_3"]
    shares = semantics.region_shares(study.stats, "conv5_3", study.masks["conv5_3"])
    best = shares.drop(columns="elsewhere").max(axis=1)
    assert conv5["share"].tolist() == sorted(best, reverse=True)[:5]
    assert conv5["share"].is_monotonic_decreasing
    for row in conv5.itertuples():
        assert shares.loc[row.unit, row.part] == row.share


def test_population_check_sets_every_face_beside_the_headline(study):
    check = unit_study.population_check(study, top_n=50)
    headline, every = check.columns
    assert headline == "first_face_per_clip (headline)" and every == "all_faces (check)"
    assert check.loc["F", every] == len(study.dataset.faces("test"))
    assert check.loc["F", headline] == study.stats.n_images < check.loc["F", every]
    expected = summaries.study_summary(
        study.stats,
        study.random_stats,
        study.masks["conv5_3"],
        ground_truth.glasses_flags(study.dataset, study.clips),
        pretrained_stats=study.pretrained_stats,
    )
    assert check[headline].to_dict() == pytest.approx(expected, nan_ok=True)
    for row in ("NetDissect detectors, pretrained", "glasses units (p < 0.05), pretrained"):
        assert np.isfinite(check.loc[row]).all()
    assert "Spearman(depth, entropy), pretrained" in check.index


def _seed_runs(study, folder: Path) -> dict:
    """The study's model as fine-tuning seed 0 and another seeded tiny DAN+ (same fake
    backbone) as seed 1, each with its own fake checkpoint folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "checkpoint.pt").write_bytes(b"another model")
    second = SimpleNamespace(
        trained=tiny_face_model(1, study.trained.config.backbone_weights), checkpoint=folder
    )
    return {0: study.run, 1: second}


def test_dense_passes_give_the_top_n_statistics_back(study, tmp_path):
    networks = unit_emergence.dense_networks(
        study.dataset, _seed_runs(study, tmp_path / "seed1"), study.population, (3,)
    )
    dense = networks.trained[0]
    assert dense.top_n == study.stats.n_images  # every crop kept
    ones = np.ones((1, dense.n_images))
    n = study.stats.top_n
    for layer in ("conv5_3", "conv4_3"):
        masks = {p: m for p, m in study.masks[layer].items() if m.any()}
        shares = top_sets.part_shares(dense, layer, masks, ones, n)
        for part in masks:  # the same N'/N as the study's own top-N pass
            assert np.allclose(shares[part][0], study.shares[layer][part].to_numpy()), part
    entropy = top_sets.layer_entropies(dense, ones, n)[0]
    assert np.allclose(entropy, semantics.layer_entropy(study.stats).to_numpy())
    # A crop drawn twice counts twice: doubling every weight leaves shares unchanged.
    doubled = top_sets.part_shares(dense, "conv5_3", study.masks["conv5_3"], 2 * ones, n)
    again = top_sets.part_shares(dense, "conv5_3", study.masks["conv5_3"], ones, n)
    assert all(np.allclose(doubled[p], again[p]) for p in doubled)
    assert networks.null == "pretrained" and networks.design()["trained_seeds"] == 2
    # Table 2's best intersection from the dense pass equals au_units' from the top-N sets.
    from personality_utils.aus import links

    rng = np.random.default_rng(0)
    values = rng.random((dense.n_images, 3))
    values[0, 2] = np.nan
    best = top_sets.best_intersections(dense, values, ones, n)[0]
    frame = pd.DataFrame(values, columns=["AU01", "AU02", "AU04"])
    direct = links.unit_overlap(frame, study.stats.images["conv5_3"])["overlap"]
    np.testing.assert_allclose(best, direct.to_numpy(dtype=float))


def test_compare_resamples_people_and_seeds():
    rng = np.random.default_rng(0)
    trained = [0.5 + rng.normal(0, 0.01, 201), 0.6 + rng.normal(0, 0.01, 201)]
    null = 0.3 + rng.normal(0, 0.01, 201)
    gap = unit_emergence.compare(trained, null, seed=1)
    assert gap["value"] == pytest.approx(0.55 - 0.3, abs=0.02)
    # The seeds differ by 0.1: the interval carries that spread, not just the draws'.
    assert gap["high"] - gap["low"] > 0.05 and gap["low"] > 0.1
    own = unit_emergence.compare(trained, None, seed=1)
    assert own["value"] == pytest.approx(0.55, abs=0.02)


def test_measurements_feed_every_claim_of_the_chapter(study, tmp_path):
    wears = ground_truth.glasses_flags(study.dataset, study.clips)
    glasses = ground_truth.glasses_units(
        study.stats, study.random_stats, wears, pretrained_stats=study.pretrained_stats
    )
    runs = _seed_runs(study, tmp_path / "seed1")
    emergence = unit_emergence.emergence(study.dataset, runs, study, wears, n_boot=40, seed=0)
    cells = unit_study.part_cells(study.masks)
    for layer, gaps in emergence.parts.items():
        assert set(gaps) == {r for r in regions.REGIONS if cells.loc[r, layer] > 0}, layer
        for gap in gaps.values():
            assert gap["low"] <= gap["high"]
    table = emergence.table()
    assert "conv5_3 peak entropy (bits)" in table.index and "pretrained (level)" in table.columns
    instruments = {"model gain": verdicts.instrument_check("model gain", 0.01, 0.0, "", low=0.001)}
    measured = unit_study.measurements(
        emergence, glasses, None, instruments, dict.fromkeys(TRAITS, 0.3)
    )
    assert measured["emergence_null"] == "pretrained"
    assert measured["emergence_design"]["trained_seeds"] == 2
    assert measured["glasses_best"]["precision"] == glasses.summary()["precision"]
    assert measured["glasses_best"]["detectable_precision"] == glasses.detectable_precision()
    rows = catalogue.report("06_units", measured, True)
    judged = {row["key"]: row for row in rows}
    for key in (
        "units_face_parts",
        "units_face_parts_conv4_3",
        "units_spikier_with_depth",
        "units_deepest_spikier",
        "units_netdissect",
        "units_glasses",
        "units_glasses_learned",
    ):
        assert "no measurement" not in judged[key]["evidence"], key
        assert verdicts.derive(judged[key]) == judged[key]["verdict"], key
    assert "the network before fine-tuning" in judged["units_netdissect"]["evidence"]
    without = unit_study.measurements(emergence)
    assert "glasses_best" not in without and "planted_cues" not in without


def test_a_model_trained_from_random_weights_has_no_pretrained_network(smoke_dataset, tmp_path):
    study = make_unit_study(smoke_dataset, tmp_path / "bare", pretrained=False)
    assert study.pretrained_stats is None and study.pretrained_shares is None
    assert list(study.networks()) == ["trained", "random"]
    assert list(unit_study.rankings(study, top=2)) == ["trained", "random"]
    emerged = unit_study.emerged_table(study)
    assert "trained_above_pretrained" not in emerged.columns
    with pytest.raises(ValueError, match="no pretrained network"):
        populations.face_unit_statistics(
            smoke_dataset, study.trained, study.run.checkpoint, network="pretrained"
        )
    assert "pretrained" not in unit_study.network_record(study)["networks"]
