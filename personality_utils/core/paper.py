"""Every figure the paper prints, typed once, with where in the paper it is.

Ventura, Masip and Lapedriza, "Interpreting CNN Models for Apparent Personality Trait
Regression", CVPR-W 2017 (``../shared/paper``). Chapters and the summary read the paper's numbers
from here; the real-data constants below are not the paper's (it reports no baseline) but were
computed from the release's labels (``../shared/data/SOURCES.md``).
"""

from __future__ import annotations

__all__ = [
    "AU_MODEL_ACCURACY",
    "gains_over_constant",
    "CAM_MEAN_OVERLAP",
    "CAM_OVERLAP_SHARE",
    "CAM_SHARE_OVERLAP",
    "CAM_THRESHOLD",
    "CAM_TOP_IMAGES",
    "LIP_CORNER_AUS",
    "TABLE2_BEST",
    "TABLE2_SIGNIFICANT",
    "REAL_CONSTANT",
    "TABLE1",
    "TABLE1_COLUMNS",
    "TABLE2",
    "TABLE2_FRAMES",
    "TABLE2_TOP_N",
    "TABLE2_UNITS",
    "UNIT_TOP_N",
]

#: Table 1 columns: mean accuracy, then Openness, Conscientiousness, Extraversion,
#: Agreeableness, Neuroticism.
TABLE1_COLUMNS: tuple[str, ...] = ("MA", "O", "C", "E", "A", "N")
#: Table 1 (Section 4.3): test-set accuracy (1 - |prediction - truth|) of the challenge winner
#: [23] with audio and video, and of the authors' DAN+ on full frames ("img", Section 4.1) and on
#: aligned faces ("face", Section 4.3), 10 frames per clip.
TABLE1: dict[str, dict[str, float]] = {
    "[23] NJU-LAMDA, audio+video": dict(
        zip(TABLE1_COLUMNS, (0.913, 0.912, 0.917, 0.913, 0.913, 0.910), strict=True)
    ),
    "img (full frames)": dict(
        zip(TABLE1_COLUMNS, (0.909, 0.909, 0.911, 0.909, 0.910, 0.905), strict=True)
    ),
    "face": dict(zip(TABLE1_COLUMNS, (0.912, 0.910, 0.914, 0.915, 0.912, 0.907), strict=True)),
}

#: Section 4.2: CAMs of the 50 highest-predicted test images per trait, binarised at 0.8 of
#: their maximum; 72.80% of them overlap the face box by at least 0.9, the mean overlap is 0.76.
CAM_TOP_IMAGES = 50
CAM_THRESHOLD = 0.8
CAM_SHARE_OVERLAP = 0.9
CAM_OVERLAP_SHARE = 0.728
CAM_MEAN_OVERLAP = 0.76

#: Section 4.4: N, the top images per unit (Figs. 7-11).
UNIT_TOP_N = 50

#: Table 2 (Section 4.5): per AU, the conv5_3 unit whose top-50 test frames share the most
#: frames with the AU's top 50, that intersection k, and the printed p ("p<...").
TABLE2: dict[str, tuple[int, int, float]] = {
    "AU01": (159, 6, 0.439),
    "AU02": (344, 7, 0.086),
    "AU04": (35, 6, 0.439),
    "AU05": (261, 7, 0.086),
    "AU06": (380, 6, 0.439),
    "AU07": (7, 5, 0.974),
    "AU09": (350, 6, 0.439),
    "AU10": (397, 7, 0.086),
    "AU12": (108, 10, 9.32e-5),
    "AU14": (254, 6, 0.439),
    "AU15": (220, 10, 9.32e-5),
    "AU17": (77, 6, 0.439),
    "AU20": (74, 7, 0.086),
    "AU23": (475, 9, 1.10e-3),
    "AU25": (146, 6, 0.439),
    "AU26": (55, 7, 0.086),
    "AU45": (302, 6, 0.439),
}
#: The parameters of Table 2's formula (Section 4.5): F test frames (one per test clip), N top
#: frames, U units of conv5_3.
TABLE2_FRAMES, TABLE2_TOP_N, TABLE2_UNITS = 2000, 50, 512
#: Section 4.5: the best identified AUs, lip corner puller and depressor (10/50 each).
LIP_CORNER_AUS: tuple[str, ...] = ("AU12", "AU15")
#: Table 2's significant AUs (printed p < 0.05): the lip corners and the lip tightener.
TABLE2_SIGNIFICANT: tuple[str, ...] = tuple(au for au, (_unit, _k, p) in TABLE2.items() if p < 0.05)
#: Table 2's best-matched AUs (the largest intersection k).
TABLE2_BEST: tuple[str, ...] = tuple(
    sorted(au for au, (_unit, k, _p) in TABLE2.items() if k == max(v[1] for v in TABLE2.values()))
)

#: Section 4.5: mean accuracy of the linear model on the 17 AU intensities ("close to 0.886").
AU_MODEL_ACCURACY = 0.886

#: Not the paper's: the mean accuracy of predicting the training mean on the real validation and
#: test sets, computed from the release's labels (SOURCES.md); the paper reports no baseline.
REAL_CONSTANT: dict[str, float] = {"validation": 0.8834, "test": 0.8814}


def gains_over_constant(split: str = "test") -> dict[str, float]:
    """The paper's arithmetic, computed once: what its models add over predicting the training
    mean on the real ``split`` (:data:`REAL_CONSTANT`, not the paper's), its AU model
    (Section 4.5) and DAN+ on faces and on full frames (Table 1, MA), and the share of the face
    CNN's gain that the AU model recovers."""
    constant = REAL_CONSTANT[split]
    au_model = AU_MODEL_ACCURACY - constant
    faces = TABLE1["face"]["MA"] - constant
    return {
        "constant (training mean)": constant,
        "AU model gain": au_model,
        "DAN+ faces gain": faces,
        "DAN+ full frames gain": TABLE1["img (full frames)"]["MA"] - constant,
        "AU model share of the faces gain": au_model / faces,
    }
