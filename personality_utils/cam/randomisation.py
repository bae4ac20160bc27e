"""The model-parameter randomisation test of the CAM (Adebayo et al. 2018): layers
re-initialised from the top down, and how far the maps move at each stage.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from personality_utils.cam.checks import DanplusMaps, rank_correlation
from personality_utils.cam.maps import (
    class_activation_maps,
    gradient_maps,
    score_maps,
)
from personality_utils.core.stats import (
    N_RESAMPLES,
    bootstrap_interval,
    estimate,
    people,
)
from personality_utils.models.networks import CONV_NAMES

if TYPE_CHECKING:
    from personality_utils.cam.study import CamStudy, Overlap
import pandas as pd

__all__ = [
    "Randomisation",
    "model_maps",
    "randomisation",
    "randomisation_cascade",
    "randomisation_stages",
    "randomise_until",
]


def randomisation_stages(model) -> list[str]:
    """The cascade, from the top: ``"head"`` (everything after the backbone), then the
    convolutions from conv5_3 down to conv1_1."""

    present = [name for name in CONV_NAMES if name in model.backbone.names]
    return ["head", *reversed(present)]


def randomise_until(trained, stage: str, seed: int = 0):
    """A copy of ``trained`` whose head and every convolution from the top down to ``stage``
    (inclusive) are re-initialised, as in the cascading randomisation of Adebayo et al.

    Convolutions get torchvision's VGG initialisation; a batch-normalisation layer after a
    re-initialised convolution gets its default affine parameters back (its running statistics,
    which belong to the trained network, are kept: the check asks whether the *maps* notice
    that the weights are gone). The original model is not touched.
    """
    import torch
    from torch import nn

    stages = randomisation_stages(trained.model)
    if stage not in stages:
        raise ValueError(f"unknown stage {stage!r}; choose from {stages}")
    clone = copy.copy(trained)
    clone.model = copy.deepcopy(trained.model).eval()
    generator = torch.Generator().manual_seed(seed)

    def reinit(module: nn.Module) -> None:
        with torch.no_grad():
            if isinstance(module, nn.Conv2d):
                fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
                std = (2.0 / fan_out) ** 0.5
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                module.bias.zero_()
            elif isinstance(module, nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * 0.05)
                module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.fill_(1.0)
                module.bias.zero_()

    model = clone.model
    for name, module in model.named_children():
        if name != "backbone":
            for sub in module.modules():
                reinit(sub)
    backbone = model.backbone
    for current in stages[1 : stages.index(stage) + 1]:
        index = backbone.names.index(current)
        reinit(backbone.features[index])
        bn_name = current.replace("conv", "bn")
        if bn_name in backbone.names:
            reinit(backbone.features[backbone.names.index(bn_name)])
    return clone


def model_maps(trained, images: np.ndarray, method: str = "CAM") -> np.ndarray:
    """(n, 5, g, g) maps of every trait: the CAM model's own (``"CAM"``) or a ``torchcam``
    method on any model (``"GradCAM"``, ``"LayerCAM"``, ...)."""
    if method == "CAM":
        return class_activation_maps(trained, images)[0]
    return gradient_maps(trained, images, method)


def randomisation_cascade(
    trained,
    images: np.ndarray,
    rows: np.ndarray,
    traits: np.ndarray,
    boxes: np.ndarray,
    size: int,
    method: str = "CAM",
    seed: int = 0,
    upsampling: Literal["bicubic", "bilinear"] = "bicubic",
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Cascading randomisation (Adebayo et al., 2018): re-initialise the network from the top
    down (:func:`randomisation_stages`) and, after each step, compare the maps with the trained
    network's (Spearman rank correlation, map by map) and score their face overlap.

    Args:
        trained: The model (a :class:`~personality_utils.models.training.TrainedModel`).
        images: uint8 images that ``rows`` index (e.g. a memory-mapped store).
        rows, traits: One map per (row, trait index) pair; a row may repeat (the same frame
            tops several traits): each distinct image goes through the network once per stage.
        boxes: (len(rows), 4) face boxes of those maps.
        size: Side of the images the boxes refer to.
        method: ``"CAM"`` or a ``torchcam`` method (:func:`model_maps`).

    Returns:
        One row per stage (``"trained"``, ``"head"``, ``"conv5_3"`` ... ``"conv1_1"``):
        ``rank_correlation`` with the trained maps (mean over maps) and ``mean_overlap``; and
        the per-map overlaps of every stage, ``{stage: overlaps}`` (NaN where undefined), for
        the paired comparison of :class:`Randomisation`.
    """
    rows = np.asarray(rows, dtype=np.int64)
    traits = np.asarray(traits, dtype=np.int64)
    unique, position = np.unique(rows, return_inverse=True)
    pixels = np.asarray(images[unique])

    def maps_of(model) -> np.ndarray:
        return model_maps(model, pixels, method)[position, traits]

    reference = maps_of(trained)
    records, per_map = [], {}
    for stage in ["trained", *randomisation_stages(trained.model)]:
        maps = reference if stage == "trained" else maps_of(randomise_until(trained, stage, seed))
        scored = score_maps(maps, boxes, size, upsampling=upsampling)
        per_map[stage] = scored["overlap"].to_numpy()
        records.append(
            {
                "stage": stage,
                "rank_correlation": float(np.nanmean(rank_correlation(maps, reference))),
                "mean_overlap": float(scored["overlap"].mean()),
            }
        )
    return pd.DataFrame(records), per_map


