"""After `make dry-run`: the paper path ran end to end on the `paper-tiny` profile.

    .venv/bin/python .ci/check_dry_run.py [_dry_run]

Every chapter was executed under papermill without an error output and saved its results file
with the keys the book's chapters save; the models are the paper's (full-width VGG-16 at 224 px
started from the VGG-Face-layout weight file, the authors' CAM head on a 14x14 relu5_3, their
training recipe); chapters 06-07 ranked one face per test clip (F = the test clips with a face)
and Table 2 lists all 17 of the paper's AUs. Prints one line per problem and exits 1 if any.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from executed import executed_record

from personality_utils.core import profiles
from personality_utils.core.results import RESULT_KEYS
from personality_utils.core.vocabulary import ATTRIBUTION_METHODS
from personality_utils.models import training

root = Path(__file__).resolve().parents[1]
folder = root / (sys.argv[1] if len(sys.argv) > 1 else "_dry_run")
stems = sorted(path.stem for path in (root / "notebooks").glob("[0-9]*.py"))
problems: list[str] = []


def check(condition: bool, message: str) -> None:
    if not condition:
        problems.append(message)


saved: dict[str, dict] = {}
for stem in stems:
    results = folder / "results" / f"{stem}.json"
    record = executed_record(folder, stem, problems)
    if record is None:
        continue
    saved[stem] = record
    check(record.get("profile") == "paper-tiny", f"{results}: profile {record.get('profile')!r}")
    missing = RESULT_KEYS.get(stem, set()) - set(record)
    check(not missing, f"{results}: missing keys {sorted(missing)}")

paper = profiles.get_profile("paper-tiny")
for stem, source in (("03_full_frames", "frames"), ("04_faces_model", "faces")):
    if stem not in saved:
        continue
    for label, record in (("DAN+", saved[stem]), ("CAM", saved[stem].get("cam_model", {}))):
        config = record.get("config", {})
        expected = training.config_for(
            paper, config.get("kind", "?"), config.get("backbone_weights"), source=source
        ).to_dict()
        differing = {
            key: (config.get(key), value)
            for key, value in expected.items()
            if key != "device" and config.get(key) != value
        }
        check(not differing, f"{stem} {label}: not the paper recipe: {differing}")
        check(
            str(config.get("backbone_weights", "")).endswith(".pth"),
            f"{stem} {label}: not started from a VGG-Face weight file",
        )
        rates = training.learning_rates(training.TrainConfig(**config))
        check(
            np.allclose(rates, np.logspace(-3, -6, 30)[: len(rates)]),
            f"{stem} {label}: learning rates {rates}",
        )
    check(saved[stem].get("cam_model", {}).get("kind") == "cam", f"{stem}: CAM model is not 'cam'")

if "05_cam" in saved:
    cam = saved["05_cam"]
    check(cam.get("cam_grid") == 14, f"05_cam: CAM grid {cam.get('cam_grid')}, expected 14")
    check(cam.get("cam_kind") == "cam", "05_cam: not the authors' CAM head")
    check(cam.get("cam_upsampling") == "bicubic", "05_cam: maps not upsampled bicubically")
    check(cam.get("cam_ranking") == "videos", "05_cam: top images not ranked by video")
if "05b_attribution" in saved:
    # Every attribution method ran on the authors' CAM head at 224 px, with removal curves.
    cam_scores = saved["05b_attribution"].get("scores", {}).get("CAM model", {})
    missing = set(ATTRIBUTION_METHODS) - set(cam_scores)
    check(not missing, f"05b_attribution: methods not run on the CAM model: {sorted(missing)}")
    check(
        all("srg" in cell for cell in cam_scores.get("Grad-CAM", {}).values()),
        "05b_attribution: no removal score for Grad-CAM",
    )
if "06_units" in saved:
    unit = saved["06_units"]
    check(unit.get("layer_grid", {}).get("conv5_3") == 14, "06_units: conv5_3 is not 14x14")
    check(unit.get("units_conv5_3") == 512, "06_units: conv5_3 does not have 512 units")
    check(
        unit.get("population") == "first_face_per_clip"
        and unit.get("n_images") == unit.get("test_clips_with_face"),
        f"06_units: F = {unit.get('n_images')}, test clips with a face "
        f"{unit.get('test_clips_with_face')}",
    )
if "07_action_units" in saved:
    au = saved["07_action_units"]
    check(au.get("n_faces") == au.get("n_clips"), "07_action_units: F is not one face per clip")
    check(au.get("n_units") == 512, "07_action_units: U is not 512")
    check(len(au.get("table2", [])) == 17, "07_action_units: Table 2 does not list 17 AUs")
if "08_summary" in saved:
    check(len(saved["08_summary"].get("claims", [])) > 0, "08_summary: no claims")

for problem in problems:
    print(problem)
print(f"dry run of the paper path, {len(saved)} chapters: {'FAILED' if problems else 'ok'}")
sys.exit(1 if problems else 0)
