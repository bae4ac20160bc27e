"""Tests of personality_utils.au_traits: the ridge AU model, its coefficients against the planted
weights, and the trait x AU correlations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from personality_utils import au_traits, aus, synthetic
from personality_utils.data import TRAITS


def _clip_split(rng, n, weights, noise=0.05, name="x"):
    """Clip-mean AUs like the synthetic set's (5 Beta(1.6, 3.4)) and labels linear in them."""
    features = pd.DataFrame(
        5 * rng.beta(1.6, 3.4, (n, 17)),
        index=[f"{name}{i:04d}" for i in range(n)],
        columns=list(aus.AU_COLUMNS),
    )
    standard = (features - 1.6) / 1.0
    labels = 0.5 + 0.06 * standard.to_numpy() @ weights.to_numpy().T
    labels = labels + rng.normal(0, noise, labels.shape)
    return features, pd.DataFrame(np.clip(labels, 0, 1), index=features.index, columns=list(TRAITS))


def _planted_matrix() -> pd.DataFrame:
    return pd.DataFrame(
        [[synthetic.TRAIT_WEIGHTS[t].get(c, 0.0) for c in aus.AU_COLUMNS] for t in TRAITS],
        index=list(TRAITS),
        columns=list(aus.AU_COLUMNS),
    )


def test_ridge_recovers_planted_weights_and_picks_a_sensible_alpha():
    rng = np.random.default_rng(12)
    weights = _planted_matrix()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        _clip_split(rng, n, weights, name=name) for n, name in ((400, "a"), (200, "b"), (200, "c"))
    )
    x_train["AU14"] = np.nan  # e.g. the geometric estimator's blind AU: dropped
    x_val.iloc[0, 0] = np.nan  # a missing value: the training mean
    result = au_traits.fit_au_ridge(x_train, y_train, x_val, y_val, x_test, y_test)
    assert result.dropped == ("AU14",) and "AU14" not in result.coefficients.columns
    assert list(result.coefficients.index) == list(TRAITS)
    comparison = au_traits.compare_with_planted(result.coefficients)
    # Measured: overall .96, every trait >= .93, all signs right.
    assert comparison.loc["overall", "correlation"] > 0.95
    assert (comparison["correlation"] > 0.9).all() and (comparison["sign_agreement"] == 1).all()
    # Strong signal: little shrinkage, but the grid's interior, not its end.
    assert result.alpha < 100 and result.alpha != result.validation_mse.index.max()
    assert result.validation_mse.loc[result.alpha] == result.validation_mse.min()
    assert result.r2["mean"] > 0.25  # measured .33 (openness has little AU signal)
    baseline = 1 - (y_test - y_train.mean()).abs().mean()
    assert result.accuracy["mean"] > baseline.mean() + 0.005  # measured +0.0099
    assert list(result.predictions.index) == list(x_test.index)
    assert result.predictions.to_numpy().min() >= 0 and result.predictions.to_numpy().max() <= 1
    # The closed form at the chosen alpha.
    columns = list(result.coefficients.columns)
    design = ((x_train[columns] - x_train[columns].mean()) / x_train[columns].std()).to_numpy()
    targets = (y_train - y_train.mean()).to_numpy()
    direct = np.linalg.solve(
        design.T @ design + result.alpha * np.eye(len(columns)), design.T @ targets
    )
    np.testing.assert_allclose(result.coefficients.to_numpy(), direct.T, atol=1e-10)
    # No signal at all: the validation picks a heavy penalty.
    noise_train = _clip_split(rng, 400, weights * 0, name="a")[1].iloc[::-1]  # order: by name
    noise_val = _clip_split(rng, 200, weights * 0, name="b")[1]
    flat = au_traits.fit_au_ridge(x_train, noise_train, x_val, noise_val, x_test)
    assert flat.alpha >= 100 and flat.accuracy is None
    assert flat.coefficients.abs().max().max() < result.coefficients.abs().max().max() / 5


def test_compare_with_planted_and_correlation_matrix():
    weights = _planted_matrix()
    same = au_traits.compare_with_planted(weights * 3)
    np.testing.assert_allclose(same["correlation"], 1.0)
    assert (same["sign_agreement"] == 1).all() and "overall" in same.index
    opposite = au_traits.compare_with_planted(-weights)
    np.testing.assert_allclose(opposite["correlation"], -1.0)
    assert (opposite["sign_agreement"] == 0).all()
    rng = np.random.default_rng(13)
    features = pd.DataFrame(rng.normal(size=(200, 17)), columns=list(aus.AU_COLUMNS))
    labels = pd.DataFrame(rng.normal(size=(200, 5)), columns=list(TRAITS))
    labels["extraversion"] = features["AU12"] + 0.1 * rng.normal(size=200)
    labels.index = features.index = [f"clip{i}" for i in range(200)]
    matrix = au_traits.trait_au_correlation(features, labels.iloc[::-1])  # aligned by clip name
    assert matrix.shape == (5, 17) and list(matrix.index) == list(TRAITS)
    assert matrix.loc["extraversion", "AU12"] > 0.99
    assert matrix.drop(index="extraversion").abs().max().max() < 0.3
    spearman = au_traits.trait_au_correlation(np.exp(features), labels, method="spearman")
    assert spearman.loc["extraversion", "AU12"] > 0.99
    frames = pd.DataFrame({"AU12": [1.0, 3.0, np.nan, 5.0]})
    means = aus.clip_means(frames, ["b", "b", "a", "a"])
    assert list(means.index) == ["a", "b"] and means["AU12"].tolist() == [5.0, 2.0]
