"""Tests of personality_utils.models.networks: shapes, taps, CAM algebra, weight loading."""

from __future__ import annotations

import pytest
import torch

from personality_utils.models import networks


def test_backbone_taps_and_shapes():
    backbone = networks.VGGBackbone(width_divisor=16)
    convs = [name for name in backbone.names if name.startswith("conv")]
    assert tuple(convs) == networks.CONV_NAMES
    out = backbone(torch.zeros(2, 3, 224, 224), ("relu5_2", "relu5_3", "pool5"))
    assert out["relu5_2"].shape == (2, 32, 14, 14)
    assert out["relu5_3"].shape == (2, 32, 14, 14)
    assert out["pool5"].shape == (2, 32, 7, 7)
    full = networks.VGGBackbone(width_divisor=1)
    assert full.conv("conv5_3").out_channels == 512 and full.conv("conv1_1").in_channels == 3
    with pytest.raises(ValueError):
        networks.VGGBackbone(width_divisor=3)


def test_danplus_matches_its_definition():
    torch.manual_seed(0)
    model = networks.DANPlus(width_divisor=16).eval()
    images = torch.randn(3, 3, 64, 64)
    taps = model.backbone(images, ("relu5_2", "pool5"))
    parts = []
    for name in ("relu5_2", "pool5"):
        flat = taps[name].flatten(2)
        for pooled in (flat.amax(2), flat.mean(2)):
            parts.append(pooled / pooled.norm(dim=1, keepdim=True).clamp_min(1e-8))
    expected = torch.sigmoid(model.head(torch.cat(parts, 1)))
    torch.testing.assert_close(model(images), expected)
    assert model.head.in_features == 4 * 32


@pytest.mark.parametrize("head", ["authors", "fig4"])
def test_cam_is_the_weighted_sum_of_maps(head):
    torch.manual_seed(0)
    model = networks.CAMModel(width_divisor=16, head=head).eval()
    images = torch.randn(2, 3, 224, 224)
    cams = model.cam(images)
    assert cams.shape == (2, 5, 14, 14)
    maps = model.maps(images)
    for trait in range(5):
        manual = sum(model.fc.weight[trait, k] * maps[:, k] for k in range(maps.shape[1]))
        torch.testing.assert_close(cams[:, trait], manual, rtol=1e-4, atol=1e-5)
    if head == "fig4":  # GAP + linear: the CAM's mean is exactly the logit minus the bias
        torch.testing.assert_close(
            cams.mean(dim=(2, 3)) + model.fc.bias, model.logits(images), rtol=1e-4, atol=1e-5
        )


def _fake_vgg_face(include_fc: bool = True) -> dict[str, torch.Tensor]:
    """A state dict with the VGG-Face port's exact key names and shapes, each tensor distinct."""
    shapes = {
        "conv1_1": (64, 3),
        "conv1_2": (64, 64),
        "conv2_1": (128, 64),
        "conv2_2": (128, 128),
        "conv3_1": (256, 128),
        "conv3_2": (256, 256),
        "conv3_3": (256, 256),
        "conv4_1": (512, 256),
        "conv4_2": (512, 512),
        "conv4_3": (512, 512),
        "conv5_1": (512, 512),
        "conv5_2": (512, 512),
        "conv5_3": (512, 512),
    }
    state = {}
    for index, (name, (out_channels, in_channels)) in enumerate(shapes.items()):
        state[f"{name}.weight"] = torch.full((out_channels, in_channels, 3, 3), float(index + 1))
        state[f"{name}.bias"] = torch.full((out_channels,), -float(index + 1))
    if include_fc:
        state["fc6.weight"] = torch.zeros(4096, 25088)
        state["fc6.bias"] = torch.zeros(4096)
        state["fc8.weight"] = torch.zeros(2622, 4096)
    return state


def test_vgg_face_state_dict_lands_in_the_right_layers(tmp_path):
    path = tmp_path / "vgg_face_dag.pth"
    torch.save(_fake_vgg_face(), path)
    model = networks.build_model("cam", width_divisor=1, backbone_weights=path)
    for index, name in enumerate(networks.CONV_NAMES):
        conv = model.backbone.conv(name)
        assert torch.all(conv.weight == index + 1), name
        assert torch.all(conv.bias == -(index + 1)), name
    danplus = networks.build_model("danplus", backbone_weights=path)
    assert torch.all(danplus.backbone.conv("conv3_2").weight == 6)


