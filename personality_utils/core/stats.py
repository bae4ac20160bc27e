"""Statistics in one place: the challenge's accuracy and the regression measures beside it,
bootstrap intervals, paired differences, permutation nulls and the Benjamini-Hochberg correction.

Every chapter's intervals and tests come from here. Clip-level intervals resample *people*
(YouTube ids) by default: the clips of one person share a face, a room and a voice, so they are not
independent, and First Impressions has about three clips per person (chapter 01).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from personality_utils.core.vocabulary import TRAITS, DataError, video_id

__all__ = [
    "LEVEL",
    "N_RESAMPLES",
    "accuracy_intervals",
    "as_estimate",
    "benjamini_hochberg",
    "bootstrap_interval",
    "cluster_weights",
    "estimate",
    "gap_to_others",
    "gain_share",
    "weighted_means",
    "constant_baseline",
    "constant_predictions",
    "gain_over_constant",
    "model_measurements",
    "paired_difference",
    "paired_permutation_test",
    "people",
    "percentile_interval",
    "permutation_p_value",
    "regression_metrics",
    "trait_accuracy",
]

#: Resamples of every bootstrap and permutation null, unless a caller asks otherwise.
N_RESAMPLES = 2000
#: Coverage of every interval.
LEVEL = 0.95


# ----------------------------------------------------------------------------------------------
# The challenge's measure and the regression measures
# ----------------------------------------------------------------------------------------------


def trait_accuracy(predicted: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """Accuracy per trait, ``mean over clips of 1 - |pred - truth|``, plus ``mean`` (the MA).

    Both frames are indexed by clip and have the trait columns; they are aligned by clip name.

    Raises:
        DataError: If a clip of ``truth`` has no prediction.
    """
    missing = truth.index.difference(predicted.index)
    if len(missing):
        raise DataError(f"no prediction for {len(missing)} clips, e.g. {missing[0]}")
    errors = (predicted.loc[truth.index, list(TRAITS)] - truth[list(TRAITS)]).abs()
    accuracy = 1.0 - errors.mean(axis=0)
    accuracy["mean"] = accuracy[list(TRAITS)].mean()
    return accuracy


def constant_baseline(train: pd.DataFrame, evaluate: pd.DataFrame) -> pd.Series:
    """Score the constant predictor (the training mean of each trait) on ``evaluate``."""
    return trait_accuracy(constant_predictions(train, evaluate.index), evaluate)


def regression_metrics(predicted: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Per trait: accuracy (1 - MAE), R², Pearson r and Lin's concordance correlation, plus their
    mean over the traits (row ``mean``)."""
    from scipy import stats

    truth = truth.loc[:, list(TRAITS)]
    predicted = predicted.loc[truth.index, list(TRAITS)]
    accuracy = trait_accuracy(predicted, truth)
    rows = {}
    for trait in TRAITS:
        y, p = truth[trait].to_numpy(float), predicted[trait].to_numpy(float)
        # ptp, not std: the std of equal values can come out above 0 by rounding.
        r = float(stats.pearsonr(p, y)[0]) if np.ptp(p) > 0 and np.ptp(y) > 0 else float("nan")
        ccc = 2 * np.cov(p, y, bias=True)[0, 1] / (p.var() + y.var() + (p.mean() - y.mean()) ** 2)
        rows[trait] = {
            "accuracy": float(accuracy[trait]),
            "r2": float(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum()),
            "pearson": r,
            "ccc": float(ccc),
        }
    table = pd.DataFrame(rows).T
    table.loc["mean"] = table.mean()
    return table


def estimate(value: float, low: float | None = None, high: float | None = None) -> dict:
    """A measurement as chapters save it for the claims
    (:mod:`personality_utils.claims.catalogue`): its
    value and, where there is one, its interval."""
    return {
        "value": float(value),
        "low": None if low is None else float(low),
        "high": None if high is None else float(high),
    }


def as_estimate(paired: dict) -> dict:
    """:func:`estimate` of a :func:`paired_difference` result."""
    return estimate(paired["difference"], paired["low"], paired["high"])


