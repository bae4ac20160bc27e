"""The summary page (chapter 08): every chapter's results files read back, Table 1, and the claims
table as :mod:`personality_utils.claims.catalogue` judges it from the chapters' saved measurements.

It trains and computes nothing of its own: a chapter that was not run shows as "not run".
"""

from __future__ import annotations

import json
import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from personality_utils.book.chapters import CHAPTERS, SUMMARY
from personality_utils.claims import catalogue
from personality_utils.core import paper, results
from personality_utils.core.verdicts import READINGS, VERDICTS
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.synthetic.labels import face_driven

__all__ = [
    "CHAPTERS_READ",
    "RECORD_FIELDS",
    "claims_frame",
    "disagreements",
    "outside_face_table",
    "reading_counts",
    "evaluate_claims",
    "evidence_lines",
    "format_value",
    "load_chapters",
    "provenance",
    "summary_data",
    "table1_rows",
]

#: The chapters whose results the summary reads, in book order.
#: The chapters whose results the summary reads: every chapter of the registry but itself.
CHAPTERS_READ: tuple[str, ...] = tuple(stem for stem in CHAPTERS if stem != SUMMARY)


# ----------------------------------------------------------------------------------------------
# Reading the chapters
# ----------------------------------------------------------------------------------------------


def _number(value: Any) -> float:
    """A finite float from a JSON value, else ``KeyError`` (a key that holds no number counts
    as missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise KeyError(f"expected a number, found {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise KeyError(f"expected a finite number, found {value!r}")
    return number


def load_chapters(
    directory: str | os.PathLike | None = None, stems: Sequence[str] = CHAPTERS_READ
) -> dict[str, dict | None]:
    """Every chapter's results, ``None`` for a chapter whose file is absent or unreadable.

    Args:
        directory: Results folder (default :func:`~personality_utils.core.results.results_dir`).
        stems: Notebook stems to read.

    Returns:
        ``{stem: results dict or None}`` in ``stems`` order.
    """
    chapters: dict[str, dict | None] = {}
    for stem in stems:
        try:
            content = results.load_results(stem, directory)
        except (FileNotFoundError, json.JSONDecodeError):
            content = None
        chapters[stem] = content if isinstance(content, dict) else None
    return chapters


def provenance(chapters: Mapping[str, dict | None], profile: str | None = None) -> pd.DataFrame:
    """One row per chapter: whether it ran, its profile and data, and whether its profile is the
    one asked for (``profile``; None: not checked)."""
    rows = []
    for stem, content in chapters.items():
        if content is None:
            rows.append({"chapter": stem, "status": "not run", "profile": None, "data": None})
            continue
        rows.append(
            {
                "chapter": stem,
                "status": "run",
                "profile": content.get("profile"),
                "data": content.get("data"),
            }
        )
    table = pd.DataFrame(rows, columns=["chapter", "status", "profile", "data"])
    if profile is not None:
        table["same profile"] = [
            None if row.status != "run" else row.profile == profile for row in table.itertuples()
        ]
    return table.set_index("chapter")


def summary_data(chapters: Mapping[str, dict | None]) -> str:
    """What data the summary rests on: the one description all chapters share, or each one."""
    described = sorted({str(c.get("data")) for c in chapters.values() if c is not None})
    if not described:
        return "no chapter results"
    if len(described) == 1:
        return described[0]
    return "mixed: " + "; ".join(described)


def evaluate_claims(chapters: Mapping[str, dict | None]) -> list[dict]:
    """Every claim of :data:`~personality_utils.claims.catalogue.CLAIMS` judged from the chapters'
    saved
    measurements (:func:`~personality_utils.claims.catalogue.evaluate`): the rows each chapter
    printed."""
    return catalogue.evaluate(chapters)


def format_value(value: Any) -> str:
    """A table cell: numbers to 4 significant places (small ones in scientific notation),
    None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            return "—"
        if value == int(value) and abs(value) >= 1:
            return f"{int(value)}"
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


def _chapter_number(stem: str) -> str:
    prefix = stem.split("_", 1)[0]  # "05", or "05b" for a chapter between 05 and 06
    number = prefix.rstrip("abcdefghijklmnopqrstuvwxyz")
    return str(int(number)) + prefix[len(number) :] if number.isdigit() else stem


def claims_frame(records: Sequence[Mapping]) -> pd.DataFrame:
    """The claims as a display table (formatted numbers), indexed by chapter number; the
    evidence behind each verdict is in :func:`evidence_lines`."""
    rows = [
        {
            "ch.": _chapter_number(record["chapter"]),
            "claim": record["claim"],
            "rule": record["rule"],
            "paper": format_value(record["paper"]),
            "ours": format_value(record["ours"]),
            "baseline": f"{format_value(record['baseline'])} ({record['baseline_kind']})"
            if record["baseline"] is not None
            else record["baseline_kind"],
            "verdict": record["verdict"],
            "reading": record["reading"],
        }
        for record in records
    ]
    return pd.DataFrame(rows).set_index("ch.")


