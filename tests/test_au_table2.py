"""Tests of personality_utils.au_table2: Table 2 assembled on a small study with one planted
AU-unit link, its checks over frames and clips, the face-part links, and what the chapter saves
and the claims read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personality_utils.aus import links as au_units
from personality_utils.aus import openface
from personality_utils.aus import study as au_study
from personality_utils.aus import table2 as au_table2
from personality_utils.claims import catalogue
from personality_utils.core import stats, verdicts

N_CLIPS, PER_CLIP, N_UNITS, N_TOP, FRAME_N = 30, 4, 8, 5, 12


class _Store:
    def __init__(self, meta: pd.DataFrame):
        self.meta = meta
        self.crops = np.zeros((len(meta), 8, 8, 3), np.uint8)

    def __len__(self) -> int:
        return len(self.meta)


def _study(
    au_source: str = "landmarks", planted: bool = True, pretrained: bool = True
) -> au_study.AUStudy:
    """30 clips of 4 frames (the first of each clip is the population); AU12's five strongest
    faces are unit 3's top five; AU14 is not measured."""
    rng = np.random.default_rng(0)
    meta = pd.DataFrame(
        {
            "clip": np.repeat([f"p{i // 3}.{i:03d}" for i in range(N_CLIPS)], PER_CLIP),
            "frame_index": np.tile(np.arange(PER_CLIP), N_CLIPS),
        }
    )
    store = _Store(meta)
    rows = np.arange(0, len(meta), PER_CLIP)
    frame_aus = pd.DataFrame(rng.random((len(meta), 17)), columns=list(openface.AU_COLUMNS))
    frame_aus["AU14"] = np.nan

    def tops(size, n):
        return np.stack([rng.permutation(size)[:n] for _ in range(N_UNITS)])

    unit_top = tops(N_CLIPS, N_TOP)
    frame_aus.loc[rows[unit_top[3]], "AU12"] += 10  # the planted link, one face per clip
    truth = frame_aus.copy()
    truth["AU14"] = rng.random(len(meta))
    return au_study.AUStudy(
        au_source=au_source,
        landmark_reference="population",
        population="first_face_per_clip",
        face_store=store,
        population_rows=rows,
        frame_aus=frame_aus,
        unit_stats=None,
        n_top=N_TOP,
        unit_top=unit_top,
        random_top=tops(N_CLIPS, N_TOP),
        frame_top_n=FRAME_N,
        frame_unit_top=tops(len(meta), FRAME_N),
        frame_random_top=tops(len(meta), FRAME_N),
        test_clips=N_CLIPS,
        truth_aus=truth if planted else None,
        pretrained_top=tops(N_CLIPS, N_TOP) if pretrained else None,
        frame_pretrained_top=tops(len(meta), FRAME_N) if pretrained else None,
    )


def test_headline_finds_the_planted_link_with_its_references():
    study = _study()
    table2 = au_table2.headline(study, n_permutations=200, seed=1)
    table = table2.table
    assert list(table.index) == list(openface.AU_COLUMNS) and table.columns[0] == "measured"
    assert table.loc["AU14", "measured"] == "not by landmarks" and np.isnan(
        table.loc["AU14", "overlap"]
    )
    assert "AU14" not in table2.measured.index and len(table2.measured) == 16
    assert table.loc["AU12", "unit"] == 3 and table.loc["AU12", "overlap"] == N_TOP
    assert table.loc["AU12", "p_permutation"] == pytest.approx(1 / 201)
    pd.testing.assert_series_equal(
        table["q_bh"], stats.benjamini_hochberg(table["p_value"]), check_names=False
    )
    random = au_units.unit_overlap(study.population_aus, study.random_top)
    assert table["k_random_network"].dropna().equals(random["overlap"].astype(float))
    # The planted AUs are a copy with AU14 filled: same links, and a row for AU14.
    assert table2.planted.loc["AU12", "overlap"] == N_TOP
    assert table.loc["AU14", "k_planted_aus"] == table2.planted.loc["AU14", "overlap"]
    side = au_table2.side_by_side(table2)
    assert side[("paper", "k")].dtype == "Int64" and side[("measured", "k")].dtype == "Int64"
    assert side.loc["AU12", ("paper", "unit")] == 108 and ("measured", "k_planted_aus") in side
    assert "k_planted_aus" not in au_table2.headline(_study(planted=False), 10).table


