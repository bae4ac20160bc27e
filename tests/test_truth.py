"""Tests of personality_utils.data.synthetic.truth: the planted signal and dlib against the
ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personality_utils.aus import glasses
from personality_utils.core import vocabulary
from personality_utils.data.synthetic import truth
from personality_utils.faces import alignment


def test_planted_weights_drop_the_features_that_drive_nothing():
    matrix = np.zeros((5, 3))
    matrix[0, 0], matrix[4, 2] = 0.5, -0.25
    ground = {"weight_matrix": matrix.tolist(), "features": ["AU01", "AU02", "poster"]}
    weights = truth.planted_weight_table(ground)
    assert list(weights.columns) == ["AU01", "poster"]
    assert list(weights.index) == list(vocabulary.TRAITS)
    assert weights.loc["neuroticism", "poster"] == -0.25


def test_planted_shares_are_traits_by_source():
    ground = {"planted_shares": {"openness": {"eyes": 0.1, "context": 0.6}}}
    shares = truth.planted_share_table(ground)
    assert shares.loc["openness", "context"] == 0.6 and list(shares.columns) == ["eyes", "context"]


def test_agreement_summary_by_hand():
    agreement = pd.DataFrame(
        {
            "clip": ["a", "a", "b", "c"],
            "found": [True, True, True, False],
            "upsampled": [False, True, False, None],
            "error_iod": [0.1, 0.3, 0.2, np.nan],
        }
    )
    summary = truth.agreement_summary(agreement)
    assert summary["frames"] == 4 and summary["clips"] == 3
    assert summary["detection_rate"] == pytest.approx(0.75)
    assert summary["upsampled_share"] == pytest.approx(0.25)
    assert summary["error_mean"] == pytest.approx(0.2)
    assert summary["error_median"] == pytest.approx(0.2)
    assert summary["error_p90"] == pytest.approx(0.28)  # linear between 0.2 and 0.3
    real = truth.agreement_summary(agreement.assign(error_iod=np.nan))
    assert real["error_mean"] is None and real["error_p90"] is None


def test_detection_example_redoes_the_store_detection(smoke_dataset):
    agreement = truth.landmark_agreement(smoke_dataset.root, smoke_dataset.store("validation"))
    example = truth.detection_example(smoke_dataset, agreement, frames_per_clip=5)
    ranked = np.sort(agreement.error_iod.dropna().to_numpy())
    assert example.error_iod == pytest.approx(ranked[len(ranked) // 2])
    # The same dlib call on the same decoded frame gives the error the store recorded.
    again = alignment.landmark_error_iod(example.detection.landmarks, example.true_landmarks)
    assert again == pytest.approx(example.error_iod, abs=1e-6)
    best = truth.detection_example(smoke_dataset, agreement, frames_per_clip=5, quantile=0)
    assert best.error_iod == pytest.approx(ranked[0])
    with pytest.raises(ValueError):
        truth.detection_example(smoke_dataset, agreement.assign(error_iod=np.nan), 5)


def test_alignment_quality_per_split(smoke_dataset):
    store = smoke_dataset.store("validation")
    quality, errors = truth.alignment_quality({"validation": store}, 224, smoke_dataset.root)
    row = quality.loc["validation"]
    assert row["eye_alignment_error_px"] == pytest.approx(0, abs=1e-9)  # the transform itself
    assert len(errors["validation"]) == int(store.detections["found"].sum())
    assert row["true_eye_alignment_error_px"] == pytest.approx(errors["validation"].mean())
    agreement = truth.landmark_agreement(smoke_dataset.root, store)
    assert row["landmark_error_iod"] == pytest.approx(agreement.error_iod.mean())
    real, none = truth.alignment_quality({"validation": store}, 224)
    assert list(real.columns) == ["eye_alignment_error_px"] and none == {}


def test_glasses_landmark_shift_compares_paired_renders():
    shift = glasses.glasses_landmark_shift("smoke", n_clips=3, frames_per_clip=2, n_boot=50)
    assert shift.frames <= 6 and shift.clips <= 3 and shift.frames > 0
    from personality_utils.aus import estimator

    assert list(shift.measures.index) == list(estimator.MEASURES)
    measures = shift.measures
    assert (measures["95% low"] <= measures["shift"] + 1e-12).all()
    assert (measures["one AU unit"] > 0).all()
    # What the estimator reads from the shift alone: the blind AUs are left out.
    assert "AU14" not in shift.aus.index and (shift.aus >= 0).all()
    assert "frames of" in shift.description()
