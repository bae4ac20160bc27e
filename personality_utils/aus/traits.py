"""From action units to traits (chapter 07): the paper's linear model on the clip-mean AU
intensities (here a ridge regression with its penalty chosen on validation), the model beside the
face CNN and the constant prediction, its coefficients against the synthetic set's planted
weights, and the trait x AU correlations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from personality_utils.aus.estimator import clip_means, split_intensities
from personality_utils.aus.openface import AU_COLUMNS
from personality_utils.core import paper, stats
from personality_utils.core.planted import TRAIT_WEIGHTS
from personality_utils.core.stats import N_RESAMPLES, trait_accuracy
from personality_utils.core.vocabulary import TRAITS

__all__ = [
    "AUModelComparison",
    "RidgeResult",
    "compare_au_model",
    "compare_models",
    "compare_with_planted",
    "coefficient_r",
    "GlassesCovariate",
    "glasses_covariate",
    "fit_au_ridge",
    "fit_dataset_au_model",
    "paper_gain_share",
    "paper_record",
    "planted_weights",
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
    planted = planted_weights().loc[traits, columns]
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
    planted = planted_weights().reindex(index=traits, columns=columns).fillna(0.0).to_numpy()
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


def planted_weights() -> pd.DataFrame:
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
    constant = paper.REAL_CONSTANT["test"]
    return (paper.AU_MODEL_ACCURACY - constant) / (paper.TABLE1["face"]["MA"] - constant)


def paper_record() -> dict[str, float]:
    """The paper's figures that the chapter saves beside its AU model."""
    return {
        "au_model_accuracy": paper.AU_MODEL_ACCURACY,
        "danplus_faces_accuracy": paper.TABLE1["face"]["MA"],
        "constant_baseline_accuracy_real": paper.REAL_CONSTANT["test"],
        "au_model_gain_share": paper_gain_share(),
    }


_SOURCE_LABELS = {
    "landmarks": "AUs from dlib's landmarks",
    "openface": "OpenFace AUs",
    "truth": "planted AUs",
}
_CNN, _CONSTANT = "DAN+ face CNN (chapter 4)", "constant (training mean)"


