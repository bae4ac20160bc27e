"""Plotly figures shared by the chapters, and the renderer that makes them work offline.

Call :func:`setup` once at the top of a notebook. Every figure of the book is plotly; images are
embedded as PNG data URIs so that pages stay small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import HtmlRenderer
from plotly.subplots import make_subplots

from personality_utils.core.images import REGION_COLOURS, TRAIT_COLOURS, image_uri
from personality_utils.core.vocabulary import TRAITS

__all__ = [
    "setup",
    "image_grid",
    "pretraining_curves",
    "weight_change_bars",
    "training_curves",
    "accuracy_with_intervals",
    "prediction_scatter",
    "gallery_with_menu",
    "image_figure",
    "face_grid",
]


class _BookHtmlRenderer(HtmlRenderer):
    """An HTML snippet without plotly.js and without MathJax: plotly's own HtmlRenderer
    hard-codes MathJax from a CDN, which a page of this book must never fetch (no figure uses
    LaTeX)."""

    def __init__(self):
        super().__init__(connected=False, full_html=False, include_plotlyjs=False)

    def to_mimebundle(self, fig_dict):
        html = pio.to_html(
            fig_dict,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            default_width="100%",
            default_height=525,
            validate=False,
        )
        return {"text/html": html}


def setup(renderer: str = "book") -> None:
    """Choose how figures are shown.

    ``"book"`` (for papermill and the HTML book) emits each figure twice: plotly's own mimetype
    for JupyterLab and an HTML snippet without plotly.js, which the book page draws with the
    copy of plotly.js under ``_static/`` (no network). Any other value is passed to plotly, e.g.
    ``"notebook"`` in a classic live session.
    """
    if renderer == "book":
        if "book_html" not in pio.renderers:
            pio.renderers["book_html"] = _BookHtmlRenderer()
        pio.renderers.default = "plotly_mimetype+book_html"
    else:
        pio.renderers.default = renderer
    pio.templates.default = "plotly_white"


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    columns: int = 5,
    tile_height: int = 150,
    format: str = "jpeg",
) -> go.Figure:
    """A grid of images as one figure (images embedded compressed, axes hidden)."""
    if not len(images):
        raise ValueError("image_grid needs at least one image")
    rows = int(np.ceil(len(images) / columns))
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=list(titles) if titles else None,
        horizontal_spacing=0.01,
        vertical_spacing=0.06 if titles else 0.01,
    )
    for index, image in enumerate(images):
        figure.add_trace(
            go.Image(source=image_uri(image, format), hoverinfo="skip"),
            row=index // columns + 1,
            col=index % columns + 1,
        )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(height=rows * tile_height + 60, margin=dict(l=5, r=5, t=40, b=5))
    if titles:
        figure.update_annotations(font_size=10)
    return figure


def training_curves(histories: dict[str, pd.DataFrame]) -> go.Figure:
    """Mean training loss per epoch for several runs (chapters 03-04)."""
    figure = go.Figure()
    for name, history in histories.items():
        figure.add_trace(
            go.Scatter(x=history["epoch"], y=history["loss"], mode="lines+markers", name=name)
        )
    figure.update_layout(
        title="Training loss (mean Euclidean distance over the five traits)",
        xaxis_title="epoch",
        yaxis_title="loss",
        height=320,
    )
    return figure


def accuracy_with_intervals(runs: dict, baseline: pd.Series) -> go.Figure:
    """Per-trait accuracy with 95% bootstrap intervals for several runs, and the constant
    baseline as a marker (chapters 03-04). ``runs`` maps a name to its
    :class:`~personality_utils.models.experiments.Scores`."""

    names = [*TRAITS, "mean"]
    labels = [name.capitalize() if name != "mean" else "MA" for name in names]
    figure = go.Figure()
    for run_name, scored in runs.items():
        accuracy = scored.metrics.loc[names, "accuracy"]
        intervals = scored.intervals.loc[names]
        figure.add_trace(
            go.Bar(
                x=labels,
                y=accuracy,
                name=run_name,
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=intervals["high"] - accuracy,
                    arrayminus=accuracy - intervals["low"],
                ),
            )
        )
    figure.add_trace(
        go.Scatter(
            x=labels,
            y=baseline.loc[names],
            mode="markers",
            name="constant (training mean)",
            marker=dict(symbol="line-ew-open", size=28, color="black", line=dict(width=3)),
        )
    )
    low = min(float(baseline.min()), min(float(s.intervals["low"].min()) for s in runs.values()))
    figure.update_layout(
        barmode="group",
        yaxis=dict(range=[low - 0.01, 1.0], title="accuracy (1 − |error|)"),
        title="Accuracy per trait, 95% bootstrap intervals (people resampled)",
        height=380,
    )
    return figure


def prediction_scatter(predictions: pd.DataFrame, truth: pd.DataFrame, title: str) -> go.Figure:
    """Predicted against true scores, one trait at a time chosen with a dropdown."""

    figure = go.Figure()
    for index, trait in enumerate(TRAITS):
        figure.add_trace(
            go.Scatter(
                x=truth.loc[predictions.index, trait],
                y=predictions[trait],
                mode="markers",
                name=trait,
                visible=index == 0,
                marker=dict(size=5, color=TRAIT_COLOURS[trait], opacity=0.7),
                text=list(predictions.index),
                hovertemplate="%{text}<br>true %{x:.3f}<br>predicted %{y:.3f}<extra></extra>",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line=dict(dash="dash", color="grey"),
            name="y = x",
            hoverinfo="skip",
        )
    )
    buttons = []
    for index, trait in enumerate(TRAITS):
        visible = [i == index for i in range(len(TRAITS))] + [True]
        buttons.append(dict(label=trait.capitalize(), method="update", args=[{"visible": visible}]))
    figure.update_layout(
        title=title,
        height=420,
        xaxis=dict(title="true score", range=[0, 1]),
        yaxis=dict(title="predicted score (clip mean)", range=[0, 1], scaleanchor="x"),
        updatemenus=[dict(buttons=buttons, x=1.0, xanchor="right", y=1.15, yanchor="top")],
    )
    return figure


# Plotly's "Jet", the colour map of the paper's CAM figures, as a lookup table.


def gallery_with_menu(
    panels: dict[str, Sequence[np.ndarray]],
    columns: int = 5,
    tile_height: int = 120,
    title: str = "",
    active: str | None = None,
    format: str = "jpeg",
) -> go.Figure:
    """Several image grids in one figure, one shown at a time, chosen with a dropdown (works in
    the static page: it is plotly's own control). Panels may have different lengths."""
    if not panels:
        raise ValueError("no panels")
    slots = max(len(images) for images in panels.values())
    if slots == 0:
        raise ValueError("every panel is empty")
    rows = int(np.ceil(slots / columns))
    figure = make_subplots(rows=rows, cols=columns, horizontal_spacing=0.005, vertical_spacing=0.01)
    names = list(panels)
    active = names[0] if active is None else active
    owner = []
    for name in names:
        for index, image in enumerate(panels[name]):
            figure.add_trace(
                go.Image(source=image_uri(image, format), hoverinfo="skip", visible=name == active),
                row=index // columns + 1,
                col=index % columns + 1,
            )
            owner.append(name)
    buttons = [
        dict(
            label=name,
            method="update",
            args=[{"visible": [o == name for o in owner]}, {"title.text": f"{title}{name}"}],
        )
        for name in names
    ]
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(
        title=f"{title}{active}",
        height=rows * tile_height + 90,
        margin=dict(l=5, r=5, t=80, b=5),
        updatemenus=[
            dict(
                buttons=buttons,
                active=names.index(active),
                x=0.0,
                xanchor="left",
                y=1.0,
                yanchor="bottom",
                pad=dict(b=30),
            )
        ],
    )
    return figure


# ----------------------------------------------------------------------------------------------
# Chapter 06: units
# ----------------------------------------------------------------------------------------------


def image_figure(image: np.ndarray, title: str, height: int | None = None) -> go.Figure:
    """One image (e.g. a :func:`mosaic`) as a figure with hidden axes."""
    figure = go.Figure(go.Image(source=image_uri(image, "jpeg"), hoverinfo="skip"))
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(
        title=title,
        height=height or int(image.shape[0] * 760 / image.shape[1]) + 70,
        margin=dict(l=5, r=5, t=50, b=5),
    )
    return figure


def face_grid(image: np.ndarray, masks_grid: dict[str, np.ndarray], title: str) -> go.Figure:
    """The paper's Fig. 8: an average face divided into the G x G cells of a layer, with the
    cells of each face-part mask tinted in :data:`REGION_COLOURS` (a legend names them)."""
    side = image.shape[0]
    grid = next(iter(masks_grid.values())).shape[0]
    cell = side / grid
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.03)
    for col in (1, 2):
        figure.add_trace(go.Image(source=image_uri(image), hoverinfo="skip"), row=1, col=col)
    shapes = []
    for index in range(grid + 1):
        for axis in ("x", "x2"):
            suffix = "" if axis == "x" else "2"
            line = dict(color="white", width=1)
            shapes.append(
                dict(
                    type="line",
                    xref=axis,
                    yref=f"y{suffix}",
                    x0=index * cell,
                    x1=index * cell,
                    y0=0,
                    y1=side,
                    line=line,
                )
            )
            shapes.append(
                dict(
                    type="line",
                    xref=axis,
                    yref=f"y{suffix}",
                    x0=0,
                    x1=side,
                    y0=index * cell,
                    y1=index * cell,
                    line=line,
                )
            )
    for region, mask in masks_grid.items():
        colour = REGION_COLOURS.get(region, "#000000")
        for row, column in zip(*np.nonzero(mask), strict=True):
            shapes.append(
                dict(
                    type="rect",
                    xref="x2",
                    yref="y2",
                    x0=column * cell,
                    x1=(column + 1) * cell,
                    y0=row * cell,
                    y1=(row + 1) * cell,
                    fillcolor=colour,
                    opacity=0.55,
                    line=dict(width=0),
                )
            )
        figure.add_trace(  # a legend entry per part
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=f"{region} ({int(mask.sum())})",
                marker=dict(symbol="square", size=12, color=colour),
            ),
            row=1,
            col=2,
        )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(shapes=shapes, title=title, height=420, margin=dict(l=5, r=5, t=60, b=5))
    return figure


