"""Every notebook runs under papermill on the smoke profile and saves its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9]*.py"))
#: Keys each chapter's results file must hold.
REQUIRED_KEYS = {
    "01_data": {"constant_baseline_accuracy", "hog_detection_rate", "landmark_error_iod"},
    "02_faces": {"detection_rate", "eye_alignment_error_px", "landmark_error_iod"},
    "03_full_frames": {
        "mean_accuracy",
        "per_trait_accuracy",
        "constant_baseline_accuracy",
        "r2",
        "pearson",
        "ccc",
    },
    "04_faces_model": {
        "mean_accuracy",
        "per_trait_accuracy",
        "constant_baseline_accuracy",
        "r2",
        "pearson",
        "ccc",
        "table1",
    },
    "05_cam": {
        "overlap_ge_0_9_share",
        "mean_overlap",
        "centre_prior_mean_overlap",
        "pointing_game",
        "randomized_mean_overlap",
        "verdicts",
    },
    "06_units": {
        "units_per_region_top5",
        "layer_entropy",
        "glasses_precision_at_n",
        "iou_detectors_per_region",
        "verdicts",
    },
    "07_action_units": {
        "table2",
        "au_model_accuracy",
        "constant_baseline_accuracy",
        "estimator_correlation",
        "verdicts",
    },
    "08_summary": {"claims", "chapters"},
}


@pytest.fixture(scope="module")
def shared_results(tmp_path_factory):
    """One results folder for the whole sequence: later chapters read earlier ones' results."""
    return tmp_path_factory.mktemp("results")


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_on_smoke(source, tmp_path, smoke_dataset, monkeypatch, shared_results):
    import jupytext
    import papermill

    monkeypatch.setenv("PERSONALITY_UTILS_RESULTS", str(shared_results))
    monkeypatch.setenv("PERSONALITY_UTILS_CACHE", str(smoke_dataset.store_dir.parents[1]))
    notebook = jupytext.read(source)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one parameters cell"
    for name in ("profile", "data_root", "device", "seed"):
        assert f"{name} =" in tagged[0].source
    ipynb = tmp_path / f"{source.stem}.ipynb"
    jupytext.write(notebook, ipynb)
    output = tmp_path / f"{source.stem}.out.ipynb"
    papermill.execute_notebook(
        str(ipynb),
        str(output),
        parameters={"profile": "smoke"},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    executed = json.loads(output.read_text())
    errors = [
        out
        for cell in executed["cells"]
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    figures = [
        out
        for cell in executed["cells"]
        for out in cell.get("outputs", [])
        if "text/html" in out.get("data", {})
        and "Plotly.newPlot" in "".join(out["data"]["text/html"])
    ]
    assert figures, "the notebook shows at least one plotly figure as offline HTML"
    for figure in figures:
        assert "cdn.plot.ly" not in "".join(figure["data"]["text/html"])
    saved = json.loads((shared_results / f"{source.stem}.json").read_text())
    assert saved["profile"] == "smoke"
    assert REQUIRED_KEYS.get(source.stem, set()) <= set(saved)
    if source.stem == "05_cam":
        assert 0 <= saved["mean_overlap"]["all"] <= 1
        assert set(saved["randomized_mean_overlap"]["CAM model"]) >= {"trained", "head", "conv1_1"}
    if source.stem == "06_units":
        assert len(saved["layer_entropy"]) == 13
        assert set(saved["units_per_region_top5"]) <= {"eyebrows", "eyes", "nose", "mouth"}
        assert all(
            0 <= row["n_prime"] <= saved["top_n"]
            for rows in saved["units_per_region_top5"].values()
            for row in rows
        )
        assert 0 < saved["glasses_precision_at_n"]["base_rate"] < 1
        assert {v["holds"] for v in saved["verdicts"]} <= {True, False, None}
    if source.stem == "01_data":
        assert saved["hog_detection_rate"] >= 0.9
        assert saved["landmark_error_iod"] < 0.12
        assert 0.7 < saved["constant_baseline_accuracy"] < 0.95
