"""Before `make real-clips`: a First Impressions data root made of the 24 real training clips.

    .venv/bin/python .ci/real_clips_root.py SHARED_DATA OUT

The shared folder holds 24 real training clips, the full training and validation label
pickles, and no validation or test clip. The chapters need a clip in every split (a data root
with empty splits is a separate matter), so this writes ``OUT`` in the official layout with
what the chapters need and nothing made up: the 24 clips, linked (never copied), split by
person (every clip is a different YouTube id) into 16 training, 4 validation and 4 test clips,
and three ``annotation_*.pkl`` files holding those clips' real labels from
``annotation_training.pkl`` (Python-2 protocol, the release's layout). Prints the split sizes.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from personality_utils.core import files, vocabulary
from personality_utils.data import release

shared, out = Path(sys.argv[1]), Path(sys.argv[2])
clips = sorted((shared / "firstimpressions" / "train").glob("*.mp4"))
labels = release.load_annotations(shared / "firstimpressions" / "annotation_training.pkl")
if len(clips) < 6:
    sys.exit(f"{shared}: expected the 24 real clips, found {len(clips)}")
splits: dict[str, list[Path]] = {split: [] for split in vocabulary.SPLITS}
for position, clip in enumerate(clips):  # name order: a fixed, label-blind assignment
    split = {4: "validation", 5: "test"}.get(position % 6, "train")
    splits[split].append(clip)
for split, members in splits.items():
    folder = out / split
    folder.mkdir(parents=True, exist_ok=True)
    for clip in members:
        link = folder / clip.name
        if not link.is_symlink():
            link.symlink_to(clip.resolve())
    content = {
        column: {clip.name: float(labels.at[clip.name, column]) for clip in members}
        for column in labels.columns
    }
    payload = pickle.dumps(content, protocol=2)
    files.write_atomic(
        out / release.ANNOTATION_FILES[split],
        lambda temporary, payload=payload: Path(temporary).write_bytes(payload),
    )
print(", ".join(f"{split} {len(members)} clips" for split, members in splits.items()), "->", out)
