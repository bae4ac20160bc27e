"""Chapter 06's figures (plotly): the top crops of units (Fig. 7), the part masks on the average
face (Fig. 8), the best units per part (Fig. 9), N' against a random network, the layers' peak
histograms and their spikiness (Fig. 10), NetDissect's IoU against N', the glasses units
(Fig. 11), the planted cues against what the units carry, and the unit explorer.

Each takes a :class:`~personality_utils.units.study.UnitStudy` or the tables built from it; the
shared building blocks are :mod:`~personality_utils.figures.plots` and
:mod:`~personality_utils.core.images`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from personality_utils.core import images
from personality_utils.faces.regions import REGIONS
from personality_utils.figures import measures, plots, unit_images
from personality_utils.units.semantics import DETECTOR_IOU, top_unit_maps

if TYPE_CHECKING:
    from personality_utils.units.ablation import Ablation
    from personality_utils.units.ground_truth import GlassesUnits, PlantedCueCheck
    from personality_utils.units.study import UnitStudy

#: The networks' colours: trained, pretrained before fine-tuning and random weights.
NETWORK_COLOURS = {
    "trained": "#1f77b4",
    "pretrained (before fine-tuning)": "#ff7f0e",
    "random weights": "#7f7f7f",
}


def top_crops(
    study: UnitStudy,
    units: Sequence[int] = range(10),
    layer: str = "conv5_3",
    n: int = 10,
    tile: int = 64,
) -> go.Figure:
    """Fig. 7: ``units`` (rows) on their ``n`` top crops (at most N), each kept where the unit's
    upsampled map reaches half its maximum and dimmed elsewhere
    (:func:`~personality_utils.figures.unit_images.unit_segment`)."""
    n = min(n, study.stats.top_n)
    found = top_unit_maps(study.trained, study.crops, study.stats, layer, units, n=n)
    tiles = [
        unit_images.unit_segment(study.crops[image], found.maps[row, k]) if image >= 0 else None
        for row in range(len(found.units))
        for k, image in enumerate(found.image_indices[row])
    ]
    return plots.image_figure(
        images.mosaic(tiles, columns=10, tile=tile),
        f"Fig. 7: {len(found.units)} {layer} units (rows), their {n} top test crops, "
        "segmented at 0.5·max",
    )


def part_grid(study: UnitStudy, layer: str) -> go.Figure:
    """Fig. 8: the average training face on ``layer``'s grid with its part masks
    (:func:`~personality_utils.figures.plots.face_grid`)."""
    side = study.side[layer]
    return plots.face_grid(
        study.mean_face_small,
        study.masks[layer],
        f"Fig. 8: average training face on the {side}x{side} grid of {layer}",
    )


def unit_menu(study: UnitStudy, entries: Mapping[str, tuple[str, int]], title: str) -> go.Figure:
    """One unit at a time, picked in a menu: its ten top crops, segmented, and its peak
    histogram over the average face (:func:`~personality_utils.figures.unit_images.unit_rows`).

    Args:
        study: The study.
        entries: Menu label -> (layer, unit).
        title: Prefix of the figure's title (the label follows).
    """
    return plots.gallery_with_menu(
        {
            label: [
                unit_images.unit_rows(
                    study.trained, study.crops, study.stats, layer, [unit], study.mean_face, 10
                )
            ]
            for label, (layer, unit) in entries.items()
        },
        columns=1,
        tile_height=110,
        title=title,
    )


def part_gallery(study: UnitStudy, ranking: pd.DataFrame, layer: str = "conv5_3") -> go.Figure:
    """Fig. 9: per part (a menu), its best units with N' > 0 (one row each: top crops, then the
    peak histogram over the average face).

    Args:
        study: The study.
        ranking: :func:`~personality_utils.units.semantics.rank_units_by_region` of ``layer``.
        layer: The layer.
    """
    panels = {}
    for region, rows in ranking[ranking["n_prime"] > 0].groupby("region", sort=False):
        label = ", ".join(
            f"{u} (N'={n})" for u, n in zip(rows["unit"], rows["n_prime"], strict=True)
        )
        panels[f"{region}: units {label}"] = [
            unit_images.unit_rows(
                study.trained,
                study.crops,
                study.stats,
                layer,
                rows["unit"].tolist(),
                study.mean_face,
            )
        ]
    if not panels:  # few test faces, or masks that cover no cell of a coarse grid
        return go.Figure().update_layout(
            title=f"Fig. 9, {layer}: no unit has N' > 0 (no top image's peak on a face part)",
            height=120,
        )
    return plots.gallery_with_menu(
        panels, columns=1, tile_height=5 * 70, title=f"Fig. 9, {layer}: ", format="jpeg"
    )


def share_boxes(study: UnitStudy, layer: str = "conv5_3") -> go.Figure:
    """N' / N of every unit per part, trained against the network before fine-tuning (when there
    is one) and random weights, as box plots with every unit's point."""
    figure = go.Figure()
    labels = {
        "trained": "trained",
        "pretrained": "pretrained (before fine-tuning)",
        "random": "random weights",
    }
    for network, table in study.network_shares().items():
        label = labels[network]
        long = table[layer].drop(columns="elsewhere").melt(var_name="region", value_name="share")
        figure.add_trace(
            go.Box(
                x=long["region"],
                y=long["share"],
                name=label,
                marker_color=NETWORK_COLOURS[label],
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
            )
        )
    figure.update_layout(
        boxmode="group", height=380, yaxis_title="N' / N", title=f"{layer}: N' share of every unit"
    )
    return figure


