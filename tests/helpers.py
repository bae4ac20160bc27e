"""Factories the test modules share: tiny seeded models, hand-made images, stores and studies,
and videos written on the fly. One place, so that no test module imports another."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch

from personality_utils.cam import study as cam_study
from personality_utils.core.vocabulary import TRAITS
from personality_utils.data.stores import FaceStore, FrameStore
from personality_utils.faces import facs
from personality_utils.models import networks, training
from personality_utils.models.training import TrainConfig, TrainedModel
from personality_utils.units import passes
from personality_utils.units import study as unit_study

TINY_CONFIG = dict(
    kind="danplus",
    width_divisor=16,
    input_size=32,
    epochs=3,
    batch_size=8,
    lr_start=1e-3,
    lr_end=1e-4,
    optimizer="adam",
    weight_decay=0.0,
    input_mean="standardised",
    device="cpu",
    seed=1,
)


def toy_images(n=48, seed=0):
    """Images whose brightness on the left half encodes the first trait."""
    rng = np.random.default_rng(seed)
    targets = rng.uniform(0.2, 0.8, size=(n, 5)).astype(np.float32)
    images = rng.integers(0, 40, size=(n, 32, 32, 3)).astype(np.uint8)
    images[:, :, :16] += (targets[:, 0] * 200).astype(np.uint8)[:, None, None, None]
    return images, targets


UNIT_INPUT = 48  # conv5 maps of 3 x 3: G = 3


UNIT_BATCH = 7  # does not divide the 40 images


def tiny_danplus(
    seed: int = 0, input_size: int = 48, backbone_weights: str | None = None
) -> TrainedModel:
    """A 1/16-width DAN+ with batch norm, seeded, untrained, as a trained model at
    ``input_size``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = networks.DANPlus(width_divisor=16, batch_norm=True).eval()
    config = TrainConfig(
        kind="danplus",
        width_divisor=16,
        input_size=input_size,
        batch_norm=True,
        device="cpu",
        backbone_weights=backbone_weights,
    )
    return TrainedModel(model, config, torch.full((3, input_size, input_size), 127.5), 64.0)


def tiny_unit_model(seed: int = 0) -> TrainedModel:
    return tiny_danplus(seed, UNIT_INPUT)


def unit_images(n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, UNIT_INPUT, UNIT_INPUT, 3), dtype=np.uint8)
    # Exact duplicates in other batches and a few black frames: ties in every unit.
    if n >= 40:
        images[30] = images[3]
        images[17] = images[9]
        images[[5, 12, 26]] = 0
    return images


def hand_accumulator(maps: np.ndarray, batch: int, masks=None, **kwargs):
    """Feed (n, units, h, w) hand-made maps to an accumulator as conv5_3, in batches."""
    accumulator = passes.UnitAccumulator(["conv5_3"], **kwargs)
    for start in range(0, len(maps), batch):
        part = masks and {r: m[start : start + batch] for r, m in masks.items()}
        accumulator.update({"conv5_3": torch.as_tensor(maps[start : start + batch])}, part)
    return accumulator


def unit_landmarks() -> np.ndarray:
    """Plausible 68 landmarks in a 16-pixel image: a scaled copy of a simple template."""
    points = np.zeros((68, 2))
    points[17:27] = np.column_stack([np.linspace(3, 13, 10), np.full(10, 5)])  # brows
    points[27:36] = np.column_stack([np.full(9, 8), np.linspace(6, 10, 9)])  # nose
    for start, centre in ((36, 5.5), (42, 10.5)):
        angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
        points[start : start + 6] = np.column_stack(
            [centre + 1.2 * np.cos(angles), 6.5 + 0.4 * np.sin(angles)]
        )
    points[36, 0], points[39, 0], points[42, 0], points[45, 0] = 4.3, 6.7, 9.3, 11.7
    angles = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    points[48:68] = np.column_stack([8 + 2.5 * np.cos(angles), 12 + 0.8 * np.sin(angles)])
    return points


UNIT_SIZE = 64  # the smoke profile's input: conv5_3 is 4 x 4, conv4_3 8 x 8


def write_identity_backbone(path: Path, seed: int = 1, width_divisor: int = 16) -> Path:
    """A fake identity-pretrained backbone file (:data:`~personality_utils.models.networks.
    IDENTITY_BACKBONE_FORMAT`): seeded random batch-normalised VGG features of the tiny width."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = networks.VGGBackbone(width_divisor, batch_norm=True)
    state = {
        "format": networks.IDENTITY_BACKBONE_FORMAT,
        "features": backbone.features.state_dict(),
        "width_divisor": width_divisor,
        "batch_norm": True,
        "input_size": UNIT_SIZE,
        "mean": [127.5, 127.5, 127.5],
        "std": 64.0,
    }
    torch.save(state, path)
    return path


def tiny_face_model(seed: int = 0, backbone_weights: str | None = None) -> TrainedModel:
    return tiny_danplus(seed, UNIT_SIZE, backbone_weights)


def make_unit_study(
    dataset, folder: Path, top_n: int = 50, pretrained: bool = True
) -> unit_study.UnitStudy:
    """A study of the smoke dataset's test faces with a tiny random-init DAN+ as the "trained"
    model, its statistics cached in ``folder`` (a fake checkpoint); with ``pretrained`` the
    model says it was fine-tuned from a fake identity backbone (another seeded network), so the
    study has a pretrained network too."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "checkpoint.pt").write_bytes(b"not a model")
    backbone = write_identity_backbone(folder / "backbone.pt") if pretrained else None
    r2 = pd.Series([0.5, 0.05, 0.3, 0.2, 0.0], index=list(TRAITS))
    scores = SimpleNamespace(mean_accuracy=0.875, metrics={"r2": r2})
    run = SimpleNamespace(
        trained=tiny_face_model(backbone_weights=None if backbone is None else str(backbone)),
        checkpoint=folder,
        test=SimpleNamespace(all=scores),
    )
    settings = SimpleNamespace(unit_population="first_face_per_clip", model_input_size=UNIT_SIZE)
    return unit_study.prepare(dataset, run, settings, top_n=top_n, seed=3)


