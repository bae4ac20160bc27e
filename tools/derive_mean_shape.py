"""Derive the synthetic faces' 68-point mean shape from dlib's predictor on real photos.

Run once by a developer; the printed array is pasted into personality_utils/synthetic.py
(``MEAN_SHAPE``). Each face's landmarks are normalised by a similarity transform that puts the
eye centres at (-0.5, 0) and (0.5, 0), then averaged. Inputs: the real photos and clip frames
in ../shared/data (public files; see their SOURCES.md).
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from personality_utils.data import video
from personality_utils.faces import alignment, detection

shared = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
images = []
for photo in sorted((shared / "faces").glob("*.jpg")):
    images.append(np.asarray(Image.open(photo).convert("RGB")))
for clip in sorted((shared / "firstimpressions" / "train").glob("*.mp4")):
    images.extend(video.read_sampled_frames(clip, 10).frames)

shapes = []
for rgb in images:
    found = detection.detect_face(rgb)
    if not found.found:
        continue
    right, left = alignment.eye_centres(found.landmarks)
    centre = (right + left) / 2
    axis = left - right
    scale = np.linalg.norm(axis)
    angle = np.arctan2(axis[1], axis[0])
    rotation = np.array([[np.cos(-angle), -np.sin(-angle)], [np.sin(-angle), np.cos(-angle)]])
    shapes.append((found.landmarks - centre) @ rotation.T / scale)
mean = np.mean(shapes, axis=0)
mean[:, 0] -= 0  # eye centres already at +-0.5
print(f"# {len(shapes)} faces", file=sys.stderr)
np.set_printoptions(precision=3, suppress=True)
print("MEAN_SHAPE = np.array([")
for x, y in mean:
    print(f"    ({x:.3f}, {y:.3f}),")
print("])")