def test_truncated_or_wrong_weights_are_clear(tmp_path):
    state = _fake_vgg_face(include_fc=False)
    del state["conv5_3.bias"], state["conv4_1.weight"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(
        networks.WeightsError, match=r"missing keys \['conv4_1.weight', 'conv5_3.bias'\]"
    ):
        networks.build_model("danplus", backbone_weights=path)
    truncated = tmp_path / "truncated.pth"
    full = tmp_path / "full.pth"
    torch.save(_fake_vgg_face(include_fc=False), full)
    truncated.write_bytes(full.read_bytes()[:1000])
    with pytest.raises(networks.WeightsError, match=r"truncated\.pth"):
        networks.build_model("danplus", backbone_weights=truncated)
    with pytest.raises(networks.WeightsError, match="full width"):
        networks.build_model("danplus", width_divisor=8, backbone_weights=full)


def test_pickled_code_in_a_weight_file_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    path = tmp_path / "evil.pth"
    torch.save({"conv1_1.weight": Evil()}, path)
    with pytest.raises(networks.WeightsError, match=r"evil\.pth: refused: .* the global print"):
        networks.build_model("danplus", backbone_weights=path)


def test_imagenet_is_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(networks.WeightsError, match="never downloads"):
        networks.build_model("danplus", backbone_weights="imagenet")


def test_batch_norm_variant_keeps_the_topology():
    backbone = networks.VGGBackbone(width_divisor=8, batch_norm=True)
    convs = [name for name in backbone.names if name.startswith("conv")]
    assert tuple(convs) == networks.CONV_NAMES
    assert sum(name.startswith("bn") for name in backbone.names) == 13
    out = backbone(torch.zeros(2, 3, 112, 112), ("relu5_2", "relu5_3", "pool5"))
    assert out["relu5_3"].shape == (2, 64, 7, 7) and out["pool5"].shape == (2, 64, 3, 3)
    with pytest.raises(networks.WeightsError, match="no batch normalisation"):
        networks.build_model(
            "danplus", width_divisor=1, backbone_weights="imagenet", batch_norm=True
        )


def test_new_layers_get_the_authors_init():
    torch.manual_seed(0)
    full = networks.build_model("cam", width_divisor=1)
    # The authors' 3x3 conv 512 -> 5 and 1x1 conv 5 -> 5: 0.05·randn, bias 0.
    assert full.cam_conv.weight.std().item() == pytest.approx(0.05, rel=0.02)
    assert full.cam_conv.bias.abs().max().item() == 0
    assert full.fc.bias.abs().max().item() == 0
    danplus = networks.build_model("danplus", width_divisor=1)
    assert danplus.head.weight.std().item() == pytest.approx(0.05, rel=0.02)
    # PyTorch's default (Kaiming-uniform with a = sqrt(5)) is far narrower for 4,608 inputs.
    default = networks.build_model("cam", width_divisor=1, head_init_std=None)
    assert default.cam_conv.weight.std().item() < 0.01
    assert default.cam_conv.bias.abs().max().item() > 0


def test_random_vgg_face_has_the_ports_layout_and_loads(tmp_path):
    from personality_utils.__main__ import main

    path = tmp_path / "vgg_face_random.pth"
    assert main(["random-vgg-face", "--out", str(path), "--seed", "3"]) == 0
    state = torch.load(path, weights_only=True)
    assert len(state) == 32  # conv1_1 ... conv5_3 and fc6 ... fc8, weights and biases
    assert state["fc6.weight"].shape == (4096, 25088) and state["fc8.weight"].shape == (2622, 4096)
    assert state["conv1_1.weight"].shape == (64, 3, 3, 3)
    torch.testing.assert_close(
        state["conv5_3.weight"], networks.random_vgg_face(3)["conv5_3.weight"]
    )
    model = networks.build_model("cam", backbone_weights=path)
    torch.testing.assert_close(model.backbone.conv("conv3_2").weight, state["conv3_2.weight"])
    # He-normal scale: a 0-255-scale input keeps its order of magnitude through 13 layers.
    with torch.no_grad():
        relu5_3 = model.backbone(torch.rand(1, 3, 224, 224) * 255 - 120, ("relu5_3",))["relu5_3"]
    assert 1 < relu5_3.abs().max().item() < 1e5 and torch.isfinite(relu5_3).all()


def test_load_weights_refuses_in_its_own_words(tmp_path):
    from personality_utils.core import vocabulary
    from personality_utils.models import training

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    folder = tmp_path / "model"
    folder.mkdir()
    torch.save({"config": {}, "model": Evil()}, folder / "checkpoint.pt")
    with pytest.raises(networks.WeightsError) as caught:
        training.load_trained(folder, device="cpu")
    assert isinstance(
        caught.value, vocabulary.DataError
    )  # one mechanism with unsafe zips and pickles
    message = str(caught.value)
    assert message.startswith(str(folder / "checkpoint.pt")) and "global print" in message
    assert "weights_only" not in message and "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_checkpoint_whose_weights_do_not_fit_is_refused_by_name(tmp_path):
    from personality_utils.core.profiles import get_profile
    from personality_utils.models import training

    config = training.config_for(get_profile("smoke"), "danplus", None, "cpu", 0, "frames")
    state = {
        "config": config.to_dict(),
        "epoch": config.epochs - 1,
        "model": {"features.0.weight": torch.zeros(1)},
        "mean": torch.zeros(3),
        "scale": 1.0,
        "history": "[]",
    }
    (tmp_path / "model").mkdir()
    torch.save(state, tmp_path / "model" / "checkpoint.pt")
    with pytest.raises(networks.WeightsError, match=r"checkpoint\.pt: its weights do not fit"):
        training.load_trained(tmp_path / "model", device="cpu")
