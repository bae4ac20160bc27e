"""After `make real-clips`: chapters 01 and 02 ran on the 24 real First Impressions clips.

    .venv/bin/python .ci/check_real_clips.py [_real_clips]

Reads the chapters' results files (and the frame store they built, reopened without decoding
anything) and checks that:

- both chapters ran under papermill without an error output, on the real data root, with the
  ``paper`` profile;
- every clip was sampled by the authors' rule on its decoded count: the store holds every clip
  (none skipped), each clip's frame indices are ``sample_frame_indices(N, 10)`` with N the
  number of frames a plain full decode of the clip gives (counted here, independently of the
  package's decoder), and the chapters' frame counts are the sums of those;
- dlib found a face in at least 97% of the sampled frames (chapter 02);
- the average real face was computed: 68 mean landmarks inside the crop, and a non-empty mask on
  the feature grid for every face part;
- the constant baseline was scored on the real labels: the training mean predicting the
  validation and test clips, recomputed here from the annotation pickles.

Prints one line per problem and exits 1 if any; otherwise prints the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from executed import executed_record

from personality_utils.core import vocabulary
from personality_utils.data import datasets, release
from personality_utils.data import video as data_video

root = Path(__file__).resolve().parents[1]
folder = (root / (sys.argv[1] if len(sys.argv) > 1 else "_real_clips")).resolve()
data_root = folder / "data"
problems: list[str] = []


def check(condition: bool, message: str) -> None:
    if not condition:
        problems.append(message)


saved: dict[str, dict] = {}
for stem in ("01_data", "02_faces"):
    results = folder / "results" / f"{stem}.json"
    record = executed_record(folder, stem, problems)
    if record is None:
        continue
    saved[stem] = record
    check(saved[stem].get("profile") == "paper", f"{results}: profile {saved[stem].get('profile')}")
    # The chapters name the data root relative to their folder (no build path in a page).
    named = saved[stem].get("data", "").removeprefix("First Impressions at ")
    ran_on = (folder / named).resolve() if named else None
    check(ran_on == data_root.resolve(), f"{results}: not run on {data_root} but on {named!r}")
if problems:
    print("\n".join(problems))
    sys.exit(1)
first, faces = saved["01_data"], saved["02_faces"]


def decoded_count(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


# Sampling: the store the chapters built (reopened: its settings match, nothing is decoded).
dataset = datasets.prepare_dataset("paper", data_root=data_root, progress=False)
labels = release.load_split_labels(data_root)
clips = dataset.clips()
for split, store in dataset.stores().items():
    check(not store.skipped, f"{split}: clips skipped: {store.skipped}")
    check(not store.short, f"{split}: short clips: {store.short}")
    check(set(store.meta["clip"]) == set(labels[split].index), f"{split}: clips missing")
    for clip, rows in store.meta.groupby("clip"):
        n = decoded_count(clips[clip])
        check(
            int(rows["n_decoded"].iloc[0]) == n,
            f"{clip}: stored N {rows['n_decoded'].iloc[0]}, decodes {n}",
        )
        indices = sorted(rows["frame_index"].tolist())
        check(
            indices == data_video.sample_frame_indices(n, 10), f"{clip}: frames {indices} for N={n}"
        )
    check(first["frames"][split] == len(store), f"01_data: {split} frames {first['frames'][split]}")
    check(
        faces["frames"][split] == len(store), f"02_faces: {split} frames {faces['frames'][split]}"
    )
    check(
        first["clips"][split] == len(labels[split]),
        f"01_data: {split} clips {first['clips'][split]}",
    )
    check(not first["short_clips"][split], f"01_data: short clips {first['short_clips'][split]}")

# Detection on the sampled frames.
found, frames = sum(faces["faces"].values()), sum(faces["frames"].values())
rate = found / frames
check(rate >= 0.97, f"02_faces: a face in {rate:.1%} of the sampled frames, under 97%")

# The average real face and its part masks.
size = faces["face_size"]
landmarks = np.asarray(faces.get("mean_landmarks", []), dtype=float)
check(landmarks.shape == (68, 2), f"02_faces: mean landmarks of shape {landmarks.shape}")
check(
    bool(np.isfinite(landmarks).all() and (landmarks > 0).all() and (landmarks < size).all()),
    "02_faces: mean landmarks outside the crop",
)
masks = {part: np.asarray(mask) for part, mask in faces.get("grid_masks", {}).items()}
check(len(masks) >= 4, f"02_faces: face-part masks {sorted(masks)}")
for part, mask in masks.items():
    check(mask.shape == (faces["grid"],) * 2 and mask.any(), f"02_faces: {part} mask empty")

# The constant baseline on the real labels: the training mean predicting every clip.
mean = labels["train"][list(vocabulary.TRAITS)].mean()
for split, key in (("validation", "constant_baseline_accuracy"), ("test", None)):
    truth = labels[split][list(vocabulary.TRAITS)]
    expected = float((1 - (truth - mean).abs()).to_numpy().mean())
    got = first[key] if key else first["constant_baseline_test"]["mean"]
    check(
        abs(got - expected) < 1e-9,
        f"01_data: constant baseline on {split} {got}, expected {expected}",
    )

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(
    f"real clips: {len(clips)} clips sampled by the authors' rule on their decoded counts; "
    f"a face in {found:.0f}/{frames:.0f} sampled frames ({rate:.1%}); average face and "
    f"{len(masks)} part masks; constant baseline {first['constant_baseline_accuracy']:.4f} "
    f"(validation), {first['constant_baseline_test']['mean']:.4f} (test)"
)
