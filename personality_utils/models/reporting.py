"""What chapters 03 and 04 report from their experiments: the tables, Table 1 beside the
paper's, the results record, and the instrument checks later chapters rest on (detection
rate, gain over the constant, R² per trait).
"""

from __future__ import annotations

import pandas as pd

from personality_utils.core.paper import TABLE1, TABLE1_COLUMNS
from personality_utils.core.stats import (
    gain_over_constant,
)
from personality_utils.core.verdicts import DETECTION_GATE, instrument_check
from personality_utils.core.vocabulary import TRAITS
from personality_utils.models.experiments import Experiment, SeedRuns, pretrained_from
from personality_utils.models.training import (
    history_precision,
)

__all__ = [
    "detection_check",
    "gain_check",
    "model_instruments",
    "trait_r2",
    "summary_table",
    "results_record",
    "metrics_table",
    "subset_table",
    "table1",
]


def summary_table(
    experiments: dict[str, Experiment], split: str = "test", subset: str = "all"
) -> pd.DataFrame:
    """Rows of mean accuracy and per-trait accuracy (MA, O, C, E, A, N) for several runs."""
    rows = {}
    for name, experiment in experiments.items():
        accuracy = getattr(experiment.split(split), subset).metrics["accuracy"]
        rows[name] = {"MA": accuracy["mean"], **{t[0].upper(): accuracy[t] for t in TRAITS}}
    return pd.DataFrame(rows).T


def results_record(experiment: Experiment, split: str = "test") -> dict:
    """The headline figures of one run for ``book/results``: mean and per-trait accuracy, the
    constant baseline, R², Pearson r and CCC per trait, intervals, identity-disjoint scores."""
    scores = experiment.split(split)
    metrics = scores.all.metrics
    record = {
        "split": split,
        "clips": scores.all.clips,
        "mean_accuracy": scores.all.mean_accuracy,
        "mean_accuracy_interval": scores.all.intervals.loc["mean"].tolist(),
        "per_trait_accuracy": metrics.loc[list(TRAITS), "accuracy"].to_dict(),
        "constant_baseline_accuracy": scores.all.constant_accuracy,
        "r2": metrics.loc[list(TRAITS), "r2"].to_dict(),
        "pearson": metrics.loc[list(TRAITS), "pearson"].to_dict(),
        "ccc": metrics.loc[list(TRAITS), "ccc"].to_dict(),
        "fallback_clips": experiment.fallback_clips.get(split, 0),
        "config": experiment.config.to_dict(),
        "pretrained_from": pretrained_from(experiment.config),
        "epochs_seconds": float(experiment.history["seconds"].sum()),
        "precision": history_precision(experiment.history),
    }
    if scores.identity_disjoint is not None:
        record["identity_disjoint"] = {
            "clips": scores.identity_disjoint.clips,
            "mean_accuracy": scores.identity_disjoint.mean_accuracy,
            "constant_baseline_accuracy": scores.identity_disjoint.constant_accuracy,
        }
    return record


def metrics_table(experiments: dict[str, Experiment], split: str = "test") -> pd.DataFrame:
    """Accuracy, R², r and CCC per trait for several runs on one split, with the constant
    predictor's accuracy as a last row (chapters 03-04)."""
    scores = {name: run.split(split).all for name, run in experiments.items()}
    table = pd.concat({name: scored.metrics.T for name, scored in scores.items()})
    table.loc[("constant", "accuracy"), :] = next(iter(scores.values())).baseline
    return table


def subset_table(experiments: dict[str, Experiment], split: str = "test") -> pd.DataFrame:
    """Each run on every clip of a split and on its identity-disjoint clips (people never seen
    in training): clips, MA with its interval, the constant's MA and the mean R²."""
    rows = {}
    for name, run in experiments.items():
        scores = run.split(split)
        for subset in ("all", "identity_disjoint"):
            scored = getattr(scores, subset)
            if scored is None:
                continue
            rows[(name, subset)] = {
                "clips": scored.clips,
                "MA": scored.mean_accuracy,
                "MA 95% low": scored.intervals.loc["mean", "low"],
                "MA 95% high": scored.intervals.loc["mean", "high"],
                "constant MA": scored.constant_accuracy,
                "mean R²": scored.mean_r2,
            }
    return pd.DataFrame(rows).T