@dataclass
class AUModelComparison:
    """The AU model beside the face CNN and the constant prediction (:func:`compare_models`).

    Attributes:
        au_source: Where the AU features come from.
        models: Name -> fitted model: ``AU model (<source>)`` first, then on the synthetic set
            (another source) ``AU model (planted AUs)``.
        features: Model name -> split -> its clip-mean AU features.
        labels: Split -> clip labels.
        cnn: The face CNN's scored test clips (``predictions`` and ``metrics``, e.g.
            ``Experiment.test.all``).
        accuracy_table: Per model, the constant and the paper's rows: mean accuracy, mean R²
            and the ridge penalty.
        differences: Paired bootstrap differences of mean accuracy
            (:func:`~personality_utils.core.stats.paired_difference`): AU model − constant, AU model
            − CNN, CNN − constant.
        interval: The AU model's accuracy intervals
            (:func:`~personality_utils.core.stats.accuracy_intervals`).
        gain_share: The share of the CNN's gain over the constant that the AU model recovers.
        synthetic: Whether the labels were planted (then the planted weights are known).
        cnn_seeds: The face CNN's test predictions once per training seed (the claims' CNN
            gain is their mean); None: ``cnn`` alone.
    """

    au_source: str
    models: dict[str, RidgeResult]
    features: dict[str, dict[str, pd.DataFrame]]
    labels: dict[str, pd.DataFrame]
    cnn: Any
    accuracy_table: pd.DataFrame
    differences: dict[str, dict]
    interval: pd.DataFrame
    gain_share: float
    synthetic: bool
    cnn_seeds: list[pd.DataFrame] | None = None

    @property
    def name(self) -> str:
        """The AU model's name: ``AU model (<source>)``."""
        return f"AU model ({self.au_source})"

    @property
    def au_model(self) -> RidgeResult:
        """The model on the source's AUs."""
        return self.models[self.name]

    def describe(self) -> str:
        """Clips without a face, features dropped, the paired differences and the gain share."""
        test_clips = self.labels["test"].index
        features = self.features[self.name]["test"].reindex(test_clips)
        no_face = int(features.isna().all(axis=1).sum())
        lines = [
            f"test clips {len(test_clips)}, of which {no_face} have no face (training mean); "
            f"AU features dropped (no value in training): {list(self.au_model.dropped) or 'none'}"
        ]
        lines += [
            f"{name}: {d['difference']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] "
            f"(paired bootstrap over {d['people']} people, {d['clips']} clips)"
            for name, d in self.differences.items()
        ]
        lines.append(
            "share of the CNN's gain over the constant that the AU model recovers: "
            f"{self.gain_share:.2f} (the paper's figures with the real constant: "
            f"{paper_gain_share():.2f})"
        )
        return "\n".join(lines)

    def per_trait(self) -> pd.DataFrame:
        """Test accuracy per trait of every AU model, the CNN and the constant."""
        labels = self.labels
        return pd.DataFrame(
            {
                **{name: model.accuracy[list(TRAITS)] for name, model in self.models.items()},
                "DAN+ face CNN": self.cnn.metrics.loc[list(TRAITS), "accuracy"],
                "constant": stats.constant_baseline(labels["train"], labels["test"])[list(TRAITS)],
            }
        )

    def trait_matrices(self) -> dict[str, pd.DataFrame]:
        """Traits x AUs matrices for heatmaps: the correlation of each trait with each
        clip-mean AU over the training clips, and on the synthetic set the same from the planted
        AUs and the planted weights (:func:`planted_weights`)."""
        train = self.labels["train"]
        label = _SOURCE_LABELS[self.au_source]
        matrices = {
            f"correlation, {label} (training clips)": trait_au_correlation(
                self.features[self.name]["train"], train
            )
        }
        if self.synthetic:
            planted = self.features.get("AU model (planted AUs)")
            if planted is not None:
                matrices["correlation, planted AUs (training clips)"] = trait_au_correlation(
                    planted["train"], train
                )
            matrices["planted weights of the labels"] = planted_weights()
        return matrices

    def planted_comparison(self) -> pd.DataFrame:
        """:func:`compare_with_planted` of every model, side by side (the synthetic set)."""
        return pd.concat(
            {name: compare_with_planted(m.coefficients) for name, m in self.models.items()},
            axis=1,
        )

    def constant_accuracy(self) -> float:
        """The constant prediction's mean test accuracy."""
        return float(self.accuracy_table.loc[_CONSTANT, "mean accuracy"])

    def sources(self) -> dict[str, str]:
        """The claims' AU sources and the model of each: ``measured`` (the chapter's source)
        and, on the synthetic set with another source, ``planted``."""
        out = {"measured": self.name}
        if "AU model (planted AUs)" in self.models and self.name != "AU model (planted AUs)":
            out["planted"] = "AU model (planted AUs)"
        return out

    def measurements(self, n_boot: int = N_RESAMPLES, seed: int = 0) -> dict[str, Any]:
        """What :mod:`~personality_utils.claims.catalogue` judges of the AU models (chapter 07): per
        source, the accuracy, the paired gain over the constant and the share of the face
        CNN's gain (the mean over its training seeds) it recovers, with intervals; the CNN's
        gain; on the synthetic set the measured model's coefficients against the planted
        weights, with an interval."""
        train, test = self.labels["train"], self.labels["test"]
        constant = stats.constant_predictions(train, test.index)
        cnn = self.cnn_seeds or [self.cnn.predictions]
        out: dict[str, Any] = {"au_model": {}}
        for source, name in self.sources().items():
            model = self.models[name]
            out["au_model"][source] = {
                "accuracy": float(model.accuracy["mean"]),
                "gain_over_constant": stats.as_estimate(
                    stats.paired_difference(
                        model.predictions, constant, test, n_resamples=n_boot, seed=seed
                    )
                ),
                "gain_share": stats.gain_share(model.predictions, cnn, test, train, n_boot, seed),
            }
        out["cnn_gain"] = stats.as_estimate(
            stats.paired_difference(cnn, constant, test, n_resamples=n_boot, seed=seed)
        )
        out["cnn_seeds"] = len(cnn)
        if self.synthetic:
            out["coefficient_r"] = coefficient_r(
                self.au_model, self.features[self.name]["train"], train, n_boot, seed
            )
        return out

    def record(self) -> dict[str, Any]:
        """What the chapter saves of the AU model and its comparison."""
        model, metrics = self.au_model, self.cnn.metrics
        out = {
            "au_model_accuracy": float(model.accuracy["mean"]),
            "au_model_accuracy_interval": [
                float(v) for v in self.interval.loc["mean", ["low", "high"]]
            ],
            "au_model_gain_share": float(self.gain_share),
            "au_model_per_trait_accuracy": model.accuracy[list(TRAITS)],
            "au_model_r2": float(model.r2["mean"]),
            "au_model_alpha": float(model.alpha),
            "constant_baseline_accuracy": self.constant_accuracy(),
            "cnn_accuracy": float(metrics.loc["mean", "accuracy"]),
            "cnn_r2": float(metrics.loc["mean", "r2"]),
            "accuracy_differences": self.differences,
            "trait_au_correlation": next(iter(self.trait_matrices().values())),
        }
        if self.synthetic:
            planted = self.models.get("AU model (planted AUs)")
            out["au_model_planted_aus_accuracy"] = (
                None if planted is None else float(planted.accuracy["mean"])
            )
            out["coefficients_vs_planted"] = {
                name: compare_with_planted(m.coefficients).loc["overall"].to_dict()
                for name, m in self.models.items()
            }
        return out


