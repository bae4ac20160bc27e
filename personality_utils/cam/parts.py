"""Which face parts the face model's class activation maps fall on (chapter 05, Section 4.3).

Each map of an aligned face crop has its positive mass split over the eyebrow, eye, nose and
mouth masks drawn from that crop's own landmarks
(:func:`~personality_utils.faces.regions.region_masks`);
a paired permutation test and the largest spread across traits, with an interval that resamples
people, say whether the traits' maps use different parts of the same faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from personality_utils.cam.maps import upsample
from personality_utils.core.stats import (
    N_RESAMPLES,
    bootstrap_interval,
    cluster_weights,
    estimate,
    paired_permutation_test,
    people,
    percentile_interval,
)
from personality_utils.core.vocabulary import TRAITS
from personality_utils.faces.regions import region_masks

__all__ = [
    "PARTS",
    "FaceParts",
    "face_parts",
    "region_mass",
    "map_part_shares",
    "trait_difference_test",
    "trait_part_values",
]

#: The face parts the maps are split over (:func:`~personality_utils.faces.regions.region_masks`).
PARTS = ("eyebrows", "eyes", "nose", "mouth")


def region_mass(cam: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, float]:
    """Share of the map's positive mass on each face-part mask (and ``"elsewhere"``)."""
    positive = np.clip(np.asarray(cam, dtype=np.float64), 0, None)
    total = positive.sum()
    shares = {}
    covered = np.zeros(positive.shape, dtype=bool)
    for region, mask in masks.items():
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != positive.shape:
            raise ValueError(f"mask {region!r} has shape {mask.shape}, map {positive.shape}")
        shares[region] = float(positive[mask].sum() / total) if total else float("nan")
        covered |= mask
    shares["elsewhere"] = float(positive[~covered].sum() / total) if total else float("nan")
    return shares


