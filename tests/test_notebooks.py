"""Every notebook runs under papermill on the smoke profile and saves its results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import pytest

from personality_utils.results import RESULT_KEYS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9]*.py"))
#: What a chapter reads from another one's run: chapter 4 chapter 3's results, chapter 7 the
#: unit statistics chapter 6 caches, the summary every results file (the Makefile's order).
NEEDS = {
    "04_faces_model": {"03_full_frames"},
    "07_action_units": {"06_units"},
    "08_summary": {path.stem for path in NOTEBOOKS} - {"08_summary"},
}

#: Started first (the Makefile's order too): the longest chapters.
LONGEST = ("05_cam", "06_units", "03_full_frames")


@pytest.fixture(scope="module")
def chapter_runs(tmp_path_factory, smoke_dataset):
    """Every chapter executed once under papermill on the smoke profile, two at a time in the
    order of :data:`NEEDS` (as ``make book`` runs them), with one shared results folder.

    Returns:
        ``{stem: (executed notebook path, return code, papermill's output)}``.
    """
    import jupytext

    folder = tmp_path_factory.mktemp("notebooks")
    environment = {
        **os.environ,
        "PERSONALITY_UTILS_RESULTS": str(folder / "results"),
        "PERSONALITY_UTILS_CACHE": str(smoke_dataset.store_dir.parents[1]),
        "OMP_NUM_THREADS": "1",
    }

    def run(source: Path) -> tuple[Path, int, str]:
        ipynb = folder / f"{source.stem}.ipynb"
        jupytext.write(jupytext.read(source), ipynb)
        output = folder / f"{source.stem}.out.ipynb"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "papermill",
                str(ipynb),
                str(output),
                "-p",
                "profile",
                "smoke",
                "--cwd",
                str(folder),
                "--kernel",
                "python3",
                "--no-progress-bar",
            ],
            env=environment,
            capture_output=True,
            check=False,
            text=True,
        )
        return output, done.returncode, done.stdout + done.stderr

    finished: dict[str, tuple[Path, int, str]] = {}
    order = {stem: rank for rank, stem in enumerate(LONGEST)}
    waiting = sorted(NOTEBOOKS, key=lambda path: (order.get(path.stem, len(order)), path.stem))
    with ThreadPoolExecutor(max_workers=2) as pool:
        running: dict = {}
        while waiting or running:
            for source in [s for s in waiting if NEEDS.get(s.stem, set()) <= set(finished)]:
                if len(running) < 2:
                    running[pool.submit(run, source)] = source.stem
                    waiting.remove(source)
            if not running:  # a chapter needs one that is not in the sequence
                raise AssertionError(f"unmet dependencies: {[s.stem for s in waiting]}")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                finished[running.pop(future)] = future.result()
    return finished


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_on_smoke(source, chapter_runs):
    import jupytext

    notebook = jupytext.read(source)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one parameters cell"
    for name in ("profile", "data_root", "device", "seed"):
        assert f"{name} =" in tagged[0].source
    output, returncode, log = chapter_runs[source.stem]
    assert returncode == 0, log[-4000:]
    shared_results = output.parent / "results"
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
    assert RESULT_KEYS.get(source.stem, set()) <= set(saved)
    if "measurements" in saved:
        # One code path: the rows a chapter printed are the summary's rows for it.
        from personality_utils import claims, summary

        rows = [
            {k: v for k, v in row.items() if k not in ("profile", "data")}
            for row in claims.evaluate(summary.load_chapters(shared_results))
            if row["chapter"] == source.stem
        ]
        assert rows == saved["claims"]
        assert {row["verdict"] for row in rows} <= set(claims.VERDICTS)
    if source.stem == "05_cam":
        assert 0 <= saved["mean_overlap"]["all"] <= 1
        assert set(saved["randomized_mean_overlap"]["CAM model"]) >= {"trained", "head", "conv1_1"}
        # The authors' protocol is the headline: top videos, bicubic maps.
        assert (saved["cam_ranking"], saved["cam_upsampling"]) == ("videos", "bicubic")
        assert saved["ranking_check"]["ranking"] == "frames"
    if source.stem == "06_units":
        assert len(saved["layer_entropy"]) == 13
        # One face per test clip (the authors' F): F = the test clips with a face.
        assert saved["population"] == "first_face_per_clip"
        assert saved["n_images"] == saved["test_clips_with_face"] <= saved["test_clips"]
        check = saved["population_check"]["all_faces (check)"]
        assert check["F"] > saved["n_images"]
        assert set(saved["units_per_region_top5"]) <= {"eyebrows", "eyes", "nose", "mouth"}
        assert all(
            0 <= row["n_prime"] <= saved["top_n"]
            for rows in saved["units_per_region_top5"].values()
            for row in rows
        )
        assert 0 < saved["glasses_precision_at_n"]["base_rate"] < 1
    if source.stem == "07_action_units":
        # Table 2 keeps all 17 of the paper's AUs; AU14 cannot be read from landmarks.
        rows = {row["AU"]: row for row in saved["table2"]}
        assert len(rows) == 17 and rows["AU14"]["measured"] == "not by landmarks"
        assert rows["AU14"]["p"] is None and rows["AU14"]["intersection_planted_aus"] is not None
        assert saved["n_faces"] == saved["n_clips"]  # one face per test clip with a face
    if source.stem == "01_data":
        assert saved["hog_detection_rate"] >= 0.9
        assert saved["landmark_error_iod"] < 0.12
        assert 0.7 < saved["constant_baseline_accuracy"] < 0.95