def evidence_lines(records: Sequence[Mapping], width: int | None = None) -> list[str]:
    """One line per claim: chapter, short name, decision, the numbers behind it and the profile
    they come from; with ``width``, each wrapped to that many columns (continuations
    indented)."""
    lines = [
        f"ch. {_chapter_number(record['chapter'])} · {record['label']} [{record['verdict']}]: "
        f"{record['evidence']}" + (f" (profile {record['profile']})" if record["profile"] else "")
        for record in records
    ]
    if width is None:
        return lines
    return [textwrap.fill(line, width=width, subsequent_indent="    ") for line in lines]


def provenance_notes(sources: pd.DataFrame, profile: str) -> list[str]:
    """What a reader must know before the table of :func:`provenance`: the chapters not run
    yet, and those run with another profile than ``profile``."""
    notes = []
    not_run = sources.index[sources["status"] != "run"].tolist()
    other = sources.index[sources["same profile"].eq(False)].tolist()
    if not_run:
        notes.append(f"not run yet: {', '.join(not_run)} (their claims are listed as 'not run')")
    if other:
        notes.append(
            f"run with another profile than '{profile}': {', '.join(other)} (their rows say which)"
        )
    return notes


#: What the summary's results file keeps of each claim row: what it says, and the evidence
#: fields its verdict is derived from (:func:`~personality_utils.core.verdicts.derive` re-derives it
#: from them alone).
RECORD_FIELDS = (
    "key",
    "claim",
    "rule",
    "paper",
    "ours",
    "baseline",
    "baseline_kind",
    "verdict",
    "reading",
    "planted",
    "instrument",
    "evidence",
    "chapter",
    "profile",
    "data",
    "estimate",
    "interval",
    "bar",
    "direction",
    "null",
    "scale",
    "smallest_effect",
    "p",
    "q",
    "test",
    "alpha",
    "detectable",
    "combine",
    "parts",
    "instruments",
    "absent",
    "missing",
)


def summary_record(
    records: Sequence[Mapping],
    sources: pd.DataFrame,
    table1: pd.DataFrame,
    chapters: Mapping[str, dict | None] | None = None,
) -> dict[str, Any]:
    """The summary's results file: every claim row (:data:`RECORD_FIELDS`), where each
    chapter's results came from, Table 1 and how many claims got each verdict."""
    counts = verdict_counts(records)
    return {
        "claims": [{key: record[key] for key in RECORD_FIELDS} for record in records],
        "chapters": sources.reset_index().to_dict(orient="records"),
        "table1": {name: row.to_dict() for name, row in table1.iterrows()},
        "verdict_counts": counts.to_dict(),
        "reading_counts": {
            reading: {verdict: int(n) for verdict, n in row.items()}
            for reading, row in reading_counts(records).iterrows()
        },
        "disagreements": disagreements(records, chapters),
    }


def verdict_counts(records: Sequence[Mapping]) -> pd.Series:
    """How many claims got each verdict, most frequent first."""
    return pd.Series([record["verdict"] for record in records], dtype=object).value_counts()


def reading_counts(records: Sequence[Mapping]) -> pd.DataFrame:
    """How many rows of each reading (findings, checks of the method, checks of an instrument)
    got each verdict: readings as rows, verdicts as columns (in the order of
    :data:`~personality_utils.core.verdicts.VERDICTS`, then "not run")."""

    table = pd.crosstab(
        pd.Series([r["reading"] for r in records], name="reading"),
        pd.Series([r["verdict"] for r in records], name="verdict"),
    )
    columns = [v for v in (*VERDICTS, "not run") if v in table.columns]
    rows = [r for r in READINGS if r in table.index]
    return table.reindex(index=rows, columns=columns, fill_value=0)


#: The pairs the summary sets against each other: the paper's instrument (a map statistic) and
#: the causal test of the same question, each named by its claim keys.
_QUESTIONS = (
    (
        "does the full-frame model rest on the face?",
        ("cam_above_face_prior", "cam_above_centre_prior", "cam_share_ge_0_9"),
        ("occlusion_face", "face_alone_beats_context"),
        "face",
    ),
    (
        "does the context-driven trait rest on the poster?",
        ("cam_finds_poster", "cam_finds_context"),
        ("occlusion_poster",),
        "context",
    ),
)


def _side(records: Mapping[str, Mapping], keys: Sequence[str]) -> tuple[str | None, str]:
    """What a group of rows says: "yes" when every decided row held, "no" when every decided
    row did not hold, None when they are undecided or split; and the rows in words."""
    decided = [
        records[k]
        for k in keys
        if k in records and records[k]["verdict"] in ("held", "did not hold")
    ]
    words = "; ".join(
        f"{records[k]['label']}: {records[k]['verdict']}" for k in keys if k in records
    )
    verdicts = {r["verdict"] for r in decided}
    if verdicts == {"held"}:
        return "yes", words
    if verdicts == {"did not hold"}:
        return "no", words
    return None, words


def _planted_routes(chapters: Mapping[str, dict | None] | None) -> tuple[list[str], str]:
    """The face-driven traits and the poster-driven one, as chapter 05 measured them (its
    dataset's own identity route), else the generator's default."""

    content = (chapters or {}).get("05_cam") or {}
    measured = content.get("measurements") or {}
    traits, context = measured.get("face_driven_traits"), measured.get("occlusion_context_trait")
    if traits and context:
        return list(traits), str(context)
    return face_driven()


