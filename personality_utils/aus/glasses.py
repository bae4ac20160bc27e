"""How glasses move dlib's landmark fit, and so the AUs read from it: paired renders of
the same frame with and without glasses (chapter 07's instrument check).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from personality_utils.aus import estimator
from personality_utils.core.profiles import get_profile
from personality_utils.core.stats import bootstrap_interval, estimate
from personality_utils.data.synthetic.recipes import draw_identity, make_clip_recipe
from personality_utils.data.synthetic.render import clip_landmarks, render_frame, scene
from personality_utils.faces.detection import detect_face

# ----------------------------------------------------------------------------------------------
# The landmark shift that glasses cause (chapter 07)
# ----------------------------------------------------------------------------------------------


@dataclass
class GlassesShift:
    """dlib's landmarks on the generator's own paired renders, the same frames with and
    without glasses (:func:`glasses_landmark_shift`).

    Attributes:
        measures: Per landmark measure of the AU estimator (:data:`~personality_utils.aus.estimator.
            MEASURES`): the mean shift with glasses on minus off, in inter-ocular distances,
            with a clip-bootstrap interval, and the largest move one AU intensity unit makes
            on that measure (the scale of an AU's signal).
        aus: Per AU, what the estimator reads from the mean shift alone (the intensity glasses
            add through dlib's landmarks, with nothing else changed).
        frames: Frames compared (both renders with a face found).
        clips: Clips they come from.
    """

    measures: pd.DataFrame
    aus: pd.Series
    frames: int
    clips: int

    def description(self) -> str:
        """One line: the largest shifts against an AU's move."""
        top = self.measures["shift"].abs().sort_values(ascending=False).head(3)
        return (
            f"{self.frames} frames of {self.clips} clips rendered with and without glasses: "
            "largest mean shifts "
            + ", ".join(f"{name} {self.measures.loc[name, 'shift']:+.3f}" for name in top.index)
            + " inter-ocular distances; AUs the estimator reads from the shift alone: "
            + ", ".join(
                f"{au} {value:.2f}"
                for au, value in self.aus.sort_values(ascending=False).head(4).items()
            )
        )


def glasses_landmark_shift(
    profile, n_clips: int = 16, frames_per_clip: int = 3, seed: int = 0, n_boot: int = 2000
) -> GlassesShift:
    """How much wearing glasses moves dlib's landmarks, measured on the generator's own paired
    renders: clips drawn as the dataset draws them, each frame rendered twice, with and without
    glasses (nothing else changes: the same face, expression, pose, light and room), dlib run on
    both, and the AU estimator's measures compared.

    Args:
        profile: The profile whose frames are rendered.
        n_clips, frames_per_clip: How many clips, and frames of each (spread over the clip).
        seed: Seed of the clips.
        n_boot: Clip-bootstrap resamples of the interval.
    """
    import dataclasses

    profile = get_profile(profile)
    rng = np.random.default_rng(seed)
    rows, owners = [], []
    for index in range(n_clips):
        recipe = make_clip_recipe(
            rng, f"glasses{index:04d}.000.mp4", "test", draw_identity(rng), profile
        )
        landmarks, intensities = clip_landmarks(recipe)
        background, _ = scene(recipe)
        for t in np.linspace(0, recipe.n_frames - 1, frames_per_clip).round().astype(int):
            measured = []
            for wears in (True, False):
                variant = dataclasses.replace(recipe, glasses=wears)
                frame = render_frame(
                    variant,
                    background,
                    landmarks[t],
                    intensities[t],
                    np.random.default_rng(recipe.seed + 3 + t),
                )
                found = detect_face(frame)
                measured.append(found.landmarks if found.found else None)
            if measured[0] is None or measured[1] is None:
                continue
            pair = estimator.landmark_measures(np.stack(measured).astype(float)).to_numpy()
            rows.append(pair[0] - pair[1])
            owners.append(index)
    if not rows:
        raise ValueError("dlib found no face in any pair of renders")
    shifts = np.stack(rows)
    owners = np.asarray(owners)
    names = list(estimator.MEASURES)
    moves = estimator.response_matrix().abs().max(axis=1)
    table = []
    for column, name in enumerate(names):
        value, low, high = bootstrap_interval(shifts[:, column], owners, n_boot, seed)
        table.append(
            {"measure": name, **_named(estimate(value, low, high)), "one AU unit": moves[name]}
        )
    read = estimator.intensities_from_deviations(shifts.mean(axis=0)).iloc[0]
    return GlassesShift(
        pd.DataFrame(table).set_index("measure"),
        read.dropna(),
        len(shifts),
        len(np.unique(owners)),
    )


def _named(record: dict) -> dict:
    return {"shift": record["value"], "95% low": record["low"], "95% high": record["high"]}
