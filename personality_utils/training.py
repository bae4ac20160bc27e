"""Training and evaluating DAN+ and the CAM model from the uint8 stores.

Chapters 03 and 04 (and ``python -m personality_utils train``) use it. Batches are read straight
from the memory-mapped stores; resizing, normalisation and the whole-batch flip happen on the
device. Checkpoints are written atomically after every epoch and a run resumes from the last one
with the same result as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ._lazy import lazy_module
from .data import TRAITS, DataError, write_atomic
from .models import VGG_FACE_MEAN, build_model, resolve_device
from .paper import TABLE1, TABLE1_COLUMNS
from .profiles import TrainConfig, get_profile
from .stats import accuracy_intervals, constant_baseline, regression_metrics

pd = lazy_module("pandas")

__all__ = [
    "TrainConfig",
    "TrainedModel",
    "Scores",
    "SplitScores",
    "Experiment",
    "epoch_plan",
    "euclidean_loss",
    "learning_rates",
    "mean_image",
    "train_model",
    "load_trained",
    "predict",
    "clip_predictions",
    "evaluate",
    "config_for",
    "experiment_dir",
    "score_splits",
    "split_predictions",
    "checkpoint_key",
    "run_experiment",
    "load_experiment",
    "summary_table",
    "results_record",
    "metrics_table",
]


@dataclass
class TrainedModel:
    """A trained model with what is needed to feed it.

    Attributes:
        model: The network (eval mode).
        config: Its training configuration.
        mean: Mean image subtracted from the input, (3, size, size), 0-255 scale.
        scale: Divisor applied after subtracting the mean.
        history: Per-epoch records (epoch, learning rate, mean training loss, seconds).
    """

    model: torch.nn.Module
    config: TrainConfig
    mean: torch.Tensor
    scale: float
    history: list[dict] = field(default_factory=list)

    def prepare(
        self, batch: np.ndarray | torch.Tensor, device: torch.device | None = None
    ) -> torch.Tensor:
        """uint8 (n, h, w, 3) images -> the normalised (n, 3, size, size) input."""
        device = device or next(self.model.parameters()).device
        return _prepare(batch, self.config.input_size, self.mean.to(device), self.scale, device)


@dataclass
class Scores:
    """A model's clip predictions scored on a set of clips (:func:`evaluate`).

    Attributes:
        predictions: One row per clip, the five traits.
        metrics: Per trait and ``mean``: accuracy, R², Pearson r, CCC
            (:func:`~personality_utils.stats.regression_metrics`).
        intervals: ``low`` / ``high`` of each trait's accuracy and of the mean, resampling
            people (:func:`~personality_utils.stats.accuracy_intervals`).
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
    """

    trained: TrainedModel
    config: TrainConfig
    history: pd.DataFrame
    checkpoint: Path
    dropped_frames: int
    fallback_clips: dict[str, int]
    validation: SplitScores | None = None
    test: SplitScores | None = None

    def split(self, name: str) -> SplitScores | None:
        """``validation`` or ``test`` by name."""
        if name not in ("validation", "test"):
            raise ValueError(f"split must be 'validation' or 'test', got {name!r}")
        return getattr(self, name)


def euclidean_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The paper's loss: Euclidean distance over the five traits (not squared), batch mean."""
    return torch.linalg.vector_norm(predicted - target, dim=1).mean()


def learning_rates(config: TrainConfig) -> np.ndarray:
    """One learning rate per epoch (:meth:`TrainConfig.learning_rates`): on the authors' recipe
    the first 10 of ``logspace(-3, -6, 30)``."""
    return config.learning_rates()


