"""Training and inference throughput of DAN+ at a profile, on the current device.

    .venv/bin/python benchmarks/train_throughput.py [--profile default] [--steps 20] [--device auto]
        [--precision float32]

Random uint8 batches in the store's layout go through the same preparation as training (resize,
normalisation, flip on the device, channels-last batches, the recipe's arithmetic: bf16
autocast where ``precision`` resolves to it, see ``training.resolved_precision``; inference
too, as ``predict`` runs). The figures are printed and written, with the CPU's kernels and the
thread count, to ``benchmarks/results/train_throughput-<device>-<precision>-<threads>t.json``
(``--out`` elsewhere): the Makefile's and the package's comments point there instead of typing
them (whether two 1-thread trainings side by side beat one 2-thread one is read from these
files). On CUDA it also prints the fraction of the physical
limit: about 92 GFLOP per training image for the full-width VGG-16 at 224 (3 x 30.7 GFLOP
forward), scaled by width² and input area, against the dense bf16 peak given with
--peak-tflops (H100 SXM about 990).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from personality_utils.core.profiles import get_profile
from personality_utils.models import training
from personality_utils.models.networks import resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--peak-tflops", type=float, default=990.0)
    parser.add_argument("--precision", default=None, help="the recipe's when not given")
    parser.add_argument("--out", type=Path, default=None, help="the JSON file written")
    arguments = parser.parse_args()
    profile = get_profile(arguments.profile)
    if arguments.precision:
        profile = profile.replace(precision=arguments.precision)
    device = resolve_device(arguments.device)
    config = training.config_for(profile, "danplus", device=str(device))
    precision = training.resolved_precision(config.precision, device)
    batch = config.batch_size
    rng = np.random.default_rng(0)
    images = rng.integers(
        0, 255, size=(batch * 4, profile.store_size, profile.store_size, 3), dtype=np.uint8
    )
    targets = rng.uniform(size=(len(images), 5)).astype(np.float32)
    warm = training.train_model(
        training.TrainConfig(**{**config.to_dict(), "epochs": 1}), images, targets, progress=False
    )
    model = warm.model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(train: bool) -> None:
        index = rng.integers(0, len(images), size=batch)
        inputs = warm.prepare(images[np.sort(index)], device)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
        with training.autocast(precision, device):  # predict() too runs in it
            if train:
                loss = training.euclidean_loss(
                    model(inputs).float(), torch.as_tensor(targets[index], device=device)
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            else:
                with torch.no_grad():
                    model(inputs)

    results = {}
    for mode in ("train", "inference"):
        model.train(mode == "train")
        for _ in range(3):
            step(mode == "train")
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(arguments.steps):
            step(mode == "train")
        if device.type == "cuda":
            torch.cuda.synchronize()
        results[mode] = arguments.steps * batch / (time.perf_counter() - started)
    print(
        f"profile {profile.name}: width 1/{config.width_divisor}, input {config.input_size} px, "
        f"batch {batch}, batch norm {config.batch_norm}, {precision}, device {device} "
        f"({torch.get_num_threads()} CPU threads)"
    )
    print(f"training:  {results['train']:9.1f} images/s")
    print(f"inference: {results['inference']:9.1f} images/s")
    out = arguments.out or Path(__file__).parent / "results" / (
        f"train_throughput-{device.type}-{precision}-{torch.get_num_threads()}t.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "profile": profile.name,
        "width_divisor": config.width_divisor,
        "input_size": config.input_size,
        "batch": batch,
        "precision": str(precision),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
        "train_images_per_s": results["train"],
        "inference_images_per_s": results["inference"],
    }
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"written: {out}")
    if device.type == "cuda":
        flop = 92e9 / config.width_divisor**2 * (config.input_size / 224) ** 2
        fraction = results["train"] * flop / (arguments.peak_tflops * 1e12)
        print(
            f"training uses {fraction:.1%} of a {arguments.peak_tflops:.0f} TFLOP/s bf16 peak "
            f"({flop / 1e9:.1f} GFLOP per image)"
        )


if __name__ == "__main__":
    main()
