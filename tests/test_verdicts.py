"""Tests of personality_utils.core.verdicts: the evidence a verdict is derived from, the one rule
that derives it, instruments that gate it, and judging one claim."""

from __future__ import annotations

import math

import pytest

from personality_utils.core import verdicts
from personality_utils.core.verdicts import Evidence, Instrument

HELD, NOT_HELD, INCONCLUSIVE, UNTESTABLE = verdicts.VERDICTS


def _verdict(evidence: Evidence) -> str:
    return verdicts.derive(verdicts.evidence_fields(evidence))


@pytest.mark.parametrize(
    ("interval", "verdict"),
    [
        ((0.001, 0.02), HELD),  # wholly past the bar
        ((-0.02, -0.001), NOT_HELD),  # wholly on the wrong side: the opposite shown
        ((-0.003, 0.004), NOT_HELD),  # wholly inside 0 ± 0.005: the effect shown absent
        ((-0.003, 0.02), INCONCLUSIVE),  # straddles the bar and leaves the margin
        ((-0.02, 0.003), INCONCLUSIVE),
    ],
)
def test_an_interval_is_read_against_the_bar_and_the_smallest_effect(interval, verdict):
    evidence = Evidence(0.001, interval, 0.0, "above", "accuracy")
    assert _verdict(evidence) == verdict
    # A "below" claim is the mirror image.
    mirrored = Evidence(-0.001, (-interval[1], -interval[0]), 0.0, "below", "accuracy")
    assert _verdict(mirrored) == verdict


def test_a_claim_without_an_absence_to_show_never_reads_absent():
    # Sameness (the bar is the margin): an interval wholly below it holds, wholly above it does
    # not, and a wide one is never "the same".
    same = Evidence(0.02, (0.01, 0.03), 0.05, "below", "share", null=None)
    assert _verdict(same) == HELD
    assert _verdict(Evidence(0.2, (0.1, 0.3), 0.05, "below", "share", null=None)) == NOT_HELD
    assert _verdict(Evidence(0.04, (0.01, 0.2), 0.05, "below", "share", null=None)) == INCONCLUSIVE


def test_a_test_that_misses_significance_is_inconclusive_not_refuted():
    missed = Evidence(0.15, None, 0.0, "above", "share", p=0.09, test="hypergeometric")
    assert _verdict(missed) == INCONCLUSIVE
    assert _verdict(Evidence(0.15, None, p=0.01, test="t")) == HELD
    # q decides where there is one.
    assert _verdict(Evidence(0.15, None, p=0.01, q=0.2, test="t")) == INCONCLUSIVE
    # Only an interval can show the effect absent or reversed.
    absent = Evidence(0.001, (-0.01, 0.01), 0.0, "above", "share", p=0.4, test="t")
    assert _verdict(absent) == NOT_HELD
    reversed_ = Evidence(-0.2, (-0.3, -0.1), 0.0, "above", "share", p=0.99, test="t")
    assert _verdict(reversed_) == NOT_HELD
    # A significant test with a straddling interval still holds (the test decides held).
    assert _verdict(Evidence(0.1, (-0.01, 0.2), p=0.001, test="t")) == HELD


def test_a_figure_with_neither_interval_nor_test_cannot_decide():
    assert _verdict(Evidence(0.3)) == INCONCLUSIVE
    assert _verdict(Evidence(None)) == UNTESTABLE
    assert _verdict(Evidence(absent="no audio model")) == UNTESTABLE
    assert _verdict(Evidence(math.nan, (0.1, 0.2))) == UNTESTABLE


def test_parts_combine_every_or_some():
    held = Evidence(0.1, (0.05, 0.2))
    straddles = Evidence(0.1, (-0.05, 0.2))
    refuted = Evidence(-0.1, (-0.2, -0.05))
    failed = Instrument("R² of openness", 0.05, 0.1, "failed", "R² 0.05")
    gated = held.gated(failed)
    assert _verdict(Evidence(parts=(("a", held), ("b", held)))) == HELD
    assert _verdict(Evidence(parts=(("a", held), ("b", straddles)))) == INCONCLUSIVE
    assert _verdict(Evidence(parts=(("a", held), ("b", refuted)))) == NOT_HELD
    # A part resting on a failed instrument is left out; none left, not testable.
    assert _verdict(Evidence(parts=(("a", held), ("b", refuted.gated(failed))))) == HELD
    assert _verdict(Evidence(parts=(("a", gated),))) == UNTESTABLE
    some = Evidence(parts=(("a", straddles), ("b", held)), combine="any")
    assert _verdict(some) == HELD
    none = Evidence(parts=(("a", refuted), ("b", refuted)), combine="any")
    assert _verdict(none) == NOT_HELD
    assert _verdict(Evidence(parts=(("a", refuted), ("b", straddles)), combine="any")) == (
        INCONCLUSIVE
    )


