"""Attribution methods of chapter 05b (personality_utils.attribution.methods) on tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import FeatureAblation, LayerGradientXActivation, Occlusion
from helpers import cam_images, tiny_cam_model, tiny_danplus

from personality_utils.attribution import methods
from personality_utils.cam.maps import class_activation_maps, gradient_maps, upsample
from personality_utils.core.vocabulary import TRAITS

SIZE = 48  # conv5_3 grid of 3 x 3
SMALL = dict(window=8, stride=4, patch=8, ig_steps=8)  # cheap perturbation settings


@pytest.fixture(scope="module")
def cam_model():
    return tiny_cam_model("cam_fig4", SIZE)


@pytest.fixture(scope="module")
def danplus():
    return tiny_danplus(0, SIZE)


@pytest.fixture(scope="module")
def images():
    return cam_images(3, 40, seed=2)  # resized to the input by trained.prepare


@pytest.fixture(scope="module")
def baseline():
    return cam_images(1, 40, seed=7)[0]


def _logits(trained, pixels):
    with torch.no_grad():
        return trained.model.logits(trained.prepare(pixels, torch.device("cpu"))).numpy()


def test_method_list_and_notes():
    assert methods.METHODS[0] == "CAM"
    assert set(methods.METHOD_NOTES) == set(methods.METHODS)
    assert [m for m in methods.METHODS if methods.needs_cam_head(m)] == ["CAM"]
    with pytest.raises(ValueError, match="unknown attribution method"):
        methods.needs_cam_head("GradCAM")


@pytest.mark.parametrize("method", methods.METHODS)
def test_every_method_gives_finite_float32_maps_at_input_size(
    method, cam_model, danplus, images, baseline
):
    models = [cam_model] if methods.needs_cam_head(method) else [cam_model, danplus]
    for trained in models:
        maps = methods.attribution_maps(trained, images, method, baseline=baseline, **SMALL)
        assert maps.shape == (len(images), len(TRAITS), SIZE, SIZE)
        assert maps.dtype == np.float32
        assert np.isfinite(maps).all()
        assert np.abs(maps).max() > 0


def test_cam_is_the_cam_model_map_upsampled(cam_model, images):
    maps = methods.attribution_maps(cam_model, images, "CAM")
    grid = class_activation_maps(cam_model, images)[0]
    expected = np.stack(
        [np.stack([upsample(grid[i, t], SIZE) for t in range(5)]) for i in range(len(images))]
    )
    np.testing.assert_array_equal(maps, expected)


def test_cam_on_danplus_is_a_type_error(danplus, images):
    with pytest.raises(TypeError, match="CAM head"):
        methods.attribution_maps(danplus, images, "CAM")


def test_bad_arguments_are_named(danplus, images):
    with pytest.raises(ValueError, match="target_sign"):
        methods.attribution_maps(danplus, images, "Saliency", target_sign=0)
    with pytest.raises(ValueError, match="uint8"):
        methods.attribution_maps(danplus, images.astype(np.float32), "Saliency")
    with pytest.raises(ValueError, match="baseline"):
        methods.attribution_maps(danplus, images, "Occlusion", baseline=images)


LINEAR_IN_TARGET = ("CAM", "Grad-CAM", "Integrated Gradients", "Saliency", "Occlusion")


@pytest.mark.parametrize("method", [*LINEAR_IN_TARGET, "Feature ablation"])
def test_linear_methods_negate_with_the_target(method, cam_model, danplus, images, baseline):
    trained = cam_model if method == "CAM" else danplus
    plus = methods.attribution_maps(trained, images, method, baseline=baseline, **SMALL)
    minus = methods.attribution_maps(
        trained, images, method, baseline=baseline, target_sign=-1, **SMALL
    )
    assert (plus > 0).any() and (plus < 0).any()  # signed maps: no ReLU, no absolute value
    np.testing.assert_allclose(minus, -plus, rtol=1e-5, atol=1e-7)


def _signed_grid(trained, images, method: str, target_sign: int) -> np.ndarray:
    """The conv-grid maps chapter 05b upsamples: torchcam at relu5_3, final ReLU off."""
    return gradient_maps(
        trained, images, method, methods.CAM_LAYER, 32, signed=True, target_sign=target_sign
    )


def test_grad_cam_keeps_negative_values_at_the_grid(danplus, images):
    grid = _signed_grid(danplus, images, "GradCAM", 1)
    assert (grid < 0).any()  # torchcam's final ReLU is off


def _layer_gradient_x_activation(trained, images, trait):
    """Sum over channels of gradient x activation at relu5_3 (captum, not torchcam)."""
    model = trained.model
    layer = model.backbone.features[model.backbone.names.index(methods.CAM_LAYER)]
    explainer = LayerGradientXActivation(model.logits, layer)
    inputs = trained.prepare(images, torch.device("cpu"))
    return explainer.attribute(inputs, target=trait).sum(dim=1).detach().numpy()


def test_layercam_splits_gradient_x_activation_by_sign(danplus, images):
    """LayerCAM weights relu5_3 (non-negative) by ReLU(gradient): it cannot change sign with the
    target. Negating the target swaps ReLU(g) for ReLU(-g), and ReLU(g) - ReLU(-g) = g, so the
    two maps are non-negative and differ by the channel sum of gradient x activation."""
    plus = _signed_grid(danplus, images, "LayerCAM", 1)
    minus = _signed_grid(danplus, images, "LayerCAM", -1)
    assert (plus >= 0).all() and (minus >= 0).all()
    for trait in range(len(TRAITS)):
        np.testing.assert_allclose(
            plus[:, trait] - minus[:, trait],
            _layer_gradient_x_activation(danplus, images, trait),
            rtol=1e-4,
            atol=1e-6,
        )


def test_grad_cam_plus_plus_stays_non_negative_with_either_sign(danplus, images):
    """Grad-CAM++ weights ReLU(gradient) by positive coefficients: on the non-negative relu5_3
    maps both signs give non-negative maps, so the map of the negated target is not the negated
    map (only the channels that get weight change)."""
    plus = _signed_grid(danplus, images, "GradCAMpp", 1)
    minus = _signed_grid(danplus, images, "GradCAMpp", -1)
    assert (plus >= 0).all() and (minus >= 0).all()
    assert plus.max() > 0 and minus.max() > 0
    assert not np.allclose(plus, minus)


def test_integrated_gradients_completeness(cam_model, danplus, images, baseline):
    """The map sums to output(x) - output(baseline), up to the path integral's discretisation.

    Given baseline, DAN+: rough on an untrained ReLU network, hence 128 steps and a tolerance.
    Default baseline (zeros of the normalised input), the Fig. 4 CAM model: with zero biases the
    network is positively homogeneous, so the output is linear along the path and the sum exact
    (not DAN+: its L2-normalised pooling makes the output constant along that path, with a jump
    at zero)."""
    pixels = images[:1]
    outputs = _logits(danplus, pixels)
    difference = outputs - _logits(danplus, baseline[None])
    maps = methods.attribution_maps(
        danplus, pixels, "Integrated Gradients", baseline=baseline, ig_steps=128
    )
    tolerance = 0.15 * np.abs(difference).max()
    np.testing.assert_allclose(maps.sum(axis=(2, 3)), difference, atol=tolerance)
    assert np.abs(difference).max() > 2 * tolerance  # a zero map would fail

    with torch.no_grad():
        at_zero = cam_model.model.logits(torch.zeros(1, 3, SIZE, SIZE)).numpy()
    difference = _logits(cam_model, pixels) - at_zero
    maps = methods.attribution_maps(cam_model, pixels, "Integrated Gradients", ig_steps=8)
    np.testing.assert_allclose(maps.sum(axis=(2, 3)), difference, rtol=1e-3, atol=1e-5)
    assert np.abs(difference).max() > 1e-3


@pytest.mark.parametrize("batch_size", [2, 8])  # chunks of 2 + 1 images; 3 images x 2 per pass
@pytest.mark.parametrize("method", ["Occlusion", "Feature ablation"])
def test_multi_output_perturbation_equals_per_target_calls(
    method, batch_size, cam_model, images, baseline
):
    coarse = dict(window=16, stride=16, patch=16)  # few perturbations: per-target calls are slow
    maps = methods.attribution_maps(
        cam_model, images, method, baseline=baseline, batch_size=batch_size, **coarse
    )
    cpu = torch.device("cpu")
    inputs = cam_model.prepare(images, cpu)
    reference = cam_model.prepare(baseline[None], cpu)
    explainer = (Occlusion if method == "Occlusion" else FeatureAblation)(cam_model.model.logits)
    cells = torch.arange(SIZE) // coarse["patch"]
    mask = (cells[:, None] * (SIZE // coarse["patch"]) + cells[None, :])[None, None]
    for i in range(len(images)):
        for trait in range(len(TRAITS)):
            if method == "Occlusion":
                expected = explainer.attribute(
                    inputs[i : i + 1],
                    sliding_window_shapes=(3, coarse["window"], coarse["window"]),
                    strides=(3, coarse["stride"], coarse["stride"]),
                    baselines=reference,
                    target=trait,
                )
            else:
                expected = explainer.attribute(
                    inputs[i : i + 1], baselines=reference, feature_mask=mask, target=trait
                )
            expected = expected[0].numpy()
            np.testing.assert_allclose(expected, expected[:1].repeat(3, axis=0))  # equal channels
            np.testing.assert_allclose(maps[i, trait], expected[0], rtol=1e-4, atol=1e-6)


def test_default_baseline_is_the_models_mean_image(cam_model, images, baseline):
    """None fills with zeros of the normalised input: the model's own mean image (120 here)."""
    mean = cam_model.mean.permute(1, 2, 0).to(torch.uint8).numpy()
    default = methods.attribution_maps(cam_model, images, "Feature ablation", **SMALL)
    given = methods.attribution_maps(cam_model, images, "Feature ablation", baseline=mean, **SMALL)
    other = methods.attribution_maps(
        cam_model, images, "Feature ablation", baseline=baseline, **SMALL
    )
    assert not np.allclose(default, other, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(default, given, rtol=1e-4, atol=1e-6)
