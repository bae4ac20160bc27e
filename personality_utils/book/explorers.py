"""Explorers for a live kernel: ipywidgets controls over what the chapters compute.

Three explorers, one call each: :func:`clip_explorer` (chapters 01-02: a clip's frames, dlib's
boxes and landmarks, the aligned crops, its labels and, on the synthetic set, the planted truth),
:func:`cam_explorer` (chapter 05: a CAM of either model on any test frame, binarised at any
threshold, with the face box and the paper's overlap) and :func:`unit_explorer` (chapter 06: a
unit's top crops with their maps and its N' per face part against the null networks).

Each view is a plain function of the controls' values (:func:`clip_view`, :func:`cam_view`,
:func:`unit_view`) that returns a :class:`View`: a plotly figure and the numbers shown beside it.
An :class:`Explorer` redraws its view when a control changes, so a test sets a control's
``value`` and reads the output, without a browser. The explorers exist only in a live kernel
(:func:`is_live`); elsewhere (papermill, the static book) each call returns None and the cell
shows nothing: the book keeps its plotly menus.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from personality_utils.cam import maps as cam
from personality_utils.cam import overlay
from personality_utils.core import images, paper
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.synthetic import truth
from personality_utils.faces.regions import region_masks
from personality_utils.figures import unit_images
from personality_utils.units.semantics import region_shares

if TYPE_CHECKING:
    from personality_utils.cam.study import CamStudy
    from personality_utils.units.activations import UnitStats
    from personality_utils.units.study import UnitStudy

__all__ = [
    "CAM_MODELS",
    "LIVE_ENV",
    "SESSION_ENV",
    "Explorer",
    "View",
    "cam_explorer",
    "cam_rows",
    "cam_view",
    "clip_explorer",
    "clip_view",
    "is_live",
    "figure_output",
    "unit_explorer",
    "unit_masks",
    "unit_nulls",
    "unit_view",
]

#: "1" shows the explorers, "0" hides them, whatever :func:`is_live` would decide (the chapter
#: runner sets "0" for papermill).
LIVE_ENV = "PERSONALITY_UTILS_LIVE"
#: Set by jupyter_server in the environment of a kernel it starts for a notebook session
#: (JupyterLab, Notebook 7); papermill's and jupyter-book's kernels never have it.
SESSION_ENV = "JPY_SESSION_NAME"
_PLOTLY_MIME = "application/vnd.plotly.v1+json"
_TIGHT = dict(l=5, r=5, t=60, b=5)


def is_live(environ: Mapping[str, str] | None = None, shell: Any = None) -> bool:
    """Whether a person is at the notebook: :data:`LIVE_ENV` when it is "0" or "1"; otherwise
    an IPython kernel (``shell.kernel``) started by a Jupyter server (:data:`SESSION_ENV` in
    the environment). Batch runs (papermill, jupyter-book, nbclient) start kernels without it.

    Args:
        environ: The environment (default: this process's).
        shell: The IPython shell (default: ``IPython.get_ipython()``).
    """
    environ = os.environ if environ is None else environ
    forced = environ.get(LIVE_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython comes with the book extra
            return False
        shell = get_ipython()
    return getattr(shell, "kernel", None) is not None and bool(environ.get(SESSION_ENV))


@dataclass
class View:
    """What an explorer shows for one choice of its controls.

    Attributes:
        figure: The plotly figure.
        numbers: The values written beside it (name -> number or text), in order.
    """

    figure: go.Figure
    numbers: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """The numbers as one line, floats to three decimals."""
        return " · ".join(
            f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}"
            for name, value in self.numbers.items()
        )


def figure_output(figure: go.Figure) -> dict[str, Any]:
    """A figure as one output of an ``Output`` widget: plotly's mimetype (drawn by JupyterLab's
    plotly extension, offline) and its title as plain text."""
    title = figure.layout.title.text or "figure"
    return {
        "output_type": "display_data",
        "data": {_PLOTLY_MIME: json.loads(figure.to_json()), "text/plain": title},
        "metadata": {},
    }


class Explorer:
    """Controls, a line of numbers and a figure, redrawn when a control changes.

    Args:
        title: The explorer's heading.
        controls: Name -> ipywidgets control; ``render`` gets their values by name.
        render: The view of the controls' values.
        adjust: Called with the explorer before each render, to update controls that depend
            on others (e.g. a clip's frames); changes it makes do not render twice.
    """

    def __init__(
        self,
        title: str,
        controls: dict[str, Any],
        render: Callable[..., View],
        adjust: Callable[[Explorer], None] | None = None,
    ):
        import ipywidgets as widgets

        self.controls = controls
        self.render = render
        self.adjust = adjust
        self.numbers = widgets.HTML()
        self.numbers.add_class("explorer-numbers")
        self.output = widgets.Output()
        self.view: View | None = None
        self.renders = 0
        self._busy = False
        header = widgets.HTML(f"<b>{title}</b>")
        row = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
        self.widget = widgets.VBox([header, row, self.numbers, self.output])
        self.widget.add_class("personality-explorer")
        for control in controls.values():
            control.observe(self.update, names="value")
        self.update()

    def values(self) -> dict[str, Any]:
        """The controls' current values."""
        return {name: control.value for name, control in self.controls.items()}

    def update(self, change=None) -> None:
        """Adjust the dependent controls, then render and show the view."""
        if self._busy:
            return
        self._busy = True
        try:
            if self.adjust is not None:
                self.adjust(self)
            self.view = self.render(**self.values())
        finally:
            self._busy = False
        self.renders += 1
        self.numbers.value = html.escape(self.view.text())
        self.output.outputs = (figure_output(self.view.figure),)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


# ----------------------------------------------------------------------------------------------
# Clips (chapters 01-02)
# ----------------------------------------------------------------------------------------------


def _points(points: np.ndarray, colour: str, name: str, size: int = 3, symbol: str = "circle"):
    points = np.asarray(points, dtype=np.float64)
    marker = dict(size=size, color=colour, symbol=symbol)
    return go.Scatter(
        x=points[:, 0], y=points[:, 1], mode="markers", marker=marker, name=name, hoverinfo="skip"
    )


def _box(figure: go.Figure, box, colour: str, position: dict, dash: str | None = None) -> None:
    if box is None or not np.isfinite(np.asarray(box, dtype=np.float64)).all():
        return
    left, top, right, bottom = (float(v) for v in box)
    line = dict(color=colour, width=2, dash=dash)
    figure.add_shape(type="rect", x0=left, y0=top, x1=right, y1=bottom, line=line, **position)


def _clip_truth(dataset, clip: str) -> dict[str, Any] | None:
    """The planted truth of one clip of the synthetic set: its per-frame arrays (landmarks and
    boxes in video pixels) and its recipe (features, labels); None on real data."""

    if not getattr(dataset, "synthetic", False):
        return None
    frames = truth.load_frame_truth(dataset.root, clip)
    recipe = truth.load_ground_truth(dataset.root)["clips"].get(clip, {})
    return {"frames": frames, "recipe": recipe}


def clip_view(dataset, split: str, clip: str, size: int = 200) -> View:
    """One clip as chapters 01-02 process it: each sampled frame (the square frame-store image)
    with dlib's box (red) and landmarks (green), and its aligned crop below (blank where dlib
    found no face); on the synthetic set the true landmarks (white) and the poster's true box
    (dashed cyan). Its numbers: frames, faces found, the five labels and, on the synthetic set,
    the planted glasses and poster strength."""
    store, face_store = dataset.store(split), dataset.faces(split)
    meta = store.meta
    rows = np.flatnonzero(meta["clip"].to_numpy() == clip)
    if not len(rows):
        raise ValueError(f"{clip}: no such clip in the {split} frame store")
    side = store.frames.shape[1]
    crop_rows = dict(
        zip(face_store.meta["frame_row"].to_numpy(), range(len(face_store)), strict=True)
    )
    planted = _clip_truth(dataset, clip)
    columns = len(rows)
    titles = [f"frame {int(meta['frame_index'].iloc[row])}" for row in rows] + [""] * columns
    figure = make_subplots(
        rows=2,
        cols=columns,
        subplot_titles=titles,
        horizontal_spacing=0.01,
        vertical_spacing=0.06,
    )
    detections = store.detections or {}
    for k, row in enumerate(rows):
        top, bottom = dict(row=1, col=k + 1), dict(row=2, col=k + 1)
        frame = np.asarray(store.frames[row])
        figure.add_trace(go.Image(source=images.image_uri(frame, "jpeg"), hoverinfo="skip"), **top)
        if planted is not None:
            index = int(meta["frame_index"].iloc[row])
            scale = np.array([side / meta["width"].iloc[row], side / meta["height"].iloc[row]])
            landmarks = planted["frames"]["landmarks"][index] * scale
            figure.add_trace(_points(landmarks, "white", "true landmarks", 2), **top)
            poster = planted["frames"]["poster_box"]
            poster = poster if poster.ndim == 1 else poster[index]
            _box(figure, np.asarray(poster) * np.tile(scale, 2), "cyan", top, "dash")
        if detections and bool(detections["found"][row]):
            figure.add_trace(_points(detections["landmarks_store"][row], "lime", "dlib"), **top)
            _box(figure, detections["box_store"][row], "red", top)
        if row in crop_rows:
            crop = np.asarray(face_store.crops[crop_rows[row]])
            uri = images.image_uri(crop, "jpeg")
            figure.add_trace(go.Image(source=uri, hoverinfo="skip"), **bottom)
            landmarks = face_store.landmarks[crop_rows[row]]
            figure.add_trace(_points(landmarks, "lime", "dlib (aligned)", 2), **bottom)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(
        title=f"{split} clip {clip}: sampled frames (dlib box red, landmarks green) and "
        "aligned crops",
        showlegend=False,
        height=2 * size + 80,
        margin=_TIGHT,
    )
    first = meta.iloc[rows[0]]
    numbers: dict[str, Any] = {
        "clip": clip,
        "frames": len(rows),
        "faces": sum(row in crop_rows for row in rows),
        **{trait: float(first[trait]) for trait in TRAITS},
    }
    if planted is not None:
        recipe = planted["recipe"]
        features = recipe.get("features", {})
        numbers["planted glasses"] = "yes" if features.get("glasses") else "no"
        numbers["planted poster"] = float(features.get("context_cue", float("nan")))
    return View(figure, numbers)


def clip_explorer(dataset, split: str = "train", force: bool | None = None) -> Explorer | None:
    """Chapters 01-02's explorer: pick a split and a clip (:func:`clip_view`). None unless
    live (:func:`is_live`; ``force`` decides instead when given)."""
    if not (is_live() if force is None else force):
        return None
    import ipywidgets as widgets

    splits = list(dataset.stores())

    def clips_of(name: str) -> list[str]:
        return sorted(dataset.store(name).meta["clip"].unique())

    split = split if split in splits else splits[0]
    first = clips_of(split)
    controls = {
        "split": widgets.Dropdown(options=splits, value=split, description="split"),
        "clip": widgets.Dropdown(options=first, value=first[0], description="clip"),
    }

    def adjust(explorer: Explorer) -> None:
        clip = explorer.controls["clip"]
        options = clips_of(explorer.controls["split"].value)
        if list(clip.options) != options:
            clip.options = options
            clip.value = options[0]

    return Explorer(
        "Clip explorer",
        controls,
        lambda split, clip: clip_view(dataset, split, clip),
        adjust,
    )


# ----------------------------------------------------------------------------------------------
# Class activation maps (chapter 05)
# ----------------------------------------------------------------------------------------------

#: The two CAM models of chapter 05.
CAM_MODELS = ("full frames", "faces")


def _cam_pictures(study: CamStudy, model: str):
    if model == "full frames":
        return study.store, study.store.frames, study.frame_maps, study.frame_predictions
    if model == "faces":
        return study.faces, study.faces.crops, study.face_maps, study.face_predictions
    raise ValueError(f"model must be one of {CAM_MODELS}, got {model!r}")


def cam_rows(study: CamStudy, model: str, clip: str) -> list[int]:
    """The rows of one test clip's images of a model: its sampled frames, or its face crops."""
    source = _cam_pictures(study, model)[0]
    return np.flatnonzero(source.meta["clip"].to_numpy() == clip).tolist()


def cam_view(
    study: CamStudy, model: str, trait: str, row: int, threshold: float = paper.CAM_THRESHOLD
) -> View:
    """One CAM of chapter 05: the image, its map over it, and the map binarised at
    ``threshold``·max (the paper's M_CAM, :func:`~personality_utils.cam.maps.binarise`), with
    dlib's face box in red on a full frame. Its numbers: the prediction, the share of the image
    activated and, on a full frame, the paper's overlap with the box, the pointing game and the
    energy in the box (:func:`~personality_utils.cam.maps.score_maps`); on a face crop, which is all
    face, the share of the activated pixels on each face part (drawn from the crop's own
    landmarks)."""

    t = TRAITS.index(trait)
    source, pictures, maps, predictions = _cam_pictures(study, model)
    image = np.asarray(pictures[row])
    side = image.shape[0]
    full = cam.upsample(maps[row, t], side, study.upsampling)
    activated = cam.binarise(full, threshold)
    meta = source.meta.iloc[row]
    numbers: dict[str, Any] = {
        "clip": meta["clip"],
        "frame": int(meta["frame_index"]),
        f"predicted {trait}": float(predictions[row, t]),
        "activated share": float(activated.mean()),
    }
    box = None
    if model == "full frames":
        box = study.boxes[row]
        scores = cam.score_maps(maps[[row], t], box[None], side, threshold, "raw", study.upsampling)
        if np.isfinite(box).all():
            numbers["overlap"] = float(scores["overlap"].iloc[0])
            numbers["pointing game"] = "hit" if scores["pointing"].iloc[0] == 1 else "miss"
            numbers["energy in box"] = float(scores["energy"].iloc[0])
        else:
            numbers["overlap"] = "no face box (left out)"
    else:
        masks = region_masks(study.faces.landmarks[row], side)
        for part, mask in masks.items():
            numbers[f"on {part}"] = cam.overlap(activated, mask)
    kept = np.where(activated[..., None], image, 0.25 * image).astype(np.uint8)
    panels = [image, overlay.cam_overlay(image, maps[row, t]), kept]
    titles = ["image", f"CAM of {trait}", f"binarised at {threshold:.2f}·max"]
    figure = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.02)
    for col, panel in enumerate(panels, start=1):
        uri = images.image_uri(panel, "jpeg")
        figure.add_trace(go.Image(source=uri, hoverinfo="skip"), row=1, col=col)
        _box(figure, box, "red", dict(row=1, col=col))
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    overlap = numbers.get("overlap")
    if isinstance(overlap, float):
        what = f"overlap {overlap:.3f}"
    else:
        what = overlap or f"{numbers['activated share']:.3f} of the crop activated"
    figure.update_layout(
        title=f"{model}, {trait}: {meta['clip']} frame {int(meta['frame_index'])} ({what})",
        height=360,
        margin=_TIGHT,
    )
    return View(figure, numbers)


