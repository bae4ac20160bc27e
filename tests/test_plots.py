"""Tests of personality_utils.figures.plots: what the figures are made of, without a browser."""

from __future__ import annotations

import numpy as np
import pandas as pd

from personality_utils.figures import measures, plots


def test_gallery_menu_has_one_button_per_panel():
    tiles = [np.full((4, 4, 3), v, dtype=np.uint8) for v in (10, 20)]
    figure = plots.gallery_with_menu({"a": [tiles[0]], "b": [tiles[1]]}, columns=1, tile_height=20)
    assert len(figure.layout.updatemenus[0].buttons) == 2


def test_grouped_bars_and_measure_bars_carry_their_values():
    table = pd.DataFrame({"a": [0.1, 0.2], "b": [0.3, 0.4]}, index=["x", "y"])
    figure = measures.grouped_bars(table, {"first": "a", "second": "b"}, title="t", yaxis_title="y")
    assert [trace.name for trace in figure.data] == ["first", "second"]
    assert list(figure.data[1].y) == [0.3, 0.4]
    long = pd.DataFrame(
        {
            "map": ["m", "m"],
            "measure": ["s", "t"],
            "value": [0.5, 0.6],
            "value_low": [0.4, 0.5],
            "value_high": [0.6, 0.7],
        }
    )
    bars = measures.measure_bars(long, "value", group="map", series="measure", title="t")
    assert sorted(trace.name for trace in bars.data) == ["s", "t"]


def test_label_histograms_one_panel_per_trait_one_legend_entry_per_split():
    from personality_utils.core import vocabulary

    labels = {
        split: pd.DataFrame({trait: [0.2, 0.7] for trait in vocabulary.TRAITS})
        for split in ("train", "test")
    }
    figure = plots.label_histograms(labels)
    assert len(figure.data) == 2 * len(vocabulary.TRAITS)
    assert [trace.name for trace in figure.data if trace.showlegend] == ["train", "test"]
    assert (
        figure.data[-1].xaxis == f"x{len(vocabulary.TRAITS)}" and figure.data[0].xbins.size == 0.05
    )


def test_stacked_shares_one_segment_per_source_in_region_colours():
    shares = pd.DataFrame({"eyes": [0.2, 0.1], "context": [0.5, 0.0]}, index=["openness", "n"])
    figure = plots.stacked_shares(shares, "t", "share")
    assert [trace.name for trace in figure.data] == ["eyes", "context"]
    assert figure.data[1].marker.color == plots.REGION_COLOURS["context"]
    assert list(figure.data[0].x) == ["Openness", "N"] and figure.layout.barmode == "stack"
