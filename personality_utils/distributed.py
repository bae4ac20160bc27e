"""Training on several GPUs or machines under ``torchrun`` (DistributedDataParallel).

``python -m personality_utils train`` uses it when ``torchrun`` started it (the README's "Scale /
command line" section). Every rank follows the same seeded plan as
:func:`~personality_utils.training.train_model`: the same global batches, flips and schedule,
each global batch split across the ranks, so ``batch_size`` stays the global batch (32 in the
paper) whatever the number of GPUs.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from inspect import signature
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist

from .data import TRAITS, DataError
from .models import build_model, resolve_device
from .training import (
    TrainConfig,
    TrainedModel,
    _normalisation,
    _optimizer,
    _prepare,
    _resized_store,
    _same_recipe,
    _save_checkpoint,
    learning_rates,
)

__all__ = [
    "DistributedContext",
    "epoch_plan",
    "from_environment",
    "main_first",
    "setup",
    "shard",
    "teardown",
    "train_distributed",
]

log = logging.getLogger(__name__)

Result = TypeVar("Result")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in a ``torchrun`` job.

    Attributes:
        rank: Global rank (0 writes checkpoints and reports).
        local_rank: Rank on this machine (the GPU it uses).
        world_size: Number of processes in the job.
    """

    rank: int
    local_rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0."""
        return self.rank == 0


def from_environment(environ: dict | None = None) -> DistributedContext | None:
    """The job ``torchrun`` (or ``torch.distributed.run``) started, read from ``RANK``,
    ``WORLD_SIZE`` and ``LOCAL_RANK``; None in a plain process.

    Raises:
        ValueError: If the variables are inconsistent.
    """
    environ = os.environ if environ is None else environ
    if "RANK" not in environ or "WORLD_SIZE" not in environ:
        return None
    rank, world_size = int(environ["RANK"]), int(environ["WORLD_SIZE"])
    local_rank = int(environ.get("LOCAL_RANK", rank))
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise ValueError(f"bad torchrun environment: RANK={rank} WORLD_SIZE={world_size}")
    return DistributedContext(rank=rank, local_rank=local_rank, world_size=world_size)


def setup(
    context: DistributedContext, device: str = "auto", timeout_minutes: float = 120
) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on CPU) and return this rank's device.

    ``timeout_minutes`` bounds every collective, including the wait of the other ranks while
    rank 0 builds the stores (:func:`main_first`); run ``prepare`` first for the real dataset.
    """
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        torch.cuda.set_device(context.local_rank)
        resolved = torch.device("cuda", context.local_rank)
    if not dist.is_initialized():
        options = {}
        if resolved.type == "cuda" and "device_id" in signature(dist.init_process_group).parameters:
            options["device_id"] = resolved  # binds NCCL to this rank's GPU (torch >= 2.3)
        dist.init_process_group(
            "nccl" if resolved.type == "cuda" else "gloo",
            timeout=datetime.timedelta(minutes=timeout_minutes),
            **options,
        )
    return resolved


def teardown() -> None:
    """Leave the process group (if joined)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def main_first(context: DistributedContext, build: Callable[[], Result]) -> Result:
    """Run ``build`` (e.g. preparing the stores) on rank 0, then on each other machine's first
    rank, then on every other rank, so that shared files are written once and each machine
    without a shared file system writes its own; the later calls find the work done."""
    result = build() if context.rank == 0 else None
    dist.barrier()
    if context.rank != 0 and context.local_rank == 0:
        result = build()
    dist.barrier()
    if context.local_rank != 0:
        result = build()
    return result


def epoch_plan(
    config: TrainConfig, n_images: int, epoch: int, world_size: int = 1
) -> tuple[list[np.ndarray], np.ndarray]:
    """The global batches (sorted frame indices) and whole-batch flips of one epoch.

    The same draws as :func:`~personality_utils.training.train_model`, from ``(seed,
    epoch)`` alone, so every rank computes the same plan and a resumed run replays it. A last
    batch smaller than ``world_size`` (which could not give every rank a frame) is dropped.
    """
    rng = np.random.default_rng([config.seed, epoch])
    order = rng.permutation(n_images)
    batches = [
        np.sort(order[i : i + config.batch_size]) for i in range(0, n_images, config.batch_size)
    ]
    flips = rng.random(len(batches)) < config.flip_probability
    keep = [len(batch) >= world_size for batch in batches]
    return [b for b, k in zip(batches, keep) if k], flips[np.array(keep, dtype=bool)]


def shard(batch: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """This rank's disjoint share of a global batch (contiguous, sizes differ by at most one)."""
    return np.array_split(batch, world_size)[rank]


def _has_batch_norm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _synchronise_buffers(model: torch.nn.Module, world_size: int, average: bool) -> None:
    """Make the buffers (BatchNorm running statistics) equal on every rank: averaged when each
    rank normalised with its own share's statistics, then rank 0's copy everywhere."""
    for buffer in model.buffers():
        if average and buffer.is_floating_point():
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer.div_(world_size)
        dist.broadcast(buffer, src=0)


