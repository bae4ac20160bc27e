"""Chapter 07's Table 2, assembled from :mod:`~personality_utils.aus.links` on an
:class:`~personality_utils.aus.study.AUStudy`: the headline at the study's population (one face per
test clip) with its permutation null, Benjamini-Hochberg q-values and the best intersections of
the network before fine-tuning, of a random network and of the planted AUs (7.2); the same over
every test face frame and at the clip level (7.3); whether each AU's unit looks at the face part
the AU moves (7.5); and what the chapter saves and judges of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from personality_utils.aus import links as au_units
from personality_utils.aus.openface import AU_COLUMNS
from personality_utils.core import images, paper, stats
from personality_utils.core.stats import N_RESAMPLES
from personality_utils.core.verdicts import ALPHA
from personality_utils.units.emergence import Resample, compare
from personality_utils.units.top_sets import best_intersections

__all__ = [
    "PAPER_AUS",
    "Table2",
    "Table2Checks",
    "Table2Intervals",
    "by_source",
    "intervals",
    "checks",
    "headline",
    "log_p",
    "measurements",
    "paper_formula_check",
    "paper_record",
    "record",
    "region_links",
    "side_by_side",
    "significance",
    "significant_counts",
    "top_face_panels",
]

#: The AUs the paper finds a unit for (Table 2's significant rows).
PAPER_AUS = paper.TABLE2_SIGNIFICANT


@dataclass
class Table2:
    """Table 2 at the study's population (:func:`headline`).

    Attributes:
        table: One row per AU of :data:`~personality_utils.aus.openface.AU_COLUMNS`: ``measured``
            ("yes" or why not), :func:`~personality_utils.aus.links.unit_overlap`'s columns,
            ``p_permutation`` and ``null_q95``
            (:func:`~personality_utils.aus.links.permutation_test`), ``q_bh``
            (Benjamini-Hochberg over the AUs), ``k_pretrained_network`` (the network before
            fine-tuning, when there is one), ``k_random_network`` and, on the synthetic set,
            ``k_planted_aus``.
        planted: Table 2 from the planted AUs (synthetic set, else None).
    """

    table: pd.DataFrame
    planted: pd.DataFrame | None = None

    @property
    def measured(self) -> pd.DataFrame:
        """The rows of the AUs the source measures."""
        return self.table.dropna(subset=["overlap"])


def headline(study, n_permutations: int = N_RESAMPLES, seed: int = 0) -> Table2:
    """Table 2 as in the paper, on ``study`` (an :class:`~personality_utils.aus.study.AUStudy`):
    each AU's top faces of the population against each conv5_3 unit's, with the references."""
    population_aus = study.population_aus
    table = au_units.unit_overlap(population_aus, study.unit_top).reindex(list(AU_COLUMNS))
    permutation = au_units.permutation_test(
        population_aus, study.unit_top, n_permutations=n_permutations, seed=seed
    )
    table["p_permutation"] = permutation["p_permutation"]
    table["null_q95"] = permutation["null_q95"]
    table["q_bh"] = stats.benjamini_hochberg(table["p_value"])
    if study.pretrained_top is not None:
        table["k_pretrained_network"] = au_units.unit_overlap(population_aus, study.pretrained_top)[
            "overlap"
        ]
    table["k_random_network"] = au_units.unit_overlap(population_aus, study.random_top)["overlap"]
    planted = None
    if study.truth_aus is not None:
        planted = au_units.unit_overlap(study.truth_aus.iloc[study.population_rows], study.unit_top)
        table["k_planted_aus"] = planted["overlap"]
    measured = table.dropna(subset=["overlap"]).index
    table.insert(
        0,
        "measured",
        ["yes" if au in measured else f"not by {study.au_source}" for au in table.index],
    )
    return Table2(table, planted)


def side_by_side(table2: Table2) -> pd.DataFrame:
    """The paper's Table 2 (:func:`~personality_utils.aus.links.paper_table2`) beside the
    measured one, with integer columns as nullable integers."""
    paper_table = au_units.paper_table2()
    table = table2.table
    measured = ["measured", "unit", "k", "p", "p_permutation", "q_bh"]
    measured += [c for c in ("k_pretrained_network", "k_random_network") if c in table.columns]
    if "k_planted_aus" in table.columns:
        measured.append("k_planted_aus")
    both = pd.concat(
        {
            "paper": paper_table.rename(columns={"overlap": "k", "printed_p": "p (printed)"})[
                ["unit", "k", "p (printed)", "formula_p"]
            ],
            "measured": table.rename(columns={"overlap": "k", "p_value": "p"})[measured],
        },
        axis=1,
    )
    integers = [("paper", "unit"), ("paper", "k")]
    integers += [("measured", c) for c in measured if c.startswith("k") or c == "unit"]
    return both.astype(dict.fromkeys(integers, "Int64"))


def by_source(table2: Table2) -> pd.DataFrame | None:
    """Table 2 on the measured AUs beside Table 2 on the planted AUs (synthetic set; None
    elsewhere): per AU, each source's best unit, k, p and Benjamini-Hochberg q. The planted AUs
    are a perfect instrument, so the analysis itself is tested even where the measured AUs are
    not."""
    if table2.planted is None:
        return None
    planted = table2.planted.copy()
    planted["q_bh"] = stats.benjamini_hochberg(planted["p_value"])
    columns = {"unit": "unit", "overlap": "k", "p_value": "p", "q_bh": "q"}
    both = pd.concat(
        {
            "measured AUs": table2.table[list(columns)].rename(columns=columns),
            "planted AUs": planted[list(columns)].rename(columns=columns),
        },
        axis=1,
    ).reindex(list(AU_COLUMNS))
    integers = [(side, c) for side in ("measured AUs", "planted AUs") for c in ("unit", "k")]
    return both.astype(dict.fromkeys(integers, "Int64"))


def paper_formula_check() -> pd.DataFrame:
    """Per intersection k of the paper's Table 2: the p it prints and the p its formula gives
    (F = 2000, N = 50, U = 512), with the AUs of that k."""
    table = au_units.paper_table2().rename_axis("AU").reset_index()
    return table.groupby("overlap").agg(
        printed_p=("printed_p", "first"),
        formula_p=("formula_p", "first"),
        aus=("AU", ", ".join),
    )


def top_face_panels(
    study, table2: Table2, shown: int = 10, outline: str = "#ff7f0e", size: int = 64
) -> dict[str, list[np.ndarray]]:
    """For a gallery with a menu (:func:`~personality_utils.figures.plots.gallery_with_menu`): per
    measured AU, the first ``shown`` of its top faces, then its best unit's; faces in both top
    sets (all N, not only those shown) framed in ``outline``."""
    crops, rows = study.face_store.crops, study.population_rows
    panels = {}
    for au, row in table2.measured.iterrows():
        top = au_units.top_items(study.population_aus[au], study.n_top)
        unit_rows = study.unit_top[int(row["unit"])]
        shared = set(top) & set(unit_rows[unit_rows >= 0])
        chosen = [r for r in [*top[:shown], *unit_rows[:shown]] if r >= 0]
        panels[f"{au} · unit {int(row['unit'])} (k = {int(row['overlap'])})"] = [
            images.thumbnail(crops[rows[r]], size, outline if r in shared else None) for r in chosen
        ]
    return panels


@dataclass
class Table2Checks:
    """Table 2 over every test face frame and at the clip level (:func:`checks`).

    Attributes:
        frames: Over every frame: :func:`~personality_utils.aus.links.unit_overlap`'s columns,
            ``p_permutation``, ``q_bh`` and ``k_random_network``.
        clips: At the clip level (:func:`~personality_utils.aus.links.clip_unit_overlap`).
        clip_permutation: Its permutation null
            (:func:`~personality_utils.aus.links.permutation_test`).
        frame_top_n, clip_top_n: N over frames and over clips.
        n_frames, n_clips, n_units: F over frames and over clips, and U.
        au_clips, unit_clips: Mean number of distinct clips in an AU's and a unit's top frames.
        n_permutations: Shuffles per AU.
    """

    frames: pd.DataFrame
    clips: pd.DataFrame
    clip_permutation: pd.DataFrame
    frame_top_n: int
    clip_top_n: int
    n_frames: int
    n_clips: int
    n_units: int
    au_clips: float
    unit_clips: float
    n_permutations: int

    @property
    def clip_q(self) -> pd.Series:
        """Benjamini-Hochberg q of the clip-level permutation p, one row per AU."""
        q = stats.benjamini_hochberg(self.clip_permutation["p_permutation"])
        return q.reindex(list(AU_COLUMNS))

    def describe(self) -> str:
        """The sizes of both checks, how many clips a top set of frames spans, and the smallest
        significant k at the clip level."""
        k = au_units.smallest_significant_k(self.n_clips, self.clip_top_n, self.n_units)
        floor = 1 / (self.n_permutations + 1)
        return (
            f"all frames: F = {self.n_frames}, N = {self.frame_top_n}; distinct clips in a top "
            f"set of {self.frame_top_n} frames: AUs {self.au_clips:.1f} on average, units "
            f"{self.unit_clips:.1f} (the test set has {self.n_frames / self.n_clips:.1f} face "
            "frames per clip)\n"
            f"clip level: F = {self.n_clips} clips, N = {self.clip_top_n} clips per top set, "
            f"U = {self.n_units}; p < 0.05 needs k ≥ {'more than N' if k is None else k}; "
            f"permutation p cannot go below 1/{self.n_permutations + 1} = {floor:.1e}"
        )


def checks(study, n_permutations: int = N_RESAMPLES, seed: int = 0) -> Table2Checks:
    """Table 2 over every test face frame (chapter 06's all-frames pass) and at the clip level
    built from all frames: an AU's clip score is its highest frame, a unit's its best frame, and
    N_clips = N · clips / frames (at most the clips a unit's top frames span)."""
    frame_aus, clips = study.frame_aus, study.clips
    unit_top, n_top = study.frame_unit_top, study.frame_top_n
    frames = au_units.unit_overlap(frame_aus, unit_top)
    permutation = au_units.permutation_test(
        frame_aus, unit_top, n_permutations=n_permutations, seed=seed
    )
    frames["p_permutation"] = permutation["p_permutation"]
    frames["q_bh"] = stats.benjamini_hochberg(frames["p_value"])
    if study.frame_pretrained_top is not None:
        frames["k_pretrained_network"] = au_units.unit_overlap(
            frame_aus, study.frame_pretrained_top
        )["overlap"]
    frames["k_random_network"] = au_units.unit_overlap(frame_aus, study.frame_random_top)["overlap"]
    au_clips = [
        len(np.unique(clips[au_units.top_items(frame_aus[au], n_top)])) for au in frames.index
    ]
    unit_clips = [len(np.unique(clips[rows[rows >= 0]])) for rows in unit_top]
    n_frames, n_clips = study.n_frames, study.n_clips
    clip_top_n = min(max(1, round(n_top * n_clips / n_frames)), min(unit_clips))
    return Table2Checks(
        frames=frames,
        clips=au_units.clip_unit_overlap(frame_aus, clips, clip_top_n, unit_top=unit_top),
        clip_permutation=au_units.permutation_test(
            au_units.clip_max(frame_aus, clips),
            au_units.unit_top_clips(clips, clip_top_n, unit_top=unit_top),
            n_top=clip_top_n,
            n_permutations=n_permutations,
            seed=seed,
        ),
        frame_top_n=n_top,
        clip_top_n=clip_top_n,
        n_frames=n_frames,
        n_clips=n_clips,
        n_units=len(unit_top),
        au_clips=float(np.mean(au_clips)),
        unit_clips=float(np.mean(unit_clips)),
        n_permutations=n_permutations,
    )


def significance(table2: Table2, checks: Table2Checks) -> pd.DataFrame:
    """Per AU, k, the formula's p, the permutation p and the q-values at the three levels:
    one face per clip, every frame, clips."""
    table, frames, clips = table2.table, checks.frames, checks.clips
    return pd.DataFrame(
        {
            "one face per clip: k": table["overlap"],
            "one face per clip: p (formula)": table["p_value"],
            "one face per clip: p (permutation)": table["p_permutation"],
            "one face per clip: q (BH, formula)": table["q_bh"],
            "frames: k": frames["overlap"],
            "frames: p (formula)": frames["p_value"],
            "frames: p (permutation)": frames["p_permutation"],
            "frames: q (BH, formula)": frames["q_bh"],
            "clips: unit": clips["unit"],
            "clips: k": clips["overlap"],
            "clips: p (formula)": clips["p_value"],
            "clips: p (permutation)": checks.clip_permutation["p_permutation"],
            "clips: q (BH, permutation)": checks.clip_q,
        }
    ).reindex(list(AU_COLUMNS))


def significant_counts(table: pd.DataFrame, alpha: float = ALPHA) -> pd.Series:
    """Per p or q column of :func:`significance`, the number of AUs below ``alpha``."""
    columns = [column for column in table.columns if "p (" in column or "q (" in column]
    return (table[columns] < alpha).sum().rename(f"AUs at p (or q) < {alpha}")


def log_p(table2: Table2, checks: Table2Checks) -> pd.DataFrame:
    """-log10 p per AU as the paper prints it and as measured at the three levels (a figure)."""
    table = table2.table
    return pd.DataFrame(
        {
            "paper (printed)": -np.log10(au_units.paper_table2()["printed_p"]),
            "one face per clip, formula": -np.log10(table["p_value"].astype(float)),
            "one face per clip, permutation": -np.log10(table["p_permutation"].astype(float)),
            "frames, formula": -np.log10(checks.frames["p_value"]),
            "clips, permutation": -np.log10(checks.clip_permutation["p_permutation"]),
        }
    ).reindex(list(AU_COLUMNS))


def region_links(
    table2: Table2, shares: pd.DataFrame, au_source: str
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """:func:`~personality_utils.aus.links.region_agreement` of each AU's best unit, for the
    measured AUs (named ``au_source``) and, on the synthetic set with another source, for the
    planted AUs.

    Returns:
        The agreement table per source, and their
        :func:`~personality_utils.aus.links.region_agreement_summary` (one row per source).
    """
    sources = {au_source: table2.measured}
    if table2.planted is not None and au_source != "truth":
        sources["planted AUs"] = table2.planted
    agreement = {
        name: au_units.region_agreement(table["unit"].astype(int), shares)
        for name, table in sources.items()
    }
    summary = pd.DataFrame(
        {name: au_units.region_agreement_summary(table) for name, table in agreement.items()}
    ).T
    return agreement, summary


@dataclass
class Table2Intervals:
    """Table 2's comparisons with intervals over people (:func:`intervals`).

    Attributes:
        lip_corner_gap: Per source (``measured``, ``planted`` on the synthetic set), the best
            lip-corner AU's k/N minus the best other AU's (the Table 2 model, people resampled).
        best_k_gap: The mean best k/N over the measured AUs, the trained networks (one per
            fine-tuning seed) minus the null (the network before fine-tuning, else random
            weights), people and seeds resampled.
        best_k_levels: Each network group's mean best k/N.
        null: Which null.
    """

    lip_corner_gap: dict[str, dict]
    best_k_gap: dict
    best_k_levels: dict[str, float]
    null: str


def intervals(study, networks, n_boot: int = N_RESAMPLES, seed: int = 0) -> Table2Intervals:
    """Table 2's lip-corner and trained-against-null comparisons, each with an interval:
    every statistic recomputed on people draws of the population from the networks' dense
    passes (:func:`~personality_utils.units.emergence.dense_networks`).

    Args:
        study: The :class:`~personality_utils.aus.study.AUStudy` (its population's AUs, and the
            planted ones on the synthetic set).
        networks: :func:`~personality_utils.units.emergence.dense_networks` over the same
            population (the first fine-tuning seed is Table 2's model).
    """

    resample = Resample.of(networks.clips, n_boot, seed)
    weights, n = resample.weights, study.n_top
    sources = {"measured": study.population_aus}
    if study.truth_aus is not None and study.au_source != "truth":
        sources["planted"] = study.truth_aus.iloc[study.population_rows]
    first = next(iter(networks.trained.values()))
    lip = list(paper.LIP_CORNER_AUS)
    gaps = {}
    for source, values in sources.items():
        values = values.reindex(columns=list(AU_COLUMNS))
        k = best_intersections(first, values.to_numpy(), weights, n) / n
        columns = list(values.columns)
        lips = [columns.index(au) for au in lip]
        others = [i for i in range(len(columns)) if i not in lips]
        with np.errstate(all="ignore"):
            gap = np.nanmax(k[:, lips], axis=1) - np.nanmax(k[:, others], axis=1)
        low, high = stats.percentile_interval(gap[1:][np.isfinite(gap[1:])])
        gaps[source] = stats.estimate(gap[0], low, high)
    measured = sources["measured"].reindex(columns=list(AU_COLUMNS)).to_numpy()
    groups: dict[str, list[np.ndarray]] = {"trained": [], "pretrained": [], "random": []}
    dense = [("trained", v) for v in networks.trained.values()]
    if networks.pretrained is not None:
        dense.append(("pretrained", networks.pretrained))
    dense += [("random", v) for v in networks.random.values()]
    for group, statistics in dense:
        with np.errstate(all="ignore"):
            mean_k = np.nanmean(best_intersections(statistics, measured, weights, n), axis=1) / n
        groups[group].append(mean_k)
    groups = {name: values for name, values in groups.items() if values}
    null = networks.null
    return Table2Intervals(
        lip_corner_gap=gaps,
        best_k_gap=compare(groups["trained"], np.mean(np.stack(groups[null]), axis=0), seed),
        best_k_levels={name: float(np.mean([v[0] for v in g])) for name, g in groups.items()},
        null=null,
    )


def _rows(table: pd.DataFrame, q: pd.Series | None = None) -> dict[str, dict[str, float]]:
    """Per AU with an intersection: k, p and q (BH over the table's AUs unless given)."""
    table = table.dropna(subset=["overlap"])
    q = stats.benjamini_hochberg(table["p_value"]) if q is None else q.reindex(table.index)
    return {
        au: {"k": float(row["overlap"]), "p": float(row["p_value"]), "q": float(q[au])}
        for au, row in table.iterrows()
    }


def measurements(
    table2: Table2,
    checks: Table2Checks,
    links: pd.DataFrame,
    au_source: str,
    table2_intervals: Table2Intervals | None = None,
) -> dict[str, Any]:
    """What :mod:`~personality_utils.claims.catalogue` judges of Table 2 (chapter 07), per AU source
    (``measured``; ``planted`` on the synthetic set): each AU's k, p and BH q at one face per
    clip, the smallest k whose p falls below 0.05 (before the correction), the best-matched
    AUs and the lip-corner gap; for the measured AUs the same over every frame and at the clip
    level; the trained-against-null mean best k; and the face-part links (``links``, the
    summary of :func:`region_links`, with the count each needs for p < 0.05)."""
    measured = table2.measured
    n_faces = int(measured["population"].iloc[0]) if len(measured) else 0
    n_top = int(measured["n_top"].iloc[0]) if len(measured) else 0
    n_units = int(measured["n_units"].iloc[0]) if len(measured) else 0
    detectable = au_units.smallest_significant_k(n_faces, n_top, n_units) if n_top else None
    tables = {"measured": measured}
    if table2.planted is not None and au_source != "truth":
        tables["planted"] = table2.planted
    per_source: dict[str, dict[str, Any]] = {}
    for source, table in tables.items():
        rows = _rows(table, measured["q_bh"] if source == "measured" else None)
        best = max((row["k"] for row in rows.values()), default=None)
        per_source[source] = {
            "aus": rows,
            "detectable_k_aus": detectable,
            "best_matched": sorted(au for au, row in rows.items() if row["k"] == best),
            "lip_corner_gap": None
            if table2_intervals is None
            else table2_intervals.lip_corner_gap.get(source),
        }
    frames = checks.frames.dropna(subset=["overlap"])
    per_source["measured"]["every_frame"] = _rows(frames, frames["q_bh"])
    per_source["measured"]["detectable_k_every_frame"] = au_units.smallest_significant_k(
        checks.n_frames, checks.frame_top_n, checks.n_units
    )
    clips = checks.clips.dropna(subset=["overlap"])
    per_source["measured"]["clip_level"] = {
        au: {
            "k": float(clips.loc[au, "overlap"]),
            "p": float(checks.clip_permutation.loc[au, "p_permutation"]),
            "q": float(checks.clip_q[au]),
        }
        for au in clips.index
        if np.isfinite(checks.clip_q.get(au, np.nan))
    }
    per_source["measured"]["detectable_k_clip_level"] = au_units.smallest_significant_k(
        checks.n_clips, checks.clip_top_n, checks.n_units
    )
    out: dict[str, Any] = {
        "table2": per_source,
        "region_links": {
            ("measured AUs" if name == au_source else name): row.to_dict()
            for name, row in links.iterrows()
        },
    }
    if table2_intervals is not None:
        out["best_k_gap"] = table2_intervals.best_k_gap
        out["best_k_gap_levels"] = table2_intervals.best_k_levels
        out["emergence_null"] = table2_intervals.null
    return out


def record(table2: Table2, checks: Table2Checks, links: pd.DataFrame) -> dict[str, Any]:
    """What the chapter saves of Table 2 and its checks (JSON-ready records per AU)."""
    table, frames, clips = table2.table, checks.frames, checks.clips
    headline_rows = pd.DataFrame(
        {
            "measured": table["measured"],
            "unit": table["unit"],
            "intersection": table["overlap"],
            "p": table["p_value"],
            "p_permutation": table["p_permutation"],
            "q_bh": table["q_bh"],
            "intersection_random_network": table["k_random_network"],
        }
    )
    if "k_pretrained_network" in table.columns:
        headline_rows["intersection_pretrained_network"] = table["k_pretrained_network"]
    if "k_planted_aus" in table.columns:
        headline_rows["intersection_planted_aus"] = table["k_planted_aus"]
    check_rows = pd.DataFrame(
        {
            "unit": frames["unit"],
            "intersection": frames["overlap"],
            "p": frames["p_value"],
            "p_permutation": frames["p_permutation"],
            "q_bh": frames["q_bh"],
            "intersection_random_network": frames["k_random_network"],
            "clip_unit": clips["unit"],
            "clip_intersection": clips["overlap"],
            "clip_p": clips["p_value"],
            "clip_p_permutation": checks.clip_permutation["p_permutation"],
            "clip_q_bh": checks.clip_q,
        }
    ).reindex(list(AU_COLUMNS))
    if "k_pretrained_network" in frames.columns:
        check_rows["intersection_pretrained_network"] = frames["k_pretrained_network"]
    measured = table2.measured
    return {
        "clip_top_n": int(checks.clip_top_n),
        "table2": headline_rows.rename_axis("AU").reset_index().to_dict("records"),
        "table2_all_frames": check_rows.rename_axis("AU").reset_index().to_dict("records"),
        "significant_aus": {
            "first_face_formula": int((measured["p_value"] < ALPHA).sum()),
            "first_face_bh": int((measured["q_bh"] < ALPHA).sum()),
            "frames_formula": int((frames["p_value"] < ALPHA).sum()),
            "frames_bh": int((frames["q_bh"] < ALPHA).sum()),
            "clips_permutation_bh": int((checks.clip_q < ALPHA).sum()),
        },
        "region_agreement": {name: row.to_dict() for name, row in links.iterrows()},
    }


def paper_record() -> dict[str, Any]:
    """The paper's Table 2 as the chapter saves it, with the p it prints for k = 6 and the p its
    formula gives."""
    table = au_units.paper_table2()
    return {
        "table2": table.rename(columns={"overlap": "intersection"})
        .rename_axis("AU")
        .reset_index()
        .to_dict("records"),
        "k6_printed_p": {k: p for _unit, k, p in paper.TABLE2.values()}[6],
        "k6_formula_p": float(au_units.overlap_p_value(6)),
    }
