"""Tests of personality_utils.core.records: one typed record per chapter, filled by the chapter,
saved in its results file and read by the claims by field name."""

from __future__ import annotations

import dataclasses
import io
import tokenize
from pathlib import Path

import pytest

from personality_utils.book import chapters
from personality_utils.claims import catalogue
from personality_utils.core import records
from personality_utils.core.vocabulary import DataError


def test_a_chapter_fills_its_record_and_nothing_else():
    record, omitted = records.CamRecord.fill("05_cam", {"context_trait": "openness"})
    assert record.context_trait == "openness" and record.mean_overlap is None
    assert "mean_overlap" in omitted and "context_trait" not in omitted
    assert record.to_dict()["context_trait"] == "openness"
    with pytest.raises(DataError, match=r"chapter 05_cam .*CamRecord.*: context_trate"):
        records.CamRecord.fill("05_cam", {"context_trate": "openness"})


def test_every_chapter_with_claims_has_a_record_and_the_registry_knows_it():
    with_claims = {claim.chapter for claim in catalogue.CLAIMS}
    assert with_claims == set(records.RECORDS)
    assert set(records.RECORDS) <= set(chapters.CHAPTERS)
    for name, field in vars(records.GATES).items():
        assert name == field
        for kind in (records.CamRecord, records.UnitRecord, records.AURecord):
            assert field in {f.name for f in dataclasses.fields(kind)}


def test_the_claims_name_fields_not_strings():
    """No string literal in a chapter's claims module spells one of its record's fields: they
    are read through the record's namespace (MODEL.x, CAM.x, UNITS.x, AU.x), so a renamed field
    fails at import instead of reading as not testable."""
    folder = Path(catalogue.__file__).parent
    spelled = []
    for module, kind in {
        "model_rows": records.FacesModelRecord,
        "cam_rows": records.CamRecord,
        "unit_rows": records.UnitRecord,
        "au_rows": records.AURecord,
    }.items():
        fields = {field.name for field in dataclasses.fields(kind)} - {"accuracy"}
        text = (folder / f"{module}.py").read_text()
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.STRING and token.string.strip("\"'") in fields:
                spelled.append(f"{module}:{token.start[0]} {token.string}")
    assert not spelled
    assert records.CAM.context_trait == "context_trait"
    with pytest.raises(AttributeError):
        records.CAM.context_trate  # noqa: B018
