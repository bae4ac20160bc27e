"""What chapter 07's action-unit study starts from, in one call (:func:`load_study`): the AU
source's options checked, every test face's AU intensities, the faces the study ranks (chapter 06's
population: one face per test clip in the authors' code) and the conv5_3 top sets of the trained
face model and of a random network of its shape, over that population and over every test face
frame; on the synthetic set also the planted AUs and landmarks. :mod:`~personality_utils.aus.links`
and :mod:`~personality_utils.au_table2` test the AU-unit links, :mod:`~personality_utils.aus.traits`
the AU model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from personality_utils.aus import estimator
from personality_utils.core import paper
from personality_utils.units import populations

__all__ = ["REFERENCES", "SOURCES", "AUStudy", "load_study", "resolve_source"]

#: Where AU intensities come from (:func:`~personality_utils.aus.estimator.au_intensities`).
SOURCES = ("landmarks", "openface", "truth")
#: The landmark estimator's neutral face
#: (:func:`~personality_utils.aus.estimator.estimate_from_landmarks`).
REFERENCES = ("population", "clip_median")


def resolve_source(
    au_source: str,
    synthetic: bool,
    openface_dir: str | None = None,
    landmark_reference: str = "auto",
) -> str:
    """Check chapter 07's AU options and return the landmark estimator's neutral reference.

    ``"auto"`` becomes ``"population"`` (the mean face) on the synthetic set, whose people hold
    their expression for the whole clip, so that subtracting each clip's median face would erase
    it, and ``"clip_median"`` on real data, where it mirrors OpenFace's person-specific
    calibration.

    Raises:
        ValueError: For an unknown source or reference, ``"truth"`` on real data (it has no
            planted AUs), or ``"openface"`` without the folder of CSV files.
    """
    if au_source not in SOURCES:
        raise ValueError(f"au_source must be one of {SOURCES}, got {au_source!r}")
    if au_source == "truth" and not synthetic:
        raise ValueError("au_source='truth' needs the synthetic set (real data has no planted AUs)")
    if au_source == "openface" and openface_dir is None:
        raise ValueError("au_source='openface' needs openface_dir, the folder of OpenFace CSVs")
    if landmark_reference == "auto":
        return "population" if synthetic else "clip_median"
    if landmark_reference not in REFERENCES:
        raise ValueError(
            f"landmark_reference must be 'auto' or one of {REFERENCES}, got {landmark_reference!r}"
        )
    return landmark_reference


@dataclass
class AUStudy:
    """The inputs of chapter 07's study (:func:`load_study`).

    Attributes:
        au_source: Where the AU intensities come from (:data:`SOURCES`).
        landmark_reference: The landmark estimator's neutral face (:func:`resolve_source`).
        population: The faces ranked (:func:`~personality_utils.units.semantics.population_rows`).
        face_store: The test split's face store.
        population_rows: Rows of the face store in the population, in the unit statistics' order.
        frame_aus: AU intensities of every test face frame (rows of the face store).
        unit_stats: Unit statistics of the trained model over the population (chapter 06's).
        n_top: N, faces in each top set of the population.
        unit_top: conv5_3 top sets over the population, (units, N), rows of the population.
        random_top: The same for a randomly initialised network of the same shape.
        frame_top_n: N over every test face frame.
        frame_unit_top: conv5_3 top sets over every test face frame, (units, N over frames).
        frame_random_top: The same for the random network.
        pretrained_top: conv5_3 top sets over the population of the network before fine-tuning
            (:func:`~personality_utils.units.semantics.pretrained_like`; None when the model was
            trained from random weights).
        frame_pretrained_top: The same over every test face frame.
        test_clips: Clips of the test split, with a face or not.
        truth_aus: Planted AU intensities of every test face frame (synthetic set, else None).
        planted_landmarks: Planted landmarks of every test face frame (synthetic set, else None).
    """

    au_source: str
    landmark_reference: str
    population: str
    face_store: Any
    population_rows: np.ndarray
    frame_aus: pd.DataFrame
    unit_stats: Any
    n_top: int
    unit_top: np.ndarray
    random_top: np.ndarray
    frame_top_n: int
    frame_unit_top: np.ndarray
    frame_random_top: np.ndarray
    test_clips: int
    truth_aus: pd.DataFrame | None = None
    planted_landmarks: np.ndarray | None = None
    pretrained_top: np.ndarray | None = None
    frame_pretrained_top: np.ndarray | None = None

    @property
    def clips(self) -> np.ndarray:
        """The clip of every test face frame."""
        return self.face_store.meta["clip"].to_numpy()

    @property
    def population_aus(self) -> pd.DataFrame:
        """AU intensities of the population: row i is image i of the unit statistics."""
        return self.frame_aus.iloc[self.population_rows]

    @property
    def n_units(self) -> int:
        """U, the conv5_3 units."""
        return len(self.unit_top)

    @property
    def n_faces(self) -> int:
        """F, faces in the population."""
        return len(self.population_rows)

    @property
    def n_frames(self) -> int:
        """Test face frames."""
        return len(self.face_store)

    @property
    def n_clips(self) -> int:
        """Test clips with a face."""
        return len(np.unique(self.clips))

    def coverage(self) -> pd.Series:
        """Per AU, the share of test face frames with a value."""
        return self.frame_aus.notna().mean().rename("frames with a value")

    def describe(self) -> str:
        """The AU source and the sizes of the study, F, U and N, in two lines."""
        reference = (
            f" (neutral face: {self.landmark_reference})" if self.au_source == "landmarks" else ""
        )
        return (
            f"AU source: {self.au_source}{reference}\n"
            f"population {self.population}: F = {self.n_faces} faces ({self.test_clips} test "
            f"clips, {self.n_clips} with a face; {self.n_frames} test face frames in all); conv5_3 "
            f"units U = {self.n_units}; N = {self.n_top}"
        )

    def record(self) -> dict[str, Any]:
        """The sizes the chapter saves."""
        return {
            "au_source": self.au_source,
            "landmark_reference": (
                self.landmark_reference if self.au_source == "landmarks" else None
            ),
            "population": self.population,
            "n_faces": int(self.n_faces),
            "n_frames": int(self.n_frames),
            "n_clips": int(self.n_clips),
            "test_clips": int(self.test_clips),
            "n_units": int(self.n_units),
            "top_n": int(self.n_top),
            "all_frames_top_n": int(self.frame_top_n),
        }


def load_study(
    dataset,
    run,
    population: str,
    au_source: str,
    openface_dir: str | None = None,
    landmark_reference: str = "auto",
    top_n: int = paper.UNIT_TOP_N,
    seed: int = 0,
) -> AUStudy:
    """Everything chapter 07 tests, from the face model of chapter 04 and chapter 06's cached
    unit statistics (:func:`~personality_utils.units.semantics.face_unit_statistics`).

    Args:
        dataset: A :class:`~personality_utils.data.datasets.Dataset` with faces.
        run: The DAN+ face model's :class:`~personality_utils.models.experiments.Experiment`.
        population: The faces ranked (the profile's ``unit_population``).
        au_source, openface_dir, landmark_reference: The AU options (:func:`resolve_source`).
        top_n: N wanted; a population too small for it gets a tenth of its size
            (:func:`~personality_utils.units.semantics.study_top_n`), over the population and over
            every frame alike.
        seed: Seed of the random network.
    """
    reference = resolve_source(au_source, dataset.synthetic, openface_dir, landmark_reference)
    face_store = dataset.faces("test")
    rows = populations.population_rows(face_store.meta, population)
    n_top = populations.study_top_n(len(rows), top_n)
    frame_top_n = populations.study_top_n(len(face_store), top_n)

    def top_sets(n: int, **options) -> tuple[np.ndarray, Any]:
        stats = populations.face_unit_statistics(
            dataset, run.trained, run.checkpoint, top_n=n, **options
        )
        return stats.images["conv5_3"][:, :n], stats

    unit_top, unit_stats = top_sets(n_top, population=population)
    random_top, _ = top_sets(n_top, random_seed=seed, population=population)
    frame_unit_top, _ = top_sets(frame_top_n)
    frame_random_top, _ = top_sets(frame_top_n, random_seed=seed)
    pretrained_top = frame_pretrained_top = None
    if run.trained.config.backbone_weights is not None:  # the network before fine-tuning
        pretrained_top, _ = top_sets(n_top, network="pretrained", population=population)
        frame_pretrained_top, _ = top_sets(frame_top_n, network="pretrained")
    synthetic = dataset.synthetic
    return AUStudy(
        au_source=au_source,
        landmark_reference=reference,
        population=population,
        face_store=face_store,
        population_rows=rows,
        frame_aus=estimator.split_intensities(dataset, "test", au_source, openface_dir, reference),
        unit_stats=unit_stats,
        n_top=n_top,
        unit_top=unit_top,
        random_top=random_top,
        frame_top_n=frame_top_n,
        frame_unit_top=frame_unit_top,
        frame_random_top=frame_random_top,
        test_clips=int(dataset.store("test").meta["clip"].nunique()),
        truth_aus=estimator.truth_intensities(dataset.root, face_store.meta) if synthetic else None,
        planted_landmarks=estimator.truth_landmarks(dataset.root, face_store.meta)
        if synthetic
        else None,
        pretrained_top=pretrained_top,
        frame_pretrained_top=frame_pretrained_top,
    )
