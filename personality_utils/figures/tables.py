"""Tables as figures: Table 1 beside the paper's, and every claim with its verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from personality_utils.claims.catalogue import CLAIMS
from personality_utils.core import paper
from personality_utils.core.verdicts import HELD, INCONCLUSIVE, NOT_HELD

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "table1_figure",
    "claims_figure",
]


def table1_figure(table: pd.DataFrame) -> go.Figure:
    """Grouped bars of Table 1 (:func:`~personality_utils.book.summary.table1_rows`, chapter 08):
    the
    paper's rows hatched, ours solid, the constant in grey."""

    figure = go.Figure()
    palette = {"img": "#1f77b4", "face": "#2ca02c", "[23]": "#9467bd", "constant": "#7f7f7f"}
    for name, row in table.iterrows():
        colour = next((c for key, c in palette.items() if name.startswith(key)), "#ff7f0e")
        from_paper = name.endswith("(paper)")
        values = row[list(paper.TABLE1_COLUMNS)].astype(float)
        figure.add_trace(
            go.Bar(
                x=list(paper.TABLE1_COLUMNS),
                y=values,
                name=name,
                marker={
                    "color": colour,
                    "opacity": 0.55 if from_paper else 1.0,
                    "pattern": {"shape": "/" if from_paper else ""},
                },
                hovertemplate="%{x}: %{y:.4f}<extra>" + name + "</extra>",
            )
        )
    finite = table[list(paper.TABLE1_COLUMNS)].astype(float).stack()
    low = float(finite.min()) if len(finite) else 0.85
    high = float(finite.max()) if len(finite) else 0.95
    figure.update_layout(
        barmode="group",
        title="Table 1: mean accuracy (MA) and per-trait accuracy, the paper's rows and ours",
        yaxis={
            "title": "accuracy (1 − |error|)",
            "range": [max(0.0, low - 0.01), min(1.0, high + 0.01)],
        },
        legend={"orientation": "h", "y": -0.15},
        height=460,
    )
    return figure


def claims_figure(records: Sequence[Mapping]) -> go.Figure:
    """Paper, ours and baseline side by side for the claims marked ``plot`` (figures on a 0-1
    scale), ours coloured by the verdict. A claim not run keeps its paper bar (chapter 08)."""

    colours = {HELD: "#2ca02c", NOT_HELD: "#d62728", INCONCLUSIVE: "#ff7f0e"}
    plotted = {claim.key for claim in CLAIMS if claim.plot}
    shown = [record for record in records if record["key"] in plotted]
    labels = [record["label"] for record in shown]

    def values(key: str) -> list[float | None]:
        return [
            record[key]
            if isinstance(record[key], (int, float)) and not isinstance(record[key], bool)
            else None
            for record in shown
        ]

    shown_values = [
        v for key in ("paper", "ours", "baseline") for v in values(key) if v is not None
    ]
    # a share of the CNN's gain can pass 1 or fall below 0: keep every bar inside the axis
    lowest = min(shown_values, default=0.0) * 1.05
    highest = max(shown_values, default=1.0) * 1.05
    figure = go.Figure(
        [
            go.Bar(
                x=labels,
                y=values("paper"),
                name="paper (real data)",
                marker={"color": "#bbbbbb", "pattern": {"shape": "/"}},
            ),
            go.Bar(
                x=labels,
                y=values("ours"),
                name="ours (green: held, red: did not, orange: inconclusive, grey: untested)",
                marker={"color": [colours.get(record["verdict"], "#7f7f7f") for record in shown]},
                customdata=[record["evidence"] for record in shown],
                hovertemplate="%{x}: %{y:.4g}<br>%{customdata}<extra>ours</extra>",
            ),
            go.Bar(
                x=labels,
                y=values("baseline"),
                name="baseline on our data",
                marker={"color": "#333333"},
            ),
        ]
    )
    figure.update_layout(
        barmode="group",
        title="Headline figures: the paper's, ours and the baseline on the same data",
        height=480,
        xaxis={"tickangle": -25},
        yaxis={"title": "share or accuracy", "range": [min(0.0, lowest), max(1.02, highest)]},
        legend={"orientation": "h", "y": 1.12, "x": 0},
        margin={"b": 120, "t": 110},
    )
    return figure
