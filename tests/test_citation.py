"""CITATION.cff: valid YAML with the keys CFF 1.2.0 requires, the package's version, and the
paper the book reproduces among its references."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_citation_file():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):
        assert citation.get(key), f"CITATION.cff: {key} missing or empty"
    assert all(author.get("name") or author.get("family-names") for author in citation["authors"])
    # [project]'s version (tomllib is 3.11+; the package supports 3.10)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"', pyproject, re.MULTILINE).group(1)
    assert str(citation["version"]) == version
    dois = {str(work.get("doi")) for work in citation.get("references", [])}
    assert "10.1109/CVPRW.2017.217" in dois
