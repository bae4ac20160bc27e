"""Tests of personality_utils.core.results."""

import json

import numpy as np
import pandas as pd
import pytest

from personality_utils.core import results


def test_roundtrip_converts_numpy_and_pandas(tmp_path):
    values = {
        "a": np.float32(0.5),
        "b": np.arange(3),
        "c": pd.Series({"x": 1.0}),
        "d": float("nan"),
        "e": {"nested": np.int64(4)},
    }
    path = results.save_results(
        "01_data", values, profile="smoke", data="synthetic", directory=tmp_path
    )
    assert path == tmp_path / "01_data.json"
    loaded = results.load_results("01_data", directory=tmp_path)
    assert loaded == {
        "notebook": "01_data",
        "profile": "smoke",
        "data": "synthetic",
        "a": 0.5,
        "b": [0, 1, 2],
        "c": {"x": 1.0},
        "d": None,
        "e": {"nested": 4},
    }
    assert [p.name for p in tmp_path.iterdir()] == ["01_data.json"]  # no temporary left
    json.loads(path.read_text())


def test_unknown_types_and_missing_results_are_clear(tmp_path):
    with pytest.raises(TypeError, match="object"):
        results.save_results("x", {"bad": object()}, profile="smoke", data="", directory=tmp_path)
    with pytest.raises(FileNotFoundError, match="run notebook 02_faces first"):
        results.load_results("02_faces", directory=tmp_path)
