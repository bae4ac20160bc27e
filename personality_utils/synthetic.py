"""The planted-signal synthetic First Impressions: talking faces whose traits we know the cause of.

Chapter 01 introduces it; every later chapter checks its interpretability claims against the
ground truth written here. The generator writes the official layout (mp4 clips named like
``J4GQm9j0JZ0.003.mp4`` and the three ``annotation_*.pkl`` files) so that the real reading code
runs end to end, plus a sidecar with every frame's landmarks, face box and AU intensities, and
the weights that generated the labels.

How a clip is made: a face is drawn from the 68-point iBUG layout (a mean shape measured with
dlib's own predictor on real photos), deformed by the 17 action units of the paper, posed
(scale, position, roll) and rendered with shading over a room scene that holds one context cue
(a coloured poster). The Big Five labels are a fixed linear function of the clip-mean AU
intensities, of wearing glasses and of the poster's strength, plus noise (see
:data:`TRAIT_WEIGHTS` and :func:`trait_scores`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .data import ANNOTATION_FILES, SPLITS, TRAITS, write_atomic
from .profiles import Profile, get_profile

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "store_boxes",
    "AU_IDS",
    "AU_NAMES",
    "AU_REGIONS",
    "REGIONS",
    "FEATURES",
    "TRAIT_WEIGHTS",
    "NOISE_SHARE",
    "MEAN_SHAPE",
    "MIRROR",
    "GENERATOR_VERSION",
    "ClipRecipe",
    "deform",
    "trait_scores",
    "planted_shares",
    "make_clip_recipe",
    "render_clip",
    "render_samples",
    "generate_dataset",
    "ensure_dataset",
    "default_cache_dir",
    "load_ground_truth",
    "load_frame_truth",
    "frame_intensities",
    "clip_landmarks",
    "face_box",
    "dataset_key",
    "landmark_agreement",
    "label_fit",
    "true_eye_alignment_errors",
    "fit_labels",
]

GENERATOR_VERSION = 4

#: The paper's 17 AUs, OpenFace's intensity set.
AU_IDS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
AU_NAMES: dict[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    9: "nose wrinkler",
    10: "upper lip raiser",
    12: "lip corner puller",
    14: "dimpler",
    15: "lip corner depressor",
    17: "chin raiser",
    20: "lip stretcher",
    23: "lip tightener",
    25: "lips part",
    26: "jaw drop",
    45: "blink",
}
#: The face part each AU moves (the masks of chapters 02 and 06 use the same four parts).
AU_REGIONS: dict[int, str] = {
    1: "eyebrows",
    2: "eyebrows",
    4: "eyebrows",
    5: "eyes",
    6: "eyes",
    7: "eyes",
    9: "nose",
    10: "mouth",
    12: "mouth",
    14: "mouth",
    15: "mouth",
    17: "mouth",
    20: "mouth",
    23: "mouth",
    25: "mouth",
    26: "mouth",
    45: "eyes",
}
REGIONS: tuple[str, ...] = ("eyes", "eyebrows", "nose", "mouth", "glasses", "context")

#: Label features: the 17 clip-mean AU intensities, glasses, and the poster in the background.
FEATURES: tuple[str, ...] = tuple(f"AU{au:02d}" for au in AU_IDS) + ("glasses", "context_cue")

#: Planted weights on standardised features (before the overall scaling, see trait_scores).
#: Openness is driven mostly by the context cue, outside the face; conscientiousness by glasses.
TRAIT_WEIGHTS: dict[str, dict[str, float]] = {
    "openness": {"context_cue": 0.80, "AU02": 0.35, "AU05": 0.30},
    "conscientiousness": {"glasses": 0.70, "AU45": -0.40, "AU23": 0.35, "AU14": 0.25},
    "extraversion": {"AU12": 0.60, "AU25": 0.40, "AU26": 0.35, "AU06": 0.35},
    "agreeableness": {"AU12": 0.50, "AU15": -0.45, "AU04": -0.40, "AU09": -0.30},
    "neuroticism": {"AU04": 0.50, "AU01": 0.45, "AU20": 0.40, "AU07": 0.30},
}
#: Share of each label's variance that is noise: no image model can explain it.
NOISE_SHARE = 0.3
#: Spread of the labels around 0.5 (the real ones have a std of about 0.14-0.155).
LABEL_STD = 0.15
#: Labels are quantised like the real ones (k/107 for E, ...).
LABEL_STEPS = {
    "extraversion": 107,
    "neuroticism": 96,
    "agreeableness": 91,
    "conscientiousness": 103,
    "openness": 90,
}

# Clip-mean AU intensities are 5·Beta(a, b); the moments standardise the features.
_AU_BETA = (1.6, 3.4)
_AU_MEAN = 5 * _AU_BETA[0] / sum(_AU_BETA)
_AU_STD = 5 * math.sqrt(_AU_BETA[0] * _AU_BETA[1] / (sum(_AU_BETA) ** 2 * (sum(_AU_BETA) + 1)))
_GLASSES_P = 0.35

#: Mean iBUG-68 shape in inter-ocular units (eye centres at (-0.5, 0) and (0.5, 0), y down),
#: measured with dlib's predictor on 34 real faces (tools/derive_mean_shape.py) and symmetrised.
MEAN_SHAPE = np.array(
    [
        (-1.149, -0.020),
        (-1.139, 0.287),
        (-1.103, 0.594),
        (-1.048, 0.899),
        (-0.945, 1.181),
        (-0.770, 1.431),
        (-0.539, 1.635),
        (-0.282, 1.794),
        (0.000, 1.846),
        (0.282, 1.794),
        (0.539, 1.635),
        (0.770, 1.431),
        (0.945, 1.181),
        (1.048, 0.899),
        (1.103, 0.594),
        (1.139, 0.287),
        (1.149, -0.020),
        (-0.929, -0.243),
        (-0.786, -0.363),
        (-0.589, -0.402),
        (-0.385, -0.379),
        (-0.196, -0.304),
        (0.196, -0.304),
        (0.385, -0.379),
        (0.589, -0.402),
        (0.786, -0.363),
        (0.929, -0.243),
        (0.000, -0.058),
        (0.000, 0.151),
        (0.000, 0.358),
        (0.000, 0.572),
        (-0.235, 0.694),
        (-0.121, 0.736),
        (0.000, 0.772),
        (0.121, 0.736),
        (0.235, 0.694),
        (-0.703, -0.005),
        (-0.571, -0.047),
        (-0.428, -0.049),
        (-0.289, 0.013),
        (-0.432, 0.044),
        (-0.577, 0.044),
        (0.289, 0.013),
        (0.428, -0.049),
        (0.571, -0.047),
        (0.703, -0.005),
        (0.577, 0.044),
        (0.432, 0.044),
        (-0.465, 1.037),
        (-0.296, 0.974),
        (-0.130, 0.946),
        (0.000, 0.975),
        (0.130, 0.946),
        (0.296, 0.974),
        (0.465, 1.037),
        (0.303, 1.208),
        (0.140, 1.280),
        (0.000, 1.295),
        (-0.140, 1.280),
        (-0.303, 1.208),
        (-0.392, 1.048),
        (-0.131, 1.039),
        (0.000, 1.053),
        (0.131, 1.039),
        (0.392, 1.048),
        (0.134, 1.121),
        (0.000, 1.137),
        (-0.134, 1.121),
    ],
    dtype=np.float64,
)
# A neutral face keeps its lips closed: inner lips meet half-way.
MEAN_SHAPE[[61, 62, 63]] = MEAN_SHAPE[[61, 62, 63]] * [1, 0] + [0, 1.070]
MEAN_SHAPE[[67, 66, 65]] = MEAN_SHAPE[[67, 66, 65]] * [1, 0] + [0, 1.080]

#: Index of each landmark's mirror image (left-right flip of the face).
MIRROR = [
    16,
    15,
    14,
    13,
    12,
    11,
    10,
    9,
    8,
    7,
    6,
    5,
    4,
    3,
    2,
    1,
    0,
    26,
    25,
    24,
    23,
    22,
    21,
    20,
    19,
    18,
    17,
    27,
    28,
    29,
    30,
    35,
    34,
    33,
    32,
    31,
    45,
    44,
    43,
    42,
    47,
    46,
    39,
    38,
    37,
    36,
    41,
    40,
    54,
    53,
    52,
    51,
    50,
    49,
    48,
    59,
    58,
    57,
    56,
    55,
    64,
    63,
    62,
    61,
    60,
    67,
    66,
    65,
]


# ----------------------------------------------------------------------------------------------
# Action units as landmark displacements
# ----------------------------------------------------------------------------------------------


def _displacements() -> dict[int, np.ndarray]:
    """Displacement of each landmark per unit of AU intensity (inter-ocular units, y down).

    Written for the subject's right side and mirrored, so every AU is symmetric.
    """
    fields: dict[int, np.ndarray] = {}

    def field(moves: dict[int, tuple[float, float]], symmetric: bool = True) -> np.ndarray:
        array = np.zeros((68, 2))
        for index, (dx, dy) in moves.items():
            array[index] += (dx, dy)
            if symmetric and MIRROR[index] != index:
                array[MIRROR[index]] += (-dx, dy)
        return array

    fields[1] = field({21: (0, -0.022), 20: (0, -0.016), 19: (0, -0.007)})
    fields[2] = field({17: (0, -0.022), 18: (0, -0.020), 19: (0, -0.012)})
    fields[4] = field(
        {
            17: (0.002, 0.008),
            18: (0.004, 0.012),
            19: (0.006, 0.016),
            20: (0.010, 0.020),
            21: (0.012, 0.022),
        }
    )
    fields[5] = field({37: (0, -0.008), 38: (0, -0.008)})
    fields[6] = field({40: (0, -0.006), 41: (0, -0.006), 48: (0, -0.005)})
    fields[7] = field({40: (0, -0.007), 41: (0, -0.007), 37: (0, 0.003), 38: (0, 0.003)})
    fields[9] = field(
        {
            31: (0.004, -0.014),
            32: (0, -0.012),
            33: (0, -0.010),
            21: (0, 0.008),
            49: (0, -0.008),
            50: (0, -0.008),
            51: (0, -0.006),
            61: (0, -0.004),
        }
    )
    fields[10] = field(
        {49: (0, -0.016), 50: (0, -0.018), 51: (0, -0.018), 61: (0, -0.012), 62: (0, -0.012)}
    )
    fields[12] = field(
        {
            48: (-0.022, -0.026),
            60: (-0.020, -0.024),
            49: (-0.010, -0.010),
            59: (-0.010, -0.010),
            61: (-0.006, -0.006),
            67: (-0.006, -0.004),
        }
    )
    fields[14] = field({48: (0.008, -0.004), 60: (0.008, -0.004)})
    fields[15] = field({48: (-0.004, 0.026), 60: (-0.004, 0.022), 59: (0, 0.010), 49: (0, 0.006)})
    fields[17] = field(
        {
            57: (0, -0.014),
            58: (0, -0.012),
            66: (0, -0.012),
            67: (0, -0.010),
            7: (0, -0.008),
            8: (0, -0.012),
        }
    )
    fields[20] = field(
        {
            48: (-0.028, 0.006),
            60: (-0.026, 0.006),
            59: (-0.012, 0.004),
            49: (-0.012, 0.0),
            67: (-0.008, 0.004),
            61: (-0.008, 0.0),
        }
    )
    fields[23] = field(
        {
            49: (0.004, 0.010),
            50: (0, 0.012),
            51: (0, 0.012),
            59: (0.004, -0.010),
            58: (0, -0.012),
            57: (0, -0.012),
            48: (0.008, 0),
            60: (0.006, 0),
        }
    )
    fields[25] = field(
        {
            66: (0, 0.024),
            67: (0, 0.020),
            57: (0, 0.016),
            58: (0, 0.014),
            59: (0, 0.008),
            62: (0, -0.004),
            61: (0, -0.003),
        }
    )
    fields[26] = field(
        {
            8: (0, 0.040),
            7: (0, 0.036),
            9: (0, 0.036),
            6: (0, 0.026),
            5: (0, 0.014),
            4: (0, 0.005),
            57: (0, 0.036),
            58: (0, 0.032),
            59: (0, 0.020),
            66: (0, 0.034),
            67: (0, 0.030),
            48: (0, 0.008),
        }
    )
    fields[45] = field({37: (0, 0.0187), 38: (0, 0.0187)})
    return fields


#: How strongly each AU moves the face. The fields above are written at a subtle, photographic
#: scale; at the CPU profiles' 112-pixel input that moves a lip corner by about a pixel, which
#: no small network learns in a few epochs. The gain makes an intensity-5 expression a strong
#: one (a smile lifts the corners by about a quarter of the inter-ocular distance) while dlib
#: still fits the face (chapter 01 measures it). The eyelid AUs keep their scale: the eye
#: opening is under a tenth of the inter-ocular distance, so a larger gain shuts the eyes of
#: most faces and dlib loses them (measured: detection fell from about 97% to 90%, worst on
#: dark skin); the blink is exact already (5 closes the eye) and the cheek raiser also flushes
#: the cheeks. The jaw drop is capped lower so the mouth stays inside a plausible range.
AU_GAIN = {au: 1.0 if au in (6, 7, 45) else 1.5 if au in (5, 26) else 2.5 for au in AU_IDS}
_AU_FIELDS = {au: AU_GAIN[au] * field for au, field in _displacements().items()}


def deform(shape: np.ndarray, intensities: np.ndarray) -> np.ndarray:
    """Move a 68-point shape by AU intensities (0-5, in :data:`AU_IDS` order).

    The AUs act as a linear blend of displacement fields; upper eyelids are then kept above the
    lower ones and the inner lips never cross, so a full blink closes the eye exactly.
    """
    intensities = np.asarray(intensities, dtype=np.float64)
    if intensities.shape != (len(AU_IDS),):
        raise ValueError(f"expected {len(AU_IDS)} AU intensities, got shape {intensities.shape}")
    moved = np.array(shape, dtype=np.float64, copy=True)
    for au, value in zip(AU_IDS, np.clip(intensities, 0, 5)):
        moved += value * _AU_FIELDS[au]
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        moved[upper, 1] = min(moved[upper, 1], moved[lower, 1])
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        moved[lower, 1] = max(moved[lower, 1], moved[upper, 1])
    return moved


# ----------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------


def _standardise(features: dict[str, float]) -> np.ndarray:
    values = []
    for name in FEATURES:
        value = features[name]
        if name.startswith("AU"):
            values.append((value - _AU_MEAN) / _AU_STD)
        elif name == "glasses":
            values.append((value - _GLASSES_P) / math.sqrt(_GLASSES_P * (1 - _GLASSES_P)))
        else:  # context cue ~ U(0, 1)
            values.append((value - 0.5) / math.sqrt(1 / 12))
    return np.array(values)


def _weight_matrix() -> np.ndarray:
    """Weights (5 traits x features) scaled so each label's signal has variance 1 - noise."""
    matrix = np.zeros((len(TRAITS), len(FEATURES)))
    for row, trait in enumerate(TRAITS):
        for name, weight in TRAIT_WEIGHTS[trait].items():
            matrix[row, FEATURES.index(name)] = weight
        matrix[row] *= math.sqrt(1 - NOISE_SHARE) / np.linalg.norm(matrix[row])
    return matrix


