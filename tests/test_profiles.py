"""Tests of personality_utils.core.profiles: the authors' recipe on the paper profiles, the CPU
profiles' own choices, and the side-by-side table the chapters print."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from personality_utils.core import profiles
from personality_utils.models import training


def test_the_paper_profile_is_the_authors_recipe():
    paper = profiles.get_profile("paper")
    frames = training.config_for(paper, "danplus", source="frames")
    faces = training.config_for(paper, "cam", source="faces")
    # REFERENCE.md: logspace(-3, -6, 30) over 10 epochs runs its first 10 values.
    np.testing.assert_allclose(training.learning_rates(frames), np.logspace(-3, -6, 30)[:10])
    assert frames.weight_decay == 5e-4
    assert (frames.optimizer, frames.momentum, frames.batch_size, frames.epochs) == (
        "sgd",
        0.9,
        32,
        10,
    )
    assert frames.flip_probability == 0.5
    assert (frames.width_divisor, frames.input_size, frames.batch_norm) == (1, 224, False)
    assert frames.head_init_std == faces.head_init_std == 0.05
    assert frames.input_mean == "mean_image"
    assert faces.input_mean == "mean_image_unit_scale"  # their face model's 0-1 mean image
    assert paper.cam_kind == "cam" and paper.cam_upsampling == "bicubic"
    assert paper.cam_ranking == "videos"
    assert paper.unit_population == "first_face_per_clip"
    assert paper.frames_per_clip == 10 and paper.feature_grid == 14


def test_paper_tiny_differs_from_paper_only_in_size_and_epochs():
    paper, tiny = profiles.get_profile("paper"), profiles.get_profile("paper-tiny")
    assert dataclasses.replace(tiny.recipe, epochs=paper.recipe.epochs) == paper.recipe
    assert tiny.recipe.epochs == 1
    same = (
        "frames_per_clip",
        "store_size",
        "face_size",
        "face_input_mean",
        "cam_kind",
        "cam_upsampling",
        "cam_ranking",
        "unit_population",
    )
    assert all(getattr(tiny, name) == getattr(paper, name) for name in same)
    assert sum(tiny.synthetic_clips.values()) <= 12
    # The CPU dry run trains no attribution controls (the smoke tests run their code path).
    assert paper.attribution_controls and not tiny.attribution_controls
    # Short clips still give the authors' 10 (or 11) frames: 1:round((N-1)/10):N.
    from personality_utils.data.video import sample_frame_indices

    low, high = tiny.synthetic_seconds
    for fps in tiny.synthetic_fps:
        for n_frames in range(int(low * fps), int(np.ceil(high * fps)) + 1):
            assert len(sample_frame_indices(n_frames, tiny.frames_per_clip)) in (10, 11)
    table = profiles.compare_with_authors(tiny)
    differing = set(table.index[~table["same"].astype(bool)])
    assert differing == {"batch, epochs", "learning rates", "faces"}


def test_cpu_profiles_keep_their_measured_recipe():
    default = profiles.get_profile("default")
    config = training.config_for(default, "danplus", source="faces")
    assert (config.optimizer, config.width_divisor, config.batch_norm) == ("adam", 8, True)
    assert config.input_mean == "backbone" and config.weight_decay == 0
    rates = training.learning_rates(config)
    assert rates[0] == pytest.approx(1e-3) and rates[-1] == pytest.approx(1e-4)
    # Pretrained weights need the paper's network: full width, no batch normalisation.
    weighted = training.config_for(default, "danplus", backbone_weights="imagenet")
    assert (weighted.width_divisor, weighted.batch_norm) == (1, False)


def test_compare_with_authors_says_what_differs():
    table = profiles.compare_with_authors("default")
    assert {"the authors", "this profile", "same"} <= set(table.columns)
    assert not table.loc["optimiser", "same"] and not table.loc["weight decay", "same"]
    assert table.loc["whole-batch flip", "same"]
    assert "1.17e-04" in table.loc["learning rates", "the authors"]
    assert not table.loc["faces", "same"]  # OpenFace there, dlib here
    paper = profiles.compare_with_authors("paper")
    assert paper.drop(index="faces")["same"].all()
    chapter_05 = profiles.compare_with_authors("paper", chapter="05")
    assert {"CAM upsampling", "CAM images"} <= set(chapter_05.index)
    assert "weight decay" not in chapter_05.index


def test_profile_checks_and_replace():
    with pytest.raises(ValueError, match="input_mean"):
        profiles.TrainConfig(input_mean="raw")
    with pytest.raises(ValueError, match="cam_ranking"):
        profiles.get_profile("smoke").replace(cam_ranking="clips")
    with pytest.raises(ValueError, match="unknown profile"):
        profiles.get_profile("papers")
    faster = profiles.get_profile("paper").replace(epochs=2, name="paper-2")
    assert faster.recipe.epochs == 2 and faster.recipe.weight_decay == 5e-4
