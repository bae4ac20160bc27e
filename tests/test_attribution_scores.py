"""Scores of attribution maps against planted regions, and the patch-removal test
(:mod:`personality_utils.attribution.scores`)."""

from __future__ import annotations

import numpy as np
import pytest

from personality_utils.attribution import scores
from personality_utils.core.stats import bootstrap_interval

NAN = np.nan


# ----------------------------------------------------------------------------------------------
# Localisation on hand-made maps
# ----------------------------------------------------------------------------------------------


def test_relevance_mass_counts_positive_mass_only():
    maps = np.array(
        [
            [[2.0, -1.0], [1.0, 0.0]],  # positive mass 3, 2 of it inside
            [[-5.0, 1.0], [1.0, 0.0]],  # the negative value inside does not count
            [[-1.0, -2.0], [-3.0, 0.0]],  # no positive mass
            [[1.0, 1.0], [1.0, 1.0]],  # empty mask
        ]
    )
    masks = np.zeros(maps.shape, dtype=bool)
    masks[:3, 0, 0] = True
    np.testing.assert_allclose(
        scores.relevance_mass(maps, masks), [2 / 3, 0.0, NAN, NAN], equal_nan=True
    )


def test_rank_accuracy_top_k_and_tie_rule():
    maps = np.array(
        [
            [[3.0, 2.0], [1.0, 0.0]],  # K = 2: the top two are pixels 0 and 1; one is inside
            [[1.0, 1.0], [1.0, 1.0]],  # all tied: row-major order, pixels 0 and 1 come first
            [[1.0, 1.0], [1.0, 1.0]],
            [[5.0, 1.0], [1.0, 1.0]],  # empty mask
        ]
    )
    masks = np.array(
        [
            [[False, True], [True, False]],
            [[False, False], [True, True]],
            [[True, True], [False, False]],
            [[False, False], [False, False]],
        ]
    )
    np.testing.assert_allclose(
        scores.rank_accuracy(maps, masks), [0.5, 0.0, 1.0, NAN], equal_nan=True
    )


def test_pointing_game_hits_misses_ties_and_empty_masks():
    maps = np.array(
        [
            [[0.0, 9.0], [1.0, 2.0]],  # maximum inside
            [[9.0, 0.0], [1.0, 2.0]],  # maximum outside
            [[9.0, 9.0], [1.0, 2.0]],  # tied maxima, one inside: a hit
            [[0.0, 9.0], [1.0, 2.0]],  # empty mask
        ]
    )
    masks = np.zeros(maps.shape, dtype=bool)
    masks[:3, 0, 1] = True
    result = scores.pointing_game(maps, masks)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, [1.0, 0.0, 1.0, NAN])


def test_localisation_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="masks have shape"):
        scores.relevance_mass(np.zeros((2, 4, 4)), np.zeros((2, 4, 5), dtype=bool))
    with pytest.raises(ValueError, match="non-finite"):
        scores.rank_accuracy(np.full((1, 2, 2), NAN), np.ones((1, 2, 2), dtype=bool))


def _random_case(seed: int = 0, n: int = 6, size: int = 16):
    """Seeded random signed maps and random rectangular masks (the last one empty)."""
    rng = np.random.default_rng(seed)
    maps = rng.normal(size=(n, size, size))
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n - 1):
        top, left = rng.integers(0, size - 4, 2)
        height, width = rng.integers(2, 8, 2)
        masks[i, top : top + height, left : left + width] = True
    return maps, masks


def test_same_values_as_the_chapter_05_scores_of_one_map():
    from personality_utils.cam import maps as cam_maps

    maps, masks = _random_case(1)
    mass = scores.relevance_mass(maps, masks)
    hits = scores.pointing_game(maps, masks)
    for i in range(len(maps) - 1):
        assert mass[i] == pytest.approx(cam_maps.energy_in_box(maps[i], masks[i]))
        assert hits[i] == float(cam_maps.pointing_game(maps[i], masks[i]))