def trait_scores(features: dict[str, float], noise: np.ndarray) -> dict[str, float]:
    """The labels of one clip: ``0.5 + 0.15·(W·z + sqrt(noise share)·ε)``, clipped, quantised.

    Args:
        features: Clip-mean AU intensities (``AU01`` ...), ``glasses`` (0/1), ``context_cue``
            (0-1).
        noise: Five standard normal draws, one per trait.

    Returns:
        ``{trait: score in [0, 1]}``, quantised to the real labels' steps.
    """
    z = _standardise(features)
    raw = 0.5 + LABEL_STD * (_weight_matrix() @ z + math.sqrt(NOISE_SHARE) * np.asarray(noise))
    scores = {}
    for trait, value in zip(TRAITS, raw):
        steps = LABEL_STEPS[trait]
        scores[trait] = round(float(np.clip(value, 0, 1)) * steps) / steps
    return scores


def planted_shares() -> dict[str, dict[str, float]]:
    """For each trait, the share of its label variance planted in each region and in noise.

    Features are independent and standardised, so a feature's share is its squared weight.
    """
    matrix = _weight_matrix()
    shares = {}
    for row, trait in enumerate(TRAITS):
        share = {region: 0.0 for region in REGIONS}
        for column, name in enumerate(FEATURES):
            if name.startswith("AU"):
                region = AU_REGIONS[int(name[2:])]
            elif name == "glasses":
                region = "glasses"
            else:
                region = "context"
            share[region] += float(matrix[row, column] ** 2)
        share["noise"] = NOISE_SHARE
        shares[trait] = share
    return shares


