"""How much of each attribution pass chapter 05b runs: one setting of every profile
(:attr:`~personality_utils.core.profiles.Profile.attribution`), in a module of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AttributionSettings"]


@dataclass(frozen=True)
class AttributionSettings:
    """How much of each attribution pass chapter 05b runs (its cost on the CPU profiles).

    Attributes:
        images: Test clips sampled (one image each) for every method's maps.
        removal_images: The first of them with removal curves (2 orders x ``steps + 1``
            passes per method, trait and fill: the costly part).
        ig_steps: Integrated Gradients' path steps.
        window, stride: The occlusion window and stride (pixels of the model's input).
        patch: Side of the patches of feature ablation and of the removal curves.
        steps: Points of a removal curve beyond the first (a share ``k/steps`` of the patches).
        random_orders: Random patch orders of the removal null, per image.
        blur_sigma: The blur fill's Gaussian sigma, as a share of the input side.
        removal_models: The models whose removal curves are computed.
    """

    images: int = 24
    removal_images: int = 12
    ig_steps: int = 8
    window: int = 28
    stride: int = 14
    patch: int = 16
    steps: int = 4
    random_orders: int = 8
    blur_sigma: float = 0.05
    removal_models: tuple[str, ...] = ("CAM model", "DAN+")