def _prepare(
    batch, size: int, mean: torch.Tensor, scale: float, device: torch.device
) -> torch.Tensor:
    images = torch.from_numpy(np.array(batch, dtype=np.uint8, copy=True)).to(device)
    images = images.permute(0, 3, 1, 2).float()
    if images.shape[-1] != size or images.shape[-2] != size:
        # Rounded back to 8-bit values, so that resizing a whole store once up front
        # (:func:`_resized_store`) gives exactly what resizing each batch gives.
        images = (
            F.interpolate(
                images, size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
            .round()
            .clamp(0, 255)
        )
    return (images - mean) / scale


def _resized_store(images: np.ndarray, size: int, chunk: int = 256) -> np.ndarray:
    """The whole store resized once to ``size`` (uint8, in memory); unchanged if it already is."""
    if images.shape[1] == size and images.shape[2] == size:
        return images
    zero = torch.zeros(3, size, size)
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for start in range(0, len(images), chunk):
        resized = _prepare(images[start : start + chunk], size, zero, 1.0, torch.device("cpu"))
        out[start : start + chunk] = resized.permute(0, 2, 3, 1).to(torch.uint8).numpy()
    return out


def mean_image(images: np.ndarray, size: int, batch: int = 256) -> tuple[torch.Tensor, float]:
    """Mean image (3, size, size) and the pixel standard deviation of a uint8 store, streamed."""
    total = torch.zeros(3, size, size, dtype=torch.float64)
    square = 0.0
    count = 0
    zero = torch.zeros(3, size, size)
    for start in range(0, len(images), batch):
        resized = _prepare(images[start : start + batch], size, zero, 1.0, torch.device("cpu"))
        total += resized.double().sum(dim=0)
        square += float((resized.double() ** 2).sum())
        count += len(resized)
    if count == 0:
        raise DataError("cannot compute the mean image of an empty store")
    mean = total / count
    variance = square / (count * 3 * size * size) - float((mean**2).mean())
    return mean.float(), float(math.sqrt(max(variance, 1e-6)))


def _normalisation(config: TrainConfig, images: np.ndarray) -> tuple[torch.Tensor, float]:
    """The mean image (3, size, size) subtracted from the 0-255 input and the divisor after it,
    as ``config.input_mean`` says (:data:`~personality_utils.profiles.INPUT_MEANS`)."""
    size = config.input_size
    choice = config.input_mean
    if choice == "backbone":
        if config.backbone_weights is None:
            choice = "standardised"  # random weights: start in a sane range
        elif config.backbone_weights == "imagenet":
            mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1) * 255
            return mean.expand(3, size, size).clone(), 255 * 0.226
        else:  # VGG-Face: RGB 0-255 minus its channel mean, no std
            mean = torch.tensor(VGG_FACE_MEAN).view(3, 1, 1)
            return mean.expand(3, size, size).clone(), 1.0
    mean, std = mean_image(images, size)
    if choice == "standardised":
        return mean, std
    if choice == "mean_image":
        return mean, 1.0
    if choice == "mean_image_unit_scale":
        # The authors' face model: its averageImage was stored on a 0-1 scale and subtracted
        # from 0-255 pixels, so the network saw almost raw pixels.
        return mean / 255.0, 1.0
    raise ValueError(f"unknown input_mean {config.input_mean!r}")


def _save_checkpoint(payload: dict, path: Path) -> None:
    write_atomic(path, lambda temporary: torch.save(payload, temporary))


def _optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=config.lr_start,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(
            model.parameters(), lr=config.lr_start, weight_decay=config.weight_decay
        )
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


