"""Identity pretraining: the CPU profiles' analog of VGG-Face.

The authors did not train from scratch: they fine-tuned VGG-Face, a VGG-16 first trained to
tell 2,622 people apart, whose fully connected layers (fc6-fc8) DAN+ drops. The CPU profiles
do the same at their scale. Their narrow VGG-16 first learns to recognise synthetic people, none
of whom is in the dataset, from eye-aligned face crops rendered straight to images (no video);
each crop gives the person its own expression (AU intensities), roll, position, lighting and
room. Its classifier (global average pooling and one linear layer) is then dropped, and
chapters 03-04 fine-tune the convolutions on the traits.

The result is cached under the cache folder, keyed by everything that decides it, and written
atomically; an interrupted run resumes from its last epoch, and the rendered crops are kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from personality_utils.core.files import file_lock, write_atomic
from personality_utils.core.pools import process_pool
from personality_utils.core.profiles import IdentityPretraining, Profile, get_profile
from personality_utils.core.vocabulary import DataError
from personality_utils.data.synthetic.generator import GENERATOR_VERSION, default_cache_dir
from personality_utils.data.synthetic.recipes import draw_identity, make_clip_recipe
from personality_utils.data.synthetic.render import clip_landmarks, render_frame, scene
from personality_utils.faces.alignment import alignment_matrix, warp_face
from personality_utils.models.engine import Batch, Epochs, run_epochs
from personality_utils.models.networks import (
    IDENTITY_BACKBONE_FORMAT,
    VGGBackbone,
    load_weights,
    read_identity_backbone,
)
from personality_utils.models.training import _resized_store, autocast, resolved_precision

__all__ = [
    "PRETRAINING_VERSION",
    "IdentityNet",
    "identity_crops",
    "pretraining_dir",
    "backbone_path",
    "pretrain",
    "ensure_backbone",
    "summary",
    "examples",
    "weight_change",
    "weight_changes",
]

#: Raise to invalidate every cached pretraining (a change in how crops are drawn or trained).
PRETRAINING_VERSION = 1


class IdentityNet(nn.Module):
    """The profile's VGG-16 (to pool5) and a classifier over identities (global average
    pooling and one linear layer), which fine-tuning drops as DAN+ drops VGG-Face's fc6-fc8."""

    def __init__(self, identities: int, width_divisor: int, batch_norm: bool):
        super().__init__()
        self.backbone = VGGBackbone(width_divisor, "pool5", batch_norm)
        self.classifier = nn.Linear(self.backbone.channels, identities)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.backbone(images)["pool5"].mean(dim=(2, 3))
        return self.classifier(pooled)


# ----------------------------------------------------------------------------------------------
# The crops
# ----------------------------------------------------------------------------------------------


#: Rooms behind the crops: each crop takes one of these at random, with its shirt, its poster
#: and where the person sits in it, so that only the face tells people apart (and a worker
#: draws each room once: the room is most of a crop's rendering time).
_ROOMS = 64
_ROOM_KEYS = ("wall", "scene_seed", "context_cue", "poster_side", "shirt", "centre", "inter_ocular")


_DRAWN_ROOMS: dict[tuple, tuple[np.ndarray, dict]] = {}


def _room(profile: Profile, seed: int, index: int) -> tuple[np.ndarray, dict]:
    key = (profile.synthetic_frame_size, seed, index)
    if key in _DRAWN_ROOMS:
        return _DRAWN_ROOMS[key]
    rng = np.random.default_rng([seed, 0x800, index])
    drawn = draw_identity(rng)
    recipe = make_clip_recipe(rng, f"room{index:03d}", "pretraining", drawn, profile)
    background, _ = scene(recipe)
    _DRAWN_ROOMS[key] = background, {name: getattr(recipe, name) for name in _ROOM_KEYS}
    return _DRAWN_ROOMS[key]