def compare_models(
    au_source: str,
    models: dict[str, RidgeResult],
    features: dict[str, dict[str, pd.DataFrame]],
    labels: dict[str, pd.DataFrame],
    cnn,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
    synthetic: bool = False,
    cnn_seeds: Sequence[pd.DataFrame] | None = None,
) -> AUModelComparison:
    """Set fitted AU models beside the face CNN and the constant prediction (the training
    mean) on the same test clips: mean accuracy and R², paired bootstrap differences over people,
    and the share of the CNN's gain over the constant that the AU model recovers.

    Args:
        au_source: The AU source; ``models`` holds ``AU model (<au_source>)``.
        models, features: Model name -> model, and -> split -> features (as
            :func:`fit_dataset_au_model` returns them).
        labels: ``train`` and ``test`` clip labels (and ``validation``).
        cnn: The CNN's scored test clips: ``predictions`` (clips x traits) and ``metrics``
            (:func:`~personality_utils.core.stats.regression_metrics`).
        n_boot: Bootstrap resamples.
        seed: Seed of the resampling.
        synthetic: Whether the labels were planted.
        cnn_seeds: The CNN's test predictions once per training seed (see
            :class:`AUModelComparison`).
    """
    train, test = labels["train"], labels["test"]
    constant = stats.constant_predictions(train, test.index)
    au_model = models[f"AU model ({au_source})"]
    table = pd.DataFrame(
        {
            **{
                name: {
                    "mean accuracy": m.accuracy["mean"],
                    "mean R²": m.r2["mean"],
                    "alpha": m.alpha,
                }
                for name, m in models.items()
            },
            _CNN: {
                "mean accuracy": cnn.metrics.loc["mean", "accuracy"],
                "mean R²": cnn.metrics.loc["mean", "r2"],
            },
            _CONSTANT: {
                "mean accuracy": stats.constant_baseline(train, test)["mean"],
                "mean R²": r2_by_trait(constant, test)["mean"],
            },
            "paper: AU model": {"mean accuracy": paper.AU_MODEL_ACCURACY},
            "paper: DAN+ faces": {"mean accuracy": paper.TABLE1["face"]["MA"]},
            "real test set: constant": {"mean accuracy": paper.REAL_CONSTANT["test"]},
        }
    ).T

    def paired(a: pd.DataFrame, b: pd.DataFrame) -> dict:
        return stats.paired_difference(a, b, test, n_resamples=n_boot, seed=seed)

    accuracy = table["mean accuracy"]
    return AUModelComparison(
        au_source=au_source,
        models=models,
        features=features,
        labels=labels,
        cnn=cnn,
        accuracy_table=table,
        differences={
            "AU model − constant": paired(au_model.predictions, constant),
            "AU model − DAN+ face CNN": paired(au_model.predictions, cnn.predictions),
            "DAN+ face CNN − constant": paired(cnn.predictions, constant),
        },
        interval=stats.accuracy_intervals(
            au_model.predictions, test, n_resamples=n_boot, seed=seed
        ),
        gain_share=float(
            (accuracy[f"AU model ({au_source})"] - accuracy[_CONSTANT])
            / (accuracy[_CNN] - accuracy[_CONSTANT])
        ),
        synthetic=synthetic,
        cnn_seeds=None if cnn_seeds is None else list(cnn_seeds),
    )


