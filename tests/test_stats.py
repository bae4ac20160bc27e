"""Tests of personality_utils.core.stats against hand-computed and brute-force values."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from personality_utils.core import stats, vocabulary
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data import release


def test_regression_metrics_by_hand():
    truth = pd.DataFrame({t: [0.2, 0.4, 0.6, 0.8] for t in vocabulary.TRAITS}, index=list("abcd"))
    perfect = stats.regression_metrics(truth.copy(), truth)
    assert perfect.loc["openness"].tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0])
    shifted = truth + 0.1
    metrics = stats.regression_metrics(shifted, truth)
    assert metrics.loc["openness", "accuracy"] == pytest.approx(0.9)
    assert metrics.loc["openness", "pearson"] == pytest.approx(1.0)
    assert metrics.loc["openness", "r2"] == pytest.approx(1 - 0.04 / 0.2)
    # Lin's CCC penalises the shift: 2·cov / (var_p + var_y + shift²) = 0.1 / (0.05 + 0.05 + 0.01)
    assert metrics.loc["openness", "ccc"] == pytest.approx(0.1 / 0.11)
    constant = pd.DataFrame({t: [0.5] * 4 for t in vocabulary.TRAITS}, index=list("abcd"))
    assert np.isnan(stats.regression_metrics(constant, truth).loc["openness", "pearson"])


def test_bootstrap_interval_contains_the_estimate():
    rng = np.random.default_rng(0)
    truth = pd.DataFrame(rng.uniform(size=(200, 5)), columns=list(vocabulary.TRAITS))
    predicted = truth + rng.normal(0, 0.1, size=truth.shape)
    intervals = stats.accuracy_intervals(predicted, truth, by_person=False)
    accuracy = stats.trait_accuracy(predicted, truth)
    for name in [*vocabulary.TRAITS, "mean"]:
        assert intervals.loc[name, "low"] < accuracy[name] < intervals.loc[name, "high"]
        assert intervals.loc[name, "high"] - intervals.loc[name, "low"] < 0.05


def test_paired_bootstrap_sign_and_interval():
    rng = np.random.default_rng(1)
    truth = pd.DataFrame(rng.uniform(size=(300, 5)), columns=list(vocabulary.TRAITS))
    good = truth + rng.normal(0, 0.05, size=truth.shape)
    bad = truth + rng.normal(0, 0.15, size=truth.shape)
    result = stats.paired_difference(good, bad, truth)
    expected = stats.trait_accuracy(good, truth)["mean"] - stats.trait_accuracy(bad, truth)["mean"]
    assert result["difference"] == pytest.approx(expected)
    assert 0 < result["low"] < result["difference"] < result["high"]
    same = stats.paired_difference(good, good, truth)
    assert same["low"] == same["high"] == 0


def test_constant_baseline_on_real_labels(shared_data):
    train = release.load_annotations(shared_data / "firstimpressions" / "annotation_training.pkl")
    validation = release.load_annotations(
        shared_data / "firstimpressions" / "annotation_validation.pkl"
    )
    accuracy = stats.constant_baseline(train, validation)
    assert accuracy["mean"] == pytest.approx(0.8834, abs=0.0005)


def test_trait_accuracy_by_hand():
    clips = ["a", "b"]
    truth = pd.DataFrame({trait: [0.5, 1.0] for trait in vocabulary.TRAITS}, index=clips)
    predicted = pd.DataFrame({trait: [0.4, 0.8] for trait in vocabulary.TRAITS}, index=clips[::-1])
    # aligned by clip: a -> 0.8 (error 0.3), b -> 0.4 (error 0.6)
    accuracy = stats.trait_accuracy(predicted, truth)
    assert accuracy["openness"] == pytest.approx(1 - 0.45)
    assert accuracy["mean"] == pytest.approx(1 - 0.45)
    with pytest.raises(vocabulary.DataError, match="no prediction"):
        stats.trait_accuracy(predicted.iloc[:1], truth)


def test_cluster_bootstrap_resamples_groups_not_items():
    rng = np.random.default_rng(0)
    clip_values = rng.normal(size=30)
    values = np.repeat(clip_values, 10)  # ten identical frames per clip
    clips = np.repeat(np.arange(30), 10)
    estimate, low, high = stats.bootstrap_interval(values, clips, 1000, seed=1)
    assert estimate == pytest.approx(values.mean()) and low < estimate < high
    _, naive_low, naive_high = stats.bootstrap_interval(values, np.arange(300), 1000, seed=1)
    # Treating the 300 frames as independent gives an interval about sqrt(10) times too narrow.
    assert (high - low) > 2.5 * (naive_high - naive_low)


def test_plain_bootstrap_is_scipys_and_degenerate_cases():
    from scipy.stats import bootstrap

    values = np.random.default_rng(3).normal(size=40)
    estimate, low, high = stats.bootstrap_interval(values, seed=5)
    reference = bootstrap(
        (values,),
        np.mean,
        n_resamples=stats.N_RESAMPLES,
        method="percentile",
        random_state=np.random.default_rng(5),
    ).confidence_interval
    assert estimate == pytest.approx(values.mean())
    assert (low, high) == pytest.approx((reference.low, reference.high))
    assert stats.bootstrap_interval([np.nan, 2.0, np.nan]) == (2.0, 2.0, 2.0)
    assert all(np.isnan(stats.bootstrap_interval([np.nan])))
    # With every item its own group, the cluster bootstrap is a plain one (same width).
    _, g_low, g_high = stats.bootstrap_interval(values, np.arange(40), seed=5)
    assert g_high - g_low == pytest.approx(high - low, rel=0.2)


def test_accuracy_intervals_resample_people():
    rng = np.random.default_rng(2)
    # 40 people with 5 clips each; a person's clips share their error (the same face).
    people = [f"{index:011d}" for index in range(40)]
    clips = [f"{person}.{k:03d}.mp4" for person in people for k in range(5)]
    truth = pd.DataFrame(rng.uniform(size=(200, 5)), index=clips, columns=list(vocabulary.TRAITS))
    error = np.repeat(rng.normal(0, 0.1, size=(40, 5)), 5, axis=0)
    predicted = truth + error
    np.testing.assert_array_equal(stats.people(clips[:6]), [people[0]] * 5 + [people[1]])
    by_person = stats.accuracy_intervals(predicted, truth)
    by_clip = stats.accuracy_intervals(predicted, truth, by_person=False)
    width = (by_person["high"] - by_person["low"]) / (by_clip["high"] - by_clip["low"])
    assert (width > 1.6).all()  # about sqrt(5) wider: five clips per person are one draw
    accuracy = stats.trait_accuracy(predicted, truth)
    assert (by_person["low"] < accuracy).all() and (accuracy < by_person["high"]).all()
    paired = stats.paired_difference(truth, predicted, truth)
    assert paired["people"] == 40 and paired["clips"] == 200 and paired["low"] > 0


def test_permutation_p_value_by_hand():
    assert stats.permutation_p_value(3.0, [1, 2, 3, 4]) == pytest.approx(3 / 5)
    assert stats.permutation_p_value(9.0, [1, 2, 3, 4]) == pytest.approx(1 / 5)


def test_paired_permutation_test_equals_brute_force():
    # Two conditions, six items, one feature: the paired null swaps the two values of an item,
    # 2**6 = 64 equally likely relabellings, all enumerated by scipy (n_resamples >= 64).
    rng = np.random.default_rng(4)
    values = rng.normal(size=(6, 2, 1))
    values[:, 0] += 0.8

    def spread(table):
        means = table.mean(axis=0)  # (conditions, features)
        return means.var(axis=0).sum()

    observed = spread(values)
    null = [
        spread(np.where(np.array(flips)[:, None, None], values[:, ::-1], values))
        for flips in itertools.product([False, True], repeat=6)
    ]
    expected = np.mean(np.array(null) >= observed - 1e-12)
    result = stats.paired_permutation_test(values, n_resamples=10_000)
    assert result["statistic"] == pytest.approx(observed)
    assert result["p_value"] == pytest.approx(expected)
    assert result["resamples"] == 64
    with pytest.raises(ValueError, match="conditions"):
        stats.paired_permutation_test(values[:, :1])


def test_benjamini_hochberg_by_hand():
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    # p * m / rank = .008 .032 .104 .082 .0672 .08 .0846 .205; then the running min from the top.
    expected = [0.008, 0.032, 0.0672, 0.0672, 0.0672, 0.08, 0.0846, 0.205]
    np.testing.assert_allclose(stats.benjamini_hochberg(p), expected, rtol=1e-3)
    shuffled = pd.Series([0.042, 0.205, 0.001, np.nan, 0.06], index=list("abcde"))
    q = stats.benjamini_hochberg(shuffled)
    assert list(q.index) == list("abcde") and np.isnan(q["d"])
    # m = 4 finite values: c .004, a .084, e .08 -> .08 after the step-up, b .205
    np.testing.assert_allclose(q.drop("d"), [0.08, 0.205, 0.004, 0.08])
    from scipy.stats import false_discovery_control

    rng = np.random.default_rng(11)
    values = rng.uniform(size=17) ** 3
    np.testing.assert_allclose(stats.benjamini_hochberg(values), false_discovery_control(values))
    assert stats.benjamini_hochberg([0.9, 0.95]).max() <= 1


def test_model_measurements_and_per_trait_differences():
    rng = np.random.default_rng(5)
    people = [f"{index:011d}" for index in range(30)]
    clips = [f"{person}.{k:03d}.mp4" for person in people for k in range(3)]
    truth = pd.DataFrame(rng.uniform(size=(90, 5)), index=clips, columns=list(vocabulary.TRAITS))
    train = pd.DataFrame(rng.uniform(size=(50, 5)), columns=list(vocabulary.TRAITS))
    good = truth + rng.normal(0, 0.05, size=truth.shape)
    measured = stats.model_measurements(good, truth, train, unseen_clips=clips[:30])
    assert measured["accuracy"]["value"] == pytest.approx(stats.trait_accuracy(good, truth)["mean"])
    assert measured["constant"] == pytest.approx(stats.constant_baseline(train, truth)["mean"])
    assert measured["gain_over_constant"]["low"] > 0
    unseen = stats.gain_over_constant(good, truth.iloc[:30], train)
    assert measured["identity_disjoint_clips"] == 30
    assert measured["identity_disjoint_gain"] == stats.as_estimate(unseen)
    # Fewer than three unseen clips: saved as not measured (the claims find the key, None).
    few = stats.model_measurements(good, truth, train, 0, clips[:2])
    assert few["identity_disjoint_gain"] is None and few["identity_disjoint_clips"] is None
    # Only openness is better: the per-trait differences say so, the others straddle 0.
    better = good.copy()
    worse = good.copy()
    worse["openness"] = truth["openness"] + 0.3
    differences = stats.paired_differences(better, worse, truth)
    assert differences["mean"] == stats.paired_difference(better, worse, truth)
    assert differences["traits"]["openness"]["low"] > 0.2
    for trait in vocabulary.TRAITS[1:]:
        assert differences["traits"][trait]["value"] == pytest.approx(0.0)


def test_constant_predictions_have_no_correlation_and_no_warning():
    import warnings

    rng = np.random.default_rng(6)
    truth = pd.DataFrame(rng.uniform(size=(7, 5)), columns=list(vocabulary.TRAITS))
    # The training mean repeated: np.std of such a column can come out above 0 by rounding
    # (here extraversion's), which once let scipy see a "constant input" and warn.
    constant = pd.DataFrame([truth.mean().to_numpy()] * 7, columns=list(vocabulary.TRAITS))
    assert np.std(constant["extraversion"].to_numpy()) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = stats.regression_metrics(constant, truth)
    assert metrics.loc[list(vocabulary.TRAITS), "pearson"].isna().all()
    assert metrics.loc["openness", "r2"] == pytest.approx(0.0, abs=1e-12)


def test_seeds_one_is_the_single_model_and_identical_seeds_change_nothing():
    rng = np.random.default_rng(5)
    truth = pd.DataFrame(rng.uniform(size=(60, 5)), columns=list(vocabulary.TRAITS))
    a = truth + rng.normal(0, 0.05, size=truth.shape)
    b = truth + rng.normal(0, 0.1, size=truth.shape)
    single = stats.paired_difference(a, b, truth, n_resamples=500)
    assert stats.paired_difference([a], [b], truth, n_resamples=500) == single
    repeated = stats.paired_difference([a, a, a], [b, b], truth, n_resamples=500)
    assert repeated["seeds"] == [3, 2]
    for key in ("difference", "low", "high"):
        assert repeated[key] == pytest.approx(single[key])
    intervals = stats.accuracy_intervals([a, a], truth, n_resamples=500)
    pd.testing.assert_frame_equal(intervals, stats.accuracy_intervals(a, truth, n_resamples=500))


def test_seed_variance_widens_the_interval_and_the_mean_is_over_seeds():
    rng = np.random.default_rng(6)
    truth = pd.DataFrame(rng.uniform(size=(400, 5)), columns=list(vocabulary.TRAITS))
    # Three training seeds of one model whose accuracy differs by seed (0.03, 0.05, 0.07 noise).
    seeds = [truth + rng.normal(0, sd, size=truth.shape) for sd in (0.03, 0.05, 0.07)]
    other = truth + rng.normal(0, 0.05, size=truth.shape)
    result = stats.paired_difference(seeds, other, truth, n_resamples=1000)
    expected = (
        np.mean([stats.trait_accuracy(s, truth)["mean"] for s in seeds])
        - (stats.trait_accuracy(other, truth)["mean"])
    )
    assert result["difference"] == pytest.approx(expected)
    averaged = stats.paired_difference(seeds[1], other, truth, n_resamples=1000)
    width = (result["high"] - result["low"]) / (averaged["high"] - averaged["low"])
    assert width > 2  # the seeds' spread dominates the clips'
    # Brute force of the two-level draw: seeds picked with replacement, then averaged.
    errors = [np.array([[1.0], [3.0]]), np.array([[5.0], [7.0]])]
    weights = np.array([[1.0, 1.0], [2.0, 0.0]])
    rng_picks = np.random.default_rng(0)
    picks = np.random.default_rng(0).multinomial(2, [0.5, 0.5], 2)
    means = stats._seed_means(errors, weights, rng_picks)
    per_seed = np.array([[2.0, 6.0], [1.0, 5.0]])  # draw x seed
    np.testing.assert_allclose(means[:, 0], (picks * per_seed).sum(axis=1) / 2)


def test_gap_to_others_by_hand_with_an_interval():
    # Three columns; column 0 is everyone's lowest. Items of one person move together.
    values = np.array(
        [
            [0.1, np.nan, np.nan],
            [0.2, np.nan, np.nan],
            [np.nan, 0.5, np.nan],
            [np.nan, 0.7, np.nan],
            [np.nan, np.nan, 0.9],
            [np.nan, np.nan, 0.8],
        ]
    )
    groups = np.array(["a", "b", "a", "b", "a", "b"])
    low = stats.gap_to_others(values, groups, 0, "min", n_resamples=200, seed=1)
    assert low["value"] == pytest.approx(0.15 - 0.6)
    assert low["low"] <= low["value"] <= low["high"] < 0
    high = stats.gap_to_others(values, groups, 2, "max", n_resamples=200, seed=1)
    assert high["value"] == pytest.approx(0.85 - 0.6) and high["low"] > 0
    empty = values.copy()
    empty[:, 1] = np.nan
    assert np.isnan(stats.gap_to_others(empty, groups, 0)["value"])
    with pytest.raises(ValueError, match="nearest"):
        stats.gap_to_others(values, groups, 0, "median")


def test_gain_share_is_the_ratio_of_gains_over_the_constant():
    rng = np.random.default_rng(2)
    clips = [f"person{i // 2:03d}.{i % 2:03d}.mp4" for i in range(120)]
    truth = pd.DataFrame(rng.uniform(0.3, 0.7, (120, 5)), index=clips, columns=list(TRAITS))
    train = pd.DataFrame(rng.uniform(0.3, 0.7, (300, 5)), columns=list(TRAITS))
    constant = stats.constant_predictions(train, truth.index)
    reference = truth * 0.8 + constant * 0.2
    halfway = truth * 0.4 + constant * 0.6
    share = stats.gain_share(halfway, reference, truth, train, n_resamples=300, seed=0)
    gain = (
        stats.trait_accuracy(halfway, truth)["mean"] - stats.trait_accuracy(constant, truth)["mean"]
    )
    reference_gain = (
        stats.trait_accuracy(reference, truth)["mean"]
        - stats.trait_accuracy(constant, truth)["mean"]
    )
    assert share["value"] == pytest.approx(gain / reference_gain)
    assert share["low"] < share["value"] < share["high"]
    # A reference no better than the constant leaves nothing to share.
    assert np.isnan(stats.gain_share(halfway, constant, truth, train)["value"])
