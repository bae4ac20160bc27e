"""Tests of personality_utils.book.summary (and the summary's figures in plots) on small
hand-written results files."""

from __future__ import annotations

import json

from personality_utils.book import summary
from personality_utils.claims import catalogue
from personality_utils.core import results, stats
from personality_utils.core.vocabulary import TRAITS
from personality_utils.figures import tables

PER_TRAIT = dict(zip(TRAITS, (0.90, 0.89, 0.88, 0.87, 0.86), strict=True))


def _write(folder, stem, profile="smoke", data="synthetic (seed 0)", **values):
    results.save_results(stem, values, profile=profile, data=data, directory=folder)


def _chapter(stem, **values):
    return {"notebook": stem, "profile": "smoke", "data": "synthetic (seed 0)", **values}


def _frames_measurements():
    return {
        "accuracy": stats.estimate(0.89, 0.88, 0.9),
        "constant": 0.88,
        "gain_over_constant": stats.estimate(0.01, 0.005, 0.015),  # 0.89 - 0.88 on the same clips
    }


def test_missing_and_corrupt_chapters_are_not_run(tmp_path):
    _write(tmp_path, "03_full_frames", mean_accuracy=0.9, measurements=_frames_measurements())
    (tmp_path / "04_faces_model.json").write_text("{not json")
    chapters = summary.load_chapters(tmp_path)
    assert list(chapters) == list(summary.CHAPTERS_READ)
    assert chapters["03_full_frames"]["mean_accuracy"] == 0.9
    assert chapters["04_faces_model"] is None and chapters["07_action_units"] is None
    rows = {row["key"]: row for row in summary.evaluate_claims(chapters)}
    assert rows["faces_beat_constant"]["verdict"] == "not run"
    frames = rows["frames_beat_constant"]
    assert frames["verdict"] == "held"
    assert frames["profile"] == "smoke" and frames["data"] == "synthetic (seed 0)"


def test_provenance_and_mixed_data():
    chapters = {
        "05_cam": None,
        "06_units": _chapter("06_units"),
        "07_action_units": _chapter(
            "07_action_units", profile="default", data="First Impressions at /data"
        ),
    }
    table = summary.provenance(chapters, profile="smoke")
    assert table.loc["05_cam", "status"] == "not run"
    assert table.loc["06_units", "same profile"] is True
    assert table.loc["07_action_units", "same profile"] is False
    assert summary.summary_data(chapters).startswith("mixed: ")
    assert summary.summary_data({"06_units": chapters["06_units"]}) == "synthetic (seed 0)"
    notes = summary.provenance_notes(table, "smoke")
    assert notes == [
        "not run yet: 05_cam (their claims are listed as 'not run')",
        "run with another profile than 'smoke': 07_action_units (their rows say which)",
    ]
    assert summary.provenance_notes(table.loc[["06_units"]], "smoke") == []


def test_table1_rows_and_figures():
    constant = {**{trait: 0.87 for trait in TRAITS}, "mean": 0.87}
    chapters = {
        "01_data": _chapter("01_data", constant_baseline_test=constant),
        "03_full_frames": _chapter(
            "03_full_frames",
            mean_accuracy=0.88,
            per_trait_accuracy=PER_TRAIT,
            measurements=_frames_measurements(),
        ),
        "04_faces_model": None,
    }
    table = summary.table1_rows(chapters)
    assert list(table.index) == [
        "[23] NJU-LAMDA, audio+video (paper)",
        "img (full frames) (paper)",
        "face (paper)",
        "img (ours)",
        "constant (ours, training mean)",
    ]
    assert table.loc["img (ours)", "O"] == 0.90 and table.loc["img (ours)", "N"] == 0.86
    assert table.loc["constant (ours, training mean)", "MA"] == 0.87
    assert table.loc["face (paper)", "E"] == 0.915
    # Several training seeds: Table 1 shows their mean, and says so.
    seeded = dict(chapters)
    seeded["04_faces_model"] = _chapter(
        "04_faces_model",
        mean_accuracy=0.5,  # the first seed's: not the row
        per_trait_accuracy=PER_TRAIT,
        seeds={
            "seeds": [0, 1, 2],
            "mean_accuracy_mean": 0.89,
            "per_trait_accuracy_mean": {trait: 0.89 for trait in TRAITS},
        },
    )
    assert summary.table1_rows(seeded).loc["face (ours, mean of 3 seeds)", "MA"] == 0.89
    figure = tables.table1_figure(table)
    assert len(figure.data) == len(table)
    rows = summary.evaluate_claims(chapters)
    claims_figure = tables.claims_figure(rows)
    plotted = [claim for claim in catalogue.CLAIMS if claim.plot]
    assert [len(trace.x) for trace in claims_figure.data] == [len(plotted)] * 3
    # chapter 05 did not run: ours is empty but the paper's bar is there
    share = [claim.key for claim in plotted].index("cam_share_ge_0_9")
    assert claims_figure.data[0].y[share] == 0.728 and claims_figure.data[1].y[share] is None
    frames = [claim.key for claim in plotted].index("frames_beat_constant")
    assert claims_figure.data[1].marker.color[frames] == "#2ca02c"  # held


