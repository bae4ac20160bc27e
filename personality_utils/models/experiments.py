"""Experiments: a model of chapters 03-07 trained on a dataset's frames or faces, and scored.

:func:`run_experiment` trains a model with :func:`~personality_utils.models.training.train_model`
(or reloads the finished checkpoint of the same recipe) and scores it on the validation and test
splits, all clips and the identity-disjoint ones, with the measures of :mod:`stats`; an
:class:`Experiment` holds the model and its :class:`Scores`. Tables of several experiments
(Table 1, metrics, identity-disjoint subsets) and the record chapters save are built here too.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from personality_utils.core.files import write_atomic
from personality_utils.core.profiles import TrainConfig, get_profile
from personality_utils.core.stats import (
    accuracy_intervals,
    constant_baseline,
    regression_metrics,
)
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.release import identity_disjoint_clips
from personality_utils.models.networks import is_identity_backbone
from personality_utils.models.pretraining import ensure_backbone
from personality_utils.models.pretraining import summary as pretraining_summary
from personality_utils.models.training import (
    TrainedModel,
    clip_predictions,
    config_for,
    load_trained,
    predict,
    train_model,
)
from personality_utils.models.variants import (
    VARIANTS,
    check_variant,
    variant_config,
    variant_labels,
)

__all__ = [
    "Scores",
    "SplitScores",
    "Experiment",
    "SeedRuns",
    "evaluate_model",
    "lane_share",
    "pretrained_from",
    "starting_weights",
    "training_plan",
    "experiment_dir",
    "score_splits",
    "split_predictions",
    "checkpoint_key",
    "run_experiment",
    "load_experiment",
]


@dataclass
class Scores:
    """A model's clip predictions scored on a set of clips (:func:`evaluate`).

    Attributes:
        predictions: One row per clip, the five traits.
        metrics: Per trait and ``mean``: accuracy, R², Pearson r, CCC
            (:func:`~personality_utils.core.stats.regression_metrics`).
        intervals: ``low`` / ``high`` of each trait's accuracy and of the mean, resampling
            people (:func:`~personality_utils.core.stats.accuracy_intervals`).
        baseline: The constant predictor's accuracy per trait and ``mean``.
        clips: How many clips.
    """

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    intervals: pd.DataFrame
    baseline: pd.Series
    clips: int

    @property
    def mean_accuracy(self) -> float:
        """The challenge's measure, MA."""
        return float(self.metrics.loc["mean", "accuracy"])

    @property
    def mean_r2(self) -> float:
        return float(self.metrics.loc["mean", "r2"])

    @property
    def constant_accuracy(self) -> float:
        """The constant predictor's MA on the same clips."""
        return float(self.baseline["mean"])


@dataclass
class SplitScores:
    """One split's scores: every clip, and the clips of people never seen in training (None
    when fewer than three)."""

    all: Scores
    identity_disjoint: Scores | None = None


@dataclass
class Experiment:
    """A trained model and its scores, as chapters 03-07 use it (:func:`run_experiment`).

    Attributes:
        trained: The model.
        config: Its recipe.
        history: One row per epoch (epoch, lr, loss, seconds).
        checkpoint: Its checkpoint folder.
        dropped_frames: Training frames without a face (face models).
        fallback_clips: Per split, clips with no usable frame, given the training mean.
        validation, test: The scored splits the dataset has (None when absent).
        variant: The control training it is (:mod:`~personality_utils.models.variants`), None
            for the chapters' own model.
    """

    trained: TrainedModel
    config: TrainConfig
    history: pd.DataFrame
    checkpoint: Path
    dropped_frames: int
    fallback_clips: dict[str, int]
    validation: SplitScores | None = None
    test: SplitScores | None = None
    variant: str | None = None

    def split(self, name: str) -> SplitScores | None:
        """``validation`` or ``test`` by name."""
        if name not in ("validation", "test"):
            raise ValueError(f"split must be 'validation' or 'test', got {name!r}")
        return getattr(self, name)


