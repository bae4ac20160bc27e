"""Headline figures of each chapter, saved as ``book/results/<notebook-stem>.json``.

Every notebook ends with :func:`save_results`; later chapters and the summary page read them
back with :func:`load_results`, so no number is typed in twice.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from personality_utils.core.files import write_atomic

__all__ = [
    "RESULT_KEYS",
    "load_results",
    "results_dir",
    "save_results",
    "to_jsonable",
]

#: What chapters 03 and 04 save of each model
#: (:func:`~personality_utils.models.experiments.results_record`).
_MODEL_KEYS = {
    "config",
    "mean_accuracy",
    "per_trait_accuracy",
    "constant_baseline_accuracy",
    "r2",
    "pearson",
    "ccc",
}
#: Keys each chapter's results file holds (the notebook tests and CI's dry run of the paper path
#: check them).
RESULT_KEYS: dict[str, set[str]] = {
    "01_data": {"constant_baseline_accuracy", "hog_detection_rate", "landmark_error_iod"},
    "02_faces": {"detection_rate", "eye_alignment_error_px", "landmark_error_iod"},
    "03_full_frames": _MODEL_KEYS | {"measurements", "claims"},
    "04_faces_model": _MODEL_KEYS | {"table1", "measurements", "claims"},
    "05_cam": {
        "overlap_ge_0_9_share",
        "mean_overlap",
        "centre_prior_mean_overlap",
        "pointing_game",
        "randomized_mean_overlap",
        "cam_grid",
        "cam_upsampling",
        "cam_ranking",
        "ranking_check",
        "measurements",
        "claims",
    },
    "05b_attribution": {
        "methods",
        "priors",
        "scores",
        "rank_correlation_randomised",
        "backbone_gain",
        "settings",
        "measurements",
        "claims",
    },
    "06_units": {
        "units_per_region_top5",
        "layer_entropy",
        "glasses_precision_at_n",
        "iou_detectors_per_region",
        "layer_grid",
        "population",
        "n_images",
        "test_clips_with_face",
        "population_check",
        "measurements",
        "claims",
    },
    "07_action_units": {
        "table2",
        "table2_all_frames",
        "population",
        "n_faces",
        "au_model_accuracy",
        "constant_baseline_accuracy",
        "estimator_correlation",
        "measurements",
        "claims",
    },
    "08_summary": {"claims", "chapters"},
}


def results_dir() -> Path:
    """``$PERSONALITY_UTILS_RESULTS`` if set, else ``results/`` under the working directory
    (the Makefile runs notebooks from ``book/``, so they land in ``book/results``)."""
    return Path(os.environ.get("PERSONALITY_UTILS_RESULTS", Path.cwd() / "results"))


def to_jsonable(value: Any) -> Any:
    """Convert numpy and pandas values (recursively) into plain JSON types; NaN becomes None."""
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if hasattr(value, "to_dict"):  # pandas Series / DataFrame
        return to_jsonable(value.to_dict())
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} in a results file")


def save_results(
    stem: str,
    values: dict[str, Any],
    *,
    profile: str,
    data: str,
    directory: str | os.PathLike | None = None,
) -> Path:
    """Write a chapter's headline figures atomically.

    Args:
        stem: Notebook stem, e.g. ``"01_data"``.
        values: Figures to save (numpy and pandas values are converted).
        profile: Profile that produced them.
        data: What data produced them, e.g. ``"synthetic (seed 0)"`` or ``"real: /path"``.
        directory: Folder (default :func:`results_dir`).

    Returns:
        The path written.
    """
    if not stem or "/" in stem:
        raise ValueError(f"bad results stem {stem!r}")
    folder = Path(directory) if directory is not None else results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    record = {"notebook": stem, "profile": profile, "data": data, **to_jsonable(values)}
    path = folder / f"{stem}.json"

    write_atomic(path, lambda temporary: Path(temporary).write_text(json.dumps(record, indent=1)))
    return path


def load_results(stem: str, directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read a chapter's results.

    Raises:
        FileNotFoundError: If that chapter has not been run yet (with the path it looked for).
    """
    folder = Path(directory) if directory is not None else results_dir()
    path = folder / f"{stem}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run notebook {stem} first")
    return json.loads(path.read_text())