@dataclass
class Randomisation:
    """The cascading randomisation of the CAM model and of DAN+'s Grad-CAM
    (:func:`randomisation`): :func:`randomisation_cascade`'s rows with a ``label`` each.

    Attributes:
        table: One row per (label, stage).
        gaps: Per label and randomisation stage, the paired mean face overlap of the trained
            maps minus those of the network randomised down to that stage, on the same frames,
            people resampled (:func:`~personality_utils.core.stats.estimate`); empty when not
            computed.
    """

    table: pd.DataFrame
    gaps: dict[str, dict] = field(default_factory=dict)

    def overlap_table(self) -> pd.DataFrame:
        """Mean face overlap per stage (rows, in cascade order) and model (columns)."""
        table = self.table
        return table.pivot(index="stage", columns="label", values="mean_overlap").loc[
            table["stage"].unique()
        ]

    def final_rank_correlation(self) -> dict[str, float]:
        """Per model, the rank correlation with the trained maps once every layer is
        randomised (the last stage)."""
        return {
            label: float(rows.set_index("stage")["rank_correlation"].iloc[-1])
            for label, rows in self.table.groupby("label")
        }

    def smallest_gaps(self) -> dict[str, tuple[str, dict]]:
        """Per label, the stage whose randomised maps come closest to the trained maps' face
        overlap, and that gap."""
        return {
            label: min(stages.items(), key=lambda item: item[1]["value"])
            for label, stages in self.gaps.items()
        }

    def description(self) -> str:
        """One line: per model, the randomisation stage whose maps overlap the face most like
        the trained ones, and the paired gap."""
        return (
            "mean face overlap, trained minus randomised (paired, people resampled), the "
            "closest stage: "
            + ", ".join(
                f"{label} at {stage} {gap['value']:+.3f} [{gap['low']:+.3f}, {gap['high']:+.3f}]"
                for label, (stage, gap) in self.smallest_gaps().items()
            )
        )

    def record(self) -> dict[str, dict]:
        """The results-file entries: both curves per model, and the overlap gaps."""
        return {
            **{
                f"randomized_{column}": {
                    label: dict(zip(rows["stage"], rows[column].astype(float), strict=True))
                    for label, rows in self.table.groupby("label")
                }
                for column in ("mean_overlap", "rank_correlation")
            },
            "randomized_overlap_gap": self.gaps,
        }


def randomisation(
    study: CamStudy,
    headline: Overlap,
    trained,
    danplus: DanplusMaps,
    seed: int = 0,
    n_boot: int = N_RESAMPLES,
) -> Randomisation:
    """:func:`randomisation_cascade` of the CAM model's maps of the headline's frames and of
    DAN+'s Grad-CAM of its own top frames, and for each stage of each the paired face-overlap
    gap between the trained maps and the randomised network's (people resampled)."""

    cascades, gaps = [], {}
    for label, model, rows, traits, method in (
        ("CAM model", trained, headline.rows, headline.traits, "CAM"),
        ("DAN+ Grad-CAM", danplus.trained, danplus.rows, danplus.traits, "GradCAM"),
    ):
        cascade, per_map = randomisation_cascade(
            model,
            study.store.frames,
            rows,
            traits,
            study.boxes[rows],
            study.size,
            method,
            seed,
            study.upsampling,
        )
        cascades.append(cascade.assign(label=label))
        groups = people(study.clips[rows])
        gaps[label] = {
            stage: estimate(
                *bootstrap_interval(per_map["trained"] - overlaps, groups, n_boot, seed)
            )
            for stage, overlaps in per_map.items()
            if stage != "trained"
        }
    return Randomisation(pd.concat(cascades, ignore_index=True), gaps)
