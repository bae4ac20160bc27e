"""The study's vocabulary: the Big Five in the paper's order, the splits, the attribution
methods chapter 05b compares, the one error every bad input raises, and a clip's person (its
YouTube video).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

__all__ = [
    "TRAITS",
    "TRAIT_LETTERS",
    "SPLITS",
    "ATTRIBUTION_METHODS",
    "DataError",
    "video_id",
]

#: The Big Five in the paper's table order (O, C, E, A, N). Always map by name.
TRAITS: tuple[str, ...] = (
    "openness",
    "conscientiousness",
    "extraversion",
    "agreeableness",
    "neuroticism",
)
TRAIT_LETTERS: dict[str, str] = {trait: trait[0].upper() for trait in TRAITS}
SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: The attribution methods of chapter 05b, in its tables' order: the CAM (CAM models only), three
#: CAM-family maps (torchcam) and four input-level ones (captum). The claims name a row after
#: each (:mod:`personality_utils.claims.attribution_rows`);
#: :mod:`personality_utils.attribution.methods` computes them.
ATTRIBUTION_METHODS: tuple[str, ...] = (
    "CAM",
    "Grad-CAM",
    "Grad-CAM++",
    "LayerCAM",
    "Integrated Gradients",
    "Saliency",
    "Occlusion",
    "Feature ablation",
)


class DataError(ValueError):
    """A dataset file is missing, malformed, inconsistent or refused as unsafe; the message
    names the file, the problem and what to do, on one line.

    Every input the package refuses raises a subclass (:class:`UnsafePickleError`,
    :class:`UnsafeZipError`, :class:`~personality_utils.models.networks.WeightsError`,
    :class:`~personality_utils.aus.openface.OpenFaceError`); the command line prints the message and
    exits with status 2, never a traceback.
    """


def video_id(clip: str) -> str:
    """The YouTube id of a clip name (the part before the clip number)."""
    return clip.split(".")[0]