def test_a_failed_instrument_makes_the_claim_untestable_and_an_unchecked_one_does_not():
    held = Evidence(0.1, (0.05, 0.2))
    failed = Instrument("AU source", 0.2, 0.5, "failed", "r 0.20 against 0.5")
    unchecked = Instrument("AU source", None, None, "unchecked")
    assert _verdict(held.gated(failed)) == UNTESTABLE
    assert _verdict(held.gated(unchecked)) == HELD
    check = verdicts.instrument_check("model gain", 0.01, 0.0, "gain", low=-0.001)
    assert check["status"] == "failed"
    assert verdicts.instrument_check("model gain", 0.01, 0.0, "gain", low=0.002)["status"] == (
        "passed"
    )


def test_rules_are_generated_from_the_evidence():
    fields = verdicts.evidence_fields(Evidence(0.1, (0.05, 0.2), 0.0, "above", "accuracy"))
    text = verdicts.decision_text(fields)
    assert "above 0" in text and "0.005" in text
    tested = verdicts.evidence_fields(Evidence(0.1, None, p=0.2, test="a permutation test"))
    assert "a permutation test" in verdicts.decision_text(tested)
    assert fields["smallest_effect"] == verdicts.SCALES["accuracy"].smallest_effect
    with pytest.raises(ValueError, match="unknown scale"):
        Evidence(0.1, scale="furlongs")


def test_judging_reads_measurements_and_reports_what_is_missing():
    def judge_(measurements):
        value, low, high = verdicts.interval(measurements, "gap")
        return verdicts.Judgement(Evidence(value, (low, high)), value, 0.0, "gap")

    claim = verdicts.Claim(
        "k", "05_cam", "a claim", "a rule", None, "—", "label", judge_, check=True
    )
    row = verdicts.judge(claim, {"gap": {"value": 0.2, "low": 0.1, "high": 0.3}}, synthetic=False)
    assert row["verdict"] == HELD and row["reading"] == "finding"
    assert row["interval"] == [0.1, 0.3] and row["estimate"] == 0.2 and row["bar"] == 0.0
    assert verdicts.derive(row) == HELD  # the row alone re-derives its verdict
    planted = verdicts.judge(claim, {"gap": {"value": 0.2, "low": 0.1, "high": 0.3}}, True, True)
    assert planted["reading"] == "check of the method (planted)" and planted["planted"]
    missing = verdicts.judge(claim, {}, synthetic=True)
    assert missing["verdict"] == UNTESTABLE and "gap" in missing["evidence"]
    nan = verdicts.judge(claim, {"gap": {"value": math.nan, "low": None, "high": None}}, False)
    assert nan["verdict"] == UNTESTABLE and "no finite value" in nan["evidence"]
    failed = Instrument("face detection", 0.5, 0.9, "failed", "dlib found half the faces")
    gated = verdicts.judge(
        claim, {"gap": {"value": 0.2, "low": 0.1, "high": 0.3}}, False, instruments=[failed]
    )
    assert gated["verdict"] == UNTESTABLE and "dlib found half the faces" in gated["evidence"]


def test_a_measurement_missing_from_the_record_is_named_on_the_row():
    """A key the record lacks (renamed, never saved) is not the same as one saved as None (not
    measured on this data): both read not testable here, only the first is named ``missing``."""
    claim = verdicts.Claim(
        "x",
        "03_full_frames",
        "x",
        "x",
        None,
        "constant",
        "x",
        lambda m: verdicts.Judgement(
            verdicts.Evidence(estimate=verdicts.number(verdicts.get(m, "a", "b"))), 1.0, None, ""
        ),
    )
    renamed = verdicts.judge(claim, {"a": {"c": 1.0}}, synthetic=False)
    assert renamed["verdict"] == verdicts.NOT_TESTABLE and renamed["missing"] == "a.b"
    unmeasured = verdicts.judge(claim, {"a": {"b": None}}, synthetic=False)
    assert unmeasured["verdict"] == verdicts.NOT_TESTABLE and unmeasured["missing"] is None
    with pytest.raises(verdicts.MissingMeasurement):
        verdicts.get({}, "a")
