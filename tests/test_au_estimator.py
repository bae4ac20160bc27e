"""Tests of personality_utils.aus.instrument: what geometry sees, dlib's landmark error after
alignment, and the estimator scored against planted AUs on landmarks deformed by known AUs."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from personality_utils.aus import estimator, instrument, openface
from personality_utils.faces import facs


def test_geometry_status_names_the_blind_and_the_proxies():
    status = instrument.geometry_status()
    assert list(status.index) == list(openface.AU_COLUMNS)
    assert status.loc["AU14", "status"] == "blind: left out (NaN)"
    assert set(status.index[status["status"] == "weak proxy"]) == set(estimator.GEOMETRY_PROXIES)
    assert (status["status"] == "landmark motion").sum() == 17 - 1 - len(estimator.GEOMETRY_PROXIES)
    assert status.loc["AU12", "face part"] == "mouth" and status.loc["AU12", "why"] == ""
    assert status.loc["AU09", "why"] == estimator.GEOMETRY_PROXIES["AU09"]
    moves = instrument.largest_moves()
    assert "AU14" not in moves.index and (moves > 0).all()


def _similarity(points: np.ndarray, angle: float, scale: float, shift) -> np.ndarray:
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return points @ rotation.T * scale + np.asarray(shift)


def _study(rng, measured_noise: float, n_clips: int = 30, per_clip: int = 4):
    """Frames of faces deformed by known AUs (every visible AU, uniform 0-3), in pixels; the
    'dlib' landmarks are the planted ones plus noise in inter-ocular distances."""
    values = rng.uniform(0, 3, (n_clips * per_clip, 17))
    shapes = np.array([facs.deform(facs.MEAN_SHAPE, row) for row in values])
    planted = _similarity(shapes, 0.05, 60.0, (100, 120))
    measured = planted + rng.normal(0, measured_noise * 60.0, planted.shape)
    meta = pd.DataFrame(
        {
            "clip": np.repeat([f"c{i:02d}" for i in range(n_clips)], per_clip),
            "frame_index": np.tile(np.arange(per_clip), n_clips),
        }
    )
    store = types.SimpleNamespace(meta=meta, landmarks=measured)
    truth = pd.DataFrame(values, columns=list(openface.AU_COLUMNS), index=meta.index)
    return types.SimpleNamespace(
        face_store=store,
        truth_aus=truth,
        planted_landmarks=planted,
        landmark_reference="population",
        au_source="landmarks",
        frame_aus=None,
        clips=meta["clip"].to_numpy(),
    )


def test_landmark_error_is_blind_to_pose_and_sees_noise():
    rng = np.random.default_rng(1)
    planted = _similarity(np.array([facs.MEAN_SHAPE] * 5), 0.0, 50.0, (10, 20))
    moved = _similarity(planted, 0.2, 1.7, (-30, 5))  # another size, roll and place
    assert instrument.landmark_error(moved, planted) == pytest.approx(0, abs=1e-9)
    # Noise of 0.03 inter-ocular distances per coordinate: the raw mean norm is about
    # 0.03 * sqrt(pi / 2); aligning on the noisy rigid points adds some (measured: 0.046 for
    # 0.038 raw).
    noisy = planted + rng.normal(0, 0.03 * 50.0, planted.shape)
    raw = np.linalg.norm((noisy - planted) / 50.0, axis=-1).mean()
    assert raw == pytest.approx(0.03 * np.sqrt(np.pi / 2), rel=0.1)
    assert raw < instrument.landmark_error(noisy, planted) < 1.5 * raw
    noisy[0] = np.nan  # a frame without a face is skipped
    assert np.isfinite(instrument.landmark_error(noisy, planted))


def test_score_estimator_against_planted_aus():
    exact = instrument.score_estimator(_study(np.random.default_rng(2), 0.0))
    table = exact.table
    assert list(table.columns) == [
        "dlib landmarks, per frame",
        "planted landmarks, per frame",
        "dlib landmarks, clip means",
        "status",
    ]
    # Perfect landmarks: both per-frame readings are the same, and there is no landmark error.
    np.testing.assert_allclose(
        table["dlib landmarks, per frame"].astype(float),
        table["planted landmarks, per frame"].astype(float),
    )
    assert exact.landmark_error == pytest.approx(0, abs=1e-9)
    assert np.isnan(table.loc["AU14", "planted landmarks, per frame"])
    assert "AU14" not in exact.visible.index
    assert exact.mean_r()["planted landmarks, per frame"] > 0.8
    assert set(exact.bars()) == {c for c in table.columns if c != "status"}
    # dlib-sized noise (0.05 inter-ocular distances) costs correlation; the planted reading
    # does not change.
    noisy = instrument.score_estimator(_study(np.random.default_rng(2), 0.05))
    r = noisy.mean_r()
    assert r["dlib landmarks, per frame"] < r["planted landmarks, per frame"] - 0.1
    assert r["planted landmarks, per frame"] == pytest.approx(
        exact.mean_r()["planted landmarks, per frame"]
    )
    assert noisy.landmark_error > 0.04
    assert "mean r over the AUs geometry can read" in noisy.describe()
    record = instrument.record(noisy)
    assert record["landmark_error_iod"] == noisy.landmark_error
    pd.testing.assert_series_equal(
        record["estimator_correlation"], noisy.table["dlib landmarks, per frame"]
    )
    # Real data: nothing planted to score against.
    real = _study(np.random.default_rng(3), 0.0, n_clips=2)
    real.truth_aus = real.planted_landmarks = None
    with pytest.raises(ValueError, match="synthetic"):
        instrument.score_estimator(real)
    assert instrument.record(None) == {"estimator_correlation": {}}
