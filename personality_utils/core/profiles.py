"""Run profiles and training recipes: one place that says how big every experiment is and how
its models are trained.

``smoke`` runs each notebook in seconds (the test suite), ``default`` is the book on a 2-core
CPU with the synthetic dataset, ``paper`` is the authors' study exactly as their MatConvNet code
ran it (REFERENCE.md), for the real dataset on a GPU, and ``paper-tiny`` is the same recipe and
models on a handful of synthetic clips for one epoch (CI's CPU dry run of the paper path).
Every notebook's ``parameters`` cell names a profile and reads its sizes from here;
:func:`compare_with_authors` sets a profile beside the ``paper`` one, setting by setting.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from personality_utils.core.attribution_settings import AttributionSettings

__all__ = [
    "INPUT_MEANS",
    "PRECISIONS",
    "TrainConfig",
    "IdentityPretraining",
    "Profile",
    "PROFILES",
    "get_profile",
    "compare_with_authors",
]

#: How a model's input is normalised (:attr:`TrainConfig.input_mean`).
INPUT_MEANS: dict[str, str] = {
    "mean_image": "minus the training images' mean image (0-255)",
    "mean_image_unit_scale": (
        "minus the training images' mean image on a 0-1 scale, from 0-255 pixels "
        "(the authors' face model: almost raw pixels)"
    ),
    "standardised": "minus the training images' mean image, divided by the pixel std",
    "backbone": (
        "what the backbone's weights expect: VGG-Face's channel mean, ImageNet's mean and std, "
        "or standardised for random weights"
    ),
}

#: The arithmetic a model trains in (:attr:`TrainConfig.precision`).
PRECISIONS: dict[str, str] = {
    "auto": (
        "bfloat16 on CUDA and on CPUs with native bfloat16 units (AMX or AVX512-BF16), float32 "
        "elsewhere"
    ),
    "float32": "float32 throughout (MatConvNet's single precision, the authors')",
    "bfloat16": "bfloat16 autocast (matrix products and convolutions), float32 weights",
}


def _log_rates(start: float, end: float, length: int) -> np.ndarray:
    """``length`` learning rates log-spaced from ``start`` to ``end`` (``[start]`` for one)."""
    if length == 1:
        return np.array([start])
    return np.logspace(math.log10(start), math.log10(end), length)


@dataclass
class TrainConfig:
    """How one model is trained. The defaults are the authors' recipe (REFERENCE.md: their
    ``train_regression_DANplus_*.m`` on MatConvNet's ``cnn_train_dag``).

    Attributes:
        kind: ``"danplus"``, ``"cam"`` or ``"cam_fig4"`` (see :func:`models.build_model`).
        width_divisor: Channel divisor of VGG-16 (1 = the paper's network).
        input_size: Side of the images the model sees (stores are resized on the device).
        epochs: Passes over the training frames (10).
        batch_size: Frames per step (32).
        lr_start, lr_end, lr_schedule_length: The learning rates are
            ``logspace(log10(lr_start), log10(lr_end), lr_schedule_length)`` and epoch e (from 0)
            uses value ``min(e, lr_schedule_length - 1)``, as MatConvNet's
            ``learningRate(min(epoch, numel(learningRate)))``. The authors set
            ``logspace(-3, -6, 30)`` and trained 10 epochs, so they ran the first 10 of 30
            values, 1e-3 down to about 1.17e-4. None spreads the values over the epochs.
        optimizer: ``"sgd"`` (momentum, the authors') or ``"adam"`` (the CPU profiles: a narrow
            VGG-16 learns far faster with it in a few epochs).
        momentum: SGD momentum (0.9).
        weight_decay: L2 penalty on every parameter (MatConvNet's default 5e-4, which the
            authors' scripts do not override).
        flip_probability: Probability of flipping a whole batch horizontally (0.5).
        seed: Seed of the initialisation, batch order, flips and dropout.
        backbone_weights: None (random weights), ``"imagenet"``, a VGG-Face state dict path,
            or a backbone pretrained on identities by :mod:`~personality_utils.models.pretraining`.
        batch_norm: Batch normalisation after each convolution (CPU profiles; not the paper).
        input_mean: How the input is normalised, a key of :data:`INPUT_MEANS` (the authors: the
            training set's mean image, 0-255; their face model's quirk is
            ``"mean_image_unit_scale"``).
        head_init_std: Standard deviation of the normal initialisation of the layers added on
            the backbone (DAN+'s linear layer; the CAM heads' convolution and linear layer),
            biases 0: the authors' ``0.05·randn``. None: PyTorch's default initialisation.
        backbone_lr_scale: The backbone's learning rate as a share of the schedule's (the
            layers added on it take the schedule itself): below 1 fine-tunes a pretrained
            backbone gently. The authors used one rate for every layer (1).
        precision: Arithmetic of the training steps, a key of :data:`PRECISIONS`:
            ``"float32"`` (the authors': MatConvNet in single precision), ``"bfloat16"``
            (autocast; the weights stay float32) or ``"auto"`` (bfloat16 where the hardware
            computes it natively, float32 elsewhere: the CPU profiles).
        device: ``"auto"`` = CUDA when present.
    """

    kind: str = "danplus"
    width_divisor: int = 1
    input_size: int = 224
    epochs: int = 10
    batch_size: int = 32
    lr_start: float = 1e-3
    lr_end: float = 1e-6
    lr_schedule_length: int | None = 30
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    flip_probability: float = 0.5
    seed: int = 0
    backbone_weights: str | None = None
    batch_norm: bool = False
    input_mean: str = "mean_image"
    head_init_std: float | None = 0.05
    backbone_lr_scale: float = 1.0
    precision: str = "float32"
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}"
            )
        if self.input_mean not in INPUT_MEANS:
            raise ValueError(
                f"input_mean must be one of {sorted(INPUT_MEANS)}, got {self.input_mean!r}"
            )
        if self.lr_schedule_length is not None and self.lr_schedule_length < 1:
            raise ValueError(f"lr_schedule_length must be positive, got {self.lr_schedule_length}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def learning_rates(self) -> np.ndarray:
        """One learning rate per epoch (see ``lr_start, lr_end, lr_schedule_length``)."""
        length = self.epochs if self.lr_schedule_length is None else self.lr_schedule_length
        values = _log_rates(self.lr_start, self.lr_end, length)
        return values[np.minimum(np.arange(self.epochs), length - 1)]


@dataclass(frozen=True)
class IdentityPretraining:
    """The CPU profiles' analog of VGG-Face (:mod:`~personality_utils.models.pretraining`): the
    profile's narrow VGG-16 first learns to tell synthetic people apart from eye-aligned face
    crops, then chapters 03-04 fine-tune it on traits, as the authors fine-tuned VGG-Face.

    Attributes:
        identities: People to tell apart (none of them is in the dataset).
        images_per_identity: Face crops of each person, each with its own expression (AU
            intensities), roll, position, lighting and room.
        held_out_per_identity: Of those, kept out of training to measure identification.
        epochs: Passes over the training crops.
        batch_size: Crops per step.
        lr_start, lr_end: Adam's learning rate, log-spaced over the epochs.
        seed: Seed of the people, their crops and the training.
    """

    identities: int = 500
    images_per_identity: int = 12
    held_out_per_identity: int = 2
    epochs: int = 6
    batch_size: int = 64
    lr_start: float = 2e-3
    lr_end: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.identities < 2 or self.epochs < 1:
            raise ValueError("identity pretraining needs at least 2 identities and 1 epoch")
        if not 0 < self.held_out_per_identity < self.images_per_identity:
            raise ValueError(
                "held_out_per_identity must leave at least one training crop per identity"
            )

    def learning_rates(self) -> np.ndarray:
        """One learning rate per epoch."""
        return _log_rates(self.lr_start, self.lr_end, self.epochs)


@dataclass(frozen=True)
class Profile:
    """Sizes and recipe of one run.

    Attributes:
        name: Profile name.
        synthetic_clips: Number of synthetic clips per split (train, validation, test); ignored
            when the notebooks read a real dataset.
        synthetic_frame_size: (width, height) of the synthetic videos.
        synthetic_seconds: Duration range of a synthetic clip in seconds.
        synthetic_fps: Frame rates a synthetic clip is drawn from (the real set mixes these).
        synthetic_identity: What the synthetic generator draws per person: ``"person"`` (the
            default, as First Impressions is built: glasses, room and shirt belong to the person
            and recur in all their clips, across the splits, so glasses-driven signal is also
            readable through who the person is) or ``"clip"`` (glasses, room and shirt drawn
            afresh for every clip: the identity route closed, to see what it changes).
        frames_per_clip: Frames sampled per clip with the authors' rule (10 in the paper).
        store_size: Side of the square frames kept in the frame store (224 in the paper).
        face_size: Side of the aligned face crops (224 in the paper).
        workers: Processes for per-clip work (0 = every core).
        recipe: How chapters 03-04 train their models (:class:`TrainConfig`; the kind, seed,
            device and backbone weights are filled in per model by
            :func:`~personality_utils.models.training.config_for`).
        face_input_mean: The face models' ``input_mean`` when it differs from the recipe's (the
            authors' face model subtracted a mean image stored on a 0-1 scale from 0-255
            pixels); None: the recipe's.
        cam_kind: Which CAM model chapters 03-05 train: ``"cam"`` (the authors' head: a 3x3
            convolution to 5 maps, L2 normalisation and dropout) or ``"cam_fig4"`` (the
            textbook head of the paper's Fig. 4: global average pooling of the conv5_3 maps and
            one linear layer).
        cam_upsampling: How a CAM is brought to the image's size before it is binarised:
            ``"bicubic"`` (MATLAB's ``imresize`` default, the authors') or ``"bilinear"``.
        cam_ranking: Which images chapter 05 maps per trait: ``"videos"`` (the authors': the
            test videos ranked by their predicted score, the mean over their frames, and the
            first sampled frame of each of the top 50) or ``"frames"`` (the 50 test frames with
            the highest prediction, among frames with a detected face).
        unit_population: Which test face crops chapters 06-07 rank: ``"first_face_per_clip"``
            (the authors': the first face image of each test video, so F = the number of test
            clips with a face) or ``"all_faces"`` (every sampled frame with a face).
        seeds: Training seeds of DAN+ on frames and on faces (the chapter's seed and the next
            ones): Table 1 shows their mean and spread, and the faces-against-frames verdict
            resamples them as well as the clips. The other chapters read the first seed's
            models. The paper reports one training run per model, so the ``paper`` profile
            keeps 1 (raise it to put an interval over training runs on real data).
        pretraining: How the CPU profiles' backbone is pretrained on identities before
            chapters 03-04 fine-tune it (:class:`IdentityPretraining`); None: the models start
            from ``backbone_weights`` when given (VGG-Face, the paper) or from random weights.
        perturbation_images: Top test frames per trait in chapter 05's deletion and insertion
            curves (each costs 74 forward passes of the CAM model: 2 modes x 4 pixel orders x
            9 inner steps, and the two ends).
        attribution_controls: Whether ``make models`` trains the attribution chapter's two
            control trainings of the CAM model on frames (:mod:`~personality_utils.models.
            variants`: labels without the poster's signal, and random starting weights).
        attribution: How many images and passes chapter 05b's attribution methods get.
    """

    name: str
    synthetic_clips: dict[str, int] = field(default_factory=dict)
    synthetic_frame_size: tuple[int, int] = (640, 360)
    synthetic_seconds: tuple[float, float] = (0.45, 0.55)
    synthetic_fps: tuple[float, ...] = (24.0, 25.0, 30.0)
    synthetic_identity: Literal["person", "clip"] = "person"
    frames_per_clip: int = 10
    store_size: int = 224
    face_size: int = 224
    workers: int = 0
    recipe: TrainConfig = field(default_factory=TrainConfig)
    face_input_mean: str | None = None
    cam_kind: str = "cam"
    cam_upsampling: Literal["bicubic", "bilinear"] = "bicubic"
    cam_ranking: Literal["videos", "frames"] = "videos"
    unit_population: Literal["first_face_per_clip", "all_faces"] = "first_face_per_clip"
    seeds: int = 1
    pretraining: IdentityPretraining | None = None
    perturbation_images: int = 20
    attribution_controls: bool = True
    attribution: AttributionSettings = field(default_factory=AttributionSettings)

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")
        if self.face_input_mean is not None and self.face_input_mean not in INPUT_MEANS:
            raise ValueError(f"face_input_mean must be one of {sorted(INPUT_MEANS)} or None")
        choices = {
            "cam_kind": ("cam", "cam_fig4"),
            "cam_upsampling": ("bicubic", "bilinear"),
            "cam_ranking": ("videos", "frames"),
            "unit_population": ("first_face_per_clip", "all_faces"),
            "synthetic_identity": ("person", "clip"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @property
    def model_input_size(self) -> int:
        """Side of the images the models see; their conv5 maps are 1/16 of it."""
        return self.recipe.input_size

    @property
    def feature_grid(self) -> int:
        """Side of the conv5 maps (14 at 224 input): the grid of the CAM and unit chapters."""
        return self.model_input_size // 16

    def input_mean(self, source: str) -> str:
        """The input normalisation of the models trained on ``source`` (frames or faces)."""
        if source == "faces" and self.face_input_mean is not None:
            return self.face_input_mean
        return self.recipe.input_mean

    def replace(self, **changes) -> Profile:
        """Return a copy with some fields changed (for one-off experiments); recipe fields can
        be given by name too (``epochs=1``)."""
        recipe_fields = {f.name for f in dataclasses.fields(TrainConfig)}
        recipe_changes = {k: changes.pop(k) for k in list(changes) if k in recipe_fields}
        if recipe_changes:
            changes["recipe"] = dataclasses.replace(
                changes.get("recipe", self.recipe), **recipe_changes
            )
        return dataclasses.replace(self, **changes)


# The authors' study (REFERENCE.md): the recipe is TrainConfig's defaults, the face model gets
# their input quirk, the CAM model is their head with bicubic maps.
_PAPER = Profile(
    name="paper",
    # Meant for the real dataset; pointed at the synthetic generator it makes a set the size of
    # First Impressions, with 15 s clips.
    synthetic_clips={"train": 6000, "validation": 2000, "test": 2000},
    synthetic_seconds=(15.0, 15.4),
    synthetic_frame_size=(1280, 720),
    recipe=TrainConfig(),
    face_input_mean="mean_image_unit_scale",
    cam_kind="cam",
    # Chapter 05b on a GPU: 100 test clips, 50 of them with removal curves over 7x7 patches.
    attribution=AttributionSettings(
        images=100,
        removal_images=50,
        ig_steps=32,
        window=32,
        stride=16,
        patch=32,
        steps=7,
        random_orders=20,
    ),
)

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        synthetic_clips={"train": 16, "validation": 6, "test": 6},
        synthetic_seconds=(0.45, 0.55),
        frames_per_clip=5,
        recipe=TrainConfig(
            width_divisor=16,
            input_size=64,
            epochs=1,
            batch_size=16,
            lr_end=1e-4,
            lr_schedule_length=None,
            optimizer="adam",
            weight_decay=0.0,
            batch_norm=True,
            input_mean="backbone",
            precision="auto",
        ),
        cam_kind="cam_fig4",
        seeds=2,
        pretraining=IdentityPretraining(
            identities=12, images_per_identity=4, held_out_per_identity=1, epochs=1, batch_size=16
        ),
        attribution=AttributionSettings(
            images=4,
            removal_images=3,
            ig_steps=2,
            window=16,
            stride=16,
            patch=16,
            steps=2,
            random_orders=3,
        ),
    ),
    # The book on 2 CPU cores. Measured trade-offs (chapter 03 states them, and
    # benchmarks/cpu_recipe.py prints them): clip-level labels make the number of clips, not of
    # frames, the limit on what a model learns, so the CPU book takes 1,000 short clips and 5
    # frames from each rather than 600 clips and 10; a 1/8-width VGG-16 with batch
    # normalisation at 112 px, trained with Adam from standardised input, learns the planted
    # facial cues in 4-5 epochs where the plain one with the authors' SGD (and a 1/16-width one)
    # barely moves. The authors' CAM head (L2 normalisation and dropout on five pooled values)
    # barely leaves the constant predictor in this budget, the textbook Fig. 4 head learns as
    # much as DAN+, so the CPU book maps that one. The backbone is first pretrained on 400
    # synthetic identities (the CPU VGG-Face) and fine-tuned at the full rate: on validation,
    # faces, a backbone at 0.3 of the rate gave MA +0.005 over the constant where the full rate
    # gave +0.014 (benchmarks/pretraining_recipe.py, at the earlier 0.3 label noise). Its rates
    # fall from 1e-3 to 1e-4: falling to 1e-5 over 5 epochs, the last epochs learned little
    # (validation, faces: the same script, --variants 5 6, per --training-seed). 4 epochs, not
    # 5, for the 15-minute budget: the book's 5-epoch run (commit a0bccae) gained about 0.003
    # (faces) and 0.005 (full frames) more test MA over three seeds than chapters 03-04 now
    # print. Training steps run in bfloat16 where the CPU computes it natively (the figures
    # against float32: benchmarks/results/train_throughput-*.json).
    "default": Profile(
        name="default",
        synthetic_clips={"train": 700, "validation": 150, "test": 150},
        synthetic_seconds=(0.45, 0.55),
        frames_per_clip=5,
        recipe=TrainConfig(
            width_divisor=8,
            input_size=112,
            epochs=4,
            lr_end=1e-4,
            lr_schedule_length=None,
            optimizer="adam",
            weight_decay=0.0,
            batch_norm=True,
            input_mean="backbone",
            precision="auto",
        ),
        cam_kind="cam_fig4",
        seeds=3,
        # 12 epochs, not 6: chapter 06 reads this network as the fair null of "emerged with
        # fine-tuning", and a null must know faces; held-out identification was still climbing
        # steeply at 6 (benchmarks/fair_null_curve.py prints the curve per epoch).
        pretraining=IdentityPretraining(identities=400, images_per_identity=10, epochs=12),
    ),
    "paper": _PAPER,
    # The paper path at toy size, for CI's CPU dry run (make dry-run): every model and recipe
    # setting of `paper` (full-width VGG-16 at 224 px, the authors' CAM head, SGD with their
    # schedule, weight decay, mean image and head initialisation, bicubic maps, 10 frames per
    # clip by their rule), on a handful of short synthetic clips, for one epoch.
    "paper-tiny": dataclasses.replace(
        _PAPER,
        name="paper-tiny",
        synthetic_clips={"train": 4, "validation": 3, "test": 3},
        synthetic_seconds=(2.0, 2.4),
        synthetic_frame_size=(640, 360),
        recipe=dataclasses.replace(_PAPER.recipe, epochs=1),
        # The deletion and insertion curves on the top frame of each trait: at 0.43 s per
        # forward pass of the full-width VGG-16 on one AVX2 core, the 3 test clips' top frames
        # (14 rows x 74 passes) took 460 of the 717 s of chapter 05 in the dry run; one per
        # trait still runs every order, mode and step of the paper path.
        perturbation_images=1,
        # Every method and score of chapter 05b on one test image, with removal curves of the
        # CAM model over 4x4 patches: the paper path at the dry run's size (a forward pass of
        # the full-width VGG-16 takes about 0.4 s on one AVX2 core).
        attribution=AttributionSettings(
            images=1,
            removal_images=1,
            ig_steps=2,
            window=56,
            stride=56,
            patch=56,
            steps=2,
            random_orders=2,
            removal_models=("CAM model",),
        ),
        # The CPU dry run's budget: two more full-width VGG-16 trainings would not fit it, and
        # the controls are the same code path the smoke tests run.
        attribution_controls=False,
    ),
}


def get_profile(name: str | Profile) -> Profile:
    """Return the profile called ``name`` (a Profile passes through unchanged).

    Raises:
        ValueError: If no profile has that name.
    """
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None


def _rates(recipe: TrainConfig) -> str:
    rates = recipe.learning_rates()
    schedule = (
        f"logspace({math.log10(recipe.lr_start):g}, {math.log10(recipe.lr_end):g}, "
        f"{recipe.lr_schedule_length or recipe.epochs})"
    )
    return f"{schedule}, first {len(rates)}: {rates[0]:.2e} … {rates[-1]:.2e}"


#: What the authors did that no profile setting changes, beside what every profile here does.
_FIXED = {
    "faces": (
        "02 04 05 06 07",
        "OpenFace (its 1.x face detector is dlib's HOG), aligned by the eyes to 224x224",
        "dlib's HOG detector and 68 landmarks, aligned by the eyes",
    ),
}


def _settings(profile: Profile) -> dict[str, tuple[str, str]]:
    """Each setting the authors fixed: (chapters it concerns, this profile's value)."""
    recipe = profile.recipe
    width = "full width" if recipe.width_divisor == 1 else f"1/{recipe.width_divisor} width"
    norm = ", batch normalisation" if recipe.batch_norm else ", no batch normalisation"
    optimizer = (
        f"SGD, momentum {recipe.momentum:g}" if recipe.optimizer == "sgd" else recipe.optimizer
    )
    init = (
        "PyTorch's default" if recipe.head_init_std is None else f"{recipe.head_init_std:g}·randn"
    )
    cam = {
        "cam": "the authors': 3x3 conv to 5 maps, GAP, L2 norm, dropout, 5→5 linear",
        "cam_fig4": "Fig. 4: GAP of the conv5_3 maps, one linear layer",
    }[profile.cam_kind]
    if profile.pretraining is None:
        start = "VGG-Face (2,622 people), the backbone_weights file; random weights without one"
    else:
        pre = profile.pretraining
        start = (
            f"identity pretraining: {pre.identities} synthetic people x "
            f"{pre.images_per_identity} face crops, {pre.epochs} epochs; backbone fine-tuned at "
            f"{recipe.backbone_lr_scale:g} of the rate"
        )
    return {
        "network": ("03 04", f"VGG-16, {width}{norm}"),
        "starting weights": ("03 04 06 07", start),
        "input size": (
            "03 04 05 06",
            f"{recipe.input_size} px (conv5_3: {profile.feature_grid}x{profile.feature_grid})",
        ),
        "frames per clip": ("01 03", f"{profile.frames_per_clip}, by the rule 1:round((N-1)/n):N"),
        "frames to a square": (
            "01 03",
            f"bicubic to {profile.store_size}x{profile.store_size}, aspect ratio not kept",
        ),
        "optimiser": ("03 04", optimizer),
        "batch, epochs": ("03 04", f"{recipe.batch_size}, {recipe.epochs}"),
        "training seeds of DAN+": ("03 04", str(profile.seeds)),
        "learning rates": ("03 04", _rates(recipe)),
        "weight decay": ("03 04", f"{recipe.weight_decay:g}"),
        "arithmetic": ("03 04", PRECISIONS[recipe.precision]),
        "whole-batch flip": ("03 04", f"p = {recipe.flip_probability:g}"),
        "input, full frames": ("03", INPUT_MEANS[profile.input_mean("frames")]),
        "input, faces": ("04", INPUT_MEANS[profile.input_mean("faces")]),
        "new layers' init": ("03 04", f"{init}, bias 0"),
        "CAM head": ("03 04 05", cam),
        "CAM upsampling": (
            "05",
            f"{profile.cam_upsampling}, {profile.feature_grid}x{profile.feature_grid} to the "
            f"{profile.store_size}-px image",
        ),
        "CAM images": (
            "05",
            {
                "videos": "top 50 test videos by clip-mean prediction, first sampled frame of each",
                "frames": "top 50 test frames with a detected face",
            }[profile.cam_ranking],
        ),
        "unit and AU population": (
            "06 07",
            {
                "first_face_per_clip": (
                    "first face image of each test clip (F = test clips with a face)"
                ),
                "all_faces": "every test frame with a face",
            }[profile.unit_population],
        ),
    }


def compare_with_authors(profile: str | Profile, chapter: str | None = None):
    """Each setting the authors fixed, their value (the ``paper`` profile) beside this
    profile's, and whether they are the same (a pandas DataFrame).

    Args:
        profile: The profile in use.
        chapter: Keep only the settings that concern this chapter (``"05"`` ...).
    """

    ours, authors = _settings(get_profile(profile)), _settings(PROFILES["paper"])
    settings = {
        name: (chapters, authors[name][1], value) for name, (chapters, value) in ours.items()
    }
    settings.update(_FIXED)
    rows = {
        name: {"the authors": theirs, "this profile": value, "same": value == theirs}
        for name, (chapters, theirs, value) in settings.items()
        if chapter is None or chapter in chapters.split()
    }
    table = pd.DataFrame(rows).T
    table.columns.name = get_profile(profile).name
    return table
