"""What each chapter measures for its claims, typed: one record per chapter.

A chapter fills its record (:meth:`Record.fill`: a key the record does not declare is an error
naming the chapter and the key), its results file saves it (``measurements``), and the claims
read it by field name through the record's namespace (``CAM.context_trait``, not the string
``"context_trait"``): a field renamed here fails where the claims are defined, at import, instead
of turning a row into *not testable here*. A field the chapter leaves unfilled is saved as None
(not measured on this data) and listed in the results file (``measurements_omitted``); on the
synthetic set every chapter fills every field, which ``tests/test_notebooks.py`` checks.

The values are the chapters' JSON-ready records: :func:`~personality_utils.core.stats.estimate`
records (value, low, high), per-trait or per-source mappings of them, numbers and names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from personality_utils.core.vocabulary import DataError

__all__ = [
    "ATTRIBUTION",
    "AU",
    "CAM",
    "FACES_MODEL",
    "GATES",
    "MODEL",
    "RECORDS",
    "UNITS",
    "AURecord",
    "AttributionRecord",
    "CamRecord",
    "FacesModelRecord",
    "ModelRecord",
    "Record",
    "UnitRecord",
]

#: A JSON-ready measurement: an estimate record, a mapping of them, a number or a name.
Value = Any


@dataclass
class Record:
    """A chapter's measurements. Subclasses declare the fields; every field defaults to None
    (not measured on this data)."""

    @classmethod
    def names(cls) -> SimpleNamespace:
        """The record's field names as attributes (``names().x == "x"``), for the claims."""
        return SimpleNamespace(**{field.name: field.name for field in dataclasses.fields(cls)})

    @classmethod
    def fill(cls, chapter: str, values: Mapping[str, Value]) -> tuple[Record, list[str]]:
        """The record a chapter filled, and the fields it left unfilled.

        Raises:
            DataError: If ``values`` has a key the record does not declare (a misspelt or
                renamed measurement), naming the chapter and the keys.
        """
        declared = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - declared)
        if unknown:
            raise DataError(
                f"chapter {chapter} saves measurements its record ({cls.__name__}, "
                f"personality_utils.core.records) does not declare: {', '.join(unknown)}"
            )
        omitted = sorted(declared - set(values))
        return cls(**values), omitted

    def to_dict(self) -> dict[str, Value]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


@dataclass
class ModelRecord(Record):
    """Chapter 03 (full frames): the model's mean accuracy over its training seeds, the
    constant, the gain over it, and the gain on clips of people never seen in training."""

    accuracy: Value = None
    constant: Value = None
    gain_over_constant: Value = None
    identity_disjoint_gain: Value = None
    identity_disjoint_clips: Value = None


@dataclass
class FacesModelRecord(ModelRecord):
    """Chapter 04 (faces): chapter 03's measures for the face model, and faces against full
    frames on the same clips."""

    faces_minus_frames: Value = None
    faces_minus_frames_per_trait: Value = None


@dataclass
class CamRecord(Record):
    """Chapter 05: the paper's overlap protocol, its image-blind baselines, the randomisation
    test, the face parts, occlusion and deletion, and the planted poster."""

    share_ge_0_9: Value = None
    mean_overlap: Value = None
    overlap_by_trait: Value = None
    centre_prior_share: Value = None
    cam_minus_centre_prior: Value = None
    cam_minus_face_prior: Value = None
    cam_minus_random_map: Value = None
    randomised_overlap_gap: Value = None
    randomised_rank_correlation: Value = None
    part_spread: Value = None
    part_spread_region: Value = None
    part_difference_p: Value = None
    context_trait: Value = None
    context_overlap_gap: Value = None
    context_poster_gap: Value = None
    flat_poster_energy: Value = None
    poster_energy_by_trait: Value = None
    occlusion_face_minus_off_face: Value = None
    occlusion_poster_minus_face: Value = None
    occlusion_context_trait: Value = None
    face_driven_traits: Value = None
    face_only_minus_context_only: Value = None
    deletion_cam_minus_random: Value = None
    deletion_cam_minus_centre_prior: Value = None
    trait_r2: Value = None
    instruments: Value = None


@dataclass
class UnitRecord(Record):
    """Chapter 06: emergence of face-part units against null networks, entropy with depth,
    Network Dissection's IoU, glasses units, the planted cues and the ablation."""

    emergence: Value = None
    emergence_levels: Value = None
    emergence_null: Value = None
    emergence_design: Value = None
    deepest_entropy_gap: Value = None
    deepest_entropy_gap_levels: Value = None
    entropy_depth_spearman: Value = None
    entropy_depth_spearman_levels: Value = None
    netdissect_gap: Value = None
    netdissect_gap_levels: Value = None
    glasses_best: Value = None
    glasses_gap: Value = None
    glasses_gap_levels: Value = None
    planted_cues: Value = None
    ablation_min_q: Value = None
    ablation_planted_agreement: Value = None
    trait_r2: Value = None
    instruments: Value = None


@dataclass
class AURecord(Record):
    """Chapter 07: Table 2 and the AU links, the AU-only model against the CNN, the glasses
    covariate, the estimator's agreement with the planted AUs, per AU source."""

    table2: Value = None
    region_links: Value = None
    best_k_gap: Value = None
    best_k_gap_levels: Value = None
    emergence_null: Value = None
    au_model: Value = None
    cnn_gain: Value = None
    cnn_seeds: Value = None
    au_beyond_glasses: Value = None
    au_beyond_glasses_trait: Value = None
    coefficient_r: Value = None
    estimator_r: Value = None
    estimator_bar: Value = None
    trait_r2: Value = None
    instruments: Value = None


@dataclass
class AttributionRecord(Record):
    """Chapter 05b: each attribution method's mass on the planted causes against the
    face-location prior, the false-positive control, the randomisation check, the removal
    scores against random orders, the paper's overlap against the causes, and the backbone."""

    localisation_gain: Value = None
    false_positive_drop: Value = None
    randomisation_drop: Value = None
    removal_against_null: Value = None
    fill_agreement: Value = None
    overlap_against_cause: Value = None
    backbone_gain: Value = None
    context_trait: Value = None
    trait_r2: Value = None
    instruments: Value = None


#: The record each chapter with claims fills.
RECORDS: dict[str, type[Record]] = {
    "03_full_frames": ModelRecord,
    "04_faces_model": FacesModelRecord,
    "05_cam": CamRecord,
    "05b_attribution": AttributionRecord,
    "06_units": UnitRecord,
    "07_action_units": AURecord,
}
#: The fields every chapter whose models can fail their own checks declares: the instruments
#: it checked and each trait's R² (the gate of per-trait claims).
GATES = SimpleNamespace(instruments="instruments", trait_r2="trait_r2")
#: The field names the claims read, one namespace per record.
MODEL, FACES_MODEL, CAM, ATTRIBUTION, UNITS, AU = (
    ModelRecord.names(),
    FacesModelRecord.names(),
    CamRecord.names(),
    AttributionRecord.names(),
    UnitRecord.names(),
    AURecord.names(),
)
