"""Tests of personality_utils.book.explorers: when the explorers show, and what each shows after a
control changes (set the value, read the output), without a browser."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import MISSING_FACE_ROWS, hand_cam_study, make_unit_study

from personality_utils.book import explorers
from personality_utils.cam import maps
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.synthetic import truth
from personality_utils.units import semantics

PLOTLY = "application/vnd.plotly.v1+json"


def shown(explorer: explorers.Explorer) -> dict:
    """The figure the explorer's output widget holds (plotly's JSON)."""
    (output,) = explorer.output.outputs
    assert output["output_type"] == "display_data"
    return output["data"][PLOTLY]


# ----------------------------------------------------------------------------------------------
# When the explorers show
# ----------------------------------------------------------------------------------------------


def test_is_live_needs_a_kernel_started_by_a_jupyter_server():
    kernel = SimpleNamespace(kernel=object())
    session = {explorers.SESSION_ENV: "notebooks/01_data.py"}
    assert explorers.is_live(session, kernel)
    assert not explorers.is_live({}, kernel)  # papermill, nbclient, jupyter-book
    assert not explorers.is_live(session, SimpleNamespace(kernel=None))  # terminal IPython
    assert not explorers.is_live(session)  # pytest has no IPython kernel
    # The switch wins both ways (the chapter runner sets "0").
    assert not explorers.is_live({**session, explorers.LIVE_ENV: "0"}, kernel)
    assert explorers.is_live({explorers.LIVE_ENV: "1"}, None)
    assert explorers.is_live({**session, explorers.LIVE_ENV: "maybe"}, kernel)


def test_a_real_kernel_is_live_only_when_a_server_started_it(tmp_path):
    """One real ipykernel through nbclient (as papermill runs one), with and without the
    variable a Jupyter server sets."""
    import os

    import nbformat
    from nbclient import NotebookClient

    code = "from personality_utils.book import explorers\nprint(explorers.is_live())"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    saved = {name: os.environ.get(name) for name in (explorers.SESSION_ENV, explorers.LIVE_ENV)}
    try:
        os.environ.pop(explorers.LIVE_ENV, None)
        os.environ[explorers.SESSION_ENV] = "notebooks/01_data.py"
        NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert notebook.cells[0].outputs[0]["text"].strip() == "True"


def test_explorers_are_none_unless_live(smoke_dataset):
    study = SimpleNamespace()  # never looked at when not live
    assert explorers.clip_explorer(smoke_dataset) is None
    assert explorers.cam_explorer(study) is None
    assert explorers.unit_explorer(study) is None
    assert explorers.clip_explorer(smoke_dataset, force=False) is None


# ----------------------------------------------------------------------------------------------
# Clip explorer (chapters 01-02)
# ----------------------------------------------------------------------------------------------


def test_clip_explorer_follows_the_split_and_the_clip(smoke_dataset):
    explorer = explorers.clip_explorer(smoke_dataset, force=True)
    store = smoke_dataset.store("train")
    clips = sorted(store.meta["clip"].unique())
    assert explorer.values() == {"split": "train", "clip": clips[0]}
    assert list(explorer.controls["clip"].options) == clips
    figure = shown(explorer)
    assert clips[0] in figure["layout"]["title"]["text"]
    rows = np.flatnonzero(store.meta["clip"] == clips[0])
    found = int(store.detections["found"][rows].sum())
    images = [trace for trace in figure["data"] if trace["type"] == "image"]
    assert len(images) == len(rows) + found  # each frame, and a crop where dlib found a face
    numbers = explorer.view.numbers
    assert numbers["frames"] == len(rows) and numbers["faces"] == found
    first = store.meta.iloc[rows[0]]
    assert all(numbers[trait] == pytest.approx(first[trait]) for trait in TRAITS)
    # The planted truth of the synthetic set.
    recipe = truth.load_ground_truth(smoke_dataset.root)["clips"][clips[0]]
    assert numbers["planted glasses"] == ("yes" if recipe["features"]["glasses"] else "no")
    assert numbers["planted poster"] == pytest.approx(recipe["features"]["context_cue"])
    assert clips[0] in explorer.numbers.value

    explorer.controls["clip"].value = clips[1]
    assert clips[1] in shown(explorer)["layout"]["title"]["text"]
    renders = explorer.renders
    explorer.controls["split"].value = "test"  # the clip list follows, rendered once
    test_clips = sorted(smoke_dataset.store("test").meta["clip"].unique())
    assert list(explorer.controls["clip"].options) == test_clips
    assert explorer.values() == {"split": "test", "clip": test_clips[0]}
    assert explorer.renders == renders + 1
    assert shown(explorer)["layout"]["title"]["text"].startswith(f"test clip {test_clips[0]}")
    json.dumps(explorer.output.outputs)  # what the widget sends is plain JSON


def test_clip_view_refuses_an_unknown_clip(smoke_dataset):
    with pytest.raises(ValueError, match=r"nope\.mp4: no such clip in the train"):
        explorers.clip_view(smoke_dataset, "train", "nope.mp4")


# ----------------------------------------------------------------------------------------------
# CAM explorer (chapter 05)
# ----------------------------------------------------------------------------------------------


def _scores(study, row: int, trait: str, threshold: float):
    t = TRAITS.index(trait)
    box = study.boxes[row][None]
    return maps.score_maps(study.frame_maps[[row], t], box, study.size, threshold).iloc[0]


def test_cam_explorer_redraws_the_overlap_for_each_choice():
    study = hand_cam_study(top_n=3)
    explorer = explorers.cam_explorer(study, force=True)
    row = int(study.top_frames["agreeableness"][0])  # the paper's Fig. 5 trait
    assert explorer.values()["row"] == row and explorer.values()["threshold"] == 0.8
    expected = _scores(study, row, "agreeableness", 0.8)
    assert explorer.view.numbers["overlap"] == pytest.approx(expected["overlap"])
    assert f"overlap {expected['overlap']:.3f}" in shown(explorer)["layout"]["title"]["text"]
    # The face box is drawn on each of the three panels.
    assert len(shown(explorer)["layout"]["shapes"]) == 3

    explorer.controls["threshold"].value = 0.3
    lower = _scores(study, row, "agreeableness", 0.3)
    assert explorer.view.numbers["overlap"] == pytest.approx(lower["overlap"])
    assert explorer.view.numbers["activated share"] == pytest.approx(lower["cam_area"])
    assert lower["cam_area"] > expected["cam_area"]

    explorer.controls["trait"].value = "openness"
    opened = _scores(study, row, "openness", 0.3)
    assert explorer.view.numbers["overlap"] == pytest.approx(opened["overlap"])
    assert explorer.view.numbers["predicted openness"] == pytest.approx(
        study.frame_predictions[row, 0]
    )

    # A clip's frames follow the clip; a frame without a face box has no overlap.
    clip = study.store.meta["clip"].iloc[MISSING_FACE_ROWS[0]]
    explorer.controls["clip"].value = clip
    assert [value for _, value in explorer.controls["row"].options] == [0, 1, 2]
    explorer.controls["row"].value = MISSING_FACE_ROWS[0]
    assert explorer.view.numbers["overlap"] == "no face box (left out)"
    assert "shapes" not in shown(explorer)["layout"] or not shown(explorer)["layout"]["shapes"]

    # The face model maps the clip's crops (clip 0 lost its first frame's face).
    explorer.controls["model"].value = "faces"
    face_rows = explorers.cam_rows(study, "faces", clip)
    assert [value for _, value in explorer.controls["row"].options] == face_rows
    assert len(face_rows) == 2
    numbers = explorer.view.numbers
    assert {"on eyes", "on mouth", "on nose", "on eyebrows"} <= set(numbers)
    assert all(0 <= numbers[f"on {part}"] <= 1 for part in ("eyes", "mouth", "nose"))
    assert shown(explorer)["layout"]["title"]["text"].startswith("faces, openness")


# ----------------------------------------------------------------------------------------------
# Unit explorer (chapter 06)
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unit_study_(smoke_dataset, tmp_path_factory):
    return make_unit_study(smoke_dataset, tmp_path_factory.mktemp("explorer-units"))


def test_unit_explorer_shows_n_prime_against_the_random_null(unit_study_):
    study = unit_study_
    explorer = explorers.unit_explorer(study, force=True)
    shares = study.shares["conv5_3"].drop(columns="elsewhere")
    best = int(shares.max(axis=1).idxmax())
    assert explorer.values() == {"layer": "conv5_3", "unit": best}
    top_n = study.stats.top_n

    def bars(figure):
        (bar,) = [trace for trace in figure["data"] if trace["type"] == "bar"]
        return dict(zip(bar["x"], bar["y"], strict=True))

    assert bars(shown(explorer)) == pytest.approx((shares.loc[best] * top_n).round().to_dict())
    nulls = [trace for trace in shown(explorer)["data"] if trace["type"] == "scatter"]
    assert [trace["name"] for trace in nulls] == [
        "random weights: 95th percentile of its units",
        "pretrained: 95th percentile of its units",  # the study's network before fine-tuning
    ]
    random = study.random_shares["conv5_3"].drop(columns="elsewhere")
    assert nulls[0]["y"] == pytest.approx((random.quantile(0.95) * top_n).to_list())
    pretrained = study.pretrained_shares["conv5_3"].drop(columns="elsewhere")
    assert nulls[1]["y"] == pytest.approx((pretrained.quantile(0.95) * top_n).to_list())

    explorer.controls["unit"].value = 3
    assert shown(explorer)["layout"]["title"]["text"] == "conv5_3 unit 3"
    assert bars(shown(explorer)) == pytest.approx((shares.loc[3] * top_n).round().to_dict())
    # Another layer: the unit's range follows, N' on that layer's own grid.
    explorer.controls["layer"].value = "conv1_1"
    assert explorer.controls["unit"].max == study.stats.n_units("conv1_1") - 1
    expected = semantics.region_shares(
        study.stats, "conv1_1", explorers.unit_masks(study, "conv1_1")
    ).drop(columns="elsewhere")
    unit = explorer.values()["unit"]
    assert bars(shown(explorer)) == pytest.approx((expected.loc[unit] * top_n).round().to_dict())
    assert "layer: conv1_1" in explorer.numbers.value


def test_unit_view_takes_a_pretrained_null_when_there_is_one(unit_study_):
    study = unit_study_
    nulls = {**explorers.unit_nulls(study), "pretrained": study.stats}
    view = explorers.unit_view(study, "conv5_3", 0, nulls=nulls)
    names = [trace.name for trace in view.figure.data if trace.type == "scatter"]
    assert names == [
        "random weights: 95th percentile of its units",
        "pretrained: 95th percentile of its units",
    ]
    assert {"above random weights (95th pct.)", "above pretrained (95th pct.)"} <= set(view.numbers)
    # the study carries one (make_study's fake identity backbone): taken by default
    assert list(explorers.unit_nulls(study)) == ["random weights", "pretrained"]
    assert explorers.unit_nulls(study)["pretrained"] is study.pretrained_stats is not None
    kept, study.pretrained_stats = study.pretrained_stats, None  # trained from random weights
    try:
        assert list(explorers.unit_nulls(study)) == ["random weights"]
    finally:
        study.pretrained_stats = kept
    with pytest.raises(ValueError, match=r"conv5_3 has units 0\.\.31, got 99"):
        explorers.unit_view(study, "conv5_3", 99)


def test_the_chapter_runner_switches_the_explorers_off():
    import inspect

    from personality_utils.book import chapters

    assert f'env["{explorers.LIVE_ENV}"] = "0"' in inspect.getsource(chapters.run_chapter)