def cam_explorer(study: CamStudy, force: bool | None = None) -> Explorer | None:
    """Chapter 05's explorer: pick the model, trait, clip, frame and threshold
    (:func:`cam_view`); it opens on the first mapped image of the top agreeableness video, the
    paper's Fig. 5. None unless live (:func:`is_live`; ``force`` decides instead)."""
    if not (is_live() if force is None else force):
        return None
    import ipywidgets as widgets

    trait = "agreeableness"
    first_row = int(study.top_frames[trait][0])
    clip = study.store.meta["clip"].iloc[first_row]

    def frame_options(model: str, clip: str) -> list[tuple[str, int]]:
        source = _cam_pictures(study, model)[0]
        indices = source.meta["frame_index"].to_numpy()
        return [(f"frame {int(indices[row])}", row) for row in cam_rows(study, model, clip)]

    frames = frame_options("full frames", clip)
    controls = {
        "model": widgets.Dropdown(options=CAM_MODELS, value="full frames", description="model"),
        "trait": widgets.Dropdown(options=TRAITS, value=trait, description="trait"),
        "clip": widgets.Dropdown(
            options=sorted(np.unique(study.clips)), value=clip, description="clip"
        ),
        "row": widgets.Dropdown(options=frames, value=first_row, description="frame"),
        "threshold": widgets.FloatSlider(
            value=paper.CAM_THRESHOLD,
            min=0.05,
            max=1.0,
            step=0.05,
            description="threshold",
            continuous_update=False,
        ),
    }

    def adjust(explorer: Explorer) -> None:
        model, clip = explorer.controls["model"].value, explorer.controls["clip"].value
        row = explorer.controls["row"]
        options = frame_options(model, clip)
        if list(row.options) != options:
            row.options = options
            row.value = options[0][1] if options else None

    def render(model, trait, clip, row, threshold) -> View:
        if row is None:  # a clip without any face crop, on the faces model
            figure = go.Figure().update_layout(title=f"{clip}: no face crop", height=120)
            return View(figure, {"clip": clip, "faces": 0})
        return cam_view(study, model, trait, row, threshold)

    return Explorer("CAM explorer", controls, render, adjust)