def layer_peaks(study: UnitStudy, spikiness: pd.DataFrame) -> go.Figure:
    """Fig. 10: every layer's summed peak histogram, its entropy (bits) in the panel's title
    (:func:`~personality_utils.units.semantics.spikiness_table`)."""
    stats = study.stats
    return measures.layer_histograms(
        {layer: stats.location_histograms[layer] for layer in stats.layers},
        {layer: f"{spikiness.loc[layer, 'trained']:.2f} bits" for layer in stats.layers},
        columns=7,
    ).update_layout(title="Fig. 10: peak locations per layer (trained face model)")


def entropy_by_depth(spikiness: pd.DataFrame, grid: int) -> go.Figure:
    """Entropy by layer, trained, pretrained before fine-tuning (when the table has it) and
    random weights, with the entropy of a flat histogram on the ``grid`` x ``grid`` cells as a
    reference."""
    names = {"pretrained": "pretrained (before fine-tuning)"}
    figure = go.Figure(
        [
            go.Scatter(
                x=spikiness.index,
                y=spikiness[column],
                mode="lines+markers",
                name=names.get(column, column),
                marker_color=NETWORK_COLOURS[names.get(column, column)],
            )
            for column in ("trained", "pretrained", "random weights")
            if column in spikiness.columns
        ]
    )
    figure.add_hline(y=np.log2(grid**2), line=dict(dash="dot"), annotation_text="flat histogram")
    figure.update_layout(height=350, yaxis_title="entropy (bits)", title="Spikiness by depth")
    return figure


def iou_against_n_prime(table: pd.DataFrame, shares: pd.DataFrame, layer: str = "conv5_3"):
    """NetDissect's IoU (:func:`~personality_utils.units.semantics.iou_table`) against N' / N
    (:func:`~personality_utils.units.semantics.region_shares`), one point per unit and part, with
    the
    detector threshold."""
    figure = go.Figure()
    for region in REGIONS:
        values = table[table["region"] == region].set_index("unit")["iou"]
        figure.add_trace(
            go.Scatter(
                x=shares[region],
                y=values,
                mode="markers",
                name=region,
                marker=dict(color=plots.REGION_COLOURS[region]),
                text=[f"unit {u}" for u in values.index],
            )
        )
    figure.add_hline(y=DETECTOR_IOU, line=dict(dash="dash"), annotation_text="IoU 0.04")
    figure.update_layout(
        height=380,
        xaxis_title="N' / N (average face)",
        yaxis_title="IoU (own masks)",
        title=f"{layer}: NetDissect IoU against N', one point per unit and part",
    )
    return figure