def test_paper_formula_check_and_record():
    check = au_table2.paper_formula_check()
    assert list(check.index) == [5, 6, 7, 9, 10]
    assert check.loc[6, "printed_p"] == 0.439
    assert check.loc[6, "formula_p"] == pytest.approx(au_units.overlap_p_value(6))
    assert "AU12" in check.loc[10, "aus"] and "AU15" in check.loc[10, "aus"]
    record = au_table2.paper_record()
    assert record["k6_printed_p"] == 0.439 and record["k6_formula_p"] == check.loc[6, "formula_p"]
    assert len(record["table2"]) == 17 and record["table2"][0]["AU"] == "AU01"


def test_checks_over_frames_and_clips_against_brute_force():
    study = _study()
    checks = au_table2.checks(study, n_permutations=100, seed=2)
    clips = study.clips
    # The frame table: k by Python sets for one AU.
    top = set(au_units.top_items(study.frame_aus["AU02"], FRAME_N).tolist())
    overlaps = [len(top & set(unit.tolist())) for unit in study.frame_unit_top]
    assert checks.frames.loc["AU02", "overlap"] == max(overlaps)
    assert "AU14" not in checks.frames.index
    distinct = [len(set(clips[unit])) for unit in study.frame_unit_top]
    assert checks.unit_clips == pytest.approx(np.mean(distinct))
    # N_clips = N * clips / frames = 12 * 30 / 120 = 3, at most the clips a unit's frames span.
    assert checks.clip_top_n == min(3, min(distinct))
    direct = au_units.clip_unit_overlap(
        study.frame_aus, clips, checks.clip_top_n, unit_top=study.frame_unit_top
    )
    pd.testing.assert_frame_equal(checks.clips, direct)
    q = checks.clip_q
    assert list(q.index) == list(openface.AU_COLUMNS) and np.isnan(q["AU14"])
    np.testing.assert_allclose(
        q.dropna(), stats.benjamini_hochberg(checks.clip_permutation["p_permutation"].to_numpy())
    )
    assert "clip level: F = 30 clips" in checks.describe()
    table2 = au_table2.headline(study, n_permutations=100, seed=2)
    significance = au_table2.significance(table2, checks)
    assert list(significance.index) == list(openface.AU_COLUMNS) and significance.shape[1] == 13
    counts = au_table2.significant_counts(significance)
    assert len(counts) == 9  # three p or q columns at each of three levels
    assert counts["one face per clip: q (BH, formula)"] == (table2.table["q_bh"] < 0.05).sum()
    log_p = au_table2.log_p(table2, checks)
    assert log_p.loc["AU12", "one face per clip, formula"] == pytest.approx(
        -np.log10(table2.table.loc["AU12", "p_value"])
    )
    assert log_p.loc["AU12", "paper (printed)"] == pytest.approx(-np.log10(9.32e-5), rel=1e-3)


def _claim(key):
    return next(claim for claim in catalogue.CLAIMS if claim.key == key)


