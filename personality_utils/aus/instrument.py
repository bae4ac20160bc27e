"""How good chapter 07's AU intensities are (7.1): what the landmark estimator of
:mod:`~personality_utils.aus.estimator` can and cannot see, and on the synthetic set how well it
follows the planted intensities, from dlib's landmarks, from the planted landmarks (the estimator
without dlib's error) and over clip means, beside dlib's landmark error and the size of one AU's
move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from personality_utils.aus import estimator, openface
from personality_utils.core import stats
from personality_utils.core.verdicts import instrument_check
from personality_utils.faces.facs import AU_REGIONS

__all__ = [
    "TRACKING_BAR",
    "EstimatorScores",
    "geometry_status",
    "landmark_error",
    "largest_moves",
    "measure_agreement",
    "reference_comparison",
    "record",
    "score_estimator",
    "source_check",
]


def geometry_status() -> pd.DataFrame:
    """Per AU: what the landmark estimator reads (``status``: "landmark motion", "weak proxy" or
    "blind: left out (NaN)"), ``why`` (for the last two) and the ``face part`` the AU moves."""
    limits = {**estimator.GEOMETRY_BLIND, **estimator.GEOMETRY_PROXIES}
    status = pd.Series("landmark motion", index=list(openface.AU_COLUMNS))
    status[list(estimator.GEOMETRY_PROXIES)] = "weak proxy"
    status[list(estimator.GEOMETRY_BLIND)] = "blind: left out (NaN)"
    return pd.DataFrame(
        {
            "status": status,
            "why": [limits.get(column, "") for column in openface.AU_COLUMNS],
            "face part": [AU_REGIONS[int(column[2:])] for column in openface.AU_COLUMNS],
        },
        index=list(openface.AU_COLUMNS),
    )


def landmark_error(measured: np.ndarray, planted: np.ndarray) -> float:
    """Mean distance between measured and planted landmarks after the estimator's own
    alignment (:func:`~personality_utils.aus.estimator.align_landmarks`), in inter-ocular distances
    (NaN points skipped): the error that reaches the AU intensities."""
    moved = estimator.align_landmarks(measured) - estimator.align_landmarks(planted)
    return float(np.nanmean(np.linalg.norm(moved, axis=-1)))


def measure_agreement(measured: np.ndarray, planted: np.ndarray) -> pd.DataFrame:
    """Where the estimator's input goes wrong: per landmark measure (:data:`~personality_utils.
    aus.MEASURES`), the Pearson r of dlib's reading with the planted landmarks' over the frames,
    the spread of the planted measure (the signal, mostly AU motion and face shape), the spread of
    dlib's error on it, and the move one AU intensity unit makes on it (inter-ocular
    distances)."""
    dlib = estimator.landmark_measures(measured)
    truth = estimator.landmark_measures(planted)
    error = dlib - truth
    finite = np.isfinite(dlib).all(axis=1) & np.isfinite(truth).all(axis=1)
    moves = estimator.response_matrix().abs().max(axis=1)
    return pd.DataFrame(
        {
            "r (dlib vs planted)": [
                float(np.corrcoef(dlib[c][finite], truth[c][finite])[0, 1]) for c in dlib.columns
            ],
            "planted spread": truth[finite].std().to_numpy(),
            "dlib error spread": error[finite].std().to_numpy(),
            "one AU unit": moves.reindex(dlib.columns).to_numpy(),
        },
        index=dlib.columns,
    )


def reference_comparison(study) -> pd.Series:
    """The estimator's mean per-frame r with the planted AUs (over the AUs it can read) from
    dlib's landmarks with each neutral reference of :func:`~personality_utils.aus.estimator.
    estimate_from_landmarks` (synthetic set)."""
    if study.truth_aus is None:
        raise ValueError("the estimator is scored against planted AUs: the synthetic set only")
    store, truth = study.face_store, study.truth_aus
    out = {}
    for reference in ("population", "clip_median"):
        estimated = estimator.au_intensities("landmarks", store, reference=reference)
        r = estimator.estimator_correlation(estimated, truth).drop(list(estimator.GEOMETRY_BLIND))
        out[reference] = float(r.mean())
    return pd.Series(out, name="mean r")


def largest_moves() -> pd.Series:
    """Per AU, the largest move of one intensity unit on any landmark measure (inter-ocular
    distances, :func:`~personality_utils.aus.estimator.response_matrix`), AU14 (not measured) left
    out."""
    return estimator.response_matrix().abs().max().drop("AU14")


#: The AU source's own check: its per-frame readings must correlate with the planted AUs at
#: r ≥ 0.5 on average over the AUs it can read (a quarter of each AU's variance explained;
#: below it a reading is mostly noise, and Table 2 and the AU model built on it test the noise).
TRACKING_BAR = 0.5


def weighted_correlations(
    estimated: np.ndarray, truth: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Pearson r of each column pair under each row of multiplicities: (b, columns), over the
    rows where both are finite."""
    both = np.isfinite(estimated) & np.isfinite(truth)
    x, y = np.where(both, estimated, 0.0), np.where(both, truth, 0.0)
    mask = both.astype(np.float64)
    total = weights @ mask
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_x, mean_y = (weights @ x) / total, (weights @ y) / total
        cov = (weights @ (x * y)) / total - mean_x * mean_y
        var_x = (weights @ (x * x)) / total - mean_x**2
        var_y = (weights @ (y * y)) / total - mean_y**2
        return cov / np.sqrt(var_x * var_y)


@dataclass
class EstimatorScores:
    """The estimator against the planted AUs (:func:`score_estimator`).

    Attributes:
        table: AUs x readings (Pearson r with the planted intensity), plus ``status``
            (:func:`geometry_status`).
        landmark_error: dlib's mean landmark error (:func:`landmark_error`).
    """

    table: pd.DataFrame
    landmark_error: float
    frames: pd.DataFrame | None = None
    truth: pd.DataFrame | None = None
    clips: np.ndarray | None = None
    reading: str = "dlib landmarks, per frame"

    def tracking(self, n_boot: int = stats.N_RESAMPLES, seed: int = 0) -> dict:
        """The source's mean per-frame r with the planted AUs over the AUs it can read, with
        a people-bootstrap interval (an :func:`~personality_utils.core.stats.estimate` record)."""
        columns = [c for c in self.visible.index if c in self.frames and c in self.truth]
        estimated = self.frames[columns].to_numpy(dtype=np.float64)
        truth = self.truth[columns].reindex(self.frames.index).to_numpy(dtype=np.float64)
        weights = np.vstack(
            [
                np.ones((1, len(estimated))),
                stats.cluster_weights(stats.people(self.clips), n_boot, seed),
            ]
        )
        draws = np.nanmean(weighted_correlations(estimated, truth, weights), axis=1)
        low, high = stats.percentile_interval(draws[1:][np.isfinite(draws[1:])])
        return stats.estimate(float(draws[0]), low, high)

    def instrument(self, tracking: dict) -> dict:
        """The AU source's instrument check from :meth:`tracking`: passed when the interval's
        low end reaches :data:`TRACKING_BAR`."""
        return instrument_check(
            "AU source",
            tracking["value"],
            TRACKING_BAR,
            f"{self.reading}: mean r with the planted AUs {tracking['value']:.2f} "
            f"[{tracking['low']:.2f}, {tracking['high']:.2f}] against {TRACKING_BAR:g}",
            low=tracking["low"],
        )

    @property
    def visible(self) -> pd.DataFrame:
        """The table without the AUs geometry cannot see."""
        return self.table.drop(index=list(estimator.GEOMETRY_BLIND))

    def mean_r(self) -> pd.Series:
        """Per reading, the mean r over the AUs geometry can read."""
        visible = self.visible
        return pd.Series({c: float(visible[c].mean()) for c in visible.columns if c != "status"})

    def bars(self) -> dict[str, str]:
        """The readings of the landmark estimator (legend label -> column), for a bar chart."""
        return {c: c for c in self.table.columns if c != "status" and not c.startswith("OpenFace")}

    def describe(self) -> str:
        """dlib's error against the size of one AU's move, and the mean r of each reading."""
        moves = largest_moves()
        return (
            f"dlib's landmark error on these crops: {self.landmark_error:.3f} inter-ocular "
            f"distances; the largest move of one AU intensity unit on any measure: "
            f"{moves.min():.3f} ({moves.idxmin()}) to {moves.max():.3f} ({moves.idxmax()})\n"
            "mean r over the AUs geometry can read: "
            + ", ".join(f"{column} {value:.2f}" for column, value in self.mean_r().items())
        )


def score_estimator(study) -> EstimatorScores:
    """Score the landmark estimator against the planted AUs of a synthetic study.

    Per AU, the Pearson r (:func:`~personality_utils.aus.estimator.estimator_correlation`) of the
    planted intensity of every test face frame with the estimate from dlib's landmarks, from the
    planted landmarks, and of their clip means; with OpenFace as the source, also OpenFace's.

    Args:
        study: An :class:`~personality_utils.aus.study.AUStudy` with ``truth_aus`` and
            ``planted_landmarks`` (the synthetic set).
    """
    if study.truth_aus is None or study.planted_landmarks is None:
        raise ValueError("the estimator is scored against planted AUs: the synthetic set only")
    store, truth, clips = study.face_store, study.truth_aus, study.clips
    reference = study.landmark_reference
    from_dlib = estimator.au_intensities("landmarks", store, reference=reference)
    from_planted = estimator.estimate_from_landmarks(study.planted_landmarks, clips, reference)
    from_planted.index = store.meta.index
    table = pd.DataFrame(
        {
            "dlib landmarks, per frame": estimator.estimator_correlation(from_dlib, truth),
            "planted landmarks, per frame": estimator.estimator_correlation(from_planted, truth),
            "dlib landmarks, clip means": estimator.estimator_correlation(
                estimator.clip_means(from_dlib, clips), estimator.clip_means(truth, clips)
            ),
        }
    )
    reading, frames = "dlib landmarks, per frame", from_dlib
    if study.au_source == "openface":
        table["OpenFace, per frame"] = estimator.estimator_correlation(study.frame_aus, truth)
        reading, frames = "OpenFace, per frame", study.frame_aus
    table["status"] = geometry_status()["status"]
    return EstimatorScores(
        table,
        landmark_error(store.landmarks, study.planted_landmarks),
        frames,
        truth,
        np.asarray(clips),
        reading,
    )


def source_check(
    scores: EstimatorScores | None, au_source: str, n_boot: int = stats.N_RESAMPLES, seed: int = 0
) -> tuple[dict | None, dict | None]:
    """The AU source as an instrument of chapter 07's claims: ``(tracking, check)``, the mean
    per-frame r with the planted AUs (:meth:`EstimatorScores.tracking`) and the instrument
    check. The planted AUs themselves (``au_source="truth"``) pass by construction; on real
    data (no ``scores``) there is nothing to check them against: ``(None, None)``, and the
    claims say the source is unchecked."""
    if au_source == "truth":
        return None, instrument_check("AU source", 1.0, TRACKING_BAR, "the planted AUs")
    if scores is None:
        return None, None
    tracking = scores.tracking(n_boot, seed)
    return tracking, scores.instrument(tracking)


def record(scores: EstimatorScores | None) -> dict[str, Any]:
    """What the chapter saves of the scores (only an empty ``estimator_correlation`` on real
    data, which has no planted AUs)."""
    if scores is None:
        return {"estimator_correlation": {}}
    return {
        "estimator_correlation": scores.table["dlib landmarks, per frame"],
        "estimator_correlation_planted_landmarks": scores.table["planted landmarks, per frame"],
        "estimator_correlation_clip_means": scores.table["dlib landmarks, clip means"],
        "landmark_error_iod": scores.landmark_error,
    }
