"""The test split as chapter 05 maps it, and the paper's face overlap on it (Section 4.2).

:func:`prepare` computes, once, the maps of both CAM models (full frames and aligned faces) on
the test split, dlib's face boxes and the images mapped per trait; :meth:`CamStudy.overlap`
scores the top frames' maps against the boxes the paper's way. The chapter's measurements and
results record gather the overlap with the checks of :mod:`~personality_utils.cam.checks` and
the face parts of :mod:`~personality_utils.cam.parts` (:func:`measurements`,
:func:`results_record`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from personality_utils.cam import maps as cam
from personality_utils.cam.overlay import cam_overlay
from personality_utils.cam.parts import face_parts
from personality_utils.core import paper
from personality_utils.core.stats import N_RESAMPLES, estimate
from personality_utils.core.vocabulary import TRAITS

__all__ = [
    "PAPER_FIGURES",
    "CamStudy",
    "Overlap",
    "from_maps",
    "measurements",
    "model_table",
    "prepare",
    "protocol_table",
    "results_record",
]

#: The paper's two figures of Section 4.2: the share of maps with overlap ≥ 0.9 and the mean.
PAPER_FIGURES = {"share_ge_0_9": paper.CAM_OVERLAP_SHARE, "mean_overlap": paper.CAM_MEAN_OVERLAP}
_OVERLAP_COLUMNS = [
    "maps",
    "share_ge_0_9",
    "share_ge_0_9_low",
    "share_ge_0_9_high",
    "mean_overlap",
    "mean_overlap_low",
    "mean_overlap_high",
]


@dataclass
class Overlap:
    """The paper's face overlap of one ranking's top frames (:meth:`CamStudy.overlap`).

    Attributes:
        ranking: ``"videos"`` (the authors' code) or ``"frames"`` (the paper's text).
        top_n: Images per trait.
        scores: One row per map (:func:`~personality_utils.cam.maps.score_top`): ``overlap``,
            ``pointing``, ``energy``, ``cam_area``, ``box_area``, ``trait``, ``clip``, ``row``.
        table: :func:`~personality_utils.cam.maps.summarise_overlap` of ``scores``: row ``"all"``
            (and one per trait when summarised by trait).
    """

    ranking: str
    top_n: int
    scores: pd.DataFrame
    table: pd.DataFrame

    @property
    def rows(self) -> np.ndarray:
        """The frame-store row of each map."""
        return self.scores["row"].to_numpy()

    @property
    def traits(self) -> np.ndarray:
        """The trait index (:data:`~personality_utils.core.vocabulary.TRAITS`) of each map."""

        return np.array([TRAITS.index(trait) for trait in self.scores["trait"]], dtype=np.int64)

    def without_box(self) -> int:
        """Distinct mapped frames without a face box (their maps get no overlap)."""
        return int(self.scores.drop_duplicates("row")["box_area"].isna().sum())

    def nothing_activated(self) -> int:
        """Maps of frames with a face box whose binarised map is empty (no positive value), so
        their overlap, a share of the activated pixels, is undefined and left out too."""
        scores = self.scores
        return int((scores["overlap"].isna() & scores["box_area"].notna()).sum())

    def description(self) -> str:
        """One line: how many maps, frames and clips, those left out, and the two figures with
        the left-out maps counted as overlap 0 instead."""
        as_zero = self.scores["overlap"].fillna(0)
        return (
            f"{len(self.scores)} maps of {self.scores['row'].nunique()} distinct frames from "
            f"{self.scores['clip'].nunique()} clips; left out: {self.without_box()} mapped frames "
            f"without a face box and {self.nothing_activated()} maps with nothing activated; "
            f"counting the left-out maps as overlap 0 instead: share ≥ 0.9 "
            f"{(as_zero >= 0.9).mean():.3f}, mean {as_zero.mean():.3f}"
        )

    def with_paper(self) -> pd.DataFrame:
        """The two figures with their intervals, overall and per trait, under the paper's."""
        paper_row = pd.DataFrame(PAPER_FIGURES, index=["paper"])
        return pd.concat([self.table, paper_row])[_OVERLAP_COLUMNS].astype(float)

    def protocol(self) -> dict[str, float | int]:
        """The overall figures of this ranking, a column of :func:`protocol_table`."""
        overall = self.table.loc["all"]
        return {
            "maps scored": int(self.scores["overlap"].notna().sum()),
            "distinct clips": int(self.scores["clip"].nunique()),
            "maps without a face box": int(self.scores["box_area"].isna().sum()),
            "maps with nothing activated": self.nothing_activated(),
            "share ≥ 0.9": float(overall["share_ge_0_9"]),
            "share ≥ 0.9, 95% low": float(overall["share_ge_0_9_low"]),
            "share ≥ 0.9, 95% high": float(overall["share_ge_0_9_high"]),
            "mean overlap": float(overall["mean_overlap"]),
        }

    def record(self) -> dict[str, Any]:
        """The headline entries of the results file: the two figures (overall and per trait)
        with the overall intervals, the pointing game and the energy in the box."""
        by_trait = self.table.astype(float)  # rows "all" and the traits
        overall = self.table.loc["all"]
        return {
            "mapped_frames_without_face": self.without_box(),
            "maps_with_nothing_activated": self.nothing_activated(),
            "overlap_ge_0_9_share": by_trait["share_ge_0_9"].to_dict(),
            "overlap_ge_0_9_share_interval": [
                float(overall["share_ge_0_9_low"]),
                float(overall["share_ge_0_9_high"]),
            ],
            "mean_overlap": by_trait["mean_overlap"].to_dict(),
            "mean_overlap_interval": [
                float(overall["mean_overlap_low"]),
                float(overall["mean_overlap_high"]),
            ],
            "pointing_game": by_trait["pointing_game"].to_dict(),
            "energy_in_box": by_trait["energy_in_box"].to_dict(),
        }

    def check_record(self) -> dict[str, Any]:
        """The results-file entry of the other ranking (``ranking_check``)."""
        overall = self.table.loc["all"]
        return {
            "ranking": self.ranking,
            "overlap_ge_0_9_share": float(overall["share_ge_0_9"]),
            "overlap_ge_0_9_share_interval": [
                float(overall["share_ge_0_9_low"]),
                float(overall["share_ge_0_9_high"]),
            ],
            "mean_overlap": float(overall["mean_overlap"]),
            "distinct_clips": int(self.scores["clip"].nunique()),
        }


