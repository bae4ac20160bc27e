"""What one synthetic clip will show, drawn from a seed: the person (identity, skin, hair,
glasses, room), their action units over time and the clip's name in the release's format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from personality_utils.core.planted import AU_IDS
from personality_utils.core.profiles import Profile
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.synthetic.labels import _AU_BETA, _GLASSES_P, trait_scores

__all__ = [
    "ClipRecipe",
    "make_clip_recipe",
    "draw_identity",
    "frame_intensities",
]


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
    n_frames = max(12, round(seconds * fps))
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


def draw_identity(rng: np.random.Generator) -> dict:
    """One person: face shape, skin, hair, lips, iris, shirt, glasses and their room."""

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
    for i, (au, mean) in enumerate(zip(AU_IDS, recipe.au_means, strict=True)):
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
