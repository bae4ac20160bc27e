"""Tests of personality_utils.aus.traits: the ridge AU model, its coefficients against the planted
weights, and the trait x AU correlations."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from personality_utils.aus import comparison as aus_comparison
from personality_utils.aus import estimator, traits
from personality_utils.aus import openface as aus_openface
from personality_utils.core import planted as core_planted
from personality_utils.core import stats
from personality_utils.core.vocabulary import TRAITS


def _clip_split(rng, n, weights, noise=0.05, name="x"):
    """Clip-mean AUs like the synthetic set's (5 Beta(1.6, 3.4)) and labels linear in them."""
    features = pd.DataFrame(
        5 * rng.beta(1.6, 3.4, (n, 17)),
        index=[f"{name}{i:04d}" for i in range(n)],
        columns=list(aus_openface.AU_COLUMNS),
    )
    standard = (features - 1.6) / 1.0
    labels = 0.5 + 0.06 * standard.to_numpy() @ weights.to_numpy().T
    labels = labels + rng.normal(0, noise, labels.shape)
    return features, pd.DataFrame(np.clip(labels, 0, 1), index=features.index, columns=list(TRAITS))


def _planted_matrix() -> pd.DataFrame:
    return pd.DataFrame(
        [
            [core_planted.TRAIT_WEIGHTS[t].get(c, 0.0) for c in aus_openface.AU_COLUMNS]
            for t in TRAITS
        ],
        index=list(TRAITS),
        columns=list(aus_openface.AU_COLUMNS),
    )


def test_ridge_recovers_planted_weights_and_picks_a_sensible_alpha():
    rng = np.random.default_rng(12)
    weights = _planted_matrix()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        _clip_split(rng, n, weights, name=name) for n, name in ((400, "a"), (200, "b"), (200, "c"))
    )
    x_train["AU14"] = np.nan  # e.g. the geometric estimator's blind AU: dropped
    x_val.iloc[0, 0] = np.nan  # a missing value: the training mean
    result = traits.fit_au_ridge(x_train, y_train, x_val, y_val, x_test, y_test)
    assert result.dropped == ("AU14",) and "AU14" not in result.coefficients.columns
    assert list(result.coefficients.index) == list(TRAITS)
    comparison = traits.compare_with_planted(result.coefficients)
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
    flat = traits.fit_au_ridge(x_train, noise_train, x_val, noise_val, x_test)
    assert flat.alpha >= 100 and flat.accuracy is None
    assert flat.coefficients.abs().max().max() < result.coefficients.abs().max().max() / 5


def test_compare_with_planted_and_correlation_matrix():
    weights = _planted_matrix()
    same = traits.compare_with_planted(weights * 3)
    np.testing.assert_allclose(same["correlation"], 1.0)
    assert (same["sign_agreement"] == 1).all() and "overall" in same.index
    opposite = traits.compare_with_planted(-weights)
    np.testing.assert_allclose(opposite["correlation"], -1.0)
    assert (opposite["sign_agreement"] == 0).all()
    rng = np.random.default_rng(13)
    features = pd.DataFrame(rng.normal(size=(200, 17)), columns=list(aus_openface.AU_COLUMNS))
    labels = pd.DataFrame(rng.normal(size=(200, 5)), columns=list(TRAITS))
    labels["extraversion"] = features["AU12"] + 0.1 * rng.normal(size=200)
    labels.index = features.index = [f"clip{i}" for i in range(200)]
    matrix = traits.trait_au_correlation(features, labels.iloc[::-1])  # aligned by clip name
    assert matrix.shape == (5, 17) and list(matrix.index) == list(TRAITS)
    assert matrix.loc["extraversion", "AU12"] > 0.99
    assert matrix.drop(index="extraversion").abs().max().max() < 0.3
    spearman = traits.trait_au_correlation(np.exp(features), labels, method="spearman")
    assert spearman.loc["extraversion", "AU12"] > 0.99
    frames = pd.DataFrame({"AU12": [1.0, 3.0, np.nan, 5.0]})
    means = estimator.clip_means(frames, ["b", "b", "a", "a"])
    assert list(means.index) == ["a", "b"] and means["AU12"].tolist() == [5.0, 2.0]


