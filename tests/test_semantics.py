"""Tests of personality_utils.units.semantics: N', entropy, IoU and the attribute ranking on
hand-made
maps, top maps and the random null, face studies and the planted-cue checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import (
    UNIT_BATCH,
    UNIT_INPUT,
    hand_accumulator,
    tiny_unit_model,
    unit_images,
    unit_landmarks,
)

from personality_utils.faces import regions as faces_regions
from personality_utils.models import networks
from personality_utils.models.training import TrainConfig, TrainedModel
from personality_utils.units import activations, passes, populations, semantics, summaries


def test_locations_pool_proportionally_and_n_prime():
    accumulator = passes.UnitAccumulator(["conv4_3", "conv5_3"], top_n=3, grid=2)
    fine = np.zeros((3, 1, 4, 4), dtype=np.float32)
    coarse = np.zeros((3, 2, 2, 2), dtype=np.float32)
    for image, (row, col) in enumerate([(0, 3), (3, 3), (1, 1)]):
        fine[image, 0, row, col] = 1 + image
    coarse[:, 0, 0, 1] = [3, 2, 1]
    coarse[:, 1, 1, 0] = [1, 1, 1]
    accumulator.update({"relu4_3": torch.as_tensor(fine), "relu5_3": torch.as_tensor(coarse)})
    stats = accumulator.result()
    # conv4_3 (4 x 4) -> 2 x 2: cell = floor(p * 2 / 4); images in decreasing order 2, 1, 0
    np.testing.assert_array_equal(
        activations.grid_locations(stats, "conv4_3")[0], [[0, 0], [1, 1], [0, 1]]
    )
    np.testing.assert_array_equal(stats.location_histograms["conv4_3"], [[1, 1], [0, 1]])
    np.testing.assert_array_equal(stats.location_histograms["conv5_3"], [[0, 3], [3, 0]])
    mask = np.array([[False, True], [False, False]])
    cells = activations.grid_locations(stats, "conv5_3")
    np.testing.assert_array_equal(semantics.n_prime(cells, mask), [3, 0])
    # N' equals the unit's histogram summed over the mask (the paper's definition)
    histograms = activations.unit_histograms(stats, "conv5_3")
    np.testing.assert_array_equal(
        semantics.n_prime(cells, mask), (histograms * mask).sum(axis=(1, 2))
    )
    hand = np.array([[[0, 1], [0, 1], [-1, -1], [1, 1]]])
    np.testing.assert_array_equal(semantics.n_prime(hand, mask), [2])
    with pytest.raises(ValueError):
        semantics.n_prime(np.array([[[2, 0]]]), mask)
    ranking = semantics.rank_units_by_region(
        stats, "conv5_3", {"mouth": ~mask, "eyes": mask}, top=1
    )
    assert list(ranking["region"]) == ["eyes", "mouth"]  # faces.REGIONS order
    assert list(ranking["unit"]) == [0, 1] and list(ranking["n_prime"]) == [3, 3]


def test_entropy_of_one_hot_and_uniform():
    grid = 7
    one_hot = np.zeros((grid, grid))
    one_hot[3, 4] = 50
    assert semantics.histogram_entropy(one_hot) == 0.0
    assert semantics.histogram_entropy(np.ones((grid, grid))) == pytest.approx(math.log2(grid**2))
    assert math.isnan(semantics.histogram_entropy(np.zeros((grid, grid))))
    maps = np.zeros((4, 1, grid, grid), dtype=np.float32)
    maps[:, 0, 2, 2] = 1.0
    entropy = semantics.layer_entropy(hand_accumulator(maps, 2, top_n=4, grid=grid).result())
    assert list(entropy.index) == ["conv5_3"] and entropy["conv5_3"] == 0.0


def test_iou_on_hand_made_maps_and_masks():
    # 4 images of one unit's 4 x 4 maps: 16 high values (one per image in each of 4 chosen
    # places) and 48 low ones. At the 0.76 quantile (rank 49 of 64) the threshold is the
    # smallest high value, so exactly the 16 high positions are active.
    maps = np.full((4, 1, 4, 4), 0.25, dtype=np.float32)
    high = [(0, 0), (0, 1), (1, 0), (1, 1)]  # top-left quarter
    for image in range(4):
        for k, (row, col) in enumerate(high):
            maps[image, 0, row, col] = 5.0 + image + 0.5 * k
    mouth = np.zeros((4, 4, 4), dtype=bool)
    mouth[:, 0, :] = True  # top row: 2 of the 4 active positions, 4 pixels per image
    eyes = np.zeros((4, 4, 4), dtype=bool)
    eyes[:, 3, 3] = True  # never active
    masks = {"mouth": mouth, "eyes": eyes}
    stats = hand_accumulator(maps, 3, masks=masks, iou_layers=["conv5_3"], quantile=0.76)
    stats = stats.result()
    assert stats.regions == ("eyes", "mouth") and stats.mask_size == 4
    threshold = stats.thresholds["conv5_3"][0]
    assert threshold <= 5.0 < threshold * (1 + 1 / 64)
    # mouth: intersection 4 x 2 = 8, active 16, mask 16 -> 8 / 24; eyes: 0
    np.testing.assert_allclose(stats.iou["conv5_3"][0], [0.0, 8 / 24])
    table = semantics.iou_table(stats, "conv5_3")
    assert table.loc[table["best"], "region"].tolist() == ["mouth"]
    assert table["detector"].tolist() == [False, True]
    # a lower quantile switches every position on: IoU = mask / all
    np.testing.assert_allclose(semantics.iou_table(stats, quantile=0.1)["iou"], [4 / 64, 16 / 64])


def test_attribute_units_precision_and_chance():
    maps = np.zeros((10, 2, 2, 2), dtype=np.float32)
    maps[:, 0, 0, 0] = np.arange(10)  # unit 0: top 3 are images 9, 8, 7
    maps[:, 1, 1, 1] = 10 - np.arange(10)  # unit 1: top 3 are images 0, 1, 2
    stats = hand_accumulator(maps, 4, top_n=3, grid=2).result()
    glasses = np.zeros(10, dtype=bool)
    glasses[[7, 8, 9, 0]] = True
    table = semantics.attribute_units(stats, "conv5_3", glasses)
    assert list(table["unit"]) == [0, 1]
    assert list(table["hits"]) == [3, 1] and list(table["n_top"]) == [3, 3]
    np.testing.assert_allclose(table["precision"], [1.0, 1 / 3])
    assert (table["base_rate"] == 0.4).all()
    # P(3 of 3 drawn from 10 with 4 positives) = C(4,3) / C(10,3) = 4 / 120
    assert table["p_value"].iloc[0] == pytest.approx(4 / 120)
    assert table["p_value_layer"].iloc[0] == pytest.approx(1 - (1 - 4 / 120) ** 2)
    with pytest.raises(ValueError):
        semantics.attribute_units(stats, "conv5_3", glasses[:5])


def test_unit_segmentation_and_top_maps():
    peak = np.zeros((4, 4), dtype=np.float32)
    peak[1, 2] = 1.0
    mask = semantics.unit_segmentation(peak, 16)
    assert mask.shape == (16, 16) and mask.any() and not mask.all()
    # around the peak's pixel centre, not far from it
    assert mask[6, 10] and not mask[15, 0]
    assert not semantics.unit_segmentation(np.zeros((4, 4)), 16).any()
    assert semantics.unit_segmentation(peak, 16, threshold=1.0).sum() < mask.sum()

    trained = tiny_unit_model()
    images = unit_images(20)
    stats = passes.unit_statistics(
        trained, images, layers=["conv5_3"], top_n=6, batch_size=UNIT_BATCH
    )
    found = semantics.top_unit_maps(trained, images, stats, "conv5_3", [0, 5], n=4)
    assert found.maps.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(found.image_indices, stats.images["conv5_3"][[0, 5], :4])
    np.testing.assert_allclose(found.maps.max(axis=(2, 3)), found.values, rtol=1e-4, atol=1e-5)


def test_random_like_has_the_shape_but_not_the_weights():
    trained = tiny_unit_model(seed=0)
    null = populations.random_like(trained, seed=3)
    again = populations.random_like(trained, seed=3)
    own, fresh = trained.model.state_dict(), null.model.state_dict()
    assert own.keys() == fresh.keys()
    assert all(own[k].shape == fresh[k].shape for k in own)
    assert not torch.equal(own["backbone.features.0.weight"], fresh["backbone.features.0.weight"])
    assert torch.equal(
        fresh["backbone.features.0.weight"],
        again.model.state_dict()["backbone.features.0.weight"],
    )
    assert null.config == trained.config and not null.model.training


def test_pretrained_like_loads_the_backbone_before_fine_tuning(tmp_path):
    from helpers import write_identity_backbone

    trained = tiny_unit_model(seed=0)
    assert populations.pretrained_like(trained) is None  # trained from random weights
    path = write_identity_backbone(tmp_path / "backbone.pt", seed=5)
    trained.config.backbone_weights = str(path)
    before = populations.pretrained_like(trained)
    features = networks.read_identity_backbone(path)["features"]
    loaded = before.model.backbone.features.state_dict()
    assert loaded.keys() == features.keys()
    assert all(torch.equal(loaded[key], features[key]) for key in features)
    own = trained.model.backbone.features.state_dict()
    assert not torch.equal(own["0.weight"], loaded["0.weight"])
    assert before.config is trained.config and before.scale == trained.scale
    assert torch.equal(before.mean, trained.mean) and not before.model.training
    again = populations.pretrained_like(trained)  # the head too is seeded
    assert all(
        torch.equal(value, again.model.state_dict()[key])
        for key, value in before.model.state_dict().items()
    )


def test_region_shares_pool_to_the_masks_grid():
    # One unit, four images: maxima at (0, 0), (1, 1), (3, 3) of a 4x4 map and one silent image.
    maps = np.zeros((4, 1, 4, 4), dtype=np.float32)
    maps[0, 0, 0, 0], maps[1, 0, 1, 1], maps[2, 0, 3, 3] = 3, 2, 1
    stats = hand_accumulator(maps, 2, top_n=4, grid=2).result()
    fine = {"eyes": np.eye(4, dtype=bool), "mouth": np.zeros((4, 4), dtype=bool)}
    shares = semantics.region_shares(stats, "conv5_3", fine)  # the layer's own 4x4 grid
    assert shares.loc[0, "eyes"] == pytest.approx(3 / 4)
    assert shares.loc[0, "elsewhere"] == pytest.approx(1 / 4)  # the silent image
    coarse = {"eyes": np.array([[True, False], [False, False]])}  # cell (0, 0) of a 2x2 grid
    assert semantics.region_shares(stats, "conv5_3", coarse).loc[0, "eyes"] == pytest.approx(2 / 4)
    ranked = semantics.rank_units_by_region(stats, "conv5_3", fine)
    assert ranked.loc[ranked["region"] == "eyes", "n_prime"].item() == 3
    with pytest.raises(ValueError):
        semantics.region_shares(stats, "conv5_3", {"eyes": np.ones((2, 3), dtype=bool)})


def test_contributions_add_up_to_the_logits():
    trained = tiny_unit_model()
    with torch.no_grad():  # a head with some weight on every slot
        trained.model.head.weight.normal_(generator=torch.Generator().manual_seed(1))
        trained.model.head.bias.fill_(0.25)
    images = unit_images(12)
    contributions = summaries.unit_contributions(trained, images, "conv5_3")
    relu52 = summaries.unit_contributions(trained, images, "conv5_2")
    with torch.inference_mode():
        logits = trained.model.logits(trained.prepare(images)).double().numpy()
    total = contributions.sum(axis=1) + relu52.sum(axis=1) + 0.25
    np.testing.assert_allclose(total, logits, rtol=1e-5, atol=1e-5)
    importance = summaries.trait_contributions(trained, images)
    assert importance.shape == (trained.model.backbone.channels, 5)
    np.testing.assert_allclose(importance.to_numpy(), contributions.std(axis=0, ddof=1))


def test_contributions_of_the_fig4_head_and_the_authors_head():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fig4 = networks.CAMModel(width_divisor=16, head="fig4", batch_norm=True).eval()
        authors = networks.CAMModel(width_divisor=16, head="authors", batch_norm=True).eval()
    config = TrainConfig(kind="cam_fig4", width_divisor=16, input_size=UNIT_INPUT, batch_norm=True)
    trained = TrainedModel(fig4, config, torch.full((3, UNIT_INPUT, UNIT_INPUT), 127.5), 64.0)
    images = unit_images(6)
    with torch.inference_mode():
        logits = fig4.logits(trained.prepare(images)).double().numpy()
    contributions = summaries.unit_contributions(trained, images)
    np.testing.assert_allclose(
        contributions.sum(axis=1) + fig4.fc.bias.detach().double().numpy(),
        logits,
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(TypeError):
        summaries.unit_contributions(TrainedModel(authors, config, trained.mean, 64.0), images)


def test_enrichment_finds_the_planted_units_and_not_random_ones():
    rng = np.random.default_rng(0)
    units_n = 40
    shares = pd.DataFrame(
        {"eyes": rng.uniform(0, 0.2, units_n), "mouth": rng.uniform(0, 0.2, units_n)}
    )
    shares.loc[:4, "mouth"] = 0.9  # units 0-4 look at the mouth
    shares["elsewhere"] = 1 - shares.sum(axis=1)
    importance = pd.DataFrame(
        {"extraversion": rng.uniform(0, 0.1, units_n), "openness": rng.uniform(0, 1, units_n)}
    )
    importance.loc[:4, "extraversion"] = 1.0  # ... and matter most for extraversion
    table = summaries.trait_region_enrichment(
        shares, importance, top_k=5, n_permutations=999, seed=1
    )
    row = table.set_index(["trait", "region"])
    assert row.loc[("extraversion", "mouth"), "share_top"] == pytest.approx(0.9)
    assert row.loc[("extraversion", "mouth"), "p_value"] < 0.01
    assert row.loc[("extraversion", "mouth"), "enrichment"] > 2
    assert row.loc[("extraversion", "eyes"), "p_value"] > 0.05
    assert (table["p_value"] > 0).all()  # the +1 correction
    with pytest.raises(ValueError):
        summaries.trait_region_enrichment(shares, importance, top_k=units_n)


def test_emerged_units_counts_above_the_random_ceiling():
    trained = pd.DataFrame({"mouth": [0.9, 0.5, 0.2], "eyes": [0.1, 0.1, 0.1]})
    random = pd.DataFrame({"mouth": [0.4, 0.3, 0.0], "eyes": [0.1, 0.0, 0.0]})
    table = summaries.emerged_units(trained, random)
    assert table.loc["mouth", "trained_above"] == 2 and table.loc["mouth", "random_max"] == 0.4
    assert table.loc["eyes", "trained_above"] == 0  # equal is not above
    assert "pretrained_max" not in table.columns
    pretrained = pd.DataFrame({"mouth": [0.6, 0.1, 0.0], "eyes": [0.0, 0.0, 0.05]})
    table = summaries.emerged_units(trained, random, pretrained)
    assert table.loc["mouth", "pretrained_max"] == 0.6
    assert table.loc["mouth", "trained_above_pretrained"] == 1
    assert table.loc["eyes", "trained_above_pretrained"] == 3
    assert table.loc["mouth", "trained_above"] == 2  # the random comparison is kept


def test_face_masks_scale_the_landmarks():
    landmarks = np.stack([unit_landmarks(), unit_landmarks()])
    masks = semantics.face_masks(landmarks, crop_size=16, mask_size=32)([1])
    direct = faces_regions.region_masks(unit_landmarks() * 2, 32)
    assert set(masks) == set(faces_regions.REGIONS)
    for region in faces_regions.REGIONS:
        assert masks[region].shape == (1, 32, 32)
        np.testing.assert_array_equal(masks[region][0], direct[region])
    with pytest.raises(ValueError):
        semantics.face_masks(np.zeros((2, 5, 2)), 16, 16)


def test_population_rows_and_the_size_of_a_top_set():
    meta = pd.DataFrame({"clip": ["x", "x", "y", "z", "z"], "frame_index": [4, 2, 0, 8, 1]})
    np.testing.assert_array_equal(
        populations.population_rows(meta, "first_face_per_clip"), [1, 2, 4]
    )
    np.testing.assert_array_equal(populations.population_rows(meta, "all_faces"), np.arange(5))
    with pytest.raises(ValueError, match="population"):
        populations.population_rows(meta, "clips")
    assert populations.study_top_n(2000) == 50  # the paper: F = 2000, N = 50
    assert populations.study_top_n(150) == 15 and populations.study_top_n(3) == 1


def test_spikiness_table_and_its_depth_trend():
    accumulator = passes.UnitAccumulator(["conv4_3", "conv5_3"], top_n=2, grid=2)
    fine = np.zeros((2, 2, 2, 2), dtype=np.float32)
    fine[0, :, 0, 0], fine[1, :, 1, 1] = 1, 2  # conv4_3 peaks in two cells: 1 bit
    coarse = np.zeros((2, 2, 2, 2), dtype=np.float32)
    coarse[:, :, 0, 1] = 1  # conv5_3 peaks in one cell: 0 bits
    accumulator.update({"relu4_3": torch.as_tensor(fine), "relu5_3": torch.as_tensor(coarse)})
    trained = accumulator.result()
    flat = passes.UnitAccumulator(["conv4_3", "conv5_3"], top_n=2, grid=2)
    flat.update({"relu4_3": torch.as_tensor(fine), "relu5_3": torch.as_tensor(fine)})
    table = summaries.spikiness_table(trained, flat.result())
    assert list(table.index) == ["conv4_3", "conv5_3"]
    np.testing.assert_allclose(table["trained"], [1.0, 0.0])
    np.testing.assert_allclose(table["random weights"], [1.0, 1.0])
    np.testing.assert_allclose(table["trained − random"], [0.0, -1.0])
    np.testing.assert_allclose(table["top cell share"], [0.5, 1.0])
    hand = pd.DataFrame(
        {"trained": [3.0, 2.0, 1.0], "random weights": [1.0, 2.0, 3.0]},
        index=["conv3_3", "conv4_3", "conv5_3"],
    )
    hand["trained − random"] = [2.0, 2.5, 2.2]
    trend = summaries.depth_trend(hand)
    assert trend == pytest.approx({"trained": -1.0, "random weights": 1.0, "trained − random": 0.5})
    # With the network before fine-tuning: its column, and trained minus it.
    table = summaries.spikiness_table(trained, flat.result(), pretrained_stats=trained)
    assert list(table.columns[:3]) == ["trained", "pretrained", "random weights"]
    np.testing.assert_allclose(table["pretrained"], [1.0, 0.0])
    np.testing.assert_allclose(table["trained − pretrained"], [0.0, 0.0])
    np.testing.assert_allclose(table["trained − random"], [0.0, -1.0])
    assert {"pretrained", "trained − pretrained"} <= set(summaries.depth_trend(table))
