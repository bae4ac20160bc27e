"""From action units to traits (chapter 07): the paper's linear model on the clip-mean AU
intensities (here a ridge regression with its penalty chosen on validation), the model beside the
face CNN and the constant prediction, its coefficients against the synthetic set's planted
weights, and the trait x AU correlations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from personality_utils.aus.estimator import clip_means, split_intensities
from personality_utils.aus.openface import AU_COLUMNS
from personality_utils.core import paper, stats
from personality_utils.core.planted import TRAIT_WEIGHTS
from personality_utils.core.stats import N_RESAMPLES, trait_accuracy
from personality_utils.core.vocabulary import TRAITS

__all__ = [
    "RidgeResult",
    "compare_with_planted",
    "coefficient_r",
    "fit_au_ridge",
    "fit_dataset_au_model",
    "paper_gain_share",
    "paper_record",
    "planted_au_weights",
    "r2_by_trait",
    "trait_au_correlation",
]


@dataclass
class RidgeResult:
    """A ridge model from AU features to the five traits (see :func:`fit_au_ridge`).

    Attributes:
        alpha: The penalty chosen on validation.
        validation_mse: Validation mean squared error (averaged over traits) per alpha.
        coefficients: traits x features, per standard deviation of each feature.
        intercept: Per trait (the training mean, features being centred).
        feature_mean: Training means used to standardise.
        feature_std: Training standard deviations used to standardise.
        predictions: Test predictions, clipped to [0, 1] (the labels' range).
        accuracy: Per-trait accuracy and ``mean``
        (:func:`~personality_utils.core.stats.trait_accuracy`),
            when test labels were given.
        r2: Per-trait R^2 on the test set and their ``mean``, when test labels were given.
        dropped: Features left out because they had no value in training.
    """

    alpha: float
    validation_mse: pd.Series
    coefficients: pd.DataFrame
    intercept: pd.Series
    feature_mean: pd.Series
    feature_std: pd.Series
    predictions: pd.DataFrame
    accuracy: pd.Series | None
    r2: pd.Series | None
    dropped: tuple[str, ...]

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Predict the traits of new clips (same feature columns), clipped to [0, 1]."""
        columns = list(self.feature_mean.index)
        standard = ((features[columns] - self.feature_mean) / self.feature_std).fillna(0.0)
        raw = standard.to_numpy() @ self.coefficients.to_numpy().T + self.intercept.to_numpy()
        return pd.DataFrame(np.clip(raw, 0, 1), index=features.index, columns=list(TRAITS))


def r2_by_trait(predicted: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """R² of each trait on ``predicted``'s clips, 1 − Σ(truth − prediction)² / Σ(truth − its
    mean)², and their ``mean`` (the same values as
    :func:`~personality_utils.core.stats.regression_metrics`' ``r2``, without its other
    measures)."""
    truth = truth.loc[predicted.index, list(TRAITS)]
    residual = ((truth - predicted[list(TRAITS)]) ** 2).sum()
    total = ((truth - truth.mean()) ** 2).sum()
    r2 = 1 - residual / total
    r2["mean"] = r2[list(TRAITS)].mean()
    return r2


def fit_au_ridge(
    x_train: pd.DataFrame,
    y_train: pd.DataFrame,
    x_validation: pd.DataFrame,
    y_validation: pd.DataFrame,
    x_test: pd.DataFrame,
    y_test: pd.DataFrame | None = None,
    alphas: Sequence[float] | np.ndarray | None = None,
) -> RidgeResult:
    """Ridge regression from clip-level AU features to the five traits (the paper's "simple
    linear" AU model, with its penalty chosen on validation).

    Features are standardised with the training mean and standard deviation (features with
    no value in training, e.g. AU14 from the geometric estimator, are dropped; other missing
    values become the training mean). Targets are centred on the training mean, so the
    intercept is that mean. The closed form ``(X'X + alpha I)^-1 X'y`` is evaluated for every
    alpha through one SVD of the training design; the alpha with the lowest validation mean
    squared error over the five traits is kept, fitted on training only, and scored on test.

    Args:
        x_train, x_validation, x_test: Clips x features (e.g. :func:`clip_means`).
        y_train, y_validation: Clips x traits (the five
        :data:`~personality_utils.core.vocabulary.TRAITS`).
        y_test: Test labels, to report accuracy and R^2 (optional).
        alphas: Penalties to try (default ``logspace(-3, 5, 33)``).

    Returns:
        A :class:`RidgeResult`.
    """
    alphas = np.logspace(-3, 5, 33) if alphas is None else np.asarray(alphas, dtype=np.float64)
    traits = list(TRAITS)
    dropped = tuple(column for column in x_train.columns if x_train[column].notna().sum() == 0)
    columns = [column for column in x_train.columns if column not in dropped]
    mean = x_train[columns].mean()
    std = x_train[columns].std().replace(0, 1).fillna(1)

    def design(features: pd.DataFrame) -> np.ndarray:
        return ((features[columns] - mean) / std).fillna(0.0).to_numpy(dtype=np.float64)

    train = design(x_train)
    y_train = y_train.loc[x_train.index, traits]  # aligned by clip name
    target_mean = y_train.mean()
    centred = (y_train - target_mean).to_numpy(dtype=np.float64)
    u, singular, vt = np.linalg.svd(train, full_matrices=False)
    projected = u.T @ centred
    validation = design(x_validation)
    validation_targets = y_validation.loc[x_validation.index, traits].to_numpy(dtype=np.float64)
    errors = []
    for alpha in alphas:
        coefficients = vt.T @ (projected * (singular / (singular**2 + alpha))[:, None])
        predicted = validation @ coefficients + target_mean.to_numpy()
        errors.append(float(((predicted - validation_targets) ** 2).mean()))
    errors = pd.Series(errors, index=pd.Index(alphas, name="alpha"), name="validation_mse")
    best = float(alphas[int(np.argmin(errors.to_numpy()))])
    coefficients = vt.T @ (projected * (singular / (singular**2 + best))[:, None])
    result = RidgeResult(
        alpha=best,
        validation_mse=errors,
        coefficients=pd.DataFrame(coefficients.T, index=traits, columns=columns),
        intercept=target_mean,
        feature_mean=mean,
        feature_std=std,
        predictions=pd.DataFrame(),
        accuracy=None,
        r2=None,
        dropped=dropped,
    )
    result.predictions = result.predict(x_test)
    if y_test is not None:
        result.accuracy = trait_accuracy(result.predictions, y_test.loc[x_test.index])
        result.r2 = r2_by_trait(result.predictions, y_test)
    return result


def fit_dataset_au_model(
    dataset,
    source: Literal["openface", "landmarks", "truth"],
    alphas: Sequence[float] | np.ndarray | None = None,
    openface: str | os.PathLike | Mapping[str, str | os.PathLike] | None = None,
    reference: Literal["clip_median", "population"] = "clip_median",
) -> tuple[RidgeResult, dict[str, pd.DataFrame]]:
    """The paper's AU model on a dataset (chapter 07): the clip means of each split's AU
    intensities (:func:`clip_means`) as features, :func:`fit_au_ridge` with the penalty chosen
    on validation, scored on every test clip (a clip with no face gets the training mean).

    Returns:
        The fitted model and the features per split.
    """
    splits = ("train", "validation", "test")
    labels = {split: dataset.store(split).clip_labels() for split in splits}
    features = {
        split: clip_means(
            split_intensities(dataset, split, source, openface, reference),
            dataset.faces(split).meta["clip"],
        )
        for split in splits
    }
    model = fit_au_ridge(
        features["train"],
        labels["train"],
        features["validation"],
        labels["validation"],
        features["test"].reindex(labels["test"].index),
        labels["test"],
        alphas,
    )
    return model, features


def compare_with_planted(coefficients: pd.DataFrame) -> pd.DataFrame:
    """Fitted AU coefficients against the planted weights of the synthetic labels.

    The planted weights (:data:`~personality_utils.core.planted.TRAIT_WEIGHTS`) act on
    standardised features, like the ridge coefficients; glasses and the context cue are
    independent of the AUs, so leaving them out only scales the AU weights. Scale-free
    comparisons are therefore used.

    Args:
        coefficients: traits x AU features (e.g. :attr:`RidgeResult.coefficients`).

    Returns:
        Indexed by trait plus ``overall`` (all trait x AU cells together): ``correlation``
        (Pearson r between fitted and planted weights over the AU columns, 0 where nothing is
        planted) and ``sign_agreement`` (share of planted non-zero weights whose fitted sign
        matches).
    """
    columns = [column for column in coefficients.columns if column in AU_COLUMNS]
    traits = [trait for trait in TRAITS if trait in coefficients.index]
    planted = planted_au_weights().loc[traits, columns]
    fitted = coefficients.loc[traits, columns].astype(float)

    def compare(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        nonzero = b != 0
        return {
            "correlation": float(np.corrcoef(a, b)[0, 1]) if a.std() and b.std() else np.nan,
            "sign_agreement": float((np.sign(a[nonzero]) == np.sign(b[nonzero])).mean())
            if nonzero.any()
            else np.nan,
        }

    rows = {
        trait: compare(fitted.loc[trait].to_numpy(), planted.loc[trait].to_numpy())
        for trait in traits
    }
    rows["overall"] = compare(fitted.to_numpy().ravel(), planted.to_numpy().ravel())
    return pd.DataFrame(rows).T


def coefficient_r(
    model: RidgeResult,
    x_train: pd.DataFrame,
    y_train: pd.DataFrame,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
) -> dict:
    """The overall Pearson r of a fitted AU model's coefficients with the planted weights
    (:func:`compare_with_planted`), with an interval: the training clips resampled by person
    and the model refitted on each draw at its chosen penalty (features standardised as the
    fit did, the intercept unpenalised).

    Returns:
        An :func:`~personality_utils.core.stats.estimate` record.
    """
    columns = list(model.feature_mean.index)
    traits = list(TRAITS)
    x = ((x_train[columns] - model.feature_mean) / model.feature_std).fillna(0.0).to_numpy()
    y = y_train.loc[x_train.index, traits].to_numpy(dtype=np.float64)
    point = float(compare_with_planted(model.coefficients).loc["overall", "correlation"])
    planted = planted_au_weights().reindex(index=traits, columns=columns).fillna(0.0).to_numpy()
    au = np.array([column in AU_COLUMNS for column in columns])
    penalty = model.alpha * np.eye(len(columns))
    draws = []
    for weights in stats.cluster_weights(stats.people(x_train.index), n_boot, seed):
        total = weights.sum()
        xc = x - weights @ x / total
        yc = y - weights @ y / total
        weighted = xc * weights[:, None]
        coefficients = np.linalg.solve(xc.T @ weighted + penalty, weighted.T @ yc).T
        fitted, truth = coefficients[:, au].ravel(), planted[:, au].ravel()
        if fitted.std() > 0:
            draws.append(float(np.corrcoef(fitted, truth)[0, 1]))
    low, high = stats.percentile_interval(np.array(draws))
    return stats.estimate(point, low, high)


def trait_au_correlation(
    au_clip: pd.DataFrame,
    labels: pd.DataFrame,
    method: Literal["pearson", "spearman"] = "pearson",
) -> pd.DataFrame:
    """Traits x AUs correlation matrix over the clips both tables hold (for a heatmap).

    Args:
        au_clip: Clips x AUs (e.g. :func:`clip_means`).
        labels: Clips x traits.
        method: ``"pearson"`` or ``"spearman"``.
    """
    common = au_clip.index.intersection(labels.index)
    if len(common) < 3:
        raise ValueError(f"only {len(common)} clips in common between AUs and labels")
    features = au_clip.loc[common]
    targets = labels.loc[common, list(TRAITS)]
    if method == "spearman":
        features, targets = features.rank(), targets.rank()
    elif method != "pearson":
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    return pd.DataFrame(
        {column: targets.corrwith(features[column]) for column in features.columns},
        index=list(TRAITS),
    )


def planted_au_weights() -> pd.DataFrame:
    """Traits x AUs, the planted weights of the synthetic labels on the standardised clip-mean
    AUs (:data:`~personality_utils.core.planted.TRAIT_WEIGHTS`, 0 where an AU has none)."""

    return pd.DataFrame(
        [[TRAIT_WEIGHTS[trait].get(column, 0.0) for column in AU_COLUMNS] for trait in TRAITS],
        index=list(TRAITS),
        columns=list(AU_COLUMNS),
    )


def paper_gain_share() -> float:
    """The share of its face CNN's gain over the constant that the paper's AU model recovers,
    with the real test set's constant: (0.886 − 0.8814) / (0.912 − 0.8814)."""
    return paper.gains_over_constant("test")["AU model share of the faces gain"]


def paper_record() -> dict[str, float]:
    """The paper's figures that the chapter saves beside its AU model."""
    return {
        "au_model_accuracy": paper.AU_MODEL_ACCURACY,
        "danplus_faces_accuracy": paper.TABLE1["face"]["MA"],
        "constant_baseline_accuracy_real": paper.REAL_CONSTANT["test"],
        "au_model_gain_share": paper_gain_share(),
    }
