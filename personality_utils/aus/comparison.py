"""The AU-only trait model against the CNN and the constant, on the measured and the
planted AUs, with person-cluster intervals, and with the glasses as a covariate (chapter 07's
second half).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from personality_utils.aus.traits import (
    RidgeResult,
    coefficient_r,
    compare_with_planted,
    fit_au_ridge,
    fit_dataset_au_model,
    paper_gain_share,
    planted_au_weights,
    r2_by_trait,
    trait_au_correlation,
)
from personality_utils.core import paper, stats
from personality_utils.core.stats import N_RESAMPLES
from personality_utils.core.vocabulary import TRAITS

__all__ = [
    "AUModelComparison",
    "compare_au_model",
    "compare_models",
    "GlassesCovariate",
    "glasses_covariate",
]


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
        AUs and the planted weights (:func:`~personality_utils.aus.traits.planted_au_weights`)."""
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
            matrices["planted weights of the labels"] = planted_au_weights()
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
    :func:`~personality_utils.aus.glasses.
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
