"""Class activation maps and their scores against face boxes.

Chapter 05 uses it: the maps themselves (the CAM model's own, and Grad-CAM / LayerCAM on any of
the models through ``torchcam``), MATLAB's bicubic upsampling the authors applied to them, the
images the authors mapped (the top predicted videos or frames), and the paper's overlap measure
(Section 4.2) with the pointing game and the energy inside the box, summarised with bootstrap
intervals that resample people, not frames. The checks the paper did not run are in
:mod:`~personality_utils.cam.checks`, the face parts in :mod:`~personality_utils.cam.parts`.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
import pandas as pd

from personality_utils.core import paper
from personality_utils.core.stats import N_RESAMPLES, bootstrap_interval, people
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.video import first_frame_rows

__all__ = [
    "upsample",
    "binarise",
    "box_mask",
    "overlap",
    "pointing_game",
    "energy_in_box",
    "class_activation_maps",
    "gradient_maps",
    "top_predicted",
    "top_videos",
    "top_images",
    "score_top",
    "dlib_boxes",
    "score_maps",
    "threshold_curve",
    "summarise_overlap",
]


@functools.lru_cache(maxsize=32)
def _imresize_weights(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) weights of MATLAB's ``imresize`` along one axis when enlarging:
    Keys' cubic kernel (a = -0.5), output pixel i (1-based) centred on input coordinate
    ``i/scale + 0.5·(1 - 1/scale)``, weights normalised to sum to 1, and indices past an edge
    mirrored (MATLAB's ``aux = [1:in, in:-1:1]``)."""
    if out_size < in_size:
        raise ValueError(f"only enlarging is supported ({in_size} -> {out_size})")
    scale = out_size / in_size
    centres = np.arange(1, out_size + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(centres - 2)
    taps = left[:, None] + np.arange(6)[None, :]  # ceil(kernel width 4) + 2 candidates
    distance = np.abs(centres[:, None] - taps)
    kernel = np.where(
        distance <= 1,
        1.5 * distance**3 - 2.5 * distance**2 + 1,
        np.where(distance <= 2, -0.5 * distance**3 + 2.5 * distance**2 - 4 * distance + 2, 0.0),
    )
    kernel /= kernel.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_size), np.arange(in_size)[::-1]])
    columns = mirror[(taps.astype(np.int64) - 1) % len(mirror)]
    weights = np.zeros((out_size, in_size))
    np.add.at(
        weights, (np.repeat(np.arange(out_size), taps.shape[1]), columns.ravel()), kernel.ravel()
    )
    weights.setflags(write=False)  # shared by every call (cached)
    return weights


def upsample(
    cam: np.ndarray, size: int, method: Literal["bicubic", "bilinear"] = "bicubic"
) -> np.ndarray:
    """Upsample a (h, w) map to (size, size).

    ``"bicubic"`` is MATLAB's ``imresize`` (its default method), with which the authors brought
    their 14x14 CAMs to 224x224 (×16): Keys' cubic kernel with a = -0.5 and mirrored edges, not
    PyTorch's a = -0.75. ``"bilinear"`` is PyTorch's (``align_corners=False``).
    """
    cam = np.asarray(cam, dtype=np.float64)
    if cam.ndim != 2:
        raise ValueError(f"expected a (h, w) map, got shape {cam.shape}")
    if method == "bicubic":
        rows = _imresize_weights(cam.shape[0], size)
        columns = _imresize_weights(cam.shape[1], size)
        return (rows @ cam @ columns.T).astype(np.float32)
    if method == "bilinear":
        import torch
        import torch.nn.functional as F

        tensor = torch.as_tensor(cam.astype(np.float32))[None, None]
        resized = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False)
        return resized[0, 0].numpy()
    raise ValueError(f"method must be 'bicubic' or 'bilinear', got {method!r}")


