"""Tests of personality_utils.models.distributed: the seeded plan, and two gloo processes on the
CPU.

The two-process tests start ``torch.distributed.run`` (torchrun) in a subprocess; this file is
also the worker script those processes run (``python tests/test_distributed.py OUT``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from personality_utils.data import release
from personality_utils.models import distributed, training

TINY = {
    "kind": "cam",  # dropout and (below) batch normalisation: the parts DDP could desynchronise
    "width_divisor": 16,
    "input_size": 32,
    "epochs": 2,
    "batch_size": 10,
    "lr_start": 1e-3,
    "lr_end": 1e-4,
    "optimizer": "adam",
    "batch_norm": True,
    "device": "cpu",
    "seed": 3,
}
# No batch normalisation or dropout, plain SGD: two ranks must then compute what one does.
PLAIN = dict(
    TINY,
    kind="danplus",
    batch_norm=False,
    optimizer="sgd",
    epochs=1,
    batch_size=8,
    lr_start=0.05,
    flip_probability=0.5,
)


def _toy(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose left-half brightness encodes the first trait (as in test_training)."""
    rng = np.random.default_rng(0)
    targets = rng.uniform(0.2, 0.8, size=(n, 5)).astype(np.float32)
    images = rng.integers(0, 40, size=(n, 32, 32, 3)).astype(np.uint8)
    images[:, :, :16] += (targets[:, 0] * 200).astype(np.uint8)[:, None, None, None]
    return images, targets


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _loopback_environment() -> dict[str, str]:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    if sys.platform.startswith("linux"):
        environment.setdefault("GLOO_SOCKET_IFNAME", "lo")
    return environment


def _torchrun(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Two CPU processes under torchrun (gloo), on the loopback interface."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        *arguments,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=cwd, env=_loopback_environment()
    )


def _torchrun_nodes(arguments: list[str], cwd: Path, timeout: float = 300) -> list[tuple]:
    """Two "nodes" on this machine: two torchrun agents, one process each, that meet by the
    static rendezvous on 127.0.0.1, as ``srun torchrun --nnodes 2 --node-rank $SLURM_NODEID``
    starts them on two machines. Returns each agent's (return code, stdout, stderr)."""
    port = str(_free_port())
    agents = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc-per-node",
                "1",
                "--node-rank",
                str(node),
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                port,
                *arguments,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=_loopback_environment(),
        )
        for node in (0, 1)
    ]
    finished = []
    try:
        for agent in agents:
            stdout, stderr = agent.communicate(timeout=timeout)
            finished.append((agent.returncode, stdout, stderr))
    finally:
        for agent in agents:
            if agent.poll() is None:
                agent.kill()
                agent.communicate()
    return finished


def _single_plain(n: int = 40) -> dict[str, torch.Tensor]:
    """The PLAIN recipe in one process on the first ``n`` toy images, having checked that it
    moved the weights (a test of equality between two untrained models proves nothing)."""
    images, targets = _toy(41)
    torch.set_num_threads(1)
    single = training.train_model(
        training.TrainConfig(**PLAIN), images[:n], targets[:n], progress=False
    ).model.state_dict()
    torch.manual_seed(PLAIN["seed"])
    initial = training.build_model("danplus", PLAIN["width_divisor"]).state_dict()
    moved = max(float((single[k] - initial[k]).abs().max()) for k in single)
    assert moved > 1e-3
    return single


