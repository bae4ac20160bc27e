"""Preparing the stores in parts: ``prepare --part I --parts N`` (or a Slurm array task, or a
Kubernetes indexed Job's pod) samples one disjoint share of the clips into the stores' shards,
records what it did, and a later ``prepare --merge`` assembles them (book appendix "Scale out").
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from personality_utils.core.files import read_json, write_atomic

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None

__all__ = [
    "PARTS_VARIABLE",
    "check_part",
    "clock",
    "part_clips",
    "part_from_environment",
    "part_lines",
    "part_record",
    "part_records",
    "resolve_part",
    "unfinished",
    "write_part_record",
]

#: The number of parts of a Kubernetes indexed Job (which sets only ``JOB_COMPLETION_INDEX``):
#: set it in the Job's ``env`` to the Job's ``completions``.
PARTS_VARIABLE = "PERSONALITY_UTILS_PARTS"
#: Name of a finished part's record in a shard folder (``part-<I>-of-<N>.json``).
_PART_RECORD = "part-"


def resolve_part(
    part: int | None,
    parts: int | None,
    merge: bool = False,
    environ: Mapping[str, str] | None = None,
) -> tuple[int | None, int, str]:
    """``prepare``'s share, ``(part, parts, where it came from)``: the ``--part`` and
    ``--parts`` options, else the Slurm array task or Kubernetes indexed Job this process runs
    in (:func:`part_from_environment`; ``--parts`` beats the environment's count);
    ``(None, 1, "")`` for every clip, and always with ``merge``.

    Raises:
        ValueError: If the options or the environment do not make a share.
    """
    if merge:
        if part is not None:
            raise ValueError("--merge assembles every part's shards: it takes no --part")
        return None, 1, ""
    if part is not None:
        if parts is None:
            raise ValueError(f"--part {part} needs --parts (how many parts in all)")
        check_part(part, parts)
        return part, parts, "--part"
    environ = dict(os.environ if environ is None else environ)
    if parts is not None:  # a Kubernetes pod's count may come from the option
        environ[PARTS_VARIABLE] = str(parts)
    found = part_from_environment(environ)
    if found is None:
        if parts is not None:
            raise ValueError(
                "--parts needs --part, or a Slurm array task or Kubernetes indexed Job to give it"
            )
        return None, 1, ""
    found_part, found_parts, source = found
    found_parts = found_parts if parts is None else parts
    check_part(found_part, found_parts)
    return found_part, found_parts, source


def check_part(part: int, parts: int) -> None:
    """Refuse a share that is not one of ``parts`` (numbered from 0, as Slurm arrays written
    ``--array=0-N`` and Kubernetes indexed Jobs number their tasks).

    Raises:
        ValueError: If ``parts`` < 1 or ``part`` is outside 0 .. ``parts`` - 1.
    """
    if parts < 1:
        raise ValueError(f"--parts must be at least 1, got {parts}")
    if not 0 <= part < parts:
        raise ValueError(
            f"--part {part} is not one of --parts {parts}: parts are numbered from 0 to {parts - 1}"
        )


def part_clips(labels: Mapping[str, pd.DataFrame], part: int, parts: int) -> set[str]:
    """The clips of share ``part`` of ``parts``: every ``parts``-th clip, from the ``part``-th,
    of the sorted labelled clips of all splits.

    The deal depends on the annotations only (never on which videos a machine sees or on
    file-system order), so any part can run on any machine that shares the output folder,
    the shares are disjoint, together hold every clip, and differ in size by one at most.
    """
    check_part(part, parts)
    names = sorted({clip for table in labels.values() for clip in table.index})
    return set(names[part::parts])


def part_from_environment(environ: Mapping[str, str] | None = None) -> tuple[int, int, str] | None:
    """``(part, parts, source)`` of a Slurm array task or a Kubernetes indexed Job's pod, None
    in any other process.

    Slurm sets ``SLURM_ARRAY_TASK_ID`` with ``SLURM_ARRAY_TASK_MIN``, ``_MAX``, ``_COUNT`` and
    ``_STEP``: the part is the task's position in the array (``--array=0-7`` and
    ``--array=1-8`` both give parts 0 to 7 of 8). Kubernetes sets only
    ``JOB_COMPLETION_INDEX`` (from 0); the number of parts comes from :data:`PARTS_VARIABLE`,
    set in the Job's ``env`` to its ``completions``.

    Raises:
        ValueError: If the variables do not describe a share (an array given as a list, a
            Kubernetes pod without :data:`PARTS_VARIABLE`).
    """
    environ = os.environ if environ is None else environ
    if "SLURM_ARRAY_TASK_ID" in environ:
        try:
            task = int(environ["SLURM_ARRAY_TASK_ID"])
            low = int(environ.get("SLURM_ARRAY_TASK_MIN", 0))
            high = int(environ.get("SLURM_ARRAY_TASK_MAX", task))
            count = int(environ.get("SLURM_ARRAY_TASK_COUNT", 0))
            step = int(environ.get("SLURM_ARRAY_TASK_STEP", 1)) or 1
        except ValueError:
            raise ValueError("the SLURM_ARRAY_TASK_* variables are not integers") from None
        if count < 1 or high - low != (count - 1) * step or (task - low) % step:
            raise ValueError(
                f"Slurm array task {task} of MIN={low} MAX={high} COUNT={count} STEP={step}: "
                "not an evenly spaced range (e.g. --array=0-7); pass --part and --parts"
            )
        return (task - low) // step, count, "SLURM_ARRAY_TASK_ID"
    if "JOB_COMPLETION_INDEX" in environ:
        if PARTS_VARIABLE not in environ:
            raise ValueError(
                f"JOB_COMPLETION_INDEX is set but not {PARTS_VARIABLE}: set it in the Job's env to "
                "its completions, or pass --parts"
            )
        try:
            part, parts = int(environ["JOB_COMPLETION_INDEX"]), int(environ[PARTS_VARIABLE])
        except ValueError:
            raise ValueError(
                f"JOB_COMPLETION_INDEX and {PARTS_VARIABLE} must be integers"
            ) from None
        return part, parts, "JOB_COMPLETION_INDEX"
    return None


def part_records(out_dir: str | os.PathLike, split: str) -> list[dict]:
    """What each finished part of a split not yet assembled did, as its record says: part,
    parts, clips of its share, clips sampled, failed and without video, workers, wall and CPU
    seconds, host (sorted by part; empty once the split is assembled)."""
    folders = sorted((Path(out_dir) / split).glob("shards-v*"))
    return sorted(
        (record for folder in folders for record in _records(folder)),
        key=lambda record: (record["parts"], record["part"]),
    )


def _records(shard_dir: Path) -> list[dict]:
    records = (read_json(path) for path in sorted(shard_dir.glob(f"{_PART_RECORD}*.json")))
    return [record for record in records if "part" in record and "parts" in record]


def unfinished(split: str, shard_dir: Path, missing: list[str], labels) -> str:
    """The refusal of a merge: how many clips have no shard, the parts they belong to (by the
    share count the finished parts recorded), and what to run."""
    counts = sorted({r["parts"] for r in _records(shard_dir)})
    named = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
    if len(counts) == 1:
        parts = counts[0]
        owners = [
            index for index in range(parts) if part_clips(labels, index, parts) & set(missing)
        ]
        if len(owners) == 1:
            hint = (
                f"part {owners[0]} of {parts} has not finished: rerun prepare --part "
                f"{owners[0]} --parts {parts}"
            )
        else:
            hint = (
                f"parts {', '.join(map(str, owners))} of {parts} have not finished: rerun "
                f"prepare --part K --parts {parts} for each"
            )
    else:
        hint = "no part finished for them: run their parts"
    return (
        f"{split}: {len(missing)} clips have no shard yet ({named}); {hint}, or prepare "
        "without --merge to sample them here"
    )


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the pool's workers)."""
    if resource is None:  # pragma: no cover - not POSIX
        return time.process_time()
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def clock() -> tuple[float, float]:
    """Wall and CPU seconds now (CPU: this process and its finished children, the pool's
    workers), to time a part with :func:`write_part_record`."""
    return time.perf_counter(), _cpu_seconds()