def compare_au_model(
    dataset,
    cnn,
    au_source: Literal["openface", "landmarks", "truth"],
    alphas: Sequence[float] | np.ndarray | None = None,
    openface: str | os.PathLike | Mapping[str, str | os.PathLike] | None = None,
    reference: Literal["clip_median", "population"] = "clip_median",
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
    cnn_seeds: Sequence[pd.DataFrame] | None = None,
) -> AUModelComparison:
    """The paper's AU model on a dataset (:func:`fit_dataset_au_model`), on the synthetic set
    also the same model on the planted AUs, set beside the face CNN ``cnn`` (and its other
    training seeds' test predictions, ``cnn_seeds``) and the constant (:func:`compare_models`)."""
    name = f"AU model ({au_source})"
    model, features = fit_dataset_au_model(dataset, au_source, alphas, openface, reference)
    models, all_features = {name: model}, {name: features}
    if dataset.synthetic and au_source != "truth":
        planted = "AU model (planted AUs)"
        models[planted], all_features[planted] = fit_dataset_au_model(dataset, "truth", alphas)
    labels = {
        split: dataset.store(split).clip_labels() for split in ("train", "validation", "test")
    }
    return compare_models(
        au_source,
        models,
        all_features,
        labels,
        cnn,
        n_boot,
        seed,
        synthetic=dataset.synthetic,
        cnn_seeds=cnn_seeds,
    )


# ----------------------------------------------------------------------------------------------
# The glasses confound (synthetic set)
# ----------------------------------------------------------------------------------------------


@dataclass
class GlassesCovariate:
    """The AU models refitted with glasses as a covariate (:func:`glasses_covariate`).

    Attributes:
        accuracy: Per model (rows: each source's AU model, the same with glasses, glasses
            alone, the constant) and trait (columns, plus ``mean``), the test accuracy.
        beyond_glasses: Per source, the paired difference of conscientiousness accuracy, AUs
            with glasses minus glasses alone (people resampled): what the AUs add once glasses
            are known, on the trait glasses drive.
        trait: The trait (conscientiousness: glasses carry most of its planted signal).
    """

    accuracy: pd.DataFrame
    beyond_glasses: dict[str, dict]
    trait: str = "conscientiousness"

    def measurements(self) -> dict[str, Any]:
        """What the claims read: ``au_beyond_glasses`` per source."""
        return {"au_beyond_glasses": self.beyond_glasses, "au_beyond_glasses_trait": self.trait}

    def description(self) -> str:
        return f"{self.trait} accuracy, AUs with glasses minus glasses alone: " + ", ".join(
            f"{source} {d['value']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
            for source, d in self.beyond_glasses.items()
        )


def _with_glasses(features: pd.DataFrame, flags: Mapping[str, float]) -> pd.DataFrame:
    out = features.copy()
    out["glasses"] = [float(flags[clip]) for clip in out.index]
    return out


def glasses_covariate(
    comparison: AUModelComparison,
    flags: Mapping[str, float],
    alphas: Sequence[float] | np.ndarray | None = None,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
    trait: str = "conscientiousness",
) -> GlassesCovariate:
    """Each source's AU model refitted with the clip's glasses as one more feature, and a model
    of glasses alone, scored on the same test clips: if the AUs' gain on ``trait`` is glasses
    read through the landmarks (glasses move dlib's points,
    :func:`~personality_utils.data.synthetic.truth.
    glasses_landmark_shift`), it vanishes once glasses are a covariate.

    Args:
        comparison: :func:`compare_au_model` on the synthetic set.
        flags: Whether each clip's person wears glasses (every split's clips).
    """
    labels = comparison.labels
    train, validation, test = labels["train"], labels["validation"], labels["test"]
    rows = {}
    beyond = {}

    def glasses_only(split: str) -> pd.DataFrame:
        index = labels[split].index
        return pd.DataFrame({"glasses": [float(flags[c]) for c in index]}, index=index)

    # One feature needs no penalty; a penalty chosen jointly over the five traits, four of which
    # glasses do not drive, would shrink it and flatter the AUs.
    alone = fit_au_ridge(
        glasses_only("train"),
        train,
        glasses_only("validation"),
        validation,
        glasses_only("test"),
        test,
        [1e-6],
    )
    for source, name in comparison.sources().items():
        features = comparison.features[name]
        model = fit_au_ridge(
            _with_glasses(features["train"], flags),
            train,
            _with_glasses(features["validation"], flags),
            validation,
            _with_glasses(features["test"].reindex(test.index), flags),
            test,
            alphas,
        )
        rows[name] = comparison.models[name].accuracy
        rows[f"{name} + glasses"] = model.accuracy
        beyond[source] = stats.as_estimate(
            stats.paired_difference(
                model.predictions,
                alone.predictions,
                test,
                n_resamples=n_boot,
                seed=seed,
                trait=trait,
            )
        )
    rows["glasses alone"] = alone.accuracy
    rows["constant (training mean)"] = stats.constant_baseline(train, test)
    table = pd.DataFrame(rows).T[[*TRAITS, "mean"]].astype(float)
    return GlassesCovariate(table, beyond, trait)
