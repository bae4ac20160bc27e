"""Attribution methods of chapter 05b: one map per trait, at the model's input size.

Every method explains the same target, the model's pre-sigmoid output of a trait (a
regression has no class scores; the sigmoid only squashes it), optionally negated
(``target_sign=-1``: what lowers the score), and returns float32 (n, 5, s, s) maps in the
trait order of :data:`~personality_utils.core.vocabulary.TRAITS`:

- the CAM model's own map (:func:`~personality_utils.cam.maps.class_activation_maps`);
- Grad-CAM, Grad-CAM++ and LayerCAM through ``torchcam`` at ``relu5_3``, with torchcam's final
  ReLU turned off so that the maps keep their sign where the method has one;
- Integrated Gradients, Saliency, Occlusion and Feature ablation through ``captum.attr``.

Conv-grid maps are brought to s x s with MATLAB's bicubic
:func:`~personality_utils.cam.maps.upsample`, as chapter 05 did with the CAMs.
"""

from __future__ import annotations

import numpy as np

from personality_utils.cam.maps import _Logits, class_activation_maps, gradient_maps, upsample
from personality_utils.core.vocabulary import ATTRIBUTION_METHODS, TRAITS

__all__ = [
    "METHODS",
    "METHOD_NOTES",
    "CAM_LAYER",
    "needs_cam_head",
    "attribution_maps",
]

#: The methods, in the chapter's order (named once, in the vocabulary the claims read).
METHODS = ATTRIBUTION_METHODS

CAM_LAYER = "relu5_3"
"""Backbone layer of the torchcam methods (the layer the CAM model's own maps come from)."""

METHOD_NOTES = {
    "CAM": (
        "The CAM model's own class activation map (relu5_3 maps weighted by the last layer's "
        "weights of the trait), signed, bicubic-upsampled from the conv grid; CAM models only."
    ),
    "Grad-CAM": (
        "torchcam GradCAM at relu5_3 with its final ReLU turned off (signed: spatially averaged "
        "gradients weighting the maps, linear in the target), bicubic-upsampled."
    ),
    "Grad-CAM++": (
        "torchcam GradCAMpp at relu5_3 with its final ReLU turned off; its weights sum "
        "grad² · ReLU(grad) over positions (torchcam 0.5's alpha division acts on a copy, so "
        "alpha is grad²), so on the non-negative relu5_3 maps it is non-negative whatever the "
        "final ReLU; bicubic-upsampled."
    ),
    "LayerCAM": (
        "torchcam LayerCAM at relu5_3 with its final ReLU turned off; it weights each position "
        "by ReLU(grad), so on the non-negative relu5_3 maps it is non-negative whatever the "
        "final ReLU; bicubic-upsampled."
    ),
    "Integrated Gradients": (
        "captum IntegratedGradients (Gauss-Legendre, ig_steps steps, multiplied by the input "
        "minus the baseline) from the baseline image, summed over colour channels."
    ),
    "Saliency": (
        "captum Saliency with abs=False: the signed gradient of the target with respect to the "
        "input, summed over colour channels."
    ),
    "Occlusion": (
        "captum Occlusion (Zeiler & Fergus): a window x window square of all three channels, "
        "slid by stride, replaced by the baseline; each pixel gets the mean drop of the target "
        "over the windows that cover it."
    ),
    "Feature ablation": (
        "captum FeatureAblation on a grid of patch x patch squares (all three channels), each "
        "replaced by the baseline in turn; each pixel gets its square's drop of the target."
    ),
}

_TORCHCAM = {"Grad-CAM": "GradCAM", "Grad-CAM++": "GradCAMpp", "LayerCAM": "LayerCAM"}


def needs_cam_head(name: str) -> bool:
    """Whether method ``name`` only applies to models with a CAM head (``"CAM"``).

    Raises:
        ValueError: If ``name`` is not one of :data:`METHODS`.
    """
    _check_method(name)
    return name == "CAM"


def _check_method(name: str) -> None:
    if name not in METHODS:
        raise ValueError(f"unknown attribution method {name!r}; expected one of {METHODS}")


def _signed_logits(model, target_sign: int):
    """A callable returning ``target_sign`` times the model's (batch, 5) pre-sigmoid outputs."""
    wrapper = _Logits.wrap(model)

    def forward(inputs):
        outputs = wrapper(inputs)
        return outputs if target_sign == 1 else -outputs

    return forward


def _upsampled(maps: np.ndarray, size: int) -> np.ndarray:
    """(n, 5, g, g) conv-grid maps -> float32 (n, 5, size, size), MATLAB bicubic."""
    out = np.empty((*maps.shape[:2], size, size), dtype=np.float32)
    for index in np.ndindex(*maps.shape[:2]):
        out[index] = upsample(maps[index], size)
    return out


