"""Plotly figures shared by the chapters, and the renderer that makes them work offline.

Call :func:`setup` once at the top of a notebook. Every figure of the book is plotly; images are
embedded as PNG data URIs so that pages stay small.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

__all__ = ["setup", "image_uri", "image_grid", "TRAIT_COLOURS", "REGION_COLOURS"]

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
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=list(titles) if titles else None,
                           horizontal_spacing=0.01, vertical_spacing=0.06 if titles else 0.01)
    for index, image in enumerate(images):
        height, width = image.shape[:2]
        figure.add_trace(
            go.Image(source=image_uri(image, format), hoverinfo="skip"),
            row=index // columns + 1, col=index % columns + 1,
        )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(height=rows * tile_height + 60, margin=dict(l=5, r=5, t=40, b=5))
    if titles:
        figure.update_annotations(font_size=10)
    return figure
