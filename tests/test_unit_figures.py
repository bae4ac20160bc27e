"""Tests of personality_utils.figures.unit_panels: chapter 06's figures drawn from a study of the
smoke
dataset with a tiny seeded network (what each figure shows, not how it looks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from helpers import make_unit_study

from personality_utils.core.vocabulary import TRAITS
from personality_utils.faces import regions
from personality_utils.figures import unit_panels
from personality_utils.units import ground_truth, netdissect, semantics, summaries
from personality_utils.units import study as unit_study


@pytest.fixture(scope="module")
def study(smoke_dataset, tmp_path_factory):
    return make_unit_study(smoke_dataset, tmp_path_factory.mktemp("unit-figures"))


def _menu_labels(figure: go.Figure) -> list[str]:
    return [button.label for button in figure.layout.updatemenus[0].buttons]


def test_image_figures_of_units_and_parts(study):
    crops = unit_panels.top_crops(study, units=range(3))
    assert len(crops.data) == 1 and "3 conv5_3 units" in crops.layout.title.text
    grid = unit_panels.part_grid(study, "conv4_3")
    assert "8x8 grid of conv4_3" in grid.layout.title.text
    ranking = unit_study.rankings(study)["trained"]["conv5_3"]
    gallery = unit_panels.part_gallery(study, ranking)
    shown = ranking[ranking["n_prime"] > 0]["region"].unique()
    assert [label.split(":")[0] for label in _menu_labels(gallery)] == list(shown)
    menu = unit_panels.unit_menu(study, {"a": ("conv5_3", 1), "b": ("conv4_3", 2)}, "T: ")
    assert _menu_labels(menu) == ["a", "b"] and menu.layout.title.text == "T: a"


def test_share_boxes_hold_every_unit_of_every_network(study):
    figure = unit_panels.share_boxes(study)
    assert [trace.name for trace in figure.data] == [
        "trained",
        "pretrained (before fine-tuning)",
        "random weights",
    ]
    units_n = study.stats.n_units("conv5_3")
    networks = (study.shares, study.pretrained_shares, study.random_shares)
    for trace, shares in zip(figure.data, networks, strict=True):
        assert len(trace.y) == units_n * len(regions.REGIONS)
        assert sorted(trace.y) == sorted(
            shares["conv5_3"].drop(columns="elsewhere").to_numpy().ravel()
        )


def test_spikiness_figures(study):
    spikiness = summaries.spikiness_table(study.stats, study.random_stats, study.pretrained_stats)
    peaks = unit_panels.layer_peaks(study, spikiness)
    assert len(peaks.data) == len(study.stats.layers)
    lines = unit_panels.entropy_by_depth(spikiness, grid=4)
    assert [trace.name for trace in lines.data] == [
        "trained",
        "pretrained (before fine-tuning)",
        "random weights",
    ]
    np.testing.assert_allclose(lines.data[0].y, spikiness["trained"])
    np.testing.assert_allclose(lines.data[1].y, spikiness["pretrained"])
    without = summaries.spikiness_table(study.stats, study.random_stats)
    names = [trace.name for trace in unit_panels.entropy_by_depth(without, grid=4).data]
    assert names == ["trained", "random weights"]
    assert lines.layout.shapes[0].y0 == pytest.approx(4.0)  # log2(4 * 4): a flat histogram


def test_iou_scatter_has_one_point_per_unit_and_part(study):
    networks = {"trained": study.stats, "random weights": study.random_stats}
    dissection = netdissect.dissect(networks, study.shares["conv5_3"])
    table = dissection.tables[("conv5_3", "trained")]
    figure = unit_panels.iou_against_n_prime(table, study.shares["conv5_3"])
    assert [trace.name for trace in figure.data] == list(regions.REGIONS)
    mouth = figure.data[list(regions.REGIONS).index("mouth")]
    np.testing.assert_allclose(mouth.y, table.loc[table["region"] == "mouth", "iou"])
    np.testing.assert_allclose(mouth.x, study.shares["conv5_3"]["mouth"])
    assert figure.layout.shapes[0].y0 == semantics.DETECTOR_IOU


def test_glasses_gallery_with_and_without_labels(study):
    wears = ground_truth.glasses_flags(study.dataset, study.clips)
    glasses = ground_truth.glasses_units(study.stats, study.random_stats, wears)
    labelled = unit_panels.glasses_gallery(study, glasses)
    assert _menu_labels(labelled) == [f"unit {u}" for u in glasses.ranked["unit"].head(3)]
    by_hand = unit_panels.glasses_gallery(study, None)
    eyes = study.shares["conv5_3"]["eyes"].sort_values(ascending=False).index[:8]
    assert _menu_labels(by_hand) == [f"unit {u}" for u in eyes]
    assert "inspect by hand" in by_hand.layout.title.text
    glasses = ground_truth.glasses_units(
        study.stats, study.random_stats, wears, pretrained_stats=study.pretrained_stats
    )
    bars = unit_panels.glasses_by_network(glasses)
    expected = glasses.by_network()
    assert list(bars.data[0].x) == [
        "trained",
        "pretrained (before fine-tuning)",
        "random weights",
    ]
    assert list(bars.data[0].y) == [row["best_precision"] for row in expected.values()]
    assert list(bars.data[1].y) == [row["units_significant"] for row in expected.values()]


def test_explorer_labels_its_units(study):
    chosen = unit_study.explorer_units(study, conv5_3_units=3, other_units=1)
    labels = _menu_labels(unit_panels.explorer(study, chosen))
    assert len(labels) == len(chosen)
    first = chosen.iloc[0]
    assert labels[0] == f"conv5_3 · unit {first['unit']} · {first['part']} {first['share']:.2f}"


def test_planted_cue_heatmaps_show_the_check():
    cues = ["eyes & brows", "nose", "mouth", "glasses"]
    planted = pd.DataFrame(np.eye(5, 4), index=list(TRAITS), columns=cues)
    ratio = planted * 2 + 0.5
    check = ground_truth.PlantedCueCheck(7, pd.DataFrame(), pd.DataFrame(), planted, ratio, 0.3)
    figure = unit_panels.planted_cue_heatmaps(check)
    assert len(figure.data) == 2
    np.testing.assert_array_equal(figure.data[0].z, planted.to_numpy())
    np.testing.assert_array_equal(figure.data[1].z, ratio.to_numpy())
    assert figure.data[1].zmid == 1 and list(figure.data[1].y) == list(TRAITS)
    assert "top 7 units" in figure.layout.annotations[1].text


def test_part_gallery_without_a_unit_on_a_part_says_so():
    ranking = pd.DataFrame({"region": ["eyes", "mouth"], "unit": [3, 5], "n_prime": [0, 0]})
    figure = unit_panels.part_gallery(None, ranking)
    assert "no unit has N' > 0" in figure.layout.title.text
