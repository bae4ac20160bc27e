"""Memory and time of the one-pass unit statistics (chapter 06) against a plain forward pass.

    .venv/bin/python benchmarks/units_memory.py [--frames 256] [--layers all] [--device auto]

Each measurement runs in its own subprocess (so peaks do not leak between runs) on ``frames``
and on 4 x ``frames`` random uint8 frames, for the default profile's network (DAN+, 1/8 width,
batch normalisation, 112 px input, random weights). Frames are generated batch by batch from
their index, so the input itself takes no memory and any growth would be the pass's own. Per run
it prints the seconds, the peak resident memory above the process's state after a warm-up
(``ru_maxrss``), the peak of Python/numpy allocations (tracemalloc), CUDA's peak allocation
when on a GPU, and the bytes the statistics keep (``nbytes_kept``). The IoU part uses fixed
face-part boxes jittered per image, at ``--mask-size``.

The peak resident memory moves by some tens of MB from run to run whatever the number of frames
(glibc reuses freed heap differently); ``RSS held`` (after the pass, freed heap returned) and
``kept`` are the flat quantities, and ``--steady-malloc`` makes the peaks flat too.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import torch

from personality_utils.faces.regions import REGIONS
from personality_utils.models.networks import build_model, resolve_device
from personality_utils.models.training import TrainConfig, TrainedModel
from personality_utils.units import activations, passes

INPUT_SIZE = 112
BATCH = 64


class RandomFrames:
    """``n`` random uint8 frames made on demand from their index (no storage)."""

    def __init__(self, n: int, size: int = INPUT_SIZE, seed: int = 0):
        self.n, self.size, self.seed = n, size, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: slice) -> np.ndarray:
        start, stop, _ = index.indices(self.n)
        rng = np.random.default_rng([self.seed, start])
        return rng.integers(0, 256, size=(stop - start, self.size, self.size, 3), dtype=np.uint8)


def box_masks(size: int):
    """A mask function: eyebrows, eyes, nose and mouth boxes, jittered by image index."""
    boxes = {  # (top, bottom, left, right) as fractions of the side
        "eyebrows": (0.30, 0.36, 0.25, 0.75),
        "eyes": (0.37, 0.45, 0.25, 0.75),
        "nose": (0.45, 0.60, 0.42, 0.58),
        "mouth": (0.65, 0.75, 0.35, 0.65),
    }

    def masks(indices: np.ndarray) -> dict[str, np.ndarray]:
        out = {region: np.zeros((len(indices), size, size), dtype=bool) for region in REGIONS}
        for row, index in enumerate(indices):
            shift = np.random.default_rng(int(index)).integers(-2, 3, size=2)
            for region, (top, bottom, left, right) in boxes.items():
                rows = slice(int(top * size) + shift[0], int(bottom * size) + shift[0])
                cols = slice(int(left * size) + shift[1], int(right * size) + shift[1])
                out[region][row, rows, cols] = True
        return out

    return masks


def trained_model(device: torch.device) -> TrainedModel:
    torch.manual_seed(0)
    model = build_model("danplus", width_divisor=8, batch_norm=True).to(device).eval()
    config = TrainConfig(
        kind="danplus",
        width_divisor=8,
        input_size=INPUT_SIZE,
        batch_norm=True,
        device=str(device),
    )
    return TrainedModel(model, config, torch.full((3, INPUT_SIZE, INPUT_SIZE), 127.5), 64.0)


def resident_mb() -> float:
    """Current resident memory after handing freed heap back to the system (Linux)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def measure(mode: str, frames: int, layers, iou_layers, mask_size: int, device: str) -> dict:
    """One run, in this process: ``plain`` (forward only) or ``units`` (the statistics)."""
    device = resolve_device(device)
    trained = trained_model(device)
    images = RandomFrames(frames)
    taps = tuple("relu" + name[4:] for name in activations._ordered_layers(layers or ["conv5_3"]))
    warm = RandomFrames(BATCH, seed=1)
    with torch.inference_mode():  # warm-up: allocator, kernels, thread pools
        trained.model.backbone(trained.prepare(warm[0:BATCH], device), taps=taps)
    passes.unit_statistics(trained, warm, layers=layers, masks=None, batch_size=BATCH)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    resident_before = resident_mb()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    kept = 0
    if mode == "plain":
        with torch.inference_mode():
            for start in range(0, frames, BATCH):
                batch = trained.prepare(images[start : start + BATCH], device)
                trained.model.backbone(batch, taps=taps)
    else:
        stats = passes.unit_statistics(
            trained,
            images,
            layers=layers,
            masks=box_masks(mask_size) if iou_layers else None,
            iou_layers=iou_layers or (),
            batch_size=BATCH,
        )
        kept = stats.nbytes_kept
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    held = resident_mb() - resident_before
    return {
        "mode": mode,
        "frames": frames,
        "seconds": seconds,
        "rss_growth_mb": (peak - baseline) / 1024,  # ru_maxrss is in KiB on Linux
        "rss_held_mb": held,
        "traced_peak_mb": traced_peak / 2**20,
        "cuda_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else 0,
        "kept_mb": kept / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=256, help="frames of the 1x run")
    parser.add_argument(
        "--layers",
        default="all",
        help="comma-separated conv layers for the top-N, or 'all'",
    )
    parser.add_argument("--iou-layers", default="conv5_3", help="comma-separated, or 'none'")
    parser.add_argument("--mask-size", type=int, default=56)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--steady-malloc",
        action="store_true",
        help="fix glibc's mmap threshold in the runs (MALLOC_MMAP_THRESHOLD_=65536): peaks then "
        "show the pass's own transients without heap-reuse noise, at some cost in time",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    layers = None if arguments.layers == "all" else arguments.layers.split(",")
    iou_layers = [] if arguments.iou_layers == "none" else arguments.iou_layers.split(",")
    if arguments.child:
        mode, frames = arguments.child.split(":")
        result = measure(
            mode, int(frames), layers, iou_layers, arguments.mask_size, arguments.device
        )
        print(json.dumps(result))
        return
    print(
        f"DAN+ 1/8 width, BN, {INPUT_SIZE} px, batch {BATCH}, device "
        f"{resolve_device(arguments.device)}, {torch.get_num_threads()} threads; layers "
        f"{arguments.layers}; IoU layers {arguments.iou_layers} at {arguments.mask_size} px"
    )
    print(
        f"{'mode':>6} {'frames':>7} {'seconds':>8} {'ms/frame':>9} {'RSS peak+ MB':>13} "
        f"{'RSS held MB':>12} "
        f"{'traced peak MB':>15} {'CUDA peak MB':>13} {'kept MB':>8}"
    )
    results = {}
    for frames in (arguments.frames, 4 * arguments.frames):
        for mode in ("plain", "units"):
            command = [
                sys.executable,
                __file__,
                *sys.argv[1:],
                "--child",
                f"{mode}:{frames}",
            ]
            environment = dict(os.environ)
            if arguments.steady_malloc:
                environment["MALLOC_MMAP_THRESHOLD_"] = "65536"
            output = subprocess.run(
                command, check=True, capture_output=True, text=True, env=environment
            ).stdout
            result = json.loads(output.strip().splitlines()[-1])
            results[mode, frames] = result
            print(
                f"{mode:>6} {frames:>7} {result['seconds']:>8.2f} "
                f"{1000 * result['seconds'] / frames:>9.2f} {result['rss_growth_mb']:>13.1f} "
                f"{result['rss_held_mb']:>12.1f} "
                f"{result['traced_peak_mb']:>15.1f} {result['cuda_peak_mb']:>13.1f} "
                f"{result['kept_mb']:>8.2f}"
            )
    for frames in (arguments.frames, 4 * arguments.frames):
        overhead = results["units", frames]["seconds"] / results["plain", frames]["seconds"]
        print(f"{frames} frames: the statistics take {overhead:.2f}x the plain forward pass")
    small, large = (results["units", f] for f in (arguments.frames, 4 * arguments.frames))
    print(
        f"kept bytes 1x vs 4x: {small['kept_mb']:.3f} MB vs {large['kept_mb']:.3f} MB; "
        f"RSS held after the pass {small['rss_held_mb']:.1f} vs {large['rss_held_mb']:.1f} MB"
    )


if __name__ == "__main__":
    main()
