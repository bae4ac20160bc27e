"""Tests of personality_utils.aus.study: chapter 07's options checked and its inputs wired (the unit
statistics and AU intensities are stand-ins: their own modules test them)."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from personality_utils.aus import estimator
from personality_utils.aus import openface as aus_openface
from personality_utils.aus import study as au_study
from personality_utils.units import populations


def test_resolve_source_checks_the_options():
    assert au_study.resolve_source("landmarks", synthetic=True) == "population"
    assert au_study.resolve_source("landmarks", synthetic=False) == "clip_median"
    assert au_study.resolve_source("truth", True, landmark_reference="clip_median") == "clip_median"
    assert au_study.resolve_source("openface", False, "csvs") == "clip_median"
    with pytest.raises(ValueError, match="synthetic set"):
        au_study.resolve_source("truth", synthetic=False)
    with pytest.raises(ValueError, match="openface_dir"):
        au_study.resolve_source("openface", synthetic=False)
    with pytest.raises(ValueError, match="au_source"):
        au_study.resolve_source("py-feat", synthetic=True)
    with pytest.raises(ValueError, match="landmark_reference"):
        au_study.resolve_source("landmarks", True, landmark_reference="median")


class _Store:
    def __init__(self, meta: pd.DataFrame):
        self.meta = meta

    def __len__(self) -> int:
        return len(self.meta)


@pytest.mark.parametrize("synthetic", [True, False])
def test_load_study_wires_populations_top_sets_and_truth(monkeypatch, synthetic):
    # 10 test clips with a face, 3 frames each, stored with the first frame last; 12 test clips.
    meta = pd.DataFrame(
        {"clip": [f"c{i // 3}" for i in range(30)], "frame_index": [2 - i % 3 for i in range(30)]}
    )
    store = _Store(meta)
    rng = np.random.default_rng(0)
    frame_aus = pd.DataFrame(rng.random((30, 17)), columns=list(aus_openface.AU_COLUMNS))
    calls = []

    def fake_statistics(dataset, trained, checkpoint_dir, top_n, population="all_faces", **rest):
        seed = rest.get("random_seed", rest.get("network"))  # a seed, "pretrained" or None
        calls.append((population, seed, top_n, trained, checkpoint_dir))
        size = 10 if population == "first_face_per_clip" else 30
        seeded = np.random.default_rng(len(calls))
        images = np.stack([seeded.permutation(size) for _ in range(4)])[:, : top_n + 2]
        return types.SimpleNamespace(images={"conv5_3": images}, grid=2, tag=len(calls))

    def fake_intensities(dataset, split, source, openface, reference):
        calls.append(("aus", split, source, reference))
        return frame_aus

    monkeypatch.setattr(populations, "face_unit_statistics", fake_statistics)
    monkeypatch.setattr(estimator, "split_intensities", fake_intensities)
    monkeypatch.setattr(estimator, "truth_intensities", lambda root, m: frame_aus * 2)
    monkeypatch.setattr(estimator, "truth_landmarks", lambda root, m: np.zeros((len(m), 68, 2)))
    all_clips = pd.DataFrame({"clip": [f"c{i}" for i in range(12)]})
    dataset = types.SimpleNamespace(
        synthetic=synthetic,
        root="root",
        faces=lambda split: store,
        store=lambda split: types.SimpleNamespace(meta=all_clips),
    )
    # The synthetic case's model was fine-tuned from a pretrained backbone, the other's not.
    weights = "backbone.pt" if synthetic else None
    model = types.SimpleNamespace(config=types.SimpleNamespace(backbone_weights=weights))
    run = types.SimpleNamespace(trained=model, checkpoint="folder")
    study = au_study.load_study(dataset, run, "first_face_per_clip", "landmarks", seed=7)

    # N: a tenth of each population (the paper's 50 does not fit).
    assert study.n_top == 1 and study.frame_top_n == 3
    expected = [
        ("first_face_per_clip", None, 1),
        ("first_face_per_clip", 7, 1),
        ("all_faces", None, 3),
        ("all_faces", 7, 3),
    ]
    if synthetic:  # the network before fine-tuning, over both populations
        expected += [("first_face_per_clip", "pretrained", 1), ("all_faces", "pretrained", 3)]
    assert [call[:3] for call in calls if call[0] != "aus"] == expected
    assert all(call[3:] == (model, "folder") for call in calls if call[0] != "aus")
    assert (study.pretrained_top is not None) == (study.frame_pretrained_top is not None)
    assert (study.pretrained_top is not None) == synthetic
    if synthetic:
        assert study.pretrained_top.shape == (4, 1) and study.frame_pretrained_top.shape == (4, 3)
        assert not np.array_equal(study.frame_pretrained_top, study.frame_random_top)
    reference = "population" if synthetic else "clip_median"
    assert ("aus", "test", "landmarks", reference) in calls
    assert study.landmark_reference == reference
    # The population is each clip's first frame: its AUs are those rows, in clip order.
    np.testing.assert_array_equal(study.population_rows, np.arange(2, 30, 3))
    pd.testing.assert_frame_equal(study.population_aus, frame_aus.iloc[2:30:3])
    assert study.unit_top.shape == (4, 1) and study.frame_unit_top.shape == (4, 3)
    assert study.unit_stats.tag == 1  # the trained network's statistics, not the random one's
    assert not np.array_equal(study.frame_unit_top, study.frame_random_top)
    assert (study.n_faces, study.n_frames, study.n_clips, study.n_units) == (10, 30, 10, 4)
    assert study.test_clips == 12
    assert (study.truth_aus is not None) == synthetic
    assert (study.planted_landmarks is not None) == synthetic
    assert "F = 10 faces (12 test clips, 10 with a face; 30 test face frames" in study.describe()
    assert f"neutral face: {reference}" in study.describe()
    assert study.coverage().eq(1.0).all()
    record = study.record()
    assert record["top_n"] == 1 and record["all_frames_top_n"] == 3
    assert record["landmark_reference"] == reference and record["n_clips"] == 10