def table1(frames: Experiment | SeedRuns, faces: Experiment | SeedRuns) -> pd.DataFrame:
    """The paper's Table 1 (its rows, copied from :mod:`~personality_utils.core.paper`) above ours:
    DAN+ on full frames and on faces (the mean over training seeds when given
    :class:`SeedRuns`, with the spread of MA over seeds in ``MA sd``), and the constant
    predictor, on the test split."""
    rows_ours = {}
    for name, runs in (
        ("img (ours, DAN+ full frames)", frames),
        ("face (ours, DAN+ faces)", faces),
    ):
        runs = runs if isinstance(runs, SeedRuns) else SeedRuns({0: runs})
        table = summary_table({f"seed {k}": run for k, run in runs.runs.items()})
        label = f"{name[:-1]}, mean of {len(table)} seeds)" if len(table) > 1 else name
        rows_ours[label] = {**table.mean().to_dict(), "MA sd": table["MA"].std(ddof=1)}
    ours = pd.DataFrame(rows_ours).T
    first = faces.first if isinstance(faces, SeedRuns) else faces
    baseline = first.test.all.baseline
    constant = {"MA": baseline["mean"], **{t[0].upper(): baseline[t] for t in TRAITS}}
    paper_rows = pd.DataFrame(
        {f"{name} (paper)": row for name, row in TABLE1.items()}, index=list(TABLE1_COLUMNS)
    ).T
    rows = [paper_rows, ours, pd.DataFrame({"constant (ours, training mean)": constant}).T]
    return pd.concat(rows)[[*TABLE1_COLUMNS, "MA sd"]]


# ----------------------------------------------------------------------------------------------
# The instruments the later chapters' claims rest on
# ----------------------------------------------------------------------------------------------


def gain_check(
    dataset, run: Experiment, name: str = "model gain", split: str = "test", seed: int = 0
) -> dict:
    """A model's gain over the constant predictor as the instrument check of the chapters that
    read it (:func:`~personality_utils.core.verdicts.instrument_check`): passed when the paired
    interval (people resampled) lies above 0, so that its maps and units have something to
    show."""
    truth = dataset.store(split).clip_labels()
    train = dataset.store("train").clip_labels()
    scores = run.split(split).all
    gain = gain_over_constant(scores.predictions.loc[truth.index], truth, train, seed=seed)
    return instrument_check(
        name,
        gain["difference"],
        0.0,
        f"{split} MA − constant {gain['difference']:+.4f} [{gain['low']:+.4f}, "
        f"{gain['high']:+.4f}]",
        low=gain["low"],
    )


def detection_check(dataset, split: str = "test") -> dict:
    """dlib's detection rate on a split's sampled frames as an instrument check: passed when it
    finds a face in at least :data:`~personality_utils.core.verdicts.DETECTION_GATE` of them."""
    frames, faces = len(dataset.store(split)), len(dataset.faces(split))
    share = faces / frames if frames else float("nan")
    return instrument_check(
        "face detection",
        share,
        DETECTION_GATE,
        f"dlib found a face in {faces} of {frames} {split} frames ({share:.1%})",
    )


def trait_r2(run: Experiment, split: str = "test") -> dict[str, float]:
    """A model's R² per trait on a split (the R² gate of the later chapters' claims)."""
    metrics = run.split(split).all.metrics
    return {trait: float(metrics.loc[trait, "r2"]) for trait in TRAITS}


def model_instruments(dataset, runs: dict[str, Experiment], seed: int = 0) -> dict[str, dict]:
    """The instrument checks of a chapter that reads ``runs`` (``{instrument name: run}``,
    e.g. ``{"model gain": cam_frames, "face model gain": cam_faces}``): each model's gain over
    the constant and dlib's detection rate on the test frames."""
    checks = {name: gain_check(dataset, run, name, seed=seed) for name, run in runs.items()}
    checks["face detection"] = detection_check(dataset)
    return checks
