"""DAN+ and the CAM model of the paper, on torchvision's VGG-16 ``features``.

Chapters 03 and 04 train them; chapters 05-07 read their maps and units. Weights: random
initialisation (the offline default), torchvision's ImageNet weights if they are already in the
local cache (never downloaded here), or a VGG-Face state dict in the common PyTorch port's
layout (``conv1_1.weight`` ... ``conv5_3.bias``).
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from personality_utils.core.vocabulary import DataError

__all__ = [
    "CONV_NAMES",
    "VGG_FACE_MEAN",
    "WeightsError",
    "VGGBackbone",
    "DANPlus",
    "CAMModel",
    "build_model",
    "IDENTITY_BACKBONE_FORMAT",
    "is_identity_backbone",
    "read_identity_backbone",
    "load_identity_backbone",
    "load_vgg_face",
    "load_weights",
    "random_vgg_face",
    "resolve_device",
]

#: VGG-16's 13 convolutions, named as in the VGG-Face port and in the paper (conv5_3 ...).
CONV_NAMES: tuple[str, ...] = (
    "conv1_1",
    "conv1_2",
    "conv2_1",
    "conv2_2",
    "conv3_1",
    "conv3_2",
    "conv3_3",
    "conv4_1",
    "conv4_2",
    "conv4_3",
    "conv5_1",
    "conv5_2",
    "conv5_3",
)
_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
#: VGG-Face expects RGB on a 0-255 scale minus this mean, with no division by a std.
VGG_FACE_MEAN = (129.186, 104.762, 93.594)
#: The fully connected layers of the VGG-Face port (out, in), which DAN+ drops.
VGG_FACE_FC = {"fc6": (4096, 512 * 7 * 7), "fc7": (4096, 4096), "fc8": (2622, 4096)}


class WeightsError(DataError):
    """A weight file or checkpoint is missing, unreadable, refused as unsafe, or does not fit
    the model; the message names the file, the problem and what to do (never to load it
    unsafely)."""


def load_weights(path: str | os.PathLike, map_location="cpu", what: str = "weight file"):
    """``torch.load`` with ``weights_only=True`` (tensors, containers and plain values only:
    a crafted file cannot run code), every failure turned into a :class:`WeightsError` in the
    project's own words. torch's message is not passed on: it suggests loading with
    ``weights_only=False``, which is exactly what an untrusted file must never get.

    Args:
        path: The file (a checkpoint, a state dict).
        map_location: As ``torch.load``'s.
        what: What the file is, for the message ("checkpoint", "VGG-Face weight file").

    Raises:
        WeightsError: If the file is missing, not readable as a PyTorch file, or asks for
            anything beyond tensors and plain values.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: {what} not found")
    try:
        with warnings.catch_warnings():  # e.g. torch's note on the pickle protocol
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        asked = f"the global {found.group(1)}" if found else "an object that is not a tensor"
        raise WeightsError(
            f"{path}: refused: this {what} asks to load {asked}, which weights never need and "
            "which could run code; use a file written by this package (train) or a state dict "
            "of plain tensors saved with torch.save"
        ) from None
    except Exception as error:  # truncated, not a torch file at all
        raise WeightsError(
            f"{path}: not a readable {what} ({type(error).__name__}: truncated or not a "
            "PyTorch file); write or copy it again"
        ) from None


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` means CUDA when present, else the CPU; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class VGGBackbone(nn.Module):
    """VGG-16 ``features`` (torchvision's builder) with named taps.

    Args:
        width_divisor: Divide every layer's channels by this (1 = VGG-16 itself); the topology
            (13 convolutions, 5 poolings) is unchanged.
        until: Last layer to build: ``"pool5"`` (DAN+) or ``"relu5_3"`` (the CAM model, pool5
            removed).
        batch_norm: Add batch normalisation after each convolution (torchvision's
            ``vgg16_bn`` layout). The paper's network has none; the CPU profiles use it because a
            narrow VGG-16 trained from random weights learns several times faster with it.
    """

    def __init__(self, width_divisor: int = 1, until: str = "pool5", batch_norm: bool = False):
        super().__init__()
        from torchvision.models.vgg import make_layers

        if width_divisor < 1 or 64 % width_divisor:
            raise ValueError(f"width_divisor must divide 64, got {width_divisor}")
        config = [c if c == "M" else c // width_divisor for c in _CONFIG]
        features = make_layers(config, batch_norm=batch_norm)
        self.names: list[str] = []
        block, index = 1, 1
        for layer in features:
            if isinstance(layer, nn.Conv2d):
                self.names.append(f"conv{block}_{index}")
            elif isinstance(layer, nn.BatchNorm2d):
                self.names.append(f"bn{block}_{index}")
            elif isinstance(layer, nn.ReLU):
                layer.inplace = False  # taps and hooks must see the values, not a rewritten buffer
                self.names.append(f"relu{block}_{index}")
                index += 1
            else:
                self.names.append(f"pool{block}")
                block, index = block + 1, 1
        if until not in self.names:
            raise ValueError(f"unknown layer {until!r}")
        keep = self.names.index(until) + 1
        self.names = self.names[:keep]
        self.features = nn.Sequential(*list(features)[:keep])
        self.width_divisor = width_divisor
        for module in self.features:
            if isinstance(module, nn.Conv2d):  # torchvision's VGG initialisation
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    @property
    def channels(self) -> int:
        """Channels of the conv5 layers."""
        return 512 // self.width_divisor

    def conv(self, name: str) -> nn.Conv2d:
        """The convolution called ``name`` (``conv5_3`` ...)."""
        return self.features[self.names.index(name)]

    def forward(
        self, images: torch.Tensor, taps: tuple[str, ...] = ("pool5",)
    ) -> dict[str, torch.Tensor]:
        """Run the layers and return the outputs named in ``taps``."""
        wanted = set(taps)
        missing = wanted - set(self.names)
        if missing:
            raise ValueError(f"layers {sorted(missing)} are not in this backbone")
        out = {}
        last = max(self.names.index(name) for name in wanted)
        x = images
        for index, layer in enumerate(self.features[: last + 1]):
            x = layer(x)
            if self.names[index] in wanted:
                out[self.names[index]] = x
        return out


def _l2(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, p=2, dim=1, eps=1e-8)


def _init_new_layer(layer: nn.Module, std: float | None) -> None:
    """The authors initialise the layers they add on VGG-Face as ``std·randn`` with zero bias
    (std 0.05); ``std=None`` keeps PyTorch's default initialisation."""
    if std is not None:
        nn.init.normal_(layer.weight, std=std)
        nn.init.zeros_(layer.bias)


class DANPlus(nn.Module):
    """DAN+ (Zhang et al. 2016), as in the paper's Fig. 3a.

    Global max and global average pooling of relu5_2 and of pool5, each L2-normalised,
    concatenated (4 x 512 for full width), then a linear layer to the five traits and a sigmoid.
    The linear layer is initialised as ``head_init_std·randn`` (the authors' 0.05).
    """

    def __init__(
        self, width_divisor: int = 1, batch_norm: bool = False, head_init_std: float | None = 0.05
    ):
        super().__init__()
        self.backbone = VGGBackbone(width_divisor, until="pool5", batch_norm=batch_norm)
        channels = self.backbone.channels
        self.head = nn.Linear(4 * channels, 5)
        _init_new_layer(self.head, head_init_std)

    def pooled(self, images: torch.Tensor) -> list[torch.Tensor]:
        """What the head reads, before its L2 normalisation: the global max and average of
        relu5_2, then of pool5, each (batch, channels)."""
        taps = self.backbone(images, ("relu5_2", "pool5"))
        pooled = []
        for name in ("relu5_2", "pool5"):
            maps = taps[name].flatten(2)
            pooled += [maps.amax(dim=2), maps.mean(dim=2)]
        return pooled

    def head_logits(self, pooled: list[torch.Tensor]) -> torch.Tensor:
        """Pre-sigmoid outputs from :meth:`pooled`'s values (each L2-normalised)."""
        return self.head(torch.cat([_l2(values) for values in pooled], dim=1))

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid outputs (batch, 5): the regression target for Grad-CAM."""
        return self.head_logits(self.pooled(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Trait scores in [0, 1], (batch, 5), in
        :data:`~personality_utils.core.vocabulary.TRAITS` order."""
        return torch.sigmoid(self.logits(images))


class CAMModel(nn.Module):
    """The paper's CAM model (Fig. 3b, as in the authors' code), or the textbook Fig. 4 form.

    ``head="authors"``: pool5 removed; on relu5_3 a 3x3 convolution to 5 maps, ReLU, global
    average pooling, L2 normalisation, dropout, a 5 -> 5 linear layer and a sigmoid. The CAM of
    trait t is the 5 maps weighted by the last layer's weights for t.

    ``head="fig4"``: global average pooling of the 512 relu5_3 maps and a linear layer to the
    five traits; the CAM of trait t weights those 512 maps.

    The new layers are initialised as ``head_init_std·randn`` with zero biases (the authors'
    0.05; None keeps PyTorch's default).
    """

    def __init__(
        self,
        width_divisor: int = 1,
        head: Literal["authors", "fig4"] = "authors",
        dropout: float = 0.5,
        batch_norm: bool = False,
        head_init_std: float | None = 0.05,
    ):
        super().__init__()
        if head not in ("authors", "fig4"):
            raise ValueError(f"head must be 'authors' or 'fig4', got {head!r}")
        self.backbone = VGGBackbone(width_divisor, until="relu5_3", batch_norm=batch_norm)
        self.head_type = head
        channels = self.backbone.channels
        if head == "authors":
            self.cam_conv = nn.Conv2d(channels, 5, kernel_size=3, padding=1)
            _init_new_layer(self.cam_conv, head_init_std)
            self.dropout = nn.Dropout(dropout)
            self.fc = nn.Linear(5, 5)
        else:
            self.fc = nn.Linear(channels, 5)
        _init_new_layer(self.fc, head_init_std)

    def maps(self, images: torch.Tensor) -> torch.Tensor:
        """The maps the CAM weights: (batch, 5 or 512, h, w)."""
        features = self.backbone(images, ("relu5_3",))["relu5_3"]
        if self.head_type == "authors":
            return F.relu(self.cam_conv(features))
        return features

    def head_logits(self, maps: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid outputs (batch, 5) from the output of :meth:`maps`."""
        pooled = maps.mean(dim=(2, 3))
        if self.head_type == "authors":
            pooled = self.dropout(_l2(pooled))
        return self.fc(pooled)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid outputs (batch, 5)."""
        return self.head_logits(self.maps(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Trait scores in [0, 1], (batch, 5)."""
        return torch.sigmoid(self.logits(images))

    def cam(self, images: torch.Tensor) -> torch.Tensor:
        """Class activation maps (batch, 5 traits, h, w) at the resolution of conv5_3 (14x14 at
        224 input): ``sum_k w[t, k] · map_k``. Upsample them for display."""
        return self.cam_and_logits(images)[0]

    def cam_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The CAMs (batch, 5, h, w) and the pre-sigmoid outputs (batch, 5) of one pass."""
        maps = self.maps(images)
        return torch.einsum("tk,bkhw->bthw", self.fc.weight, maps), self.head_logits(maps)


def build_model(
    kind: Literal["danplus", "cam", "cam_fig4"],
    width_divisor: int = 1,
    backbone_weights: str | os.PathLike | None = None,
    batch_norm: bool = False,
    head_init_std: float | None = 0.05,
) -> nn.Module:
    """Build DAN+ or the CAM model and load backbone weights.

    Args:
        kind: ``"danplus"``, ``"cam"`` (authors' head) or ``"cam_fig4"``.
        width_divisor: Channel divisor (1 = VGG-16).
        backbone_weights: None (random init), ``"imagenet"`` (torchvision's weights, only if
            already cached locally) or a path to a VGG-Face state dict.
        batch_norm: Batch normalisation after each convolution (CPU profiles only).
        head_init_std: Initialisation of the layers added on the backbone (the authors' 0.05·randn,
            bias 0; None: PyTorch's default).

    Raises:
        WeightsError: If the weights do not fit or are not available offline.
    """
    if kind == "danplus":
        model = DANPlus(width_divisor, batch_norm=batch_norm, head_init_std=head_init_std)
    elif kind in ("cam", "cam_fig4"):
        model = CAMModel(
            width_divisor,
            head="authors" if kind == "cam" else "fig4",
            batch_norm=batch_norm,
            head_init_std=head_init_std,
        )
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    if backbone_weights is None:
        return model
    if str(backbone_weights) != "imagenet" and is_identity_backbone(backbone_weights):
        load_identity_backbone(model.backbone, backbone_weights)
        return model
    if width_divisor != 1 or batch_norm:
        raise WeightsError(
            "pretrained weights need the paper's VGG-16: full width "
            "(width_divisor=1), no batch normalisation"
        )
    if str(backbone_weights) == "imagenet":
        _load_imagenet(model.backbone)
    else:
        load_vgg_face(model.backbone, backbone_weights)
    return model


def _load_imagenet(backbone: VGGBackbone) -> None:
    from torchvision.models import VGG16_Weights

    url = VGG16_Weights.IMAGENET1K_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if not cached.is_file():
        raise WeightsError(
            f"ImageNet VGG-16 weights are not cached at {cached}; this project never downloads "
            "weights: place the file there yourself, or use backbone_weights=None"
        )
    state = load_weights(cached, "cpu", "ImageNet VGG-16 weight file")
    features = {
        key[len("features.") :]: value
        for key, value in state.items()
        if key.startswith("features.")
    }
    own = backbone.features.state_dict()
    missing = [key for key in own if key not in features]
    if missing:
        raise WeightsError(f"{cached}: missing {missing}")
    backbone.features.load_state_dict({key: features[key] for key in own})


def random_vgg_face(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in the VGG-Face PyTorch port's layout (``vgg_face_dag``: ``conv1_1.weight``
    ... ``conv5_3.bias``, ``fc6`` ... ``fc8``, 32 tensors of its shapes) filled with seeded
    random numbers: what CI's dry run of the paper path loads in place of the real weights,
    which cannot be downloaded here. Convolutions are He-normal (fan in) with zero biases, so
    activations keep the 0-255 input's scale through the 13 layers, as a trained VGG's do.
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    backbone = VGGBackbone(width_divisor=1)
    for name in CONV_NAMES:
        conv = backbone.conv(name)
        fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
        shape = tuple(conv.weight.shape)
        state[f"{name}.weight"] = torch.randn(shape, generator=generator) * (2 / fan_in) ** 0.5
        state[f"{name}.bias"] = torch.zeros(shape[0])
    for name, (outputs, inputs) in VGG_FACE_FC.items():
        state[f"{name}.weight"] = torch.randn((outputs, inputs), generator=generator) * 0.005
        state[f"{name}.bias"] = torch.zeros(outputs)
    return state


def load_vgg_face(backbone: VGGBackbone, path: str | os.PathLike) -> None:
    """Load a VGG-Face state dict (keys ``conv1_1.weight`` ... ``conv5_3.bias``; fc6-fc8 are
    ignored) into the backbone's convolutions, safely (``weights_only=True``).

    Raises:
        WeightsError: If the file is missing, unreadable, or lacks keys (named) or shapes fit.
    """
    path = Path(path)
    state = load_weights(path, "cpu", "VGG-Face weight file")
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(state).__name__}")
    conv_names = [name for name in CONV_NAMES if name in backbone.names]
    missing = [
        f"{name}.{part}"
        for name in conv_names
        for part in ("weight", "bias")
        if f"{name}.{part}" not in state
    ]
    if missing:
        raise WeightsError(f"{path}: missing keys {missing}")
    for name in conv_names:
        conv = backbone.conv(name)
        for part in ("weight", "bias"):
            tensor = state[f"{name}.{part}"]
            target = getattr(conv, part)
            if tuple(tensor.shape) != tuple(target.shape):
                raise WeightsError(
                    f"{path}: {name}.{part} has shape {tuple(tensor.shape)}, "
                    f"expected {tuple(target.shape)}"
                )
            with torch.no_grad():
                target.copy_(tensor)


#: The ``format`` entry of a backbone written by :mod:`~personality_utils.models.pretraining`.
IDENTITY_BACKBONE_FORMAT = "personality_utils.identity_backbone/1"


def is_identity_backbone(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a backbone pretrained on synthetic identities by this package (its
    own layout, any width), rather than a VGG-Face state dict. A missing file is neither."""
    path = Path(path)
    if not path.is_file():
        return False
    state = load_weights(path, "cpu", "backbone weight file")
    return isinstance(state, dict) and state.get("format") == IDENTITY_BACKBONE_FORMAT


def read_identity_backbone(path: str | os.PathLike) -> dict:
    """The identity-pretrained backbone file, checked: ``features`` (the backbone's state
    dict), ``width_divisor``, ``batch_norm``, ``input_size``, ``mean`` (3 channel means,
    0-255) and ``std`` (the input normalisation it was trained with), and what it learned.

    Raises:
        WeightsError: If the file is not one, or lacks an entry.
    """
    path = Path(path)
    state = load_weights(path, "cpu", "identity-pretrained backbone")
    if not isinstance(state, dict) or state.get("format") != IDENTITY_BACKBONE_FORMAT:
        raise WeightsError(f"{path}: not an identity-pretrained backbone of this package")
    needed = ("features", "width_divisor", "batch_norm", "input_size", "mean", "std")
    missing = [key for key in needed if key not in state]
    if missing:
        raise WeightsError(f"{path}: missing {missing}; pretrain it again")
    return state


def load_identity_backbone(backbone: VGGBackbone, path: str | os.PathLike) -> None:
    """Load an identity-pretrained backbone into ``backbone`` (the layers it has: DAN+ keeps
    pool5, the CAM model stops at relu5_3, neither has weights after conv5_3's).

    Raises:
        WeightsError: If the widths, batch normalisation or a tensor's shape differ.
    """
    state = read_identity_backbone(path)
    if state["width_divisor"] != backbone.width_divisor:
        raise WeightsError(
            f"{path}: pretrained at 1/{state['width_divisor']} width, the model is "
            f"1/{backbone.width_divisor}"
        )
    own = backbone.features.state_dict()
    features = state["features"]
    missing = [key for key in own if key not in features]
    if missing:
        raise WeightsError(
            f"{path}: missing {missing[:3]} (batch normalisation: pretrained {state['batch_norm']})"
        )
    for key, tensor in own.items():
        if tuple(features[key].shape) != tuple(tensor.shape):
            raise WeightsError(
                f"{path}: {key} has shape {tuple(features[key].shape)}, expected "
                f"{tuple(tensor.shape)}"
            )
    backbone.features.load_state_dict({key: features[key] for key in own})
