"""Silencing conv5_3 units (chapter 06's causal test): exact against a hooked forward pass, and
a null that finds the units a trait is built on."""

import numpy as np
import pandas as pd
import pytest
import torch

from personality_utils.core.profiles import TrainConfig
from personality_utils.core.vocabulary import TRAITS
from personality_utils.models import networks
from personality_utils.models.training import TrainedModel
from personality_utils.units import ablation

INPUT = 32


def _trained(kind: str = "danplus", seed: int = 0) -> TrainedModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = networks.build_model(kind, width_divisor=16, batch_norm=True).eval()
    config = TrainConfig(
        kind=kind, width_divisor=16, input_size=INPUT, batch_norm=True, device="cpu"
    )
    return TrainedModel(model, config, torch.full((3, INPUT, INPUT), 127.5), 64.0)


def _images(n: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, INPUT, INPUT, 3), dtype=np.uint8)


@torch.no_grad()
def _hooked_logits(trained: TrainedModel, images: np.ndarray, units) -> np.ndarray:
    backbone = trained.model.backbone
    relu = backbone.features[backbone.names.index("relu5_3")]

    def silence(_module, _inputs, output):
        output = output.clone()
        output[:, list(units)] = 0
        return output

    handle = relu.register_forward_hook(silence)
    try:
        return trained.model.logits(trained.prepare(images)).double().numpy()
    finally:
        handle.remove()


@pytest.mark.parametrize("kind", ["danplus", "cam_fig4"])
def test_pooled_ablation_equals_a_hooked_forward_pass(kind):
    trained, images = _trained(kind), _images()
    pooled = ablation.pooled_units(trained, images, batch_size=5)
    for units in ([], [0, 3, 7], list(range(32))):
        assert np.allclose(
            ablation.ablated_logits(trained, pooled, units),
            _hooked_logits(trained, images, units),
            atol=1e-4,
        ), units


def test_authors_cam_head_is_refused():
    with pytest.raises(TypeError, match="cannot be silenced"):
        ablation.pooled_units(_trained("cam"), _images(2))


def test_ablate_finds_the_units_a_trait_is_built_on():
    trained = _trained("cam_fig4")
    crops = _images(20, seed=1)
    active = ablation.pooled_units(trained, crops)["conv5_3_mean"].mean(axis=0)
    first, second, quiet = (list(map(int, pair)) for pair in np.argsort(-active)[:6].reshape(3, 2))
    with torch.no_grad():  # trait 0 reads two lively units only, trait 1 two others
        trained.model.fc.weight.zero_()
        trained.model.fc.weight[0, first] = 0.05
        trained.model.fc.weight[1, second] = 0.05
    clips = [f"person{i}.001.mp4" for i in range(20)]
    sets = {"first": first, "second": second, "neither": quiet}
    with pytest.raises(ValueError, match="cannot give a Benjamini-Hochberg q below"):
        ablation.ablate(trained, crops, clips, sets, n_units=32, n_random=200)
    result = ablation.ablate(trained, crops, clips, sets, n_units=32, n_random=400, n_boot=200)
    table = result.table
    assert table.loc[("first", TRAITS[0]), "p"] < 0.05
    assert table.loc[("first", TRAITS[1]), "mean |change|"] == 0
    assert table.loc[("second", TRAITS[1]), "p"] < 0.05
    assert table.loc[("neither", TRAITS[0]), "mean |change|"] == 0
    assert table.loc[("neither", TRAITS[0]), "p"] == 1.0
    assert table["q"].notna().all()
    assert table.loc[("first", TRAITS[0]), "q"] < 0.05  # reachable with 400 random sets
    planted = pd.DataFrame(0.0, index=list(TRAITS), columns=["first", "second", "neither"])
    planted.loc[TRAITS[0], "first"] = 1.0
    planted.loc[TRAITS[1], "second"] = 1.0
    agreement = result.agreement(planted, n_permutations=200, seed=1)
    assert agreement["matches"]["first"] == {"moved_most": TRAITS[0], "planted_most": TRAITS[0]}
    # Tested by permuting the traits within each set: the planted cells lead, p is small.
    assert agreement["spearman"] > 0 and agreement["p"] < 0.05
    assert agreement["permutations"] == 200 and agreement["detectable"] < agreement["spearman"]
    assert agreement["matches"]["second"]["moved_most"] == TRAITS[1]
    record = result.record()
    assert record["units"]["first"] == first and record["crops"] == 20
    assert record["effects"]["first"][TRAITS[0]]["ratio"] > 1


def test_matched_units_are_others_of_similar_activation():
    activation = np.arange(64, dtype=float)
    rng = np.random.default_rng(0)
    for _ in range(50):
        drawn = ablation.matched_units([60, 61, 62], activation, rng)
        assert len(set(drawn)) == 3 and not set(drawn) & {60, 61, 62}
        assert min(drawn) >= 56  # within a few ranks of the set
    drawn = ablation.matched_units([0, 1], activation, rng)
    assert max(drawn) <= 5
    with pytest.raises(ValueError, match="too few others"):
        ablation.matched_units([0, 1, 2], activation[:5], rng)


def test_detector_sets_take_the_top_units_per_part():
    shares = pd.DataFrame(
        {"eyes": [0.1, 0.5, 0.2, 0.0], "eyebrows": [0.4, 0.0, 0.0, 0.0], "mouth": [0, 0, 0.3, 0.9]}
    )
    precision = pd.Series([0.9, 0.1, 0.5, 0.2])
    sets = ablation.detector_sets(shares, ["eyes & brows", "mouth"], 2, precision)
    assert sets == {"eyes & brows": [0, 1], "mouth": [3, 2], "glasses": [0, 2]}