# ----------------------------------------------------------------------------------------------
# Units (chapter 06)
# ----------------------------------------------------------------------------------------------


def unit_nulls(study: UnitStudy) -> dict[str, UnitStats]:
    """The null networks a unit is set against: a random network of the same shape (always),
    and the pretrained network before fine-tuning when the study has one
    (``pretrained_stats``)."""
    nulls = {"random weights": study.random_stats}
    pretrained = getattr(study, "pretrained_stats", None)
    if pretrained is not None:
        nulls["pretrained"] = pretrained
    return nulls


def unit_masks(study: UnitStudy, layer: str) -> dict[str, np.ndarray]:
    """The part masks N' is counted in for ``layer``: the study's own for its mask layers,
    else drawn on a grid of at most twice conv5's side, as the chapter's explorer does."""

    if layer in study.masks:
        return study.masks[layer]
    grid = min(study.side[layer], 2 * study.stats.grid)
    return region_masks(study.mean_landmarks, study.input_size, grid=grid)


def unit_view(
    study: UnitStudy,
    layer: str,
    unit: int,
    nulls: Mapping[str, UnitStats] | None = None,
    shares: Callable[[str, str], Any] | None = None,
) -> View:
    """One unit of chapter 06: its ten top crops segmented as the authors did, with its peak
    histogram over the average face (:func:`~personality_utils.figures.unit_images.unit_rows`), and
    its N' per face part beside the 95th percentile of N' over every unit of the same layer in each
    null network (:func:`unit_nulls`).

    Args:
        study: The unit study.
        layer, unit: The unit.
        nulls: Name -> statistics of a null network (default :func:`unit_nulls`).
        shares: ``(network, layer) -> region_shares table``, to reuse tables between calls
            (default: computed here).
    """

    stats = study.stats
    if not 0 <= unit < stats.n_units(layer):
        raise ValueError(f"{layer} has units 0..{stats.n_units(layer) - 1}, got {unit}")
    nulls = unit_nulls(study) if nulls is None else dict(nulls)
    networks = {"trained": stats, **nulls}
    if shares is None:

        def shares(network: str, name: str):
            return region_shares(networks[network], name, unit_masks(study, name))

    top_n = stats.top_n
    trained = shares("trained", layer).drop(columns="elsewhere")
    parts = list(trained.columns)
    n_prime = (trained.loc[unit] * top_n).round().astype(int)
    mosaic = unit_images.unit_rows(
        study.trained, study.crops, stats, layer, [unit], study.mean_face, n_images=10
    )
    figure = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.72, 0.28],
        horizontal_spacing=0.06,
        subplot_titles=["top crops (segmented) and peak histogram", f"N' of {top_n} per part"],
    )
    uri = images.image_uri(mosaic, "jpeg")
    figure.add_trace(go.Image(source=uri, hoverinfo="skip"), row=1, col=1)
    figure.add_trace(go.Bar(x=parts, y=n_prime.tolist(), name=f"unit {unit}"), row=1, col=2)
    numbers: dict[str, Any] = {"layer": layer, "unit": unit}
    numbers.update({f"N' {part}": int(n_prime[part]) for part in parts})
    for name in nulls:
        null = shares(name, layer).drop(columns="elsewhere")
        reference = (null.quantile(0.95) * top_n).reindex(parts)
        figure.add_trace(
            go.Scatter(
                x=parts,
                y=reference.tolist(),
                mode="markers",
                marker=dict(symbol="line-ew-open", size=22, line_width=3),
                name=f"{name}: 95th percentile of its units",
            ),
            row=1,
            col=2,
        )
        beats = [part for part in parts if n_prime[part] > reference[part]]
        numbers[f"above {name} (95th pct.)"] = ", ".join(beats) or "none"
    figure.update_xaxes(visible=False, row=1, col=1)
    figure.update_yaxes(visible=False, row=1, col=1)
    figure.update_yaxes(range=[0, top_n], row=1, col=2)
    figure.update_layout(
        title=f"{layer} unit {unit}",
        height=300,
        margin=_TIGHT,
        legend=dict(orientation="h", y=-0.15),
    )
    return View(figure, numbers)