@dataclass
class SeedRuns:
    """One model trained once per training seed (chapters 03-04's DAN+), keyed by seed.

    Table 1 shows their mean and spread, and the faces-against-frames comparison resamples the
    seeds as well as the clips (:func:`~personality_utils.core.stats.paired_difference` with lists).
    The first seed's run is the one the other chapters read.
    """

    runs: dict[int, Experiment]

    @property
    def first(self) -> Experiment:
        """The first seed's run."""
        return next(iter(self.runs.values()))

    @property
    def seeds(self) -> list[int]:
        return list(self.runs)

    def predictions(self, split: str = "test") -> list[pd.DataFrame]:
        """Each seed's clip predictions on every clip of ``split``."""
        return [run.split(split).all.predictions for run in self.runs.values()]

    def table(self, split: str = "test") -> pd.DataFrame:
        """One row per seed (MA, mean R² and R² per trait), then their ``mean`` and ``sd``
        (sample standard deviation over seeds; NaN for one seed)."""
        rows = {}
        for seed, run in self.runs.items():
            metrics = run.split(split).all.metrics
            rows[f"seed {seed}"] = {
                "MA": float(metrics.loc["mean", "accuracy"]),
                "mean R²": float(metrics.loc["mean", "r2"]),
                **{f"R² {t}": float(metrics.loc[t, "r2"]) for t in TRAITS},
            }
        table = pd.DataFrame(rows).T
        spread = table.std(ddof=1) if len(table) > 1 else table.iloc[0] * np.nan
        return pd.concat([table, table.mean().to_frame("mean").T, spread.to_frame("sd").T])

    def record(self, split: str = "test") -> dict:
        """The results-file entry ``seeds``: per-seed and mean ``mean_accuracy`` and ``r2``,
        the spread over seeds and the constant predictor's accuracy."""
        table = self.table(split)
        per_seed = table.iloc[: len(self.runs)]
        return {
            "seeds": self.seeds,
            "mean_accuracy": dict(zip(self.seeds, per_seed["MA"].astype(float), strict=True)),
            "mean_accuracy_mean": float(table.loc["mean", "MA"]),
            "mean_accuracy_sd": float(table.loc["sd", "MA"]),
            "r2": {
                seed: {t: float(row[f"R² {t}"]) for t in TRAITS}
                for seed, (_, row) in zip(self.seeds, per_seed.iterrows(), strict=True)
            },
            "r2_mean": {t: float(table.loc["mean", f"R² {t}"]) for t in TRAITS},
            "per_trait_accuracy_mean": {
                t: float(
                    np.mean(
                        [r.split(split).all.metrics.loc[t, "accuracy"] for r in self.runs.values()]
                    )
                )
                for t in TRAITS
            },
            "constant_baseline_accuracy": self.first.split(split).all.constant_accuracy,
        }


def evaluate_model(
    trained: TrainedModel,
    images: np.ndarray,
    meta: pd.DataFrame,
    train_labels: pd.DataFrame,
    clips: pd.Index | None = None,
) -> Scores:
    """Score a model on a store: clip-level metrics, bootstrap intervals, constant baseline.

    Args:
        trained: The model.
        images: uint8 frames (or faces) of the evaluation split.
        meta: Their metadata rows (clip and trait columns).
        train_labels: Training clip labels (for the constant baseline).
        clips: Restrict to these clips (e.g. an identity-disjoint subset).
    """
    predictions = clip_predictions(meta, predict(trained, images))
    truth = meta.groupby("clip", sort=True)[list(TRAITS)].first()
    if clips is not None:
        truth = truth.loc[truth.index.intersection(clips)]
    return _score(predictions, truth, train_labels)


def _score(predictions: pd.DataFrame, truth: pd.DataFrame, train_labels: pd.DataFrame) -> Scores:
    """Clip predictions scored on ``truth``'s clips (see :func:`evaluate`)."""
    return Scores(
        predictions=predictions.loc[truth.index],
        metrics=regression_metrics(predictions, truth),
        intervals=accuracy_intervals(predictions, truth),
        baseline=constant_baseline(train_labels, truth),
        clips=len(truth),
    )