def tiny_cam_model(kind: str = "cam_fig4", size: int = 32, seed: int = 0):
    import torch

    from personality_utils.models import networks

    torch.manual_seed(seed)
    model = networks.build_model(kind, width_divisor=16).eval()
    config = training.TrainConfig(kind=kind, width_divisor=16, input_size=size, device="cpu")
    return training.TrainedModel(model, config, torch.full((3, size, size), 120.0), 60.0)


def cam_images(n: int = 6, size: int = 32, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


CAM_SIZE = 32


MISSING_FACE_ROWS = (0, 7)  # frame rows without a face box (row 0: clip 0's first frame)


def cam_clip(index: int) -> str:
    return f"{index:011d}.000.mp4"  # a YouTube id of 11 characters: one person per clip


def fake_dataset(n_clips: int = 6, per_clip: int = 3, seed: int = 0, synthetic: bool = False):
    """A test split of ``n_clips`` clips: frames, dlib-like face boxes (none on the
    :data:`MISSING` rows) and a face store of the frames with a box."""
    rng = np.random.default_rng(seed)
    n = n_clips * per_clip
    meta = pd.DataFrame(
        {
            "clip": np.repeat([cam_clip(i) for i in range(n_clips)], per_clip),
            "frame_index": np.tile(np.arange(per_clip), n_clips),
        }
    )
    boxes = np.tile([8.0, 6.0, 24.0, 26.0], (n, 1))
    boxes[[row for row in MISSING_FACE_ROWS if row < n]] = np.nan
    frames = rng.integers(0, 256, (n, CAM_SIZE, CAM_SIZE, 3), dtype=np.uint8)
    store = FrameStore(frames, meta, {}, Path("fake"), {"box_store": boxes})
    kept = np.flatnonzero(np.isfinite(boxes).all(axis=1))
    shape = facs.MEAN_SHAPE * CAM_SIZE * 0.25 + CAM_SIZE / 2
    shape = shape - shape.mean(axis=0) + CAM_SIZE / 2
    faces = FaceStore(
        rng.integers(0, 256, (len(kept), CAM_SIZE, CAM_SIZE, 3), dtype=np.uint8),
        meta.iloc[kept].reset_index(drop=True).assign(frame_row=kept),
        np.repeat(shape[None], len(kept), axis=0),
        Path("fake"),
    )
    return SimpleNamespace(
        store=lambda split: store, faces=lambda split: faces, synthetic=synthetic, root=None
    )


def hand_cam_study(top_n: int = 3, ranking: str = "videos", grid: int = 4, seed: int = 0):
    """A study of ``fake_dataset`` with random positive maps (every map has an activated
    region, so an overlap is missing only where the frame has no box)."""
    dataset = fake_dataset(seed=seed)
    store, faces = dataset.store("test"), dataset.faces("test")
    rng = np.random.default_rng(seed)
    frame_maps = (rng.random((len(store), 5, grid, grid)) + 0.1).astype(np.float32)
    face_maps = (rng.random((len(faces), 5, grid, grid)) + 0.1).astype(np.float32)
    frame_predictions, face_predictions = rng.random((len(store), 5)), rng.random((len(faces), 5))
    return cam_study.from_maps(
        store, faces, frame_maps, frame_predictions, face_maps, face_predictions, top_n, ranking
    )


def write_video(path: Path, n_frames: int, size=(64, 48), fps=24, container="mp4"):
    import av

    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream("libx264" if container == "mp4" else "mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(n_frames):
            image = np.full((size[1], size[0], 3), index * 10 % 250, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)


def write_noisy_mp4(path: Path, n_frames: int, faststart: bool = True) -> None:
    """Random frames (large packets), with B-frames, the index at the front when ``faststart``."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format="mp4", options=options) as output:
        stream = output.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"bf": "3", "threads": "1"}
        for _ in range(n_frames):
            image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)


def faststart_copy(source: Path, target: Path) -> None:
    """The clip's packets, unchanged, in an mp4 whose index (moov) sits at the front."""
    import av

    with av.open(str(source)) as given:
        stream = given.streams.video[0]
        with av.open(str(target), "w", format="mp4", options={"movflags": "faststart"}) as out:
            copied = out.add_stream_from_template(stream)
            for packet in given.demux(stream):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = copied
                out.mux(packet)
