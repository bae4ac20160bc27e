"""Tests of personality_utils.verdicts: the four-valued rules and judging one claim."""

from __future__ import annotations

import math

from personality_utils import verdicts

HELD, NOT_HELD, INCONCLUSIVE, UNTESTABLE = verdicts.VERDICTS


def test_rules_are_four_valued():
    assert verdicts.above(0.1, 0.3, 0.0) == HELD
    assert verdicts.above(-0.3, -0.1, 0.0) == NOT_HELD
    assert verdicts.above(-0.1, 0.2, 0.0) == INCONCLUSIVE
    assert verdicts.below(0.1, 0.2, 0.5) == HELD and verdicts.below(0.6, 0.9, 0.5) == NOT_HELD
    assert verdicts.below(0.4, 0.6, 0.5) == INCONCLUSIVE
    # Sameness needs the interval inside the margin: a wide interval is never "the same".
    assert verdicts.equivalent(0.0, 0.03, 0.05) == HELD
    assert verdicts.equivalent(0.06, 0.08, 0.05) == NOT_HELD
    assert verdicts.equivalent(0.0, 0.4, 0.05) == INCONCLUSIVE


def test_judging_reads_intervals_and_reports_what_is_missing():
    def judge_(measurements):
        value, low, high = verdicts.interval(measurements, "gap")
        return verdicts.Judgement(verdicts.above(low, high, 0.0), value, 0.0, "gap")

    claim = verdicts.Claim(
        "k", "05_cam", "a claim", "a rule", None, "—", "label", judge_, check=True
    )
    row = verdicts.judge(claim, {"gap": {"value": 0.2, "low": 0.1, "high": 0.3}}, synthetic=False)
    assert row["verdict"] == HELD and row["reading"] == "check of the method"
    missing = verdicts.judge(claim, {}, synthetic=True)
    assert missing["verdict"] == UNTESTABLE and "gap" in missing["evidence"]
    nan = verdicts.judge(claim, {"gap": {"value": math.nan, "low": None, "high": None}}, False)
    assert nan["verdict"] == UNTESTABLE and "no finite value" in nan["evidence"]