# ----------------------------------------------------------------------------------------------
# One clip's recipe
# ----------------------------------------------------------------------------------------------

_SKIN = np.array(
    [
        (247, 219, 196),
        (235, 194, 160),
        (214, 164, 126),
        (186, 131, 94),
        (150, 100, 70),
        (110, 72, 50),
        (240, 205, 180),
        (200, 150, 110),
    ]
)
_HAIR = np.array(
    [
        (25, 20, 18),
        (60, 40, 28),
        (105, 72, 40),
        (170, 130, 80),
        (210, 180, 120),
        (140, 60, 30),
        (120, 120, 120),
        (45, 35, 30),
    ]
)
_LIPS = np.array([(170, 80, 80), (150, 70, 70), (190, 100, 100), (120, 60, 55)])
_IRIS = np.array([(60, 40, 25), (70, 110, 150), (80, 110, 70), (40, 30, 25)])


@dataclass
class ClipRecipe:
    """Everything that decides one synthetic clip (identity, scene, expression, labels)."""

    clip: str
    split: str
    seed: int
    n_frames: int
    fps: float
    width: int
    height: int
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_long: bool
    lips: tuple[int, int, int]
    iris: tuple[int, int, int]
    shirt: tuple[int, int, int]
    shape_modes: tuple[float, float, float, float]
    glasses: bool
    inter_ocular: float
    centre: tuple[float, float]
    roll: float
    light: tuple[float, float]
    wall: tuple[int, int, int]
    context_cue: float
    poster_side: int
    au_means: tuple[float, ...]
    scene_seed: int
    labels: dict[str, float]
    features: dict[str, float]


def _video_ids(rng: np.random.Generator, n: int) -> list[str]:
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    return ["".join(rng.choice(alphabet, 11)) for _ in range(n)]


def make_clip_recipe(
    rng: np.random.Generator,
    clip: str,
    split: str,
    identity: dict,
    profile: Profile,
) -> ClipRecipe:
    """Draw one clip's pose, expression, context cue and frames, and compute its labels.

    Identity (face shape, skin, hair, glasses, room) comes from ``identity`` and is shared by
    the clips of one video id, as in the real set; everything else is drawn per clip.
    """
    width, height = profile.synthetic_frame_size
    fps = float(rng.choice(profile.synthetic_fps))
    seconds = rng.uniform(*profile.synthetic_seconds)
    n_frames = max(12, int(round(seconds * fps)))
    inter_ocular = float(rng.uniform(0.10, 0.13) * width)
    face_height = 3.3 * inter_ocular  # forehead top to chin
    centre = (
        float(rng.uniform(0.38, 0.62) * width),
        float(
            np.clip(
                rng.uniform(0.36, 0.46) * height, face_height * 0.5, height - 2.0 * inter_ocular
            )
        ),
    )
    au_means = 5 * rng.beta(*_AU_BETA, size=len(AU_IDS))
    context_cue = float(rng.uniform(0, 1))
    seed = int(rng.integers(2**31))
    recipe = ClipRecipe(
        clip=clip,
        split=split,
        seed=seed,
        n_frames=n_frames,
        fps=fps,
        width=width,
        height=height,
        skin=identity["skin"],
        hair=identity["hair"],
        hair_long=identity["hair_long"],
        lips=identity["lips"],
        iris=identity["iris"],
        shirt=identity["shirt"],
        shape_modes=identity["shape_modes"],
        glasses=identity["glasses"],
        inter_ocular=inter_ocular,
        centre=centre,
        roll=float(rng.uniform(-8, 8)),
        light=tuple(float(v) for v in rng.uniform(-1, 1, 2)),
        wall=identity["wall"],
        context_cue=context_cue,
        poster_side=int(rng.choice([-1, 1])),
        au_means=tuple(float(v) for v in au_means),
        scene_seed=identity["scene_seed"],
        labels={},
        features={},
    )
    intensities = frame_intensities(recipe)
    features = {f"AU{au:02d}": float(intensities[:, i].mean()) for i, au in enumerate(AU_IDS)}
    features["glasses"] = float(recipe.glasses)
    features["context_cue"] = context_cue
    recipe.features = features
    recipe.labels = trait_scores(features, rng.standard_normal(len(TRAITS)))
    return recipe


