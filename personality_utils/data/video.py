"""The authors' frame sampling (MATLAB rounding), reading the sampled frames with PyAV
(truncated clips reported), square crops, and the first frame of each clip in a store's table.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from personality_utils.core.vocabulary import DataError

log = logging.getLogger(__name__)

__all__ = [
    "sample_frame_indices",
    "square_frame",
    "read_sampled_frames",
    "SampledClip",
    "SHORT_CLIP_RATIO",
    "first_frame_rows",
]


# ----------------------------------------------------------------------------------------------
# Frame sampling (PyAV)
# ----------------------------------------------------------------------------------------------


def _matlab_round(value: float) -> int:
    # MATLAB rounds halves away from zero; Python's round() would send 4.5 to 4.
    return int(np.floor(value + 0.5)) if value >= 0 else -int(np.floor(-value + 0.5))


def sample_frame_indices(n_frames: int, n_samples: int = 10) -> list[int]:
    """The authors' sampling rule, ``1:round((N-1)/n_samples):N`` in MATLAB, as 0-based indices.

    For N = 459 this gives MATLAB frames 1, 47, ..., 415; some N give one frame more than
    ``n_samples`` (the authors kept it). A clip shorter than ``n_samples + 5`` frames, where the
    MATLAB step would round to 0, is sampled at every frame.

    Raises:
        ValueError: If ``n_frames`` or ``n_samples`` is not positive.
    """
    if n_frames <= 0:
        raise ValueError(f"a clip needs at least one frame, got {n_frames}")
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    step = max(1, _matlab_round((n_frames - 1) / n_samples))
    return list(range(0, n_frames, step))


def square_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """A whole frame squashed to ``size`` x ``size``, as the frame store holds it."""
    from PIL import Image

    # Whole frames are squashed to a square, as the authors did (aspect ratio not kept), with
    # their interpolation: MATLAB's imresize defaults to bicubic (Keys, a = -0.5) with its kernel
    # widened by the scale when shrinking, which is what PIL's BICUBIC resize does too.
    return np.asarray(Image.fromarray(frame).resize((size, size), Image.BICUBIC))


#: A clip is *short* when it decodes fewer than this share of the frames its container promises
#: (the header's frame count, else its duration times its frame rate): typically a download cut
#: off after the index, which sits at the front of the file.
SHORT_CLIP_RATIO = 0.9


@dataclass
class SampledClip:
    """Frames sampled from one clip.

    Attributes:
        frames: uint8 array (n, height, width, 3), RGB, at the video's own resolution.
        indices: 0-based index of each frame among the frames actually decoded.
        n_decoded: Frames the decoder produced (can differ from the container's header).
        fps: Average frame rate the container declares.
        n_promised: Frames the container promises: its header's count, else its duration times
            its frame rate (0 when it says neither).
    """

    frames: np.ndarray
    indices: list[int]
    n_decoded: int
    fps: float
    n_promised: int = 0

    @property
    def short(self) -> bool:
        """Whether far fewer frames decode than the container promises (see
        :data:`SHORT_CLIP_RATIO`): a truncated or damaged file."""
        return self.n_promised > 0 and self.n_decoded < SHORT_CLIP_RATIO * self.n_promised

    def shortfall(self) -> str:
        """The short-clip message: the two counts (empty when the clip is not short)."""
        if not self.short:
            return ""
        return (
            f"decodes {self.n_decoded} frames where its container promises {self.n_promised} "
            "(truncated or damaged file?)"
        )


@dataclass
class _PacketIndex:
    """What the container says before anything is decoded."""

    pts: list[int | None]  # presentation time of each video packet, in decode order
    corrupt: bool  # a packet flagged corrupt (a cut-off download) or unreadable
    header_frames: int
    n_promised: int
    fps: float


def read_sampled_frames(
    path: str | os.PathLike, n_samples: int = 10, skip_unneeded: bool = True, warn: bool = True
) -> SampledClip:
    """Decode a clip with PyAV and keep the frames the authors' rule selects.

    The rule needs N, the number of frames actually decoded, which container headers can
    misstate. When the container's packets agree with its header (one packet per frame, each
    with its time stamp, none damaged), N is their count and only what the sampled frames need is
    decoded: the decoder skips frames that no other frame references (``skip_frame =
    "NONREF"``) unless they are sampled, and stops after the last sampled frame; every frame a
    sampled one depends on is still decoded, so the sampled frames are bit-identical to a full
    decode. Otherwise (no count in the header, damaged packets, or a sampled frame missing)
    every frame is decoded and counted, twice when the header's count was wrong. Only the
    selected frames are converted to RGB.

    A decoding error after some frames (a truncated file) ends the clip there; compare
    :attr:`SampledClip.n_decoded` with :attr:`SampledClip.n_promised` (:attr:`SampledClip.short`).
    A short clip is sampled from the frames it has and, with ``warn``, named in a warning with
    both counts, whoever reads it (``predict``, the ground truth of a synthetic clip, a store).

    Args:
        path: The video file (anything FFmpeg reads: mp4, mov, mkv, ...).
        n_samples: ``n_samples`` of the authors' rule.
        skip_unneeded: Decode only what the sampled frames need (False: decode every frame).
        warn: Log a warning when the clip is short (the stores warn once per split instead).

    Raises:
        DataError: If the file is missing or empty, cannot be opened, has no video stream or
            decodes to no frame.
    """
    import av  # PyAV; imported here so that label-only users need not load FFmpeg

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes); download it again")
    try:
        index = _packet_index(path)
        n_frames = len(index.pts)
        fast = (
            skip_unneeded
            and not index.corrupt
            and n_frames > 0
            and n_frames == index.header_frames
            and None not in index.pts
            and len(set(index.pts)) == n_frames
        )
        kept: dict[int, np.ndarray] | None = None
        if fast:
            indices = sample_frame_indices(n_frames, n_samples)
            kept = _decode_needed(path, index.pts, set(indices))
            n_decoded = n_frames
        if kept is None:
            guess = index.header_frames
            wanted = set(sample_frame_indices(guess, n_samples)) if guess > 0 else set()
            kept, n_decoded = _decode_selected(path, wanted)
            if n_decoded == 0:
                raise DataError(f"{path}: the video decodes to no frame")
            indices = sample_frame_indices(n_decoded, n_samples)
            if set(indices) != set(kept):
                kept, n_decoded_again = _decode_selected(path, set(indices))
                if n_decoded_again != n_decoded:
                    raise DataError(f"{path}: decoding is not repeatable")
    except DataError:
        raise
    except (av.FFmpegError, OSError, ValueError) as error:
        raise DataError(f"{path}: cannot decode video ({error})") from None
    frames = np.stack([kept[index] for index in indices])
    sampled = SampledClip(frames, indices, n_decoded, index.fps, index.n_promised)
    if warn and sampled.short:
        log.warning("%s: %s; sampled from the frames it has", path, sampled.shortfall())
    return sampled


def _packet_index(path: Path) -> _PacketIndex:
    import av

    pts: list[int | None] = []
    corrupt = False
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise DataError(f"{path}: no video stream")
        stream = container.streams.video[0]
        header = int(stream.frames or 0)
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        else:
            seconds = (container.duration or 0) / 1_000_000
        promised = header or round(seconds * fps)
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    continue
                if packet.is_corrupt or packet.is_discard:
                    corrupt = True
                pts.append(packet.pts)
        except av.FFmpegError:
            corrupt = True
    return _PacketIndex(pts, corrupt, header, promised, fps)


def _decode_needed(path: Path, pts: list[int], wanted: set[int]) -> dict[int, np.ndarray] | None:
    """The wanted frames (presentation indices), decoding only what they need; None when one
    of them did not come out (the caller then decodes everything)."""
    import av

    order = {stamp: position for position, stamp in enumerate(sorted(pts))}
    kept: dict[int, np.ndarray] = {}

    def keep(frames) -> bool:
        for frame in frames:
            position = order.get(frame.pts)
            if position is None:
                raise _Mismatch
            if position in wanted:
                kept[position] = frame.to_ndarray(format="rgb24")
        return len(kept) == len(wanted)

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            context = stream.codec_context
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                # Frames nothing references are skipped unless sampled; all others decode.
                context.skip_frame = "DEFAULT" if order[packet.pts] in wanted else "NONREF"
                if keep(context.decode(packet)):
                    return kept
            context.skip_frame = "DEFAULT"
            keep(context.decode(None))
    except (_Mismatch, KeyError, av.FFmpegError):
        return None
    return kept if len(kept) == len(wanted) else None


class _Mismatch(Exception):
    """A decoded frame's time stamp is not one of the packets'."""


def _decode_selected(path: Path, wanted: set[int]) -> tuple[dict[int, np.ndarray], int]:
    """Decode every frame, keeping the wanted ones; a decoding error after the first frame
    (a truncated file) ends the clip there."""
    import av

    kept: dict[int, np.ndarray] = {}
    count = 0

    def keep(frames) -> None:
        nonlocal count
        for frame in frames:
            if count in wanted:
                kept[count] = frame.to_ndarray(format="rgb24")
            count += 1

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        context = stream.codec_context
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.is_corrupt:
                    break
                keep(context.decode(packet))
        except av.FFmpegError:
            if count == 0:
                raise
        try:
            keep(context.decode(None))
        except av.FFmpegError:
            if count == 0:
                raise
    return kept, count


# ----------------------------------------------------------------------------------------------
# The challenge's measure
# ----------------------------------------------------------------------------------------------


def first_frame_rows(meta: pd.DataFrame) -> np.ndarray:
    """The row of each clip's first stored frame (lowest ``frame_index``), clips in name order.

    On a frame store this is the first sampled frame of each clip (the authors' ``1.jpg``); on a
    face store, the first frame with a face, so one crop per clip with a face: the population of
    the authors' unit and action-unit studies (F = 2000 test clips in the paper).
    """
    if len(meta) == 0:
        return np.zeros(0, dtype=np.int64)
    table = pd.DataFrame(
        {
            "clip": meta["clip"].to_numpy(),
            "frame_index": meta["frame_index"].to_numpy(),
            "row": np.arange(len(meta)),
        }
    )
    first = table.sort_values(["clip", "frame_index", "row"], kind="stable").groupby("clip").head(1)
    return first["row"].to_numpy(dtype=np.int64)
