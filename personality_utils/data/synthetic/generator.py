"""The planted-signal synthetic First Impressions: every clip rendered from its recipe,
encoded, and written in the official layout with the label pickles and the ground truth beside
them; cached by profile and seed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
from dataclasses import asdict
from pathlib import Path

import numpy as np

from personality_utils.core.files import write_atomic
from personality_utils.core.planted import AU_IDS, AU_NAMES, FEATURES, TRAIT_WEIGHTS
from personality_utils.core.pools import process_pool
from personality_utils.core.profiles import Profile, get_profile
from personality_utils.core.vocabulary import SPLITS, TRAITS
from personality_utils.data.release import ANNOTATION_FILES
from personality_utils.data.synthetic.labels import (
    LABEL_STD,
    NOISE_SHARE,
    _weight_matrix,
    planted_shares,
)
from personality_utils.data.synthetic.recipes import (
    ClipRecipe,
    _video_ids,
    draw_identity,
    make_clip_recipe,
)
from personality_utils.data.synthetic.render import (
    clip_landmarks,
    face_box,
    render_frame,
    scene,
)
from personality_utils.data.video import sample_frame_indices, square_frame
from personality_utils.faces.facs import AU_REGIONS

__all__ = [
    "GENERATOR_VERSION",
    "render_clip",
    "render_samples",
    "generate_dataset",
    "ensure_dataset",
    "default_cache_dir",
    "dataset_key",
    "dataset_identity",
]

GENERATOR_VERSION = 5


def render_clip(recipe: ClipRecipe, path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Render and encode one clip to ``path`` (H.264 mp4), written atomically.

    Returns:
        Ground truth: ``landmarks`` (n, 68, 2), ``aus`` (n, 17), ``face_box`` (n, 4), all in
        the video's pixel coordinates, and ``poster_box`` (4,).
    """
    import av

    path = Path(path)
    landmarks, intensities = clip_landmarks(recipe)
    background, poster = scene(recipe)
    rng = np.random.default_rng(recipe.seed + 3)

    def encode(temporary: str) -> None:
        with av.open(temporary, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=_fraction(recipe.fps))
            stream.width, stream.height = recipe.width, recipe.height
            stream.pix_fmt = "yuv420p"
            # One encoder thread: clips are already encoded in parallel, one per process.
            stream.options = {"crf": "20", "preset": "veryfast", "threads": "1"}
            for t in range(recipe.n_frames):
                image = render_frame(recipe, background, landmarks[t], intensities[t], rng)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    write_atomic(path, encode)
    return {
        "landmarks": landmarks,
        "aus": intensities,
        "face_box": face_box(landmarks).astype(np.float32),
        "poster_box": np.asarray(poster, dtype=np.float32),
    }


def _render_sampled(task: tuple[ClipRecipe, int, int]) -> np.ndarray:
    recipe, frames_per_clip, size = task
    landmarks, intensities = clip_landmarks(recipe)
    background, _ = scene(recipe)
    rng = np.random.default_rng(recipe.seed + 3)
    return np.stack(
        [
            square_frame(render_frame(recipe, background, landmarks[t], intensities[t], rng), size)
            for t in sample_frame_indices(recipe.n_frames, frames_per_clip)
        ]
    )


