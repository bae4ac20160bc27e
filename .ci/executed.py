"""What every CI check of executed chapters asks first (.ci/check_dry_run.py,
.ci/check_real_clips.py): is the executed notebook there, with its results file, and did no cell
raise."""

from __future__ import annotations

import json
from pathlib import Path


def executed_record(folder: Path, stem: str, problems: list[str]) -> dict | None:
    """The results record of chapter ``stem`` executed into ``folder``; None, with the problem
    appended to ``problems``, when the notebook or its results file is missing. A cell that
    raised is appended as a problem too (the record is still returned)."""
    notebook, results = folder / f"{stem}.ipynb", folder / "results" / f"{stem}.json"
    if not notebook.is_file() or not results.is_file():
        problems.append(f"{stem}: no executed notebook or results file in {folder}")
        return None
    cells = json.loads(notebook.read_text())["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        problems.append(f"{notebook}: {len(errors)} error outputs")
    return json.loads(results.read_text())
