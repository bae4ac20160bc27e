"""Causal tests of where the information is (chapter 05): hide a region, watch the prediction.

The face overlap of chapter 05 says where a map is; it does not say that the model *needs*
what is there, and a central blob can win it without the face mattering. These tests change the
input and measure the output instead:

* :func:`occlusion`: per trait, how far predictions move when the face box is hidden, when a box
  of the same size off the face is hidden, and (synthetic set) when the planted poster is
  hidden; person-bootstrap intervals, and paired differences between the regions.
* :func:`masked_accuracy`: the full-frame model scored on frames that show only the face, and on
  frames that show everything but the face (mean accuracy and R² per trait).
* :func:`deletion_insertion`: deletion and insertion curves (Petsiuk et al., 2018) ordered by
  the CAM against a random order and a centre prior, area under the curve per trait.

"Hidden" means replaced by the model's training mean image: in the model's normalised input,
a hidden pixel is 0, the value an average training image has there, so a hidden region carries
no evidence either way. Every target is the **pre-sigmoid output of one trait, signed** (a
regression has no class score and no softmax): the deletion curve of "CAM, higher first" removes
the pixels the map says push the trait up, so the output should fall fast; "CAM, lower first"
removes the pixels that push it down, so it should rise. Random and centre-prior orders say how
much any order of the same pixels gives.

Maintained libraries were considered: Quantus's region-perturbation and pixel-flipping metrics
index a class output, and Captum has no deletion curve; the curves here are a few lines, tested
on a model whose answer is known (``tests/test_causal.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from personality_utils.cam.maps import box_mask
from personality_utils.cam.perturbation import Perturbation, deletion_insertion
from personality_utils.core.stats import (
    N_RESAMPLES,
    as_estimate,
    bootstrap_interval,
    constant_predictions,
    estimate,
    paired_difference,
    people,
    regression_metrics,
)
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.synthetic.generator import dataset_identity
from personality_utils.data.synthetic.labels import face_driven
from personality_utils.data.synthetic.truth import store_boxes
from personality_utils.models.training import predict

__all__ = [
    "CausalTests",
    "MaskedScores",
    "Occlusion",
    "box_masks",
    "face_driven_traits",
    "masked_accuracy",
    "occlusion",
    "off_face_boxes",
    "run",
]


# ----------------------------------------------------------------------------------------------
# Hiding regions
# ----------------------------------------------------------------------------------------------


def box_masks(boxes: np.ndarray, image_size: int, input_size: int) -> np.ndarray:
    """(n, input_size, input_size) float32 masks, 1 inside each box (left, top, right, bottom in
    ``image_size`` pixels, brought to the model's input side; a pixel is inside when its centre
    is, :func:`~personality_utils.cam.maps.box_mask`, the rule of the face overlap), 0 elsewhere and
    for NaN boxes."""

    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    masks = np.zeros((len(boxes), input_size, input_size), dtype=np.float32)
    scale = input_size / image_size
    for mask, box in zip(masks, boxes, strict=True):
        if np.isfinite(box).all():
            mask[box_mask(box * scale, input_size)] = 1.0
    return masks


def _intersects(first: np.ndarray, second: np.ndarray) -> bool:
    if not np.isfinite(second).all():
        return False
    return bool(
        first[0] < second[2]
        and second[0] < first[2]
        and first[1] < second[3]
        and second[1] < first[3]
    )


def off_face_boxes(
    face_boxes: np.ndarray,
    image_size: int,
    avoid: np.ndarray | None = None,
    seed: int = 0,
    tries: int = 200,
) -> np.ndarray:
    """For each face box, a box of the same width and height inside the image that touches
    neither the face box nor the ``avoid`` box of the same row (the planted poster, so the
    control hides neither cue), at a seeded random place; NaN where the face box is NaN or no
    place was found in ``tries`` draws."""
    rng = np.random.default_rng(seed)
    face_boxes = np.asarray(face_boxes, dtype=np.float64)
    out = np.full_like(face_boxes, np.nan)
    for row, box in enumerate(face_boxes):
        if not np.isfinite(box).all():
            continue
        width, height = min(box[2] - box[0], image_size), min(box[3] - box[1], image_size)
        for _ in range(tries):
            left = rng.uniform(0, image_size - width)
            top = rng.uniform(0, image_size - height)
            candidate = np.array([left, top, left + width, top + height])
            if _intersects(candidate, box):
                continue
            if avoid is not None and _intersects(candidate, np.asarray(avoid[row], dtype=float)):
                continue
            out[row] = candidate
            break
    return out


# ----------------------------------------------------------------------------------------------
# Occlusion
# ----------------------------------------------------------------------------------------------


def _clip_means(values: np.ndarray, clips: np.ndarray) -> pd.DataFrame:
    table = pd.DataFrame(values, columns=list(TRAITS))
    table["clip"] = clips
    return table.groupby("clip", sort=True)[list(TRAITS)].mean()


@dataclass
class Occlusion:
    """How far predictions move when a region is hidden (:func:`occlusion`).

    Attributes:
        changes: ``{region: (clips x traits)}`` per clip, the mean over its frames of the
            absolute change of each trait score (0-1 scale) when the region is hidden.
        signed: The same, signed (hidden minus intact).
        frames: Frames used (those with every region's box).
        skipped: Frames left out, by reason.
        n_boot, seed: The person bootstrap.
    """

    changes: dict[str, pd.DataFrame]
    signed: dict[str, pd.DataFrame]
    frames: int
    skipped: dict[str, int]
    n_boot: int = N_RESAMPLES
    seed: int = 0

    @property
    def regions(self) -> list[str]:
        return list(self.changes)

    def _interval(self, values: pd.Series) -> dict:
        value, low, high = bootstrap_interval(
            values.to_numpy(), people(values.index), self.n_boot, self.seed
        )
        return estimate(value, low, high)

    def effect(self, region: str, trait: str) -> dict:
        """Mean absolute change of ``trait`` when ``region`` is hidden, with its interval."""
        return self._interval(self.changes[region][trait])

    def difference(self, first: str, second: str, trait: str) -> dict:
        """Paired (same clips) difference of the mean absolute change, ``first`` minus
        ``second``, with a person-bootstrap interval."""
        return self._interval(self.changes[first][trait] - self.changes[second][trait])

    def table(self) -> pd.DataFrame:
        """Rows region × trait: the mean absolute change with its interval and the signed mean."""
        rows = []
        for region in self.regions:
            for trait in TRAITS:
                effect = self.effect(region, trait)
                rows.append(
                    {
                        "region hidden": region,
                        "trait": trait,
                        "mean |change|": effect["value"],
                        "95% low": effect["low"],
                        "95% high": effect["high"],
                        "mean signed change": float(self.signed[region][trait].mean()),
                    }
                )
        return pd.DataFrame(rows).set_index(["region hidden", "trait"])

    def bars(self) -> pd.DataFrame:
        """The table in :func:`~personality_utils.figures.plots.measure_bars`' long form: ``value``,
        ``value_low``, ``value_high`` per ``region hidden`` and ``trait``."""
        table = self.table().reset_index()
        return table.rename(
            columns={"mean |change|": "value", "95% low": "value_low", "95% high": "value_high"}
        )

    def differences(self) -> dict[str, dict[str, dict]]:
        """The paired comparisons the claims read: face vs off face and, with a poster,
        poster vs face, per trait."""
        pairs = [("face", "off face")]
        if "poster" in self.changes:
            pairs.append(("poster", "face"))
        return {
            f"{first} minus {second}": {
                trait: self.difference(first, second, trait) for trait in TRAITS
            }
            for first, second in pairs
        }

    def description(self) -> str:
        """One line: frames, clips and what was left out."""
        clips = len(next(iter(self.changes.values())))
        skipped = ", ".join(f"{count} {why}" for why, count in self.skipped.items() if count)
        return f"{self.frames} test frames of {clips} clips; left out: {skipped or 'none'}"

    def record(self) -> dict[str, Any]:
        """The results-file entry ``occlusion``."""
        return {
            "frames": self.frames,
            "skipped": dict(self.skipped),
            "mean_abs_change": {
                region: {trait: self.effect(region, trait) for trait in TRAITS}
                for region in self.regions
            },
            "mean_signed_change": {
                region: self.signed[region].mean().astype(float).to_dict()
                for region in self.regions
            },
            "differences": self.differences(),
        }


def occlusion(
    trained,
    images: np.ndarray,
    clips: np.ndarray,
    face_boxes: np.ndarray,
    image_size: int,
    poster_boxes: np.ndarray | None = None,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
) -> Occlusion:
    """Hide the face box, a box of the same size off the face (:func:`off_face_boxes`, away
    from the poster too) and, given ``poster_boxes``, the poster, in every frame that has them
    all, and measure how far each trait score moves.

    Args:
        trained: The full-frame model.
        images: uint8 (n, h, w, 3) frames; ``clips`` their clip names.
        face_boxes: (n, 4) dlib face boxes in ``image_size`` pixels (NaN without a face).
        poster_boxes: (n, 4) true poster boxes (synthetic set), or None.
    """
    size = trained.config.input_size
    regions = {"face": np.asarray(face_boxes, dtype=np.float64)}
    regions["off face"] = off_face_boxes(regions["face"], image_size, poster_boxes, seed)
    if poster_boxes is not None:
        regions["poster"] = np.asarray(poster_boxes, dtype=np.float64)
    has_face = np.isfinite(regions["face"]).all(axis=1)
    usable = np.all([np.isfinite(boxes).all(axis=1) for boxes in regions.values()], axis=0)
    skipped = {
        "without a face box": int((~has_face).sum()),
        "with no room off the face": int((has_face & ~usable).sum()),
    }
    rows = np.flatnonzero(usable)
    frames, clip_names = np.asarray(images)[rows], np.asarray(clips)[rows]
    intact = predict(trained, frames)
    changes, signed = {}, {}
    for region, boxes in regions.items():
        hidden = predict(trained, frames, hide=box_masks(boxes[rows], image_size, size))
        signed[region] = _clip_means(hidden - intact, clip_names)
        changes[region] = _clip_means(np.abs(hidden - intact), clip_names)
    return Occlusion(changes, signed, len(rows), skipped, n_boot, seed)


# ----------------------------------------------------------------------------------------------
# The face alone, the context alone
# ----------------------------------------------------------------------------------------------


@dataclass
class MaskedScores:
    """The full-frame model scored on the face alone and on the context alone
    (:func:`masked_accuracy`).

    Attributes:
        predictions: ``{condition: clips x traits}`` clip predictions, conditions ``"intact"``,
            ``"face only"`` (everything but the face box hidden) and ``"context only"`` (the
            face box hidden), all on the same frames (those with a face box).
        truth: The clips' labels; ``train``: the training labels (constant predictor).
    """

    predictions: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    train: pd.DataFrame

    def table(self) -> pd.DataFrame:
        """Rows condition (and the constant predictor): MA, mean R² and R² per trait."""

        rows = {}
        conditions = {**self.predictions, "constant": None}
        for condition, predicted in conditions.items():
            if predicted is None:
                predicted = constant_predictions(self.train, self.truth.index)
            metrics = regression_metrics(predicted, self.truth)
            rows[condition] = {
                "MA": float(metrics.loc["mean", "accuracy"]),
                "mean R²": float(metrics.loc["mean", "r2"]),
                **{f"R² {trait}": float(metrics.loc[trait, "r2"]) for trait in TRAITS},
            }
        return pd.DataFrame(rows).T

    def face_minus_context(self, seed: int = 0) -> dict:
        """Paired mean-accuracy difference, face only minus context only, with a person
        interval (:func:`~personality_utils.core.stats.paired_difference`)."""

        return as_estimate(
            paired_difference(
                self.predictions["face only"],
                self.predictions["context only"],
                self.truth,
                seed=seed,
            )
        )

    def record(self) -> dict[str, Any]:
        """The results-file entry ``masked_accuracy``."""
        table = self.table()
        return {
            condition: {
                "mean_accuracy": float(row["MA"]),
                "mean_r2": float(row["mean R²"]),
                "r2": {trait: float(row[f"R² {trait}"]) for trait in TRAITS},
            }
            for condition, row in table.iterrows()
        } | {"clips": len(self.truth)}


def masked_accuracy(
    trained,
    images: np.ndarray,
    clips: np.ndarray,
    face_boxes: np.ndarray,
    image_size: int,
    truth: pd.DataFrame,
    train: pd.DataFrame,
) -> MaskedScores:
    """Score the full-frame model on the frames with a face box, intact, with everything but
    the face hidden, and with the face hidden; a clip's prediction is the mean over those
    frames, and clips with no such frame are left out.

    Args:
        truth: Labels of the clips (indexed by clip); ``train`` the training labels.
    """
    rows = np.flatnonzero(np.isfinite(np.asarray(face_boxes, dtype=float)).all(axis=1))
    frames, clip_names = np.asarray(images)[rows], np.asarray(clips)[rows]
    face = box_masks(np.asarray(face_boxes)[rows], image_size, trained.config.input_size)
    predictions = {
        "intact": predict(trained, frames),
        "face only": predict(trained, frames, hide=1.0 - face),
        "context only": predict(trained, frames, hide=face),
    }
    tables = {name: _clip_means(values, clip_names) for name, values in predictions.items()}
    kept = truth.loc[truth.index.isin(tables["intact"].index)]
    return MaskedScores({k: v.loc[kept.index] for k, v in tables.items()}, kept, train)


# ----------------------------------------------------------------------------------------------
# Chapter 05's causal tests, together
# ----------------------------------------------------------------------------------------------


@dataclass
class CausalTests:
    """Chapter 05's causal tests of the full-frame models (:func:`run`).

    Attributes:
        occlusion: ``{model: Occlusion}``; the claims read ``"CAM model"``, the model whose maps
            the chapter scores, and DAN+ (Table 1's) is shown beside it.
        masked: ``{model: MaskedScores}``.
        perturbation: The CAM model's deletion and insertion curves on its top frames.
        face_driven: Traits whose planted signal is mostly on the face (synthetic set; every
            trait on real data).
        context_trait: The trait planted mostly outside the face (None on real data).
        seed: The bootstrap seed.
    """

    occlusion: dict[str, Occlusion]
    masked: dict[str, MaskedScores]
    perturbation: Perturbation
    face_driven: list[str]
    context_trait: str | None
    seed: int = 0

    def occlusion_table(self) -> pd.DataFrame:
        """Model × region × trait: mean |change| with its interval and the signed mean."""
        return pd.concat({model: result.table() for model, result in self.occlusion.items()})

    def masked_table(self) -> pd.DataFrame:
        """Model × condition: MA, mean R² and R² per trait."""
        return pd.concat({model: result.table() for model, result in self.masked.items()})

    def description(self) -> str:
        """One line per model: frames used and left out."""
        return "\n".join(
            f"{model}: {result.description()}" for model, result in self.occlusion.items()
        )

    def measurements(self) -> dict[str, Any]:
        """What the claims read (the CAM model's)."""
        occlusion = self.occlusion["CAM model"].differences()
        perturbation = self.perturbation.record()
        out = {
            "face_driven_traits": list(self.face_driven),
            "occlusion_face_minus_off_face": occlusion["face minus off face"],
            "face_only_minus_context_only": self.masked["CAM model"].face_minus_context(self.seed),
            "deletion_cam_minus_random": perturbation["deletion_auc"]["cam_minus_random"],
            "deletion_cam_minus_centre_prior": perturbation["deletion_auc"][
                "cam_minus_centre_prior"
            ],
        }
        if "poster minus face" in occlusion and self.context_trait is not None:
            out["occlusion_poster_minus_face"] = occlusion["poster minus face"]
            out["occlusion_context_trait"] = self.context_trait
        return out

    def record(self) -> dict[str, Any]:
        """The results-file entries ``occlusion``, ``masked_accuracy``, ``deletion_auc`` and
        ``insertion_auc``."""
        return {
            "occlusion": {model: result.record() for model, result in self.occlusion.items()},
            "masked_accuracy": {model: result.record() for model, result in self.masked.items()},
            **self.perturbation.record(),
        }


def face_driven_traits(dataset) -> tuple[list[str], str | None]:
    """The traits whose planted signal outside the face, on the poster or through who the
    person is, is small, and the one planted mostly on the poster
    (:func:`~personality_utils.data.synthetic.labels.face_driven`, for what the dataset drew per
    person);
    on real data every trait and None."""
    if not dataset.synthetic:
        return list(TRAITS), None

    return face_driven(dataset_identity(dataset.root))


def run(
    study,
    dataset,
    models: Mapping[str, Any],
    images_per_trait: int = 20,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
) -> CausalTests:
    """Chapter 05's causal tests on the test split.

    Args:
        study: The chapter's :class:`~personality_utils.cam.study.CamStudy` (frames, face boxes,
            the CAM model's maps and top frames).
        dataset: The dataset (its test and training labels; the poster boxes on the synthetic
            set).
        models: ``{"CAM model": ..., "DAN+": ...}`` full-frame ``TrainedModel``\\ s.
        images_per_trait: Top frames per trait in the deletion and insertion curves.
    """

    store = study.store
    frames, clips = store.frames, study.clips
    poster = store_boxes(dataset.root, store, "poster_box") if dataset.synthetic else None
    truth = store.clip_labels()
    train = dataset.store("train").clip_labels()
    occluded, masked = {}, {}
    for name, trained in models.items():
        occluded[name] = occlusion(
            trained, frames, clips, study.boxes, study.size, poster, n_boot, seed
        )
        masked[name] = masked_accuracy(
            trained, frames, clips, study.boxes, study.size, truth, train
        )
    rows, traits = [], []
    for t, trait in enumerate(TRAITS):
        top = np.asarray(study.top_frames[trait])[:images_per_trait]
        rows += list(top)
        traits += [t] * len(top)
    rows = np.asarray(rows, dtype=np.int64)
    traits = np.asarray(traits, dtype=np.int64)
    perturbation = deletion_insertion(
        models["CAM model"],
        frames[rows],
        study.frame_maps[rows, traits],
        traits,
        clips[rows],
        study.upsampling,
        n_boot=n_boot,
        seed=seed,
    )
    face_driven, context = face_driven_traits(dataset)
    return CausalTests(occluded, masked, perturbation, face_driven, context, seed)