@dataclass
class CamStudy:
    """Both CAM models' maps of the test split, its face boxes and the images mapped per trait.

    Attributes:
        store, faces: The test split's frame store and face store.
        boxes: (frames, 4) dlib face boxes in frame-store pixels, NaN where no face.
        frame_maps, frame_predictions: The full-frame CAM model's (frames, 5, g, g) maps and
            (frames, 5) predictions (:func:`~personality_utils.cam.maps.class_activation_maps`).
        face_maps, face_predictions: The face CAM model's, on the face crops.
        top_frames, top_faces: ``{trait: rows}`` of the images mapped per trait
            (:func:`~personality_utils.cam.maps.top_images`; frames compete only with a face box).
        top_n, ranking, upsampling: The protocol (the authors': 50, ``"videos"``, bicubic).
    """

    store: Any
    faces: Any
    boxes: np.ndarray
    frame_maps: np.ndarray
    frame_predictions: np.ndarray
    face_maps: np.ndarray
    face_predictions: np.ndarray
    top_frames: dict[str, np.ndarray]
    top_faces: dict[str, np.ndarray]
    top_n: int
    ranking: Literal["videos", "frames"]
    upsampling: Literal["bicubic", "bilinear"]

    @property
    def size(self) -> int:
        """Side of the stored frames (the boxes' pixels)."""
        return int(self.store.frames.shape[1])

    @property
    def face_size(self) -> int:
        """Side of the face crops."""
        return int(self.faces.crops.shape[1])

    @property
    def grid(self) -> int:
        """Side of a map (conv5_3's grid)."""
        return int(self.frame_maps.shape[-1])

    @property
    def has_face(self) -> np.ndarray:
        """Whether each frame has a face box."""
        return np.isfinite(self.boxes).all(axis=1)

    @property
    def clips(self) -> np.ndarray:
        """Clip name of every frame."""
        return self.store.meta["clip"].to_numpy()

    @property
    def face_clips(self) -> np.ndarray:
        """Clip name of every face crop."""
        return self.faces.meta["clip"].to_numpy()

    @property
    def other_ranking(self) -> Literal["videos", "frames"]:
        """The ranking that is not the headline's: the protocol check."""
        return "frames" if self.ranking == "videos" else "videos"

    def description(self) -> str:
        """Two lines: the maps and the protocol, and the test split's size."""
        clips = len(np.unique(self.clips))
        return (
            f"maps {self.grid}x{self.grid}, upsampled ({self.upsampling}) to "
            f"{self.size}x{self.size}; images per trait: top {self.top_n} {self.ranking}\n"
            f"test clips {clips}, frames {len(self.store)}, with a dlib face box "
            f"{int(self.has_face.sum())}"
        )

    def panels(self, n: int = 20, display_size: int = 112) -> dict[str, list[np.ndarray]]:
        """Figs. 5 and 6: the first ``n`` mapped images of each model and trait with their CAM
        drawn over them (:func:`~personality_utils.cam.overlay.cam_overlay`), keyed
        ``"<model> · <trait>"`` for :func:`~personality_utils.figures.plots.gallery_with_menu`."""

        panels = {}
        for source, maps, pictures, tops in (
            ("full frames", self.frame_maps, self.store.frames, self.top_frames),
            ("faces", self.face_maps, self.faces.crops, self.top_faces),
        ):
            for t, trait in enumerate(TRAITS):
                panels[f"{source} · {trait}"] = [
                    cam_overlay(pictures[row], maps[row, t], display_size=display_size)
                    for row in tops[trait][:n]
                ]
        return panels

    def overlap(
        self,
        ranking: Literal["videos", "frames"] | None = None,
        n_boot: int = N_RESAMPLES,
        seed: int = 0,
        by: str | None = "trait",
    ) -> Overlap:
        """The paper's overlap of the top frames' maps with their face boxes.

        Args:
            ranking: ``None`` for the study's (its ``top_frames``); otherwise the top frames
                are ranked again that way, frames competing only with a face box.
            n_boot, seed: The people bootstrap of
            :func:`~personality_utils.cam.maps.summarise_overlap`.
            by: ``"trait"`` for a row per trait as well, ``None`` for the overall row only.
        """
        ranking = ranking or self.ranking
        tops = self.top_frames
        if ranking != self.ranking:
            tops = cam.top_images(
                self.store.meta, self.frame_predictions, self.top_n, ranking, self.has_face
            )
        scores = cam.score_top(
            self.frame_maps, tops, self.boxes, self.size, self.clips, self.upsampling
        )
        table = cam.summarise_overlap(scores, n_boot=n_boot, seed=seed, by=by)
        return Overlap(ranking, self.top_n, scores, table)

    def threshold_curve(
        self, overlap: Overlap, fractions=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    ) -> pd.DataFrame:
        """:func:`~personality_utils.cam.maps.threshold_curve` of the maps ``overlap`` scored, raw
        and min–max, with a ``label`` for
        :func:`~personality_utils.figures.plots.threshold_curves`."""
        curve = cam.threshold_curve(
            self.frame_maps[overlap.rows, overlap.traits],
            self.boxes[overlap.rows],
            self.size,
            fractions=fractions,
            upsampling=self.upsampling,
        )
        curve["label"] = "CAM model, full frames (" + curve["mode"] + ")"
        return curve

    def face_parts(self, n_boot: int = N_RESAMPLES, seed: int = 0):
        """The face model's CAM mass per face part over each trait's top crops
        (:func:`~personality_utils.cam.parts.face_parts`)."""

        return face_parts(
            self.face_maps,
            self.faces.landmarks,
            self.top_faces,
            self.face_clips,
            self.face_size,
            n_boot,
            seed,
            self.upsampling,
        )


