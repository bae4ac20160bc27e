"""The networks whose units chapter 06 compares (fine-tuned, before fine-tuning,
random weights) and each one's face-unit statistics on the same faces.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from personality_utils.core import paper
from personality_utils.data.video import first_frame_rows
from personality_utils.models.experiments import checkpoint_key
from personality_utils.models.networks import build_model
from personality_utils.models.training import TrainedModel
from personality_utils.units.activations import (
    UnitStats,
)
from personality_utils.units.passes import unit_statistics
from personality_utils.units.semantics import face_masks


def random_model(
    kind: str, width_divisor: int = 1, batch_norm: bool = False, seed: int = 0
) -> torch.nn.Module:
    """A randomly initialised network of the given shape (the null for N'), in eval mode.

    The global torch random state is left untouched. With batch normalisation the fresh
    running statistics (mean 0, variance 1) make each normalisation nearly the identity.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(kind, width_divisor, batch_norm=batch_norm)
    return model.eval()


def random_like(trained, seed: int = 0):
    """A :class:`~personality_utils.models.training.TrainedModel` with the same architecture, input
    size and normalisation as ``trained`` but random weights: feed it to
    :func:`unit_statistics` for the random-network N'."""

    config = trained.config
    model = random_model(config.kind, config.width_divisor, config.batch_norm, seed)
    model = model.to(next(trained.model.parameters()).device)
    return TrainedModel(model, config, trained.mean.clone(), trained.scale, history=[])


def pretrained_like(trained, seed: int = 0):
    """The network ``trained`` was fine-tuned from, as a
    :class:`~personality_utils.models.training.TrainedModel` with the same architecture,
    configuration and input normalisation: its backbone loaded from
    ``trained.config.backbone_weights`` (the
    identity-pretrained backbone of the CPU profiles, VGG-Face or ImageNet on the paper's), its
    head freshly initialised (``seed``; the units do not depend on it). This is the fair null of
    an emergence claim: what the units were before fine-tuning on the traits.

    Returns:
        The model in eval mode, or None when the trained model started from random weights
        (``backbone_weights`` None): then there is no pretrained network, only the random one.
    """

    config = trained.config
    if config.backbone_weights is None:
        return None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(
            config.kind,
            config.width_divisor,
            backbone_weights=config.backbone_weights,
            batch_norm=config.batch_norm,
        )
    model = model.eval().to(next(trained.model.parameters()).device)
    return TrainedModel(model, config, trained.mean.clone(), trained.scale, history=[])


#: The networks :func:`face_unit_statistics` reads: the trained model, the network it was
#: fine-tuned from (:func:`pretrained_like`) and a random one of its shape (:func:`random_like`).
NETWORKS = ("trained", "pretrained", "random")

#: The test crops a unit study ranks
#: (:attr:`~personality_utils.core.profiles.Profile.unit_population`).
POPULATIONS = ("first_face_per_clip", "all_faces")


def population_rows(meta: pd.DataFrame, population: str) -> np.ndarray:
    """Rows of a face store that a unit or AU study ranks: ``"first_face_per_clip"`` (the
    authors': the first face image of each clip, so F = the clips with a face) or
    ``"all_faces"`` (every crop)."""

    if population == "first_face_per_clip":
        return first_frame_rows(meta)
    if population == "all_faces":
        return np.arange(len(meta))
    raise ValueError(f"population must be one of {POPULATIONS}, got {population!r}")


def study_top_n(population_size: int, top_n: int = paper.UNIT_TOP_N) -> int:
    """N for a population of F images: the paper's 50 where F allows it, else F // 10 (at least
    1), so that a top set is never more than a tenth of the population (the paper's is 2.5%)."""
    return max(1, min(top_n, population_size // 10))


def face_unit_statistics(
    dataset,
    trained,
    checkpoint_dir: str | os.PathLike,
    split: str = "test",
    random_seed: int | None = None,
    top_n: int = paper.UNIT_TOP_N,
    progress: bool = False,
    population: str = "all_faces",
    network: str | None = None,
    dense: bool = False,
) -> UnitStats:
    """Unit statistics of a face model over one split's aligned crops, as chapters 06 and 07
    use them: all thirteen conv layers, the per-face part masks for the IoU of conv4_3 and
    conv5_3 (conv4_3 has the paper's 14x14 conv5_3 grid at 112-pixel input), cached in the
    checkpoint folder (``units-<split>[-first][-random<seed>|-pretrained].npz``) so every
    chapter re-opens the same pass.

    Args:
        dataset: A :class:`~personality_utils.data.datasets.Dataset` with faces.
        trained: The trained face model (DAN+ or a CAM model).
        checkpoint_dir: Its checkpoint folder
            (:func:`~personality_utils.models.experiments.experiment_dir`); retraining invalidates
            the cache.
        split: Which split's crops.
        random_seed: If given, the statistics of a randomly initialised network of the same
            shape (:func:`random_like`) instead of the trained one (the same as
            ``network="random"``).
        top_n: N, top images per unit.
        progress: Show a progress bar.
        population: Which crops (:func:`population_rows`); image indices in the statistics
            count from 0 over that population, in its row order.
        network: Which network's units (:data:`NETWORKS`): ``"trained"``, ``"pretrained"`` (the
            network before fine-tuning, :func:`pretrained_like`) or ``"random"`` (seeded with
            ``random_seed``, 0 when None). None: ``"random"`` if ``random_seed`` is given, else
            ``"trained"``.
        dense: Keep every crop of the population per unit (N = the population, ``top_n``
            ignored) and skip the IoU: what :mod:`~personality_utils.units.emergence` resamples
            (cached as ``units-<split>...-dense.npz``).

    Raises:
        ValueError: For ``network="pretrained"`` when the model started from random weights
            (no ``backbone_weights``), or an unknown network.
    """
    if network is None:
        network = "trained" if random_seed is None else "random"
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")
    face_store = dataset.faces(split)
    rows = population_rows(face_store.meta, population)
    every = population == "all_faces"
    crops = face_store.crops if every else np.asarray(face_store.crops[rows])
    suffix = "" if every else "-first"
    extra = ""
    if network == "trained":
        model = trained
    elif network == "random":
        seed = 0 if random_seed is None else random_seed
        model, suffix = random_like(trained, seed), f"{suffix}-random{seed}"
    else:
        model = pretrained_like(trained)
        if model is None:
            raise ValueError(
                "this model was trained from random weights: there is no pretrained network"
            )
        suffix += "-pretrained"
        extra = f"|{trained.config.backbone_weights}"
    if dense:
        suffix += "-dense"
    key = f"{checkpoint_key(checkpoint_dir)}|{face_store.path.resolve()}|{split}{suffix}{extra}"
    return unit_statistics(
        model,
        crops,
        top_n=len(rows) if dense else top_n,
        iou_layers=() if dense else ("conv4_3", "conv5_3"),
        masks=None
        if dense
        else face_masks(face_store.landmarks[rows], crops.shape[1], trained.config.input_size),
        cache_path=Path(checkpoint_dir) / f"units-{split}{suffix}.npz",
        cache_key=key,
        progress=progress,
    )