def unit_explorer(study: UnitStudy, force: bool | None = None) -> Explorer | None:
    """Chapter 06's explorer: pick the layer and unit (:func:`unit_view`); it opens on
    conv5_3's unit with the largest N' on any part. None unless live (:func:`is_live`;
    ``force`` decides instead)."""
    if not (is_live() if force is None else force):
        return None
    import ipywidgets as widgets

    networks = {"trained": study.stats, **unit_nulls(study)}
    tables: dict[tuple[str, str], Any] = {}

    def shares(network: str, layer: str):
        if (network, layer) not in tables:
            masks = unit_masks(study, layer)
            tables[network, layer] = region_shares(networks[network], layer, masks)
        return tables[network, layer]

    layer = "conv5_3" if "conv5_3" in study.stats.layers else study.stats.layers[-1]
    best = int(shares("trained", layer).drop(columns="elsewhere").max(axis=1).idxmax())
    controls = {
        "layer": widgets.Dropdown(
            options=list(study.stats.layers), value=layer, description="layer"
        ),
        "unit": widgets.BoundedIntText(
            value=best, min=0, max=study.stats.n_units(layer) - 1, description="unit"
        ),
    }

    def adjust(explorer: Explorer) -> None:
        unit = explorer.controls["unit"]
        top = study.stats.n_units(explorer.controls["layer"].value) - 1
        if unit.max != top:
            unit.value = min(unit.value, top)
            unit.max = top

    def render(layer, unit) -> View:
        return unit_view(study, layer, unit, shares=shares)

    return Explorer("Unit explorer", controls, render, adjust)