def _resume_state(
    checkpoint: Path | None, config: TrainConfig, context: DistributedContext
) -> dict | None:
    """Rank 0 reads the checkpoint (if it is from the same recipe) and sends it to every rank,
    so that resuming needs no shared file system."""
    state = None
    if context.is_main and checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if not _same_recipe(state["config"], config.to_dict()):
            state = None
        elif int(state.get("world_size", 1)) != context.world_size:
            log.warning(
                "%s was written by %s process(es), resuming with %s: same recipe and batches, "
                "not bit-identical to an uninterrupted run",
                checkpoint,
                state.get("world_size", 1),
                context.world_size,
            )
    box = [state]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def train_distributed(
    config: TrainConfig,
    images: np.ndarray,
    targets: np.ndarray,
    checkpoint_dir: str | os.PathLike | None,
    context: DistributedContext,
    progress: bool = True,
    stop_after_epoch: int | None = None,
) -> TrainedModel:
    """:func:`~personality_utils.training.train_model` on every rank of a joined process group.

    Design:

    * ``config.batch_size`` is the global batch: each global batch of the seeded plan
      (:func:`epoch_plan`) is split across the ranks (:func:`shard`) and each rank's loss is
      scaled so that DDP's gradient average equals the gradient of the global batch mean.
    * The whole-batch flip comes from the shared plan, so all ranks flip the same batches.
      Dropout is seeded per (seed, epoch, rank); rank 0 draws what a single process draws.
    * BatchNorm (CPU profiles only) becomes SyncBatchNorm on CUDA. On CPU (gloo has no
      SyncBatchNorm) each rank normalises with its share's statistics and the running
      statistics are averaged over the ranks after every epoch.
    * Rank 0 writes ``checkpoint.pt`` atomically after every epoch (the same payload as
      :func:`~personality_utils.training.train_model`, plus ``world_size``), so
      :func:`~personality_utils.training.load_trained` reads it. A rerun resumes after its last
      epoch: rank 0 reads it and broadcasts it. With the same number of processes the result
      equals an uninterrupted run.

    Args:
        config: The recipe (``device`` "auto" = this rank's GPU when there is one).
        images: uint8 (n, h, w, 3) training images (the whole store on every rank).
        targets: (n, 5) trait scores.
        checkpoint_dir: Folder of ``checkpoint.pt`` (written by rank 0 only).
        context: This process's place in the job (:func:`from_environment`).
        progress: Show rank 0's progress bar.
        stop_after_epoch: Stop after this epoch (tests).

    Returns:
        The trained model (unwrapped, eval mode), the same on every rank.
    """
    from torch.nn.parallel import DistributedDataParallel
    from tqdm.auto import tqdm

    if not dist.is_initialized():
        raise RuntimeError("join the process group first (distributed.setup)")
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
    device = resolve_device(config.device)
    if device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
    torch.manual_seed(config.seed)
    model = build_model(
        config.kind,
        config.width_divisor,
        config.backbone_weights,
        config.batch_norm,
        config.head_init_std,
    )
    synced_norm = device.type == "cuda" and world_size > 1 and _has_batch_norm(model)
    if synced_norm:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    images = _resized_store(images, config.input_size)
    mean, scale = _normalisation(config, images)
    optimizer = _optimizer(config, model)
    rates = learning_rates(config)
    history: list[dict] = []
    first_epoch = 0
    checkpoint = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir is not None else None
    state = _resume_state(checkpoint, config, context)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = json.loads(state["history"])
        first_epoch = int(state["epoch"]) + 1
    del state
    wrapped = DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        broadcast_buffers=False,
    )
    mean_device = mean.to(device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else None
    for epoch in range(first_epoch, config.epochs):
        started = time.perf_counter()
        torch.manual_seed(config.seed * 10_007 + epoch + 1_000_003 * context.rank)
        batches, flips = epoch_plan(config, len(images), epoch, world_size)
        for group in optimizer.param_groups:
            group["lr"] = float(rates[epoch])
        wrapped.train()
        running, seen = 0.0, 0
        bar = tqdm(
            total=len(batches),
            desc=f"{config.kind} epoch {epoch + 1}/{config.epochs} ({world_size} ranks)",
            disable=not (progress and context.is_main),
            leave=False,
        )
        for batch, flip in zip(batches, flips):
            local = shard(batch, context.rank, world_size)
            inputs = _prepare(images[local], config.input_size, mean_device, scale, device)
            if flip:
                inputs = inputs.flip(-1)
            if device.type == "cuda":
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            target = torch.as_tensor(targets[local], device=device)
            optimizer.zero_grad(set_to_none=True)
            if autocast is not None:
                with autocast:
                    predicted = wrapped(inputs).float()
            else:
                predicted = wrapped(inputs)
            distances = torch.linalg.vector_norm(predicted - target, dim=1)
            # DDP averages gradients over ranks: sum * world / global size makes that average
            # the gradient of the global batch's mean loss, whatever the shares' sizes.
            loss = distances.sum() * (world_size / len(batch))
            loss.backward()
            optimizer.step()
            running += float(distances.detach().sum())
            seen += len(local)
            bar.set_postfix(loss=f"{running / seen:.4f}")
            bar.update()
        bar.close()
        totals = torch.tensor([running, float(seen)], dtype=torch.float64, device=device)
        dist.all_reduce(totals, op=dist.ReduceOp.SUM)
        _synchronise_buffers(model, world_size, average=not synced_norm)
        history.append(
            {
                "epoch": epoch + 1,
                "lr": float(rates[epoch]),
                "loss": float(totals[0] / totals[1]),
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
    # Nobody returns (and perhaps reads the checkpoint) before rank 0 has written it.
    dist.barrier()
    model.eval()
    return TrainedModel(model=model, config=config, mean=mean, scale=scale, history=history)