# ----------------------------------------------------------------------------------------------
# Bootstrap
# ----------------------------------------------------------------------------------------------


def people(clips: Sequence[str] | np.ndarray) -> np.ndarray:
    """The person (YouTube id) of each clip: the default cluster of clip-level intervals."""
    return np.array([video_id(str(clip)) for clip in clips])


def _percentiles(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail], axis=0)
    return low, high


def bootstrap_interval(
    values: np.ndarray,
    groups: np.ndarray | None = None,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> tuple[float, float, float]:
    """The mean of ``values`` with a percentile bootstrap interval.

    Without ``groups`` the items are resampled (``scipy.stats.bootstrap``, percentile method).
    With ``groups`` whole groups are (a cluster bootstrap): each draw picks as many groups as
    there are, with replacement, and takes the mean over all the items of the picked groups, so
    that items of one group (frames of a clip, clips of a person) do not narrow the interval.
    A share is the mean of an indicator. NaN values are dropped first.

    Returns:
        ``(mean, low, high)``; NaN three times when no value is left.
    """
    values = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(values)
    values = values[keep]
    if len(values) == 0:
        return (float("nan"),) * 3
    if len(values) == 1 or np.ptp(values) == 0:
        return (float(values.mean()),) * 3
    rng = np.random.default_rng(seed)
    if groups is None:
        from scipy.stats import bootstrap

        result = bootstrap(
            (values,),
            np.mean,
            n_resamples=n_resamples,
            confidence_level=level,
            method="percentile",
            random_state=rng,
        )
        interval = result.confidence_interval
        return float(values.mean()), float(interval.low), float(interval.high)
    _, codes = np.unique(np.asarray(groups)[keep], return_inverse=True)
    n_groups = codes.max() + 1
    sums = np.bincount(codes, weights=values, minlength=n_groups)
    sizes = np.bincount(codes, minlength=n_groups).astype(np.float64)
    picks = rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=n_resamples)
    draws = (picks @ sums) / (picks @ sizes)
    low, high = _percentiles(draws, level)
    return float(values.mean()), float(low), float(high)


