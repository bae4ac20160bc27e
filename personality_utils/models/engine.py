"""The one epoch loop every training in the book runs: the trait regressors
(:func:`~personality_utils.models.training.train_model`, on one process or under torchrun) and
the identity pretraining (:func:`~personality_utils.models.pretraining.pretrain`).

Per epoch: the learning rate of the schedule (times a group's ``lr_scale``), PyTorch's seed
from the epoch (so a resumed run replays it exactly), the batches the caller plans for that
epoch, each step in the recipe's arithmetic, the mean loss (reduced over processes by the
caller's ``reduce``), one history entry and a checkpoint. What differs between trainings (the
data, the loss, what else an epoch records, where and whether it is saved) is passed in; the
loop itself is written once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

__all__ = ["Batch", "Epochs", "TrainingContext", "run_epochs"]


class TrainingContext(Protocol):
    """Where a trait regressor trains: one process
    (:class:`~personality_utils.models.training.OneProcess`) or every rank of a torchrun job
    (:class:`~personality_utils.models.distributed.DistributedContext`). The loop asks it for
    the device, how to wrap the model, what to resume from, this rank's share of a batch, the
    epoch's loss over all ranks, and to wait for the others at the end."""

    rank: int
    world_size: int

    @property
    def is_main(self) -> bool: ...

    def device(self, wanted: str) -> torch.device: ...

    def prepare(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module: ...

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module: ...

    def resume(self, checkpoint: Path | None, config: Any, device: torch.device) -> dict | None: ...

    def shard(self, batch: Any) -> Any: ...

    def end_epoch(
        self, model: torch.nn.Module, running: float, seen: int, device: torch.device
    ) -> tuple[float, float]: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class Batch:
    """One step's data: inputs and targets on the device, how many examples this process
    holds, and the factor its mean loss is scaled by before the backward pass (its share of a
    global batch under DDP; 1 otherwise)."""

    inputs: torch.Tensor
    target: torch.Tensor
    size: int
    weight: float = 1.0


@dataclass
class Epochs:
    """What :func:`run_epochs` needs besides the model: the schedule and the hooks."""

    epochs: int
    rates: Sequence[float]
    #: PyTorch's seed for an epoch (everything random in it derives from the seed).
    seed_of: Callable[[int], int]
    #: The epoch's plan: how many batches it has (for the progress bar) and the batches,
    #: prepared lazily.
    batches_of: Callable[[int], tuple[int, Iterable[Batch]]]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    #: The arithmetic, as the history records it, and the context a forward pass runs in
    #: (:func:`~personality_utils.models.training.autocast` of it on the device).
    precision: str
    autocast: Callable[[], AbstractContextManager]
    description: Callable[[int], str]
    #: (running loss sum, examples) of this process -> of all processes.
    reduce: Callable[[float, int], tuple[float, int]] = lambda running, seen: (running, seen)
    #: What else an epoch's history entry records (after its loss), e.g. a held-out accuracy.
    extra: Callable[[int], dict[str, Any]] = lambda epoch: {}
    #: Called after each epoch with (epoch, history) to write a checkpoint.
    save: Callable[[int, list[dict]], None] = lambda epoch, history: None
    progress: bool = True
    loss_digits: int = 4


def run_epochs(
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    plan: Epochs,
    history: list[dict],
    first_epoch: int = 0,
    stop_after_epoch: int | None = None,
) -> bool:
    """Train ``network`` from ``first_epoch`` to ``plan.epochs``, appending one entry per epoch
    to ``history`` (epoch, lr, loss, the plan's extras, seconds, precision) and saving after
    each. Returns whether it stopped early at ``stop_after_epoch``."""
    for epoch in range(first_epoch, plan.epochs):
        started = time.perf_counter()
        torch.manual_seed(plan.seed_of(epoch))
        count, batches = plan.batches_of(epoch)
        for group in optimizer.param_groups:
            group["lr"] = float(plan.rates[epoch]) * group.get("lr_scale", 1.0)
        network.train()
        running, seen = 0.0, 0
        bar = tqdm(
            total=count,
            desc=plan.description(epoch),
            disable=not plan.progress,
            leave=False,
        )
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            with plan.autocast():
                outputs = network(batch.inputs)
            loss = plan.loss(outputs.float(), batch.target)
            (loss * batch.weight if batch.weight != 1.0 else loss).backward()
            optimizer.step()
            running += float(loss.detach()) * batch.size
            seen += batch.size
            bar.set_postfix(loss=f"{running / seen:.{plan.loss_digits}f}")
            bar.update()
        bar.close()
        running, seen = plan.reduce(running, seen)
        history.append(
            {
                "epoch": epoch + 1,
                "lr": float(plan.rates[epoch]),
                "loss": running / max(1, seen),
                **plan.extra(epoch),
                "seconds": time.perf_counter() - started,
                "precision": plan.precision,
            }
        )
        plan.save(epoch, history)
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            return True
    return False