def map_part_shares(
    maps: np.ndarray,
    landmarks: np.ndarray,
    size: int,
    upsampling: Literal["bicubic", "bilinear"] = "bicubic",
) -> pd.DataFrame:
    """Share of each map's positive mass on the eyebrows, eyes, nose and mouth of its own face
    (masks drawn from that crop's 68 landmarks), and each part's share of the crop's area.

    Args:
        maps: (n, g, g) maps of aligned face crops.
        landmarks: (n, 68, 2) landmarks in crop pixels.
        size: Side of the crops.

    Returns:
        One row per map: ``<region>`` mass shares (plus ``elsewhere``) and ``<region>_area``.
    """

    rows = []
    for cam_map, points in zip(maps, landmarks, strict=True):
        masks = region_masks(points, size)
        row = region_mass(upsample(cam_map, size, upsampling), masks)
        row.update({f"{region}_area": float(mask.mean()) for region, mask in masks.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def trait_part_values(
    maps: np.ndarray, landmarks: np.ndarray, size: int, regions, upsampling="bicubic"
) -> np.ndarray:
    """Each face crop's share of CAM mass per part under every trait's map: ``(crops, traits,
    parts)``, the paired data of :func:`trait_difference_test` (one crop, five maps)."""
    return np.stack(
        [
            map_part_shares(maps[:, t], landmarks, size, upsampling)[list(regions)].to_numpy()
            for t in range(maps.shape[1])
        ],
        axis=1,
    )


def trait_difference_test(
    values: np.ndarray,
    regions,
    groups: np.ndarray,
    n_permutations: int = N_RESAMPLES,
    seed: int = 0,
) -> dict:
    """Do the traits' maps put their mass on different face parts of the same faces?

    A paired design: ``values[i, t, r]`` is crop i's share of trait t's CAM mass on part r
    (:func:`trait_part_values`). The permutation null shuffles the traits' maps within each crop
    (:func:`~personality_utils.core.stats.paired_permutation_test`; statistic: the variance across
    traits of each part's mean share, summed over parts). The *size* of the difference is the
    largest spread of a part's mean share across traits (max − min), with a bootstrap interval
    that resamples the people the crops come from (``groups``), for judging sameness against a
    margin.

    Returns:
        ``statistic``, ``p_value``, ``largest_spread_region``, ``largest_spread`` and its
        ``largest_spread_low`` / ``largest_spread_high``.
    """

    values = np.asarray(values, dtype=np.float64)
    regions = list(regions)
    # A crop whose map has no positive mass under some trait has no shares: left out.
    keep = np.isfinite(values).all(axis=(1, 2))
    values, groups = values[keep], np.asarray(groups)[keep]
    if len(values) < 2:
        nan = float("nan")
        return dict.fromkeys(
            ("statistic", "p_value", "largest_spread", "largest_spread_low", "largest_spread_high"),
            nan,
        ) | {"largest_spread_region": None}
    test = paired_permutation_test(values, n_resamples=n_permutations, seed=seed)
    means = values.mean(axis=0)  # (traits, parts)
    spread = means.max(axis=0) - means.min(axis=0)
    weights = cluster_weights(groups, n_permutations, seed)
    draws = np.einsum("bi,itr->btr", weights, values) / weights.sum(axis=1)[:, None, None]
    largest = (draws.max(axis=1) - draws.min(axis=1)).max(axis=1)
    low, high = percentile_interval(largest)
    return {
        "statistic": test["statistic"],
        "p_value": test["p_value"],
        "largest_spread_region": regions[int(spread.argmax())],
        "largest_spread": float(spread.max()),
        "largest_spread_low": low,
        "largest_spread_high": high,
    }


@dataclass
class FaceParts:
    """Where the face model's maps of the top crops put their mass (:func:`face_parts`).

    Attributes:
        shares: One row per (trait, region): the mean share of the maps' positive mass on the
            part over that trait's top crops (``value``) and its 95% interval resampling people
            (``value_low``, ``value_high``); regions are :data:`PARTS` and ``"elsewhere"``.
        mass_table: ``value`` as a (trait, region) table, with a last row ``"area of the
            part"``: the part's mean share of the crop (what an even map would give).
        difference: :func:`trait_difference_test` on every trait's map of the same crops.
        crops: How many distinct crops that paired test used.
    """

    shares: pd.DataFrame
    mass_table: pd.DataFrame
    difference: dict[str, Any]
    crops: int

    def description(self) -> str:
        """One line: the paired test and the largest spread across traits."""
        d = self.difference
        return (
            f"do traits differ on the same {self.crops} crops? paired permutation p = "
            f"{d['p_value']:.4f}; largest spread of a part's mean share across traits: "
            f"{d['largest_spread_region']} {d['largest_spread']:.3f} "
            f"[{d['largest_spread_low']:.3f}, {d['largest_spread_high']:.3f}]"
        )

    def record(self) -> dict[str, Any]:
        """The results-file entries: ``face_region_mass`` and ``face_region_trait_difference``."""
        return {
            "face_region_mass": {
                trait: {k: float(v) for k, v in row.items()}
                for trait, row in self.mass_table.iterrows()
            },
            "face_region_trait_difference": self.difference,
        }

    def measurements(self) -> dict[str, Any]:
        """The measurements of the claim "the same face parts for every trait"."""

        d = self.difference
        return {
            "part_spread": estimate(
                d["largest_spread"], d["largest_spread_low"], d["largest_spread_high"]
            ),
            "part_spread_region": d["largest_spread_region"],
            "part_difference_p": d["p_value"],
        }


def face_parts(
    maps: np.ndarray,
    landmarks: np.ndarray,
    tops: dict[str, np.ndarray],
    clips: np.ndarray,
    size: int,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
    upsampling: Literal["bicubic", "bilinear"] = "bicubic",
) -> FaceParts:
    """Share of the face model's CAM mass per face part, per trait over that trait's top crops,
    and whether the traits differ on the same crops.

    Args:
        maps: (crops, 5, g, g) maps of every crop (trait order of
            :data:`~personality_utils.core.vocabulary.TRAITS`).
        landmarks: (crops, 68, 2) landmarks in crop pixels.
        tops: ``{trait: rows}``, the crops mapped for each trait
            (:func:`~personality_utils.cam.maps.top_images`).
        clips: Clip name of every crop (people are resampled).
        size: Side of the crops.
        n_boot: Bootstrap resamples, and permutations of the paired test.
    """

    clips = np.asarray(clips)
    per_trait = []
    for t, trait in enumerate(TRAITS):
        rows = tops[trait]
        shares = map_part_shares(maps[rows, t], landmarks[rows], size, upsampling)
        shares["trait"], shares["clip"] = trait, clips[rows]
        per_trait.append(shares)
    table = pd.concat(per_trait, ignore_index=True)
    long = []
    for trait, frame in table.groupby("trait", sort=False):
        persons = people(frame["clip"])
        for region in [*PARTS, "elsewhere"]:
            value, low, high = bootstrap_interval(frame[region].to_numpy(), persons, n_boot, seed)
            long.append(
                {
                    "trait": trait,
                    "region": region,
                    "value": value,
                    "value_low": low,
                    "value_high": high,
                }
            )
    long = pd.DataFrame(long)
    area = table[[f"{part}_area" for part in PARTS]].mean()
    mass_table = long.pivot(index="trait", columns="region", values="value")[[*PARTS, "elsewhere"]]
    mass_table.loc["area of the part"] = [*area.to_numpy(), 1 - area.sum()]
    # Paired: every trait's map of the same crops (the top crops of all traits together).
    paired = np.unique(np.concatenate([tops[trait] for trait in TRAITS]))
    difference = trait_difference_test(
        trait_part_values(maps[paired], landmarks[paired], size, PARTS, upsampling),
        PARTS,
        people(clips[paired]),
        n_permutations=n_boot,
        seed=seed,
    )
    return FaceParts(long, mass_table, difference, len(paired))
