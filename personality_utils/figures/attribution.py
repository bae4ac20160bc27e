"""Chapter 05b's figures: the leaderboard of attribution methods (sorted by the trait picked in
its menu), the removal scores against random orders, and the paper's overlap against the mass
on the planted causes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from personality_utils.attribution.study import PRIORS

__all__ = ["leaderboard", "removal_scores", "overlap_against_cause"]


def _error(rows: pd.DataFrame, measure: str) -> dict:
    value = rows[measure].astype(float)
    return dict(
        type="data",
        symmetric=False,
        array=rows[f"{measure}_high"].astype(float) - value,
        arrayminus=value - rows[f"{measure}_low"].astype(float),
    )


def leaderboard(scores: pd.DataFrame, measure: str = "mass", title: str = "") -> go.Figure:
    """Horizontal bars of one measure per map (model · method), one trait at a time: the menu
    picks the trait and sorts the maps by it, best on top (image-blind priors in grey); the
    error bars are the people intervals.

    Args:
        scores: :meth:`~personality_utils.attribution.leaderboard.AttributionStudy.scores`.
    """
    scores = scores.assign(map=scores["model"] + " · " + scores["method"])
    traits = list(dict.fromkeys(scores["trait"]))
    figure = go.Figure()
    buttons = []
    for index, trait in enumerate(traits):
        rows = scores[scores["trait"] == trait].dropna(subset=[measure])
        rows = rows.sort_values(measure)
        figure.add_trace(
            go.Bar(
                x=rows[measure].astype(float),
                y=rows["map"],
                orientation="h",
                error_x=_error(rows, measure),
                name=trait,
                visible=index == 0,
                marker_color=np.where(rows["method"].isin(PRIORS), "#999999", "#1f77b4"),
            )
        )
        visible = [k == index for k in range(len(traits))]
        buttons.append(
            dict(
                label=trait,
                method="update",
                args=[
                    {"visible": visible},
                    {"yaxis.categoryarray": list(rows["map"]), "title.text": f"{title}{trait}"},
                ],
            )
        )
    first = scores[scores["trait"] == traits[0]].dropna(subset=[measure]).sort_values(measure)
    figure.update_layout(
        title=f"{title}{traits[0]}",
        xaxis_title=measure,
        yaxis=dict(categoryorder="array", categoryarray=list(first["map"])),
        height=max(400, 22 * scores["map"].nunique() + 120),
        showlegend=False,
        updatemenus=[dict(buttons=buttons, x=1.0, xanchor="right", y=1.08, yanchor="bottom")],
        margin=dict(l=240),
    )
    return figure


def removal_scores(table: pd.DataFrame, model: str) -> go.Figure:
    """One model's SRG per map and fill with people intervals, one trait at a time (menu), with
    the random orders' 95% band of each fill as a shaded band."""
    table = table[table["model"] == model]
    traits = list(dict.fromkeys(table["trait"]))
    fills = list(dict.fromkeys(table["fill"]))
    figure = go.Figure()
    buttons = []
    per_trait = len(fills)
    for index, trait in enumerate(traits):
        for fill in fills:
            rows = table[(table["trait"] == trait) & (table["fill"] == fill)]
            figure.add_trace(
                go.Bar(
                    x=rows["method"],
                    y=rows["srg"].astype(float),
                    error_y=_error(rows, "srg"),
                    name=f"{fill} (random orders: {rows['null_low'].iloc[0]:+.2f} to "
                    f"{rows['null_high'].iloc[0]:+.2f})",
                    visible=index == 0,
                )
            )
        visible = [k // per_trait == index for k in range(len(traits) * per_trait)]
        buttons.append(
            dict(
                label=trait,
                method="update",
                args=[{"visible": visible}, {"title.text": f"{model}: SRG, {trait}"}],
            )
        )
    figure.update_layout(
        title=f"{model}: SRG, {traits[0]}",
        barmode="group",
        yaxis_title="SRG (LeRF − MoRF, output spread)",
        updatemenus=[dict(buttons=buttons, x=1.0, xanchor="right", y=1.12, yanchor="bottom")],
        legend=dict(orientation="h", y=-0.25),
    )
    return figure


def overlap_against_cause(info: Mapping, title: str) -> go.Figure:
    """Each map's mean face overlap (the paper's instrument) against its mean relevance mass
    on the planted cause (:func:`~personality_utils.attribution.study.overlap_against_cause`),
    over every trait or for one trait at a time (menu)."""
    views = {"all traits": (info["mean_overlap"], info["mean_mass"])}
    views.update({t: (info["trait_overlap"][t], info["trait_mass"][t]) for t in info["trait_mass"]})
    figure = go.Figure()
    buttons = []
    for index, (name, (overlap, mass)) in enumerate(views.items()):
        names = [m for m in mass if m in overlap]
        figure.add_trace(
            go.Scatter(
                x=[overlap[m] for m in names],
                y=[mass[m] for m in names],
                text=names,
                mode="markers+text",
                textposition="top center",
                name=name,
                visible=index == 0,
            )
        )
        buttons.append(
            dict(
                label=name,
                method="update",
                args=[
                    {"visible": [k == index for k in range(len(views))]},
                    {"title.text": f"{title}: {name}"},
                ],
            )
        )
    figure.update_layout(
        title=f"{title}: all traits",
        xaxis_title="mean face overlap (the paper's statistic)",
        yaxis_title="mean relevance mass on the planted cause",
        showlegend=False,
        updatemenus=[dict(buttons=buttons, x=1.0, xanchor="right", y=1.08, yanchor="bottom")],
    )
    return figure