def source_arrays(dataset, split: str, source: str):
    """A split's images and metadata: the frame store (``frames``) or the face store
    (``faces``)."""
    if source == "frames":
        store = dataset.store(split)
        return store.frames, store.meta
    if source == "faces":
        store = dataset.faces(split)
        return store.crops, store.meta
    raise ValueError(f"source must be 'frames' or 'faces', got {source!r}")


def starting_weights(
    profile, backbone_weights: str | None = None, progress: bool = True
) -> str | None:
    """What chapters 03-04's models start from: ``backbone_weights`` when given (VGG-Face,
    the paper), else the profile's identity-pretrained backbone (the CPU profiles' VGG-Face,
    pretrained first if it is not cached), else None (random weights). A weight file's path is
    made absolute and resolved: the recipe a checkpoint records must be the same whether the
    file was named from the repository (``train``) or relative to a chapter's folder (the book
    passes its parameters that way), or the chapter would retrain over ``train``'s model."""
    if backbone_weights == "imagenet":
        return backbone_weights
    if backbone_weights is not None:
        return str(Path(backbone_weights).expanduser().resolve())
    path = ensure_backbone(get_profile(profile), progress=progress)
    return None if path is None else str(path)


def run_experiment(
    dataset,
    profile,
    source: str,
    kind: str,
    backbone_weights: str | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
    config: TrainConfig | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    variant: str | None = None,
) -> Experiment:
    """Train (or resume, or reload) one model on a dataset's train split and score it on
    validation and test, all clips and the identity-disjoint subset.

    Checkpoints live under ``<store_dir>/models/`` (:func:`experiment_dir`); a finished one is
    reused as it is. Clips with no usable frame (a face model on a clip where no face was found)
    get the training mean, so every model is scored on the same clips; how many is reported.
    ``config`` and ``checkpoint_dir`` override the profile's recipe and that folder
    (``python -m personality_utils train --batch-size/--out``).

    A ``variant`` (:mod:`~personality_utils.models.variants`) trains a control in a folder of
    its own: on the labels of :func:`~personality_utils.models.variants.variant_labels` (the
    permutation drawn with ``seed``) and from the weights of
    :func:`~personality_utils.models.variants.variant_config`; it is scored on the true labels
    of validation and test like any model. A ``config`` given with a variant is taken as the
    variant's recipe as it is (``train`` makes it with ``variant_config``); without
    ``checkpoint_dir`` its folder is then named from ``config.backbone_weights``.

    Returns:
        The :class:`Experiment`.
    """

    profile = get_profile(profile)
    check_variant(variant)
    if config is None:
        weights = starting_weights(profile, backbone_weights, progress)
        config = variant_config(config_for(profile, kind, weights, device, seed, source), variant)
    else:
        weights = config.backbone_weights
    images, meta = source_arrays(dataset, "train", source)
    train_store = dataset.store("train")
    if checkpoint_dir is None:
        folder = experiment_dir(dataset, profile, kind, source, seed, weights, variant)
    else:
        folder = Path(checkpoint_dir)
    labels = variant_labels(dataset, meta, meta[list(TRAITS)].to_numpy(), variant, seed)
    trained = train_model(config, images, labels, folder, progress=progress)
    return Experiment(
        trained=trained,
        config=config,
        history=pd.DataFrame(trained.history),
        checkpoint=folder,
        dropped_frames=int(len(train_store) - len(meta)),
        variant=variant,
        **score_splits(dataset, trained, source, folder),
    )


