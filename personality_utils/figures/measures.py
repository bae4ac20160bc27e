"""Measures as figures: bars with their intervals, paired lines, threshold,
randomisation and perturbation curves, layer histograms, grouped bars and heatmaps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "measure_bars",
    "threshold_curves",
    "randomisation_curves",
    "layer_histograms",
    "grouped_bars",
    "matrix_heatmaps",
]


def measure_bars(
    table: pd.DataFrame,
    measure: str,
    group: str,
    series: str,
    title: str,
    reference: dict[str, float] | None = None,
    yaxis_title: str | None = None,
) -> go.Figure:
    """Grouped bars of ``measure`` with ``measure_low`` / ``measure_high`` error bars, one bar
    per ``series`` value within each ``group`` value; optional horizontal reference lines
    (e.g. the paper's figure)."""
    figure = go.Figure()
    for name, rows in table.groupby(series, sort=False):
        value = rows[measure].astype(float)
        figure.add_trace(
            go.Bar(
                x=rows[group],
                y=value,
                name=str(name),
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=rows[f"{measure}_high"].astype(float) - value,
                    arrayminus=value - rows[f"{measure}_low"].astype(float),
                ),
            )
        )
    for label, level in (reference or {}).items():
        figure.add_hline(
            y=level,
            line=dict(dash="dash", color="black"),
            annotation_text=label,
            annotation_position="top left",
        )
    figure.update_layout(
        barmode="group", title=title, height=380, yaxis_title=yaxis_title or measure
    )
    return figure


def _paired_lines(
    table: pd.DataFrame, x: str, columns: tuple[str, str], titles: tuple[str, str]
) -> go.Figure:
    """Two panels side by side, ``columns[i]`` against ``x`` in panel i, one line per
    ``label`` (same colour in both panels, one legend entry)."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=titles)
    for index, (label, rows) in enumerate(table.groupby("label", sort=False)):
        colour = _PALETTE[index % len(_PALETTE)]
        for col, column in enumerate(columns, start=1):
            figure.add_trace(
                go.Scatter(
                    x=rows[x],
                    y=rows[column],
                    mode="lines+markers",
                    name=str(label),
                    legendgroup=str(label),
                    showlegend=col == 1,
                    line=dict(color=colour),
                ),
                row=1,
                col=col,
            )
    return figure


def threshold_curves(curve: pd.DataFrame, paper: dict[str, float] | None = None) -> go.Figure:
    """Share of maps with overlap ≥ 0.9 and mean overlap against the binarisation threshold,
    one line per model/mode (columns ``fraction``, ``share_ge_0_9``, ``mean_overlap``,
    ``label``), side by side."""
    figure = _paired_lines(
        curve,
        "fraction",
        ("share_ge_0_9", "mean_overlap"),
        ("share of maps with overlap ≥ 0.9", "mean overlap"),
    )
    for col, key in ((1, "share_ge_0_9"), (2, "mean_overlap")):
        if paper and key in paper:
            figure.add_trace(
                go.Scatter(
                    x=[0.8],
                    y=[paper[key]],
                    mode="markers",
                    marker=dict(symbol="star", size=14, color="black"),
                    name="paper (0.8·max)",
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
    figure.update_xaxes(title_text="threshold (fraction of the maximum)")
    figure.update_yaxes(range=[0, 1.02])
    figure.update_layout(height=380, title="How the overlap depends on the threshold")
    return figure


def randomisation_curves(table: pd.DataFrame) -> go.Figure:
    """The cascading-randomisation check: rank correlation with the trained maps and mean face
    overlap after each stage (columns ``stage``, ``label``, ``rank_correlation``,
    ``mean_overlap``)."""
    figure = _paired_lines(
        table,
        "stage",
        ("rank_correlation", "mean_overlap"),
        ("Spearman correlation with the trained maps", "mean face overlap"),
    )
    figure.update_xaxes(title_text="randomised from the top down to", tickangle=-45)
    figure.update_yaxes(range=[-0.2, 1.02])
    figure.update_layout(height=400, title="Cascading randomisation (Adebayo et al., 2018)")
    return figure


_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#7f7f7f")


def perturbation_curves(curves: pd.DataFrame) -> go.Figure:
    """Deletion (left) and insertion (right) curves, one line per pixel order, the trait chosen
    in a dropdown (plotly's own control). ``curves`` has columns ``mode``, ``order``,
    ``trait``, ``fraction`` and ``change`` (mean change of the target output from the curve's
    start)."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("deletion", "insertion"))
    traits = list(dict.fromkeys(curves["trait"]))
    owner = []
    for trait in traits:
        for column, mode in enumerate(("deletion", "insertion"), start=1):
            rows = curves[(curves["trait"] == trait) & (curves["mode"] == mode)]
            for index, (order, line) in enumerate(rows.groupby("order", sort=False)):
                figure.add_trace(
                    go.Scatter(
                        x=line["fraction"],
                        y=line["change"],
                        name=str(order),
                        legendgroup=str(order),
                        showlegend=column == 1,
                        line=dict(color=_PALETTE[index % len(_PALETTE)]),
                        visible=trait == traits[0],
                    ),
                    row=1,
                    col=column,
                )
                owner.append(trait)
    buttons = [
        dict(label=trait, method="update", args=[{"visible": [o == trait for o in owner]}])
        for trait in traits
    ]
    figure.update_xaxes(title_text="share of pixels hidden (deletion) / revealed (insertion)")
    figure.update_yaxes(title_text="mean change of the trait's pre-sigmoid output", col=1)
    figure.update_layout(
        height=420,
        title="Deletion and insertion curves of the CAM model's top frames",
        updatemenus=[dict(buttons=buttons, x=0.0, xanchor="left", y=1.18, yanchor="bottom")],
        margin=dict(t=110),
    )
    return figure


def layer_histograms(
    histograms: dict[str, np.ndarray], subtitles: dict[str, str] | None = None, columns: int = 5
) -> go.Figure:
    """The paper's Fig. 10: one heatmap per layer of the summed max-location histograms, each
    scaled to its own total (share of the layer's maxima per cell)."""
    names = list(histograms)
    rows = int(np.ceil(len(names) / columns))
    titles = [f"{name}<br>{(subtitles or {}).get(name, '')}" for name in names]
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=titles,
        horizontal_spacing=0.02,
        vertical_spacing=0.12 / max(rows - 1, 1),
    )
    for index, name in enumerate(names):
        counts = np.asarray(histograms[name], dtype=np.float64)
        share = counts / counts.sum() if counts.sum() > 0 else counts
        figure.add_trace(
            go.Heatmap(
                z=share,
                colorscale="Jet",
                showscale=False,
                zmin=0,
                hovertemplate="row %{y}, col %{x}: %{z:.3f} of the maxima<extra>"
                + name
                + "</extra>",
            ),
            row=index // columns + 1,
            col=index % columns + 1,
        )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, autorange="reversed", scaleanchor=None)
    figure.update_annotations(font_size=10)
    figure.update_layout(height=200 * rows + 80, margin=dict(l=5, r=5, t=70, b=5))
    return figure


