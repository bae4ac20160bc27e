"""The planted-signal design and its vocabulary: the 17 action units the paper reads
(OpenFace's intensity set), the synthetic labels' features, and which of them drive which trait.
The generator plants these weights; the claims read them to tell a planted answer from a finding.
"""

from __future__ import annotations

__all__ = [
    "AU_IDS",
    "AU_NAMES",
    "FEATURES",
    "TRAIT_WEIGHTS",
    "planted_features",
]

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


def planted_features() -> tuple[str, ...]:
    """The label features (:data:`FEATURES`) that carry planted weight in some trait: a claim
    whose answer is about one of them is decided by the generator on the synthetic set
    (:func:`~personality_utils.claims.catalogue.planted`)."""
    return tuple(
        feature
        for feature in FEATURES
        if any(weights.get(feature, 0.0) != 0.0 for weights in TRAIT_WEIGHTS.values())
    )