def test_claims_frame_evidence_and_format_value():
    rows = summary.evaluate_claims(
        {"03_full_frames": _chapter("03_full_frames", measurements=_frames_measurements())}
    )
    json.dumps(rows)
    assert summary.format_value(None) == "—"
    assert summary.format_value(3.0) == "3"
    assert summary.format_value(9.32e-5) == "9.32e-05"
    assert summary.format_value(0.87254) == "0.8725"
    frame = summary.claims_frame(rows)
    assert len(frame) == len(catalogue.CLAIMS)
    assert set(frame.index) == {"3", "4", "5", "5b", "6", "7"}
    assert {"rule", "verdict", "reading"} <= set(frame.columns)
    lines = summary.evidence_lines(rows)
    assert lines[0].startswith(
        "ch. 3 · full frames MA [held]: MA vs the constant: 0.8900 vs 0.8800, paired difference"
    )
    assert lines[0].endswith("(profile smoke)")
    assert lines[2].startswith("ch. 4 · faces MA [not run]: chapter 04_faces_model has")
    wrapped = summary.evidence_lines(rows, width=60)
    assert all(len(part) <= 60 for line in wrapped for part in line.split("\n"))
    assert wrapped[0].replace("\n    ", " ") == lines[0]
    counts = summary.verdict_counts(rows)
    assert counts.sum() == len(rows) and counts["held"] == 1
    table = summary.table1_rows({"03_full_frames": None})
    record = summary.summary_record(rows, summary.provenance({}), table)
    assert [row["key"] for row in record["claims"]] == [row["key"] for row in rows]
    assert set(record["claims"][0]) == set(summary.RECORD_FIELDS)
    assert record["verdict_counts"] == counts.to_dict()
    assert set(record["table1"]) == set(table.index)
    json.dumps(record)


def test_claims_figure_axis_holds_a_share_above_one():
    from personality_utils.core import stats

    model = {
        "accuracy": 0.9,
        "gain_over_constant": stats.estimate(0.05, 0.04, 0.06),
        "gain_share": stats.estimate(3.5, 2.5, 4.5),
    }
    chapters = {
        "07_action_units": _chapter(
            "07_action_units",
            measurements={
                "au_model": {"measured": model},
                "cnn_gain": stats.estimate(0.02, 0.01, 0.03),
            },
        )
    }
    rows = summary.evaluate_claims(chapters)
    share = next(row for row in rows if row["key"] == "au_model_near_cnn")
    assert share["ours"] == 3.5 and share["verdict"] == "held"
    figure = tables.claims_figure(rows)
    assert figure.layout.yaxis.range[1] >= 3.5


def _row(key, verdict, reading="check of the method (planted)"):
    return {"key": key, "verdict": verdict, "reading": reading, "label": key}


def test_readings_are_counted_apart():
    rows = [
        _row("a", "held", "finding"),
        _row("b", "did not hold"),
        _row("c", "inconclusive"),
        _row("d", "did not hold", "check of an instrument"),
    ]
    table = summary.reading_counts(rows)
    assert list(table.index) == [
        "finding",
        "check of the method (planted)",
        "check of an instrument",
    ]
    assert table.loc["check of the method (planted)", "did not hold"] == 1
    assert table.loc["finding", "held"] == 1 and table.loc["finding", "did not hold"] == 0


def test_the_map_statistic_and_the_causal_test_are_set_against_each_other():
    disagree = [
        _row("cam_above_face_prior", "did not hold"),
        _row("cam_above_centre_prior", "did not hold"),
        _row("cam_share_ge_0_9", "inconclusive"),  # undecided rows do not count
        _row("occlusion_face", "held"),
        _row("face_alone_beats_context", "held"),
        _row("cam_finds_poster", "held"),
        _row("occlusion_poster", "held"),
    ]
    face, poster = summary.disagreements(disagree)
    assert "the map statistic says no" in face and "the causal test says yes" in face
    assert "the ground truth supports the causal test" in face
    assert "agree (yes)" in poster
    # On real data there is nothing to decide between them.
    real = [{**row, "reading": "finding"} for row in disagree]
    assert "no ground truth" in summary.disagreements(real)[0]
    # A split or missing side is said, never decided.
    split = [_row("occlusion_face", "held"), _row("face_alone_beats_context", "did not hold")]
    assert "not both decided" in summary.disagreements(split)[0]
