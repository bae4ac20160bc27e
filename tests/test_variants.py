"""The attribution chapter's control trainings (:mod:`personality_utils.models.variants`): the
no_poster labels, the random_init start, their place in the training plan, their folders,
stamps and provenance, and ``train --variant`` on the smoke profile."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from personality_utils.book import session, stamps
from personality_utils.core.planted import FEATURES
from personality_utils.core.profiles import get_profile
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.synthetic.labels import (
    LABEL_STD,
    LABEL_STEPS,
    _weight_matrix,
    trait_scores,
)
from personality_utils.data.synthetic.truth import load_ground_truth
from personality_utils.models import experiments, provenance, training, variants

OPENNESS = TRAITS.index("openness")


def _first_rows(meta: pd.DataFrame) -> np.ndarray:
    """The first row of each clip, clips sorted."""
    return meta.reset_index(drop=True).groupby("clip", sort=True).head(1).index.to_numpy()


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def planted_set(tmp_path_factory):
    """A synthetic set's ground truth and train meta made with the generator's label function
    (:func:`trait_scores`): 1,500 clips of 2 frames, seeded, so the statistics are sharp."""
    root = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(7)
    clips, rows = {}, []
    for index in range(1500):
        features = {name: float(5 * rng.beta(1.6, 3.4)) for name in FEATURES[:-2]}
        features["glasses"] = float(rng.random() < 0.35)
        features["context_cue"] = float(rng.random())
        labels = trait_scores(features, rng.standard_normal(len(TRAITS)))
        name = f"clip{index:04d}.000.mp4"
        clips[name] = {"features": features, "labels": labels}
        rows += [{"clip": name, **labels}] * 2
    (root / "ground_truth.json").write_text(json.dumps({"clips": clips}))
    dataset = SimpleNamespace(root=root, synthetic=True)
    return dataset, pd.DataFrame(rows)


def test_no_poster_takes_the_poster_signal_out_and_keeps_the_spread(planted_set):
    dataset, meta = planted_set
    labels = meta[list(TRAITS)].to_numpy()
    control = variants.variant_labels(dataset, meta, labels, "no_poster", seed=0)
    assert control.shape == labels.shape
    truth = load_ground_truth(dataset.root)["clips"]
    cue = np.array([truth[clip]["features"]["context_cue"] for clip in meta["clip"]])
    assert _correlation(cue, labels[:, OPENNESS]) > 0.7  # the planted poster signal
    assert abs(_correlation(cue, control[:, OPENNESS])) < 0.08  # gone
    # The other traits carry no poster weight: exactly the same labels.
    others = [index for index in range(len(TRAITS)) if index != OPENNESS]
    np.testing.assert_array_equal(control[:, others], labels[:, others])
    # Openness keeps its distribution: the poster term is moved between clips, not removed.
    assert control[:, OPENNESS].std() == pytest.approx(labels[:, OPENNESS].std(), rel=0.05)
    assert control[:, OPENNESS].mean() == pytest.approx(labels[:, OPENNESS].mean(), abs=0.005)
    steps = LABEL_STEPS["openness"]
    on_grid = control[:, OPENNESS] * steps
    np.testing.assert_allclose(on_grid, np.round(on_grid), atol=1e-9)
    assert control.min() >= 0 and control.max() <= 1
    # What was added back is the set of the clips' own poster terms, permuted (up to the
    # quantisation step and the clipping at 0 and 1).
    weight = _weight_matrix()[OPENNESS, FEATURES.index("context_cue")]
    term = LABEL_STD * weight * (cue - 0.5) / math.sqrt(1 / 12)
    added = control[:, OPENNESS] - labels[:, OPENNESS] + term
    inside = (control[:, OPENNESS] > 0) & (control[:, OPENNESS] < 1)
    assert inside.mean() > 0.99
    first = _first_rows(meta)
    gap = np.abs(np.sort(added[first]) - np.sort(term[first]))
    assert np.median(gap) < 1 / steps and gap.max() < 0.05
    # Seeded: the same seed gives the same labels, another seed others.
    again = variants.variant_labels(dataset, meta, labels, "no_poster", seed=0)
    np.testing.assert_array_equal(again, control)
    other = variants.variant_labels(dataset, meta, labels, "no_poster", seed=1)
    assert not np.array_equal(other, control)


def test_no_poster_on_the_smoke_set(smoke_dataset):
    meta = smoke_dataset.store("train").meta
    labels = meta[list(TRAITS)].to_numpy()
    truth = load_ground_truth(smoke_dataset.root)["clips"]
    first = _first_rows(meta)
    cue = np.array([truth[clip]["features"]["context_cue"] for clip in meta["clip"]])[first]
    controls = [
        variants.variant_labels(smoke_dataset, meta, labels, "no_poster", seed)
        for seed in range(12)
    ]
    for control in controls:
        assert not np.array_equal(control[:, OPENNESS], labels[:, OPENNESS])
        np.testing.assert_array_equal(
            np.delete(control, OPENNESS, 1), np.delete(labels, OPENNESS, 1)
        )
        # Every frame of a clip keeps its clip's one label.
        per_clip = pd.DataFrame(control, columns=list(TRAITS)).groupby(meta["clip"].to_numpy())
        assert (per_clip.nunique() == 1).all().all()
    # 16 clips: one permutation's correlation is noisy; over seeds it is about 0, against a
    # clearly positive one for the true labels.
    original = _correlation(cue, labels[first, OPENNESS])
    permuted = [_correlation(cue, control[first, OPENNESS]) for control in controls]
    assert original > 0.5
    assert abs(np.mean(permuted)) < 0.15 and np.mean(permuted) < original - 0.4
    spread = np.mean([control[first, OPENNESS].std() for control in controls])
    assert spread == pytest.approx(labels[first, OPENNESS].std(), rel=0.25)


def test_the_controls_need_known_variants_and_no_poster_the_synthetic_truth(planted_set):
    _, meta = planted_set
    labels = meta[list(TRAITS)].to_numpy()
    real = SimpleNamespace(root=Path("/data/fi"), synthetic=False)
    with pytest.raises(ValueError, match=r"/data/fi.*ground truth"):
        variants.variant_labels(real, meta, labels, "no_poster", 0)
    for variant in (None, "random_init"):
        np.testing.assert_array_equal(
            variants.variant_labels(real, meta, labels, variant, 0), labels
        )
    with pytest.raises(ValueError, match="unknown training variant 'no_faces'"):
        variants.variant_labels(real, meta, labels, "no_faces", 0)
    with pytest.raises(ValueError, match="one row per meta row"):
        variants.variant_labels(planted_set[0], meta, labels[:10], "no_poster", 0)
    stranger = pd.DataFrame({"clip": ["someone.000.mp4"]})
    with pytest.raises(ValueError, match=r"someone\.000\.mp4"):
        variants.variant_labels(planted_set[0], stranger, labels[:1], "no_poster", 0)
    described = [variants.describe(variant) for variant in variants.VARIANTS]
    assert all(described) and len(set(described)) == len(described)
    assert variants.describe(None) == ""


def test_random_init_starts_from_random_weights_with_the_same_network():
    assert variants.variant_start("random_init", "/weights/vgg_face.pth") is None
    assert variants.variant_start("no_poster", "/weights/vgg_face.pth") == "/weights/vgg_face.pth"
    assert variants.variant_start(None, "imagenet") == "imagenet"
    # Given foreign weights a CPU profile trains the full-width VGG-16; the control keeps it.
    given = training.config_for("smoke", "cam_fig4", "imagenet", "cpu", 0, "frames")
    control = variants.variant_config(given, "random_init")
    assert control.backbone_weights is None
    assert dataclasses.replace(control, backbone_weights="imagenet") == given
    assert variants.variant_config(given, "no_poster") is given


def test_the_training_plan_lists_the_controls_where_they_can_run():
    smoke = get_profile("smoke")
    plan = experiments.training_plan(smoke)
    main = [job for job in plan if job[3] is None]
    assert main == [
        ("danplus", "frames", 0, None),
        ("cam_fig4", "frames", 0, None),
        ("danplus", "faces", 0, None),
        ("cam_fig4", "faces", 0, None),
        ("danplus", "frames", 1, None),
        ("danplus", "faces", 1, None),
    ]
    assert plan[len(main) :] == [
        ("cam_fig4", "frames", 0, "no_poster"),
        ("cam_fig4", "frames", 0, "random_init"),
    ]
    assert experiments.training_plan(smoke, seed=3)[-1] == ("cam_fig4", "frames", 3, "random_init")
    real = experiments.training_plan(smoke, synthetic=False)
    assert real == main + [("cam_fig4", "frames", 0, "random_init")]
    assert experiments.training_plan(smoke.replace(attribution_controls=False)) == main
    assert all(job[3] is None for job in experiments.training_plan("paper-tiny"))


def test_every_variant_has_its_own_folder_and_stamp(smoke_dataset):
    where = SimpleNamespace(store_dir=Path("/stores"))
    plain = experiments.experiment_dir(where, "smoke", "cam_fig4", "frames", 0, "imagenet")
    assert plain.name == "smoke-cam_fig4-frames-seed0-imagenet"
    folders = {
        variant: experiments.experiment_dir(
            where, "smoke", "cam_fig4", "frames", 0, "imagenet", variant
        )
        for variant in (None, *variants.VARIANTS)
    }
    assert folders[None] == plain and len(set(folders.values())) == 3
    assert folders["no_poster"].name == "smoke-cam_fig4-frames-seed0-imagenet-no_poster"

    profile, store_dir = get_profile("smoke"), smoke_dataset.store_dir
    old = (
        ("code", stamps.package_digest(stamps.TRAINING_CODE)),
        ("profile", stamps.digest(repr(profile))),
        ("model", "cam_fig4 frames seed 0"),
        ("data", stamps.store_digest(store_dir)),
        ("starting weights", stamps.file_digest(None)),
    )
    stamp = stamps.training_stamp(profile, "cam_fig4", "frames", 0, store_dir, None)
    assert stamp.parts == old
    assert stamp.code == stamps.digest(*(f"{k}={v}" for k, v in old))
    controls = [
        stamps.training_stamp(profile, "cam_fig4", "frames", 0, store_dir, None, variant)
        for variant in variants.VARIANTS
    ]
    assert len({stamp.code, *(control.code for control in controls)}) == 3
    assert controls[0].parts[-1] == ("variant", "no_poster")


def test_a_chapter_asks_for_a_control_by_name(monkeypatch):
    asked = {}
    monkeypatch.setattr(
        experiments, "run_experiment", lambda *args, **options: asked.update(options)
    )
    chapter = session.Chapter("05b_attribution", get_profile("smoke"), dataset=None)
    chapter.experiment("frames", "cam_fig4", variant="no_poster")
    assert asked["variant"] == "no_poster"
    chapter.experiment("frames", "cam_fig4")
    assert asked["variant"] is None


def test_train_with_a_variant_trains_it_apart_and_records_it(smoke_dataset, capsys, monkeypatch):
    from personality_utils.__main__ import main

    # Random starting weights for every model, so that the test does not pretrain the smoke
    # profile's backbone (some 10 s); the variant's path is the same.
    monkeypatch.setattr(experiments, "ensure_backbone", lambda *args, **options: None)

    cache = str(smoke_dataset.store_dir.parents[1])
    options = ["--profile", "smoke", "--kind", "cam_fig4", "--device", "cpu", "--cache-dir", cache]
    assert main(["train", *options, "--variant", "no_poster", "--fresh"]) == 0
    assert "test: MA 0." in capsys.readouterr().out
    folder = experiments.experiment_dir(
        smoke_dataset, "smoke", "cam_fig4", "frames", 0, None, "no_poster"
    )
    assert folder.name.endswith("-no_poster") and (folder / "checkpoint.pt").is_file()
    record = json.loads((folder / provenance.PROVENANCE).read_text())
    assert record["variant"] == "no_poster"
    assert record["variant_description"] == variants.describe("no_poster")
    assert record["scores"]["test"]["clips"] == 6  # scored on the true labels, as any model
    shown = provenance.load_provenance(folder)
    assert shown.known and any("control training no_poster" in line for line in shown.lines)
    # The plan prints the control with its variant, and leaves it out once it is trained.
    assert main(["training-plan", "--profile", "smoke", "--cache-dir", cache]) == 0
    assert "cam_fig4 frames 0 no_poster\n" in capsys.readouterr().out
    assert main(["training-plan", "--profile", "smoke", "--cache-dir", cache, "--pending"]) == 0
    printed = capsys.readouterr()
    assert "no_poster" not in printed.out and "cam_fig4 frames 0 random_init" in printed.out
    assert "up to date: cam_fig4 (no_poster) on frames" in printed.err