def weighted_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row of ``weights`` (bootstrap draws, :func:`cluster_weights`), the weighted mean of
    each column of ``values`` (items, k) over its finite entries: (draws, k), NaN where a column
    has no finite entry with weight."""
    values = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(values)
    totals = weights @ np.where(valid, values, 0.0)
    counts = weights @ valid.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return totals / counts


def gap_to_others(
    values: np.ndarray,
    groups: np.ndarray,
    target: int,
    nearest: str = "min",
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> dict:
    """How far one column's mean is from the nearest of the others', with a cluster-bootstrap
    interval: ``mean[target] − min(others)`` (``nearest="min"``) or ``− max(others)``.

    Args:
        values: (items, k) with NaN where an item has no value for a column (e.g. the maps of
            each trait's own top frames, one column per trait).
        groups: The cluster of each item (people).
        target: The column tested.

    Returns:
        An :func:`estimate` record; NaN three times when a column has no finite value.
    """
    if nearest not in ("min", "max"):
        raise ValueError(f"nearest must be 'min' or 'max', got {nearest!r}")
    values = np.asarray(values, dtype=np.float64)
    reduce = np.nanmin if nearest == "min" else np.nanmax

    def gap(means: np.ndarray) -> np.ndarray:
        others = np.delete(means, target, axis=-1)
        return means[..., target] - reduce(others, axis=-1)

    point = weighted_means(values, np.ones((1, len(values))))[0]
    if not np.isfinite(point).all():
        return estimate(float("nan"))
    draws = gap(weighted_means(values, cluster_weights(groups, n_resamples, seed)))
    low, high = percentile_interval(draws[np.isfinite(draws)], level)
    return estimate(float(gap(point)), low, high)


def _clip_errors(predicted: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    truth = truth.loc[:, list(TRAITS)]
    return (predicted.loc[truth.index, list(TRAITS)] - truth).abs().to_numpy()


def cluster_weights(
    groups: np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> np.ndarray:
    """Cluster-bootstrap draws as weights: ``(n_resamples, items)``, how many times each item's
    group was picked when as many groups as there are are drawn with replacement. A weighted
    mean with one row of weights is the statistic of one bootstrap sample."""
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = codes.max() + 1
    rng = np.random.default_rng(seed)
    picks = rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=n_resamples)
    return picks[:, codes].astype(np.float64)


def percentile_interval(draws: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of bootstrap draws (of a scalar statistic)."""
    low, high = _percentiles(np.asarray(draws, dtype=np.float64), level)
    return float(low), float(high)


def _seed_list(predictions) -> list:
    """One model's clip predictions, or several (one per training seed), as a list."""
    return [predictions] if isinstance(predictions, pd.DataFrame) else list(predictions)


def _seed_means(
    errors: Sequence[np.ndarray], weights: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Per bootstrap draw, the mean error of one model: each seed's weighted mean over the
    drawn people (``weights``, :func:`cluster_weights`), averaged over as many seeds as there
    are, drawn with replacement (the seeds' own bootstrap). One seed: just the weighted mean.

    Args:
        errors: Per seed, (clips, k) errors.

    Returns:
        (draws, k).
    """
    per_seed = np.stack([weights @ e for e in errors]) / weights.sum(axis=1)[None, :, None]
    if len(errors) == 1:
        return per_seed[0]
    picks = rng.multinomial(len(errors), np.full(len(errors), 1 / len(errors)), len(weights))
    return np.einsum("rs,srk->rk", picks, per_seed) / len(errors)


def accuracy_intervals(
    predicted: pd.DataFrame | Sequence[pd.DataFrame],
    truth: pd.DataFrame,
    by_person: bool = True,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> pd.DataFrame:
    """Bootstrap intervals of the accuracy of each trait and of the mean accuracy, resampling
    people (``by_person``; the clips of one YouTube id go in or out together) or clips.

    ``predicted`` may be a list, one model per training seed: the accuracy is then the mean
    over the seeds and each draw also resamples the seeds (a two-level bootstrap), so the
    interval carries the training's variance as well as the clips'.

    Returns:
        ``low`` and ``high`` per trait and ``mean``.
    """
    errors = [_clip_errors(p, truth) for p in _seed_list(predicted)]
    groups = people(truth.index) if by_person else np.arange(len(truth))
    weights = cluster_weights(groups, n_resamples, seed)
    accuracy = 1 - _seed_means(errors, weights, np.random.default_rng(seed + 1))
    accuracy = np.column_stack([accuracy, accuracy.mean(axis=1)])
    low, high = _percentiles(accuracy, level)
    return pd.DataFrame({"low": low, "high": high}, index=[*TRAITS, "mean"])


def paired_difference(
    predictions_a: pd.DataFrame | Sequence[pd.DataFrame],
    predictions_b: pd.DataFrame | Sequence[pd.DataFrame],
    truth: pd.DataFrame,
    by_person: bool = True,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
    trait: str | None = None,
) -> dict:
    """Mean-accuracy difference A − B on the same clips, with a paired bootstrap interval.

    Each clip's error is its mean absolute error over the five traits (or over ``trait``
    alone); resampling people (or clips) keeps the pairing, so the interval is for the
    difference itself. Either side may be a list of models, one per training seed: its
    accuracy is then the mean over its seeds, and each draw resamples each side's seeds too,
    so that the interval accounts for seed variance as well as clip sampling.

    Returns:
        ``difference``, ``low``, ``high``, ``clips``, ``people`` and ``seeds`` (of A and B).
    """
    column = slice(None) if trait is None else [list(TRAITS).index(trait)]
    sides = [_seed_list(predictions_a), _seed_list(predictions_b)]
    errors = [
        [_clip_errors(p, truth)[:, column].mean(axis=1, keepdims=True) for p in side]
        for side in sides
    ]
    groups = people(truth.index) if by_person else np.arange(len(truth))
    weights = cluster_weights(groups, n_resamples, seed)
    rng = np.random.default_rng(seed + 1)
    draws = _seed_means(errors[1], weights, rng) - _seed_means(errors[0], weights, rng)
    low, high = _percentiles(draws[:, 0], level)
    difference = np.mean([e.mean() for e in errors[1]]) - np.mean([e.mean() for e in errors[0]])
    return {
        "difference": float(difference),
        "low": float(low),
        "high": float(high),
        "clips": len(truth),
        "people": len(np.unique(groups)),
        "seeds": [len(side) for side in sides],
    }


def constant_predictions(train: pd.DataFrame, clips) -> pd.DataFrame:
    """The constant predictor's predictions: the training mean of each trait for every clip."""
    means = train[list(TRAITS)].mean(axis=0)
    return pd.DataFrame([means.to_numpy()] * len(clips), index=clips, columns=list(TRAITS))


def gain_over_constant(
    predictions: pd.DataFrame | Sequence[pd.DataFrame],
    truth: pd.DataFrame,
    train: pd.DataFrame,
    **options,
) -> dict:
    """:func:`paired_difference` of a model against the constant predictor (the training mean)
    on ``truth``'s clips: how much the model adds, with its interval."""
    return paired_difference(
        predictions, constant_predictions(train, truth.index), truth, **options
    )


def model_measurements(
    predictions: pd.DataFrame | Sequence[pd.DataFrame],
    truth: pd.DataFrame,
    train: pd.DataFrame,
    seed: int = 0,
    unseen_clips: Sequence[str] | None = None,
) -> dict:
    """What the claims read of a model's clip predictions (chapters 03, 04 and 07): its mean
    accuracy with a person-bootstrap interval, the constant predictor's, and the paired gain
    over it (:func:`estimate` records). With ``unseen_clips`` (the clips of people never seen
    in training, at least three), also the gain on those alone and how many there are
    (``identity_disjoint_gain``, ``identity_disjoint_clips``)."""
    accuracy = float(np.mean([trait_accuracy(p, truth)["mean"] for p in _seed_list(predictions)]))
    interval = accuracy_intervals(predictions, truth, seed=seed).loc["mean"]
    out = {
        "accuracy": estimate(accuracy, interval["low"], interval["high"]),
        "constant": float(constant_baseline(train, truth)["mean"]),
        "gain_over_constant": as_estimate(gain_over_constant(predictions, truth, train, seed=seed)),
    }
    # Saved either way (None: too few clips of unseen people to measure it on this data), so the
    # record always has what the claims read.
    out["identity_disjoint_gain"] = out["identity_disjoint_clips"] = None
    if unseen_clips is not None and len(unseen_clips) >= 3:
        unseen = truth.loc[list(unseen_clips)]
        out["identity_disjoint_gain"] = as_estimate(
            gain_over_constant(predictions, unseen, train, seed=seed)
        )
        out["identity_disjoint_clips"] = len(unseen)
    return out


def gain_share(
    predictions: pd.DataFrame,
    reference: pd.DataFrame | Sequence[pd.DataFrame],
    truth: pd.DataFrame,
    train: pd.DataFrame,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> dict:
    """The share of a reference model's gain over the constant predictor that a model recovers,
    ``(MA − constant) / (MA_ref − constant)``, with a cluster-bootstrap interval over people
    (and over the reference's training seeds when it is a list: its gain is their mean).

    Returns:
        An :func:`estimate` record (draws whose reference gain is not above 0 are left out of
        the interval; NaN when the reference's own gain is not).
    """
    constant = constant_predictions(train, truth.index)
    errors = _clip_errors(predictions, truth).mean(axis=1, keepdims=True)
    reference_errors = [
        _clip_errors(p, truth).mean(axis=1, keepdims=True) for p in _seed_list(reference)
    ]
    constant_errors = _clip_errors(constant, truth).mean(axis=1, keepdims=True)
    point_reference = constant_errors.mean() - np.mean([e.mean() for e in reference_errors])
    if not point_reference > 0:
        return estimate(float("nan"))
    point = (constant_errors.mean() - errors.mean()) / point_reference
    weights = cluster_weights(people(truth.index), n_resamples, seed)
    totals = weights.sum(axis=1)
    base = (weights @ constant_errors)[:, 0] / totals
    gains = base - (weights @ errors)[:, 0] / totals
    reference_gains = (
        base - _seed_means(reference_errors, weights, np.random.default_rng(seed + 1))[:, 0]
    )
    keep = reference_gains > 0
    low, high = percentile_interval(gains[keep] / reference_gains[keep], level)
    return estimate(float(point), low, high)


def paired_differences(
    predictions_a: pd.DataFrame | Sequence[pd.DataFrame],
    predictions_b: pd.DataFrame | Sequence[pd.DataFrame],
    truth: pd.DataFrame,
    seed: int = 0,
) -> dict:
    """:func:`paired_difference` A − B on the mean accuracy (``mean``, the full record) and on
    each trait (``traits``, :func:`estimate` records)."""
    return {
        "mean": paired_difference(predictions_a, predictions_b, truth, seed=seed),
        "traits": {
            trait: as_estimate(
                paired_difference(predictions_a, predictions_b, truth, seed=seed, trait=trait)
            )
            for trait in TRAITS
        },
    }


# ----------------------------------------------------------------------------------------------
# Permutation nulls and multiple testing
# ----------------------------------------------------------------------------------------------


def permutation_p_value(observed: float, null: np.ndarray) -> float:
    """One-sided p of ``observed`` against a permutation null, ``(1 + #null ≥ observed) /
    (1 + n)``: never 0, and exact for a finite set of permutations drawn at random."""
    null = np.asarray(null, dtype=np.float64)
    return float((1 + np.count_nonzero(null >= observed)) / (1 + len(null)))


def _spread(samples: Sequence[np.ndarray], axis: int) -> np.ndarray:
    """Variance across conditions of each feature's condition mean, summed over features."""
    means = np.stack([np.mean(sample, axis=axis) for sample in samples])
    return means.var(axis=0).sum(axis=-1)


def paired_permutation_test(
    values: np.ndarray,
    statistic: Callable[..., np.ndarray] = _spread,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> dict:
    """Do conditions differ when each item is measured under all of them? (A paired design.)

    ``values[i, c, f]`` is feature f of item i under condition c (e.g. the share of a face
    crop's CAM mass on part f under trait c's map). The null shuffles the conditions *within*
    each item (``scipy.stats.permutation_test``, ``permutation_type="samples"``), so the
    differences between items, which every condition shares, never enter it. The default
    statistic is the variance across conditions of each feature's mean, summed over features.

    Returns:
        ``statistic``, ``p_value`` (one-sided: larger is more different) and ``resamples``.
    """
    from scipy.stats import permutation_test

    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3 or values.shape[1] < 2:
        raise ValueError(f"expected (items, conditions >= 2, features), got {values.shape}")
    samples = tuple(values[:, c, :] for c in range(values.shape[1]))
    result = permutation_test(
        samples,
        lambda *groups, axis: statistic(groups, axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="greater",
        random_state=np.random.default_rng(seed),
        axis=0,
    )
    return {
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
        "resamples": len(result.null_distribution),
    }


def benjamini_hochberg(p_values):
    """Benjamini-Hochberg adjusted p-values (q-values; ``scipy.stats.false_discovery_control``):
    reject where q <= the false-discovery level. NaN entries are left out (m counts the finite
    ones) and stay NaN. Returns the input's type (Series keep their index)."""
    from scipy.stats import false_discovery_control

    values = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    if finite.any():
        adjusted[finite] = false_discovery_control(values[finite], method="bh")
    if isinstance(p_values, pd.Series):
        return pd.Series(adjusted, index=p_values.index, name="q_value")
    return adjusted
