"""Benchmark of the per-clip preparation on the real clips: before and after the decoder learnt
to decode only what the sampled frames need, in one run, same clips.

The step timed is the whole of what `python -m personality_utils prepare` does per clip
(``stores._shard_clip``): decode and sample by the authors' rule, squash the sampled frames into
the frame store, detect the face (HOG), place 68 landmarks, warp the aligned crop, write the
clip's shard.

- before: every frame decoded (PyAV with its own threads), the sampled ones converted to RGB;
- after: the decoder skips frames that no other frame references unless they are sampled
  (``skip_frame = "NONREF"``), stops after the last sampled frame, one thread (the pool runs
  one clip per core);
- decode floor: decoding every frame and converting none, the least the *before* way costs;
  and the *after* decoding alone (no faces, no store).

Prints CPU and wall-clock seconds per clip for each, and the ratio. The machine may be shared:
wall time then exceeds CPU time. Run:

    .venv/bin/python benchmarks/prepare.py [--shared ../shared/data] [--clips 24]
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from pathlib import Path

from personality_utils.data import stores
from personality_utils.data import video as data_video
from personality_utils.faces import detection


def prepare_step(path: Path, folder: Path, skip_unneeded: bool) -> None:
    decode = functools.partial(data_video.read_sampled_frames, skip_unneeded=skip_unneeded)
    original = stores.read_sampled_frames
    stores.read_sampled_frames = decode
    try:
        _, error = stores._shard_clip(
            (path.name, str(path), folder / f"{path.name}.npz", 10, 224, 224)
        )
    finally:
        stores.read_sampled_frames = original
    assert error is None, error


def decode_floor(path: Path) -> None:
    """Every frame decoded, none converted (N must be the decoded count)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass


def decode_after(path: Path) -> None:
    data_video.read_sampled_frames(path, 10)


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
    parser.add_argument("--clips", type=int, default=24, help="real clips to time")
    arguments = parser.parse_args()
    clips = sorted((arguments.shared / "firstimpressions" / "train").glob("*.mp4"))
    clips = clips[: arguments.clips]
    if not clips:
        raise SystemExit(f"no real clips under {arguments.shared}/firstimpressions/train")
    detection.align_frame(
        data_video.read_sampled_frames(clips[0]).frames[0]
    )  # load dlib's models once
    print(
        f"{len(clips)} real 1280x720 clips; {os.cpu_count()} cores (load {os.getloadavg()[0]:.1f})"
    )
    with tempfile.TemporaryDirectory() as folder:
        rows = {
            "before (full decode)": measure(
                lambda clip: prepare_step(clip, Path(folder), False), clips
            ),
            "after (needed frames)": measure(
                lambda clip: prepare_step(clip, Path(folder), True), clips
            ),
            "decode floor (before)": measure(decode_floor, clips),
            "decode alone (after)": measure(decode_after, clips),
        }
    for name, (wall, cpu) in rows.items():
        print(f"{name:24s} {cpu:5.2f} s CPU {wall:6.2f} s wall per clip")
    before, after = rows["before (full decode)"], rows["after (needed frames)"]
    print(
        f"whole prepare step: {before[1] / after[1]:.2f}x less CPU, "
        f"{before[0] / after[0]:.2f}x less wall time"
    )


if __name__ == "__main__":
    main()
