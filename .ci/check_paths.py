"""After `make book`: no page names a folder of the machine that built it. Scans the HTML pages of
_build/html and the sources Sphinx copies beside them (_build/html/_sources: the executed
notebooks, whose parameters cell and outputs are what the pages show) for the repository's
absolute path, the cache folder ($PERSONALITY_UTILS_CACHE), the home folder and /tmp/, and fails
naming each file, line and match.

    python .ci/check_paths.py [HTML_DIR [REPOSITORY]]
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

#: What is scanned under the HTML folder.
SCANNED = ("*.html", "_sources/**/*.ipynb", "_sources/**/*.md", "_sources/**/*.txt")
#: Characters that continue a path component: a match must not be part of a longer name, nor
#: the tail of a URL (``https://host/tmp/...``).
_NAME = r"[\w.\-]"


def forbidden(repository: str | os.PathLike, environ: dict[str, str] | None = None) -> dict:
    """What must not appear in a page: ``{label: compiled pattern}`` for the repository's
    absolute path (as given and resolved), the cache folder, the home folder and ``/tmp/``."""
    environ = dict(os.environ if environ is None else environ)
    folders = {
        "the repository's absolute path": [
            os.path.abspath(repository),
            str(Path(repository).resolve()),
        ],
    }
    if environ.get("PERSONALITY_UTILS_CACHE"):
        cache = environ["PERSONALITY_UTILS_CACHE"]
        label = "the cache folder ($PERSONALITY_UTILS_CACHE)"
        folders[label] = [os.path.abspath(cache), str(Path(cache).resolve())]
    if environ.get("HOME"):
        folders["the home folder ($HOME)"] = [os.path.abspath(environ["HOME"])]
    patterns = {}
    for label, paths in folders.items():
        paths = sorted({path.rstrip("/") for path in paths} - {""}, key=len, reverse=True)
        if paths:
            either = "|".join(re.escape(path) for path in paths)
            patterns[label] = re.compile(rf"(?<!{_NAME})(?:{either})(?!{_NAME})")
    patterns["a /tmp/ path"] = re.compile(rf"(?<!{_NAME}|/)/tmp/")
    return patterns


def scanned(html_dir: str | os.PathLike) -> list[Path]:
    """The files of ``html_dir`` that are scanned (:data:`SCANNED`), sorted."""
    return sorted({path for glob in SCANNED for path in Path(html_dir).glob(f"**/{glob}")})


def scan(html_dir: str | os.PathLike, patterns: dict) -> list[str]:
    """Every match in the scanned files of ``html_dir``: ``file:line: 'match' (label)``, in file
    order."""
    found = []
    for path in scanned(html_dir):
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            for label, pattern in patterns.items():
                for match in pattern.finditer(line):
                    start = max(match.start() - 30, 0)
                    context = line[start : match.end() + 50].strip()
                    found.append(f"{path}:{number}: {match.group(0)!r} ({label}) in …{context}…")
    return found


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    html_dir = Path(argv[0]) if argv else root / "_build" / "html"
    repository = Path(argv[1]) if len(argv) > 1 else root
    if not html_dir.is_dir():
        print(f"{html_dir}: no built book here (run `make book` first)")
        return 1
    found = scan(html_dir, forbidden(repository))
    for line in found:
        print(line)
    verdict = "FAILED" if found else "ok"
    print(f"checked {len(scanned(html_dir))} files for build-machine paths: {verdict}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
