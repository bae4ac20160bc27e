"""Tests of personality_utils.units.activations: the streaming pass against brute force on a tiny
seeded
network, its bins, cache and memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import (
    UNIT_BATCH,
    UNIT_INPUT,
    hand_accumulator,
    tiny_unit_model,
    unit_images,
    unit_landmarks,
)

from personality_utils.faces import regions as faces_regions
from personality_utils.models import experiments, networks
from personality_utils.models.training import TrainedModel
from personality_utils.units import activations as units
from personality_utils.units import passes


def _brute_force_activations(trained, images, layers, batch):
    """Every activation, with the same batches as the pass (bit-identical values)."""
    taps = tuple("relu" + name[4:] for name in layers)
    out = {name: [] for name in layers}
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            maps = trained.model.backbone(trained.prepare(images[start : start + batch]), taps)
            for name, tap in zip(layers, taps, strict=True):
                out[name].append(maps[tap].numpy())
    return {name: np.concatenate(arrays) for name, arrays in out.items()}


@pytest.fixture(scope="module")
def tiny():
    """The tiny network, 40 images and every activation of every conv layer (brute force)."""
    trained = tiny_unit_model()
    images = unit_images()
    return (
        trained,
        images,
        _brute_force_activations(trained, images, networks.CONV_NAMES, UNIT_BATCH),
    )


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
    stats = passes.unit_statistics(trained, images, top_n=10, batch_size=UNIT_BATCH)
    assert stats.layers == networks.CONV_NAMES and stats.grid == UNIT_INPUT // 16
    assert stats.n_images == len(images)
    _check_against_brute_force(stats, activations, top_n=10)


def test_streaming_top_k_pads_when_n_exceeds_the_images(tiny):
    _, images, activations = tiny
    accumulator = passes.UnitAccumulator(networks.CONV_NAMES, top_n=45, grid=UNIT_INPUT // 16)
    for start in range(0, len(images), UNIT_BATCH):  # relu names, as the backbone gives them
        accumulator.update(
            {
                "relu" + k[4:]: torch.as_tensor(v[start : start + UNIT_BATCH])
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
    stats = hand_accumulator(maps, batch=3, top_n=4, grid=3).result()
    np.testing.assert_array_equal(stats.images["conv5_3"][0], [7, 0, 1, 2])
    np.testing.assert_array_equal(stats.values["conv5_3"][0], [2, 1, 1, 1])
    np.testing.assert_array_equal(stats.locations["conv5_3"][0], [[0, 0], [1, 2], [1, 2], [1, 2]])
    np.testing.assert_array_equal(stats.images["conv5_3"][1], [0, 1, 2, 3])
    assert (stats.locations["conv5_3"][1] == -1).all()
    assert stats.location_histograms["conv5_3"].sum() == 4  # silent entries do not count


def test_histogram_bins_are_exact_and_narrow():
    edges = units.histogram_edges(64, (-16, 16))
    assert edges.dtype == np.float32 and edges[0] == 2.0**-16 and edges[-1] == 2.0**16
    assert (edges[1:] / edges[:-1]).max() <= 1 + 1 / 64 + 1e-7
    rng = np.random.default_rng(0)
    values = np.concatenate([[0, -1, 2**-17, 2**16, 1e9], edges, rng.lognormal(0, 3, 1000)])
    values = values.astype(np.float32)
    bins = units._bin_index(torch.as_tensor(values), units._shift(64), (127 - 16) * 64, len(edges))
    np.testing.assert_array_equal(bins.numpy(), np.searchsorted(edges, values, side="right"))


@pytest.mark.parametrize("small_pieces", [False, True])
def test_iou_and_quantile_match_brute_force_with_upsampling(small_pieces, monkeypatch):
    if small_pieces:  # one region per bincount and a few images per upsampled chunk
        monkeypatch.setattr(passes, "_BINCOUNT_ENTRIES", 1)
        monkeypatch.setattr(passes, "_CHUNK_ELEMENTS", 3 * 3 * 8 * 8)
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
    accumulator = hand_accumulator(
        maps,
        UNIT_BATCH,
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
    trained = tiny_unit_model()
    small, large = unit_images(6, seed=1), unit_images(24, seed=2)

    def masks(indices):
        grid = faces_regions.region_masks(unit_landmarks(), 16)
        return {r: np.broadcast_to(m, (len(indices), 16, 16)) for r, m in grid.items()}

    kept = [
        passes.unit_statistics(
            trained, images, top_n=8, masks=masks, batch_size=UNIT_BATCH
        ).nbytes_kept
        for images in (small, large)
    ]
    assert kept[0] == kept[1]
    bins = len(units.histogram_edges()) + 1
    channels = [64 // 16] * 2 + [128 // 16] * 2 + [256 // 16] * 3 + [512 // 16] * 6
    grid = UNIT_INPUT // 16
    top_part = sum(c * 8 * (4 + 8 + 2 * 2) for c in channels) + grid * grid * 8 * 13
    # conv5_3: 32 units x (native, upsampled and 4 region histograms), thresholds, IoU
    iou_part = 32 * bins * 8 * (1 + 1 + 4) + 32 * 4 + 32 * 4 * 8
    assert kept[0] == top_part + iou_part + (bins - 1) * 4 + 4 * 8  # + bin edges, |M|


def test_save_load_round_trip_and_cache(tmp_path):
    trained = tiny_unit_model()
    images = unit_images(12)
    rng = np.random.default_rng(0)
    masks = {r: rng.random((12, 8, 8)) < 0.3 for r in faces_regions.REGIONS}
    path = tmp_path / "units.npz"
    stats = passes.unit_statistics(
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

    same = passes.unit_statistics(  # same key: loaded, the broken model never runs
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
        passes.unit_statistics(
            TrainedModel(Broken(), trained.config, trained.mean, trained.scale),
            images,
            top_n=5,
            masks=masks,
            cache_path=path,
            cache_key="m2",
        )
    fewer = passes.unit_statistics(
        trained, images[:10], top_n=5, masks=masks, cache_path=path, cache_key="m1"
    )
    assert fewer.n_images == 10 and path.stat().st_mtime_ns != mtime


def test_checkpoint_key_changes_with_the_file(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"a")
    first = experiments.checkpoint_key(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"ab")
    assert experiments.checkpoint_key(tmp_path) != first


def test_argument_checks():
    with pytest.raises(ValueError):
        passes.UnitAccumulator(["pool5"])
    with pytest.raises(ValueError):
        units.histogram_edges(48)
    accumulator = passes.UnitAccumulator(["conv5_3"], iou_layers=["conv5_3"])
    maps = torch.ones(2, 1, 2, 2)
    accumulator.update({"relu5_3": maps}, {"eyes": np.ones((2, 4, 4), dtype=bool)})
    with pytest.raises(ValueError):  # masks dropped after the first batch
        accumulator.update({"relu5_3": maps})
    with pytest.raises(ValueError):
        accumulator.update({"relu5_3": maps}, {"eyes": np.ones((3, 4, 4), dtype=bool)})


# ----------------------------------------------------------------------------------------------
# Chapter entry points: region shares, trait contributions, enrichment, the random null
# ----------------------------------------------------------------------------------------------


def test_unit_histograms_on_a_layers_own_grid_and_unit_rows():
    from personality_utils.figures import unit_images as unit_image_figures

    trained = tiny_unit_model()
    crops = unit_images(20)
    stats = passes.unit_statistics(
        trained, crops, layers=["conv4_3", "conv5_3"], top_n=5, batch_size=UNIT_BATCH
    )
    side = stats.layer_sizes["conv4_3"][0]  # finer than the statistics' grid
    fine = units.unit_histograms(stats, "conv4_3", side)
    assert fine.shape[1:] == (side, side) and (fine.sum(axis=(1, 2)) == 5).all()
    coarse = units.unit_histograms(stats, "conv4_3")
    assert coarse.shape[1:] == (stats.grid, stats.grid)
    np.testing.assert_array_equal(coarse.sum(axis=(1, 2)), fine.sum(axis=(1, 2)))
    background = np.full((UNIT_INPUT, UNIT_INPUT, 3), 128, dtype=np.uint8)
    rows = unit_image_figures.unit_rows(
        trained, crops, stats, "conv5_3", [0, 3], background, 10, tile=16
    )
    # two rows of the statistics' N = 5 crops (not 10) and a histogram tile, 2-pixel gaps
    assert rows.shape[:2] == (2 * 16 + 2, 6 * 16 + 5 * 2)
