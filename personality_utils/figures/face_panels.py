"""Figures of faces and what was measured on them: dlib's boxes and landmarks drawn over the
frames, against the ground truth, the aligned crops, the face-part masks of the paper's Fig. 8,
and the distributions of the landmark and alignment errors (chapters 01 and 02).

Every function returns a plotly figure; the numbers come from
:mod:`~personality_utils.faces.detection`
and :mod:`~personality_utils.data.synthetic.truth`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from personality_utils.core.images import REGION_COLOURS, image_uri, masks_over
from personality_utils.faces.regions import REGIONS, region_masks
from personality_utils.figures.plots import image_grid

if TYPE_CHECKING:
    from personality_utils.data.stores import FaceStore, FrameStore
    from personality_utils.data.synthetic.truth import DetectionExample

__all__ = [
    "aligned_faces",
    "detection_against_truth",
    "detections_grid",
    "error_histograms",
    "face_masks_figure",
    "face_part_masks",
]

_TIGHT = dict(l=5, r=5, t=40, b=5)


def _points(points: np.ndarray, marker: dict | None = None, **trace) -> go.Scatter:
    """Landmarks as markers (small green dots unless ``marker`` says otherwise), without a
    legend entry unless ``trace`` names one."""
    style = dict(size=3, color="lime") | (marker or {})
    trace = dict(showlegend="name" in trace) | trace
    return go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers", marker=style, **trace)


def _spread(count: int, wanted: int) -> np.ndarray:
    """``wanted`` positions spread evenly over ``count`` items (first and last included)."""
    return np.linspace(0, count - 1, wanted).astype(int)


def detections_grid(store: FrameStore, count: int = 6, columns: int = 3) -> go.Figure:
    """dlib's face box (red) and 68 landmarks (green) over ``count`` frames of a store with
    faces, spread evenly over the frames where a face was found, in frame-store coordinates."""
    found = np.flatnonzero(store.detections["found"])
    picks = found[_spread(len(found), count)]
    rows = int(np.ceil(len(picks) / columns))
    figure = make_subplots(rows=rows, cols=columns, horizontal_spacing=0.01, vertical_spacing=0.04)
    for k, row in enumerate(picks):
        position = dict(row=k // columns + 1, col=k % columns + 1)
        frame = np.asarray(store.frames[row])
        figure.add_trace(go.Image(source=image_uri(frame, "jpeg")), **position)
        points = store.detections["landmarks_store"][row]
        figure.add_trace(_points(points, hoverinfo="skip"), **position)
        left, top, right, bottom = store.detections["box_store"][row]
        box = dict(type="rect", x0=left, y0=top, x1=right, y1=bottom)
        figure.add_shape(**box, line=dict(color="red", width=2), **position)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, autorange="reversed")
    figure.update_layout(
        height=260 * rows,
        title="dlib face boxes (red) and 68 landmarks (green), frame-store coordinates",
        margin=_TIGHT,
    )
    return figure


def aligned_faces(face_store: FaceStore, count: int = 15, columns: int = 5) -> go.Figure:
    """``count`` aligned crops spread evenly over a face store, titled by clip and frame."""
    picks = _spread(len(face_store), count)
    meta = face_store.meta
    titles = [f"{meta['clip'].iloc[i][:11]} #{meta['frame_index'].iloc[i]}" for i in picks]
    crops = [np.asarray(face_store.crops[i]) for i in picks]
    side = face_store.crops.shape[1]
    return image_grid(crops, titles, columns=columns, tile_height=170).update_layout(
        title=f"Aligned {side}x{side} faces (eyes at fixed positions)"
    )


def detection_against_truth(example: DetectionExample) -> go.Figure:
    """One full-resolution frame with its true landmarks (green), dlib's landmarks (red
    crosses) and dlib's face box
    (:func:`~personality_utils.data.synthetic.truth.detection_example`)."""
    detected = example.detection
    figure = go.Figure(go.Image(source=image_uri(example.frame, "jpeg")))
    figure.add_trace(_points(example.true_landmarks, dict(size=5), name="ground truth"))
    marks = dict(color="red", size=4, symbol="x")
    figure.add_trace(_points(detected.landmarks, marks, name="dlib"))
    left, top, right, bottom = detected.box
    figure.add_shape(type="rect", x0=left, y0=top, x1=right, y1=bottom, line=dict(color="red"))
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(
        title=f"{example.clip}, frame {example.frame_index}: a median case "
        f"({example.error_iod:.3f} IOD)",
        height=420,
    )
    return figure


def error_histograms(
    errors: Mapping[str, np.ndarray],
    title: str,
    xaxis_title: str,
    yaxis_title: str = "frames",
    threshold: tuple[float, str] | None = None,
    histnorm: str | None = None,
) -> go.Figure:
    """Histograms (40 bins) of per-frame errors, one per entry of ``errors`` (overlaid when
    several), with an optional dashed line at ``threshold = (x, label)``.

    Args:
        histnorm: None for counts, ``"probability"`` for shares of frames.
    """
    several = len(errors) > 1
    traces = [
        go.Histogram(
            x=np.asarray(values),
            name=name,
            nbinsx=40,
            histnorm=histnorm,
            opacity=0.6 if several else None,
            marker_color=None if several else "#1f77b4",
        )
        for name, values in errors.items()
    ]
    figure = go.Figure(traces)
    if threshold is not None:
        figure.add_vline(x=threshold[0], line_dash="dash", annotation_text=threshold[1])
    figure.update_layout(
        barmode="overlay",
        showlegend=several,
        height=320,
        title=title,
        xaxis_title=xaxis_title,
        yaxis_title=yaxis_title,
    )
    return figure


def _region_legend(figure: go.Figure) -> None:
    """One legend entry per face part, in :data:`REGION_COLOURS`."""
    for region in REGIONS:
        marker = dict(size=10, color=REGION_COLOURS[region], symbol="square")
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=region, marker=marker))


def face_part_masks(
    average: np.ndarray,
    landmarks: np.ndarray,
    pixel_masks: Mapping[str, np.ndarray],
    grid_masks: Mapping[str, np.ndarray],
) -> go.Figure:
    """The paper's Fig. 8 in three panels: the average face with the mean landmarks, the
    face-part masks at pixel resolution, and the masks on the conv5 grid (its lines in white).

    Args:
        average: The average aligned face, (size, size, 3) uint8.
        landmarks: The mean landmarks, (68, 2) in crop pixels.
        pixel_masks, grid_masks: :func:`~personality_utils.faces.regions.region_masks` without and
            with ``grid``.
    """
    size = average.shape[0]
    grid = next(iter(grid_masks.values())).shape[0]
    titles = [
        "average face + mean landmarks",
        "masks at pixel resolution",
        f"masks on the {grid}x{grid} conv5 grid",
    ]
    figure = make_subplots(rows=1, cols=3, horizontal_spacing=0.02, subplot_titles=titles)
    figure.add_trace(go.Image(source=image_uri(average)), row=1, col=1)
    figure.add_trace(_points(landmarks), row=1, col=1)
    for col, masks in ((2, pixel_masks), (3, grid_masks)):
        overlay = image_uri(masks_over(average, dict(masks)))
        figure.add_trace(go.Image(source=overlay), row=1, col=col)
    line = dict(color="white", width=0.5)
    for position in np.arange(0, size + 1, size // grid):
        figure.add_shape(
            type="line", x0=position, x1=position, y0=0, y1=size, line=line, row=1, col=3
        )
        figure.add_shape(
            type="line", x0=0, x1=size, y0=position, y1=position, line=line, row=1, col=3
        )
    _region_legend(figure)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(height=420, margin=_TIGHT, title="Fig. 8 reproduced")
    return figure


def face_masks_figure(face_store: FaceStore, index: int) -> go.Figure:
    """One aligned face of a store with its own landmarks, and the face-part masks drawn from
    them (:func:`~personality_utils.faces.regions.region_masks`, as the unit chapter scores
    them)."""
    crop, landmarks = np.asarray(face_store.crops[index]), face_store.landmarks[index]
    masks = region_masks(landmarks, crop.shape[0])
    titles = ["its own landmarks", "its own masks"]
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.02, subplot_titles=titles)
    figure.add_trace(go.Image(source=image_uri(crop)), row=1, col=1)
    figure.add_trace(_points(landmarks), row=1, col=1)
    figure.add_trace(go.Image(source=image_uri(masks_over(crop, masks))), row=1, col=2)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    title = f"Masks of one face: {face_store.meta['clip'].iloc[index]}"
    figure.update_layout(height=380, margin=_TIGHT, title=title)
    return figure
