"""Training DAN+ and the CAM model from the uint8 stores, and predicting with them.

:mod:`~personality_utils.models.experiments` (chapters 03-07, ``python -m personality_utils train``)
runs it on a dataset and scores the result. Batches are read straight
from the memory-mapped stores; resizing, normalisation and the whole-batch flip happen on the
device. Checkpoints are written atomically after every epoch and a run resumes from the last one
with the same result as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from personality_utils.core.files import write_atomic
from personality_utils.core.profiles import TrainConfig, get_profile
from personality_utils.core.vocabulary import TRAITS, DataError
from personality_utils.models.engine import Batch, Epochs, TrainingContext, run_epochs
from personality_utils.models.networks import (
    VGG_FACE_MEAN,
    WeightsError,
    build_model,
    is_identity_backbone,
    load_weights,
    read_identity_backbone,
    resolve_device,
)

__all__ = [
    "OneProcess",
    "TrainConfig",
    "TrainedModel",
    "epoch_plan",
    "euclidean_loss",
    "learning_rates",
    "native_bfloat16",
    "history_precision",
    "resolved_precision",
    "autocast",
    "mean_image",
    "train_model",
    "load_trained",
    "check_checkpoint",
    "predict",
    "clip_predictions",
    "config_for",
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


def euclidean_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The paper's loss: Euclidean distance over the five traits (not squared), batch mean."""
    return torch.linalg.vector_norm(predicted - target, dim=1).mean()


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively: CUDA, or a CPU with AMX tiles or
    AVX512-BF16 (how much faster it trains there: ``benchmarks/train_throughput.py``, whose
    figures are written to ``benchmarks/results/``)."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


#: Set to ``float32`` (or ``bfloat16``) to decide what ``"auto"`` means, whatever the CPU: with
#: ``ONEDNN_MAX_CPU_ISA=AVX2`` and ``ATEN_CPU_CAPABILITY=avx2`` it makes a machine with AMX
#: compute as one with AVX2 only does (benchmarks/build_stages.py).
PRECISION_ENV = "PERSONALITY_UTILS_PRECISION"


def resolved_precision(precision: str, device: torch.device) -> str:
    """``"float32"`` or ``"bfloat16"``: what a :attr:`TrainConfig.precision` means on
    ``device`` (``"auto"``: bfloat16 where :func:`native_bfloat16`, unless
    ``$PERSONALITY_UTILS_PRECISION`` says which)."""
    if precision == "auto":
        forced = os.environ.get(PRECISION_ENV, "").strip()
        if forced:
            if forced not in ("float32", "bfloat16"):
                raise ValueError(f"${PRECISION_ENV} must be float32 or bfloat16, got {forced!r}")
            return forced
        return "bfloat16" if native_bfloat16(device) else "float32"
    return precision


def cpu_summary() -> str:
    """One line on the CPU's kernels and the arithmetic ``"auto"`` resolves to there, for the
    build's timing line (which budget applies: the speed issue's AMX and AVX2 machines)."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    found = [name for name, flag in (("AVX2", "avx2"), ("AVX-512", "avx512f")) if flag in flags]
    found += ["AMX"] if "amx_tile" in flags else []
    kernels = torch.backends.cpu.get_cpu_capability()
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return (
        f"cpu {'/'.join(found) or 'no AVX2'}, {os.cpu_count()} cores; torch kernels {kernels}"
        + (f", oneDNN limited to {isa}" if isa else "")
        + f"; auto arithmetic {resolved_precision('auto', torch.device('cpu'))}"
    )


def autocast(precision: str, device: torch.device):
    """The context a training step runs its forward pass in: bfloat16 autocast, or none."""
    if resolved_precision(precision, device) == "bfloat16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def history_precision(history) -> str:
    """The arithmetic a model was trained in, from its per-epoch history (records or a
    DataFrame): ``"bfloat16"``, ``"float32"``, both joined when a resumed run changed machine,
    or ``"unrecorded"`` for checkpoints written before it was recorded."""
    rows = history.to_dict("records") if hasattr(history, "to_dict") else list(history)
    found = {row.get("precision") for row in rows}
    found = sorted(value for value in found if isinstance(value, str))
    return " and ".join(found) if found else "unrecorded"


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
    as ``config.input_mean`` says (:data:`~personality_utils.core.profiles.INPUT_MEANS`)."""
    size = config.input_size
    choice = config.input_mean
    if choice == "backbone":
        if config.backbone_weights is None:
            choice = "standardised"  # random weights: start in a sane range
        elif config.backbone_weights != "imagenet" and is_identity_backbone(
            config.backbone_weights
        ):  # what the identity pretraining normalised its crops with
            state = read_identity_backbone(config.backbone_weights)
            mean = torch.tensor([float(v) for v in state["mean"]]).view(3, 1, 1)
            return mean.expand(3, size, size).clone(), float(state["std"])
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


