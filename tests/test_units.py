"""Tests of personality_utils.units: the streaming pass against brute force on a tiny seeded
network, and N', entropy, IoU and the attribute ranking on hand-made maps."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from personality_utils import faces, models, units
from personality_utils.training import TrainConfig, TrainedModel

INPUT = 48  # conv5 maps of 3 x 3: G = 3
BATCH = 7  # does not divide the 40 images


def _tiny_trained(seed: int = 0) -> TrainedModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = models.DANPlus(width_divisor=16, batch_norm=True).eval()
    config = TrainConfig(
        kind="danplus",
        width_divisor=16,
        input_size=INPUT,
        batch_norm=True,
        device="cpu",
    )
    return TrainedModel(model, config, torch.full((3, INPUT, INPUT), 127.5), 64.0)


def _images(n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, INPUT, INPUT, 3), dtype=np.uint8)
    # Exact duplicates in other batches and a few black frames: ties in every unit.
    if n >= 40:
        images[30] = images[3]
        images[17] = images[9]
        images[[5, 12, 26]] = 0
    return images


def _brute_force_activations(trained, images, layers, batch):
    """Every activation, with the same batches as the pass (bit-identical values)."""
    taps = tuple("relu" + name[4:] for name in layers)
    out = {name: [] for name in layers}
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            maps = trained.model.backbone(trained.prepare(images[start : start + batch]), taps)
            for name, tap in zip(layers, taps):
                out[name].append(maps[tap].numpy())
    return {name: np.concatenate(arrays) for name, arrays in out.items()}


def _hand_accumulator(maps: np.ndarray, batch: int, masks=None, **kwargs):
    """Feed (n, units, h, w) hand-made maps to an accumulator as conv5_3, in batches."""
    accumulator = units.UnitAccumulator(["conv5_3"], **kwargs)
    for start in range(0, len(maps), batch):
        part = masks and {r: m[start : start + batch] for r, m in masks.items()}
        accumulator.update({"conv5_3": torch.as_tensor(maps[start : start + batch])}, part)
    return accumulator


@pytest.fixture(scope="module")
def tiny():
    """The tiny network, 40 images and every activation of every conv layer (brute force)."""
    trained = _tiny_trained()
    images = _images()
    return trained, images, _brute_force_activations(trained, images, models.CONV_NAMES, BATCH)


def _check_against_brute_force(stats, activations, top_n):
    ties = 0
    for layer in stats.layers:
        maps = activations[layer]  # (n, units, h, w)
        n, n_units, height, width = maps.shape
        assert stats.layer_sizes[layer] == (height, width)
        flat = maps.reshape(n, n_units, -1)
        maxima, positions = flat.max(axis=2), flat.argmax(axis=2)  # first max, row-major
        keep = min(top_n, n)
        for unit in range(n_units):
            order = np.lexsort((np.arange(n), -maxima[:, unit]))[:keep]  # ties: lower index
            ties += len(order) - len(np.unique(maxima[order, unit]))
            np.testing.assert_array_equal(stats.images[layer][unit, :keep], order)
            np.testing.assert_array_equal(stats.values[layer][unit, :keep], maxima[order, unit])
            rows, cols = np.divmod(positions[order, unit], width)
            expected = np.stack([rows, cols], axis=1)
            expected[maxima[order, unit] <= 0] = -1  # silent unit: no location
            np.testing.assert_array_equal(stats.locations[layer][unit, :keep], expected)
        if top_n > n:
            assert (stats.images[layer][:, n:] == -1).all()
            assert np.isneginf(stats.values[layer][:, n:]).all()
            assert (stats.locations[layer][:, n:] == -1).all()
    assert ties > 0  # the duplicates and black frames did make ties


def test_streaming_top_k_equals_brute_force(tiny):
    trained, images, activations = tiny
    stats = units.unit_statistics(trained, images, top_n=10, batch_size=BATCH)
    assert stats.layers == models.CONV_NAMES and stats.grid == INPUT // 16
    assert stats.n_images == len(images)
    _check_against_brute_force(stats, activations, top_n=10)


def test_streaming_top_k_pads_when_n_exceeds_the_images(tiny):
    _, images, activations = tiny
    accumulator = units.UnitAccumulator(models.CONV_NAMES, top_n=45, grid=INPUT // 16)
    for start in range(0, len(images), BATCH):  # relu names, as the backbone gives them
        accumulator.update(
            {
                "relu" + k[4:]: torch.as_tensor(v[start : start + BATCH])
                for k, v in activations.items()
            }
        )
    _check_against_brute_force(accumulator.result(), activations, top_n=45)


def test_ties_keep_the_lower_image_and_first_position():
    maps = np.zeros((10, 2, 3, 3), dtype=np.float32)
    maps[:, 0, 1, 2] = 1.0  # unit 0: the same maximum everywhere, at (1, 2)
    maps[:, 0, 2, 0] = 1.0  # ... and again at (2, 0): row-major first is (1, 2)
    maps[7, 0, 0, 0] = 2.0  # image 7 beats the rest
    # unit 1 stays silent: all zeros, locations undefined
    stats = _hand_accumulator(maps, batch=3, top_n=4, grid=3).result()
    np.testing.assert_array_equal(stats.images["conv5_3"][0], [7, 0, 1, 2])
    np.testing.assert_array_equal(stats.values["conv5_3"][0], [2, 1, 1, 1])
    np.testing.assert_array_equal(stats.locations["conv5_3"][0], [[0, 0], [1, 2], [1, 2], [1, 2]])
    np.testing.assert_array_equal(stats.images["conv5_3"][1], [0, 1, 2, 3])
    assert (stats.locations["conv5_3"][1] == -1).all()
    assert stats.location_histograms["conv5_3"].sum() == 4  # silent entries do not count


def test_locations_pool_proportionally_and_n_prime():
    accumulator = units.UnitAccumulator(["conv4_3", "conv5_3"], top_n=3, grid=2)
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
        units.grid_locations(stats, "conv4_3")[0], [[0, 0], [1, 1], [0, 1]]
    )
    np.testing.assert_array_equal(stats.location_histograms["conv4_3"], [[1, 1], [0, 1]])
    np.testing.assert_array_equal(stats.location_histograms["conv5_3"], [[0, 3], [3, 0]])
    mask = np.array([[False, True], [False, False]])
    cells = units.grid_locations(stats, "conv5_3")
    np.testing.assert_array_equal(units.n_prime(cells, mask), [3, 0])
    # N' equals the unit's histogram summed over the mask (the paper's definition)
    histograms = units.unit_histograms(stats, "conv5_3")
    np.testing.assert_array_equal(units.n_prime(cells, mask), (histograms * mask).sum(axis=(1, 2)))
    hand = np.array([[[0, 1], [0, 1], [-1, -1], [1, 1]]])
    np.testing.assert_array_equal(units.n_prime(hand, mask), [2])
    with pytest.raises(ValueError):
        units.n_prime(np.array([[[2, 0]]]), mask)
    ranking = units.rank_units_by_region(stats, "conv5_3", {"mouth": ~mask, "eyes": mask}, top=1)
    assert list(ranking["region"]) == ["eyes", "mouth"]  # faces.REGIONS order
    assert list(ranking["unit"]) == [0, 1] and list(ranking["n_prime"]) == [3, 3]


def test_entropy_of_one_hot_and_uniform():
    grid = 7
    one_hot = np.zeros((grid, grid))
    one_hot[3, 4] = 50
    assert units.histogram_entropy(one_hot) == 0.0
    assert units.histogram_entropy(np.ones((grid, grid))) == pytest.approx(math.log2(grid**2))
    assert math.isnan(units.histogram_entropy(np.zeros((grid, grid))))
    maps = np.zeros((4, 1, grid, grid), dtype=np.float32)
    maps[:, 0, 2, 2] = 1.0
    entropy = units.layer_entropy(_hand_accumulator(maps, 2, top_n=4, grid=grid).result())
    assert list(entropy.index) == ["conv5_3"] and entropy["conv5_3"] == 0.0


def test_histogram_bins_are_exact_and_narrow():
    edges = units.histogram_edges(64, (-16, 16))
    assert edges.dtype == np.float32 and edges[0] == 2.0**-16 and edges[-1] == 2.0**16
    assert (edges[1:] / edges[:-1]).max() <= 1 + 1 / 64 + 1e-7
    rng = np.random.default_rng(0)
    values = np.concatenate([[0, -1, 2**-17, 2**16, 1e9], edges, rng.lognormal(0, 3, 1000)])
    values = values.astype(np.float32)
    bins = units._bin_index(torch.as_tensor(values), units._shift(64), (127 - 16) * 64, len(edges))
    np.testing.assert_array_equal(bins.numpy(), np.searchsorted(edges, values, side="right"))


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
    stats = _hand_accumulator(maps, 3, masks=masks, iou_layers=["conv5_3"], quantile=0.76)
    stats = stats.result()
    assert stats.regions == ("eyes", "mouth") and stats.mask_size == 4
    threshold = stats.thresholds["conv5_3"][0]
    assert threshold <= 5.0 < threshold * (1 + 1 / 64)
    # mouth: intersection 4 x 2 = 8, active 16, mask 16 -> 8 / 24; eyes: 0
    np.testing.assert_allclose(stats.iou["conv5_3"][0], [0.0, 8 / 24])
    table = units.iou_table(stats, "conv5_3")
    assert table.loc[table["best"], "region"].tolist() == ["mouth"]
    assert table["detector"].tolist() == [False, True]
    # a lower quantile switches every position on: IoU = mask / all
    np.testing.assert_allclose(units.iou_table(stats, quantile=0.1)["iou"], [4 / 64, 16 / 64])


@pytest.mark.parametrize("small_pieces", [False, True])
def test_iou_and_quantile_match_brute_force_with_upsampling(small_pieces, monkeypatch):
    if small_pieces:  # one region per bincount and a few images per upsampled chunk
        monkeypatch.setattr(units, "_BINCOUNT_ENTRIES", 1)
        monkeypatch.setattr(units, "_CHUNK_ELEMENTS", 3 * 3 * 8 * 8)
    rng = np.random.default_rng(1)
    n, n_units, side, size = 30, 3, 4, 8
    maps = np.maximum(rng.normal(0, 1, size=(n, n_units, side, side)), 0).astype(np.float32)
    maps[:, 2] *= 0.001  # a unit on another scale
    blob = rng.random((n, size, size))
    masks = {
        "eyes": blob < 0.2,
        "nose": (blob > 0.1) & (blob < 0.4),
        "mouth": blob > 0.9,
    }
    accumulator = _hand_accumulator(
        maps,
        BATCH,
        masks=masks,
        iou_layers=["conv5_3"],
        quantile=0.95,
        top_n=5,
        grid=side,
    )
    stats = accumulator.result()
    edges = stats.bin_edges
    upsampled = F.interpolate(
        torch.as_tensor(maps), size=(size, size), mode="bilinear", align_corners=False
    ).numpy()
    for unit in range(n_units):
        native = maps[:, unit].ravel()
        threshold = stats.thresholds["conv5_3"][unit]
        quantile = np.quantile(native, 0.95, method="inverted_cdf")
        # the threshold is the lower edge of the bin holding the quantile
        assert threshold <= quantile < edges[np.searchsorted(edges, threshold) + 1]
        assert np.quantile(native, 0.95) / threshold < 1 + 1 / 64 + 0.05  # numpy's default
        active = upsampled[:, unit] >= threshold
        for index, region in enumerate(stats.regions):
            intersection = (active & masks[region]).sum()
            union = (active | masks[region]).sum()
            assert stats.iou["conv5_3"][unit, index] == pytest.approx(intersection / union)


def test_memory_is_flat_in_the_number_of_images():
    trained = _tiny_trained()
    small, large = _images(6, seed=1), _images(24, seed=2)

    def masks(indices):
        grid = faces.region_masks(_landmarks(), 16)
        return {r: np.broadcast_to(m, (len(indices), 16, 16)) for r, m in grid.items()}

    kept = [
        units.unit_statistics(trained, images, top_n=8, masks=masks, batch_size=BATCH).nbytes_kept
        for images in (small, large)
    ]
    assert kept[0] == kept[1]
    bins = len(units.histogram_edges()) + 1
    channels = [64 // 16] * 2 + [128 // 16] * 2 + [256 // 16] * 3 + [512 // 16] * 6
    grid = INPUT // 16
    top_part = sum(c * 8 * (4 + 8 + 2 * 2) for c in channels) + grid * grid * 8 * 13
    # conv5_3: 32 units x (native, upsampled and 4 region histograms), thresholds, IoU
    iou_part = 32 * bins * 8 * (1 + 1 + 4) + 32 * 4 + 32 * 4 * 8
    assert kept[0] == top_part + iou_part + (bins - 1) * 4 + 4 * 8  # + bin edges, |M|


def _landmarks() -> np.ndarray:
    """Plausible 68 landmarks in a 16-pixel image: a scaled copy of a simple template."""
    points = np.zeros((68, 2))
    points[17:27] = np.column_stack([np.linspace(3, 13, 10), np.full(10, 5)])  # brows
    points[27:36] = np.column_stack([np.full(9, 8), np.linspace(6, 10, 9)])  # nose
    for start, centre in ((36, 5.5), (42, 10.5)):
        angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
        points[start : start + 6] = np.column_stack(
            [centre + 1.2 * np.cos(angles), 6.5 + 0.4 * np.sin(angles)]
        )
    points[36, 0], points[39, 0], points[42, 0], points[45, 0] = 4.3, 6.7, 9.3, 11.7
    angles = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    points[48:68] = np.column_stack([8 + 2.5 * np.cos(angles), 12 + 0.8 * np.sin(angles)])
    return points


def test_save_load_round_trip_and_cache(tmp_path):
    trained = _tiny_trained()
    images = _images(12)
    rng = np.random.default_rng(0)
    masks = {r: rng.random((12, 8, 8)) < 0.3 for r in faces.REGIONS}
    path = tmp_path / "units.npz"
    stats = units.unit_statistics(
        trained,
        images,
        top_n=5,
        masks=masks,
        batch_size=5,
        cache_path=path,
        cache_key="m1",
    )
    loaded = units.load_stats(path)
    for name in units.UnitStats.__dataclass_fields__:
        expected, got = getattr(stats, name), getattr(loaded, name)
        if isinstance(expected, dict):
            assert expected.keys() == got.keys(), name
            for layer in expected:
                np.testing.assert_array_equal(np.asarray(expected[layer]), got[layer], name)
        elif isinstance(expected, np.ndarray):
            np.testing.assert_array_equal(expected, got, name)
        else:
            assert expected == got, name
    assert loaded.nbytes_kept == stats.nbytes_kept

    class Broken:  # a model that must not run: the cache answers
        def __getattr__(self, name):
            raise AssertionError("recomputed instead of loading the cache")

    same = units.unit_statistics(  # same key: loaded, the broken model never runs
        TrainedModel(Broken(), trained.config, trained.mean, trained.scale),
        images,
        top_n=5,
        masks=masks,
        batch_size=5,
        cache_path=path,
        cache_key="m1",
    )
    np.testing.assert_array_equal(same.values["conv5_3"], stats.values["conv5_3"])
    mtime = path.stat().st_mtime_ns
    with pytest.raises(AssertionError):  # another key: recomputed (with the broken model)
        units.unit_statistics(
            TrainedModel(Broken(), trained.config, trained.mean, trained.scale),
            images,
            top_n=5,
            masks=masks,
            cache_path=path,
            cache_key="m2",
        )
    fewer = units.unit_statistics(
        trained, images[:10], top_n=5, masks=masks, cache_path=path, cache_key="m1"
    )
    assert fewer.n_images == 10 and path.stat().st_mtime_ns != mtime


def test_checkpoint_key_changes_with_the_file(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"a")
    first = units.checkpoint_key(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"ab")
    assert units.checkpoint_key(tmp_path) != first


def test_attribute_units_precision_and_chance():
    maps = np.zeros((10, 2, 2, 2), dtype=np.float32)
    maps[:, 0, 0, 0] = np.arange(10)  # unit 0: top 3 are images 9, 8, 7
    maps[:, 1, 1, 1] = 10 - np.arange(10)  # unit 1: top 3 are images 0, 1, 2
    stats = _hand_accumulator(maps, 4, top_n=3, grid=2).result()
    glasses = np.zeros(10, dtype=bool)
    glasses[[7, 8, 9, 0]] = True
    table = units.attribute_units(stats, "conv5_3", glasses)
    assert list(table["unit"]) == [0, 1]
    assert list(table["hits"]) == [3, 1] and list(table["n_top"]) == [3, 3]
    np.testing.assert_allclose(table["precision"], [1.0, 1 / 3])
    assert (table["base_rate"] == 0.4).all()
    # P(3 of 3 drawn from 10 with 4 positives) = C(4,3) / C(10,3) = 4 / 120
    assert table["p_value"].iloc[0] == pytest.approx(4 / 120)
    assert table["p_value_layer"].iloc[0] == pytest.approx(1 - (1 - 4 / 120) ** 2)
    with pytest.raises(ValueError):
        units.attribute_units(stats, "conv5_3", glasses[:5])


def test_unit_segmentation_and_top_maps():
    peak = np.zeros((4, 4), dtype=np.float32)
    peak[1, 2] = 1.0
    mask = units.unit_segmentation(peak, 16)
    assert mask.shape == (16, 16) and mask.any() and not mask.all()
    # around the peak's pixel centre, not far from it
    assert mask[6, 10] and not mask[15, 0]
    assert not units.unit_segmentation(np.zeros((4, 4)), 16).any()
    assert units.unit_segmentation(peak, 16, threshold=1.0).sum() < mask.sum()

    trained = _tiny_trained()
    images = _images(20)
    stats = units.unit_statistics(trained, images, layers=["conv5_3"], top_n=6, batch_size=BATCH)
    found = units.top_unit_maps(trained, images, stats, "conv5_3", [0, 5], n=4)
    assert found.maps.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(found.image_indices, stats.images["conv5_3"][[0, 5], :4])
    np.testing.assert_allclose(found.maps.max(axis=(2, 3)), found.values, rtol=1e-4, atol=1e-5)


def test_random_like_has_the_shape_but_not_the_weights():
    trained = _tiny_trained(seed=0)
    null = units.random_like(trained, seed=3)
    again = units.random_like(trained, seed=3)
    own, fresh = trained.model.state_dict(), null.model.state_dict()
    assert own.keys() == fresh.keys()
    assert all(own[k].shape == fresh[k].shape for k in own)
    assert not torch.equal(own["backbone.features.0.weight"], fresh["backbone.features.0.weight"])
    assert torch.equal(
        fresh["backbone.features.0.weight"],
        again.model.state_dict()["backbone.features.0.weight"],
    )
    assert null.config == trained.config and not null.model.training


def test_argument_checks():
    with pytest.raises(ValueError):
        units.UnitAccumulator(["pool5"])
    with pytest.raises(ValueError):
        units.histogram_edges(48)
    accumulator = units.UnitAccumulator(["conv5_3"], iou_layers=["conv5_3"])
    maps = torch.ones(2, 1, 2, 2)
    accumulator.update({"relu5_3": maps}, {"eyes": np.ones((2, 4, 4), dtype=bool)})
    with pytest.raises(ValueError):  # masks dropped after the first batch
        accumulator.update({"relu5_3": maps})
    with pytest.raises(ValueError):
        accumulator.update({"relu5_3": maps}, {"eyes": np.ones((3, 4, 4), dtype=bool)})


# ----------------------------------------------------------------------------------------------
# Chapter entry points: region shares, trait contributions, enrichment, the random null
# ----------------------------------------------------------------------------------------------


def test_region_shares_pool_to_the_masks_grid():
    # One unit, four images: maxima at (0, 0), (1, 1), (3, 3) of a 4x4 map and one silent image.
    maps = np.zeros((4, 1, 4, 4), dtype=np.float32)
    maps[0, 0, 0, 0], maps[1, 0, 1, 1], maps[2, 0, 3, 3] = 3, 2, 1
    stats = _hand_accumulator(maps, 2, top_n=4, grid=2).result()
    fine = {"eyes": np.eye(4, dtype=bool), "mouth": np.zeros((4, 4), dtype=bool)}
    shares = units.region_shares(stats, "conv5_3", fine)  # the layer's own 4x4 grid
    assert shares.loc[0, "eyes"] == pytest.approx(3 / 4)
    assert shares.loc[0, "elsewhere"] == pytest.approx(1 / 4)  # the silent image
    coarse = {"eyes": np.array([[True, False], [False, False]])}  # cell (0, 0) of a 2x2 grid
    assert units.region_shares(stats, "conv5_3", coarse).loc[0, "eyes"] == pytest.approx(2 / 4)
    ranked = units.rank_units_by_region(stats, "conv5_3", fine)
    assert ranked.loc[ranked["region"] == "eyes", "n_prime"].item() == 3
    with pytest.raises(ValueError):
        units.region_shares(stats, "conv5_3", {"eyes": np.ones((2, 3), dtype=bool)})


def test_contributions_add_up_to_the_logits():
    trained = _tiny_trained()
    with torch.no_grad():  # a head with some weight on every slot
        trained.model.head.weight.normal_(generator=torch.Generator().manual_seed(1))
        trained.model.head.bias.fill_(0.25)
    images = _images(12)
    contributions = units.unit_contributions(trained, images, "conv5_3")
    relu52 = units.unit_contributions(trained, images, "conv5_2")
    with torch.inference_mode():
        logits = trained.model.logits(trained.prepare(images)).double().numpy()
    total = contributions.sum(axis=1) + relu52.sum(axis=1) + 0.25
    np.testing.assert_allclose(total, logits, rtol=1e-5, atol=1e-5)
    importance = units.trait_contributions(trained, images)
    assert importance.shape == (trained.model.backbone.channels, 5)
    np.testing.assert_allclose(importance.to_numpy(), contributions.std(axis=0, ddof=1))


def test_contributions_of_the_fig4_head_and_the_authors_head():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fig4 = models.CAMModel(width_divisor=16, head="fig4", batch_norm=True).eval()
        authors = models.CAMModel(width_divisor=16, head="authors", batch_norm=True).eval()
    config = TrainConfig(kind="cam_fig4", width_divisor=16, input_size=INPUT, batch_norm=True)
    trained = TrainedModel(fig4, config, torch.full((3, INPUT, INPUT), 127.5), 64.0)
    images = _images(6)
    with torch.inference_mode():
        logits = fig4.logits(trained.prepare(images)).double().numpy()
    contributions = units.unit_contributions(trained, images)
    np.testing.assert_allclose(
        contributions.sum(axis=1) + fig4.fc.bias.detach().double().numpy(),
        logits,
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(TypeError):
        units.unit_contributions(TrainedModel(authors, config, trained.mean, 64.0), images)


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
    table = units.trait_region_enrichment(shares, importance, top_k=5, n_permutations=999, seed=1)
    row = table.set_index(["trait", "region"])
    assert row.loc[("extraversion", "mouth"), "share_top"] == pytest.approx(0.9)
    assert row.loc[("extraversion", "mouth"), "p_value"] < 0.01
    assert row.loc[("extraversion", "mouth"), "enrichment"] > 2
    assert row.loc[("extraversion", "eyes"), "p_value"] > 0.05
    assert (table["p_value"] > 0).all()  # the +1 correction
    with pytest.raises(ValueError):
        units.trait_region_enrichment(shares, importance, top_k=units_n)


def test_emerged_units_counts_above_the_random_ceiling():
    trained = pd.DataFrame({"mouth": [0.9, 0.5, 0.2], "eyes": [0.1, 0.1, 0.1]})
    random = pd.DataFrame({"mouth": [0.4, 0.3, 0.0], "eyes": [0.1, 0.0, 0.0]})
    table = units.emerged_units(trained, random)
    assert table.loc["mouth", "trained_above"] == 2 and table.loc["mouth", "random_max"] == 0.4
    assert table.loc["eyes", "trained_above"] == 0  # equal is not above


def test_face_masks_scale_the_landmarks():
    landmarks = np.stack([_landmarks(), _landmarks()])
    masks = units.face_masks(landmarks, crop_size=16, mask_size=32)([1])
    direct = faces.region_masks(_landmarks() * 2, 32)
    assert set(masks) == set(faces.REGIONS)
    for region in faces.REGIONS:
        assert masks[region].shape == (1, 32, 32)
        np.testing.assert_array_equal(masks[region][0], direct[region])
    with pytest.raises(ValueError):
        units.face_masks(np.zeros((2, 5, 2)), 16, 16)


def test_population_rows_and_the_size_of_a_top_set():
    meta = pd.DataFrame({"clip": ["x", "x", "y", "z", "z"], "frame_index": [4, 2, 0, 8, 1]})
    np.testing.assert_array_equal(units.population_rows(meta, "first_face_per_clip"), [1, 2, 4])
    np.testing.assert_array_equal(units.population_rows(meta, "all_faces"), np.arange(5))
    with pytest.raises(ValueError, match="population"):
        units.population_rows(meta, "clips")
    assert units.study_top_n(2000) == 50  # the paper: F = 2000, N = 50
    assert units.study_top_n(150) == 15 and units.study_top_n(3) == 1


def test_unit_histograms_on_a_layers_own_grid_and_unit_rows():
    from personality_utils import plots

    trained = _tiny_trained()
    images = _images(20)
    stats = units.unit_statistics(
        trained, images, layers=["conv4_3", "conv5_3"], top_n=5, batch_size=BATCH
    )
    side = stats.layer_sizes["conv4_3"][0]  # finer than the statistics' grid
    fine = units.unit_histograms(stats, "conv4_3", side)
    assert fine.shape[1:] == (side, side) and (fine.sum(axis=(1, 2)) == 5).all()
    coarse = units.unit_histograms(stats, "conv4_3")
    assert coarse.shape[1:] == (stats.grid, stats.grid)
    np.testing.assert_array_equal(coarse.sum(axis=(1, 2)), fine.sum(axis=(1, 2)))
    background = np.full((INPUT, INPUT, 3), 128, dtype=np.uint8)
    rows = plots.unit_rows(trained, images, stats, "conv5_3", [0, 3], background, 10, tile=16)
    # two rows of the statistics' N = 5 crops (not 10) and a histogram tile, 2-pixel gaps
    assert rows.shape[:2] == (2 * 16 + 2, 6 * 16 + 5 * 2)
