"""Every claim of the paper, and every check this book adds, judged once.

Each chapter saves a record of its measurements (``measurements`` in its results file) and ends
with :func:`report`, which judges that chapter's rows of :data:`CLAIMS`, prints them with their
rules, and returns them for the results file; the summary page (chapter 08) judges the same rows
from the same records with :func:`evaluate`, so a chapter and the summary cannot disagree.

A judge turns a chapter's measurements into typed :class:`~personality_utils.core.verdicts.Evidence`
(an estimate with its interval, or a test's p and q, a bar and a smallest effect of interest,
parts, and the instruments it rests on); the verdict is derived from that evidence by
:func:`~personality_utils.core.verdicts.derive`, with one meaning everywhere: a test that misses
significance is *inconclusive*, never *did not hold*; a claim whose instrument failed its own
check is *not testable here*. On the synthetic set, a claim whose answer the generator's planted
weights decide (:func:`planted`) is read as a check of the method, not as a finding.

Each chapter's judges sit just above its rows, in one module per chapter (``model_rows``,
``cam_rows``, ``attribution_rows``, ``unit_rows``, ``au_rows``); the helpers they share are in
``common``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from personality_utils.claims.attribution_rows import ATTRIBUTION_CLAIMS
from personality_utils.claims.au_rows import AU_CLAIMS
from personality_utils.claims.cam_rows import CAM_CLAIMS
from personality_utils.claims.common import INSTRUMENTS, instrument, planted, r2_gate
from personality_utils.claims.model_rows import MODEL_CLAIMS
from personality_utils.claims.unit_rows import UNIT_CLAIMS
from personality_utils.core.results import to_jsonable
from personality_utils.core.verdicts import (
    VERDICTS,
    Claim,
    judge,
)

__all__ = [
    "CLAIMS",
    "INSTRUMENTS",
    "VERDICTS",
    "claims_of",
    "counts",
    "evaluate",
    "instrument",
    "judge_claim",
    "planted",
    "r2_gate",
    "report",
]

#: The planted features every cue group names (synthetic.FEATURES).

CLAIMS: tuple[Claim, ...] = (
    *MODEL_CLAIMS,
    *CAM_CLAIMS,
    *ATTRIBUTION_CLAIMS,
    *UNIT_CLAIMS,
    *AU_CLAIMS,
)


# ----------------------------------------------------------------------------------------------
# Judging and reporting
# ----------------------------------------------------------------------------------------------


def claims_of(chapter: str) -> tuple[Claim, ...]:
    """The rows of :data:`CLAIMS` that one chapter judges."""
    return tuple(claim for claim in CLAIMS if claim.chapter == chapter)


def judge_claim(claim: Claim, measurements: Mapping[str, Any], synthetic: bool) -> dict:
    """One claim judged (:func:`~personality_utils.core.verdicts.judge`), resting on the instruments
    it names (:attr:`~personality_utils.core.verdicts.Claim.rests_on`, as the chapter checked them)
    and, on the synthetic set, read as planted where :func:`planted` says so."""
    rests = tuple(instrument(measurements, name) for name in claim.rests_on)
    return judge(claim, measurements, synthetic, planted(claim), rests)


def report(chapter: str, measurements: Mapping[str, Any], synthetic: bool) -> list[dict]:
    """A chapter's "What held": judge its rows of :data:`CLAIMS`, print each with its verdict,
    rule and evidence, and return the rows for its results file (``claims``)."""
    # Judged as saved (NaN becomes None, numpy values plain numbers), so that the summary,
    # which reads the results file, gives exactly these rows.
    saved = to_jsonable(measurements)
    rows = [judge_claim(claim, saved, synthetic) for claim in claims_of(chapter)]
    for row in rows:
        print(f"[{row['verdict']}] {row['claim']}")
        print(f"    rule: {row['rule']}")
        print(
            f"    {row['evidence']}"
            + ("" if row["reading"] == "finding" else f" ({row['reading']})")
        )
    return rows


def evaluate(chapters: Mapping[str, dict | None], claims: Iterable[Claim] = CLAIMS) -> list[dict]:
    """Every claim judged from the chapters' results files (the summary page): the same rows a
    chapter's :func:`report` gave, plus ``profile``, ``data`` and a ``status`` that is the
    verdict, or "not run" when the chapter has no results file.
    """
    rows = []
    for claim in claims:
        content = chapters.get(claim.chapter)
        if content is None or not isinstance(content.get("measurements"), Mapping):
            row = judge_claim(claim, {}, synthetic=False)
            row.update(
                verdict="not run",
                evidence=f"chapter {claim.chapter} has no results file with measurements",
                profile=None,
                data=None,
            )
        else:
            row = judge_claim(claim, content["measurements"], bool(content.get("synthetic")))
            row.update(profile=content.get("profile"), data=content.get("data"))
        rows.append(row)
    return rows


def counts(rows: Sequence[Mapping]) -> dict[str, int]:
    """How many rows have each verdict (and "not run")."""
    out: dict[str, int] = {}
    for row in rows:
        out[row["verdict"]] = out.get(row["verdict"], 0) + 1
    return out
