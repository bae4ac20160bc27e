"""Compare two folders of chapter results (book/results/*.json and the prediction CSVs) value by
value: every float exactly, timings left out. Used to show that a refactor changed no result:

    python tools/compare_results.py OLD/book/results NEW/book/results
"""

import json
import math
import sys
from pathlib import Path

a_dir, b_dir = Path(sys.argv[1]), Path(sys.argv[2])
IGNORE = {"seconds", "wall_seconds", "elapsed", "timestamp"}
diffs = []


def cmp(a, b, path):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in IGNORE or "second" in k:
                continue
            if k not in a or k not in b:
                diffs.append(f"{path}/{k}: only in {'new' if k not in a else 'old'}")
                continue
            cmp(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            diffs.append(f"{path}: length {len(a)} vs {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            cmp(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        if not (a == b or (math.isnan(a) and math.isnan(b))):
            diffs.append(f"{path}: {a} vs {b}")
    elif a != b:
        diffs.append(f"{path}: {str(a)[:80]!r} vs {str(b)[:80]!r}")


for f in sorted(a_dir.glob("*.json")):
    g = b_dir / f.name
    if not g.exists():
        diffs.append(f"{f.name}: missing")
        continue
    cmp(json.loads(f.read_text()), json.loads(g.read_text()), f.name)
for f in sorted(a_dir.glob("*.csv")):
    g = b_dir / f.name
    if f.read_text() != g.read_text():
        diffs.append(f"{f.name}: differs")
print("\n".join(diffs[:400]))
print(len(diffs), "differences")
