"""Benchmark of the per-clip preparation: this pipeline against the naive way, same clips.

This pipeline (what `python -m personality_utils prepare` runs per clip): decode with PyAV,
convert only the sampled frames to RGB, squash them into the frame store, detect with HOG on a
copy downscaled to 640 px wide (upsampling only when nothing is found), 68 landmarks on the full
frame, aligned 224x224 crop.

The naive way: convert every decoded frame to RGB at full resolution, then HOG at full
resolution with one level of upsampling on the sampled frames, then landmarks and the crop.

Prints wall-clock and CPU seconds per clip for each, and the ratio. Run:

    .venv/bin/python benchmarks/prepare.py [--shared ../shared/data] [--synthetic 6]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from personality_utils import data, faces, synthetic


def pipeline(path: Path) -> int:
    sampled = data.read_sampled_frames(path, 10)
    for frame in sampled.frames:
        data._resize(frame, 224)
        faces.align_frame(frame, store_size=224, face_size=224)
    return len(sampled.frames)


def naive(path: Path) -> int:
    import av
    import dlib

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(faces.shape_predictor_path()))
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    indices = data.sample_frame_indices(len(frames), 10)
    for index in indices:
        frame = frames[index]
        data._resize(frame, 224)
        boxes = detector(frame, 1)
        if boxes:
            box = max(boxes, key=lambda b: b.area())
            shape = predictor(frame, box)
            landmarks = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], float)
            faces.warp_face(frame, faces.alignment_matrix(landmarks, 224), 224)
    return len(indices)


def decode_only(path: Path) -> int:
    """The floor: decoding every frame, converting none (N must be the decoded count)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def measure(function, clips: list[Path]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for clip in clips:
        function(clip)
    return (time.perf_counter() - wall) / len(clips), (time.process_time() - cpu) / len(clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--synthetic", type=int, default=6, help="synthetic clips to time")
    arguments = parser.parse_args()
    groups = {}
    real = sorted((arguments.shared / "firstimpressions" / "train").glob("*.mp4"))
    if real:
        groups["real 1280x720, 459 frames"] = real
    root = synthetic.ensure_dataset("smoke", seed=0, progress=False)
    clips = data.find_clips(root)
    groups["synthetic 640x360"] = [clips[name] for name in sorted(clips)[: arguments.synthetic]]
    print(f"cores: {os.cpu_count()}; PyAV decodes with its own threads, dlib runs on one core")
    print(
        f"{'clips':28s} {'pipeline s/clip':>20s} {'naive s/clip':>20s} {'speed-up':>9s} "
        f"{'decode alone':>20s}"
    )
    for name, paths in groups.items():
        pipeline(paths[0])  # warm up: load the models once
        fast_wall, fast_cpu = measure(pipeline, paths)
        slow_wall, slow_cpu = measure(naive, paths)
        floor_wall, floor_cpu = measure(decode_only, paths)
        print(
            f"{name:28s} {fast_wall:6.2f} wall {fast_cpu:5.2f} cpu {slow_wall:6.2f} wall "
            f"{slow_cpu:5.2f} cpu {slow_wall / fast_wall:8.1f}x {floor_wall:6.2f} wall "
            f"{floor_cpu:5.2f} cpu"
        )


if __name__ == "__main__":
    main()
