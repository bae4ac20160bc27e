"""Shared fixtures: the real public files in ../shared/data, and the tiny synthetic dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    return Path(os.environ.get("SHARED_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public files (labels, clips, OpenFace CSV, photos).

    Skips when it is absent (a user's machine); fails instead when REQUIRE_SHARED_DATA=1, as
    in CI, so those tests can never be skipped silently there.
    """
    folder = _shared_dir()
    if not (folder / "firstimpressions").is_dir():
        message = f"real test files not found at {folder}"
        if os.environ.get("REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message + " (REQUIRE_SHARED_DATA=1)")
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory) -> Path:
    """Where generated data goes: the Makefile's cache when set, else a temporary folder, which
    then becomes ``$PERSONALITY_UTILS_CACHE`` for the whole session, so that no test (nor a
    process it starts) writes into the user's own cache."""
    configured = os.environ.get("PERSONALITY_UTILS_CACHE")
    if configured:
        return Path(configured)
    folder = tmp_path_factory.mktemp("cache")
    os.environ["PERSONALITY_UTILS_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def smoke_dataset(cache_dir):
    """The smoke-profile synthetic dataset with its frame stores (generated once)."""
    from personality_utils.data import datasets

    return datasets.prepare_dataset("smoke", seed=0, cache_dir=cache_dir, progress=False)