def _identity(rng: np.random.Generator) -> dict:
    def pick(palette: np.ndarray, jitter: int) -> tuple[int, int, int]:
        colour = palette[rng.integers(len(palette))] + rng.integers(-jitter, jitter + 1, 3)
        return tuple(int(v) for v in np.clip(colour, 0, 255))

    return {
        "skin": pick(_SKIN, 10),
        "hair": pick(_HAIR, 12),
        "hair_long": bool(rng.random() < 0.45),
        "lips": pick(_LIPS, 12),
        "iris": pick(_IRIS, 10),
        "shirt": tuple(int(v) for v in rng.integers(20, 235, 3)),
        "shape_modes": tuple(float(v) for v in rng.uniform(-1, 1, 4)),
        "glasses": bool(rng.random() < _GLASSES_P),
        "wall": tuple(int(v) for v in rng.integers(90, 220, 3)),
        "scene_seed": int(rng.integers(2**31)),
    }


def frame_intensities(recipe: ClipRecipe) -> np.ndarray:
    """Per-frame AU intensities (n_frames x 17): the clip means with slow drift, speech on
    AU25/26 and blinks on AU45, whose clip mean sets how often the person blinks."""
    rng = np.random.default_rng(recipe.seed + 1)
    n = recipe.n_frames
    time = np.arange(n) / recipe.fps
    values = np.zeros((n, len(AU_IDS)))
    for i, (au, mean) in enumerate(zip(AU_IDS, recipe.au_means)):
        if au == 45:
            blink = (rng.random(n) < mean / 5).astype(float)
            values[:, i] = 5 * blink
            continue
        phase = rng.uniform(0, 2 * np.pi)
        if au in (25, 26):  # speech: syllables at 3-5 Hz
            rate = rng.uniform(3, 5)
            wave = np.sin(2 * np.pi * rate * time + phase)
            values[:, i] = mean * (1 + 0.6 * wave)
        else:
            drift = np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * time + phase)
            values[:, i] = mean * (1 + 0.15 * drift)
    return np.clip(values, 0, 5)


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------


def _identity_shape(modes: tuple[float, float, float, float]) -> np.ndarray:
    """The mean shape with four smooth identity modes: face width, face length, nose length,
    mouth width (each about ±6%)."""
    shape = MEAN_SHAPE.copy()
    width, length, nose, mouth = modes
    shape[0:17, 0] *= 1 + 0.06 * width
    shape[0:17, 1] = np.where(
        shape[0:17, 1] > 0, shape[0:17, 1] * (1 + 0.06 * length), shape[0:17, 1]
    )
    shape[30:36, 1] *= 1 + 0.06 * nose
    shape[48:68, 0] *= 1 + 0.06 * mouth
    return shape


def _pose(shape: np.ndarray, inter_ocular: float, centre, roll_degrees: float) -> np.ndarray:
    angle = math.radians(roll_degrees)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return shape @ rotation.T * inter_ocular + np.asarray(centre)


def _scene(recipe: ClipRecipe) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The room behind the person (static over the clip) and the poster's box."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(recipe.scene_seed)
    width, height = recipe.width, recipe.height
    wall = np.array(recipe.wall, dtype=np.float64)
    shade = (
        np.linspace(0.85, 1.1, width)[None, :, None] * np.linspace(1.05, 0.9, height)[:, None, None]
    )
    image = np.clip(wall[None, None] * shade, 0, 255).astype(np.uint8)
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    floor = int(height * rng.uniform(0.72, 0.85))
    draw.rectangle([0, floor, width, height], fill=tuple(int(v) for v in rng.integers(40, 140, 3)))
    for _ in range(int(rng.integers(2, 5))):  # furniture, shelves, a door: muted colours
        x0 = rng.uniform(-0.1, 0.9) * width
        y0 = rng.uniform(0.05, 0.7) * height
        w = rng.uniform(0.08, 0.3) * width
        h = rng.uniform(0.1, 0.5) * height
        colour = tuple(
            int(v) for v in np.clip(wall * rng.uniform(0.5, 0.9) + rng.integers(-20, 20, 3), 0, 255)
        )
        draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        for shelf in range(int(rng.integers(0, 4))):
            y = y0 + (shelf + 1) * h / 4
            draw.line([x0, y, x0 + w, y], fill=tuple(int(c * 0.7) for c in colour), width=2)
    if rng.random() < 0.5:  # a window
        x0 = rng.uniform(0.0, 0.8) * width
        draw.rectangle(
            [x0, 0.1 * height, x0 + 0.16 * width, 0.45 * height],
            fill=(200, 225, 245),
            outline=(235, 235, 235),
            width=4,
        )
    # The context cue: a poster whose size and colourfulness grow with the cue's strength.
    cue = recipe.context_cue
    side = 0.22 * (0.6 + 0.8 * cue) * height
    face_x = recipe.centre[0]
    margin = 2.0 * recipe.inter_ocular
    if recipe.poster_side < 0:
        x0 = max(0.03 * width, face_x - margin - side - rng.uniform(0, 0.1) * width)
    else:
        x0 = min(0.97 * width - side, face_x + margin + rng.uniform(0, 0.1) * width)
    y0 = rng.uniform(0.08, 0.25) * height
    box = (x0, y0, x0 + side, y0 + side * 1.3)
    grey = np.array([150, 150, 150])
    for stripe in range(4):
        hue_colour = np.array([(255, 40, 40), (255, 200, 0), (30, 160, 255), (40, 200, 80)][stripe])
        colour = tuple(int(v) for v in grey + cue * (hue_colour - grey))
        top = y0 + stripe * side * 1.3 / 4
        draw.rectangle([x0, top, x0 + side, top + side * 1.3 / 4], fill=colour)
    draw.rectangle(box, outline=(60, 50, 40), width=3)
    # The torso, still while the head moves a little above it.
    iod = recipe.inter_ocular
    chin_x, chin_y = recipe.centre[0], recipe.centre[1] + 1.85 * iod
    shoulders_y = chin_y + 0.9 * iod
    draw.ellipse(
        [chin_x - 2.6 * iod, shoulders_y, chin_x + 2.6 * iod, shoulders_y + 4.5 * iod],
        fill=tuple(recipe.shirt),
    )
    canvas = canvas.filter(ImageFilter.GaussianBlur(radius=0.8))
    return np.asarray(canvas).copy(), box


def _forehead(points: np.ndarray, inter_ocular_px: float, up: np.ndarray) -> np.ndarray:
    """An arc over the brows closing the jaw polygon into a head outline."""
    left, right = points[0], points[16]
    middle = (left + right) / 2
    radius_x = np.linalg.norm(right - left) / 2
    across = (right - left) / (2 * radius_x)
    height = 1.05 * inter_ocular_px
    angles = np.linspace(0, np.pi, 15)
    return np.array(
        [middle + math.cos(a) * radius_x * across + math.sin(a) * height * up for a in angles]
    )