def binarise(
    cam: np.ndarray, fraction: float = paper.CAM_THRESHOLD, mode: Literal["raw", "minmax"] = "raw"
) -> np.ndarray:
    """The paper's M_CAM: pixels at or above ``fraction`` of the map's maximum.

    ``mode="raw"`` thresholds at ``fraction · max`` of the map as it is (the paper's wording;
    negative values can never pass when the maximum is positive). ``mode="minmax"`` first
    rescales the map to [0, 1], so the threshold is ``min + fraction · (max - min)``. A map whose
    maximum is not positive in raw mode has no activated region (an empty mask).
    """
    cam = np.asarray(cam, dtype=np.float64)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if mode == "raw":
        top = cam.max()
        if top <= 0:
            return np.zeros(cam.shape, dtype=bool)
        return cam >= fraction * top
    if mode == "minmax":
        low, high = cam.min(), cam.max()
        if high <= low:
            return np.ones(cam.shape, dtype=bool)
        return (cam - low) / (high - low) >= fraction
    raise ValueError(f"mode must be 'raw' or 'minmax', got {mode!r}")


def box_mask(box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """Boolean (size, size) mask of a (left, top, right, bottom) box; pixel (x, y) is inside
    when its centre (x + 0.5, y + 0.5) is."""
    left, top, right, bottom = (float(v) for v in box)
    centres = np.arange(size) + 0.5
    inside_x = (centres >= left) & (centres <= right)
    inside_y = (centres >= top) & (centres <= bottom)
    return inside_y[:, None] & inside_x[None, :]


def overlap(cam_mask: np.ndarray, face_mask: np.ndarray) -> float:
    """The paper's overlap |M_face ∩ M_CAM| / |M_CAM| (a recall of the map by the face box).

    Returns NaN when the map has no activated pixel.
    """
    cam_mask = np.asarray(cam_mask, dtype=bool)
    face_mask = np.asarray(face_mask, dtype=bool)
    if cam_mask.shape != face_mask.shape:
        raise ValueError(f"mask shapes differ: {cam_mask.shape} and {face_mask.shape}")
    area = cam_mask.sum()
    return float((cam_mask & face_mask).sum() / area) if area else float("nan")


def pointing_game(cam: np.ndarray, face_mask: np.ndarray) -> bool:
    """Whether the map's maximum falls inside the face (ties: any maximal pixel counts)."""
    cam = np.asarray(cam)
    return bool(np.asarray(face_mask, dtype=bool)[cam == cam.max()].any())


def energy_in_box(cam: np.ndarray, face_mask: np.ndarray) -> float:
    """Share of the map's positive mass inside the face (NaN if the map has none)."""
    positive = np.clip(np.asarray(cam, dtype=np.float64), 0, None)
    total = positive.sum()
    return (
        float(positive[np.asarray(face_mask, dtype=bool)].sum() / total) if total else float("nan")
    )


# ----------------------------------------------------------------------------------------------
# Maps from the models
# ----------------------------------------------------------------------------------------------


def class_activation_maps(
    trained, images: np.ndarray, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """The CAM model's maps and predictions for uint8 images.

    Args:
        trained: A :class:`~personality_utils.models.training.TrainedModel` whose network is a
            :class:`~personality_utils.models.networks.CAMModel`.
        images: uint8 (n, h, w, 3) frames or crops (a memory-mapped store is read in batches).

    Returns:
        ``(maps, predictions)``: float32 (n, 5, g, g) CAMs at the conv5_3 resolution (trait
        order of :data:`~personality_utils.core.vocabulary.TRAITS`; raw, signed values) and the (n,
        5) sigmoid predictions of the same forward pass.
    """
    import torch

    model = trained.model.eval()
    if not hasattr(model, "cam"):
        raise TypeError(f"{type(model).__name__} has no CAM head; use gradient_maps for it")
    device = next(model.parameters()).device
    maps, predictions = [], []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            inputs = trained.prepare(images[start : start + batch_size], device)
            cams, logits = model.cam_and_logits(inputs)
            maps.append(cams.float().cpu())
            predictions.append(torch.sigmoid(logits).float().cpu())
    if not maps:
        raise ValueError("no images")
    return torch.cat(maps).numpy(), torch.cat(predictions).numpy()


class _Logits:
    """Wrap a model so that calling it returns its pre-sigmoid outputs (the Grad-CAM target of a
    regression: the sigmoid only squashes it and would shrink the gradients near 0 and 1)."""

    @staticmethod
    def wrap(model):
        import torch

        class Logits(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.model = inner

            def forward(self, images):
                return self.model.logits(images)

        return Logits(model)


def gradient_maps(
    trained,
    images: np.ndarray,
    method: Literal["GradCAM", "GradCAMpp", "LayerCAM", "XGradCAM"] = "GradCAM",
    layer: str = "relu5_3",
    batch_size: int = 32,
    signed: bool = False,
    target_sign: int = 1,
    device=None,
) -> np.ndarray:
    """Gradient-based maps of every trait through ``torchcam`` (no change to the network).

    The target of trait t is the network's pre-sigmoid output t (a regression has no class
    scores; maps explain what raises the predicted score). ``torchcam`` applies its ReLU; maps
    are left unnormalised so that they can be compared with the CAM up to scale.

    Args:
        trained: A :class:`~personality_utils.models.training.TrainedModel` (DAN+ or a CAM model).
        images: uint8 (n, h, w, 3).
        method: ``torchcam.methods`` class name.
        layer: Backbone layer the maps are taken at (its ReLU output, e.g. ``relu5_3``).
        signed: Keep the map's sign: torchcam's final ReLU (applied in ``_CAM.compute_cams``
            when the extractor's ``_relu`` flag is set, which every gradient method sets and no
            public switch clears) is turned off (chapter 05b).
        target_sign: +1 explains each trait's output, -1 its negation (chapter 05b's test).
        device: Where the inputs go (default: the model's device).

    Returns:
        float32 (n, 5, g, g) maps at that layer's resolution.
    """
    import torch
    import torchcam.methods

    model = trained.model.eval()
    names = model.backbone.names
    if layer not in names:
        raise ValueError(f"layer {layer!r} is not in the backbone ({names[0]} ... {names[-1]})")
    wrapper = _Logits.wrap(model)
    target = f"model.backbone.features.{names.index(layer)}"
    device = next(model.parameters()).device if device is None else device
    out = []
    extractor_class = getattr(torchcam.methods, method)
    with extractor_class(wrapper, target_layer=target) as extractor:
        if signed:
            extractor._relu = False
        for start in range(0, len(images), batch_size):
            inputs = trained.prepare(images[start : start + batch_size], device)
            inputs.requires_grad_(True)  # a graph even if the parameters are frozen
            scores = wrapper(inputs) if target_sign == 1 else -wrapper(inputs)
            per_trait = []
            for trait in range(scores.shape[1]):
                last = trait == scores.shape[1] - 1
                maps = extractor(
                    class_idx=trait, scores=scores, normalized=False, retain_graph=not last
                )[0]
                per_trait.append(maps.detach().float().cpu())
            out.append(torch.stack(per_trait, dim=1))
    if not out:
        raise ValueError("no images")
    return torch.cat(out).numpy()


def top_predicted(
    predictions: np.ndarray, n: int = paper.CAM_TOP_IMAGES, eligible=None
) -> dict[str, np.ndarray]:
    """For each trait, the rows of the ``n`` highest predicted values (the paper's "50 images
    that give the highest predicted value"), highest first; ties go to the lower row.

    Args:
        predictions: (rows, 5) predicted trait scores.
        eligible: Optional boolean (rows,) mask: only these rows compete (e.g. frames where a
            face was detected, since the overlap needs a face box).
    """

    predictions = np.asarray(predictions, dtype=np.float64)
    rows = np.arange(len(predictions))
    if eligible is not None:
        rows = rows[np.asarray(eligible, dtype=bool)]
    out = {}
    for column, trait in enumerate(TRAITS):
        order = np.lexsort((rows, -predictions[rows, column]))
        out[trait] = rows[order[:n]]
    return out


def top_videos(
    meta: pd.DataFrame, predictions: np.ndarray, n: int = paper.CAM_TOP_IMAGES
) -> dict[str, np.ndarray]:
    """The authors' CAM images: for each trait, the clips ranked by their predicted score (the
    mean of their frames' predictions, as the clip score of the challenge), highest first, and
    the row of each top-``n`` clip's first stored frame (their ``1.jpg``;
    :func:`~personality_utils.data.video.first_frame_rows`). Ties go to the clip name.

    Args:
        meta: One row per image (``clip`` and ``frame_index``): a frame or face store's meta.
        predictions: (rows, 5) predictions of those images.

    Returns:
        ``{trait: rows}``, highest-ranked clip first.
    """

    predictions = np.asarray(predictions, dtype=np.float64)
    if len(predictions) != len(meta):
        raise ValueError(f"{len(predictions)} predictions for {len(meta)} images")
    table = pd.DataFrame(predictions, columns=list(TRAITS))
    table["clip"] = meta["clip"].to_numpy()
    clip_scores = table.groupby("clip", sort=True)[list(TRAITS)].mean()  # clip name order
    first = first_frame_rows(meta)  # the same clip order
    names = clip_scores.index.to_numpy()
    out = {}
    for trait in TRAITS:
        order = np.lexsort((names, -clip_scores[trait].to_numpy()))
        out[trait] = first[order[:n]]
    return out


def top_images(
    meta: pd.DataFrame,
    predictions: np.ndarray,
    n: int = paper.CAM_TOP_IMAGES,
    ranking: Literal["videos", "frames"] = "videos",
    eligible: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The images chapter 05 maps per trait: :func:`top_videos` (the authors') or
    :func:`top_predicted` among the ``eligible`` rows (frames with a face box)."""
    if ranking == "videos":
        return top_videos(meta, predictions, n)
    if ranking == "frames":
        return top_predicted(predictions, n, eligible)
    raise ValueError(f"ranking must be 'videos' or 'frames', got {ranking!r}")


def score_top(
    maps: np.ndarray,
    tops: dict[str, np.ndarray],
    boxes: np.ndarray,
    size: int,
    clips: np.ndarray,
    upsampling: Literal["bicubic", "bilinear"] = "bicubic",
    fraction: float = paper.CAM_THRESHOLD,
    mode: Literal["raw", "minmax"] = "raw",
) -> pd.DataFrame:
    """:func:`score_maps` for each trait's top images: the map of trait t of each of its rows.

    Args:
        maps: (rows, 5, g, g) maps of every image.
        tops: ``{trait: rows}`` (:func:`top_images`).
        boxes: (rows, 4) face boxes; a row with no box scores NaN.
        clips: Clip name of every row.

    Returns:
        One row per mapped image: the scores plus ``trait``, ``clip`` and ``row``.
    """

    parts = []
    for t, trait in enumerate(TRAITS):
        rows = np.asarray(tops[trait], dtype=np.int64)
        scored = score_maps(maps[rows, t], boxes[rows], size, fraction, mode, upsampling)
        scored["trait"], scored["clip"], scored["row"] = trait, np.asarray(clips)[rows], rows
        parts.append(scored)
    return pd.concat(parts, ignore_index=True)


def dlib_boxes(store) -> np.ndarray:
    """dlib's face boxes (left, top, right, bottom) in frame-store pixels, NaN where no face."""
    if store.detections is None:
        raise ValueError(f"{store.path}: this frame store was built without faces")
    return np.asarray(store.detections["box_store"], dtype=np.float64)


def score_maps(
    maps: np.ndarray,
    boxes: np.ndarray,
    size: int,
    fraction: float = paper.CAM_THRESHOLD,
    mode: Literal["raw", "minmax"] = "raw",
    upsampling: Literal["bicubic", "bilinear"] = "bicubic",
) -> pd.DataFrame:
    """Score maps against face boxes the paper's way, plus pointing game and energy.

    Args:
        maps: (n, g, g) maps at any resolution; each is upsampled to ``size`` first
            (:func:`upsample` with ``upsampling``; the authors' is bicubic), as the authors did
            before binarising.
        boxes: (n, 4) face boxes (left, top, right, bottom) in the ``size`` x ``size`` frame;
            rows with a NaN box get NaN scores.
        fraction, mode: The binarisation (see :func:`binarise`).

    Returns:
        One row per map: ``overlap`` (the paper's), ``pointing`` (1.0 if the maximum is in the
        box), ``energy`` (positive mass in the box), ``cam_area`` (share of the frame in
        M_CAM) and ``box_area`` (share of the frame in the box: the overlap a map with no
        preference for faces would get on average).
    """
    maps = np.asarray(maps)
    boxes = np.asarray(boxes, dtype=np.float64)
    if len(maps) != len(boxes):
        raise ValueError(f"{len(maps)} maps but {len(boxes)} boxes")
    rows = []
    for cam_map, box in zip(maps, boxes, strict=True):
        if not np.isfinite(box).all():
            rows.append(dict.fromkeys(("overlap", "pointing", "energy", "cam_area"), np.nan))
            rows[-1]["box_area"] = np.nan
            continue
        full = upsample(cam_map, size, upsampling) if cam_map.shape != (size, size) else cam_map
        face = box_mask(box, size)
        activated = binarise(full, fraction, mode)
        rows.append(
            {
                "overlap": overlap(activated, face),
                "pointing": float(pointing_game(full, face)),
                "energy": energy_in_box(full, face),
                "cam_area": float(activated.mean()),
                "box_area": float(face.mean()),
            }
        )
    return pd.DataFrame(rows)


def threshold_curve(
    maps: np.ndarray,
    boxes: np.ndarray,
    size: int,
    fractions=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
    modes=("raw", "minmax"),
    upsampling: Literal["bicubic", "bilinear"] = "bicubic",
) -> pd.DataFrame:
    """Share of maps with overlap ≥ 0.9 and mean overlap at several binarisation thresholds."""
    rows = []
    for mode in modes:
        for fraction in fractions:
            scored = score_maps(maps, boxes, size, fraction, mode, upsampling)["overlap"].dropna()
            rows.append(
                {
                    "mode": mode,
                    "fraction": fraction,
                    "share_ge_0_9": float((scored >= paper.CAM_SHARE_OVERLAP).mean()),
                    "mean_overlap": float(scored.mean()),
                    "maps": len(scored),
                }
            )
    return pd.DataFrame(rows)


def summarise_overlap(
    scores: pd.DataFrame,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
    by: str | None = "trait",
) -> pd.DataFrame:
    """The paper's two figures (share of overlap ≥ 0.9, mean overlap), the pointing game and
    the energy in the box, with bootstrap intervals that resample people (the YouTube ids of
    the maps' clips: :func:`~personality_utils.core.stats.bootstrap_interval`), overall and per
    ``by`` value.

    Args:
        scores: Output of :func:`score_maps` with ``clip`` (and ``by``) columns added.
    """

    def one(frame: pd.DataFrame) -> dict:
        persons = people(frame["clip"].to_numpy())
        row = {"maps": int(frame["overlap"].notna().sum())}
        overlaps = frame["overlap"].to_numpy(dtype=np.float64)
        measures = {
            "share_ge_0_9": np.where(
                np.isnan(overlaps), np.nan, overlaps >= paper.CAM_SHARE_OVERLAP
            ),
            "mean_overlap": overlaps,
            "pointing_game": frame["pointing"].to_numpy(dtype=np.float64),
            "energy_in_box": frame["energy"].to_numpy(dtype=np.float64),
            "box_area": frame["box_area"].to_numpy(dtype=np.float64),
        }
        for name, column in measures.items():
            estimate, low, high = bootstrap_interval(column, persons, n_boot, seed)
            row[name], row[f"{name}_low"], row[f"{name}_high"] = estimate, low, high
        return row

    rows = {"all": one(scores)}
    if by is not None:
        for value, frame in scores.groupby(by, sort=False):
            rows[value] = one(frame)
    return pd.DataFrame(rows).T
