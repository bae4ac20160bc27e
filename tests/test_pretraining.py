"""Identity pretraining: the crops, the cached and resumable backbone, and fine-tuning from it."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest
import torch

from personality_utils.core.profiles import IdentityPretraining, get_profile
from personality_utils.data.synthetic import generator, recipes
from personality_utils.models import networks, pretraining, training
from personality_utils.models.networks import WeightsError


def tiny(epochs: int = 2):
    return get_profile("smoke").replace(
        pretraining=IdentityPretraining(
            identities=5,
            images_per_identity=3,
            held_out_per_identity=1,
            epochs=epochs,
            batch_size=4,
        )
    )


def test_crops_are_aligned_faces_of_new_people():
    profile = tiny()
    images, labels = pretraining.identity_crops(profile, workers=1)
    size = profile.recipe.input_size
    assert images.shape == (15, size, size, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    # Deterministic, and none of the people is one of the dataset's (their own stream).
    again, _ = pretraining.identity_crops(profile, workers=2)
    assert np.array_equal(images, again)
    dataset_people = {r.shape_modes for r in generator._recipes(get_profile("smoke"), 0)}
    rng_people = {
        recipes.draw_identity(np.random.default_rng([0, 0x1D, person]))["shape_modes"]
        for person in range(5)
    }
    assert not dataset_people & rng_people
    # The crops of one person differ (expression, roll, light, room): not one image repeated.
    assert not np.array_equal(images[0], images[1])


def test_pretrain_caches_resumes_and_writes_the_backbone(tmp_path):
    profile = tiny(epochs=2)
    path = pretraining.pretrain(profile, tmp_path, workers=1, progress=False, stop_after_epoch=1)
    assert not path.exists()  # interrupted after epoch 1: only the checkpoint is there
    assert (path.parent / "checkpoint.pt").is_file() and (path.parent / "crops.npz").is_file()
    path = pretraining.pretrain(profile, tmp_path, workers=1, progress=False)
    learned = pretraining.summary(path)
    assert [row["epoch"] for row in learned["history"]] == [1, 2]  # resumed, not restarted
    assert learned["identities"] == 5 and learned["training_crops"] == 10
    assert learned["held_out_crops"] == 5 and 0 <= learned["held_out_accuracy"] <= 1
    assert not (path.parent / "checkpoint.pt").exists()
    stamp = path.stat().st_mtime_ns
    assert pretraining.pretrain(profile, tmp_path, workers=1, progress=False) == path
    assert path.stat().st_mtime_ns == stamp  # cached: not trained again
    # Another setting is another folder.
    other = dataclasses.replace(
        profile, pretraining=dataclasses.replace(profile.pretraining, seed=1)
    )
    assert pretraining.backbone_path(other, tmp_path) != path


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrained")
    return pretraining.pretrain(tiny(epochs=1), folder, workers=1, progress=False)


def test_models_start_from_the_pretrained_backbone(backbone):
    assert networks.is_identity_backbone(backbone)
    state = networks.read_identity_backbone(backbone)
    for kind in ("danplus", "cam_fig4"):
        model = networks.build_model(kind, 16, str(backbone), True, None)
        own = model.backbone.features.state_dict()
        for key, tensor in own.items():
            assert torch.equal(tensor, state["features"][key]), key
    # Untouched, nothing changed; a moved layer shows.
    model = networks.build_model("danplus", 16, str(backbone), True, None)
    assert (pretraining.weight_change(backbone, model) == 0).all()
    with torch.no_grad():
        model.backbone.conv("conv5_3").weight.mul_(2)
    change = pretraining.weight_change(backbone, model)
    assert change["conv5_3"] == pytest.approx(1.0) and change.drop("conv5_3").eq(0).all()
    run = types.SimpleNamespace(trained=types.SimpleNamespace(model=model))
    assert pretraining.weight_changes(backbone, {"danplus": run})["danplus"].equals(change)
    assert pretraining.weight_changes(None, {"danplus": run}) == {}  # not from a pretraining


def test_a_backbone_of_another_width_is_refused_with_the_file_named(backbone):
    with pytest.raises(WeightsError, match=str(backbone.name)):
        networks.build_model("danplus", 8, str(backbone), True, None)
    assert not networks.is_identity_backbone(backbone.parent / "missing.pt")


def test_fine_tuning_keeps_the_profile_network_and_scales_the_backbone_rate(backbone, tmp_path):
    profile = get_profile("smoke").replace(backbone_lr_scale=0.1)
    config = training.config_for(profile, "danplus", str(backbone), "cpu", 0, "faces")
    assert (config.width_divisor, config.batch_norm) == (16, True)
    assert config.backbone_lr_scale == 0.1
    mean, scale = training._normalisation(config, None)  # the pretraining's normalisation
    state = networks.read_identity_backbone(backbone)
    assert torch.allclose(mean[:, 0, 0], torch.tensor(state["mean"]))
    assert scale == pytest.approx(state["std"])
    optimizer = training._optimizer(config, networks.build_model("danplus", 16, None, True, None))
    assert [group["lr_scale"] for group in optimizer.param_groups] == [0.1, 1.0]
    # VGG-Face's layout needs the paper's network, trained at one rate.
    vgg_face = tmp_path / "vgg_face.pth"
    torch.save(networks.random_vgg_face(0), vgg_face)
    foreign = training.config_for(profile, "danplus", str(vgg_face), "cpu", 0, "faces")
    assert (foreign.width_divisor, foreign.batch_norm, foreign.backbone_lr_scale) == (1, False, 1.0)


def test_profiles_without_pretraining_start_as_before():
    from personality_utils.models import experiments

    assert experiments.starting_weights("paper") is None
    assert experiments.starting_weights("paper", "imagenet") == "imagenet"
    assert pretraining.ensure_backbone("paper") is None
    with pytest.raises(ValueError, match="at least one training crop"):
        IdentityPretraining(images_per_identity=2, held_out_per_identity=2)