def prepare(
    dataset,
    frames_model,
    faces_model,
    top_n: int = paper.CAM_TOP_IMAGES,
    ranking: Literal["videos", "frames"] = "videos",
    upsampling: Literal["bicubic", "bilinear"] = "bicubic",
) -> CamStudy:
    """Map the test split with both CAM models and pick the images mapped per trait.

    Args:
        dataset: A prepared dataset (:func:`~personality_utils.data.datasets.prepare_dataset`) whose
            test frame store was built with faces.
        frames_model, faces_model: The CAM models (``TrainedModel``) of chapters 03 and 04.
        top_n, ranking: Images per trait, ranked by video (the authors' code) or by frame.
        upsampling: How maps are brought to the image (the authors': bicubic).
    """
    store, faces = dataset.store("test"), dataset.faces("test")
    frame_maps, frame_predictions = cam.class_activation_maps(frames_model, store.frames)
    face_maps, face_predictions = cam.class_activation_maps(faces_model, faces.crops)
    return from_maps(
        store,
        faces,
        frame_maps,
        frame_predictions,
        face_maps,
        face_predictions,
        top_n,
        ranking,
        upsampling,
    )


def from_maps(
    store,
    faces,
    frame_maps: np.ndarray,
    frame_predictions: np.ndarray,
    face_maps: np.ndarray,
    face_predictions: np.ndarray,
    top_n: int = paper.CAM_TOP_IMAGES,
    ranking: Literal["videos", "frames"] = "videos",
    upsampling: Literal["bicubic", "bilinear"] = "bicubic",
) -> CamStudy:
    """The study of :func:`prepare` from maps and predictions already computed: the stores'
    face boxes and the images mapped per trait (frames compete only with a face box)."""
    boxes = cam.dlib_boxes(store)
    has_face = np.isfinite(boxes).all(axis=1)
    return CamStudy(
        store,
        faces,
        boxes,
        frame_maps,
        frame_predictions,
        face_maps,
        face_predictions,
        cam.top_images(store.meta, frame_predictions, top_n, ranking, eligible=has_face),
        cam.top_images(faces.meta, face_predictions, top_n, ranking),
        top_n,
        ranking,
        upsampling,
    )