@pytest.mark.filterwarnings("ignore:Return np.nan:UserWarning")  # Quantus, on the empty mask
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_same_values_as_quantus():
    """Our three localisation scores against Quantus 0.6 on seeded random maps and masks.

    Quantus is called on channels-first (n, 1, h, w) arrays, with ``model=None`` (the maps are
    given), ``normalise=False`` and ``abs=False`` (its default division by the maximum would
    not change these scores, but the definitions are compared as they are), and
    ``softmax=False`` (a regression). Relevance mass takes positive relevance only: Quantus
    sums the map as given, so it gets ``np.clip(maps, 0, None)``. Rank accuracy and the
    pointing game take the signed maps (both rank the values as they are).

    What differs, and the adjustment made for it:

    * ``RelevanceRankAccuracy`` sorts with ``np.argsort(-a)`` (quicksort, not stable), so tied
      values may be broken differently from our stable row-major rule; the same K (the mask's
      size) is used. The random continuous maps here have no ties (asserted), so every value
      must be equal.
    * ``PointingGame`` stores its hits in a boolean array and then writes NaN into it for an
      empty mask, which turns into True: Quantus scores an empty mask as a hit (1.0) where we
      return NaN. The last image has an empty mask; there, Quantus must give 1.0 and we NaN.
    """
    quantus = pytest.importorskip("quantus")

    maps, masks = _random_case(0)
    assert masks[-1].sum() == 0 and masks[:-1].sum(axis=(1, 2)).min() > 0
    assert len(np.unique(maps)) == maps.size  # no ties
    x_batch = np.random.default_rng(1).random((len(maps), 1, *maps.shape[1:]))
    options = {"abs": False, "normalise": False, "disable_warnings": True}
    call = {
        "model": None,
        "x_batch": x_batch,
        "y_batch": np.zeros(len(maps), dtype=int),
        "s_batch": masks[:, None].astype(float),
        "channel_first": True,
        "softmax": False,
    }

    mass = quantus.RelevanceMassAccuracy(**options)(a_batch=np.clip(maps, 0, None)[:, None], **call)
    np.testing.assert_allclose(
        scores.relevance_mass(maps, masks), mass, rtol=1e-12, atol=0, equal_nan=True
    )
    assert np.isnan(mass[-1])

    rank = quantus.RelevanceRankAccuracy(**options)(a_batch=maps[:, None], **call)
    np.testing.assert_allclose(
        scores.rank_accuracy(maps, masks), rank, rtol=1e-12, atol=0, equal_nan=True
    )
    assert np.isnan(rank[-1])

    pointing = np.asarray(
        quantus.PointingGame(**options)(a_batch=maps[:, None], **call), dtype=float
    )
    ours = scores.pointing_game(maps, masks)
    np.testing.assert_array_equal(ours[:-1], pointing[:-1])
    assert np.isnan(ours[-1]) and pointing[-1] == 1.0  # Quantus's empty-mask "hit"
    assert 0 < ours[:-1].sum() < len(maps) - 1  # the case has hits and misses


# ----------------------------------------------------------------------------------------------
# Patches, fills and removal
# ----------------------------------------------------------------------------------------------


def test_patch_scores_means_and_divisibility():
    maps = np.arange(16, dtype=float).reshape(1, 4, 4)
    np.testing.assert_allclose(scores.patch_scores(maps, 2), [[2.5, 4.5, 10.5, 12.5]])
    np.testing.assert_array_equal(scores.patch_orders(maps, 2), [[3, 2, 1, 0]])
    # Ties keep the cell order (stable).
    np.testing.assert_array_equal(scores.patch_orders(np.zeros((1, 4, 4)), 2), [[0, 1, 2, 3]])
    with pytest.raises(ValueError, match="does not divide"):
        scores.patch_scores(maps, 3)


