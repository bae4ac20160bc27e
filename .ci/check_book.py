"""After `make book`: every chapter in _toc.yml has its HTML page, every executed notebook is
free of error outputs, and each page that shows a plotly figure has plotly.js locally."""

import json
import re
import sys
from pathlib import Path

import yaml

root = Path(__file__).resolve().parents[1]
toc = yaml.safe_load((root / "_toc.yml").read_text())
files = [toc["root"]]
for part in toc.get("parts", []):
    files += [chapter["file"] for chapter in part.get("chapters", [])]
problems = []
for name in files:
    page = root / "_build" / "html" / f"{name}.html"
    if not page.is_file():
        problems.append(f"missing page {page}")
        continue
    html = page.read_text()
    if "Plotly.newPlot" in html and "plotly.min.js" not in html:
        problems.append(f"{page}: plotly figure without the local plotly.js")
    if re.search(r"""src=["']?(https?:)?//""", html):
        problems.append(f"{page}: loads a script from a CDN")
    notebook = root / f"{name}.ipynb"
    if notebook.is_file():
        cells = json.loads(notebook.read_text())["cells"]
        errors = [
            out
            for cell in cells
            for out in cell.get("outputs", [])
            if out.get("output_type") == "error"
        ]
        if errors:
            problems.append(f"{notebook}: {len(errors)} error outputs")
for problem in problems:
    print(problem)
print(f"checked {len(files)} pages: {'FAILED' if problems else 'ok'}")
sys.exit(1 if problems else 0)
