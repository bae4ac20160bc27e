"""How a claim is judged: the evidence a claim rests on, as data, and the one function that
derives its verdict from that evidence.

Every claim row carries its :class:`Evidence`: the ``estimate``, its ``interval`` (or the p- and
q-value of a named ``test``), the ``bar`` it is judged against and the ``smallest_effect`` of
interest, the parts it combines (one per trait, AU or unit set) and the instruments it rests on.
:func:`derive` reads those fields, and only those, so anyone can re-derive a verdict from a
saved row. :mod:`~personality_utils.claims.catalogue` holds every claim and the judges that build
its evidence from a chapter's measurements.

The verdicts mean the same thing everywhere:

* *held*: the evidence shows the claimed effect (the interval lies wholly past the bar, or the
  test's q (else p) is below :data:`ALPHA`);
* *did not hold*: the evidence shows its absence or its opposite (the interval lies wholly on
  the wrong side of the bar, or wholly inside the bar ± the smallest effect of interest);
* *inconclusive*: neither, which includes every test that misses significance without an
  interval inside the equivalence margin (the row prints the smallest effect the test could
  have detected);
* *not testable here*: no data, or an instrument the claim rests on failed its own check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ALPHA",
    "EQUIVALENCE_MARGIN",
    "HELD",
    "INCONCLUSIVE",
    "NOT_HELD",
    "NOT_TESTABLE",
    "R2_GATE",
    "READINGS",
    "SCALES",
    "VERDICTS",
    "Claim",
    "Evidence",
    "Instrument",
    "Judgement",
    "Scale",
    "Untestable",
    "MissingMeasurement",
    "DETECTION_GATE",
    "decision_text",
    "derive",
    "instrument_check",
    "evidence_fields",
    "get",
    "interval",
    "judge",
    "number",
    "with_interval",
]

HELD, NOT_HELD, INCONCLUSIVE, NOT_TESTABLE = (
    "held",
    "did not hold",
    "inconclusive",
    "not testable here",
)
#: The four verdicts, in the order the summary counts them.
VERDICTS: tuple[str, ...] = (HELD, NOT_HELD, INCONCLUSIVE, NOT_TESTABLE)
#: The significance level of every test a claim reads (after Benjamini-Hochberg where a row
#: has a q-value).
ALPHA = 0.05
#: A trait whose model explains less than this share of its test variance (R²) has not been
#: learned well enough for its maps, units or AUs to say anything about it: the one gate of
#: chapters 05, 06 and 07 (the trait's rows read "not testable here", naming the R²).
R2_GATE = 0.1

#: dlib must find a face in at least this share of the frames a chapter reads for its face
#: boxes, crops and landmarks to stand for the frames: the authors lost frames in about a tenth
#: of the clips (REFERENCE.md).
DETECTION_GATE = 0.9

#: What a row is, in the summary's three counts: a finding (nothing the generator planted
#: decides it), a check of the method (on the synthetic set, the planted weights decide its
#: answer, so it says whether a method recovers a known cause) and a check of an instrument
#: (whether a measuring device the other claims rest on works).
READINGS = ("finding", "check of the method (planted)", "check of an instrument")


@dataclass(frozen=True)
class Scale:
    """The unit of an estimate and the smallest effect of interest on it.

    Attributes:
        name: Short name.
        smallest_effect: A difference smaller than this is no effect of interest: an interval
            wholly inside bar ± this shows the claimed effect absent.
        why: Where the figure comes from (the paper's own figure where it gives one).
    """

    name: str
    smallest_effect: float
    why: str


#: Every scale a claim's estimate is on, each with its smallest effect of interest, stated and
#: justified once here.
SCALES: dict[str, Scale] = {
    scale.name: scale
    for scale in (
        Scale(
            "accuracy",
            0.005,
            "mean accuracy (1 − |error|): the paper's AU model adds 0.005 over the real-data "
            "constant (0.886 against 0.881), the smallest gain it reports as a result",
        ),
        Scale(
            "score",
            0.005,
            "a trait score (0-1): the same 0.005 as accuracy, which is 1 − |error| on scores",
        ),
        Scale(
            "logit",
            0.02,
            "a pre-sigmoid output: 0.02 moves a score by 0.005 at the sigmoid's steepest "
            "slope (1/4), the accuracy scale's smallest effect",
        ),
        Scale(
            "share",
            0.05,
            "a share (of maps, of map mass, of a unit's top faces, of identities): five "
            "percentage points, about the 95% half-width of the paper's own 72.8% over its 250 "
            "maps, so its figures could not tell closer shares apart",
        ),
        Scale(
            "spread",
            0.1,
            "a difference of a trait's output in units of its spread over the images (chapter "
            "05b's removal scores): a tenth of it; the paper gives no figure",
        ),
        Scale(
            "correlation",
            0.1,
            "a correlation: 0.1, the conventional 'small' correlation (Cohen); the paper "
            "gives no figure",
        ),
        Scale(
            "ratio",
            0.1,
            "a share of the CNN's gain over the constant: a tenth of it (the paper's AU model "
            "recovers about a sixth, 0.005 of 0.031)",
        ),
        Scale(
            "bits",
            0.1,
            "an entropy in bits: a tenth of a bit, about 2% of the largest entropy of a 7x7 "
            "grid (log2 49 = 5.6 bits); the paper gives no figure",
        ),
        Scale(
            "count",
            1.0,
            "a number of units or AUs: one; the paper counts units and AUs one by one",
        ),
    )
}
#: How far apart the traits' shares of CAM mass on a face part may be and still count as "the
#: same parts" (chapter 05): the share scale's smallest effect.
EQUIVALENCE_MARGIN = SCALES["share"].smallest_effect


class Untestable(Exception):
    """A measurement the claim needs is absent, None or not finite."""


class MissingMeasurement(Untestable):
    """A measurement the claim reads is not in its chapter's record at all: a key renamed or
    never saved. Read as *not testable here* like any absent value, but the row names it
    (``missing``) and ``tests/test_notebooks.py`` fails on it: a defect, never a finding."""

    def __init__(self, path: str):
        super().__init__(f"no measurement {path}")
        self.path = path


@dataclass(frozen=True)
class Instrument:
    """A measuring device a claim rests on, and whether it passed its own check.

    Attributes:
        name: What it is ("AU source", "R² of extraversion", "face detection", ...).
        figure: Its own check's figure (None when it cannot be checked here).
        bar: What the figure must reach.
        status: ``"passed"``, ``"failed"`` or ``"unchecked"`` (real data: nothing to check it
            against; the claim is judged, and says so).
        what: The figure in words.
    """

    name: str
    figure: float | None
    bar: float | None
    status: Literal["passed", "failed", "unchecked"]
    what: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "figure": self.figure,
            "bar": self.bar,
            "status": self.status,
            "what": self.what,
        }


def instrument_check(
    name: str, value: float, bar: float, what: str, low: float | None = None
) -> dict[str, Any]:
    """An instrument's own check as a chapter saves it in ``measurements["instruments"]``:
    passed when its figure (the low end of its interval, when it has one) reaches ``bar``."""
    reading = value if low is None else low
    passed = _finite(reading) and reading >= bar
    return Instrument(
        name, float(value), float(bar), "passed" if passed else "failed", what
    ).as_dict()


@dataclass(frozen=True)
class Evidence:
    """What a verdict is derived from (:func:`derive`).

    Attributes:
        estimate: The figure the claim is about (a difference, a share, a correlation); None
            when there is none.
        interval: Its 95% interval (None: no interval; a test may decide instead).
        bar: The claim is ``estimate > bar`` (``direction="above"``) or ``< bar``.
        direction: ``"above"`` or ``"below"``.
        null: The estimate's value when there is no effect (usually the bar): an interval
            wholly within null ± the smallest effect shows the effect absent. None for claims
            that have no absence to show (a claim of sameness, a threshold).
        scale: Key of :data:`SCALES`: the estimate's unit and smallest effect of interest.
        p, q: The test's p-value and Benjamini-Hochberg q-value (q decides where given).
        test: The test, named.
        detectable: The smallest estimate the test could have found significant here (printed
            with an inconclusive test).
        parts: Named sub-evidence (one per trait, AU, unit set) combined by ``combine``:
            ``"all"`` (every testable part held) or ``"any"`` (some part held).
        instruments: What the claim rests on; a failed one makes it not testable.
        absent: Why there is no evidence at all (not testable), or None.
    """

    estimate: float | None = None
    interval: tuple[float, float] | None = None
    bar: float = 0.0
    direction: Literal["above", "below"] = "above"
    scale: str = "share"
    null: float | None = 0.0
    p: float | None = None
    q: float | None = None
    test: str | None = None
    detectable: float | None = None
    parts: tuple[tuple[str, Evidence], ...] = ()
    combine: Literal["all", "any"] = "all"
    instruments: tuple[Instrument, ...] = ()
    absent: str | None = None

    def __post_init__(self) -> None:
        if self.direction not in ("above", "below"):
            raise ValueError(f"direction must be 'above' or 'below', got {self.direction!r}")
        if self.scale not in SCALES:
            raise ValueError(f"unknown scale {self.scale!r}; choose from {sorted(SCALES)}")
        if self.combine not in ("all", "any"):
            raise ValueError(f"combine must be 'all' or 'any', got {self.combine!r}")

    def gated(self, *instruments: Instrument) -> Evidence:
        """The same evidence resting on further instruments."""
        return Evidence(**{**self.__dict__, "instruments": self.instruments + instruments})

    def as_dict(self) -> dict[str, Any]:
        """The evidence as a row keeps it (:func:`evidence_fields`)."""
        return evidence_fields(self)


@dataclass(frozen=True)
class Judgement:
    """A claim's evidence on one chapter's measurements, and how to show it.

    Attributes:
        evidence: What the verdict is derived from.
        ours: Our figure for the table (a number, or a short text such as an AU name).
        baseline: What the rule compares it with, for the table (None when nothing).
        text: The numbers behind the verdict, in words.
    """

    evidence: Evidence
    ours: float | str | None
    baseline: float | str | None
    text: str


@dataclass(frozen=True)
class Claim:
    """One claim, and how to judge it.

    Attributes:
        key: Short identifier.
        chapter: Results stem whose ``measurements`` it reads.
        text: The claim.
        rule: What is measured (the decision is generated from the evidence,
            :func:`decision_text`).
        paper: The paper's figure for it (None when the paper gives none).
        baseline: What the baseline column is.
        label: Short name for figures.
        judge: Reads the chapter's measurements and returns a :class:`Judgement`.
        check: A check this book adds (True) or a claim of the paper (False).
        cues: The planted features of the synthetic generator its answer is about
            (``synthetic.FEATURES`` names); on the synthetic set, a claim whose cues carry
            planted weight is a check of the method, not a finding
            (:func:`~personality_utils.claims.catalogue.planted`).
        instrument: The instrument whose own check this claim is (None for the others).
        rests_on: The instruments the claim rests on (names a chapter saves in its
            measurements' ``instruments``); one that failed its check makes the claim not
            testable here.
        plot: Whether the summary's figure shows it (figures on a 0-1 scale).
    """

    key: str
    chapter: str
    text: str
    rule: str
    paper: float | str | None
    baseline: str
    label: str
    judge: Callable[[Mapping[str, Any]], Judgement]
    check: bool = False
    cues: tuple[str, ...] = ()
    instrument: str | None = None
    rests_on: tuple[str, ...] = ()
    plot: bool = False


# ----------------------------------------------------------------------------------------------
# Reading measurements
# ----------------------------------------------------------------------------------------------


def number(value: Any) -> float:
    """A finite float, else :class:`Untestable`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Untestable(f"a measurement it needs has no finite value ({value!r})")
    number = float(value)
    if not math.isfinite(number):
        raise Untestable(f"a measurement it needs has no finite value ({value!r})")
    return number


def get(measurements: Mapping[str, Any], *path: str) -> Any:
    """``measurements[path[0]][path[1]]...``, else :class:`Untestable` naming the path."""
    value: Any = measurements
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            raise MissingMeasurement(".".join(path))
        if value[key] is None:  # saved, but not measured on this data (said in the chapter)
            raise Untestable(f"no measurement {'.'.join(path)}")
        value = value[key]
    return value


def interval(measurements: Mapping[str, Any], *path: str) -> tuple[float, float, float]:
    """``(value, low, high)`` of an :func:`~personality_utils.core.stats.estimate` record."""
    item = get(measurements, *path)
    if not isinstance(item, Mapping):
        raise Untestable(f"{'.'.join(path)} has no interval")
    return number(item["value"]), number(item.get("low")), number(item.get("high"))


def with_interval(value: float, low: float, high: float, digits: int = 4) -> str:
    return f"{value:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


# ----------------------------------------------------------------------------------------------
# The verdict, derived from the evidence alone
# ----------------------------------------------------------------------------------------------


def evidence_fields(evidence: Evidence) -> dict[str, Any]:
    """The fields a row keeps, from which :func:`derive` re-derives its verdict."""
    return {
        "estimate": evidence.estimate,
        "interval": None if evidence.interval is None else list(evidence.interval),
        "bar": evidence.bar,
        "direction": evidence.direction,
        "null": evidence.null,
        "scale": evidence.scale,
        "smallest_effect": SCALES[evidence.scale].smallest_effect,
        "p": evidence.p,
        "q": evidence.q,
        "test": evidence.test,
        "alpha": ALPHA,
        "detectable": evidence.detectable,
        "combine": evidence.combine,
        "parts": [
            {"name": name, **evidence_fields(part), "verdict": derive(evidence_fields(part))}
            for name, part in evidence.parts
        ],
        "instruments": [instrument.as_dict() for instrument in evidence.instruments],
        "absent": evidence.absent,
    }


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _from_interval(fields: Mapping[str, Any]) -> str:
    """Held if the interval lies wholly past the bar in the claimed direction; did not hold if
    it lies wholly on the other side, or wholly within null ± the smallest effect (the effect is
    shown absent: two one-sided tests read from the interval); else inconclusive."""
    low, high = fields["interval"]
    bar, null, margin = fields["bar"], fields.get("null"), fields["smallest_effect"]
    if fields["direction"] == "below":  # mirror: a "below" claim is an "above" claim on −x
        low, high, bar = -high, -low, -bar
        null = None if null is None else -null
    if low > bar:
        return HELD
    if high <= bar:
        return NOT_HELD
    if _finite(null) and _finite(margin) and low > null - margin and high < null + margin:
        return NOT_HELD
    return INCONCLUSIVE


def _combined(verdicts: Sequence[str], combine: str) -> str:
    """``"all"``: every part held, held; one did not hold, did not hold. ``"any"``: one part
    held, held; every part did not hold, did not hold. Otherwise inconclusive."""
    if combine == "any":
        if HELD in verdicts:
            return HELD
        if all(v == NOT_HELD for v in verdicts):
            return NOT_HELD
        return INCONCLUSIVE
    if all(v == HELD for v in verdicts):
        return HELD
    if NOT_HELD in verdicts:
        return NOT_HELD
    return INCONCLUSIVE


def derive(fields: Mapping[str, Any]) -> str:
    """The verdict of a row, from its evidence fields alone (:func:`evidence_fields`).

    In order: a failed instrument, or no evidence, makes it not testable; parts are judged one
    by one and combined (parts that are not testable are left out; none left, not testable); a
    test decides *held* when its q (else p) is below ``alpha``, and then only an interval can
    say *did not hold*; an interval is read against the bar and the smallest effect; a figure
    with neither an interval nor a test is inconclusive.
    """
    if any(i.get("status") == "failed" for i in fields.get("instruments") or ()):
        return NOT_TESTABLE
    if fields.get("absent"):
        return NOT_TESTABLE
    parts = fields.get("parts") or ()
    if parts:
        verdicts = [derive(part) for part in parts]
        testable = [v for v in verdicts if v != NOT_TESTABLE]
        return _combined(testable, fields.get("combine", "all")) if testable else NOT_TESTABLE
    if not _finite(fields.get("estimate")):
        return NOT_TESTABLE
    bounds = fields.get("interval")
    has_interval = bounds is not None and all(_finite(b) for b in bounds)
    from_interval = _from_interval(fields) if has_interval else None
    significance = fields.get("q") if _finite(fields.get("q")) else fields.get("p")
    if _finite(significance):
        if significance < fields.get("alpha", ALPHA):
            return HELD
        return NOT_HELD if from_interval == NOT_HELD else INCONCLUSIVE
    return from_interval or INCONCLUSIVE


def decision_text(fields: Mapping[str, Any]) -> str:
    """The decision rule of a row in words, generated from its evidence fields."""
    if fields.get("parts"):
        names = ", ".join(part["name"] for part in fields["parts"])
        if fields.get("combine") == "any":
            return (
                f"held if some part holds, did not hold if every part did not ({names}); each "
                f"part: {decision_text(fields['parts'][0])}"
            )
        return (
            f"held if every testable part holds, did not hold if one did not ({names}); each "
            f"part: {decision_text(fields['parts'][0])}"
        )
    side = "above" if fields.get("direction", "above") == "above" else "below"
    other = "below" if side == "above" else "above"
    bar, margin, null = fields.get("bar", 0.0), fields.get("smallest_effect"), fields.get("null")
    interval_rule = f"did not hold if its 95% interval lies at or {other} {bar:g}" + (
        ""
        if null is None
        else f", or within {null:g} ± {margin:g} (the smallest effect of interest)"
    )
    if fields.get("test"):
        level = "q" if fields.get("q") is not None else "p"
        return (
            f"held if {fields['test']} gives {level} < {fields.get('alpha', ALPHA):g}; "
            + (interval_rule if fields.get("interval") else "never did not hold (no interval)")
            + "; otherwise inconclusive"
        )
    return f"held if the 95% interval lies {side} {bar:g}; {interval_rule}; else inconclusive"


def _instrument_note(instruments: Sequence[Mapping[str, Any]]) -> str:
    failed = [i for i in instruments if i.get("status") == "failed"]
    unchecked = [i for i in instruments if i.get("status") == "unchecked"]
    notes = []
    if failed:
        notes.append(
            "rests on a failed instrument: "
            + "; ".join(f"{i['name']} ({i['what']})" for i in failed)
        )
    if unchecked:
        notes.append("rests on an unchecked instrument: " + "; ".join(i["name"] for i in unchecked))
    return ". ".join(notes)


def _detectable_note(fields: Mapping[str, Any], verdict: str) -> str:
    if verdict != INCONCLUSIVE or not _finite(fields.get("detectable")):
        return ""
    return f"; the smallest estimate this test could have detected: {fields['detectable']:.4g}"


def judge(
    claim: Claim,
    measurements: Mapping[str, Any],
    synthetic: bool,
    planted: bool = False,
    instruments: Sequence[Instrument] = (),
) -> dict:
    """One claim judged on a chapter's measurements.

    Args:
        claim: The claim.
        measurements: The chapter's saved measurements.
        synthetic: Whether they come from the synthetic set.
        planted: Whether the generator's planted weights decide the claim's answer (computed
            by :func:`~personality_utils.claims.catalogue.planted`; only read on the synthetic set).
        instruments: The instruments it rests on, as checked (a failed one: not testable).

    Returns:
        ``key``, ``chapter``, ``claim``, ``rule`` (what is measured, then the decision),
        ``paper``, ``ours``, ``baseline``, ``baseline_kind``, ``verdict``, ``evidence`` (in
        words), ``reading`` (one of :data:`READINGS`), ``planted``, ``instrument`` and
        ``label``, and the evidence fields (:func:`evidence_fields`): ``estimate``,
        ``interval``, ``bar``, ``direction``, ``scale``, ``smallest_effect``, ``p``, ``q``,
        ``test``, ``alpha``, ``detectable``, ``combine``, ``parts``, ``instruments``,
        ``absent``; and ``missing``: the measurement it read that the record lacks, if any.
    """
    missing = None
    try:
        judged = claim.judge(measurements)
    except Untestable as reason:
        judged = Judgement(Evidence(absent=str(reason)), None, None, str(reason))
        missing = reason.path if isinstance(reason, MissingMeasurement) else None
    fields = evidence_fields(judged.evidence.gated(*instruments))
    verdict = derive(fields)
    planted = bool(synthetic and planted)
    if claim.instrument is not None:
        reading = READINGS[2]
    elif planted:
        reading = READINGS[1]
    else:
        reading = READINGS[0]
    text = judged.text + _detectable_note(fields, verdict)
    note = _instrument_note(fields["instruments"])
    if note:
        text += f" ({note})"
    return {
        "key": claim.key,
        "chapter": claim.chapter,
        "claim": claim.text,
        "rule": f"{claim.rule}. Decision: {decision_text(fields)}",
        "paper": claim.paper,
        "ours": judged.ours,
        "baseline": judged.baseline,
        "baseline_kind": claim.baseline,
        "verdict": verdict,
        "evidence": text,
        "reading": reading,
        "planted": planted,
        "instrument": claim.instrument,
        "label": claim.label,
        "missing": missing,
        **fields,
    }
