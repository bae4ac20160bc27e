"""Table 2 of the paper (chapter 07): do units become action-unit detectors? For each AU, the unit
whose top images share the most with the AU's top images, and the paper's significance formula;
beside it a clip-level variant, a permutation null free of the formula's independence, and
whether each AU's best unit looks at the face part the AU moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from personality_utils.core import paper
from personality_utils.core.stats import N_RESAMPLES, permutation_p_value
from personality_utils.core.verdicts import ALPHA
from personality_utils.faces.facs import AU_REGIONS
from personality_utils.faces.regions import region_masks

__all__ = [
    "clip_max",
    "clip_unit_overlap",
    "describe_face_parts",
    "face_part_grid",
    "overlap_p_value",
    "paper_table2",
    "permutation_test",
    "region_agreement",
    "region_agreement_summary",
    "smallest_significant_k",
    "top_items",
    "unit_overlap",
    "unit_top_clips",
]


def overlap_p_value(
    k: int | np.ndarray,
    population: int = paper.TABLE2_FRAMES,
    n_top: int = paper.TABLE2_TOP_N,
    n_units: int = paper.TABLE2_UNITS,
) -> float | np.ndarray:
    """The paper's significance of a best intersection of ``k``:
    ``p = 1 - (1 - P(X >= k))^U`` with X hypergeometric (``population`` frames, ``n_top`` of
    them in the AU's set, ``n_top`` drawn by a unit), the chance that at least one of ``U``
    independent units reaches ``k``.

    Computed as ``-expm1(U * log1p(-q))`` so that tiny p keep their digits. F=2000, N=50,
    U=512 gives 9.32e-5 for k=10 and 0.0855 for k=7 as in the paper, but 0.469 for k=6 where
    the paper prints 0.439.
    """
    from scipy.stats import hypergeom

    k = np.asarray(k)
    tail = hypergeom.sf(k - 1, population, n_top, n_top)  # P(X >= k)
    with np.errstate(divide="ignore"):  # k <= 0: q = 1, log1p(-1) = -inf, p = 1
        p = -np.expm1(n_units * np.log1p(-tail))
    return float(p) if p.ndim == 0 else p


def paper_table2() -> pd.DataFrame:
    """The paper's Table 2 with the p-value its own formula gives (F=2000, N=50, U=512)."""
    table = pd.DataFrame(paper.TABLE2, index=["unit", "overlap", "printed_p"]).T
    table = table.astype({"unit": int, "overlap": int, "printed_p": float})
    table["formula_p"] = overlap_p_value(table["overlap"].to_numpy())
    return table


def top_items(values: np.ndarray | pd.Series, n: int) -> np.ndarray:
    """Positions of the ``n`` largest finite values, largest first (ties: lower position
    first; NaN never chosen).

    Raises:
        ValueError: If fewer than ``n`` values are finite.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(values))
    if len(finite) < n:
        raise ValueError(f"only {len(finite)} finite values for a top {n}")
    order = finite[np.argsort(-values[finite], kind="stable")]
    return order[:n]


def _check_unit_top(unit_top: np.ndarray, population: int) -> np.ndarray:
    unit_top = np.asarray(unit_top)
    if unit_top.ndim != 2 or not np.issubdtype(unit_top.dtype, np.integer):
        raise ValueError(f"unit top sets must be an int array (units, N), got {unit_top.shape}")
    # -1 is the units module's padding (fewer than N images seen): no item.
    if unit_top.size and (unit_top.min() < -1 or unit_top.max() >= population):
        raise ValueError(f"unit top sets index rows outside 0..{population - 1} (or -1)")
    return unit_top


def _membership(unit_top: np.ndarray, population: int) -> np.ndarray:
    """(population, units) 0/1 matrix: which rows each unit's top set holds."""
    matrix = np.zeros((population, len(unit_top)), dtype=np.float32)
    units = np.broadcast_to(np.arange(len(unit_top))[:, None], unit_top.shape)
    kept = unit_top >= 0
    matrix[unit_top[kept], units[kept]] = 1.0
    return matrix


def unit_overlap(
    intensities: pd.DataFrame, unit_top: np.ndarray, n_top: int | None = None
) -> pd.DataFrame:
    """Table 2: for each AU, the unit whose top set shares the most rows with the AU's top set.

    Rows of ``intensities`` and the indices in ``unit_top`` are the same items (frames here,
    clips in :func:`clip_unit_overlap`): ``unit_top[u]`` holds the positions (0-based rows of
    ``intensities``, not index labels) of unit u's ``N`` highest activations, e.g.
    ``UnitStats.images["conv5_3"]`` of :mod:`personality_utils.units.activations` computed on the
    same store (-1 entries, its padding, are ignored; its ties go to the lower index, as here). The
    population F is every row. An AU with fewer than ``n_top`` finite values (AU14 from the
    geometric estimator) is left out.

    Args:
        intensities: Items x AUs (e.g. from :func:`au_intensities`).
        unit_top: int array (units, N).
        n_top: Size of the AU sets (default N, as in the paper's formula).

    Returns:
        A DataFrame indexed by AU with ``unit`` (the best, lowest index on ties), ``overlap``
        (k), ``n_top``, ``population``, ``n_units`` and ``p_value``
        (:func:`overlap_p_value`).
    """
    population = len(intensities)
    unit_top = _check_unit_top(unit_top, population)
    n_top = unit_top.shape[1] if n_top is None else n_top
    membership = _membership(unit_top, population)
    rows = {}
    for column in intensities.columns:
        values = intensities[column].to_numpy(dtype=np.float64)
        if np.isfinite(values).sum() < n_top:
            continue  # e.g. AU14 from the geometric estimator: all NaN
        chosen = np.zeros(population, dtype=np.float32)
        chosen[top_items(values, n_top)] = 1.0
        overlaps = chosen @ membership
        best = int(np.argmax(overlaps))
        rows[column] = {
            "unit": best,
            "overlap": int(overlaps[best]),
            "n_top": n_top,
            "population": population,
            "n_units": len(unit_top),
            "p_value": overlap_p_value(int(overlaps[best]), population, n_top, len(unit_top)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def clip_max(intensities: pd.DataFrame, clips: Sequence[str] | np.ndarray) -> pd.DataFrame:
    """Each clip's highest intensity per AU (its max-intensity frame), clips sorted."""
    grouped = intensities.groupby(np.asarray(clips), sort=True).max()
    grouped.index.name = "clip"
    return grouped


def unit_top_clips(
    clips: Sequence[str] | np.ndarray,
    n_top: int,
    activations: np.ndarray | None = None,
    unit_top: np.ndarray | None = None,
) -> np.ndarray:
    """Each unit's top ``n_top`` clips, as positions in the sorted list of distinct clips.

    From ``activations`` (frames x units, e.g. each frame's max over positions): a clip scores
    its best frame. From ``unit_top`` (units x N frame rows, best first): the distinct clips
    in rank order; a unit whose N frames span fewer than ``n_top`` clips is an error (pass the
    activations, or a smaller ``n_top``).
    """
    clips = np.asarray(clips)
    names, codes = np.unique(clips, return_inverse=True)
    if activations is not None:
        activations = np.asarray(activations, dtype=np.float64)
        if activations.shape[0] != len(clips):
            raise ValueError(f"{activations.shape[0]} activation rows for {len(clips)} frames")
        per_clip = np.full((len(names), activations.shape[1]), -np.inf)
        np.maximum.at(per_clip, codes, np.nan_to_num(activations, nan=-np.inf))
        order = np.argsort(-per_clip, axis=0, kind="stable")
        return order[:n_top].T.copy()
    if unit_top is None:
        raise ValueError("give activations or unit_top")
    unit_top = _check_unit_top(unit_top, len(clips))
    out = np.zeros((len(unit_top), n_top), dtype=np.int64)
    for unit, frames in enumerate(unit_top):
        distinct = list(dict.fromkeys(codes[frames[frames >= 0]].tolist()))
        if len(distinct) < n_top:
            raise ValueError(
                f"unit {unit}: its {len(frames)} top frames span {len(distinct)} clips, "
                f"fewer than n_top={n_top}; pass activations or a smaller n_top"
            )
        out[unit] = distinct[:n_top]
    return out


def clip_unit_overlap(
    intensities: pd.DataFrame,
    clips: Sequence[str] | np.ndarray,
    n_top: int,
    activations: np.ndarray | None = None,
    unit_top: np.ndarray | None = None,
) -> pd.DataFrame:
    """Table 2 at the clip level: one frame per clip on each side, F = number of clips.

    Frames of one clip are near-copies (the same face a second apart), so the frame-level test
    counts one coincidence up to ten times. Here each AU ranks clips by their max-intensity
    frame (:func:`clip_max`) and each unit by its best frame (:func:`unit_top_clips`, from the
    units' ``activations`` or their top frame lists ``unit_top``); the result is
    :func:`unit_overlap`'s table with F = the number of clips.
    """
    table = clip_max(intensities, clips)
    tops = unit_top_clips(clips, n_top, activations=activations, unit_top=unit_top)
    return unit_overlap(table, tops, n_top=n_top)


def permutation_test(
    intensities: pd.DataFrame,
    unit_top: np.ndarray,
    *,
    n_top: int | None = None,
    n_permutations: int = N_RESAMPLES,
    seed: int = 0,
    batch: int = 250,
) -> pd.DataFrame:
    """A permutation null for the best intersection, free of the formula's assumptions.

    Shuffling an AU's intensities across the rows turns its top set into a uniformly random
    set of the same size; the null is the largest intersection over all units of such a set
    with the (fixed) unit top sets, which keeps the real dependence between units (units with
    overlapping top sets). Vectorised: one matrix product per batch of permutations.

    Returns:
        A DataFrame indexed by AU: ``overlap`` (observed best), ``p_permutation``
        (``(1 + #null >= observed) / (1 + n_permutations)``), ``null_mean``, ``null_q95``
        and the formula's ``p_value`` for comparison.
    """
    population = len(intensities)
    unit_top = _check_unit_top(unit_top, population)
    n_top = unit_top.shape[1] if n_top is None else n_top
    membership = _membership(unit_top, population)
    rng = np.random.default_rng(seed)
    rows = {}
    for column in intensities.columns:
        values = intensities[column].to_numpy(dtype=np.float64)
        if np.isfinite(values).sum() < n_top:
            continue
        chosen = np.zeros(population, dtype=np.float32)
        chosen[top_items(values, n_top)] = 1.0
        observed = int((chosen @ membership).max())
        null = []
        for start in range(0, n_permutations, batch):
            size = min(batch, n_permutations - start)
            permutations = np.argsort(rng.random((size, population)), axis=1)
            null.append((chosen[permutations] @ membership).max(axis=1))
        null = np.concatenate(null).astype(np.int64)
        rows[column] = {
            "overlap": observed,
            "p_permutation": permutation_p_value(observed, null),
            "null_mean": float(null.mean()),
            "null_q95": float(np.quantile(null, 0.95)),
            "p_value": overlap_p_value(observed, population, n_top, len(unit_top)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def region_agreement(
    best_units: Mapping[str, int] | pd.Series,
    shares: pd.DataFrame,
    regions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Does each AU's best-matching unit look at the face part the AU moves?

    For an AU moving region r (:data:`~personality_utils.faces.facs.AU_REGIONS`), its unit's
    share of top-N maxima in r is compared with the average unit's share in r. A unit drawn
    at random beats the average with probability ``chance`` (the share of units above it), so
    the number of AUs whose unit beats it can be compared with the sum of those chances
    (:func:`region_agreement_summary`). An AU whose region holds no unit maximum at all (a
    region with no cell on a coarse grid, e.g. the eyebrows at 7x7) is not testable.

    Args:
        best_units: AU -> unit (e.g. the ``unit`` column of :func:`unit_overlap`).
        shares: Units x regions, each unit's share of maxima per region
            (:func:`personality_utils.units.semantics.region_shares`).
        regions: AU -> region (default: :data:`~personality_utils.faces.facs.AU_REGIONS`).

    Returns:
        Indexed by AU: ``region``, ``unit``, ``unit_share``, ``mean_share``, ``chance``,
        ``above`` (bool, NaN when not testable) and ``testable``.
    """
    if regions is None:
        regions = {f"AU{au:02d}": region for au, region in AU_REGIONS.items()}
    rows = {}
    for au, unit in dict(best_units).items():
        region = regions.get(au)
        if region is None:
            raise ValueError(f"no face region known for {au}")
        if region not in shares.columns:
            raise ValueError(f"the shares have no column {region!r} (columns {list(shares)})")
        if unit not in shares.index:
            raise ValueError(f"unit {unit} of {au} is not in the shares")
        column = shares[region].astype(float)
        mean = float(column.mean())
        testable = bool(column.sum() > 0)
        unit_share = float(column.loc[unit])
        rows[au] = {
            "region": region,
            "unit": int(unit),
            "unit_share": unit_share,
            "mean_share": mean,
            "chance": float((column > mean).mean()),
            "above": (unit_share > mean) if testable else np.nan,
            "testable": testable,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def region_agreement_summary(table: pd.DataFrame) -> dict[str, float]:
    """How many testable AUs of :func:`region_agreement` have a unit above the average one,
    against chance.

    Under the null each AU's unit is a random unit, independent across AUs; the count is then
    a sum of Bernoulli(``chance``) variables, whose exact tail gives ``p_value``
    (P(count >= observed)).

    Returns:
        ``observed``, ``expected``, ``n_testable``, ``p_value`` (NaN with no testable AU) and
        ``detectable`` (the smallest count whose p is below 0.05; NaN when none is).
    """
    testable = table[table["testable"].astype(bool)]
    chances = testable["chance"].to_numpy(dtype=np.float64)
    observed = int(testable["above"].astype(bool).sum())
    distribution = np.array([1.0])
    for chance in chances:  # exact Poisson-binomial law by convolution
        distribution = np.convolve(distribution, [1 - chance, chance])
    tails = distribution[::-1].cumsum()[::-1]  # tails[c] = P(count >= c)
    below = np.flatnonzero(tails < ALPHA)
    return {
        "observed": observed,
        "expected": float(chances.sum()),
        "n_testable": len(testable),
        "p_value": float(tails[observed]) if len(testable) else np.nan,
        "detectable": float(below[0]) if len(testable) and len(below) else np.nan,
    }


def smallest_significant_k(
    population: int, n_top: int, n_units: int, alpha: float = 0.05
) -> int | None:
    """The smallest best intersection k whose :func:`overlap_p_value` is below ``alpha`` for F =
    ``population``, N = ``n_top`` and U = ``n_units``; None when even k = N is not."""
    p_by_k = overlap_p_value(np.arange(n_top + 1), population, n_top, n_units)
    below = p_by_k < alpha
    return int(np.argmax(below)) if below.any() else None


def face_part_grid(store, input_size: int, grid: int) -> dict[str, np.ndarray]:
    """The face parts on a unit grid, as in chapter 06: drawn from the mean landmarks of a face
    store's crops (:func:`~personality_utils.faces.regions.region_masks`), scaled to the network's
    ``input_size``, for :func:`~personality_utils.units.semantics.region_shares` and
    :func:`region_agreement`.

    Args:
        store: A face store (its ``landmarks`` and ``crops``), e.g. the training split's.
        input_size: The network's input side.
        grid: The side of the unit grid (e.g. ``UnitStats.grid``).
    """

    mean_landmarks = store.landmarks.mean(axis=0)
    crop_size = store.crops.shape[1]
    return region_masks(mean_landmarks * input_size / crop_size, input_size, grid=grid)


def describe_face_parts(masks_grid: Mapping[str, np.ndarray]) -> str:
    """How many grid cells each face part of :func:`face_part_grid` holds, and which parts hold
    none (their AUs cannot be tested by :func:`region_agreement`)."""
    side = len(next(iter(masks_grid.values())))
    counts = ", ".join(f"{region} {int(mask.sum())}" for region, mask in masks_grid.items())
    text = f"cells per face part on the {side}x{side} conv5_3 grid: {counts}"
    empty = [region for region, mask in masks_grid.items() if not mask.any()]
    if empty:
        text += (
            f"\nno cell belongs to: {', '.join(empty)} (at this grid the neighbouring part covers "
            "more of each cell), so AUs of those parts cannot be tested here"
        )
    return text