def model_table(runs: dict[str, Any]) -> pd.DataFrame:
    """Test mean accuracy, the constant predictor's and mean R² of each model (rows)."""
    return pd.DataFrame(
        {
            source: {
                "test MA": run.test.all.metrics.loc["mean", "accuracy"],
                "constant MA": run.test.all.constant_accuracy,
                "mean R²": run.test.all.metrics.loc["mean", "r2"],
            }
            for source, run in runs.items()
        }
    ).T


def protocol_table(headline: Overlap, check: Overlap) -> pd.DataFrame:
    """The headline ranking beside the other one: maps, clips and the two figures."""
    return pd.DataFrame(
        {
            f"top {overlap.top_n} {overlap.ranking} ({role})": overlap.protocol()
            for role, overlap in (("headline", headline), ("check", check))
        }
    )


# ----------------------------------------------------------------------------------------------
# What held: the chapter's measurements and results record
# ----------------------------------------------------------------------------------------------


def measurements(
    headline: Overlap,
    baselines,
    randomisation,
    parts,
    truth=None,
    causal=None,
    instruments: dict | None = None,
    trait_r2: dict | None = None,
) -> dict:
    """What :mod:`~personality_utils.claims.catalogue` judges chapter 05's claims from.

    Args:
        headline: The paper's overlap (:meth:`CamStudy.overlap`).
        baselines: :func:`~personality_utils.cam.checks.baselines`.
        randomisation: :func:`~personality_utils.cam.checks.randomisation`.
        parts: :meth:`CamStudy.face_parts`.
        truth: :func:`~personality_utils.cam.checks.ground_truth` (None on real data).
        causal: :func:`~personality_utils.cam.causal.run` (None: no causal tests).
        instruments: The instrument checks the claims rest on
            (:func:`~personality_utils.models.experiments.model_instruments`).
        trait_r2: The CAM model's test R² per trait (the claims' R² gate).
    """

    overall = headline.table.loc["all"]
    out = {
        "share_ge_0_9": estimate(
            overall["share_ge_0_9"], overall["share_ge_0_9_low"], overall["share_ge_0_9_high"]
        ),
        "mean_overlap": estimate(
            overall["mean_overlap"], overall["mean_overlap_low"], overall["mean_overlap_high"]
        ),
        **baselines.measurements(),
        "randomised_rank_correlation": randomisation.final_rank_correlation(),
        "randomised_overlap_gap": randomisation.gaps,
        **parts.measurements(),
        "instruments": instruments or {},
        "trait_r2": trait_r2 or {},
    }
    if truth is not None:
        out.update(truth.measurements())
    if causal is not None:
        out.update(causal.measurements())
    return out


def results_record(
    study: CamStudy,
    cam_kind: str,
    headline: Overlap,
    check: Overlap,
    baselines,
    randomisation,
    parts,
    truth=None,
    causal=None,
) -> dict:
    """Chapter 05's results file, less the measurements and claims that
    :meth:`~personality_utils.book.session.Chapter.finish` adds (arguments as :func:`measurements`;
    ``check`` is the other ranking's overlap)."""
    record = {
        "cam_kind": cam_kind,
        "cam_grid": study.grid,
        "cam_upsampling": study.upsampling,
        "cam_ranking": study.ranking,
        "top_n": int(study.top_n),
        "ranking_check": check.check_record(),
        **headline.record(),
        **baselines.record(),
        **randomisation.record(),
        **parts.record(),
        "paper": {
            "overlap_ge_0_9_share": paper.CAM_OVERLAP_SHARE,
            "mean_overlap": paper.CAM_MEAN_OVERLAP,
        },
    }
    if truth is not None:
        record.update(truth.record())
    if causal is not None:
        record.update(causal.record())
    return record