def _parameter_groups(config: TrainConfig, model: torch.nn.Module) -> list[dict]:
    """The backbone's parameters (their rate scaled by ``backbone_lr_scale``) and the rest."""
    inner = getattr(model, "backbone", None)
    backbone = list(inner.parameters()) if inner is not None else []
    own = {id(p) for p in backbone}
    groups = [
        {"params": backbone, "lr_scale": config.backbone_lr_scale},
        {"params": [p for p in model.parameters() if id(p) not in own], "lr_scale": 1.0},
    ]
    return [group for group in groups if group["params"]]


def _optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    groups = _parameter_groups(config, model)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=config.lr_start, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr_start, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def same_recipe(saved: dict, wanted: dict) -> bool:
    """Whether a checkpoint's configuration is this one's: everything but the device, so a
    model trained on a GPU resumes or reloads on a CPU (and "auto" matches "cuda")."""
    return {k: v for k, v in saved.items() if k != "device"} == {
        k: v for k, v in wanted.items() if k != "device"
    }


class OneProcess:
    """The training loop's ``context`` when one process trains: what
    :class:`~personality_utils.models.distributed.DistributedContext` does across ranks, done
    alone."""

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
        state = load_weights(checkpoint, device, "checkpoint")
        check_checkpoint(checkpoint, state)
        return state if same_recipe(state["config"], config.to_dict()) else None

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
    context: TrainingContext | None = None,
) -> TrainedModel:
    """Train one model on uint8 images and their trait targets: the one training loop of the
    book, in one process or, with a ``context``, on every rank of a ``torchrun`` job.

    Args:
        config: The recipe.
        images: uint8 (n, h, w, 3), typically a memory-mapped store (the whole of it on every
            rank).
        targets: (n, 5) trait scores in :data:`~personality_utils.core.vocabulary.TRAITS` order.
        checkpoint_dir: Where ``checkpoint.pt`` is written after each epoch (atomically, by rank
            0); if it holds one from the same configuration, training resumes after its epoch.
        progress: Show a progress bar with the running loss (rank 0).
        stop_after_epoch: Stop after this epoch (to simulate an interruption in tests).
        context: A joined :class:`~personality_utils.models.distributed.DistributedContext`; None
            trains in this process alone.

    Returns:
        The trained model (unwrapped), in eval mode; the same on every rank.
    """

    context = context or OneProcess()
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
    # Channels-last weights and batches: the faster convolutions on CUDA and on the CPU
    # (benchmarks/train_throughput.py); the model is handed back in the usual layout.
    model = context.prepare(model, device).to(device).to(memory_format=torch.channels_last)
    checkpoint = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir is not None else None
    state = context.resume(checkpoint, config, device)
    if state is not None and int(state["epoch"]) + 1 >= config.epochs:
        # A finished model is reloaded with the normalisation it was trained with, without
        # resizing the store (the chapters reload every model; that took ~10 s a model).
        mean, scale = state["mean"].to("cpu"), float(state["scale"])
    else:
        # Resizing once instead of every epoch (CPU profiles train at 112 from a 224 store).
        images = _resized_store(images, config.input_size)
        mean, scale = _normalisation(config, images)
    optimizer = _optimizer(config, model)
    rates = learning_rates(config)
    history: list[dict] = []
    first_epoch = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = json.loads(state["history"])
        first_epoch = int(state["epoch"]) + 1
    del state
    network = context.wrap(model, device)
    mean_device = mean.to(device)
    precision = resolved_precision(config.precision, device)

    def prepared(batch: np.ndarray, flip: bool) -> Batch:
        local = context.shard(batch)
        inputs = _prepare(images[local], config.input_size, mean_device, scale, device)
        if flip:
            inputs = inputs.flip(-1)
        # DDP averages gradients over the ranks: scaling each rank's mean by its share of the
        # global batch makes that average the gradient of the global batch's mean loss.
        return Batch(
            inputs.contiguous(memory_format=torch.channels_last),
            torch.as_tensor(targets[local], device=device),
            len(local),
            len(local) * world_size / len(batch),
        )

    def batches_of(epoch: int):
        batches, flips = epoch_plan(config, len(images), epoch, world_size)
        return len(batches), (prepared(b, f) for b, f in zip(batches, flips, strict=True))

    def save(epoch: int, history: list[dict]) -> None:
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

    plan = Epochs(
        epochs=config.epochs,
        rates=rates,
        # Everything random in an epoch derives from (seed, epoch) (and the rank, for dropout):
        # resuming replays it exactly.
        seed_of=lambda epoch: config.seed * 10_007 + epoch + 1_000_003 * context.rank,
        batches_of=batches_of,
        loss=euclidean_loss,
        precision=precision,
        autocast=lambda: autocast(precision, device),
        description=lambda epoch: f"{config.kind} epoch {epoch + 1}/{config.epochs}",
        reduce=lambda running, seen: context.end_epoch(model, running, seen, device),
        save=save,
        progress=progress and context.is_main,
    )
    run_epochs(network, optimizer, plan, history, first_epoch, stop_after_epoch)
    context.finish()  # nobody returns (and perhaps reads the checkpoint) before it is written
    model = model.to(memory_format=torch.contiguous_format).eval()
    return TrainedModel(model=model, config=config, mean=mean, scale=scale, history=history)


