"""benchmarks/gpu_check.py: its help, its refusal without CUDA, and its whole path at toy size
on the CPU (the figures themselves are for a GPU and are never asserted)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def test_help_and_no_cuda_refusal():
    shown = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0 and "--smoke" in shown.stdout
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    refused = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 3
    assert "CUDA is not available" in refused.stderr and "Traceback" not in refused.stderr


def test_smoke_run_on_the_cpu_writes_every_figure(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "gpu_check.json"
    assert module.main(["--smoke", "--device", "cpu", "--out", str(out), "--workers", "1"]) == 0
    report = json.loads(out.read_text())
    assert report["peak_tflops"] > 0
    assert {(row["model"], row["mode"]) for row in report["throughput"]} == {
        ("danplus", "train"),
        ("danplus", "inference"),
        ("cam", "train"),
        ("cam", "inference"),
    }
    assert report["input_path_images_per_s"] > 0
    recipe = report["recipe"]
    assert recipe["checkpoint_written"] and recipe["resumed_after_epoch"] == 1
    assert [h["epoch"] for h in recipe["epochs"]] == [1, 2]
    # The authors' schedule: the first two of logspace(-3, -6, 30).
    assert recipe["learning_rates"] == pytest.approx([1e-3, 1e-3 * 10 ** (-3 / 29)])
    assert recipe["cam_maps_shape"][1:] == [5, 4, 4] and recipe["cam_finite"]
    assert recipe["gradcam_maps_shape"][1:] == [5, 4, 4] and recipe["gradcam_finite"]
