"""Where the default build's time goes, per stage, in float32 on AVX2 kernels and in the `auto`
arithmetic, from a faithful sample of each stage.

    .venv/bin/python benchmarks/build_stages.py [--profile default] [--clips 6] [--steps 12]

Each arithmetic runs in its own process, one thread (as each lane of ``make book`` runs on a
2-core machine):

- ``avx2-float32``: ``ONEDNN_MAX_CPU_ISA=AVX2``, ``ATEN_CPU_CAPABILITY=avx2`` and
  ``PERSONALITY_UTILS_PRECISION=float32`` (``training.PRECISION_ENV``): on a machine with AMX
  or AVX-512 this makes the arithmetic that of an AVX2-only CPU; on an AVX2-only CPU it is the
  same as ``auto``. The emulation keeps the faster core's clock, caches and memory, and the
  decoding and face detection do not use these kernels, so it underestimates how much slower a
  real AVX2 machine is (the speed issue: about 2.2x for decoding and detection alone);
- ``auto``: the machine as ``make book`` finds it (bfloat16 where it is native).

The stages sampled, each with the build's code:

- ``synth``: render and encode ``--clips`` synthetic clips of the profile (one process);
- ``prepare``: decode, sample, detect, place landmarks and align them (one process);
- ``pretrain``: training steps of the identity network on crops at the models' input size;
- ``train``: training steps of DAN+ as ``train_model`` runs them (channels-last, the recipe's
  arithmetic);
- ``inference``: forward passes in evaluation mode (the chapters' passes and the scoring).

Each is scaled to the whole build: the profile's clip counts over the cores for the data
stage, its pretraining images and epochs on one thread, and its training plan (trainings x
epochs x training frames) over two lanes. The scaled seconds are estimates of the work, not of
the build's wall time (which also holds the chapters, the process starts and the overlaps:
``make book`` prints each stage's measured seconds). The figures are printed and written, with
the CPU's kernels, to ``benchmarks/results/build_stages-<kernels>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {
    "avx2-float32": {
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "PERSONALITY_UTILS_PRECISION": "float32",
    },
    "auto": {},
}


def _sample(arguments: argparse.Namespace) -> dict:
    """Measure every stage in this process (one arithmetic)."""
    import numpy as np
    import torch

    from personality_utils.core.profiles import get_profile
    from personality_utils.data.stores import build_frame_store
    from personality_utils.data.synthetic import generator
    from personality_utils.models import experiments, training
    from personality_utils.models.pretraining import IdentityNet

    torch.set_num_threads(1)
    profile = get_profile(arguments.profile)
    device = torch.device("cpu")
    precision = training.resolved_precision(profile.recipe.precision, device)
    out: dict = {"precision": precision, "summary": training.cpu_summary()}
    with tempfile.TemporaryDirectory() as folder:
        small = profile.replace(
            synthetic_clips={"train": arguments.clips, "validation": 1, "test": 1}, workers=1
        )
        clips = arguments.clips + 2
        started = time.perf_counter()
        root = generator.generate_dataset(Path(folder) / "set", small, 0, workers=1, progress=False)
        out["synth_s_per_clip"] = (time.perf_counter() - started) / clips
        started = time.perf_counter()
        build_frame_store(
            root,
            Path(folder) / "stores",
            n_samples=profile.frames_per_clip,
            size=profile.store_size,
            workers=1,
            progress=False,
            face_size=profile.face_size,
        )
        out["prepare_s_per_clip"] = (time.perf_counter() - started) / clips

    recipe = profile.recipe
    size, batch = recipe.input_size, recipe.batch_size
    rng = np.random.default_rng(0)

    def timed(step, count: int) -> float:
        for _ in range(2):
            step()
        started = time.perf_counter()
        for _ in range(count):
            step()
        return count * batch / (time.perf_counter() - started)

    if profile.pretraining is not None:
        identities = profile.pretraining.identities
        net = IdentityNet(identities, recipe.width_divisor, recipe.batch_norm)
        net = net.to(memory_format=torch.channels_last).train()
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
        crops = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
        labels = torch.as_tensor(rng.integers(0, identities, size=batch))

        def pretrain_step() -> None:
            with training.autocast(recipe.precision, device):
                loss = torch.nn.functional.cross_entropy(net(crops).float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        out["pretrain_images_per_s"] = timed(pretrain_step, arguments.steps)

    config = training.config_for(profile, "danplus", device="cpu")
    images = rng.integers(0, 255, size=(batch * 2, profile.store_size, profile.store_size, 3))
    images = images.astype(np.uint8)
    targets = rng.uniform(size=(len(images), 5)).astype(np.float32)
    warm = training.train_model(
        training.TrainConfig(**{**config.to_dict(), "epochs": 1}), images, targets, progress=False
    )
    model = warm.model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    inputs = warm.prepare(images[:batch], device).contiguous(memory_format=torch.channels_last)
    goal = torch.as_tensor(targets[:batch])

    def train_step() -> None:
        model.train()
        with training.autocast(recipe.precision, device):
            loss = training.euclidean_loss(model(inputs).float(), goal)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def inference_step() -> None:
        model.eval()
        with training.autocast(recipe.precision, device):
            model(inputs)

    out["train_images_per_s"] = timed(train_step, arguments.steps)
    out["inference_images_per_s"] = timed(inference_step, arguments.steps)
    jobs = experiments.training_plan(profile)
    train_clips = profile.synthetic_clips.get("train", 0)
    out["work"] = {
        "clips": sum(profile.synthetic_clips.values()),
        "pretraining_images": 0
        if profile.pretraining is None
        else profile.pretraining.identities
        * (profile.pretraining.images_per_identity - profile.pretraining.held_out_per_identity)
        * profile.pretraining.epochs,
        "training_images": len(jobs) * recipe.epochs * train_clips * profile.frames_per_clip,
        "trainings": len(jobs),
    }
    return out


def _estimates(figures: dict, cores: int) -> dict[str, float]:
    work = figures["work"]
    lanes = 2 if cores > 1 else 1
    out = {
        "synth": work["clips"] * figures["synth_s_per_clip"] / cores,
        "prepare": work["clips"] * figures["prepare_s_per_clip"] / cores,
        "pretrain": work["pretraining_images"] / figures.get("pretrain_images_per_s", float("inf")),
        "train": work["training_images"] / figures["train_images_per_s"] / lanes,
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--clips", type=int, default=6, help="synthetic clips rendered, prepared")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per network")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help="the JSON file written")
    arguments = parser.parse_args()
    if arguments.worker:
        print(json.dumps(_sample(arguments)))
        return
    cores = os.cpu_count() or 1
    results = {}
    for mode, changes in MODES.items():
        env = {**os.environ, **changes, "OMP_NUM_THREADS": "1"}
        command = [sys.executable, __file__, "--worker", "--profile", arguments.profile]
        command += ["--clips", str(arguments.clips), "--steps", str(arguments.steps)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        results[mode]["estimated_s"] = _estimates(results[mode], cores)
    print(f"profile {arguments.profile}, {cores} cores; {results['auto']['summary']}")
    header = f"{'stage':<10}{'per unit':>14}" + "".join(f"{mode:>26}" for mode in MODES)
    print(header)
    units = {
        "synth": ("synth_s_per_clip", "s/clip"),
        "prepare": ("prepare_s_per_clip", "s/clip"),
        "pretrain": ("pretrain_images_per_s", "images/s"),
        "train": ("train_images_per_s", "images/s"),
        "inference": ("inference_images_per_s", "images/s"),
    }
    for stage, (key, unit) in units.items():
        cells = []
        for mode in MODES:
            value = results[mode].get(key)
            estimate = results[mode]["estimated_s"].get(stage)
            text = "—" if value is None else f"{value:.3g} {unit}"
            if estimate is not None:
                text += f", ~{estimate:.0f} s"
            cells.append(f"{text:>26}")
        print(f"{stage:<10}{'':>14}" + "".join(cells))
    total = {mode: sum(results[mode]["estimated_s"].values()) for mode in MODES}
    print(
        "work of the data, pretraining and training stages (s, before overlaps): "
        + ", ".join(f"{mode} {seconds:.0f}" for mode, seconds in total.items())
    )
    kernels = results["auto"]["summary"].split("torch kernels ")[1].split(";")[0].split(",")[0]
    out = arguments.out or Path(__file__).parent / "results" / f"build_stages-{kernels}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cores": cores, "modes": results}, indent=1) + "\n")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
