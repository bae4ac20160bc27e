"""Deletion and insertion curves: pixels removed or restored in the order a map ranks
them, against random orders, and the area under each curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from personality_utils.cam.checks import centre_prior
from personality_utils.cam.maps import upsample
from personality_utils.core.stats import (
    N_RESAMPLES,
    bootstrap_interval,
    estimate,
    people,
)
from personality_utils.core.vocabulary import TRAITS
from personality_utils.models.training import autocast

__all__ = [
    "ORDERS",
    "Perturbation",
    "curve_auc",
    "deletion_insertion",
    "perturbation_curves",
    "pixel_orders",
]

#: The pixel orders of the deletion and insertion curves.
ORDERS = ("CAM, higher first", "CAM, lower first", "random", "centre prior")


# ----------------------------------------------------------------------------------------------
# Deletion and insertion curves
# ----------------------------------------------------------------------------------------------


def pixel_orders(saliency: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, h·w) pixel indices of each (h, w) map, highest value first, ties in random order."""
    saliency = np.asarray(saliency, dtype=np.float64).reshape(len(saliency), -1)
    jitter = rng.random(saliency.shape)
    return np.lexsort((jitter, -saliency), axis=1)


@torch.no_grad()
def perturbation_curves(
    forward,
    inputs: torch.Tensor,
    orders: np.ndarray,
    targets: np.ndarray,
    fractions: np.ndarray,
    mode: Literal["deletion", "insertion"] = "deletion",
    batch_size: int = 64,
    ends: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Output of each image's target as its pixels are hidden (deletion) or revealed
    (insertion) in ``orders``' order.

    Args:
        forward: Normalised inputs (b, 3, s, s) -> outputs (b, k); a hidden pixel is 0.
        inputs: (n, 3, s, s) normalised inputs.
        orders: (n, s·s) pixel indices, first to be hidden (or revealed) first.
        targets: (n,) which output of each image to follow.
        fractions: Shares of the pixels hidden (revealed) at each step, from 0 to 1.
        ends: Shared by the calls on the same inputs and targets: the outputs with no pixel
            hidden (``"intact"``) and with every pixel hidden (``"blank"``), which every order
            and both modes share; filled on first use, then reused instead of run again.

    Returns:
        (n, len(fractions)) outputs.
    """
    n, _, height, width = inputs.shape
    ranks = np.empty_like(orders)
    np.put_along_axis(ranks, orders, np.arange(orders.shape[1])[None].repeat(n, 0), axis=1)
    ranks_t = torch.as_tensor(ranks.reshape(n, 1, height, width), device=inputs.device)
    counts = np.round(np.asarray(fractions) * height * width).astype(int)
    targets_t = torch.as_tensor(np.asarray(targets), device=inputs.device)
    curves = np.zeros((n, len(counts)), dtype=np.float64)
    ends = {} if ends is None else ends
    for step, count in enumerate(counts):
        end = {0: "intact", height * width: "blank"}.get(int(count))
        if end is not None and mode == "insertion":
            end = "blank" if end == "intact" else "intact"
        if end in ends:
            curves[:, step] = ends[end]
            continue
        for start in range(0, n, batch_size):
            chunk = slice(start, start + batch_size)
            first = ranks_t[chunk] < int(count)
            keep = ~first if mode == "deletion" else first
            masked = inputs[chunk] * keep.to(inputs.dtype)
            out = forward(masked.contiguous(memory_format=torch.channels_last))
            picked = out.gather(1, targets_t[chunk, None])[:, 0]
            curves[chunk, step] = picked.float().cpu().numpy()
        if end is not None:
            ends[end] = curves[:, step].copy()
    return curves


def curve_auc(curves: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Area under each curve of the change from its first point (trapezoids over the fraction
    of pixels): negative when the output falls, positive when it rises."""
    change = np.asarray(curves) - np.asarray(curves)[:, :1]
    return np.trapezoid(change, np.asarray(fractions), axis=1)


@dataclass
class Perturbation:
    """Deletion and insertion curves of the top frames' maps (:func:`deletion_insertion`).

    Attributes:
        fractions: Shares of pixels hidden (revealed) at each step.
        curves: ``{(mode, order): (images, steps)}`` outputs (pre-sigmoid, signed).
        auc: One row per image, order and mode: ``auc`` (:func:`curve_auc`), ``trait``,
            ``clip``.
        n_boot, seed: The person bootstrap.
    """

    fractions: np.ndarray
    curves: dict[tuple[str, str], np.ndarray]
    auc: pd.DataFrame
    n_boot: int = N_RESAMPLES
    seed: int = 0

    def _interval(self, values: pd.Series, clips: pd.Series) -> dict:
        value, low, high = bootstrap_interval(
            values.to_numpy(), people(clips.to_numpy()), self.n_boot, self.seed
        )
        return estimate(value, low, high)

    def _rows(self, mode: str, order: str, trait: str | None = None) -> pd.DataFrame:
        table = self.auc[(self.auc["mode"] == mode) & (self.auc["order"] == order)]
        return table if trait is None else table[table["trait"] == trait]

    def summary(self, mode: str) -> dict[str, dict[str, dict]]:
        """``{order: {trait: estimate}}`` of the mean AUC of ``mode``."""
        return {
            order: {
                trait: self._interval(rows["auc"], rows["clip"])
                for trait in TRAITS
                if len(rows := self._rows(mode, order, trait))
            }
            for order in ORDERS
        }

    def cam_minus(self, mode: str, other: str) -> dict[str, dict]:
        """Per trait, the paired (same images) AUC difference "CAM, higher first" minus
        ``other``, with a person interval. For deletion a CAM that ranks what raises the
        output first gives a negative difference; for insertion a positive one."""
        out = {}
        for trait in TRAITS:
            cam = self._rows(mode, "CAM, higher first", trait)
            base = self._rows(mode, other, trait)
            if len(cam):
                difference = cam["auc"].to_numpy() - base["auc"].to_numpy()
                out[trait] = self._interval(pd.Series(difference), cam["clip"])
        return out

    def mean_curves(self) -> pd.DataFrame:
        """Long form for :func:`~personality_utils.figures.plots.perturbation_curves`: per mode,
        order
        and trait, the mean change of the output from the curve's start at each fraction."""
        images = self._rows("deletion", ORDERS[0])["trait"].to_numpy()
        rows = []
        for (mode, order), curves in self.curves.items():
            change = curves - curves[:, :1]
            for trait in dict.fromkeys(images):
                mean = change[images == trait].mean(axis=0)
                rows += [
                    {"mode": mode, "order": order, "trait": trait, "fraction": f, "change": c}
                    for f, c in zip(self.fractions, mean, strict=True)
                ]
        return pd.DataFrame(rows)

    def table(self) -> pd.DataFrame:
        """Mean AUC per mode, order (rows) and trait (columns)."""
        means = self.auc.groupby(["mode", "order", "trait"], sort=False)["auc"].mean()
        return means.unstack("trait").loc[:, [t for t in TRAITS if t in set(self.auc["trait"])]]

    def record(self) -> dict[str, Any]:
        """The results-file entries ``deletion_auc`` and ``insertion_auc`` (per order and
        trait) with the CAM's paired differences from the random order and the centre prior."""
        return {
            f"{mode}_auc": self.summary(mode)
            | {
                "cam_minus_random": self.cam_minus(mode, "random"),
                "cam_minus_centre_prior": self.cam_minus(mode, "centre prior"),
            }
            for mode in ("deletion", "insertion")
        } | {"perturbation_images": len(self._rows("deletion", ORDERS[0]))}


def deletion_insertion(
    trained,
    images: np.ndarray,
    maps: np.ndarray,
    traits: np.ndarray,
    clips: np.ndarray,
    upsampling: Literal["bicubic", "bilinear"] = "bicubic",
    steps: int = 10,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
) -> Perturbation:
    """Deletion and insertion curves of each image's target trait, in the orders of
    :data:`ORDERS`.

    Args:
        trained: The model the maps explain (its ``model.logits`` is the target).
        images: uint8 (n, h, w, 3); ``maps`` their (n, g, g) maps of the target trait (signed);
            ``traits`` the target trait index of each; ``clips`` their clips.
        upsampling: How the maps are brought to the input side (the chapter's).
        steps: Steps from none to all pixels (``steps + 1`` points).
    """

    size = trained.config.input_size
    device = next(trained.model.parameters()).device
    inputs = trained.prepare(np.asarray(images), device)
    full = np.stack([upsample(m, size, upsampling) for m in np.asarray(maps)])
    rng = np.random.default_rng(seed)
    orders = {
        "CAM, higher first": pixel_orders(full, rng),
        "CAM, lower first": pixel_orders(-full, rng),
        "random": pixel_orders(np.zeros_like(full), rng),
        "centre prior": pixel_orders(np.broadcast_to(centre_prior(size), full.shape), rng),
    }
    fractions = np.linspace(0.0, 1.0, steps + 1)
    model = trained.model.eval()

    def forward(batch: torch.Tensor) -> torch.Tensor:
        with autocast(trained.config.precision, batch.device):  # as predict() scores it
            return model.logits(batch).float()

    curves, rows, ends = {}, [], {}
    for mode in ("deletion", "insertion"):
        for order, pixels in orders.items():
            curve = perturbation_curves(forward, inputs, pixels, traits, fractions, mode, ends=ends)
            curves[(mode, order)] = curve
            for auc, trait, clip in zip(curve_auc(curve, fractions), traits, clips, strict=True):
                rows.append(
                    {"mode": mode, "order": order, "trait": TRAITS[trait], "clip": clip, "auc": auc}
                )
    return Perturbation(fractions, curves, pd.DataFrame(rows), n_boot, seed)