def part_record(
    part: int, parts: int, share: set[str], clips: Iterable[str], sampled: int, skipped: dict
) -> dict:
    """What a part did in one split: its share's clips there, how many it sampled, those it
    skipped (``skipped``: clip -> reason, the failures and the clips with no video)."""
    return {
        "part": part,
        "parts": parts,
        "clips": sum(clip in share for clip in clips),
        "sampled": sampled,
        "skipped": dict(sorted(skipped.items())),
    }


def write_part_record(
    shard_dir: Path, record: dict, workers: int, started: tuple[float, float]
) -> None:
    """Write a part's record beside the split's shards, with its workers, host and the wall and
    CPU seconds since ``started`` (:func:`clock`): the mark that the part finished there."""
    wall, cpu = clock()
    record = {
        **record,
        "workers": workers,
        "wall_seconds": round(wall - started[0], 3),
        "cpu_seconds": round(cpu - started[1], 3),
        "host": platform.node(),
    }
    name = f"{_PART_RECORD}{record['part']}-of-{record['parts']}.json"
    write_atomic(
        shard_dir / name, lambda temporary: Path(temporary).write_text(json.dumps(record, indent=1))
    )


def part_lines(
    out_dir: str | os.PathLike, part: int, parts: int, splits: Iterable[str]
) -> list[str]:
    """One line per split on what part ``part`` of ``parts`` did there, from its records."""
    lines = []
    for split in splits:
        for record in part_records(out_dir, split):
            if (record["part"], record["parts"]) == (part, parts):
                lines.append(
                    f"{split}: part {part} of {parts}: {record['sampled']} of its "
                    f"{record['clips']} clips sampled ({len(record['skipped'])} skipped) in "
                    f"{record['wall_seconds']:.0f} s, {record['cpu_seconds']:.0f} CPU s, "
                    f"{record['workers']} workers -> {Path(out_dir) / split}"
                )
    return lines
