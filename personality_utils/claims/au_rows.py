"""The claims of chapter 07 (action units: Table 2 and the AU-only trait model), on the
measured AUs and on the planted ones, each judge just above the rows that use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from personality_utils.claims.common import _AUS, _estimate
from personality_utils.claims.model_rows import _FACE_ROW
from personality_utils.claims.unit_rows import _null_gap
from personality_utils.core import paper
from personality_utils.core.planted import TRAIT_WEIGHTS
from personality_utils.core.records import AU
from personality_utils.core.verdicts import (
    ALPHA,
    Claim,
    Evidence,
    Judgement,
    Untestable,
    get,
    interval,
    number,
    with_interval,
)

#: The planted features every cue group names (synthetic.FEATURES).


_SOURCES = {"measured": "measured AUs", "planted": "planted AUs"}


def _table2(measurements: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    table = get(measurements, AU.table2, source)
    if not table.get("aus"):
        raise Untestable(f"no AU measured ({_SOURCES[source]})")
    return table


def _au_part(au: str, row: Mapping[str, Any], detectable: Any, test: str) -> Evidence:
    return Evidence(
        number(row["k"]),
        None,
        0.0,
        "above",
        "count",
        p=None if row.get("p") is None else number(row["p"]),
        q=number(row["q"]),
        test=test,
        detectable=None if detectable is None else number(detectable),
    )


def _significant(
    source: str, level: str = "aus", what: str = "one face per test clip"
) -> Callable[[Mapping[str, Any]], Judgement]:
    """Some AU with q < α at one level (``aus``: one face per clip; ``every_frame``;
    ``clip_level``): one part per AU, combined by "any"."""

    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        table = _table2(measurements, source)
        rows = table.get(level)
        if not rows:
            raise Untestable(f"no AU at the {what} level ({_SOURCES[source]})")
        detectable = table.get(f"detectable_k_{level}")
        test = f"Table 2's formula p ({what}), BH over the AUs"
        parts = tuple((au, _au_part(au, row, detectable, test)) for au, row in rows.items())
        significant = [au for au, row in rows.items() if number(row["q"]) < ALPHA]
        return Judgement(
            Evidence(parts=parts, combine="any"),
            float(len(significant)),
            None,
            f"{what} ({_SOURCES[source]}): {len(significant)} of {len(rows)} AUs with BH q < "
            f"{ALPHA:g}"
            + (f" ({', '.join(significant)})" if significant else "")
            + ("" if detectable is None else f"; p < {ALPHA:g} needs k ≥ {detectable}"),
        )

    return judge_


def _paper_aus(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        table = _table2(measurements, source)
        rows = {au: table["aus"][au] for au in paper.TABLE2_SIGNIFICANT if au in table["aus"]}
        if not rows:
            raise Untestable(f"none of {', '.join(paper.TABLE2_SIGNIFICANT)} measured")
        test = "Table 2's formula p (one face per test clip), BH over the AUs"
        detectable = table.get("detectable_k_aus")
        parts = tuple((au, _au_part(au, row, detectable, test)) for au, row in rows.items())
        return Judgement(
            Evidence(parts=parts),
            float(sum(number(row["q"]) < ALPHA for row in rows.values())),
            float(len(rows)),
            f"BH q ({_SOURCES[source]}): "
            + ", ".join(
                f"{au} k = {int(number(row['k']))}, q = {number(row['q']):.3g}"
                for au, row in rows.items()
            ),
        )

    return judge_


def _lip_corners(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        _table2(measurements, source)
        evidence, value, low, high = _estimate(
            measurements, AU.table2, source, "lip_corner_gap", scale="share"
        )
        winners = ", ".join(get(measurements, AU.table2, source, "best_matched"))
        return Judgement(
            evidence,
            winners,
            None,
            f"{_SOURCES[source]}: largest intersection for {winners}; best lip-corner AU's k/N "
            f"minus the best other AU's {with_interval(value, low, high, 3)}",
        )

    return judge_


def _au_model(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        model = get(measurements, AU.au_model, source)
        evidence, value, low, high = _estimate(
            measurements, AU.au_model, source, "gain_over_constant", scale="accuracy"
        )
        accuracy = number(model["accuracy"])
        return Judgement(
            evidence,
            accuracy,
            accuracy - value,
            f"AU model ({_SOURCES[source]}) MA {accuracy:.4f}, paired gain over the constant "
            f"{with_interval(value, low, high)}",
        )

    return judge_


def _au_near_cnn(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        cnn, cnn_low, _ = interval(measurements, AU.cnn_gain)
        if cnn_low <= 0:
            raise Untestable(f"the CNN is not shown above the constant (gain {cnn:+.4f})")
        evidence, value, low, high = _estimate(
            measurements, AU.au_model, source, "gain_share", scale="ratio", bar=0.5, null=None
        )
        return Judgement(
            evidence,
            value,
            0.5,
            f"the AU model ({_SOURCES[source]}) recovers {with_interval(value, low, high, 2)} of "
            f"the CNN's gain over the constant (the seed mean, {cnn:+.4f})",
        )

    return judge_


def _beyond_glasses(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        trait = get(measurements, AU.au_beyond_glasses_trait)
        evidence, value, low, high = _estimate(
            measurements, AU.au_beyond_glasses, source, scale="accuracy"
        )
        return Judgement(
            evidence,
            value,
            0.0,
            f"{trait} accuracy ({_SOURCES[source]}), AUs with glasses as a covariate minus "
            f"glasses alone {with_interval(value, low, high)}",
        )

    return judge_


def _estimator(measurements: Mapping[str, Any]) -> Judgement:
    bar = number(get(measurements, AU.estimator_bar))
    evidence, value, low, high = _estimate(
        measurements, AU.estimator_r, scale="correlation", bar=bar, null=None
    )
    return Judgement(
        evidence,
        value,
        bar,
        f"mean per-frame Pearson r with the planted AUs {with_interval(value, low, high, 2)} "
        "(people resampled)",
    )


def _coefficients(measurements: Mapping[str, Any]) -> Judgement:
    evidence, value, low, high = _estimate(
        measurements, AU.coefficient_r, scale="correlation", bar=0.5, null=None
    )
    return Judgement(
        evidence,
        value,
        0.5,
        f"r with the planted weights {with_interval(value, low, high, 2)} (clips resampled, the "
        "model refitted)",
    )


def _links(source: str) -> Callable[[Mapping[str, Any]], Judgement]:
    def judge_(measurements: Mapping[str, Any]) -> Judgement:
        row = get(measurements, AU.region_links, source)
        testable = int(number(row["n_testable"]))
        if testable == 0:
            raise Untestable("no AU's part has a cell on the grid")
        observed, expected = number(row["observed"]), number(row["expected"])
        p_value = number(row["p_value"])
        detectable = row.get("detectable")
        return Judgement(
            Evidence(
                observed - expected,
                None,
                0.0,
                "above",
                "count",
                p=p_value,
                test="exact test against units picked at random (one-sided)",
                detectable=None if detectable is None else number(detectable) - expected,
            ),
            observed,
            expected,
            f"{int(observed)} of {testable} testable AUs, {expected:.1f} expected by chance, "
            f"p = {p_value:.3f}"
            + ("" if detectable is None else f" (p < {ALPHA:g} needs {int(number(detectable))})"),
        )

    return judge_


def _source_claims(source: str) -> tuple[Claim, ...]:
    """Table 2 and the AU model on one AU source; the measured AUs rest on the AU source."""
    suffix = "" if source == "measured" else "_planted"
    on = "" if source == "measured" else " (planted AUs)"
    rests = ("AU source",) if source == "measured" else ()
    check = source != "measured"
    return (
        Claim(
            f"table2_significant{suffix}",
            "07_action_units",
            f"some AUs have a conv5_3 unit whose top faces overlap the AU's above chance "
            f"(Table 2, one face per test clip){on}",
            "per AU, Table 2's formula p, Benjamini-Hochberg across the AUs",
            float(sum(p < ALPHA for _unit, _k, p in paper.TABLE2.values())),
            "—",
            f"AUs matched by a unit{on}",
            _significant(source),
            check=check,
            cues=_AUS,
            rests_on=rests + ("model gain",),
        ),
        Claim(
            f"table2_paper_aus{suffix}",
            "07_action_units",
            f"the paper's significant AUs ({', '.join(paper.TABLE2_SIGNIFICANT)}) have a "
            f"matching unit here{on}",
            "each AU's BH q (one face per test clip)",
            float(len(paper.TABLE2_SIGNIFICANT)),
            "AUs measured",
            f"paper's AUs matched{on}",
            _paper_aus(source),
            check=check,
            cues=paper.TABLE2_SIGNIFICANT,
            rests_on=rests + ("model gain",),
        ),
        Claim(
            f"table2_lip_corners{suffix}",
            "07_action_units",
            f"the best-matched AUs are the lip-corner ones, {' and '.join(paper.LIP_CORNER_AUS)} "
            f"(Table 2){on}",
            "the 95% interval (people resampled) of the best lip-corner AU's k/N minus the best "
            "other AU's",
            ", ".join(paper.TABLE2_BEST),
            "—",
            f"best-matched AU{on}",
            _lip_corners(source),
            check=check,
            cues=paper.LIP_CORNER_AUS,
            rests_on=rests + ("model gain",),
        ),
        Claim(
            f"au_model_beats_constant{suffix}",
            "07_action_units",
            f"17 AU intensities predict the traits: the linear AU model beats the constant "
            f"predictor{on}",
            "the paired 95% interval of MA − constant (people resampled)",
            paper.AU_MODEL_ACCURACY if source == "measured" else None,
            "training-mean constant",
            f"AU model MA{on}",
            _au_model(source),
            check=check,
            cues=_AUS,
            rests_on=rests,
            plot=source == "measured",
        ),
        Claim(
            f"au_model_near_cnn{suffix}",
            "07_action_units",
            f"the AU model predicts almost as well as the CNN: it recovers at least half of the "
            f"CNN's gain over the constant{on}",
            "the 95% interval (people and the CNN's seeds resampled) of the AU model's gain over "
            "the constant as a share of the face CNN's (the mean over its seeds), against 0.5",
            (paper.AU_MODEL_ACCURACY - paper.REAL_CONSTANT["test"])
            / (_FACE_ROW["MA"] - paper.REAL_CONSTANT["test"])
            if source == "measured"
            else None,
            "half of the CNN's gain",
            f"AU share of CNN's gain{on}",
            _au_near_cnn(source),
            check=check,
            cues=_AUS,
            rests_on=rests,
            plot=source == "measured",
        ),
        Claim(
            f"au_model_beyond_glasses{suffix}",
            "07_action_units",
            f"the AU model's conscientiousness comes from the AUs, not from glasses read through "
            f"the landmarks: with glasses as a covariate the AUs still add accuracy{on}",
            "the paired 95% interval (people resampled) of conscientiousness accuracy, the AU "
            "model with glasses as a covariate minus a model of glasses alone (synthetic only)",
            None,
            "glasses alone",
            f"AUs beyond glasses{on}",
            _beyond_glasses(source),
            check=True,
            cues=("glasses", *TRAIT_WEIGHTS["conscientiousness"]),
            rests_on=rests,
        ),
        Claim(
            f"au_links_{source}",
            "07_action_units",
            f"AU↔unit links ({_SOURCES[source]}) point at the face part the AU moves more often "
            "than chance",
            "how many AUs' best units put more of their maxima in the AU's part than the average "
            "unit, against units picked at random (exact one-sided p)",
            None,
            "expected by chance",
            f"AU links to their part ({_SOURCES[source]})",
            _links(_SOURCES[source]),
            check=True,
            rests_on=rests + ("model gain",),
        ),
    )


AU_CLAIMS: tuple[Claim, ...] = (
    Claim(
        "au_estimator_tracks_truth",
        "07_action_units",
        "the AU measurements follow the true AUs (the AU source's own check)",
        "the 95% interval (people resampled) of the mean per-frame Pearson r of the measured AUs "
        "with the planted ones (synthetic only)",
        None,
        "threshold",
        "AU estimator r",
        _estimator,
        check=True,
        instrument="AU source",
    ),
    *_source_claims("measured"),
    *_source_claims("planted"),
    Claim(
        "table2_every_frame",
        "07_action_units",
        "with every test frame instead of one per clip, some AU has a matching unit",
        "per AU, the formula p over every face frame, BH across the AUs",
        None,
        "—",
        "AUs matched, every frame",
        _significant("measured", "every_frame", "every face frame"),
        check=True,
        cues=_AUS,
        rests_on=("AU source", "model gain"),
    ),
    Claim(
        "table2_clip_level",
        "07_action_units",
        "some AU keeps a matching unit at the clip level, each clip scored by its best frame",
        "per AU, a clip-level permutation p, BH across the AUs",
        None,
        "—",
        "AUs matched, clip level",
        _significant("measured", "clip_level", "clip level"),
        check=True,
        cues=_AUS,
        rests_on=("AU source", "model gain"),
    ),
    Claim(
        "table2_random_network",
        "07_action_units",
        "the trained units match the AUs better than the units of the network before fine-tuning",
        "the 95% interval (people and seeds resampled) of the mean best k/N over the AUs, trained "
        "networks minus the network before fine-tuning (else random weights)",
        None,
        "0",
        "mean best k/N gap",
        _null_gap(AU.best_k_gap, "mean best k/N over the AUs", "share"),
        check=True,
        cues=_AUS,
        rests_on=("AU source", "model gain"),
    ),
    Claim(
        "au_coefficients_planted",
        "07_action_units",
        "the AU model's coefficients follow the planted weights",
        "the 95% interval of the overall Pearson r with the planted weights, against 0.5 "
        "(synthetic only)",
        None,
        "threshold",
        "coefficients vs planted r",
        _coefficients,
        check=True,
        cues=_AUS,
        rests_on=("AU source",),
    ),
)

#: Every claim, in the order of the paper; ``check=True`` rows test what the paper did not.