class _OneProcess:
    """The training loop's ``context`` when one process trains: what
    :class:`~personality_utils.distributed.DistributedContext` does across ranks, done alone."""

    rank, world_size, is_main = 0, 1, True

    def device(self, wanted: str) -> torch.device:
        return resolve_device(wanted)

    def prepare(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        return model

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        return model

    def resume(self, checkpoint: Path | None, config: TrainConfig, device) -> dict | None:
        if checkpoint is None or not checkpoint.is_file():
            return None
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        return state if _same_recipe(state["config"], config.to_dict()) else None

    def shard(self, batch: np.ndarray) -> np.ndarray:
        return batch

    def end_epoch(self, model, running: float, seen: int, device) -> tuple[float, float]:
        return running, seen

    def finish(self) -> None:
        pass


def epoch_plan(
    config: TrainConfig, n_images: int, epoch: int, world_size: int = 1
) -> tuple[list[np.ndarray], np.ndarray]:
    """The batches (sorted frame indices) and whole-batch flips of one epoch, drawn from
    ``(seed, epoch)`` alone, so that a resumed run replays them and every rank of a distributed
    run computes the same plan. A last batch smaller than ``world_size`` (which could not give
    every rank a frame) is dropped."""
    rng = np.random.default_rng([config.seed, epoch])
    order = rng.permutation(n_images)
    batches = [
        np.sort(order[i : i + config.batch_size]) for i in range(0, n_images, config.batch_size)
    ]
    flips = rng.random(len(batches)) < config.flip_probability
    keep = [len(batch) >= world_size for batch in batches]
    return [b for b, k in zip(batches, keep, strict=True) if k], flips[np.array(keep, dtype=bool)]


def train_model(
    config: TrainConfig,
    images: np.ndarray,
    targets: np.ndarray,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
    stop_after_epoch: int | None = None,
    context=None,
) -> TrainedModel:
    """Train one model on uint8 images and their trait targets: the one training loop of the
    book, in one process or, with a ``context``, on every rank of a ``torchrun`` job.

    Args:
        config: The recipe.
        images: uint8 (n, h, w, 3), typically a memory-mapped store (the whole of it on every
            rank).
        targets: (n, 5) trait scores in :data:`~personality_utils.data.TRAITS` order.
        checkpoint_dir: Where ``checkpoint.pt`` is written after each epoch (atomically, by rank
            0); if it holds one from the same configuration, training resumes after its epoch.
        progress: Show a progress bar with the running loss (rank 0).
        stop_after_epoch: Stop after this epoch (to simulate an interruption in tests).
        context: A joined :class:`~personality_utils.distributed.DistributedContext`; None
            trains in this process alone.

    Returns:
        The trained model (unwrapped), in eval mode; the same on every rank.
    """
    from tqdm.auto import tqdm

    context = context or _OneProcess()
    targets = np.asarray(targets, dtype=np.float32)
    if len(images) != len(targets) or targets.shape[1:] != (len(TRAITS),):
        raise ValueError(f"{len(images)} images but targets of shape {targets.shape}")
    if len(images) == 0:
        raise DataError("no training images")
    world_size = context.world_size
    if config.batch_size < world_size:
        raise ValueError(
            f"batch_size {config.batch_size} is the global batch: it cannot be shared by "
            f"{world_size} processes"
        )
    device = context.device(config.device)
    torch.manual_seed(config.seed)
    model = build_model(
        config.kind,
        config.width_divisor,
        config.backbone_weights,
        config.batch_norm,
        config.head_init_std,
    )
    model = context.prepare(model, device).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    # Resizing once instead of every epoch (CPU profiles train at 112 from a 224 store).
    images = _resized_store(images, config.input_size)
    mean, scale = _normalisation(config, images)
    optimizer = _optimizer(config, model)
    rates = learning_rates(config)
    history: list[dict] = []
    first_epoch = 0
    checkpoint = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir is not None else None
    state = context.resume(checkpoint, config, device)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = json.loads(state["history"])
        first_epoch = int(state["epoch"]) + 1
    del state
    network = context.wrap(model, device)
    mean_device = mean.to(device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else None
    for epoch in range(first_epoch, config.epochs):
        started = time.perf_counter()
        # Everything random in an epoch derives from (seed, epoch) (and the rank, for dropout):
        # resuming replays it exactly.
        torch.manual_seed(config.seed * 10_007 + epoch + 1_000_003 * context.rank)
        batches, flips = epoch_plan(config, len(images), epoch, world_size)
        for group in optimizer.param_groups:
            group["lr"] = float(rates[epoch])
        network.train()
        running, seen = 0.0, 0
        bar = tqdm(
            total=len(batches),
            desc=f"{config.kind} epoch {epoch + 1}/{config.epochs}",
            disable=not (progress and context.is_main),
            leave=False,
        )
        for batch, flip in zip(batches, flips, strict=True):
            local = context.shard(batch)
            inputs = _prepare(images[local], config.input_size, mean_device, scale, device)
            if flip:
                inputs = inputs.flip(-1)
            if device.type == "cuda":
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            target = torch.as_tensor(targets[local], device=device)
            optimizer.zero_grad(set_to_none=True)
            if autocast is not None:
                with autocast:
                    loss = euclidean_loss(network(inputs).float(), target)
            else:
                loss = euclidean_loss(network(inputs), target)
            # DDP averages gradients over the ranks: scaling each rank's mean by its share of
            # the global batch makes that average the gradient of the global batch's mean loss.
            (loss * (len(local) * world_size / len(batch))).backward()
            optimizer.step()
            running += float(loss.detach()) * len(local)
            seen += len(local)
            bar.set_postfix(loss=f"{running / seen:.4f}")
            bar.update()
        bar.close()
        running, seen = context.end_epoch(model, running, seen, device)
        history.append(
            {
                "epoch": epoch + 1,
                "lr": float(rates[epoch]),
                "loss": running / seen,
                "seconds": time.perf_counter() - started,
            }
        )
        if checkpoint is not None and context.is_main:
            _save_checkpoint(
                {
                    "config": config.to_dict(),
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch,
                    "history": json.dumps(history),
                    "mean": mean,
                    "scale": scale,
                    "world_size": world_size,
                },
                checkpoint,
            )
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    context.finish()  # nobody returns (and perhaps reads the checkpoint) before it is written
    model.eval()
    return TrainedModel(model=model, config=config, mean=mean, scale=scale, history=history)


def load_trained(checkpoint_dir: str | os.PathLike, device: str = "auto") -> TrainedModel:
    """Load a finished model from its checkpoint folder (safely: ``weights_only=True``).

    Raises:
        FileNotFoundError: If there is no checkpoint.
        DataError: If the checkpoint stopped before its last epoch.
    """
    path = Path(checkpoint_dir) / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint")
    target = resolve_device(device)
    state = torch.load(path, map_location=target, weights_only=True)
    config = TrainConfig(**state["config"])
    if int(state["epoch"]) + 1 < config.epochs:
        raise DataError(
            f"{path}: training stopped after epoch {int(state['epoch']) + 1} of "
            f"{config.epochs}; rerun to resume"
        )
    model = build_model(config.kind, config.width_divisor, batch_norm=config.batch_norm).to(target)
    model.load_state_dict(state["model"])
    model.eval()
    return TrainedModel(
        model, config, state["mean"].cpu(), float(state["scale"]), json.loads(state["history"])
    )


@torch.no_grad()
def predict(trained: TrainedModel, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Trait scores (n, 5) for uint8 images, one prediction per frame."""
    model = trained.model.eval()
    device = next(model.parameters()).device
    outputs = []
    for start in range(0, len(images), batch_size):
        inputs = trained.prepare(images[start : start + batch_size], device)
        outputs.append(model(inputs).float().cpu().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, len(TRAITS)), dtype=np.float32)


def clip_predictions(meta: pd.DataFrame, frame_predictions: np.ndarray) -> pd.DataFrame:
    """A clip's prediction is the mean over its frames (indexed by clip, trait columns)."""
    table = pd.DataFrame(frame_predictions, columns=list(TRAITS))
    table["clip"] = meta["clip"].to_numpy()
    return table.groupby("clip", sort=True)[list(TRAITS)].mean()


def evaluate(
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


def config_for(
    profile,
    kind: str,
    backbone_weights: str | None = None,
    device: str = "auto",
    seed: int = 0,
    source: str = "frames",
) -> TrainConfig:
    """The training recipe a profile sets for one model kind trained on ``source``.

    Pretrained weights need the paper's network, so with ``backbone_weights`` a CPU profile's
    narrow, batch-normalised VGG-16 becomes the full-width plain one.
    """
    profile = get_profile(profile)
    recipe = profile.recipe
    return dataclasses.replace(
        recipe,
        kind=kind,
        width_divisor=1 if backbone_weights else recipe.width_divisor,
        seed=seed,
        backbone_weights=backbone_weights,
        device=device,
        batch_norm=recipe.batch_norm and not backbone_weights,
        input_mean=profile.input_mean(source),
    )


def _source_arrays(dataset, split: str, source: str):
    if source == "frames":
        store = dataset.store(split)
        return store.frames, store.meta
    if source == "faces":
        store = dataset.faces(split)
        return store.crops, store.meta
    raise ValueError(f"source must be 'frames' or 'faces', got {source!r}")


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
) -> dict:
    """Train (or resume, or reload) one model on a dataset's train split and score it on
    validation and test, all clips and the identity-disjoint subset.

    Checkpoints live under ``<store_dir>/models/`` (:func:`experiment_dir`); a finished one is
    reused as it is. Clips with no usable frame (a face model on a clip where no face was found)
    get the training mean, so every model is scored on the same clips; how many is reported.
    ``config`` and ``checkpoint_dir`` override the profile's recipe and that folder
    (``python -m personality_utils train --batch-size/--out``).

    Returns:
        The :class:`Experiment`.
    """

    profile = get_profile(profile)
    if config is None:
        config = config_for(profile, kind, backbone_weights, device, seed, source)
    images, meta = _source_arrays(dataset, "train", source)
    train_store = dataset.store("train")
    if checkpoint_dir is None:
        folder = experiment_dir(dataset, profile, kind, source, seed, config.backbone_weights)
    else:
        folder = Path(checkpoint_dir)
    trained = train_model(config, images, meta[list(TRAITS)].to_numpy(), folder, progress=progress)
    return Experiment(
        trained=trained,
        config=config,
        history=pd.DataFrame(trained.history),
        checkpoint=folder,
        dropped_frames=int(len(train_store) - len(meta)),
        **score_splits(dataset, trained, source, folder),
    )


def _same_recipe(saved: dict, wanted: dict) -> bool:
    """Whether a checkpoint's configuration is this one's: everything but the device, so a
    model trained on a GPU resumes or reloads on a CPU (and "auto" matches "cuda")."""
    return {k: v for k, v in saved.items() if k != "device"} == {
        k: v for k, v in wanted.items() if k != "device"
    }


def experiment_dir(
    dataset, profile, kind: str, source: str, seed: int = 0, backbone_weights: str | None = None
) -> Path:
    """The checkpoint folder :func:`run_experiment` uses for one model of a dataset.

    Models started from pretrained weights get a folder of their own (``-imagenet``, or ``-w``
    and a hash of the weights file's path), so that a run with other weights never retrains
    over an earlier model.
    """
    import hashlib

    name = f"{get_profile(profile).name}-{kind}-{source}-seed{seed}"
    if backbone_weights == "imagenet":
        name += "-imagenet"
    elif backbone_weights is not None:
        resolved = str(Path(backbone_weights).expanduser().resolve())
        name += "-w" + hashlib.sha1(resolved.encode()).hexdigest()[:8]
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
    from .data import identity_disjoint_clips

    train_labels = dataset.store("train").clip_labels()
    out: dict = {"fallback_clips": {}}
    for split in ("validation", "test"):
        if not (dataset.store_dir / split).is_dir():
            continue
        split_images, split_meta = _source_arrays(dataset, split, source)
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
    _, meta = _source_arrays(dataset, "train", source)
    return Experiment(
        trained=trained,
        config=trained.config,
        history=pd.DataFrame(trained.history),
        checkpoint=Path(checkpoint_dir),
        dropped_frames=int(len(dataset.store("train")) - len(meta)),
        **score_splits(dataset, trained, source, checkpoint_dir),
    )


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
        "epochs_seconds": float(experiment.history["seconds"].sum()),
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


def table1(frames: Experiment, faces: Experiment) -> pd.DataFrame:
    """The paper's Table 1 (its rows, copied from :mod:`~personality_utils.paper`) above ours:
    DAN+ on full frames and on faces, and the constant predictor, on the test split."""
    ours = summary_table({"img (ours, DAN+ full frames)": frames, "face (ours, DAN+ faces)": faces})
    baseline = faces.test.all.baseline
    constant = {"MA": baseline["mean"], **{t[0].upper(): baseline[t] for t in TRAITS}}
    paper_rows = pd.DataFrame(
        {f"{name} (paper)": row for name, row in TABLE1.items()}, index=list(TABLE1_COLUMNS)
    ).T
    rows = [paper_rows, ours, pd.DataFrame({"constant (ours, training mean)": constant}).T]
    return pd.concat(rows)[list(TABLE1_COLUMNS)]
