"""What removing in an attribution map's order does (chapter 05b): patches removed most relevant
first and least relevant first, with two fills, scored by the symmetric removal score SRG
(Blücher et al., 2024) against a distribution of random orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from personality_utils.attribution import scores
from personality_utils.attribution.study import PRIORS, Sample
from personality_utils.core.profiles import AttributionSettings
from personality_utils.core.vocabulary import TRAITS

__all__ = ["Removal", "removal"]

#: Perturbed images per forward pass: through the default profile's CAM model (112 px, float32,
#: 2 threads of an AVX2-only AMD EPYC, other work beside it), batches of 64 ran about a third
#: more images a second than batches of 256 (338 against 255, measured once in this session's
#: timing script, not a benchmark of benchmarks/).
_BATCH = 64


@dataclass
class Removal:
    """Symmetric removal scores of one model (:func:`removal`).

    Attributes:
        table: Per map, trait, fill and image: ``srg`` (LeRF − MoRF area, in units of the
            trait's output spread over the images).
        null: Per trait and fill, the mean SRG over the images of each random order
            (``order``, ``srg``): the distribution a ranking with no information gives.
        fill_agreement: Spearman correlation of the two fills' mean SRG over (map, trait) cells.
    """

    table: pd.DataFrame
    null: pd.DataFrame
    fill_agreement: dict[str, float] = field(default_factory=dict)

    def summary(self, n_boot: int, seed: int = 0) -> pd.DataFrame:
        """Mean SRG per map, trait and fill with a people interval, beside the null's 95%
        band (2.5th and 97.5th percentiles of the random orders' means)."""
        rows = []
        band = self.null.groupby(["trait", "fill"])["srg"].quantile([0.025, 0.975]).unstack()
        for (method, trait, fill), group in self.table.groupby(
            ["method", "trait", "fill"], sort=False
        ):
            result = scores.interval(
                group["srg"].to_numpy(), group["person"].to_numpy(), n_boot, seed
            )
            rows.append(
                {
                    "method": method,
                    "trait": trait,
                    "fill": fill,
                    "srg": result["value"],
                    "srg_low": result["low"],
                    "srg_high": result["high"],
                    "null_low": float(band.loc[(trait, fill), 0.025]),
                    "null_high": float(band.loc[(trait, fill), 0.975]),
                }
            )
        return pd.DataFrame(rows)


def removal(
    trained,
    sample: Sample,
    maps: Mapping[str, np.ndarray],
    baseline: np.ndarray,
    settings: AttributionSettings,
    seed: int = 0,
) -> Removal:
    """Patch removal in each map's order, most relevant first (MoRF) and least relevant first
    (LeRF), with two fills (the training mean image, a blur of the image), and the symmetric
    score SRG = area(LeRF) − area(MoRF) of each trait's pre-sigmoid output (Blücher et al.,
    2024), scaled by the output's spread over the images so that traits compare. An image-blind
    prior's order is the same for every trait, so one pass scores all five. The null: SRG of
    random orders against their reverse, ``settings.random_orders`` of them per image.
    """
    import torch

    model = trained.model.eval()
    device = next(model.parameters()).device

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.logits(trained.prepare(batch, device)).float().cpu().numpy()

    images = sample.inputs
    outputs = predict(images)
    spread = outputs.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    fills = {
        scores.FILLS[0]: scores.mean_fill(images, baseline),
        scores.FILLS[1]: scores.blur_fill(images, settings.blur_sigma * sample.size),
    }
    rows = []
    nulls = []
    # Every order of every map and trait (MoRF, then its reverse, LeRF) in one stream per fill:
    # each image's intact and filled versions are run once for all of them.
    jobs = [
        (method, t)
        for method in maps
        for t in range(len(TRAITS))
        if t == 0 or method not in PRIORS  # a prior's map is the same for every trait
    ]
    n = len(images)
    orders = []
    for method, t in jobs:
        morf = scores.patch_orders(np.asarray(maps[method][:, t], np.float64), settings.patch)
        orders += [morf, morf[:, ::-1]]
    orders = np.concatenate(orders)
    sources = np.tile(np.arange(n), 2 * len(jobs))
    for fill, filled in fills.items():
        curves = scores.removal_curves(
            predict,
            images,
            filled,
            orders,
            settings.patch,
            settings.steps,
            batch_size=_BATCH,
            sources=sources,
        )
        for index, (method, t) in enumerate(jobs):
            down = curves[2 * index * n : (2 * index + 1) * n]
            up = curves[(2 * index + 1) * n : (2 * index + 2) * n]
            for target, target_trait in enumerate(TRAITS):
                if method not in PRIORS and target != t:
                    continue
                srg = scores.srg(down[..., target], up[..., target]) / spread[target]
                rows.append(
                    pd.DataFrame(
                        {
                            "method": method,
                            "trait": target_trait,
                            "fill": fill,
                            "image": np.arange(n),
                            "person": sample.persons,
                            "srg": srg,
                        }
                    )
                )
        null = scores.null_srg(
            predict,
            images,
            filled,
            settings.patch,
            settings.steps,
            settings.random_orders,
            seed,
            batch_size=_BATCH,
        )  # (orders, n, outputs)
        for t, trait in enumerate(TRAITS):
            means = null[:, :, t].mean(axis=1) / spread[t]
            nulls.append(
                pd.DataFrame(
                    {"trait": trait, "fill": fill, "order": np.arange(len(means)), "srg": means}
                )
            )
    table = pd.concat(rows, ignore_index=True)
    means = table.groupby(["method", "trait", "fill"])["srg"].mean().unstack("fill")
    rho, p = scores.fill_agreement(means[scores.FILLS[0]].to_numpy(), means[scores.FILLS[1]])
    return Removal(
        table,
        pd.concat(nulls, ignore_index=True),
        {"spearman": float(rho), "p": float(p), "cells": len(means)},
    )