def test_fills_shapes_and_dtypes():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    mean = rng.random((8, 8, 3)) * 255
    filled = scores.mean_fill(images, mean)
    assert filled.shape == images.shape and filled.dtype == np.uint8
    np.testing.assert_array_equal(filled[2], np.round(mean).astype(np.uint8))
    # Channels first, as models.training.mean_image gives it.
    np.testing.assert_array_equal(scores.mean_fill(images, mean.transpose(2, 0, 1)), filled)
    with pytest.raises(ValueError, match="mean image has shape"):
        scores.mean_fill(images, np.zeros((4, 4, 3)))

    blurred = scores.blur_fill(images, 1.5)
    assert blurred.shape == images.shape and blurred.dtype == np.uint8
    assert blurred.astype(float).std() < images.astype(float).std()
    flat = np.full((1, 8, 8, 3), 77, dtype=np.uint8)
    np.testing.assert_array_equal(scores.blur_fill(flat, 2.0), flat)
    # Channels are blurred separately: a flat red image with black green and blue stays so.
    red = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    red[..., 0] = 200
    np.testing.assert_array_equal(scores.blur_fill(red, 2.0), red)


class Linear:
    """A linear "model": output 0 is the weighted sum of the pixels in a planted region,
    output 1 the plain sum of all pixels. Records the size of every batch it is given."""

    def __init__(self, weights: np.ndarray):
        self.weights = weights
        self.batches: list[int] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        assert batch.dtype == np.uint8
        self.batches.append(len(batch))
        pixels = batch.astype(np.float64)
        return np.stack(
            [(pixels * self.weights[None, :, :, None]).sum(axis=(1, 2, 3)), pixels.sum((1, 2, 3))],
            axis=1,
        )


@pytest.fixture
def linear_case():
    rng = np.random.default_rng(3)
    size, n = 8, 3
    weights = np.zeros((size, size))
    weights[1:7, 2:8] = rng.uniform(0.5, 1.5, (6, 6))
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    fills = scores.mean_fill(images, np.full((size, size, 3), 128.0))
    # Exact attribution of output 0: each pixel's contribution to the change to the fill.
    truth = weights[None] * (images.astype(float) - fills.astype(float)).sum(axis=-1)
    return Linear(weights), images, fills, truth