# ----------------------------------------------------------------------------------------------
# Chapter 07: action units
# ----------------------------------------------------------------------------------------------


def grouped_bars(
    table: pd.DataFrame,
    columns: dict[str, str],
    title: str,
    yaxis_title: str,
    markers: dict[str, str] | None = None,
    reference: dict[str, float] | None = None,
) -> go.Figure:
    """One bar per column of ``columns`` (legend label -> column of ``table``) at each row of
    ``table`` (x = its index), plus optional markers (legend label -> column, drawn as a short
    black line over each group, e.g. a null's 95% quantile) and horizontal reference lines."""
    figure = go.Figure()
    x = [str(label) for label in table.index]
    for index, (label, column) in enumerate(columns.items()):
        figure.add_trace(
            go.Bar(
                x=x,
                y=table[column].astype(float),
                name=label,
                marker_color=_PALETTE[index % len(_PALETTE)],
            )
        )
    for label, column in (markers or {}).items():
        figure.add_trace(
            go.Scatter(
                x=x,
                y=table[column].astype(float),
                mode="markers",
                name=label,
                marker={
                    "symbol": "line-ew-open",
                    "size": 26,
                    "line": {"width": 3, "color": "black"},
                },
            )
        )
    for label, level in (reference or {}).items():
        figure.add_hline(
            y=level,
            line={"dash": "dash", "color": "black"},
            annotation_text=label,
            annotation_position="top left",
        )
    figure.update_layout(barmode="group", title=title, height=400, yaxis_title=yaxis_title)
    return figure


def matrix_heatmaps(
    matrices: dict[str, pd.DataFrame], title: str, colorbar_title: str = ""
) -> go.Figure:
    """Matrices stacked one above the other (rows x columns, e.g. traits x AUs) on one
    diverging colour scale centred on 0 and shared by every panel, values written in the
    cells."""
    if not matrices:
        raise ValueError("no matrices")
    limit = max(float(np.nanmax(np.abs(m.to_numpy(dtype=float)))) for m in matrices.values())
    limit = limit if np.isfinite(limit) and limit > 0 else 1.0
    figure = make_subplots(
        rows=len(matrices), cols=1, subplot_titles=list(matrices), vertical_spacing=0.1
    )
    for index, (name, matrix) in enumerate(matrices.items()):
        values = matrix.to_numpy(dtype=float)
        figure.add_trace(
            go.Heatmap(
                z=values,
                x=[str(c) for c in matrix.columns],
                y=[str(r) for r in matrix.index],
                zmin=-limit,
                zmax=limit,
                colorscale="RdBu",
                reversescale=True,
                showscale=index == 0,
                colorbar={"title": colorbar_title},
                text=np.where(np.isfinite(values), np.round(values, 2), np.nan),
                texttemplate="%{text}",
                textfont={"size": 9},
                hovertemplate="%{y} · %{x}: %{z:.3f}<extra>" + name + "</extra>",
            ),
            row=index + 1,
            col=1,
        )
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(
        title=title, height=200 * len(matrices) + 90, margin={"l": 5, "r": 5, "t": 80, "b": 5}
    )
    return figure