def training_plan(
    profile, seed: int = 0, synthetic: bool = True
) -> list[tuple[str, str, int, str | None]]:
    """The models the chapters read, as ``(kind, source, training seed, variant)``: DAN+ and
    the profile's CAM model on frames and on faces with the first seed, then DAN+ on both with
    each further seed of the profile (``seeds``), all with variant None; then, when the
    profile's ``attribution_controls`` is set, the CAM model's control trainings on frames with
    the first seed (:data:`~personality_utils.models.variants.VARIANTS`; ``no_poster`` only
    when the data are ``synthetic``: it needs their ground truth). ``make models`` trains them
    before the chapters run; a chapter trains a missing one on first use."""
    profile = get_profile(profile)
    jobs: list[tuple[str, str, int, str | None]] = [
        ("danplus", "frames", seed, None),
        (profile.cam_kind, "frames", seed, None),
        ("danplus", "faces", seed, None),
        (profile.cam_kind, "faces", seed, None),
    ]
    for extra in range(seed + 1, seed + profile.seeds):
        jobs += [("danplus", "frames", extra, None), ("danplus", "faces", extra, None)]
    if profile.attribution_controls:
        jobs += [
            (profile.cam_kind, "frames", seed, variant)
            for variant in VARIANTS
            if synthetic or variant != "no_poster"
        ]
    return jobs


def lane_share(jobs: list, lanes: int, lane: int) -> list:
    """The jobs of one of ``lanes`` lanes: every ``lanes``-th job from the ``lane``-th on, so
    lanes get equal counts of similar jobs."""
    if not 0 <= lane < max(lanes, 1):
        raise ValueError(f"lane must be in 0..{lanes - 1}, got {lane}")
    return jobs[lane :: max(lanes, 1)]


def experiment_dir(
    dataset,
    profile,
    kind: str,
    source: str,
    seed: int = 0,
    backbone_weights: str | None = None,
    variant: str | None = None,
) -> Path:
    """The checkpoint folder :func:`run_experiment` uses for one model of a dataset.

    Models started from pretrained weights get a folder of their own (``-imagenet``, or ``-w``
    and a hash of the weights file's path), so that a run with other weights never retrains
    over an earlier model. A control training (``variant``) adds ``-<variant>``, so it never
    shares a folder with the chapters' own model; ``backbone_weights`` is then what the
    chapters' own model starts from (a ``random_init`` model keeps that model's network).
    """
    import hashlib

    check_variant(variant)
    name = f"{get_profile(profile).name}-{kind}-{source}-seed{seed}"
    if backbone_weights == "imagenet":
        name += "-imagenet"
    elif backbone_weights is not None:
        resolved = str(Path(backbone_weights).expanduser().resolve())
        name += "-w" + hashlib.sha1(resolved.encode()).hexdigest()[:8]
    if variant is not None:
        name += f"-{variant}"
    return dataset.store_dir / "models" / name


def checkpoint_key(checkpoint: str | os.PathLike) -> str:
    """A cache key for a model checkpoint (a folder with ``checkpoint.pt``, or a file such as a
    store's images): its path, modification time and size, so retraining (or rebuilding the
    store) makes what was cached from it stale."""
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "checkpoint.pt"
    info = path.stat()
    return f"{path.resolve()}|{info.st_mtime_ns}|{info.st_size}"


