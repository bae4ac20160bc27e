"""The Facial Action Coding System as this book models it: the paper's 17 action units, the face
part each one moves, a mean 68-point face, and each AU as a displacement of its landmarks.

The synthetic generator (:mod:`~personality_utils.data.synthetic.generator`) deforms faces with it
and chapter 07's landmark estimator (:mod:`~personality_utils.aus.estimator`) reads AUs back from
landmarks with it;
neither imports the other.
"""

from __future__ import annotations

import numpy as np

from personality_utils.core.planted import AU_IDS

__all__ = [
    "AU_GAIN",
    "AU_REGIONS",
    "MEAN_SHAPE",
    "MIRROR",
    "deform",
]
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
    for au, value in zip(AU_IDS, np.clip(intensities, 0, 5), strict=True):
        moved += value * _AU_FIELDS[au]
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        moved[upper, 1] = min(moved[upper, 1], moved[lower, 1])
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        moved[lower, 1] = max(moved[lower, 1], moved[upper, 1])
    return moved