_CHECKPOINT_KEYS = ("config", "epoch", "model", "mean", "scale", "history")


def check_checkpoint(path: Path, state) -> None:
    """Refuse a file that torch reads safely but that is no checkpoint of :func:`train_model`."""
    missing = [key for key in _CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing or not isinstance(state["config"], dict):
        raise WeightsError(
            f"{path}: not a checkpoint of this package (missing {', '.join(missing) or 'config'}"
            "); point --checkpoint at a folder written by train"
        )


def load_trained(checkpoint_dir: str | os.PathLike, device: str = "auto") -> TrainedModel:
    """Load a finished model from its checkpoint folder (safely: ``weights_only=True``).

    Raises:
        FileNotFoundError: If there is no checkpoint.
        WeightsError: If the checkpoint is unreadable, refused as unsafe, or not one of this
            package's (:func:`~personality_utils.models.networks.load_weights`).
        DataError: If the checkpoint stopped before its last epoch.
    """
    path = Path(checkpoint_dir) / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint")
    target = resolve_device(device)
    state = load_weights(path, target, "checkpoint")
    check_checkpoint(path, state)
    try:
        config = TrainConfig(**state["config"])
    except TypeError as error:
        raise WeightsError(
            f"{path}: its training settings do not match this version of the package "
            f"({error}); train it again"
        ) from None
    if int(state["epoch"]) + 1 < config.epochs:
        raise DataError(
            f"{path}: training stopped after epoch {int(state['epoch']) + 1} of "
            f"{config.epochs}; rerun to resume"
        )
    model = build_model(config.kind, config.width_divisor, batch_norm=config.batch_norm).to(target)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, AttributeError) as error:  # keys or shapes do not fit
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(
            f"{path}: its weights do not fit the {config.kind} model it names ({first}); "
            "train it again"
        ) from None
    model.eval()
    return TrainedModel(
        model, config, state["mean"].cpu(), float(state["scale"]), json.loads(state["history"])
    )


@torch.no_grad()
def predict(
    trained: TrainedModel,
    images: np.ndarray,
    batch_size: int = 128,
    hide: np.ndarray | None = None,
    logits: bool = False,
) -> np.ndarray:
    """Trait scores (n, 5) for uint8 images, one prediction per frame, computed in the
    arithmetic the model was trained in (:attr:`TrainConfig.precision`).

    Args:
        hide: (n, s, s) masks at the model's input side s: where 1, the pixel is replaced by
            the training mean image (0 in the normalised input; the causal tests of chapter 05,
            :mod:`~personality_utils.cam.causal`). Values in between blend. None hides nothing.
        logits: Pre-sigmoid outputs instead of trait scores.
    """
    model = trained.model.eval()
    device = next(model.parameters()).device
    outputs = []
    for start in range(0, len(images), batch_size):
        inputs = trained.prepare(images[start : start + batch_size], device)
        if hide is not None:
            keep = 1.0 - torch.as_tensor(hide[start : start + batch_size], device=device)
            inputs = inputs * keep[:, None].to(inputs.dtype)
        # Channels-last batches in the arithmetic the model trained in: the faster path on the
        # CI CPU (benchmarks/train_throughput.py prints both arithmetics' inference rates).
        inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast(trained.config.precision, device):
            result = model.logits(inputs) if logits else model(inputs)
        outputs.append(result.float().cpu().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, len(TRAITS)), dtype=np.float32)


def clip_predictions(meta: pd.DataFrame, frame_predictions: np.ndarray) -> pd.DataFrame:
    """A clip's prediction is the mean over its frames (indexed by clip, trait columns)."""
    table = pd.DataFrame(frame_predictions, columns=list(TRAITS))
    table["clip"] = meta["clip"].to_numpy()
    return table.groupby("clip", sort=True)[list(TRAITS)].mean()


def config_for(
    profile,
    kind: str,
    backbone_weights: str | None = None,
    device: str = "auto",
    seed: int = 0,
    source: str = "frames",
) -> TrainConfig:
    """The training recipe a profile sets for one model kind trained on ``source``.

    VGG-Face or ImageNet weights need the paper's network, so with such ``backbone_weights``
    a CPU profile's narrow, batch-normalised VGG-16 becomes the full-width plain one, trained
    with one rate for every layer as the authors did; a backbone the profile pretrained on
    identities (:mod:`~personality_utils.models.pretraining`) keeps the profile's network and
    recipe.
    """
    profile = get_profile(profile)
    recipe = profile.recipe
    foreign = bool(backbone_weights) and not (
        backbone_weights != "imagenet" and is_identity_backbone(backbone_weights)
    )
    return dataclasses.replace(
        recipe,
        kind=kind,
        width_divisor=1 if foreign else recipe.width_divisor,
        seed=seed,
        backbone_weights=backbone_weights,
        device=device,
        batch_norm=recipe.batch_norm and not foreign,
        input_mean=profile.input_mean(source),
        backbone_lr_scale=1.0 if foreign else recipe.backbone_lr_scale,
    )