def split_predictions(
    trained: TrainedModel,
    images: np.ndarray,
    checkpoint_dir: str | os.PathLike | None,
    name: str,
) -> np.ndarray:
    """:func:`predict` over a store's images, kept beside the model's checkpoint.

    The book scores each model in several chapters (3, 4 and 5 reload the same four models,
    chapters 6 and 7 the face DAN+), each time over the same validation and test stores. The
    predictions go to ``<checkpoint_dir>/predictions-<name>.npz`` and are reused while the
    checkpoint file and the memory-mapped images are the same files (path, modification time,
    size) and the same number of images; otherwise they are computed again and replace it.
    Without a checkpoint file, or for images that are not a memory-mapped file, nothing is kept.
    """
    filename = getattr(images, "filename", None)
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if filename is None or folder is None or not (folder / "checkpoint.pt").is_file():
        return predict(trained, images)
    key = json.dumps(
        {
            "version": 1,
            "checkpoint": checkpoint_key(folder),
            "images": checkpoint_key(filename),
            "n_images": len(images),
        },
        sort_keys=True,
    )
    path = folder / f"predictions-{name}.npz"
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["key"]) == key:
                return saved["predictions"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass  # absent, unreadable or of another layout: computed again and replaced below
    predictions = predict(trained, images)

    def write(temporary: str) -> None:
        with open(temporary, "wb") as handle:
            np.savez(handle, key=np.array(key), predictions=predictions)

    write_atomic(path, write)
    return predictions


def score_splits(
    dataset, trained: TrainedModel, source: str, checkpoint_dir: str | os.PathLike | None = None
) -> dict:
    """Score a model on a dataset's validation and test splits (those it has), as
    :func:`run_experiment` does: all clips and the identity-disjoint subset, clips without a
    usable frame given the training mean. With the model's ``checkpoint_dir``, its frame
    predictions are kept there and reused (:func:`split_predictions`).

    Returns:
        ``fallback_clips`` (per split) and ``validation`` / ``test`` :class:`SplitScores`: the
        scoring fields of an :class:`Experiment`.
    """

    train_labels = dataset.store("train").clip_labels()
    out: dict = {"fallback_clips": {}}
    for split in ("validation", "test"):
        if not (dataset.store_dir / split).is_dir():
            continue
        split_images, split_meta = source_arrays(dataset, split, source)
        truth = dataset.store(split).clip_labels()
        frame_predictions = split_predictions(
            trained, split_images, checkpoint_dir, f"{source}-{split}"
        )
        predictions = clip_predictions(split_meta, frame_predictions)
        missing = truth.index.difference(predictions.index)
        if len(missing):
            means = train_labels[list(TRAITS)].mean()
            filler = pd.DataFrame(
                [means.to_numpy()] * len(missing), index=missing, columns=list(TRAITS)
            )
            predictions = pd.concat([predictions, filler]).sort_index()
        out["fallback_clips"][split] = len(missing)
        disjoint = truth.loc[identity_disjoint_clips(train_labels.index, truth.index)]
        if len(truth) < 3:
            continue
        out[split] = SplitScores(
            all=_score(predictions, truth, train_labels),
            identity_disjoint=_score(predictions, disjoint, train_labels)
            if len(disjoint) >= 3
            else None,
        )
    return out


def load_experiment(
    dataset,
    checkpoint_dir: str | os.PathLike,
    source: str,
    device: str = "auto",
) -> Experiment:
    """A finished model scored like :func:`run_experiment`, without training
    (``python -m personality_utils evaluate``).

    Args:
        dataset: The dataset (its train split gives the constant baseline).
        checkpoint_dir: Folder of ``checkpoint.pt`` (from :func:`run_experiment`,
            :func:`train_model` or the distributed trainer).
        source: ``"frames"`` or ``"faces"``: what the model was trained on.
        device: Where to run the model.

    Returns:
        The :class:`Experiment`, as :func:`run_experiment` gives it.

    Raises:
        FileNotFoundError: If there is no checkpoint.
        DataError: If its training has not finished.
    """
    trained = load_trained(checkpoint_dir, device)
    _, meta = source_arrays(dataset, "train", source)
    return Experiment(
        trained=trained,
        config=trained.config,
        history=pd.DataFrame(trained.history),
        checkpoint=Path(checkpoint_dir),
        dropped_frames=int(len(dataset.store("train")) - len(meta)),
        **score_splits(dataset, trained, source, checkpoint_dir),
    )


def pretrained_from(config: TrainConfig) -> str:
    """What a model's backbone was initialised from, in words (results files, chapters)."""
    weights = config.backbone_weights
    if weights is None:
        return "random initialisation (no pretraining)"
    if weights == "imagenet":
        return "ImageNet VGG-16 (torchvision)"
    if is_identity_backbone(weights):
        learned = pretraining_summary(weights)
        return (
            f"identity pretraining on {learned['identities']} synthetic people "
            f"({learned['held_out_accuracy']:.0%} held-out identification), "
            f"fine-tuned with the backbone at {config.backbone_lr_scale:g} of the rate"
        )
    return f"VGG-Face weights {Path(weights).name}"
