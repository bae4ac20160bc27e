"""Training on several GPUs or machines under ``torchrun`` (DistributedDataParallel): joining the
process group, and a :class:`DistributedContext` that the one training loop
(:func:`~personality_utils.models.training.train_model`) uses across ranks.

``python -m personality_utils train`` uses it when ``torchrun`` started it (the README's "Scale /
command line" section). Every rank follows the same seeded plan: the same global batches, flips
and schedule, each global batch split across the ranks, so ``batch_size`` stays the global batch
(32 in the paper) whatever the number of GPUs. Rank 0 writes the checkpoints; a rerun resumes
after the last finished epoch, and with the same number of processes equals an uninterrupted
run.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from inspect import signature
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist

from personality_utils.models.networks import load_weights, resolve_device
from personality_utils.models.training import check_checkpoint, same_recipe

__all__ = [
    "DistributedContext",
    "from_environment",
    "main_first",
    "setup",
    "shard",
    "teardown",
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

    # What :func:`~personality_utils.models.training.train_model` asks of a context, across ranks.

    def device(self, wanted: str) -> torch.device:
        """This rank's device: its own GPU (``local_rank``) on CUDA."""
        device = resolve_device(wanted)
        return torch.device("cuda", self.local_rank) if device.type == "cuda" else device

    def prepare(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """BatchNorm (CPU profiles only) becomes SyncBatchNorm on several GPUs. On CPU (gloo has
        no SyncBatchNorm) each rank normalises with its share's statistics, averaged after
        every epoch (:meth:`end_epoch`)."""
        if device.type == "cuda" and self.world_size > 1 and _has_batch_norm(model):
            return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,
        )

    def resume(self, checkpoint: Path | None, config, device) -> dict | None:
        """Rank 0 reads the checkpoint (if it is from the same recipe) and sends it to every
        rank, so that resuming needs no shared file system."""

        state = None
        if self.is_main and checkpoint is not None and checkpoint.is_file():
            state = load_weights(checkpoint, "cpu", "checkpoint")
            check_checkpoint(checkpoint, state)
            if not same_recipe(state["config"], config.to_dict()):
                state = None
            elif int(state.get("world_size", 1)) != self.world_size:
                log.warning(
                    "%s was written by %s process(es), resuming with %s: same recipe and "
                    "batches, not bit-identical to an uninterrupted run",
                    checkpoint,
                    state.get("world_size", 1),
                    self.world_size,
                )
        box = [state]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def shard(self, batch: np.ndarray) -> np.ndarray:
        """This rank's share of a global batch (:func:`shard`)."""
        return shard(batch, self.rank, self.world_size)

    def end_epoch(self, model, running: float, seen: int, device) -> tuple[float, float]:
        """The epoch's loss summed over the ranks, and the buffers made equal on every rank."""
        totals = torch.tensor([running, float(seen)], dtype=torch.float64, device=device)
        dist.all_reduce(totals, op=dist.ReduceOp.SUM)
        synced = any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
        _synchronise_buffers(model, self.world_size, average=not synced)
        return float(totals[0]), float(totals[1])

    def finish(self) -> None:
        dist.barrier()


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
