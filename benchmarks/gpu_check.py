"""The paper path on one CUDA GPU: throughput against the physical limit, then the authors' recipe
end to end. One command, for a machine that has only PyTorch, torchvision and numpy:

    python benchmarks/gpu_check.py [--out gpu_check.json]
    python benchmarks/gpu_check.py --smoke --device cpu   # the script itself, tiny, on a CPU

It prints, and writes as JSON (``--out``; default ``$OUT/gpu_check.json`` where ``OUT`` is set,
else ``gpu_check.json``):

1. ``peak``: the GPU's measured dense bf16 matrix-product rate (8192³ products).
2. ``throughput``: DAN+ and the CAM model (the authors' head) at 224 px, training and inference
   images/s with bf16 autocast and channels_last, at batch 32 (the paper's) and the best batch
   of a sweep, with the input path (uint8 frames on the host -> GPU -> mean image -> whole-batch
   flip, as :func:`personality_utils.models.training.train_model` feeds the model) and without it (a
   batch already on the GPU); each with its share of the physical limit, about 92 GFLOP per
   training image and 30.7 per inference image (VGG-16 to conv5_3, REFERENCE.md).
3. ``input_path``: the uint8-store -> GPU input path alone, images/s.
4. ``recipe``: the paper recipe (SGD 0.9, the first values of logspace(-3, -6, 30), weight
   decay 5e-4, mean image, 0.05·randn head) on synthetic frames rendered in memory (no video
   written) from a weight file in the VGG-Face port's layout (seeded random numbers: the real
   weights cannot be fetched there): epoch 1 writes a checkpoint and stops, a second call
   resumes from it on the GPU for epoch 2 (the loss must fall), the epochs' images/s, then the
   14x14 CAMs and Grad-CAM maps on the GPU (Grad-CAM needs ``torchcam``, pure Python: carry it
   as a wheel where it is missing, or that step is reported as skipped).

Without CUDA (and without ``--device cpu``) it says so and exits with status 3.
The design target: training at >= 50% of the physical limit with the input path included
(>= 5,000 images/s on an H100), so that 10 DAN+ epochs on the 60,000 real training frames take
about 2 minutes; the whole run fits in 5 minutes on one H100-class GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# Run from a plain checkout (the GPU machine need not have the package installed).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TRAIN_GFLOP = 92.0  # per 224x224 training image: 3 x 30.7 GFLOP (forward, two backward)
INFER_GFLOP = 30.7  # per 224x224 inference image


def _sizes(smoke: bool) -> dict:
    if smoke:  # seconds on a CPU: a 1/16-width network at 64 px, few steps, tiny batches
        return dict(width=16, size=64, matmul=256, batches=(4, 8), steps=3, clips=4, crop=64)
    return dict(
        width=1, size=224, matmul=8192, batches=(32, 64, 128, 256), steps=20, clips=300, crop=64
    )


def _synchronise(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_peak(device, n: int, repeats: int = 10) -> float:
    """Dense matrix-product rate in TFLOP/s (bf16 on CUDA, float32 on a CPU)."""
    import torch

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    for _ in range(3):
        a @ b
    _synchronise(device)
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _synchronise(device)
    return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e12


def _autocast(device):
    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def measure_throughput(kind: str, batch: int, train: bool, with_input: bool, device, sizes):
    """Images/s of one model at one batch size (see the module's point 2)."""
    import numpy as np
    import torch

    from personality_utils.models import networks, training

    torch.manual_seed(0)
    model = networks.build_model(kind, sizes["width"]).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    model.train(train)
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    size = sizes["size"]
    rng = np.random.default_rng(0)
    store = rng.integers(0, 256, size=(batch * 4, size, size, 3), dtype=np.uint8)
    mean = torch.full((3, size, size), 120.0, device=device)
    ready = training._prepare(store[:batch], size, mean, 1.0, device)
    targets = torch.rand(batch, 5, device=device)

    def step() -> None:
        if with_input:
            rows = np.sort(rng.choice(len(store), batch, replace=False))
            inputs = training._prepare(store[rows], size, mean, 1.0, device).flip(-1)
        else:
            inputs = ready
        if device.type == "cuda":
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with _autocast(device):
            if train:
                optimiser.zero_grad(set_to_none=True)
                loss = training.euclidean_loss(model(inputs).float(), targets)
                loss.backward()
                optimiser.step()
            else:
                with torch.no_grad():
                    model(inputs)

    for _ in range(3):
        step()
    _synchronise(device)
    started = time.perf_counter()
    for _ in range(sizes["steps"]):
        step()
    _synchronise(device)
    return batch * sizes["steps"] / (time.perf_counter() - started)


def measure_input_path(device, sizes, batch: int = 256, steps: int = 20) -> float:
    """Images/s of uint8 host batches -> normalised, flipped GPU tensors, alone."""
    import numpy as np
    import torch

    from personality_utils.models import training

    size = sizes["size"]
    rng = np.random.default_rng(1)
    store = rng.integers(0, 256, size=(batch * 4, size, size, 3), dtype=np.uint8)
    mean = torch.full((3, size, size), 120.0, device=device)
    for _ in range(2):
        training._prepare(store[:batch], size, mean, 1.0, device)
    _synchronise(device)
    started = time.perf_counter()
    for _ in range(steps):
        rows = np.sort(rng.choice(len(store), batch, replace=False))
        training._prepare(store[rows], size, mean, 1.0, device).flip(-1)
    _synchronise(device)
    return batch * steps / (time.perf_counter() - started)


def render_frames(sizes, workers: int) -> tuple:
    """Synthetic frames of the paper profile rendered in memory, with their labels and the
    seconds it took. Done before CUDA starts: the rendering processes are forked."""
    from personality_utils.data.synthetic import generator as data_synthetic_generator

    started = time.perf_counter()
    images, labels, _ = data_synthetic_generator.render_samples(
        "paper", sizes["clips"], seed=0, size=sizes["size"], workers=workers
    )
    return images, labels, time.perf_counter() - started


def run_recipe(device, sizes, smoke: bool, rendered: tuple) -> dict:
    """Point 4 of the module: the paper recipe for two epochs, interrupted and resumed, then
    CAMs and Grad-CAM on the device."""
    import numpy as np
    import torch

    from personality_utils.cam import maps as cam
    from personality_utils.models import networks, training

    images, labels, render_seconds = rendered
    out: dict = {"frames": len(images), "render_seconds": render_seconds}
    with tempfile.TemporaryDirectory() as folder:
        weights = None
        if not smoke:
            weights = str(Path(folder) / "vgg_face_random.pth")
            torch.save(networks.random_vgg_face(0), weights)
        config = training.config_for("paper", "cam", weights, str(device), 0, "frames")
        config = dataclasses.replace(config, epochs=2)
        if smoke:
            config = dataclasses.replace(
                config, width_divisor=sizes["width"], input_size=sizes["size"]
            )
        checkpoint_dir = Path(folder) / "checkpoint"
        first = training.train_model(
            config, images, labels, checkpoint_dir, progress=False, stop_after_epoch=1
        )
        out["checkpoint_written"] = (checkpoint_dir / "checkpoint.pt").is_file()
        resumed = training.train_model(config, images, labels, checkpoint_dir, progress=False)
        history = resumed.history
        out["resumed_after_epoch"] = len(first.history)
        out["epochs"] = history
        out["loss_falls"] = bool(history[-1]["loss"] < history[0]["loss"])
        out["train_images_per_s"] = [len(images) / h["seconds"] for h in history]
        out["learning_rates"] = [h["lr"] for h in history]
        out["model_device"] = str(next(resumed.model.parameters()).device)
        crop = images[: sizes["crop"]]
        started = time.perf_counter()
        maps, _ = cam.class_activation_maps(resumed, crop)
        _synchronise(device)
        out["cam_maps_shape"] = list(maps.shape)
        out["cam_seconds"] = time.perf_counter() - started
        out["cam_finite"] = bool(np.isfinite(maps).all())
        try:
            import torchcam  # noqa: F401  (is it installed?)
        except ImportError:
            out["gradcam"] = "skipped: torchcam is not installed (carry it as a wheel)"
        else:
            started = time.perf_counter()
            grad = cam.gradient_maps(resumed, crop, "GradCAM")
            _synchronise(device)
            out["gradcam_maps_shape"] = list(grad.shape)
            out["gradcam_seconds"] = time.perf_counter() - started
            out["gradcam_finite"] = bool(np.isfinite(grad).all())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check the script itself")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes that render the synthetic frames",
    )
    arguments = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu_check: PyTorch is not installed", file=sys.stderr)
        return 3
    if arguments.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            "gpu_check: CUDA is not available on this machine; this check needs an NVIDIA GPU "
            "(`--smoke --device cpu` runs the script itself at toy size)",
            file=sys.stderr,
        )
        return 3
    if arguments.device == "cpu" and not arguments.smoke:
        print("gpu_check: on a CPU only --smoke makes sense", file=sys.stderr)
        return 2
    device = torch.device(arguments.device)
    sizes = _sizes(arguments.smoke)
    rendered = render_frames(sizes, arguments.workers)
    torch.backends.cudnn.benchmark = True
    report: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "smoke": arguments.smoke,
        "image_size": sizes["size"],
    }
    started = time.perf_counter()
    peak = measure_peak(device, sizes["matmul"])
    report["peak_tflops"] = peak
    print(f"peak {'bf16' if device.type == 'cuda' else 'fp32'} matmul: {peak:.1f} TFLOP/s")
    scale = (sizes["size"] / 224) ** 2 / sizes["width"] ** 2  # FLOP relative to the paper's
    throughput = []
    for kind in ("danplus", "cam"):
        for train in (True, False):
            gflop = (TRAIN_GFLOP if train else INFER_GFLOP) * scale
            for with_input in (True, False):
                for batch in sizes["batches"]:
                    try:
                        speed = measure_throughput(kind, batch, train, with_input, device, sizes)
                    except torch.OutOfMemoryError:
                        torch.cuda.empty_cache()
                        continue
                    row = {
                        "model": kind,
                        "mode": "train" if train else "inference",
                        "input_path": with_input,
                        "batch": batch,
                        "images_per_s": speed,
                        "share_of_limit": speed * gflop / 1e3 / peak,
                    }
                    throughput.append(row)
                    print(
                        f"{kind:8s} {row['mode']:9s} batch {batch:4d} "
                        f"{'with input path' if with_input else 'on-GPU batch  '}: "
                        f"{speed:9.1f} images/s, {row['share_of_limit']:.1%} of the limit"
                    )
    report["throughput"] = throughput
    best = {}
    for row in throughput:
        key = f"{row['model']} {row['mode']}{' + input' if row['input_path'] else ''}"
        if key not in best or row["images_per_s"] > best[key]["images_per_s"]:
            best[key] = row
    report["best"] = best
    report["input_path_images_per_s"] = measure_input_path(device, sizes)
    print(f"input path alone: {report['input_path_images_per_s']:.0f} images/s")
    report["recipe"] = run_recipe(device, sizes, arguments.smoke, rendered)
    recipe = report["recipe"]
    print(
        f"paper recipe on {recipe['frames']} rendered frames: losses "
        f"{[round(h['loss'], 4) for h in recipe['epochs']]} (falls: {recipe['loss_falls']}), "
        f"resumed after epoch {recipe['resumed_after_epoch']} on {recipe['model_device']}, "
        f"{[round(v) for v in recipe['train_images_per_s']]} images/s; CAMs "
        f"{recipe['cam_maps_shape']}; Grad-CAM "
        f"{recipe.get('gradcam_maps_shape', recipe.get('gradcam'))}"
    )
    report["seconds"] = time.perf_counter() - started
    out = arguments.out or Path(os.environ.get("OUT", ".")) / "gpu_check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"{report['seconds']:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