def glasses_gallery(study: UnitStudy, glasses: GlassesUnits | None) -> go.Figure:
    """Fig. 11: the three units with the most glasses among their top crops; on real data (no
    glasses labels, ``glasses`` None) the eight units that peak most on the eyes, to be
    inspected by hand as the authors did."""
    if glasses is not None:
        units = glasses.ranked["unit"].head(3).tolist()
        title = "Fig. 11, units with the most glasses among their top crops: "
    else:
        units = study.shares["conv5_3"]["eyes"].sort_values(ascending=False).index[:8].tolist()
        title = "Fig. 11 (inspect by hand), units that peak most on the eyes: "
    return unit_menu(study, {f"unit {unit}": ("conv5_3", unit) for unit in units}, title)


def explorer(study: UnitStudy, chosen: pd.DataFrame) -> go.Figure:
    """The unit explorer: the units of :func:`~personality_utils.units.study.explorer_units`,
    each labelled with its layer, its best part and N' / N there."""
    entries = {
        f"{row.layer} · unit {row.unit} · {row.part} {row.share:.2f}": (row.layer, row.unit)
        for row in chosen.itertuples()
    }
    return unit_menu(study, entries, "Unit explorer: ")


def planted_cue_heatmaps(check: PlantedCueCheck) -> go.Figure:
    """The planted share of each trait's face signal per cue beside the share of its most
    influential units over that of all units
    (:func:`~personality_utils.units.ground_truth.planted_cue_check`)."""
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("planted share of the face signal", f"top {check.top_k} units / all units"),
    )
    for col, matrix, scale in (
        (1, check.planted, dict(colorscale="Blues")),
        (2, check.ratio, dict(colorscale="RdBu_r", zmid=1)),
    ):
        figure.add_trace(
            go.Heatmap(
                z=matrix.to_numpy(),
                x=list(matrix.columns),
                y=list(matrix.index),
                showscale=False,
                texttemplate="%{z:.2f}",
                **scale,
            ),
            row=1,
            col=col,
        )
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(
        height=360, title="Planted cues against what each trait's most influential units carry"
    )
    return figure


def ablation_heatmap(ablation: Ablation) -> go.Figure:
    """Silenced detector sets (rows) × traits: each trait's mean |change| over that of as
    many random units (1 = no more than random), starred where Benjamini-Hochberg q < 0.05
    (:func:`~personality_utils.units.ablation.ablate`)."""
    ratios = ablation.ratios()
    q = ablation.table["q"].unstack("trait").loc[ratios.index, ratios.columns]
    text = [
        [f"{r:.2f}{'*' if qq < 0.05 else ''}" for r, qq in zip(row_r, row_q, strict=True)]
        for row_r, row_q in zip(ratios.to_numpy(), q.to_numpy(), strict=True)
    ]
    figure = go.Figure(
        go.Heatmap(
            z=ratios.to_numpy(),
            x=list(ratios.columns),
            y=list(ratios.index),
            colorscale="RdBu_r",
            zmid=1,
            text=text,
            texttemplate="%{text}",
            colorbar={"title": "× random"},
        )
    )
    figure.update_yaxes(autorange="reversed", title_text="silenced units")
    figure.update_layout(
        height=340,
        title="Silencing the labelled detectors: trait change over that of random units "
        "(* q < 0.05)",
    )
    return figure


def glasses_by_network(glasses: GlassesUnits) -> go.Figure:
    """Fig. 11 against its nulls: per network (trained, pretrained before fine-tuning when there
    is one, random weights), the best unit's precision at N beside the chance level, and the
    units with a layer-corrected p < 0.05
    (:meth:`~personality_utils.units.ground_truth.GlassesUnits.by_network`)."""
    names = {"pretrained": "pretrained (before fine-tuning)", "random": "random weights"}
    rows = {names.get(k, k): v for k, v in glasses.by_network().items()}
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(f"best unit's precision@{glasses.top_n}", "units with p < 0.05"),
    )
    for column, key in enumerate(("best_precision", "units_significant"), start=1):
        figure.add_trace(
            go.Bar(
                x=list(rows),
                y=[row[key] for row in rows.values()],
                marker_color=[NETWORK_COLOURS[name] for name in rows],
                showlegend=False,
            ),
            row=1,
            col=column,
        )
    base_rate = float(glasses.ranked["base_rate"].iloc[0])
    figure.add_hline(y=base_rate, line=dict(dash="dot"), annotation_text="chance", row=1, col=1)
    figure.update_layout(height=320, title="Glasses units: trained against the null networks")
    return figure