def test_planted_weights_paper_share_and_r2():
    weights = traits.planted_au_weights()
    assert weights.shape == (5, 17) and list(weights.columns) == list(aus_openface.AU_COLUMNS)
    for trait, planted in core_planted.TRAIT_WEIGHTS.items():
        for column, value in planted.items():
            if column in aus_openface.AU_COLUMNS:
                assert weights.loc[trait, column] == value
    assert (weights != 0).sum().sum() == sum(
        column in aus_openface.AU_COLUMNS
        for planted in core_planted.TRAIT_WEIGHTS.values()
        for column in planted
    )
    assert traits.paper_gain_share() == pytest.approx((0.886 - 0.8814) / (0.912 - 0.8814))
    assert traits.paper_record()["au_model_gain_share"] == traits.paper_gain_share()
    # R² by hand on two clips and two values per trait, and against stats.regression_metrics.
    truth = pd.DataFrame([[0.2] * 5, [0.6] * 5], index=["a.1", "b.1"], columns=list(TRAITS))
    predicted = pd.DataFrame([[0.3] * 5, [0.4] * 5], index=["a.1", "b.1"], columns=list(TRAITS))
    r2 = traits.r2_by_trait(predicted, truth)
    # 1 - (0.1² + 0.2²) / (0.2² + 0.2²) = 1 - 0.05 / 0.08
    np.testing.assert_allclose(r2.to_numpy(), 1 - 0.05 / 0.08)
    rng = np.random.default_rng(3)
    truth = pd.DataFrame(rng.random((30, 5)), columns=list(TRAITS))
    predicted = truth + rng.normal(0, 0.2, truth.shape)
    metrics = stats.regression_metrics(predicted, truth)
    np.testing.assert_allclose(traits.r2_by_trait(predicted, truth), metrics["r2"], rtol=1e-12)
    constant = stats.constant_predictions(truth, truth.index)  # the mean itself: R² = 0
    np.testing.assert_allclose(traits.r2_by_trait(constant, truth), 0.0, atol=1e-12)


def _comparison_inputs(rng):
    weights = _planted_matrix()
    splits = {}
    for split, n in (("train", 300), ("validation", 150), ("test", 150)):
        features, labels = _clip_split(rng, n, weights, name=split[0])
        # People: three clips each, so that the bootstrap resamples people.
        names = [f"{split[0]}{i // 3:03d}.{i % 3}" for i in range(n)]
        features.index = labels.index = names
        splits[split] = (features, labels)
    labels = {split: pair[1] for split, pair in splits.items()}
    model = traits.fit_au_ridge(
        *splits["train"], *splits["validation"], splits["test"][0], labels["test"]
    )
    truth = labels["test"]
    cnn_predictions = (truth + rng.normal(0, 0.05, truth.shape)).clip(0, 1)
    cnn = types.SimpleNamespace(
        predictions=cnn_predictions, metrics=stats.regression_metrics(cnn_predictions, truth)
    )
    features = {split: pair[0] for split, pair in splits.items()}
    return model, features, labels, cnn


def test_compare_models_against_the_cnn_and_the_constant():
    rng = np.random.default_rng(21)
    model, features, labels, cnn = _comparison_inputs(rng)
    models = {"AU model (landmarks)": model, "AU model (planted AUs)": model}
    all_features = {name: features for name in models}
    comparison = aus_comparison.compare_models(
        "landmarks", models, all_features, labels, cnn, n_boot=200, seed=4, synthetic=True
    )
    table = comparison.accuracy_table
    constant = stats.constant_baseline(labels["train"], labels["test"])["mean"]
    assert table.loc["constant (training mean)", "mean accuracy"] == constant
    assert table.loc["AU model (landmarks)", "alpha"] == model.alpha
    assert table.loc["paper: AU model", "mean accuracy"] == 0.886
    # The constant's R², as the chapter computed it by hand before.
    test, train_mean = labels["test"][list(TRAITS)], labels["train"][list(TRAITS)].mean()
    by_hand = 1 - ((test - train_mean) ** 2).sum() / ((test - test.mean()) ** 2).sum()
    assert table.loc["constant (training mean)", "mean R²"] == by_hand.mean()
    cnn_accuracy = cnn.metrics.loc["mean", "accuracy"]
    share = (model.accuracy["mean"] - constant) / (cnn_accuracy - constant)
    assert comparison.gain_share == pytest.approx(share)
    direct = stats.paired_difference(
        model.predictions, cnn.predictions, labels["test"], n_resamples=200, seed=4
    )
    assert comparison.differences["AU model − DAN+ face CNN"] == direct
    assert comparison.differences["AU model − constant"]["people"] == 50
    measurements = comparison.measurements(n_boot=200, seed=4)
    measured = measurements["au_model"]["measured"]
    assert measured["accuracy"] == model.accuracy["mean"]
    assert measured["gain_share"]["value"] == pytest.approx(share)
    low, high = measured["gain_share"]["low"], measured["gain_share"]["high"]
    assert low <= share <= high
    assert measured["gain_over_constant"]["value"] == pytest.approx(
        comparison.differences["AU model − constant"]["difference"]
    )
    assert set(measurements["au_model"]) == {"measured", "planted"}
    assert measurements["cnn_gain"]["value"] == pytest.approx(cnn_accuracy - constant)
    coefficient = measurements["coefficient_r"]  # labels planted with the synthetic weights
    assert coefficient["value"] > 0.9 and coefficient["low"] <= coefficient["value"]
    # With several CNN seeds, the CNN's gain is their mean.
    other = (cnn.predictions + 0.03).clip(0, 1)
    seeded = aus_comparison.compare_models(
        "landmarks",
        models,
        all_features,
        labels,
        cnn,
        n_boot=200,
        seed=4,
        synthetic=True,
        cnn_seeds=[cnn.predictions, other],
    ).measurements(n_boot=200, seed=4)
    gains = [
        stats.trait_accuracy(p, labels["test"])["mean"] - constant for p in (cnn.predictions, other)
    ]
    assert seeded["cnn_gain"]["value"] == pytest.approx(np.mean(gains))
    record = comparison.record()
    low, high = record["au_model_accuracy_interval"]
    assert low < record["au_model_accuracy"] < high
    assert record["au_model_planted_aus_accuracy"] == model.accuracy["mean"]
    assert set(record["coefficients_vs_planted"]) == set(models)
    matrices = comparison.trait_matrices()
    assert list(matrices) == [
        "correlation, AUs from dlib's landmarks (training clips)",
        "correlation, planted AUs (training clips)",
        "planted weights of the labels",
    ]
    assert record["trait_au_correlation"].equals(next(iter(matrices.values())))
    per_trait = comparison.per_trait()
    assert list(per_trait.index) == list(TRAITS) and "constant" in per_trait.columns
    assert comparison.planted_comparison().columns.nlevels == 2
    assert "share of the CNN's gain" in comparison.describe()
    # Real data: nothing planted in the measurements, the record or the heatmaps.
    real = aus_comparison.compare_models(
        "openface", {"AU model (openface)": model}, {"AU model (openface)": features}, labels, cnn
    )
    assert "coefficient_r" not in real.measurements(n_boot=50)
    assert set(real.measurements(n_boot=50)["au_model"]) == {"measured"}
    assert "coefficients_vs_planted" not in real.record()
    assert list(real.trait_matrices()) == ["correlation, OpenFace AUs (training clips)"]