def _patch_mask(size: int, patch: int, device):
    """(1, 1, size, size) feature mask of a grid of patch x patch squares (row-major ids)."""
    import torch

    cells = torch.arange(size, device=device) // patch
    columns = -(-size // patch)
    return (cells[:, None] * columns + cells[None, :])[None, None]


def _perturbation_maps(
    forward, inputs, baselines, method: str, batch_size: int, window: int, stride: int, patch: int
):
    """(n, 5, 3, s, s) occlusion or feature-ablation attributions of all five outputs from the
    same perturbed passes.

    With no ``target``, captum's ``FeatureAblation`` attributes every element of the forward
    output (``n_outputs = initial_eval.numel()``: here n images x 5 traits, row ``i·5 + t``),
    each perturbation of a feature being applied to all n images at once; ``Occlusion`` inherits
    this. ``perturbations_per_eval`` packs several perturbations into one forward batch of about
    ``batch_size`` images.
    """
    from captum.attr import FeatureAblation, Occlusion

    n = len(inputs)
    per_eval = max(1, batch_size // n)
    if method == "Occlusion":
        attributions = Occlusion(forward).attribute(
            inputs,
            sliding_window_shapes=(inputs.shape[1], window, window),
            strides=(inputs.shape[1], stride, stride),
            baselines=baselines,
            perturbations_per_eval=per_eval,
        )
    else:
        attributions = FeatureAblation(forward).attribute(
            inputs,
            baselines=baselines,
            feature_mask=_patch_mask(inputs.shape[-1], patch, inputs.device),
            perturbations_per_eval=per_eval,
        )
    return attributions.reshape(n, len(TRAITS), *inputs.shape[1:])


def attribution_maps(
    trained,
    images: np.ndarray,
    method: str,
    *,
    baseline: np.ndarray | None = None,
    batch_size: int = 32,
    ig_steps: int = 16,
    window: int = 28,
    stride: int = 14,
    patch: int = 16,
    device=None,
    target_sign: int = 1,
) -> np.ndarray:
    """Maps of every trait by one attribution method, at the model's input size.

    Args:
        trained: A :class:`~personality_utils.models.training.TrainedModel` (DAN+ or a CAM
            model; ``"CAM"`` needs a CAM model).
        images: uint8 (n, h, w, 3) images (resized to the model's input by ``trained.prepare``).
        method: One of :data:`METHODS` (:data:`METHOD_NOTES` describes each).
        baseline: None or a uint8 (h, w, 3) image (the chapter's training mean image), prepared
            like the images: the start of Integrated Gradients' path and what Occlusion and
            Feature ablation put in place of the removed pixels. None: zeros of the normalised
            input (the model's own mean image).
        batch_size: Images per forward pass (Integrated Gradients' ``internal_batch_size``;
            for Occlusion and Feature ablation, images x perturbations per pass).
        ig_steps: Integrated Gradients' number of steps.
        window, stride: Occlusion's square window and its stride (pixels of the input).
        patch: Side of Feature ablation's squares (pixels of the input).
        device: Where the inputs go (default: the model's device; the model must be there).
        target_sign: +1 explains the pre-sigmoid output of each trait, -1 its negation.

    Returns:
        float32 (n, 5, s, s) signed maps, s = ``trained.config.input_size``. Captum's gradient
        maps (Integrated Gradients, Saliency) are summed over the colour channels; Occlusion and
        Feature ablation perturb the three channels together, so their channels are equal and
        one of them is kept (the value is the target's drop, not three times it).

    Raises:
        ValueError: For an unknown method, a target sign other than ±1, or badly shaped images.
        TypeError: For ``"CAM"`` on a model without a CAM head.
    """
    import torch

    _check_method(method)
    if target_sign not in (1, -1):
        raise ValueError(f"target_sign must be +1 or -1, got {target_sign!r}")
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 (n, h, w, 3) images, got {images.dtype} {images.shape}")
    if not len(images):
        raise ValueError("no images")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model = trained.model.eval()
    if needs_cam_head(method) and not hasattr(model, "cam_and_logits"):
        raise TypeError(
            f"method 'CAM' needs a model with a CAM head; {type(model).__name__} has none "
            f"(use one of {METHODS[1:]})"
        )
    size = trained.config.input_size
    device = torch.device(device) if device is not None else next(model.parameters()).device

    if method == "CAM":
        return _upsampled(class_activation_maps(trained, images, batch_size)[0] * target_sign, size)
    if method in _TORCHCAM:
        maps = gradient_maps(
            trained,
            images,
            _TORCHCAM[method],
            CAM_LAYER,
            batch_size,
            signed=True,
            target_sign=target_sign,
            device=device,
        )
        return _upsampled(maps, size)

    from captum.attr import IntegratedGradients, Saliency

    if baseline is None:
        reference = torch.zeros((1, 3, size, size), device=device)
    else:
        baseline = np.asarray(baseline)
        if baseline.ndim != 3 or baseline.shape[-1] != 3 or baseline.dtype != np.uint8:
            raise ValueError(
                f"baseline must be a uint8 (h, w, 3) image, got {baseline.dtype} {baseline.shape}"
            )
        reference = trained.prepare(baseline[None], device)
    forward = _signed_logits(model, target_sign)
    out = []
    for start in range(0, len(images), batch_size):
        inputs = trained.prepare(images[start : start + batch_size], device)
        inputs.requires_grad_(method in ("Integrated Gradients", "Saliency"))
        baselines = reference.expand_as(inputs).contiguous()
        if method == "Integrated Gradients":
            explainer = IntegratedGradients(forward)
            maps = torch.stack(
                [
                    explainer.attribute(
                        inputs,
                        baselines=baselines,
                        target=trait,
                        n_steps=ig_steps,
                        internal_batch_size=batch_size,
                    ).sum(dim=1)
                    for trait in range(len(TRAITS))
                ],
                dim=1,
            )
        elif method == "Saliency":
            explainer = Saliency(forward)
            maps = torch.stack(
                [
                    explainer.attribute(inputs, target=trait, abs=False).sum(dim=1)
                    for trait in range(len(TRAITS))
                ],
                dim=1,
            )
        else:
            with torch.no_grad():
                maps = _perturbation_maps(
                    forward, inputs, baselines, method, batch_size, window, stride, patch
                )[:, :, 0]
        out.append(maps.detach().float().cpu())
    return torch.cat(out).numpy()