def test_removal_curve_ends_and_steps(linear_case):
    model, images, fills, truth = linear_case
    patch, steps = 2, 4
    orders = scores.patch_orders(truth, patch)
    curves = scores.removal_curves(model, images, fills, orders, patch, steps, batch_size=5)
    assert curves.shape == (3, steps + 1, 2)
    np.testing.assert_allclose(curves[:, 0], model(images))
    np.testing.assert_allclose(curves[:, -1], model(fills))
    # Step 1 of image 1 by hand: the first round(16 / 4) = 4 patches of its order filled.
    expected = images[1].copy()
    for cell in orders[1, :4]:
        row, column = divmod(int(cell), 8 // patch)
        block = np.s_[row * patch : (row + 1) * patch, column * patch : (column + 1) * patch]
        expected[block] = fills[1][block]
    np.testing.assert_allclose(curves[1, 1], model(expected[None])[0])
    # Chunks: at most batch_size images a call, and the result does not depend on them.
    model.batches.clear()
    again = scores.removal_curves(model, images, fills, orders, patch, steps, batch_size=4)
    assert max(model.batches) <= 4 and sum(model.batches) == 3 * (steps + 1)
    np.testing.assert_allclose(again, curves)
    with pytest.raises(ValueError, match="permutation"):
        scores.removal_curves(model, images, fills, np.zeros_like(orders), patch, steps)


def test_srg_of_the_true_map_beats_every_random_order(linear_case):
    model, images, fills, truth = linear_case
    patch, steps = 2, 8
    orders = scores.patch_orders(truth, patch)
    morf = scores.removal_curves(model, images, fills, orders, patch, steps)[..., 0]
    lerf = scores.removal_curves(model, images, fills, orders[:, ::-1], patch, steps)[..., 0]
    gain = scores.srg(morf, lerf)
    assert (gain > 0).all()

    # The reversed map swaps MoRF and LeRF: the same gain, negative.
    reverse = scores.patch_orders(-truth, patch)
    morf_r = scores.removal_curves(model, images, fills, reverse, patch, steps)[..., 0]
    lerf_r = scores.removal_curves(model, images, fills, reverse[:, ::-1], patch, steps)[..., 0]
    np.testing.assert_allclose(scores.srg(morf_r, lerf_r), -gain)

    null = scores.null_srg(model, images, fills, patch, steps, count=60, seed=0)
    assert null.shape == (60, 3, 2)
    # For a linear model MoRF by the exact contributions is the best order of all.
    assert (gain[None] > null[..., 0]).all()
    # Centred on 0: the mean of the draws is within 4 standard errors of it.
    draws = null[..., 0].ravel()
    assert abs(draws.mean()) < 4 * draws.std() / np.sqrt(len(draws))
    assert draws.std() > 0
    np.testing.assert_array_equal(
        null, scores.null_srg(model, images, fills, patch, steps, count=60, seed=0)
    )


def test_srg_trapezoid_and_random_orders():
    morf = np.array([[1.0, 0.5, 0.0]])
    lerf = np.array([[1.0, 1.0, 0.0]])
    np.testing.assert_allclose(scores.srg(morf, lerf), [0.25])
    with pytest.raises(ValueError, match="steps"):
        scores.srg(morf, lerf[:, :2])

    orders = scores.random_orders(4, 9, 5, seed=2)
    assert orders.shape == (5, 4, 9)
    np.testing.assert_array_equal(
        np.sort(orders, axis=-1), np.broadcast_to(np.arange(9), (5, 4, 9))
    )
    np.testing.assert_array_equal(orders, scores.random_orders(4, 9, 5, seed=2))
    assert len({tuple(row) for row in orders.reshape(-1, 9)}) > 1


def test_fill_agreement():
    a = np.array([0.1, 0.5, 0.2, 0.9, NAN])
    rho, p = scores.fill_agreement(a, a * 3 + 1)
    assert rho == pytest.approx(1.0) and 0 <= p < 0.05
    rho, _ = scores.fill_agreement(a, -a)
    assert rho == pytest.approx(-1.0)
    assert np.isnan(scores.fill_agreement(a[:2], a[:2])[0])


# ----------------------------------------------------------------------------------------------
# Intervals over people
# ----------------------------------------------------------------------------------------------


def test_interval_and_paired_difference_resample_people():
    rng = np.random.default_rng(0)
    persons = np.repeat([f"p{i}" for i in range(8)], 3)
    values = rng.random(len(persons))
    values[4] = NAN
    result = scores.interval(values, persons, n_boot=300, seed=1)
    assert result["n"] == len(values) - 1
    assert result["value"] == pytest.approx(np.nanmean(values))
    assert result["low"] <= result["value"] <= result["high"]
    expected = bootstrap_interval(values, persons, 300, 1)
    assert (result["value"], result["low"], result["high"]) == pytest.approx(expected)

    other = values - 0.25
    other[7] = NAN
    paired = scores.paired_difference(values, other, persons, n_boot=300, seed=1)
    assert paired["n"] == len(values) - 2
    # A constant difference has no spread: the interval is the value itself.
    assert paired["value"] == paired["low"] == paired["high"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="persons"):
        scores.interval(values, persons[:-1])


def test_removal_curves_of_several_orders_per_image_equal_one_call_each():
    """Stacking every order of every image into one call (the chapter's stream) gives the
    curves of one call per order: the intact and filled images are shared, not changed."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    fills = np.zeros_like(images)
    weights = rng.normal(size=(8, 8, 3))

    def predict(batch):
        return np.stack([(batch * weights).sum(axis=(1, 2, 3)), batch.sum(axis=(1, 2, 3))], 1)

    first = np.stack([rng.permutation(4) for _ in range(3)])
    second = first[:, ::-1]
    stacked = scores.removal_curves(
        predict,
        images,
        fills,
        np.concatenate([first, second]),
        4,
        2,
        sources=np.tile(np.arange(3), 2),
    )
    assert np.allclose(stacked[:3], scores.removal_curves(predict, images, fills, first, 4, 2))
    assert np.allclose(stacked[3:], scores.removal_curves(predict, images, fills, second, 4, 2))