def disagreements(
    records: Sequence[Mapping], chapters: Mapping[str, dict | None] | None = None
) -> list[str]:
    """Where the paper's instrument and the causal test answer the same question differently,
    which answer the ground truth supports (on the synthetic set, where the generator planted
    the face and poster cues, read from chapter 05's results in ``chapters``; on real data
    there is none to decide), one sentence each; and a sentence where they agree."""
    by_key = {record["key"]: record for record in records}
    synthetic = any(r.get("reading") == "check of the method (planted)" for r in records)
    out = []
    for question, instrument_keys, causal_keys, cue in _QUESTIONS:
        instrument, instrument_words = _side(by_key, instrument_keys)
        causal, causal_words = _side(by_key, causal_keys)
        if instrument is None or causal is None:
            out.append(
                f"{question} not both decided (the map statistic: {instrument_words or 'not run'}; "
                f"the causal test: {causal_words or 'not run'})"
            )
            continue
        if instrument == causal:
            out.append(
                f"{question} the map statistic and the causal test agree ({instrument}): "
                f"{instrument_words}; {causal_words}"
            )
            continue
        if synthetic:
            traits, context = _planted_routes(chapters)
            truth = "yes"  # the generator plants face cues (and the poster for one trait)
            planted = (
                f"the generator drives {', '.join(traits)} by the face"
                if cue == "face"
                else f"the generator drives {context} by the poster"
            )
            supported = "the causal test" if causal == truth else "the map statistic"
            verdict = f"the ground truth supports {supported} ({planted})"
        else:
            verdict = "real data has no ground truth to decide between them"
        out.append(
            f"{question} the map statistic says {instrument} ({instrument_words}), the causal "
            f"test says {causal} ({causal_words}): {verdict}"
        )
    return out


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


def table1_rows(chapters: Mapping[str, dict | None]) -> pd.DataFrame:
    """Table 1: the paper's three rows, then ours (full frames from chapter 03, faces from 04,
    the mean over their training seeds where they trained several; the constant from 01, or
    only its MA from 03/04), each with its source.

    Returns:
        Rows by name, columns :data:`~personality_utils.core.paper.TABLE1_COLUMNS` plus ``source``
        (``"paper (real data)"`` or the chapter's data description) and ``profile``.
    """
    rows = {
        f"{name} (paper)": {**values, "source": "paper (real First Impressions)", "profile": None}
        for name, values in paper.TABLE1.items()
    }
    for stem, name in (("03_full_frames", "img (ours)"), ("04_faces_model", "face (ours)")):
        content = chapters.get(stem)
        if content is None:
            continue
        seeds = content.get("seeds") or {}
        try:  # the mean over training seeds where the chapter trained several
            if len(seeds.get("seeds", ())) > 1:
                row = {"MA": _number(seeds["mean_accuracy_mean"])}
                accuracy = seeds["per_trait_accuracy_mean"]
                name = f"{name[:-1]}, mean of {len(seeds['seeds'])} seeds)"
            else:
                row = {"MA": _number(content["mean_accuracy"])}
                accuracy = content["per_trait_accuracy"]
            for trait in TRAITS:
                row[trait[0].upper()] = _number(accuracy[trait])
        except (KeyError, TypeError):
            continue
        rows[name] = {**row, "source": content.get("data"), "profile": content.get("profile")}
    constant = _constant_row(chapters)
    if constant is not None:
        rows["constant (ours, training mean)"] = constant
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.reindex(columns=[*paper.TABLE1_COLUMNS, "source", "profile"])


def _constant_row(chapters: Mapping[str, dict | None]) -> dict | None:
    first = chapters.get("01_data")
    if first is not None and isinstance(first.get("constant_baseline_test"), Mapping):
        test = first["constant_baseline_test"]
        try:
            row = {"MA": _number(test["mean"])}
            row.update({trait[0].upper(): _number(test[trait]) for trait in TRAITS})
            return {**row, "source": first.get("data"), "profile": first.get("profile")}
        except KeyError:
            pass
    for stem in ("04_faces_model", "03_full_frames"):
        content = chapters.get(stem)
        if content is not None and "constant_baseline_accuracy" in content:
            try:
                value = _number(content["constant_baseline_accuracy"])
            except KeyError:
                continue
            return {"MA": value, "source": content.get("data"), "profile": content.get("profile")}
    return None


def outside_face_table(chapters: Mapping[str, dict | None]) -> pd.DataFrame | None:
    """Per trait, chapter 05's planted share of the explained label variance readable outside
    the face (the poster; the poster and the per-person cues) and its test R², from its
    results file; None when chapter 05 has not run on the synthetic set."""
    content = chapters.get("05_cam")
    truth = None if content is None else content.get("ground_truth")
    if not truth:
        return None
    columns = [
        "planted outside the face",
        "readable outside the face (with identity)",
        "test R² (CAM model)",
    ]
    return pd.DataFrame(truth).T.reindex(columns=columns).astype(float).round(3)