def test_compare_au_model_fits_the_planted_model_only_beside_another_source(monkeypatch):
    rng = np.random.default_rng(22)
    model, features, labels, cnn = _comparison_inputs(rng)
    fitted = []

    def fake_fit(dataset, source, alphas=None, openface=None, reference="clip_median"):
        fitted.append((source, reference))
        return model, features

    monkeypatch.setattr(aus_comparison, "fit_dataset_au_model", fake_fit)
    stores = {
        split: types.SimpleNamespace(clip_labels=lambda s=split: labels[s]) for split in labels
    }
    dataset = types.SimpleNamespace(synthetic=True, store=stores.get)
    both = aus_comparison.compare_au_model(
        dataset, cnn, "landmarks", reference="population", n_boot=50
    )
    assert fitted == [("landmarks", "population"), ("truth", "clip_median")]
    assert list(both.models) == ["AU model (landmarks)", "AU model (planted AUs)"]
    fitted.clear()
    alone = aus_comparison.compare_au_model(dataset, cnn, "truth", n_boot=50)
    assert fitted == [("truth", "clip_median")] and list(alone.models) == ["AU model (truth)"]
    assert alone.record()["au_model_planted_aus_accuracy"] is None


def test_a_glasses_covariate_takes_away_what_glasses_carry():
    """Conscientiousness built on glasses alone, and AUs that merely echo the glasses: once
    glasses are a covariate the AUs add nothing on it."""
    rng = np.random.default_rng(5)
    _model, features, labels, cnn = _comparison_inputs(rng)
    flags = {}
    for split in ("train", "validation", "test"):
        # Clip names unique across the splits, as real ones are ("train" and "test" share a
        # first letter in the helper's names).
        names = [f"{split}-{name}" for name in labels[split].index]
        labels[split].index = features[split].index = names
        if split == "test":
            cnn.predictions.index = names
        wears = rng.random(len(labels[split])) < 0.4
        flags.update(dict(zip(labels[split].index, wears, strict=True)))
        labels[split]["conscientiousness"] = 0.4 + 0.2 * wears + rng.normal(0, 0.01, len(wears))
        # an AU that reads the glasses, as dlib's landmarks do
        features[split]["AU23"] = wears + rng.normal(0, 0.05, len(wears))
    refit = traits.fit_au_ridge(
        features["train"],
        labels["train"],
        features["validation"],
        labels["validation"],
        features["test"],
        labels["test"],
    )
    name = "AU model (landmarks)"
    comparison = aus_comparison.compare_models(
        "landmarks", {name: refit}, {name: features}, labels, cnn, n_boot=100, seed=1
    )
    covariate = aus_comparison.glasses_covariate(comparison, flags, n_boot=200, seed=1)
    gap = covariate.beyond_glasses["measured"]
    assert abs(gap["value"]) < 0.005 and gap["low"] < 0.005  # nothing beyond glasses
    table = covariate.accuracy
    assert {"glasses alone", f"{name} + glasses", "constant (training mean)"} <= set(table.index)
    assert (
        table.loc["glasses alone", "conscientiousness"]
        > table.loc["constant (training mean)", "conscientiousness"]
    )
    assert set(covariate.measurements()["au_beyond_glasses"]) == {"measured"}