def render_frame(
    recipe: ClipRecipe,
    background: np.ndarray,
    landmarks: np.ndarray,
    intensities: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw one frame: the person over ``background`` with the given posed landmarks.

    Returns:
        uint8 RGB array (height, width, 3).
    """
    from PIL import Image, ImageDraw, ImageFilter

    au = dict(zip(AU_IDS, intensities))
    iod = recipe.inter_ocular
    # Draw only in a window around the head (the torso is part of the static scene).
    x0 = int(max(0, np.floor(landmarks[:, 0].min() - 1.0 * iod)))
    x1 = int(min(recipe.width, np.ceil(landmarks[:, 0].max() + 1.0 * iod)))
    y0 = int(max(0, np.floor(landmarks[:, 1].min() - 1.6 * iod)))
    y1 = int(min(recipe.height, np.ceil(landmarks[:, 1].max() + 1.7 * iod)))
    landmarks = np.asarray(landmarks, dtype=np.float64) - (x0, y0)
    right_eye = landmarks[36:42].mean(axis=0)
    left_eye = landmarks[42:48].mean(axis=0)
    across = (left_eye - right_eye) / np.linalg.norm(left_eye - right_eye)
    up = np.array([across[1], -across[0]])  # perpendicular, towards the forehead
    skin = np.array(recipe.skin, dtype=np.float64)
    hair = tuple(recipe.hair)
    canvas = Image.fromarray(np.ascontiguousarray(background[y0:y1, x0:x1]))
    draw = ImageDraw.Draw(canvas)

    def xy(points) -> list[tuple[float, float]]:
        return [tuple(map(float, p)) for p in np.atleast_2d(points)]

    neck = [
        landmarks[5] + (0.1 * iod, 0),
        landmarks[11] - (0.1 * iod, 0),
        landmarks[11] + (-0.1 * iod, 1.5 * iod),
        landmarks[5] + (0.1 * iod, 1.5 * iod),
    ]
    draw.polygon(xy(neck), fill=tuple(int(v) for v in skin * 0.8))
    forehead = _forehead(landmarks, iod, up)
    # Long hair falls behind the head.
    if recipe.hair_long:
        top = forehead[7] + 0.25 * iod * up
        back = [
            landmarks[0] - 0.35 * iod * across,
            top,
            landmarks[16] + 0.35 * iod * across,
            landmarks[13] + 0.5 * iod * across - 1.6 * iod * up,
            landmarks[3] - 0.5 * iod * across - 1.6 * iod * up,
        ]
        draw.polygon(xy(back), fill=hair)
    # Ears.
    for side, index in ((-1, 1), (1, 15)):
        centre = landmarks[index] + side * 0.08 * iod * across
        draw.ellipse(
            [
                centre[0] - 0.17 * iod,
                centre[1] - 0.3 * iod,
                centre[0] + 0.17 * iod,
                centre[1] + 0.3 * iod,
            ],
            fill=tuple(int(v) for v in skin * 0.9),
        )
    # Head: jaw polygon closed by the forehead arc, shaded by a directional light.
    head = np.concatenate([landmarks[0:17], forehead[1:-1]])
    mask = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(mask).polygon(xy(head), fill=255)
    # The polygon mask is 0 or 255 (no antialiasing), so the shaded skin replaces the pixels
    # inside it and only those are computed (a third of the time of blending the whole window,
    # with the same arithmetic per pixel, so the frames are the same to the bit).
    frame = np.array(canvas)
    inside = np.asarray(mask) > 0
    rows, columns = (index.astype(np.float32) for index in np.nonzero(inside))
    centre = landmarks[27:31].mean(axis=0)
    dx = (columns - centre[0]) / (1.5 * iod)
    dy = (rows - centre[1]) / (2.0 * iod)
    light = 1.0 + 0.18 * (recipe.light[0] * dx + recipe.light[1] * dy) - 0.12 * (dx**2 + dy**2)
    skin_layer = skin[None, :] * np.clip(light, 0.55, 1.25)[:, None]
    frame[inside] = np.clip(skin_layer, 0, 255).astype(np.uint8)
    canvas = Image.fromarray(frame)
    draw = ImageDraw.Draw(canvas)
    # Hair on top of the head, with a fringe.
    hair_line = [forehead[0] + 0.05 * iod * up]
    hair_line += [p - (0.28 * iod * up if 4 <= k <= 10 else 0) for k, p in enumerate(forehead)]
    hair_line += [forehead[-1] + 0.05 * iod * up]
    hair_cap = list(forehead) + [forehead[-1] + 0.25 * iod * up]
    hair_cap += [p + 0.25 * iod * up for p in forehead[::-1]]
    draw.polygon(xy(hair_cap), fill=hair)
    draw.polygon(xy(np.concatenate([forehead, np.array(hair_line)[::-1]])), fill=hair)
    # Cheek raiser (AU6) flushes the cheeks; the dimpler (AU14) marks the mouth corners.
    cheek = tuple(int(v) for v in np.clip(skin * (1 - 0.03 * au[6]) + [12 * au[6], 0, 0], 0, 255))
    for index in (2, 14):
        point = 0.55 * landmarks[index] + 0.45 * landmarks[30]
        radius = 0.28 * iod
        draw.ellipse(
            [point[0] - radius, point[1] - radius, point[0] + radius, point[1] + radius],
            fill=cheek,
        )
    dark_skin = tuple(int(v) for v in skin * 0.62)
    if au[14] > 0.5:
        for index, side in ((48, -1), (54, 1)):
            point = landmarks[index] + side * 0.12 * iod * across
            draw.line(
                xy([point - 0.1 * iod * up, point + 0.1 * iod * up]),
                fill=dark_skin,
                width=max(1, int(0.02 * iod * au[14])),
            )
    # Eye sockets are darker than the cheeks: the strongest cue of a face for a HOG detector,
    # and the one that dark skin loses first without it.
    socket = tuple(int(v) for v in skin * 0.78)
    for eye_centre in (right_eye, left_eye):
        centre = eye_centre - 0.06 * iod * up
        radius_x, radius_y = 0.3 * iod, 0.17 * iod
        draw.ellipse(
            [
                centre[0] - radius_x,
                centre[1] - radius_y,
                centre[0] + radius_x,
                centre[1] + radius_y,
            ],
            fill=socket,
        )
    # Eyebrows: thick polylines.
    brow_width = max(2, int(round(0.09 * iod)))
    # Brows darker than the hair (fair hair on dark skin would otherwise leave no brows).
    brow_colour = tuple(int(v * 0.5) for v in hair)
    for start in (17, 22):
        draw.line(
            xy(landmarks[start : start + 5]), fill=brow_colour, width=brow_width, joint="curve"
        )
    # AU9 wrinkles the nose bridge.
    if au[9] > 0.5:
        for offset in (-0.06, 0.06):
            point = landmarks[28] + offset * iod * up
            draw.line(
                xy([point - 0.1 * iod * across, point + 0.1 * iod * across]),
                fill=dark_skin,
                width=max(1, int(0.015 * iod * au[9])),
            )
    # Eyes: white, iris clipped to the lids, lash line.
    for start, eye_centre in ((36, right_eye), (42, left_eye)):
        outline = landmarks[start : start + 6]
        eye_mask = Image.new("L", canvas.size, 0)
        ImageDraw.Draw(eye_mask).polygon(xy(outline), fill=255)
        eye_layer = Image.new("RGB", canvas.size, (240, 240, 236))
        eye_draw = ImageDraw.Draw(eye_layer)
        radius = 0.11 * iod
        eye_draw.ellipse(
            [
                eye_centre[0] - radius,
                eye_centre[1] - radius,
                eye_centre[0] + radius,
                eye_centre[1] + radius,
            ],
            fill=tuple(recipe.iris),
        )
        radius *= 0.45
        eye_draw.ellipse(
            [
                eye_centre[0] - radius,
                eye_centre[1] - radius,
                eye_centre[0] + radius,
                eye_centre[1] + radius,
            ],
            fill=(10, 10, 10),
        )
        canvas.paste(eye_layer, (0, 0), eye_mask)
        draw.line(
            xy(np.concatenate([outline[0:4]])),
            fill=(30, 25, 20),
            width=max(2, int(0.04 * iod)),
            joint="curve",
        )
        draw.line(
            xy(np.concatenate([outline[3:6], outline[0:1]])),
            fill=dark_skin,
            width=max(1, int(0.02 * iod)),
        )
    # Nose: bridge shading, nostrils.
    draw.line(
        xy(landmarks[27:31] + 0.05 * iod * across),
        fill=tuple(int(v) for v in skin * 0.85),
        width=max(1, int(0.03 * iod)),
    )
    draw.line(xy(landmarks[31:36]), fill=dark_skin, width=max(2, int(0.035 * iod)), joint="curve")
    for index in (32, 34):
        point = landmarks[index] - 0.02 * iod * up
        radius = 0.035 * iod
        draw.ellipse(
            [point[0] - radius, point[1] - radius, point[0] + radius, point[1] + radius],
            fill=tuple(int(v) for v in skin * 0.45),
        )
    # Mouth: lips, then the opening with teeth when the lips part.
    draw.polygon(xy(landmarks[48:60]), fill=tuple(recipe.lips))
    inner = landmarks[60:68]
    opening = np.linalg.norm(inner[6] - inner[2])
    if opening > 0.012 * iod:
        draw.polygon(xy(inner), fill=(60, 20, 25))
        teeth_mask = Image.new("L", canvas.size, 0)
        ImageDraw.Draw(teeth_mask).polygon(xy(inner), fill=255)
        teeth = Image.new("L", canvas.size, 0)
        top = inner[2]
        ImageDraw.Draw(teeth).rectangle(
            [inner[0][0], top[1] - iod, inner[4][0], top[1] + 0.5 * opening], fill=255
        )
        combined = Image.fromarray(np.minimum(np.asarray(teeth_mask), np.asarray(teeth)))
        canvas.paste((235, 232, 220), (0, 0), combined)
    draw.line(
        xy([landmarks[60], *inner[1:4], landmarks[64]]),
        fill=tuple(int(v * 0.6) for v in recipe.lips),
        width=max(1, int(0.02 * iod)),
    )
    # Glasses: two round frames and a bridge.
    if recipe.glasses:
        frame_width = max(2, int(round(0.05 * iod)))
        for eye_centre in (right_eye, left_eye):
            radius_x, radius_y = 0.32 * iod, 0.24 * iod
            draw.ellipse(
                [
                    eye_centre[0] - radius_x,
                    eye_centre[1] - radius_y,
                    eye_centre[0] + radius_x,
                    eye_centre[1] + radius_y,
                ],
                outline=(20, 20, 25),
                width=frame_width,
            )
        draw.line(
            xy([right_eye + 0.32 * iod * across, left_eye - 0.32 * iod * across]),
            fill=(20, 20, 25),
            width=frame_width,
        )
        for eye_centre, side in ((right_eye, -1), (left_eye, 1)):
            start = eye_centre + side * 0.32 * iod * across
            draw.line(
                xy([start, start + side * 0.5 * iod * across]),
                fill=(20, 20, 25),
                width=frame_width,
            )
    canvas = canvas.filter(ImageFilter.GaussianBlur(radius=0.8))
    image = background.copy()
    image[y0:y1, x0:x1] = np.asarray(canvas)
    noise = rng.integers(-4, 5, image.shape, dtype=np.int8)  # sensor noise
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def clip_landmarks(recipe: ClipRecipe) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame ground truth: posed landmarks (n, 68, 2) in frame pixels and AU intensities."""
    rng = np.random.default_rng(recipe.seed + 2)
    intensities = frame_intensities(recipe)
    base = _identity_shape(recipe.shape_modes)
    n = recipe.n_frames
    # Small head motion: a random walk in position and roll.
    shift = np.cumsum(rng.normal(0, 0.01 * recipe.inter_ocular, (n, 2)), axis=0)
    roll = recipe.roll + np.cumsum(rng.normal(0, 0.25, n))
    landmarks = np.stack(
        [
            _pose(
                deform(base, intensities[t]),
                recipe.inter_ocular,
                np.asarray(recipe.centre) + shift[t],
                roll[t],
            )
            for t in range(n)
        ]
    )
    return landmarks.astype(np.float32), intensities.astype(np.float32)


def face_box(landmarks: np.ndarray) -> np.ndarray:
    """Ground-truth face box (left, top, right, bottom): the landmarks' extent, raised to cover
    the forehead as dlib's boxes do."""
    left, top = landmarks.min(axis=-2).T if landmarks.ndim == 3 else landmarks.min(axis=0)
    right, bottom = landmarks.max(axis=-2).T if landmarks.ndim == 3 else landmarks.max(axis=0)
    return np.stack([left, top - 0.15 * (bottom - top), right, bottom], axis=-1)


def render_clip(recipe: ClipRecipe, path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Render and encode one clip to ``path`` (H.264 mp4), written atomically.

    Returns:
        Ground truth: ``landmarks`` (n, 68, 2), ``aus`` (n, 17), ``face_box`` (n, 4), all in
        the video's pixel coordinates, and ``poster_box`` (4,).
    """
    import av

    path = Path(path)
    landmarks, intensities = clip_landmarks(recipe)
    background, poster = _scene(recipe)
    rng = np.random.default_rng(recipe.seed + 3)

    def encode(temporary: str) -> None:
        with av.open(temporary, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=_fraction(recipe.fps))
            stream.width, stream.height = recipe.width, recipe.height
            stream.pix_fmt = "yuv420p"
            # One encoder thread: clips are already encoded in parallel, one per process.
            stream.options = {"crf": "20", "preset": "veryfast", "threads": "1"}
            for t in range(recipe.n_frames):
                image = render_frame(recipe, background, landmarks[t], intensities[t], rng)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    write_atomic(path, encode)
    return {
        "landmarks": landmarks,
        "aus": intensities,
        "face_box": face_box(landmarks).astype(np.float32),
        "poster_box": np.asarray(poster, dtype=np.float32),
    }


def _render_sampled(task: tuple[ClipRecipe, int, int]) -> np.ndarray:
    from .data import sample_frame_indices, square_frame

    recipe, frames_per_clip, size = task
    landmarks, intensities = clip_landmarks(recipe)
    background, _ = _scene(recipe)
    rng = np.random.default_rng(recipe.seed + 3)
    return np.stack(
        [
            square_frame(render_frame(recipe, background, landmarks[t], intensities[t], rng), size)
            for t in sample_frame_indices(recipe.n_frames, frames_per_clip)
        ]
    )


def render_samples(
    profile: str | Profile,
    n_clips: int,
    seed: int = 0,
    size: int | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic frames rendered straight to memory, no video written: ``n_clips`` clips drawn
    as :func:`generate_dataset` draws them, each sampled by the authors' rule
    (``profile.frames_per_clip``) and squashed to ``size`` (the profile's store size), as a
    frame store holds them (``benchmarks/gpu_check.py`` trains on these). Frames are not
    bit-identical to a decoded clip (no H.264 round trip).

    Returns:
        ``(images, labels, clip_of_frame)``: uint8 (n, size, size, 3), float32 (n, 5) in
        :data:`~personality_utils.data.TRAITS` order, int (n,).
    """
    profile = get_profile(profile)
    size = size or profile.store_size
    rng = np.random.default_rng(seed)
    recipes = [
        make_clip_recipe(rng, f"render{i:06d}.000.mp4", "train", _identity(rng), profile)
        for i in range(n_clips)
    ]
    tasks = [(recipe, profile.frames_per_clip, size) for recipe in recipes]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            clips = list(pool.map(_render_sampled, tasks))
    else:
        clips = [_render_sampled(task) for task in tasks]
    labels = np.concatenate(
        [np.tile([r.labels[t] for t in TRAITS], (len(c), 1)) for r, c in zip(recipes, clips)]
    ).astype(np.float32)
    owners = np.concatenate([np.full(len(c), i) for i, c in enumerate(clips)])
    return np.concatenate(clips), labels, owners


def _fraction(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)


# ----------------------------------------------------------------------------------------------
# The whole dataset
# ----------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """Where generated datasets and stores live: ``$PERSONALITY_UTILS_CACHE`` or
    ``~/.cache/personality_utils``."""
    return Path(
        os.environ.get("PERSONALITY_UTILS_CACHE", Path.home() / ".cache" / "personality_utils")
    )


def _recipes(profile: Profile, seed: int) -> list[ClipRecipe]:
    rng = np.random.default_rng(seed)
    total = sum(profile.synthetic_clips.get(split, 0) for split in SPLITS)
    # Several clips per video id, sharing identity and room, like the real set's YouTube ids;
    # ids are shared across splits (the real splits share 82% of test ids with training).
    n_videos = max(1, int(math.ceil(total / 3)))
    video_ids = _video_ids(rng, n_videos)
    identities = [_identity(rng) for _ in range(n_videos)]
    split_of = np.concatenate([[split] * profile.synthetic_clips.get(split, 0) for split in SPLITS])
    rng.shuffle(split_of)
    used: dict[int, int] = {}
    recipes = []
    for index, split in enumerate(split_of):
        video = int(rng.integers(n_videos)) if index >= n_videos else index
        used[video] = used.get(video, 0) + 1
        clip = f"{video_ids[video]}.{used[video]:03d}.mp4"
        recipes.append(make_clip_recipe(rng, clip, str(split), identities[video], profile))
    return recipes


def _render_task(task: tuple[ClipRecipe, str, str]) -> str:
    recipe, video_path, truth_path = task
    truth = render_clip(recipe, video_path)

    def write(temporary: str) -> None:
        with open(temporary, "wb") as stream:
            np.savez(stream, **truth)

    write_atomic(truth_path, write)
    return recipe.clip


def _settings(profile: Profile, seed: int) -> dict:
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "clips": {split: profile.synthetic_clips.get(split, 0) for split in SPLITS},
        "frame_size": list(profile.synthetic_frame_size),
        "seconds": list(profile.synthetic_seconds),
        "fps": list(profile.synthetic_fps),
    }


def generate_dataset(
    out_dir: str | os.PathLike,
    profile: str | Profile = "default",
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Write the synthetic dataset in the official layout.

    Layout: ``train/``, ``validation/``, ``test/`` folders of mp4 clips; the three
    ``annotation_*.pkl`` (Python-2-compatible protocol-2 pickles, like the real ones);
    ``ground_truth.json`` (weights, shares, per-clip attributes) and
    ``ground_truth/<clip>.npz`` (per-frame landmarks, AUs, face boxes). Each clip is written
    atomically and skipped on a rerun, so an interrupted generation resumes; ``COMPLETE.json``
    is written last.

    Args:
        out_dir: Dataset root.
        profile: Profile (or name) giving the sizes.
        seed: Seed; the same seed and profile give the same dataset.
        workers: Processes (None = the profile's setting, 0 = every core).
        progress: Show a progress bar.

    Returns:
        The dataset root.
    """
    from tqdm.auto import tqdm

    profile = get_profile(profile)
    out_dir = Path(out_dir)
    settings = _settings(profile, seed)
    marker = out_dir / "COMPLETE.json"
    if marker.is_file() and json.loads(marker.read_text()).get("settings") == settings:
        return out_dir
    recipes = _recipes(profile, seed)
    truth_dir = out_dir / "ground_truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (out_dir / split).mkdir(parents=True, exist_ok=True)
    tasks = []
    for recipe in recipes:
        video = out_dir / recipe.split / recipe.clip
        truth = truth_dir / f"{recipe.clip[:-4]}.npz"
        if not (video.is_file() and truth.is_file()):
            tasks.append((recipe, str(video), str(truth)))
    workers = profile.workers if workers is None else workers
    workers = workers or os.cpu_count() or 1
    with tqdm(total=len(tasks), desc="synthetic clips", disable=not progress) as bar:
        if workers > 1 and len(tasks) > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(_render_task, tasks, chunksize=2):
                    bar.update()
        else:
            for task in tasks:
                _render_task(task)
                bar.update()
    for split in SPLITS:
        chosen = [r for r in recipes if r.split == split]
        content = {trait: {r.clip: float(r.labels[trait]) for r in chosen} for trait in TRAITS}
        # The real files hold `interview` as numpy.float64; keep that so the safe reader is
        # exercised on the same kind of content.
        content["interview"] = {
            r.clip: np.float64(np.clip(np.mean([r.labels[t] for t in TRAITS]), 0, 1))
            for r in chosen
        }
        _write_bytes(out_dir / ANNOTATION_FILES[split], pickle.dumps(content, protocol=2))
    sidecar = {
        "description": "Planted-signal synthetic First Impressions (personality_utils.synthetic)",
        "settings": settings,
        "aus": list(AU_IDS),
        "au_names": {str(k): v for k, v in AU_NAMES.items()},
        "au_regions": {str(k): v for k, v in AU_REGIONS.items()},
        "features": list(FEATURES),
        "trait_weights": TRAIT_WEIGHTS,
        "weight_matrix": _weight_matrix().round(6).tolist(),
        "noise_share": NOISE_SHARE,
        "label_std": LABEL_STD,
        "planted_shares": planted_shares(),
        "clips": {
            r.clip: {
                key: value for key, value in asdict(r).items() if key not in ("clip", "scene_seed")
            }
            for r in recipes
        },
    }
    _write_bytes(out_dir / "ground_truth.json", json.dumps(sidecar, indent=1).encode())
    _write_bytes(marker, json.dumps({"settings": settings, "n_clips": len(recipes)}).encode())
    return out_dir


def _write_bytes(path: Path, payload: bytes) -> None:
    write_atomic(path, lambda temporary: Path(temporary).write_bytes(payload))


def dataset_key(profile: str | Profile, seed: int) -> str:
    """Folder name of a generated dataset: profile, seed and a hash of its settings."""
    profile = get_profile(profile)
    digest = hashlib.sha1(json.dumps(_settings(profile, seed), sort_keys=True).encode()).hexdigest()
    return f"synthetic-{profile.name}-seed{seed}-{digest[:8]}"


def ensure_dataset(
    profile: str | Profile = "default",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """The synthetic dataset for a profile and seed, generated on first use into the cache."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return generate_dataset(cache / dataset_key(profile, seed), profile, seed, progress=progress)


def load_ground_truth(data_root: str | os.PathLike) -> dict:
    """Read ``ground_truth.json`` of a synthetic dataset.

    Raises:
        FileNotFoundError: If ``data_root`` is not a synthetic dataset (real data has none).
    """
    path = Path(data_root) / "ground_truth.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no ground truth here (only synthetic datasets have one)")
    return json.loads(path.read_text())


def load_frame_truth(data_root: str | os.PathLike, clip: str) -> dict[str, np.ndarray]:
    """Per-frame ground truth of one clip (landmarks, aus, face_box, poster_box)."""
    path = Path(data_root) / "ground_truth" / f"{clip.removesuffix('.mp4')}.npz"
    with np.load(path, allow_pickle=False) as content:
        return {key: content[key] for key in content.files}


def _true_landmarks_of_found(data_root: str | os.PathLike, store):
    """Yield (store row, true landmarks) for every frame where dlib found a face, reading each
    clip's ground truth once."""
    found = np.flatnonzero(store.detections["found"])
    clips = store.meta["clip"].to_numpy()
    frame_indices = store.meta["frame_index"].to_numpy()
    loaded_clip, truth = None, None
    for row in found:  # store rows are grouped by clip
        if clips[row] != loaded_clip:
            loaded_clip = clips[row]
            truth = load_frame_truth(data_root, loaded_clip)["landmarks"]
        yield row, truth[int(frame_indices[row])]


def store_boxes(data_root: str | os.PathLike, store, key: str = "poster_box") -> np.ndarray:
    """A ground-truth box of every frame of a store, in frame-store pixels: ``"poster_box"``
    (the planted context cue) or ``"face_box"`` (the true face). Frames are squashed to the
    store's square, so x and y are scaled separately."""
    if key not in ("poster_box", "face_box"):
        raise ValueError(f"key must be 'poster_box' or 'face_box', got {key!r}")
    size = store.frames.shape[1]
    meta = store.meta
    out = np.full((len(meta), 4), np.nan)
    loaded_clip, truth = None, None
    for row, (clip, index) in enumerate(zip(meta["clip"], meta["frame_index"])):
        if clip != loaded_clip:
            loaded_clip, truth = clip, load_frame_truth(data_root, clip)[key]
        box = truth if truth.ndim == 1 else truth[int(index)]
        scale = np.array([size / meta["width"].iloc[row], size / meta["height"].iloc[row]] * 2)
        out[row] = np.asarray(box, dtype=np.float64) * scale
    return out


def landmark_agreement(data_root: str | os.PathLike, store) -> "pd.DataFrame":
    """Compare the dlib detections kept in a frame store with the ground truth.

    Args:
        data_root: Dataset root (synthetic sets have ``ground_truth/``; real data has none).
        store: A :class:`~personality_utils.stores.FrameStore` built with faces.

    Returns:
        One row per stored frame: clip, frame_index, found, upsampled, score and ``error_iod``
        (mean distance of dlib's 68 landmarks from the true ones, in true inter-ocular
        distances; NaN where no face was found or no ground truth exists).
    """
    from .faces import landmark_error_iod

    if store.detections is None:
        raise ValueError(f"{store.path}: the store was built without faces")
    table = store.meta[["clip", "frame_index"]].copy()
    for field in ("found", "upsampled", "score"):
        table[field] = store.detections[field]
    table["found"] = table["found"].astype(bool)
    errors = np.full(len(table), np.nan)
    if (Path(data_root) / "ground_truth").is_dir():
        for row, truth in _true_landmarks_of_found(data_root, store):
            errors[row] = landmark_error_iod(store.detections["landmarks_frame"][row], truth)
    table["error_iod"] = errors
    return table


def true_eye_alignment_errors(data_root: str | os.PathLike, store, face_size: int) -> np.ndarray:
    """For every frame with a face: where the *true* eye centres land after the alignment that
    dlib's landmarks produced, as the distance (crop pixels) from the canonical positions."""
    from .faces import eye_alignment_error

    detected = store.detections["landmarks_frame"]
    return np.asarray(
        [
            eye_alignment_error(detected[row], truth, face_size)
            for row, truth in _true_landmarks_of_found(data_root, store)
        ]
    )


def label_fit(data_root: str | os.PathLike) -> "pd.DataFrame":
    """Check that the written labels follow the documented function.

    Fits each trait by least squares on the realised, standardised features of every clip and
    compares the recovered weights with the planted ones.

    Returns:
        A DataFrame indexed by trait with ``r2`` (variance the linear fit explains; about
        1 - NOISE_SHARE when the labels are right) and ``weight_corr`` (correlation between
        recovered and planted weights).
    """
    import pandas as pd

    from .data import load_split_labels

    truth = load_ground_truth(data_root)
    labels = pd.concat(load_split_labels(data_root).values())[list(TRAITS)]
    features = pd.DataFrame({name: info["features"] for name, info in truth["clips"].items()}).T
    return fit_labels(features.loc[labels.index], labels, np.asarray(truth["weight_matrix"]))


def fit_labels(features, labels, weight_matrix: np.ndarray) -> "pd.DataFrame":
    """Least-squares fit of each trait on standardised features (see :func:`label_fit`).

    Args:
        features: DataFrame, one row per clip, the :data:`FEATURES` columns.
        labels: DataFrame, same rows, one column per trait.
        weight_matrix: Planted weights (traits x features).
    """
    import pandas as pd

    features = features[list(FEATURES)].astype(float)
    standardised = (features - features.mean()) / features.std().replace(0, 1)
    design = np.column_stack([np.ones(len(standardised)), standardised.to_numpy()])
    targets = labels[list(TRAITS)].to_numpy(dtype=float)
    coefficients, *_ = np.linalg.lstsq(design, targets, rcond=None)
    residual = ((targets - design @ coefficients) ** 2).sum(axis=0)
    total = ((targets - targets.mean(axis=0)) ** 2).sum(axis=0)
    rows = {}
    for index, trait in enumerate(TRAITS):
        recovered = coefficients[1:, index]
        rows[trait] = {
            "r2": float(1 - residual[index] / total[index]),
            "weight_corr": float(np.corrcoef(recovered, weight_matrix[index])[0, 1]),
        }
    return pd.DataFrame(rows).T
