"""Which units matter to which trait, and the chapter's summaries: trait contributions,
region enrichment, emerged units, spikiness and the trend with depth.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from personality_utils.core.stats import N_RESAMPLES, permutation_p_value
from personality_utils.core.vocabulary import TRAITS
from personality_utils.models.networks import CAMModel, DANPlus, _l2
from personality_utils.units.activations import (
    UnitStats,
)
from personality_utils.units.semantics import (
    attribute_units,
    iou_table,
    layer_entropy,
    region_shares,
)


def trait_contributions(
    trained, images: np.ndarray, layer: str = "conv5_3", batch_size: int = 64
) -> pd.DataFrame:
    """How much each unit of ``layer`` moves each trait's output, through the model's linear head.

    For DAN+ the head is linear in the L2-normalised max- and average-pooled maps (pool5 for
    conv5_3, relu5_2 for conv5_2); for the Fig. 4 CAM model in the average-pooled conv5_3
    maps. A unit's contribution to trait t on an image is the sum of its pooled values times
    their head weights for t; the contributions of all units plus the bias are the pre-sigmoid
    output. Its importance is the standard deviation of that contribution over the images: a
    unit with a large weight that never varies moves no prediction.

    Args:
        trained: A :class:`~personality_utils.models.training.TrainedModel`.
        images: uint8 (n, h, w, 3), at least two.
        layer: ``"conv5_3"`` (or ``"conv5_2"`` for DAN+).
        batch_size: Images per forward pass.

    Returns:
        DataFrame indexed by unit, one column per trait (in
        :data:`~personality_utils.core.vocabulary.TRAITS` order), of standard deviations of the
        contributions (in logit units).

    Raises:
        TypeError: For a model whose head is not linear in per-unit pooled values (the authors'
            CAM head mixes units in a 3x3 convolution before pooling).
    """

    contributions = unit_contributions(trained, images, layer, batch_size)
    return pd.DataFrame(contributions.std(axis=0, ddof=1), columns=list(TRAITS)).rename_axis("unit")


def unit_contributions(
    trained, images: np.ndarray, layer: str = "conv5_3", batch_size: int = 64
) -> np.ndarray:
    """Per image, unit and trait, the unit's additive share of the pre-sigmoid output
    (:func:`trait_contributions`): (n, units, 5) float64."""

    model = trained.model
    if isinstance(model, DANPlus):
        tap = {"conv5_3": "pool5", "conv5_2": "relu5_2"}.get(layer)
        if tap is None:
            raise ValueError(f"DAN+ pools conv5_2 and conv5_3 only, not {layer!r}")
        channels = model.backbone.channels
        offset = 2 * channels if tap == "pool5" else 0
        weight = model.head.weight.detach().double().cpu().numpy()
        w_max, w_mean = (
            weight[:, offset : offset + channels],
            weight[:, offset + channels : offset + 2 * channels],
        )
    elif isinstance(model, CAMModel) and model.head_type == "fig4":
        if layer != "conv5_3":
            raise ValueError(f"the CAM model pools conv5_3 only, not {layer!r}")
        tap = "relu5_3"
        w_max, w_mean = None, model.fc.weight.detach().double().cpu().numpy()
    else:
        raise TypeError(
            f"{type(model).__name__} has no head that is linear in per-unit pooled values"
        )
    if len(images) < 2:
        raise ValueError("need at least two images")
    device = next(model.parameters()).device
    model.eval()
    parts = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            maps = model.backbone(
                trained.prepare(images[start : start + batch_size], device), (tap,)
            )[tap]
            maps = maps.flatten(2).double()
            if w_max is None:  # Fig. 4 head: plain average pooling
                pooled_mean = maps.mean(dim=2).cpu().numpy()
                parts.append(np.einsum("bu,tu->but", pooled_mean, w_mean))
            else:
                pooled_max = _l2(maps.amax(dim=2)).cpu().numpy()
                pooled_mean = _l2(maps.mean(dim=2)).cpu().numpy()
                parts.append(
                    np.einsum("bu,tu->but", pooled_max, w_max)
                    + np.einsum("bu,tu->but", pooled_mean, w_mean)
                )
    return np.concatenate(parts)


def trait_region_enrichment(
    shares: pd.DataFrame,
    importance: pd.DataFrame,
    top_k: int,
    n_permutations: int = N_RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Where the units that matter most for each trait put their maxima, against random units.

    Args:
        shares: Per unit, share of its top-N maxima per region (:func:`region_shares`).
        importance: Per unit, importance per trait (:func:`trait_contributions`), same index.
        top_k: Units kept per trait (the most important ones).
        n_permutations: Random draws of ``top_k`` units for the null.
        seed: Seed of the draws.

    Returns:
        One row per (trait, region): share_top (mean share of the trait's top-k units),
        share_all (mean over all units), enrichment (share_top / share_all) and p_value (one
        sided: the chance that ``top_k`` random units reach share_top,
        :func:`~personality_utils.core.stats.permutation_p_value`) and null_q95 (the 95th
        percentile of the random sets' share: what the top units needed for p < 0.05).
    """
    if not shares.index.equals(importance.index):
        raise ValueError("shares and importance must describe the same units")
    units = len(shares)
    if not 0 < top_k < units:
        raise ValueError(f"top_k must be in 1..{units - 1}, got {top_k}")
    values = shares.to_numpy(dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = np.argsort(rng.random((n_permutations, units)), axis=1)[:, :top_k]
    null = values[draws].mean(axis=1)  # (permutations, regions)
    rows = []
    for trait in importance.columns:
        order = np.lexsort((np.arange(units), -importance[trait].to_numpy()))[:top_k]
        top = values[order].mean(axis=0)
        for index, region in enumerate(shares.columns):
            overall = values[:, index].mean()
            rows.append(
                {
                    "trait": trait,
                    "region": region,
                    "share_top": float(top[index]),
                    "share_all": float(overall),
                    "enrichment": float(top[index] / overall) if overall > 0 else np.nan,
                    "p_value": permutation_p_value(top[index] - 1e-12, null[:, index]),
                    # The share a trait's units would need for p < 0.05 (before any
                    # correction across traits): the smallest effect the test could detect.
                    "null_q95": float(np.quantile(null[:, index], 0.95)),
                }
            )
    return pd.DataFrame(rows)


def emerged_units(
    trained_shares: pd.DataFrame,
    random_shares: pd.DataFrame,
    pretrained_shares: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per region, how many trained units reach an N' share that no unit of a null network
    reaches: the random network (what the input's structure alone gives a network of that
    shape) and, when given, the pretrained network before fine-tuning (what the face
    pretraining already gave; the fair null of "emerged with fine-tuning").

    Returns:
        Indexed by region: random_max (the random network's best share), trained_max,
        trained_above (units strictly above random_max) and units (layer width); with
        ``pretrained_shares`` also pretrained_max and trained_above_pretrained.
    """
    rows = {}
    for region in trained_shares.columns:
        shares = trained_shares[region]
        ceiling = float(random_shares[region].max())
        row = {
            "random_max": ceiling,
            "trained_max": float(shares.max()),
            "trained_above": int((shares > ceiling + 1e-12).sum()),
            "units": len(trained_shares),
        }
        if pretrained_shares is not None:
            pretrained = float(pretrained_shares[region].max())
            row["pretrained_max"] = pretrained
            row["trained_above_pretrained"] = int((shares > pretrained + 1e-12).sum())
        rows[region] = row
    return pd.DataFrame(rows).T.rename_axis("region")


def study_summary(
    stats: UnitStats,
    random_stats: UnitStats,
    masks_grid: Mapping[str, np.ndarray],
    has_attribute: np.ndarray | None = None,
    layer: str = "conv5_3",
    pretrained_stats: UnitStats | None = None,
) -> dict[str, float]:
    """The unit study's key figures for one population, the trained network against the
    pretrained one before fine-tuning (when there is one) and the random one: chapter 06 sets
    the paper's population (one face per test clip) beside every face frame.

    Args:
        stats, random_stats: The trained and random networks' statistics over one population.
        masks_grid: Face-part masks on ``layer``'s grid (:func:`region_shares`).
        has_attribute: Optional bool per image (glasses) for :func:`attribute_units`.
        pretrained_stats: The pretrained network's statistics over the same population (None:
            the model was trained from random weights).

    Returns:
        F and N; per part the best trained, pretrained and random N'/N and the trained units
        above the best pretrained and the best random one; the Spearman correlation of depth
        with layer entropy per network and the layer's entropy minus each null's; NetDissect
        detectors per network; and, with ``has_attribute``, the units with a layer-corrected
        p < 0.05 per network. The pretrained entries are left out when there is no pretrained
        network.
    """
    from scipy.stats import spearmanr

    nulls = {"pretrained": pretrained_stats, "random": random_stats}
    nulls = {name: value for name, value in nulls.items() if value is not None}
    shares = region_shares(stats, layer, masks_grid).drop(columns="elsewhere")
    null_shares = {
        name: region_shares(value, layer, masks_grid).drop(columns="elsewhere")
        for name, value in nulls.items()
    }
    emerged = emerged_units(shares, null_shares["random"], null_shares.get("pretrained"))
    out: dict[str, float] = {"F": float(stats.n_images), "N": float(stats.top_n)}
    for region, row in emerged.iterrows():
        if masks_grid[region].any():
            out[f"{region}: best N'/N"] = float(row["trained_max"])
            if "pretrained" in nulls:
                out[f"{region}: best N'/N, pretrained"] = float(row["pretrained_max"])
                out[f"{region}: units above pretrained"] = float(row["trained_above_pretrained"])
            out[f"{region}: best N'/N, random"] = float(row["random_max"])
            out[f"{region}: units above random"] = float(row["trained_above"])
    entropy = layer_entropy(stats)
    depth = np.arange(len(entropy))
    out["Spearman(depth, entropy)"] = float(spearmanr(depth, entropy).statistic)
    for name, value in nulls.items():
        null_entropy = layer_entropy(value)
        out[f"Spearman(depth, entropy), {name}"] = float(spearmanr(depth, null_entropy).statistic)
        out[f"{layer} entropy − {name} (bits)"] = float(entropy[layer] - null_entropy[layer])
    if stats.regions and layer in stats.iou:
        out["NetDissect detectors"] = float(iou_table(stats, layer)["detector"].sum())
        for name, value in nulls.items():
            out[f"NetDissect detectors, {name}"] = float(iou_table(value, layer)["detector"].sum())
    if has_attribute is not None:
        for label, source in (("", stats), *((f", {n}", v) for n, v in nulls.items())):
            table = attribute_units(source, layer, has_attribute)
            out[f"glasses units (p < 0.05){label}"] = float((table["p_value_layer"] < 0.05).sum())
    return out


def spikiness_table(
    stats: UnitStats, random_stats: UnitStats, pretrained_stats: UnitStats | None = None
) -> pd.DataFrame:
    """Fig. 10 in numbers: each layer's entropy (:func:`layer_entropy`) for the trained network,
    for the network it was fine-tuned from (when there is one: the fair null of "fine-tuning
    made it spikier") and for the random one of the same shape (which has the same number of
    peaks per layer), the differences, and the share of the layer's peaks in its busiest cell.

    Returns:
        Indexed by layer in network order; columns ``trained``, ``pretrained`` (with
        ``pretrained_stats``), ``random weights``, ``trained − pretrained`` (with it),
        ``trained − random`` and ``top cell share`` (trained).
    """
    table = pd.DataFrame({"trained": layer_entropy(stats)})
    if pretrained_stats is not None:
        table["pretrained"] = layer_entropy(pretrained_stats)
    table["random weights"] = layer_entropy(random_stats)
    if pretrained_stats is not None:
        table["trained − pretrained"] = table["trained"] - table["pretrained"]
    table["trained − random"] = table["trained"] - table["random weights"]
    table["top cell share"] = [
        stats.location_histograms[layer].max() / stats.location_histograms[layer].sum()
        for layer in table.index
    ]
    return table


def depth_trend(table: pd.DataFrame) -> dict[str, float]:
    """Spearman correlation of depth (the row order of :func:`spikiness_table`) with the
    ``trained``, ``pretrained`` (when the table has it), ``random weights``, ``trained −
    pretrained`` (likewise) and ``trained − random`` entropies; below 0: spikier with depth."""
    from scipy.stats import spearmanr

    depth = np.arange(len(table))
    columns = (
        "trained",
        "pretrained",
        "random weights",
        "trained − pretrained",
        "trained − random",
    )
    # A constant column has no rank correlation (NaN, without SciPy's warning).
    return {
        column: float(spearmanr(depth, table[column]).statistic)
        if np.ptp(table[column].to_numpy(dtype=float)) > 0
        else float("nan")
        for column in columns
        if column in table.columns
    }
