"""Face detection rate on the sampled frames of the real clips: the finer-search rule of
:func:`personality_utils.faces.detection.needs_finer_search` against the old rule (finer search
only when the coarse pass finds nothing), same frames.

Prints, for each rule, frames with a face, the detection rate, how many frames ran the finer
search, and CPU seconds per frame of detection (landmarks included). Run:

    .venv/bin/python benchmarks/detection.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from unittest import mock

from personality_utils.data import video
from personality_utils.faces import detection as faces_detection


def old_rule(boxes, scores, shape) -> bool:
    return len(boxes) == 0


def run(frames, rule) -> tuple[int, int, float]:
    found = upsampled = 0
    with mock.patch.object(faces_detection, "needs_finer_search", rule):
        cpu = time.process_time()
        for frame in frames:
            detection = faces_detection.detect_face(frame)
            found += detection.found
            upsampled += detection.upsampled
        cpu = time.process_time() - cpu
    return found, upsampled, cpu / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    arguments = parser.parse_args()
    clips = sorted((arguments.shared / "firstimpressions" / "train").glob("*.mp4"))
    if not clips:
        raise SystemExit(f"no real clips under {arguments.shared}")
    frames = [frame for clip in clips for frame in video.read_sampled_frames(clip, 10).frames]
    faces_detection.detect_face(frames[0])  # load the models once
    print(f"{len(clips)} real clips, {len(frames)} sampled frames (authors' rule, 10 samples)")
    for name, rule in (
        ("old: finer search only when nothing found", old_rule),
        ("new: also when weak or out of line", faces_detection.needs_finer_search),
    ):
        found, upsampled, cpu = run(frames, rule)
        print(
            f"{name:44s} faces {found}/{len(frames)} = {found / len(frames):.4f}, "
            f"kept from the finer search {upsampled}, {cpu * 1000:.1f} ms CPU per frame"
        )


if __name__ == "__main__":
    main()
