"""How a claim is judged: the four verdicts, the rules that read an interval against a bar or a
margin, and one claim judged on one chapter's saved measurements.

:mod:`~personality_utils.claims` holds every claim of the paper and of this book, each with a
judge built from these rules; chapters and the summary page call it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALPHA",
    "EQUIVALENCE_MARGIN",
    "HELD",
    "INCONCLUSIVE",
    "NOT_HELD",
    "NOT_TESTABLE",
    "VERDICTS",
    "Claim",
    "Judgement",
    "Untestable",
    "above",
    "below",
    "equivalent",
    "get",
    "interval",
    "judge",
    "number",
    "point",
    "with_interval",
]

HELD, NOT_HELD, INCONCLUSIVE, NOT_TESTABLE = (
    "held",
    "did not hold",
    "inconclusive",
    "not testable here",
)
#: The four verdicts, in the order the summary counts them.
VERDICTS: tuple[str, ...] = (HELD, NOT_HELD, INCONCLUSIVE, NOT_TESTABLE)
#: How far apart the traits' shares of CAM mass on a face part may be and still count as "the
#: same parts" (chapter 05): five percentage points of the map's mass.
EQUIVALENCE_MARGIN = 0.05
#: The significance level of every test a rule reads.
ALPHA = 0.05


class Untestable(Exception):
    """A measurement the claim needs is absent, None or not finite."""


@dataclass(frozen=True)
class Judgement:
    """A claim judged on one chapter's measurements.

    Attributes:
        verdict: One of :data:`VERDICTS`.
        ours: Our figure (a number, or a short text such as an AU name).
        baseline: What the rule compares it with (None when nothing).
        evidence: The numbers behind the verdict, in words.
    """

    verdict: str
    ours: float | str | None
    baseline: float | str | None
    evidence: str


@dataclass(frozen=True)
class Claim:
    """One claim, and how to judge it.

    Attributes:
        key: Short identifier.
        chapter: Results stem whose ``measurements`` it reads.
        text: The claim.
        rule: The rule that decides the verdict, printed with every row.
        paper: The paper's figure for it (None when the paper gives none).
        baseline: What the baseline column is.
        label: Short name for figures.
        judge: Reads the chapter's measurements and returns a :class:`Judgement`.
        check: A check this book adds (True) or a claim of the paper (False).
        planted: On the synthetic set, the planted weights decide it: a check of the method.
        plot: Whether the summary's figure shows it (figures on a 0-1 scale).
    """

    key: str
    chapter: str
    text: str
    rule: str
    paper: float | str | None
    baseline: str
    label: str
    judge: Callable[[Mapping[str, Any]], Judgement]
    check: bool = False
    planted: bool = False
    plot: bool = False


# ----------------------------------------------------------------------------------------------
# Reading measurements and the rules
# ----------------------------------------------------------------------------------------------


def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Untestable(f"a measurement it needs has no finite value ({value!r})")
    number = float(value)
    if not math.isfinite(number):
        raise Untestable(f"a measurement it needs has no finite value ({value!r})")
    return number


def get(measurements: Mapping[str, Any], *path: str) -> Any:
    value: Any = measurements
    for key in path:
        if not isinstance(value, Mapping) or value.get(key) is None:
            raise Untestable(f"no measurement {'.'.join(path)}")
        value = value[key]
    return value


def interval(measurements: Mapping[str, Any], *path: str) -> tuple[float, float, float]:
    item = get(measurements, *path)
    if not isinstance(item, Mapping):
        raise Untestable(f"{'.'.join(path)} has no interval")
    return number(item["value"]), number(item.get("low")), number(item.get("high"))


def above(low: float, high: float, bar: float) -> str:
    """Held if the whole interval lies above ``bar``, not held if it lies at or below it,
    inconclusive if it straddles it."""
    if low > bar:
        return HELD
    if high <= bar:
        return NOT_HELD
    return INCONCLUSIVE


def below(low: float, high: float, bar: float) -> str:
    """Held if the whole interval lies below ``bar``, not held if at or above it."""
    if high < bar:
        return HELD
    if low >= bar:
        return NOT_HELD
    return INCONCLUSIVE


def equivalent(low: float, high: float, margin: float) -> str:
    """Sameness: held if the interval of a (non-negative) difference lies below ``margin``, not
    held if it lies above it, inconclusive if it straddles it (a two one-sided test read from
    the interval; a small sample can never make two things "the same")."""
    if high < margin:
        return HELD
    if low > margin:
        return NOT_HELD
    return INCONCLUSIVE


def point(condition: bool) -> str:
    return HELD if condition else NOT_HELD


def with_interval(value: float, low: float, high: float, digits: int = 4) -> str:
    return f"{value:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def judge(claim: Claim, measurements: Mapping[str, Any], synthetic: bool) -> dict:
    """One claim judged on a chapter's measurements.

    Returns:
        ``key``, ``chapter``, ``claim``, ``rule``, ``paper``, ``ours``, ``baseline``,
        ``baseline_kind``, ``verdict``, ``evidence``, ``reading`` ("finding", "check of the
        method" for the book's checks, "check of the method (planted)" where the synthetic set's
        planted weights decide it) and ``label``.
    """
    try:
        judged = claim.judge(measurements)
    except Untestable as reason:
        judged = Judgement(NOT_TESTABLE, None, None, str(reason))
    if synthetic and claim.planted:
        reading = "check of the method (planted)"
    elif claim.check:
        reading = "check of the method"
    else:
        reading = "finding"
    return {
        "key": claim.key,
        "chapter": claim.chapter,
        "claim": claim.text,
        "rule": claim.rule,
        "paper": claim.paper,
        "ours": judged.ours,
        "baseline": judged.baseline,
        "baseline_kind": claim.baseline,
        "verdict": judged.verdict,
        "evidence": judged.evidence,
        "reading": reading,
        "label": claim.label,
    }