def render_samples(
    profile: str | Profile,
    n_clips: int,
    seed: int = 0,
    size: int | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic frames rendered straight to memory, no video written: ``n_clips`` clips drawn
    as :func:`generate_dataset` draws them, each sampled by the authors' rule
    (``profile.frames_per_clip``) and squashed to ``size`` (the profile's store size), as a
    frame store holds them (``benchmarks/gpu_check.py`` trains on these). Frames are not
    bit-identical to a decoded clip (no H.264 round trip).

    Returns:
        ``(images, labels, clip_of_frame)``: uint8 (n, size, size, 3), float32 (n, 5) in
        :data:`~personality_utils.core.vocabulary.TRAITS` order, int (n,).
    """
    profile = get_profile(profile)
    size = size or profile.store_size
    rng = np.random.default_rng(seed)
    recipes = [
        make_clip_recipe(rng, f"render{i:06d}.000.mp4", "train", draw_identity(rng), profile)
        for i in range(n_clips)
    ]
    tasks = [(recipe, profile.frames_per_clip, size) for recipe in recipes]
    if workers > 1:
        with process_pool(workers) as pool:
            clips = list(pool.map(_render_sampled, tasks))
    else:
        clips = [_render_sampled(task) for task in tasks]
    labels = np.concatenate(
        [
            np.tile([r.labels[t] for t in TRAITS], (len(c), 1))
            for r, c in zip(recipes, clips, strict=True)
        ]
    ).astype(np.float32)
    owners = np.concatenate([np.full(len(c), i) for i, c in enumerate(clips)])
    return np.concatenate(clips), labels, owners


def _fraction(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)


# ----------------------------------------------------------------------------------------------
# The whole dataset
# ----------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """Where generated datasets and stores live: ``$PERSONALITY_UTILS_CACHE`` or
    ``~/.cache/personality_utils``."""
    return Path(
        os.environ.get("PERSONALITY_UTILS_CACHE", Path.home() / ".cache" / "personality_utils")
    )


def _recipes(profile: Profile, seed: int) -> list[ClipRecipe]:
    rng = np.random.default_rng(seed)
    total = sum(profile.synthetic_clips.get(split, 0) for split in SPLITS)
    # Several clips per video id, sharing identity and room, like the real set's YouTube ids;
    # ids are shared across splits (the real splits share 82% of test ids with training).
    n_videos = max(1, math.ceil(total / 3))
    video_ids = _video_ids(rng, n_videos)
    identities = [draw_identity(rng) for _ in range(n_videos)]
    split_of = np.concatenate([[split] * profile.synthetic_clips.get(split, 0) for split in SPLITS])
    rng.shuffle(split_of)
    used: dict[int, int] = {}
    recipes = []
    # With the identity route closed, glasses, room and shirt are drawn afresh per clip, from a
    # stream of their own so that everything else is drawn exactly as with it open.
    per_clip = np.random.default_rng([seed, 1]) if profile.synthetic_identity == "clip" else None
    for index, split in enumerate(split_of):
        video = int(rng.integers(n_videos)) if index >= n_videos else index
        used[video] = used.get(video, 0) + 1
        clip = f"{video_ids[video]}.{used[video]:03d}.mp4"
        identity = identities[video]
        if per_clip is not None:
            fresh = draw_identity(per_clip)
            identity = {**identity, **{key: fresh[key] for key in _PER_CLIP}}
        recipes.append(make_clip_recipe(rng, clip, str(split), identity, profile))
    return recipes


#: What :attr:`~personality_utils.core.profiles.Profile.synthetic_identity` = ``"clip"`` draws per
#: clip instead of per person: the attributes a model could read a person's glasses from.
_PER_CLIP = ("glasses", "shirt", "wall", "scene_seed")


def _render_task(task: tuple[ClipRecipe, str, str]) -> str:
    recipe, video_path, truth_path = task
    truth = render_clip(recipe, video_path)

    def write(temporary: str) -> None:
        with open(temporary, "wb") as stream:
            np.savez(stream, **truth)

    write_atomic(truth_path, write)
    return recipe.clip


def _settings(profile: Profile, seed: int) -> dict:
    settings = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "clips": {split: profile.synthetic_clips.get(split, 0) for split in SPLITS},
        "frame_size": list(profile.synthetic_frame_size),
        "seconds": list(profile.synthetic_seconds),
        "fps": list(profile.synthetic_fps),
    }
    if profile.synthetic_identity != "person":  # the default keeps the folders it had
        settings["identity"] = profile.synthetic_identity
    return settings


def dataset_identity(data_root: str | os.PathLike) -> str:
    """What a generated dataset drew per person (:attr:`~personality_utils.core.profiles.Profile.
    synthetic_identity`): ``"person"`` or ``"clip"``, from its ``ground_truth.json``."""
    sidecar = json.loads((Path(data_root) / "ground_truth.json").read_text())
    return str(sidecar.get("settings", {}).get("identity", "person"))


def generate_dataset(
    out_dir: str | os.PathLike,
    profile: str | Profile = "default",
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Write the synthetic dataset in the official layout.

    Layout: ``train/``, ``validation/``, ``test/`` folders of mp4 clips; the three
    ``annotation_*.pkl`` (Python-2-compatible protocol-2 pickles, like the real ones);
    ``ground_truth.json`` (weights, shares, per-clip attributes) and
    ``ground_truth/<clip>.npz`` (per-frame landmarks, AUs, face boxes). Each clip is written
    atomically and skipped on a rerun, so an interrupted generation resumes; ``COMPLETE.json``
    is written last.

    Args:
        out_dir: Dataset root.
        profile: Profile (or name) giving the sizes.
        seed: Seed; the same seed and profile give the same dataset.
        workers: Processes (None = the profile's setting, 0 = every core).
        progress: Show a progress bar.

    Returns:
        The dataset root.
    """
    from tqdm.auto import tqdm

    profile = get_profile(profile)
    out_dir = Path(out_dir)
    settings = _settings(profile, seed)
    marker = out_dir / "COMPLETE.json"
    if marker.is_file() and json.loads(marker.read_text()).get("settings") == settings:
        return out_dir
    recipes = _recipes(profile, seed)
    truth_dir = out_dir / "ground_truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (out_dir / split).mkdir(parents=True, exist_ok=True)
    tasks = []
    for recipe in recipes:
        video = out_dir / recipe.split / recipe.clip
        truth = truth_dir / f"{recipe.clip[:-4]}.npz"
        if not (video.is_file() and truth.is_file()):
            tasks.append((recipe, str(video), str(truth)))
    workers = profile.workers if workers is None else workers
    workers = workers or os.cpu_count() or 1
    with tqdm(total=len(tasks), desc="synthetic clips", disable=not progress) as bar:
        if workers > 1 and len(tasks) > 1:
            with process_pool(workers) as pool:
                for _ in pool.map(_render_task, tasks, chunksize=2):
                    bar.update()
        else:
            for task in tasks:
                _render_task(task)
                bar.update()
    for split in SPLITS:
        chosen = [r for r in recipes if r.split == split]
        content = {trait: {r.clip: float(r.labels[trait]) for r in chosen} for trait in TRAITS}
        # The real files hold `interview` as numpy.float64; keep that so the safe reader is
        # exercised on the same kind of content.
        content["interview"] = {
            r.clip: np.float64(np.clip(np.mean([r.labels[t] for t in TRAITS]), 0, 1))
            for r in chosen
        }
        _write_bytes(out_dir / ANNOTATION_FILES[split], pickle.dumps(content, protocol=2))
    sidecar = {
        "description": (
            "Planted-signal synthetic First Impressions "
            "(personality_utils.data.synthetic.generator)"
        ),
        "settings": settings,
        "aus": list(AU_IDS),
        "au_names": {str(k): v for k, v in AU_NAMES.items()},
        "au_regions": {str(k): v for k, v in AU_REGIONS.items()},
        "features": list(FEATURES),
        "trait_weights": TRAIT_WEIGHTS,
        "weight_matrix": _weight_matrix().round(6).tolist(),
        "noise_share": NOISE_SHARE,
        "label_std": LABEL_STD,
        "planted_shares": planted_shares(),
        "clips": {
            r.clip: {
                key: value for key, value in asdict(r).items() if key not in ("clip", "scene_seed")
            }
            for r in recipes
        },
    }
    _write_bytes(out_dir / "ground_truth.json", json.dumps(sidecar, indent=1).encode())
    _write_bytes(marker, json.dumps({"settings": settings, "n_clips": len(recipes)}).encode())
    return out_dir


def _write_bytes(path: Path, payload: bytes) -> None:
    write_atomic(path, lambda temporary: Path(temporary).write_bytes(payload))


def dataset_key(profile: str | Profile, seed: int) -> str:
    """Folder name of a generated dataset: profile, seed and a hash of its settings."""
    profile = get_profile(profile)
    digest = hashlib.sha1(json.dumps(_settings(profile, seed), sort_keys=True).encode()).hexdigest()
    return f"synthetic-{profile.name}-seed{seed}-{digest[:8]}"


def ensure_dataset(
    profile: str | Profile = "default",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """The synthetic dataset for a profile and seed, generated on first use into the cache."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return generate_dataset(cache / dataset_key(profile, seed), profile, seed, progress=progress)