def label_histograms(labels: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Chapter 01: the share of clips per label bin (0.05 wide), one panel per trait, the
    splits overlaid (``labels`` maps a split to its labels table)."""

    titles = [trait.capitalize() for trait in TRAITS]
    figure = make_subplots(rows=1, cols=len(TRAITS), subplot_titles=titles, shared_yaxes=True)
    colours = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}
    bins = dict(start=0, end=1, size=0.05)
    for column, trait in enumerate(TRAITS, start=1):
        for split, table in labels.items():
            style = dict(name=split, legendgroup=split, showlegend=column == 1, opacity=0.6)
            histogram = go.Histogram(x=table[trait], marker_color=colours.get(split), **style)
            figure.add_trace(histogram.update(histnorm="probability", xbins=bins), 1, column)
    title = "Label distributions per trait and split"
    figure.update_layout(barmode="overlay", height=320, title=title, legend_title_text="split")
    return figure.update_xaxes(range=[0, 1])


def stacked_shares(shares: pd.DataFrame, title: str, yaxis_title: str) -> go.Figure:
    """Chapter 01: one stacked bar per row of ``shares`` (e.g. a trait), one segment per column
    (a face part or ``context``, coloured as in :data:`REGION_COLOURS`)."""
    x = [str(name).capitalize() for name in shares.index]
    colours = {name: REGION_COLOURS.get(name) for name in shares.columns}
    bars = [go.Bar(name=name, x=x, y=shares[name], marker_color=colours[name]) for name in shares]
    figure = go.Figure(bars)
    return figure.update_layout(barmode="stack", title=title, yaxis_title=yaxis_title, height=360)


def pretraining_curves(history: Sequence[Mapping]) -> go.Figure:
    """Identity pretraining per epoch: the training loss (cross-entropy over the identities)
    and the held-out identification accuracy (chapter 03)."""

    table = pd.DataFrame(list(history))
    figure = make_subplots(
        rows=1, cols=2, subplot_titles=("training loss", "held-out identification accuracy")
    )
    figure.add_trace(
        go.Scatter(x=table["epoch"], y=table["loss"], mode="lines+markers", name="loss"),
        row=1,
        col=1,
    )
    figure.add_trace(
        go.Scatter(
            x=table["epoch"],
            y=table["held_out_accuracy"],
            mode="lines+markers",
            name="held-out accuracy",
        ),
        row=1,
        col=2,
    )
    figure.update_xaxes(title_text="epoch")
    figure.update_yaxes(range=[0, 1], row=1, col=2)
    figure.update_layout(title="Identity pretraining", height=320, showlegend=False)
    return figure


def weight_change_bars(changes: Mapping[str, pd.Series]) -> go.Figure:
    """Per convolution, how far fine-tuning moved each model's weights from the pretrained
    backbone (relative Frobenius distance; chapters 03-04)."""
    figure = go.Figure()
    for name, change in changes.items():
        figure.add_trace(go.Bar(x=list(change.index), y=change.to_numpy(), name=name))
    figure.update_layout(
        title="What fine-tuning changed: ||W after - W before|| / ||W before|| per convolution",
        yaxis_title="relative change",
        barmode="group",
        height=340,
    )
    return figure