def _identity_task(task: tuple[Profile, int, int, int]) -> np.ndarray:
    """Render every crop of one identity at the face size (in a worker process, which never
    touches torch: a forked child that does can deadlock on the parent's thread pool)."""

    profile, seed, person, n_images = task
    # A stream of its own (the dataset draws from default_rng(seed)): none of these people is
    # one of the dataset's.
    rng = np.random.default_rng([seed, 0x1D, person])
    identity = draw_identity(rng)
    crops = []
    for index in range(n_images):
        recipe = make_clip_recipe(
            rng, f"id{person:05d}.{index:03d}", "pretraining", identity, profile
        )
        background, room = _room(profile, seed, int(rng.integers(_ROOMS)))
        recipe = dataclasses.replace(recipe, **room)
        landmarks, intensities = clip_landmarks(recipe)
        t = int(rng.integers(recipe.n_frames))
        frame = render_frame(
            recipe, background, landmarks[t], intensities[t], np.random.default_rng(recipe.seed)
        )
        matrix = alignment_matrix(landmarks[t], profile.face_size)
        crops.append(warp_face(frame, matrix, profile.face_size))
    return np.stack(crops)


def identity_crops(
    profile: str | Profile, workers: int | None = None, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The pretraining crops of a profile: uint8 (identities x images, size, size, 3) at the
    models' input size, eye-aligned as chapter 02 aligns faces (from the rendered landmarks:
    no detector is needed for people drawn on purpose), and the identity of each crop."""
    from tqdm.auto import tqdm

    profile = get_profile(profile)
    settings = _settings_of(profile)
    tasks = [
        (profile, settings.seed, person, settings.images_per_identity)
        for person in range(settings.identities)
    ]
    workers = workers or profile.workers or os.cpu_count() or 1
    bar = tqdm(total=len(tasks), desc="identity crops", disable=not progress, leave=False)

    crops = []
    size = profile.recipe.input_size  # resized as training resizes a store
    if workers > 1:
        with process_pool(workers) as pool:
            for result in pool.map(_identity_task, tasks, chunksize=4):
                crops.append(_resized_store(result, size))
                bar.update()
    else:
        for task in tasks:
            crops.append(_resized_store(_identity_task(task), size))
            bar.update()
    bar.close()
    labels = np.repeat(np.arange(settings.identities), settings.images_per_identity)
    return np.concatenate(crops), labels


# ----------------------------------------------------------------------------------------------
# Where it lives
# ----------------------------------------------------------------------------------------------


def _settings_of(profile: Profile) -> IdentityPretraining:
    if profile.pretraining is None:
        raise ValueError(f"profile {profile.name!r} has no identity pretraining")
    return profile.pretraining


def _key(profile: Profile) -> dict:
    recipe = profile.recipe
    return {
        "version": PRETRAINING_VERSION,
        "generator_version": GENERATOR_VERSION,
        "settings": {**vars(_settings_of(profile))},
        "width_divisor": recipe.width_divisor,
        "batch_norm": recipe.batch_norm,
        "input_size": recipe.input_size,
        "precision": recipe.precision,
        "face_size": profile.face_size,
        "frame_size": list(profile.synthetic_frame_size),
    }


def pretraining_dir(profile: str | Profile, cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder of a profile's pretraining, named by a hash of everything that decides it."""

    profile = get_profile(profile)
    digest = hashlib.sha256(json.dumps(_key(profile), sort_keys=True).encode()).hexdigest()[:12]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "pretraining" / f"{profile.name}-{digest}"


