"""Every notebook runs under papermill on the smoke profile and saves its results."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from personality_utils.book import chapters
from personality_utils.core.results import RESULT_KEYS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = chapters.chapter_sources(REPO / "notebooks")


@pytest.fixture(scope="module")
def chapter_runs(tmp_path_factory, smoke_dataset):
    """Every chapter executed once under papermill on the smoke profile by the runner
    ``make book`` uses (:func:`personality_utils.book.chapters.run_chapters`), two at a time, with
    one shared results folder.

    Returns:
        ``{stem: ChapterRun}``.
    """
    folder = tmp_path_factory.mktemp("notebooks")
    environment = {
        **os.environ,
        "PERSONALITY_UTILS_RESULTS": str(folder / "results"),
        "PERSONALITY_UTILS_CACHE": str(smoke_dataset.store_dir.parents[1]),
    }
    return chapters.run_chapters(
        NOTEBOOKS, folder, "smoke", lanes=2, environment=environment, threads=1
    )


def test_the_runner_respects_what_chapters_read(tmp_path):
    stems = [source.stem for source in NOTEBOOKS]
    order = chapters.schedule(stems)
    assert order[: len(chapters.LONGEST)] == list(chapters.LONGEST)
    assert order[-1] == chapters.SUMMARY
    for stem, before in chapters.needs(stems).items():
        assert all(order.index(other) < order.index(stem) for other in before)
    # Run alone, a chapter waits for nothing; a cycle is refused.
    assert chapters.needs(["04_faces_model"]) == {"04_faces_model": frozenset()}
    chapters.NEEDS["03_full_frames"] = frozenset({"04_faces_model"})
    try:
        with pytest.raises(ValueError, match="wait on each other"):
            chapters.schedule(stems)
    finally:
        del chapters.NEEDS["03_full_frames"]
    source = tmp_path / "09_x.py"
    source.write_text("# %%\nprofile = 'x'\nbackbone_weights = None\n")
    command = chapters.papermill_command(source, source, tmp_path / "o.ipynb", "smoke", "w.pth")
    # Paths reach the kernel relative to its working directory (the output's folder), so that
    # the parameters cell of the executed page names no absolute path of the build machine.
    weights = command[command.index("backbone_weights") + 1]
    assert not Path(weights).is_absolute()
    assert (tmp_path / weights).resolve() == Path("w.pth").resolve()
    source.write_text("# %%\nprofile = 'x'\ndata_root = None\n")
    command = chapters.papermill_command(source, source, tmp_path / "o.ipynb", "smoke", "w.pth")
    assert "backbone_weights" not in command and "data_root" not in command
    command = chapters.papermill_command(
        source, source, tmp_path / "o.ipynb", "smoke", data_root=tmp_path / "fi"
    )
    assert command[command.index("data_root") + 1] == "fi"


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_on_smoke(source, chapter_runs):
    import jupytext

    notebook = jupytext.read(source)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one parameters cell"
    for name in ("profile", "data_root", "device", "seed"):
        assert f"{name} =" in tagged[0].source
    run = chapter_runs[source.stem]
    assert run.returncode == 0, run.log[-4000:]
    output = run.output
    shared_results = output.parent / "results"
    executed = json.loads(output.read_text())
    errors = [
        out
        for cell in executed["cells"]
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    # Batch runs show no explorer (explorers.is_live): no widget in any output.
    widgets = [
        out
        for cell in executed["cells"]
        for out in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    ]
    assert not widgets
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
        from personality_utils.book import summary
        from personality_utils.claims import catalogue

        rows = [
            {k: v for k, v in row.items() if k not in ("profile", "data")}
            for row in catalogue.evaluate(summary.load_chapters(shared_results))
            if row["chapter"] == source.stem
        ]
        assert rows == saved["claims"]
        assert {row["verdict"] for row in rows} <= set(catalogue.VERDICTS)
        # Every claim names the instruments it rests on, as the chapter checked them.
        names = {name for claim in catalogue.claims_of(source.stem) for name in claim.rests_on}
        assert names <= set(saved["measurements"].get("instruments", {})), names
        # No claim reads a measurement its chapter's record does not have (a renamed key
        # would otherwise turn a row into "not testable here" without anyone noticing).
        assert {row["key"]: row["missing"] for row in rows if row["missing"]} == {}
        # The chapter filled every field of its typed record (core.records).
        assert saved["measurements_omitted"] == []
    if source.stem == "08_summary":
        from personality_utils.core import verdicts

        # Each row's verdict re-derived from the row's own evidence fields, and nothing else.
        for row in saved["claims"]:
            if row["verdict"] != "not run":
                assert verdicts.derive(row) == row["verdict"], row["key"]
            assert {"estimate", "interval", "bar", "smallest_effect", "planted"} <= set(row)
            assert all("status" in instrument for instrument in row["instruments"])
        assert set(saved["reading_counts"]) <= set(verdicts.READINGS)
    if source.stem == "05_cam":
        assert 0 <= saved["mean_overlap"]["all"] <= 1
        assert set(saved["randomized_mean_overlap"]["CAM model"]) >= {"trained", "head", "conv1_1"}
        # The authors' protocol is the headline: top videos, bicubic maps.
        assert (saved["cam_ranking"], saved["cam_upsampling"]) == ("videos", "bicubic")
        assert saved["ranking_check"]["ranking"] == "frames"
    if source.stem == "05b_attribution":
        from personality_utils.core.vocabulary import ATTRIBUTION_METHODS, TRAITS

        # Every method beyond the CAM (at least six, from torchcam and captum) on every trait
        # of the CAM model, each score with its interval, removal scores per fill and the
        # controls' effects; the image-blind maps separately.
        scores = saved["scores"]
        assert len(set(ATTRIBUTION_METHODS) - {"CAM"}) >= 6
        # (beside the methods, the model's removal scores in the image-blind maps' orders)
        assert set(ATTRIBUTION_METHODS) <= set(scores["CAM model"])
        assert "CAM" not in scores["DAN+"]
        for method in ATTRIBUTION_METHODS:
            for trait in TRAITS:
                cell = scores["CAM model"][method][trait]
                for measure in ("relevance_mass", "rank_accuracy", "pointing_game"):
                    assert {"value", "low", "high"} <= set(cell[measure])
                assert set(cell["srg"]) == {"training mean", "blur"}
                assert {"false_positive_drop", "randomisation"} <= set(cell)
        measured = saved["measurements"]
        assert set(measured["false_positive_drop"]) == set(ATTRIBUTION_METHODS)
        assert set(measured["backbone_gain"]) == set(ATTRIBUTION_METHODS)
        assert measured["fill_agreement"]["cells"] > 0
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
        # The CPU profiles pretrain: the part-detector and glasses figures of every network.
        assert list(saved["networks"]) == ["trained", "pretrained", "random"]
        for figures in saved["networks"].values():
            assert set(figures["best_n_prime_share"]) == {"conv4_3", "conv5_3"}
            assert set(figures["glasses"]) == {"best_precision", "units_significant"}
        # Emergence: trained (every fine-tuning seed) against the network before fine-tuning,
        # with intervals, and the fair null's own identification printed and saved.
        measured = saved["measurements"]
        assert measured["emergence_null"] == "pretrained"
        assert measured["emergence_design"]["trained_seeds"] >= 2
        assert set(measured["emergence"]) <= {"conv4_3", "conv5_3"}
        assert {"low", "high"} <= set(measured["netdissect_gap"])
        assert 0 <= saved["fair_null_identification"] <= 1
    if source.stem == "07_action_units":
        # Table 2 keeps all 17 of the paper's AUs; AU14 cannot be read from landmarks.
        rows = {row["AU"]: row for row in saved["table2"]}
        assert len(rows) == 17 and rows["AU14"]["measured"] == "not by landmarks"
        assert rows["AU14"]["p"] is None and rows["AU14"]["intersection_planted_aus"] is not None
        assert saved["n_faces"] == saved["n_clips"]  # one face per test clip with a face
        assert rows["AU12"]["intersection_pretrained_network"] is not None
        measured = saved["measurements"]
        assert set(measured["best_k_gap_levels"]) == {"trained", "pretrained", "random"}
        # Table 2 and the AU model on the planted AUs beside the measured ones.
        assert set(measured["table2"]) == {"measured", "planted"}
        assert set(measured["au_model"]) == {"measured", "planted"}
        assert measured["instruments"]["AU source"]["status"] in ("passed", "failed")
    if source.stem == "01_data":
        assert saved["hog_detection_rate"] >= 0.9
        assert saved["landmark_error_iod"] < 0.12
        assert 0.7 < saved["constant_baseline_accuracy"] < 0.95


def _stream_text(notebook: Path) -> str:
    executed = json.loads(notebook.read_text())
    return "".join(
        "".join(out.get("text", ""))
        for cell in executed["cells"]
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


def test_chapters_01_02_on_a_partial_download(tmp_path, shared_data):
    """How people start: the full label pickles and only some clips. Four real training clips,
    the real training and validation pickles (8000 labelled clips), no validation clip, no test
    split: chapters 01-02 run, say in a few lines what is missing and what they cannot
    compute, and compute the rest from the clips there are; the runner does not start chapter
    03, which scores on test, and says why in one line; the summary runs on what there is."""
    from personality_utils.data import stores

    real = shared_data / "firstimpressions"
    root = tmp_path / "fi"
    (root / "train").mkdir(parents=True)
    for name in ("annotation_training.pkl", "annotation_validation.pkl"):
        (root / name).symlink_to(real / name)
    clips = sorted((real / "train").glob("*.mp4"))[:4]
    for clip in clips:
        (root / "train" / clip.name).symlink_to(clip)
    cache = tmp_path / "cache"
    environment = {
        **os.environ,
        "PERSONALITY_UTILS_RESULTS": str(tmp_path / "book" / "results"),
        "PERSONALITY_UTILS_CACHE": str(cache),
    }
    wanted = ("01_data", "02_faces", "03_full_frames", "08_summary")
    sources = [source for source in NOTEBOOKS if source.stem in wanted]
    skipped = []
    runs = chapters.run_chapters(
        sources,
        tmp_path / "book",
        "smoke",
        lanes=1,
        environment=environment,
        data_root=root,
        on_skip=lambda *reported: skipped.append(reported),
    )
    # The runner decides: chapter 03, which scores on test, is not started, in one line.
    assert skipped == [("03_full_frames", "needs clips of test (no labels under data_root)")]
    assert set(runs) == {"01_data", "02_faces", "08_summary"}
    for stem, run in runs.items():
        assert run.returncode == 0, run.log[-4000:]
        if stem == "08_summary":
            continue
        printed = _stream_text(run.output)
        # One line per split on the missing clips, never one per clip.
        assert "train: 5996 of 6000 labelled clips have no video" in printed
        assert "validation: 2000 of 2000 labelled clips have no video" in printed
        assert printed.count(".mp4") <= 8 and len(printed.splitlines()) < 30
    (store_dir,) = (cache / "stores").iterdir()
    listed = (store_dir / "train" / stores.MISSING_LIST).read_text().split()
    assert len(listed) == 5996 and not {clip.name for clip in clips} & set(listed)
    first = json.loads((tmp_path / "book" / "results" / "01_data.json").read_text())
    assert "validation has no clip on disk: measured on train instead" in _stream_text(
        runs["01_data"].output
    )
    assert first["detection_check_split"] == "train" and first["hog_detection_rate"] >= 0.9
    assert first["clips_without_video"] == {"train": 5996, "validation": 2000}
    # The constant baseline needs labels only: it is computed on the full validation labels.
    assert first["constant_baseline_accuracy"] == pytest.approx(0.8834, abs=5e-4)
    faces_record = json.loads((tmp_path / "book" / "results" / "02_faces.json").read_text())
    assert set(faces_record["detection_rate"]) == {"train"}
    assert faces_record["detection_rate"]["train"] >= 0.9
    assert "validation: no clip on disk" in _stream_text(runs["02_faces"].output)
    assert not (tmp_path / "book" / "results" / "03_full_frames.json").exists()