def test_environment_and_shards():
    assert distributed.from_environment({}) is None
    context = distributed.from_environment({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (context.rank, context.local_rank, context.world_size) == (3, 1, 4)
    assert not context.is_main
    with pytest.raises(ValueError, match="bad torchrun"):
        distributed.from_environment({"RANK": "4", "WORLD_SIZE": "4"})
    config = training.TrainConfig(batch_size=32, seed=5)
    # 100 frames: three batches of 32 and one of 4, which 3 ranks share but 5 cannot.
    batches, flips = training.epoch_plan(config, 100, epoch=2, world_size=3)
    same_batches, same_flips = training.epoch_plan(config, 100, epoch=2, world_size=3)
    assert [len(b) for b in batches] == [32, 32, 32, 4] and len(flips) == 4
    assert all(np.array_equal(a, b) for a, b in zip(batches, same_batches, strict=True))
    assert np.array_equal(flips, same_flips)
    for batch in batches:
        shares = [distributed.shard(batch, rank, 3) for rank in range(3)]
        assert np.array_equal(np.sort(np.concatenate(shares)), batch)  # disjoint, complete
        assert max(map(len, shares)) - min(map(len, shares)) <= 1
    dropped, _ = training.epoch_plan(config, 100, epoch=2, world_size=5)
    assert [len(b) for b in dropped] == [32, 32, 32]
    other, _ = training.epoch_plan(config, 100, epoch=3, world_size=3)
    assert not np.array_equal(other[0], batches[0])  # each epoch its own order


def test_two_processes_agree_resume_and_match_one(tmp_path):
    result = _torchrun([str(Path(__file__).resolve()), str(tmp_path)], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for name in ("whole", "resumed", "plain"):
        for key, value in ranks[0][name].items():
            assert torch.equal(value, ranks[1][name][key]), (name, key)  # ranks agree
    for key, value in ranks[0]["whole"].items():
        assert torch.equal(value, ranks[0]["resumed"][key]), key  # resume is exact
    # The checkpoint is rank 0's, complete, and loads like a single-process one.
    loaded = training.load_trained(tmp_path / "whole", device="cpu")
    assert [h["epoch"] for h in loaded.history] == [1, 2]
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, ranks[0]["whole"][key]), key
    state = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    assert state["world_size"] == 2
    assert not list((tmp_path / "whole").glob(".*"))  # no temporary left behind
    # Two ranks sharing each global batch follow the single-process recipe.
    for key, value in _single_plain().items():
        torch.testing.assert_close(ranks[0]["plain"][key], value, rtol=1e-4, atol=1e-5)


def test_two_nodes_match_one_process(tmp_path):
    # Two "machines" of one process each: the same global batch of 8 split 4 + 4 across them,
    # the gradients averaged over the network, must give the one-process model.
    script = [str(Path(__file__).resolve()), str(tmp_path), "plain"]
    agents = _torchrun_nodes(script, cwd=tmp_path)
    for code, stdout, stderr in agents:
        assert code == 0, stdout[-3000:] + stderr[-3000:]
    nodes = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    # Node 1's process is global rank 1 but the first (local rank 0) on its machine.
    assert [node["where"] for node in nodes] == [[0, 0, 2], [1, 0, 2]]
    for key, value in nodes[0]["plain"].items():
        assert torch.equal(value, nodes[1]["plain"][key]), key  # the nodes agree
    for key, value in _single_plain().items():
        torch.testing.assert_close(nodes[0]["plain"][key], value, rtol=1e-4, atol=1e-5)


def test_train_command_under_torchrun(tmp_path, smoke_dataset):
    cache = smoke_dataset.store_dir.parents[1]
    options = ["--profile", "smoke", "--source", "faces", "--device", "cpu"]
    options += ["--cache-dir", str(cache)]
    result = _torchrun(
        ["-m", "personality_utils", "train", *options, "--out", str(tmp_path / "model")],
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("test: MA 0.") == 1  # only rank 0 reports
    state = torch.load(tmp_path / "model" / "checkpoint.pt", weights_only=True)
    assert state["world_size"] == 2
    assert state["config"]["batch_size"] == 16  # the smoke profile's, as a global batch
    from personality_utils.__main__ import main

    out = tmp_path / "metrics.json"
    evaluated = main(
        ["evaluate", *options, "--checkpoint", str(tmp_path / "model"), "--out", str(out)]
    )
    assert evaluated == 0
    record = json.loads(out.read_text())
    assert record["splits"]["test"]["mean_accuracy"] > 0
    assert release.load_challenge_csv(tmp_path / "model" / "predictions_test.csv").shape[0] == 6


def _worker(out: Path, only_plain: bool = False) -> None:
    """One rank of test_two_processes_agree_resume_and_match_one, or with ``only_plain`` of
    test_two_nodes_match_one_process."""
    context = distributed.from_environment()
    distributed.setup(context, "cpu")
    torch.set_num_threads(1)
    try:
        images, targets = _toy(41)  # the last batch of 1 cannot be shared: dropped
        if only_plain:
            plain = training.train_model(
                training.TrainConfig(**PLAIN),
                images[:40],
                targets[:40],
                None,
                False,
                context=context,
            )
            where = [context.rank, context.local_rank, context.world_size]
            torch.save(
                {"plain": plain.model.state_dict(), "where": where}, out / f"rank{context.rank}.pt"
            )
            return
        config = training.TrainConfig(**TINY)
        saved = {}
        whole = training.train_model(
            config, images, targets, out / "whole", progress=False, context=context
        )
        saved["whole"] = whole.model.state_dict()
        training.train_model(
            config, images, targets, out / "cut", False, stop_after_epoch=1, context=context
        )
        resumed = training.train_model(
            config, images, targets, out / "cut", progress=False, context=context
        )
        assert [h["epoch"] for h in resumed.history] == [1, 2]
        saved["resumed"] = resumed.model.state_dict()
        plain = training.train_model(
            training.TrainConfig(**PLAIN), images[:40], targets[:40], None, False, context=context
        )
        saved["plain"] = plain.model.state_dict()
        torch.save(saved, out / f"rank{context.rank}.pt")
    finally:
        distributed.teardown()


if __name__ == "__main__":
    _worker(Path(sys.argv[1]), only_plain=sys.argv[2:] == ["plain"])
