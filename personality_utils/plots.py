"""Plotly figures shared by the chapters, and the renderer that makes them work offline.

Call :func:`setup` once at the top of a notebook. Every figure of the book is plotly; images are
embedded as PNG data URIs so that pages stay small.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "setup",
    "image_uri",
    "image_grid",
    "training_curves",
    "accuracy_with_intervals",
    "prediction_scatter",
    "TRAIT_COLOURS",
    "REGION_COLOURS",
]

#: One colour per trait, used by every chapter.
TRAIT_COLOURS = {
    "openness": "#8c564b",
    "conscientiousness": "#1f77b4",
    "extraversion": "#ff7f0e",
    "agreeableness": "#2ca02c",
    "neuroticism": "#d62728",
}
#: Face-part colours of the paper's Fig. 8: mouth purple, nose red, eyes blue, eyebrows orange.
REGION_COLOURS = {
    "mouth": "#9467bd",
    "nose": "#d62728",
    "eyes": "#1f77b4",
    "eyebrows": "#ff7f0e",
    "glasses": "#7f7f7f",
    "context": "#17becf",
    "noise": "#d9d9d9",
}


def setup(renderer: str = "book") -> None:
    """Choose how figures are shown.

    ``"book"`` (for papermill and the HTML book) emits each figure twice: plotly's own mimetype
    for JupyterLab and an HTML snippet without plotly.js, which the book page draws with the
    copy of plotly.js under ``_static/`` (no network). Any other value is passed to plotly, e.g.
    ``"notebook"`` in a classic live session.
    """
    if renderer == "book":
        if "book_html" not in pio.renderers:
            from plotly.io._base_renderers import HtmlRenderer

            pio.renderers["book_html"] = HtmlRenderer(
                connected=False, full_html=False, include_plotlyjs=False
            )
        pio.renderers.default = "plotly_mimetype+book_html"
    else:
        pio.renderers.default = renderer
    pio.templates.default = "plotly_white"


def image_uri(image: np.ndarray, format: str = "png") -> str:
    """An RGB uint8 array as a data URI (PNG keeps synthetic edges exact; JPEG for photos)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format=format.upper())
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"data:image/{format};base64,{encoded}"


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
        height, width = image.shape[:2]
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


def training_curves(histories: dict[str, "pd.DataFrame"]) -> go.Figure:
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


def accuracy_with_intervals(runs: dict[str, dict], baseline: "pd.Series") -> go.Figure:
    """Per-trait accuracy with 95% bootstrap intervals for several runs, and the constant
    baseline as a marker (chapters 03-04). ``runs`` maps a name to an evaluation dict."""
    from .data import TRAITS

    names = [*TRAITS, "mean"]
    labels = [name.capitalize() if name != "mean" else "MA" for name in names]
    figure = go.Figure()
    for run_name, scored in runs.items():
        accuracy = scored["metrics"].loc[names, "accuracy"]
        intervals = scored["intervals"].loc[names]
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
    low = min(
        float(baseline.min()), min(float(s["intervals"]["low"].min()) for s in runs.values())
    )
    figure.update_layout(
        barmode="group",
        yaxis=dict(range=[low - 0.01, 1.0], title="accuracy (1 − |error|)"),
        title="Accuracy per trait, 95% bootstrap intervals over clips",
        height=380,
    )
    return figure


def prediction_scatter(
    predictions: "pd.DataFrame", truth: "pd.DataFrame", title: str
) -> go.Figure:
    """Predicted against true scores, one trait at a time chosen with a dropdown."""
    from .data import TRAITS

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
        buttons.append(
            dict(label=trait.capitalize(), method="update", args=[{"visible": visible}])
        )
    figure.update_layout(
        title=title,
        height=420,
        xaxis=dict(title="true score", range=[0, 1]),
        yaxis=dict(title="predicted score (clip mean)", range=[0, 1], scaleanchor="x"),
        updatemenus=[dict(buttons=buttons, x=1.0, xanchor="right", y=1.15, yanchor="top")],
    )
    return figure