def test_measurements_record_and_links_feed_the_claims():
    study = _study()
    table2 = au_table2.headline(study, n_permutations=100, seed=3)
    checks = au_table2.checks(study, n_permutations=100, seed=3)
    # Unit 3 looks at the mouth, the others elsewhere: AU12's link points at its part.
    shares = pd.DataFrame(
        {"eyebrows": 0.0, "eyes": 0.1, "nose": 0.1, "mouth": 0.1}, index=range(N_UNITS)
    )
    shares.loc[3, "mouth"] = 0.9
    agreement, links = au_table2.region_links(table2, shares, "landmarks")
    assert list(links.index) == ["landmarks", "planted AUs"]
    assert bool(agreement["landmarks"].loc["AU12", "above"])
    assert "AU14" in agreement["planted AUs"].index and "AU14" not in agreement["landmarks"].index
    assert list(au_table2.region_links(table2, shares, "truth")[1].index) == ["truth"]
    measured = au_table2.measurements(table2, checks, links, "landmarks")
    first_face = measured["table2"]["measured"]
    assert len(first_face["aus"]) == 16 and first_face["aus"]["AU12"]["q"] < verdicts.ALPHA
    assert first_face["best_matched"] == ["AU12"]
    assert first_face["detectable_k_aus"] == au_units.smallest_significant_k(
        N_CLIPS, N_TOP, N_UNITS
    )
    assert set(first_face["every_frame"]) <= set(openface.AU_COLUMNS)
    assert "AU14" in measured["table2"]["planted"]["aus"]  # the planted AUs measure every AU
    assert set(measured["region_links"]) == {"measured AUs", "planted AUs"}
    assert all("detectable" in row for row in measured["region_links"].values())
    instruments = {"model gain": verdicts.instrument_check("model gain", 0.01, 0.0, "", low=0.005)}
    judged = {
        claim.key: catalogue.judge_claim(claim, {**measured, "instruments": instruments}, True)
        for claim in catalogue.claims_of("07_action_units")
        if claim.key in ("table2_significant", "table2_lip_corners")
    }
    assert judged["table2_significant"]["verdict"] == verdicts.HELD
    assert "unchecked instrument: AU source" in judged["table2_significant"]["evidence"]
    # The lip-corner lead needs its interval (au_table2.intervals), which was not computed.
    assert judged["table2_lip_corners"]["verdict"] == verdicts.NOT_TESTABLE
    record = au_table2.record(table2, checks, links)
    assert len(record["table2"]) == 17 and len(record["table2_all_frames"]) == 17
    first = {row["AU"]: row for row in record["table2"]}
    assert first["AU12"]["intersection"] == N_TOP and first["AU12"]["unit"] == 3
    assert "intersection_planted_aus" in first["AU12"]
    # The network before fine-tuning beside the random one, in the table and the record.
    pretrained = au_units.unit_overlap(study.population_aus, study.pretrained_top)["overlap"]
    assert table2.table["k_pretrained_network"].dropna().equals(pretrained.astype(float))
    assert first["AU12"]["intersection_pretrained_network"] == pretrained["AU12"]
    frames = au_units.unit_overlap(study.frame_aus, study.frame_pretrained_top)["overlap"]
    assert checks.frames["k_pretrained_network"].tolist() == frames.tolist()
    assert "intersection_pretrained_network" in record["table2_all_frames"][0]
    assert ("measured", "k_pretrained_network") in au_table2.side_by_side(table2).columns
    # Without a pretrained network (trained from random weights): no column.
    bare = _study(pretrained=False)
    table2 = au_table2.headline(bare, n_permutations=100, seed=3)
    assert "k_pretrained_network" not in table2.table.columns
    significant = [au for au, row in first_face["aus"].items() if row["q"] < verdicts.ALPHA]
    assert record["significant_aus"]["first_face_bh"] == len(significant)
    assert record["clip_top_n"] == checks.clip_top_n
    assert set(record["region_agreement"]) == {"landmarks", "planted AUs"}


def test_top_face_panels_frame_the_shared_faces():
    study = _study()
    study.face_store.crops[:] = 0
    table2 = au_table2.headline(study, n_permutations=10)
    panels = au_table2.top_face_panels(study, table2, shown=10, size=16)
    assert len(panels) == 16 and "AU12 · unit 3 (k = 5)" in panels
    smile = panels["AU12 · unit 3 (k = 5)"]
    assert len(smile) == 2 * N_TOP and smile[0].shape == (16, 16, 3)
    # Every face of AU12's top set is in unit 3's: all framed in orange.
    assert all(tuple(face[0, 0]) == (255, 127, 14) for face in smile)
    unframed = [
        face for panel in panels.values() for face in panel if tuple(face[0, 0]) == (0, 0, 0)
    ]
    assert unframed  # the other AUs share few faces with their units