def backbone_path(profile: str | Profile, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the profile's pretrained backbone is (or will be) written."""
    return pretraining_dir(profile, cache_dir) / "backbone.pt"


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


def _split(settings: IdentityPretraining) -> np.ndarray:
    """Which crops are held out: the last ``held_out_per_identity`` of each person."""
    index = np.arange(settings.identities * settings.images_per_identity)
    return index % settings.images_per_identity >= (
        settings.images_per_identity - settings.held_out_per_identity
    )


def _normalise(images: np.ndarray, mean: torch.Tensor, std: float) -> torch.Tensor:
    """Channels-last float batches, as
    :func:`~personality_utils.models.training.train_model` feeds."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return ((tensor - mean.view(1, 3, 1, 1)) / std).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def _accuracy(model: IdentityNet, images, labels, mean, std, batch: int = 256) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), batch):
        logits = model(_normalise(images[start : start + batch], mean, std))
        correct += int((logits.argmax(1).numpy() == labels[start : start + batch]).sum())
    return correct / max(1, len(images))


def _crops(folder: Path, profile: Profile, workers, progress) -> tuple[np.ndarray, np.ndarray]:
    """The rendered crops, kept in the folder so that a resumed run does not render again."""
    path = folder / "crops.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            return stored["images"], stored["labels"]
    images, labels = identity_crops(profile, workers, progress)

    def write(temporary: str) -> None:
        with open(temporary, "wb") as stream:
            np.savez(stream, images=images, labels=labels)

    write_atomic(path, write)
    return images, labels


def pretrain(
    profile: str | Profile,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
    stop_after_epoch: int | None = None,
) -> Path:
    """Pretrain the profile's backbone on identities (or return the cached one) and return the
    path of ``backbone.pt``. Resumes from the last finished epoch; processes started side by
    side take turns (a file lock), and the second finds the first's result.
    """

    profile = get_profile(profile)
    settings = _settings_of(profile)
    folder = pretraining_dir(profile, cache_dir)
    final = folder / "backbone.pt"
    with file_lock(folder / ".lock"):
        if final.is_file():
            read_identity_backbone(final)  # refuses a damaged or foreign file
            return final
        images, labels = _crops(folder, profile, workers, progress)
        held_out = _split(settings)
        train_images, train_labels = images[~held_out], labels[~held_out]
        flat = train_images.reshape(-1, 3).astype(np.float64)
        mean = torch.tensor(flat.mean(axis=0), dtype=torch.float32)
        std = float(flat.std())
        del flat
        recipe = profile.recipe
        torch.manual_seed(settings.seed)
        model = IdentityNet(settings.identities, recipe.width_divisor, recipe.batch_norm)
        model = model.to(memory_format=torch.channels_last)
        device = torch.device("cpu")
        precision = resolved_precision(recipe.precision, device)
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr_start)
        rates = settings.learning_rates()
        history: list[dict] = []
        first = 0
        checkpoint = folder / "checkpoint.pt"
        if checkpoint.is_file():
            state = load_weights(checkpoint, "cpu", "pretraining checkpoint")
            if isinstance(state, dict) and state.get("key") == json.dumps(_key(profile)):
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                history = json.loads(state["history"])
                first = int(state["epoch"]) + 1

        def prepared(index: np.ndarray, flips: np.ndarray) -> Batch:
            inputs = _normalise(train_images[index], mean, std)
            flip = torch.from_numpy(flips[index])
            inputs = torch.where(flip.view(-1, 1, 1, 1), inputs.flip(-1), inputs)
            return Batch(inputs, torch.from_numpy(train_labels[index]).long(), len(index))

        def batches_of(epoch: int):
            rng = np.random.default_rng([settings.seed, epoch])
            order = rng.permutation(len(train_images))
            flips = rng.random(len(order)) < 0.5
            starts = range(0, len(order), settings.batch_size)
            indices = (np.sort(order[start : start + settings.batch_size]) for start in starts)
            return len(starts), (prepared(index, flips) for index in indices)

        def save(epoch: int, history: list[dict]) -> None:
            payload = {
                "key": json.dumps(_key(profile)),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "history": json.dumps(history),
            }
            write_atomic(checkpoint, lambda temporary: torch.save(payload, temporary))

        plan = Epochs(
            epochs=settings.epochs,
            rates=rates,
            seed_of=lambda epoch: settings.seed * 10_007 + epoch,
            batches_of=batches_of,
            loss=nn.CrossEntropyLoss(),
            precision=precision,
            autocast=lambda: autocast(precision, device),
            description=lambda epoch: f"identities epoch {epoch + 1}",
            extra=lambda epoch: {
                "held_out_accuracy": _accuracy(model, images[held_out], labels[held_out], mean, std)
            },
            save=save,
            progress=progress,
            loss_digits=3,
        )
        if run_epochs(model, optimizer, plan, history, first, stop_after_epoch):
            return final
        if not history:
            raise DataError(f"{checkpoint}: no finished epoch to write a backbone from")
        result = {
            "format": IDENTITY_BACKBONE_FORMAT,
            "features": model.backbone.features.state_dict(),
            "width_divisor": recipe.width_divisor,
            "batch_norm": recipe.batch_norm,
            "input_size": recipe.input_size,
            "mean": [float(v) for v in mean],
            "std": std,
            "identities": settings.identities,
            "training_crops": int((~held_out).sum()),
            "held_out_crops": int(held_out.sum()),
            "held_out_accuracy": float(history[-1]["held_out_accuracy"]),
            "chance": 1.0 / settings.identities,
            "history": json.dumps(history),
            "key": json.dumps(_key(profile)),
        }
        write_atomic(final, lambda temporary: torch.save(result, temporary))
        checkpoint.unlink(missing_ok=True)
        return final


def ensure_backbone(
    profile: str | Profile, cache_dir: str | os.PathLike | None = None, progress: bool = True
) -> Path | None:
    """The profile's pretrained backbone, pretrained first if it is not cached; None for a
    profile without identity pretraining (the paper's, whose models start from VGG-Face)."""
    profile = get_profile(profile)
    if profile.pretraining is None:
        return None
    return pretrain(profile, cache_dir, progress=progress)


def summary(path: str | os.PathLike) -> dict:
    """What a pretrained backbone learned, for the chapters and results files: identities,
    crops, held-out identification accuracy against chance, and its history per epoch."""
    state = read_identity_backbone(path)
    return {
        "identities": int(state["identities"]),
        "training_crops": int(state["training_crops"]),
        "held_out_crops": int(state["held_out_crops"]),
        "held_out_accuracy": float(state["held_out_accuracy"]),
        "chance": float(state["chance"]),
        "seconds": float(sum(row["seconds"] for row in json.loads(state["history"]))),
        "history": json.loads(state["history"]),
    }


def examples(profile: str | Profile, people: int = 4, per_person: int = 6) -> list[np.ndarray]:
    """Crops of the first ``people`` identities (``per_person`` each, at most the profile's
    count), from the cached crops when they are there, else rendered (chapter 03's figure)."""
    profile = get_profile(profile)
    settings = _settings_of(profile)
    people = min(people, settings.identities)
    per_person = min(per_person, settings.images_per_identity)
    path = pretraining_dir(profile) / "crops.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            images = stored["images"]
            return [
                images[person * settings.images_per_identity + index]
                for person in range(people)
                for index in range(per_person)
            ]

    return [
        crop
        for person in range(people)
        for crop in _resized_store(
            _identity_task((profile, settings.seed, person, per_person)), profile.recipe.input_size
        )
    ]


def weight_change(path: str | os.PathLike, model: nn.Module):
    """What fine-tuning changed: per convolution of the backbone, the relative distance
    ``||W_fine-tuned - W_pretrained|| / ||W_pretrained||`` (Frobenius norm of the kernel) between
    a fine-tuned model and the backbone it started from (a pandas Series, conv1_1 ... conv5_3).
    """

    state = read_identity_backbone(path)
    backbone = model.backbone
    change = {}
    for name in backbone.names:
        if not name.startswith("conv"):
            continue
        index = backbone.names.index(name)
        before = state["features"][f"{index}.weight"].float()
        after = backbone.features[index].weight.detach().cpu().float()
        change[name] = float((after - before).norm() / before.norm())
    return pd.Series(change, name="relative change")


def weight_changes(path: str | os.PathLike | None, runs: dict) -> dict:
    """:func:`weight_change` of each run's model (``{name: experiment}``) from the backbone at
    ``path``; empty when the models did not start from an identity-pretrained backbone."""
    if path is None:
        return {}
    return {name: weight_change(path, run.trained.model) for name, run in runs.items()}
