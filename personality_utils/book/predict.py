"""Predicting on one's own video: a trained checkpoint scores a clip the way the chapters score
the test clips, and a small self-contained HTML report shows what it looked at
(``python -m personality_utils predict VIDEO... --checkpoint DIR``).

The clip is sampled by the authors' rule (10 frames, :func:`~personality_utils.data.video.
read_sampled_frames`), each sampled frame goes through the face pipeline of the stores
(:func:`~personality_utils.faces.detection.align_frame`), and the model sees what it was trained
on: the whole frame squashed to 224x224 (``frames``) or the aligned face crop (``faces``, frames
without a face left out). The clip's score is the mean over its frames, as in the chapters, with the
spread over the frames beside it. For a model with a CAM head the report draws its class
activation maps per trait over each frame the model saw.

Every output starts with what the model is worth (:mod:`~personality_utils.models.provenance`):
what it was trained on and how well it scored, and, for a model trained on the synthetic set, that
its scores say nothing about a real person. :func:`predict_command` (the command line) refuses
such a model unless it is told ``allow_synthetic``. Several videos or a folder (searched
recursively) give one progress bar, a report per clip, the challenge's CSV of the clips' scores
(``predictions.csv``) and ``index.html`` linking every report, with the failed files listed; the
exit status is the number of failed files (at most 125).
"""

from __future__ import annotations

import html
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from personality_utils.cam.maps import class_activation_maps
from personality_utils.cam.overlay import cam_overlay
from personality_utils.core.files import write_atomic
from personality_utils.core.images import TRAIT_COLOURS, image_uri, thumbnail
from personality_utils.core.vocabulary import TRAITS, DataError
from personality_utils.data.release import write_challenge_csv
from personality_utils.data.video import read_sampled_frames, square_frame
from personality_utils.faces.detection import align_frame
from personality_utils.models.provenance import Provenance, load_provenance
from personality_utils.models.training import load_trained, predict

__all__ = [
    "FRAMES_PER_CLIP",
    "MAX_EXIT",
    "VIDEO_SUFFIXES",
    "ClipPrediction",
    "find_videos",
    "guess_source",
    "index_html",
    "predict_command",
    "predict_video",
    "provenance_html",
    "refuse_synthetic",
    "report_html",
    "report_path",
    "score_clips",
    "write_report",
]

#: The authors' sampling (10 frames per clip) and the sizes of the stores the models train on.
FRAMES_PER_CLIP = 10
STORE_SIZE = 224
FACE_SIZE = 224
#: What a folder is searched for (any file named on the command line is tried, whatever it ends in).
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
#: The highest exit status: the count of failed files, capped below the shell's own codes.
MAX_EXIT = 125
_STYLE = """body { font-family: sans-serif; margin: 2em; max-width: 1100px; }
figure { display: inline-block; margin: 4px; font-size: 12px; text-align: center; }
.row { display: flex; flex-wrap: wrap; }
.bar { height: 14px; }
td, th { padding: 2px 10px; }
.provenance { border: 2px solid #888; padding: 0.5em 1em; margin: 1em 0; }
.provenance.warn { border-color: #c00; background: #fff0f0; }
.provenance strong { color: #c00; }"""


@dataclass
class ClipPrediction:
    """What a model predicts for one video, and what it saw.

    Attributes:
        video: The video file.
        source: What the model sees, ``"frames"`` or ``"faces"``.
        model_kind: The checkpoint's model kind (``danplus``, ``cam``, ``cam_fig4``).
        indices: The sampled frames (0-based, among the decoded frames).
        n_decoded: Frames the clip decodes to (N of the authors' rule).
        fps: The container's frame rate.
        views: The image the model saw for each sampled frame (the squashed frame, or the
            aligned face crop; None where a face model had no face), uint8 224x224.
        thumbnails: Each sampled frame squashed to 224x224, with its face box drawn.
        boxes: The face box of each sampled frame in original pixels (None: no face found).
        frame_scores: One row of trait scores per frame the model saw (index: frame index).
        cams: (n_seen, 5, g, g) class activation maps of those frames, or None (no CAM head).
        notes: What could not be done, in words.
    """

    video: Path
    source: str
    model_kind: str
    indices: list[int]
    n_decoded: int
    fps: float
    views: list[np.ndarray | None]
    thumbnails: list[np.ndarray]
    boxes: list[tuple[float, float, float, float] | None]
    frame_scores: pd.DataFrame
    cams: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def mean(self) -> pd.Series:
        """The clip's score per trait: the mean over the frames the model saw."""
        return self.frame_scores.mean()

    @property
    def spread(self) -> pd.Series:
        """The standard deviation of the per-frame scores (0 with a single frame)."""
        return self.frame_scores.std(ddof=0)

    def summary(self) -> str:
        """The lines the command line prints: the sampling, the faces, one line per trait."""
        faces = sum(box is not None for box in self.boxes)
        lines = [
            f"{self.video}: {len(self.indices)} frames sampled of {self.n_decoded} "
            f"({self.fps:.2f} fps), a face in {faces}; {self.model_kind} model on "
            f"{self.source}, {len(self.frame_scores)} frames scored"
        ]
        for trait in TRAITS:
            lines.append(
                f"  {trait:18s} {self.mean[trait]:.3f}  (± {self.spread[trait]:.3f} over frames)"
            )
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def guess_source(checkpoint: str | os.PathLike) -> str:
    """``"faces"`` for a checkpoint folder named by :func:`~personality_utils.models.experiments.
    experiment_dir` for a face model (``...-faces-seed0``), else ``"frames"``."""
    return "faces" if "-faces-" in f"{Path(checkpoint).name}-" else "frames"


def _draw_box(image: np.ndarray, box, colour=(0, 255, 0), width: int = 2) -> np.ndarray:
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(np.ascontiguousarray(image))
    ImageDraw.Draw(canvas).rectangle([float(v) for v in box], outline=colour, width=width)
    return np.asarray(canvas)


def predict_video(
    video: str | os.PathLike, trained, source: str = "frames", n_samples: int = FRAMES_PER_CLIP
) -> ClipPrediction:
    """Sample a video, find its faces and score it with a trained model.

    Args:
        video: Any video file the decoder reads (mp4, mov, ...).
        trained: A :class:`~personality_utils.models.training.TrainedModel`
            (:func:`~personality_utils.models.training.load_trained`).
        source: What the model was trained on: ``"frames"`` or ``"faces"``.
        n_samples: ``n_samples`` of the authors' rule.

    Raises:
        DataError: If the video cannot be read, or a face model finds no face in any frame.
    """

    if source not in ("frames", "faces"):
        raise ValueError(f"source must be 'frames' or 'faces', got {source!r}")
    video = Path(video)
    sampled = read_sampled_frames(video, n_samples)
    notes = []
    if sampled.short:
        notes.append(f"the clip {sampled.shortfall()}; sampled from the frames it has")
    views: list[np.ndarray | None] = []
    thumbnails, boxes = [], []
    for frame in sampled.frames:
        aligned = align_frame(frame, store_size=STORE_SIZE, face_size=FACE_SIZE)
        squashed = square_frame(frame, STORE_SIZE)
        found = aligned.detection.found
        boxes.append(tuple(aligned.detection.box) if found else None)
        thumbnails.append(_draw_box(squashed, aligned.box_store) if found else squashed)
        views.append(squashed if source == "frames" else aligned.crop)
    seen = [position for position, view in enumerate(views) if view is not None]
    n_faces = sum(box is not None for box in boxes)
    if n_faces == 0:
        notes.append(f"no face found in any of the {len(boxes)} sampled frames")
        if source == "faces":
            raise DataError(
                f"{video}: no face found in any of the {len(boxes)} sampled frames; a model "
                "trained on faces cannot score it (a frames model can)"
            )
    elif source == "faces" and len(seen) < len(views):
        notes.append(f"{len(views) - len(seen)} sampled frames without a face left out")
    images = np.stack([views[position] for position in seen])
    index = pd.Index([sampled.indices[position] for position in seen], name="frame")
    scores = pd.DataFrame(predict(trained, images), columns=list(TRAITS), index=index)
    cams = None
    if hasattr(trained.model, "cam"):
        cams, _ = class_activation_maps(trained, images)
    else:
        notes.append(f"a {trained.config.kind} model has no CAM head: no maps")
    return ClipPrediction(
        video=video,
        source=source,
        model_kind=trained.config.kind,
        indices=sampled.indices,
        n_decoded=sampled.n_decoded,
        fps=sampled.fps,
        views=views,
        thumbnails=thumbnails,
        boxes=boxes,
        frame_scores=scores,
        cams=cams,
        notes=notes,
    )


def report_path(video: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> Path:
    """Where the report of a video goes: ``<stem>.personality.html`` beside it, or in
    ``out_dir``."""
    video = Path(video)
    folder = Path(out_dir) if out_dir is not None else video.parent
    return folder / f"{video.stem}.personality.html"


def _img(image: np.ndarray, title: str, size: int = 160) -> str:
    uri = image_uri(thumbnail(image, size), "jpeg")
    text = html.escape(title)
    return (
        f'<figure><img src="{uri}" alt="{text}" width="{size}">'
        f"<figcaption>{text}</figcaption></figure>"
    )


def provenance_html(provenance: Provenance | None) -> str:
    """The block at the top of every page: the plain warning, then what the model was trained
    on and how well it scored (or that nobody said)."""
    if provenance is None:
        provenance = Provenance(None, ["unknown (not given to the page)"])
    warning = html.escape(provenance.warning)
    details = "".join(f"<li>{html.escape(detail)}</li>" for detail in provenance.details)
    return (
        f'<div class="provenance{" warn" if warning else ""}">'
        + (f"<p><strong>{warning}</strong></p>" if warning else "")
        + f"<p>Provenance of the model:</p><ul>{details}</ul></div>"
    )


def report_html(prediction: ClipPrediction, provenance: Provenance | None = None) -> str:
    """The report as one HTML page with nothing to fetch (images are data URIs), the model's
    provenance at its top (:func:`provenance_html`)."""

    p = prediction
    rows = "".join(
        f"<tr><td>{trait}</td><td>{p.mean[trait]:.3f}</td><td>± {p.spread[trait]:.3f}</td>"
        f'<td><div class="bar" style="width:{300 * float(np.clip(p.mean[trait], 0, 1)):.0f}px;'
        f'background:{TRAIT_COLOURS[trait]}"></div></td></tr>'
        for trait in TRAITS
    )
    frames = "".join(
        _img(thumb, f"frame {index}" + ("" if box is not None else " (no face)"))
        for thumb, index, box in zip(p.thumbnails, p.indices, p.boxes, strict=True)
    )
    seen = [view for view in p.views if view is not None]
    maps = ""
    if p.cams is not None:
        for t, trait in enumerate(TRAITS):
            tiles = "".join(
                _img(cam_overlay(view, p.cams[k, t]), f"frame {index}", 120)
                for k, (view, index) in enumerate(zip(seen, p.frame_scores.index, strict=True))
            )
            maps += f"<h3>{trait}</h3><div class='row'>{tiles}</div>"
        maps = (
            "<h2>Class activation maps</h2><p>Per trait, over what the model saw (red: what "
            "raised the score most; each map rescaled to its own range).</p>" + maps
        )
    per_frame = p.frame_scores.round(3).to_html(classes="frames")
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in p.notes)
    faces = sum(box is not None for box in p.boxes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Apparent personality: {html.escape(p.video.name)}</title>
<style>
{_STYLE}
</style></head><body>
<h1>Apparent personality of {html.escape(p.video.name)}</h1>
{provenance_html(provenance)}
<p>{len(p.indices)} frames sampled by the authors' rule from the {p.n_decoded} frames of
{html.escape(str(p.video))} ({p.fps:.2f} fps); a face in {faces} of them. A {p.model_kind}
model trained on {p.source} scored {len(p.frame_scores)} frames; the clip's score is their mean.
These are <em>apparent</em> traits: what annotators of the First Impressions videos would be
expected to say, not a measurement of the person.</p>
<h2>Scores (clip mean, spread over frames)</h2>
<table>{rows}</table>
{"<h2>What could not be done</h2><ul>" + notes + "</ul>" if notes else ""}
<h2>Sampled frames (squashed to a square, as a frames model sees them) and face boxes</h2>
<div class="row">{frames}</div>
{maps}
<h2>Scores per frame</h2>{per_frame}
</body></html>
"""


def _write_page(path: Path, page: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda temporary: Path(temporary).write_text(page, encoding="utf-8"))
    except OSError as error:
        raise DataError(
            f"{path}: cannot write the page ({error.strerror or error}); choose a folder with "
            "--out-dir"
        ) from None
    return path


def write_report(
    prediction: ClipPrediction, path: str | os.PathLike, provenance: Provenance | None = None
) -> Path:
    """Write :func:`report_html` to ``path`` atomically (its folder made if needed).

    Raises:
        DataError: If it cannot be written there.
    """
    return _write_page(Path(path), report_html(prediction, provenance))


# ----------------------------------------------------------------------------------------------
# The command line: one video, or many (a folder), with what the model is worth on top
# ----------------------------------------------------------------------------------------------


def find_videos(paths) -> list[tuple[Path, Path]]:
    """The videos to score, each with the path its report and CSV row are named by.

    A file is taken whatever its name (named as given); a folder is searched recursively for
    :data:`VIDEO_SUFFIXES`, hidden files and folders left out, each named by its path below the
    folder. Order: as given, each folder's videos sorted.

    Raises:
        DataError: If a folder holds no video.
    """
    found = []
    for given in map(Path, paths):
        if not given.is_dir():
            found.append((given, Path(given.name)))
            continue
        videos = sorted(
            path
            for path in given.rglob("*")
            if path.suffix.lower() in VIDEO_SUFFIXES
            and path.is_file()
            and not any(part.startswith(".") for part in path.relative_to(given).parts)
        )
        if not videos:
            raise DataError(f"{given}: no video in this folder ({', '.join(VIDEO_SUFFIXES)})")
        found += [(video, video.relative_to(given)) for video in videos]
    return found


def refuse_synthetic(provenance: Provenance, checkpoint, allow_synthetic: bool) -> None:
    """Refuse a model trained on the synthetic set unless ``allow_synthetic``.

    Raises:
        DataError: Naming the checkpoint, why, and what to do.
    """
    if provenance.synthetic and not allow_synthetic:
        raise DataError(
            f"{checkpoint}: trained on synthetic data only (its provenance above): its scores "
            "say nothing about a real person. Train on real data "
            "(train --data-root), or pass --allow-synthetic to run it anyway and see the pipeline "
            "work"
        )


@dataclass
class _Scored:
    video: Path
    name: str  # its CSV row
    report: Path
    prediction: ClipPrediction


def score_clips(
    found: list[tuple[Path, Path]],
    trained,
    source: str,
    provenance: Provenance | None,
    out_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> tuple[list[_Scored], list[tuple[Path, str]]]:
    """Score videos (:func:`find_videos`) under one progress bar and write each one's report
    (beside the video, or in ``out_dir`` under the path it was found at).

    Returns:
        What was scored (video, CSV name, report, prediction) and the failed videos with their
        one-line errors (also written to stderr as they happen).
    """
    counts = Counter(named.name for _, named in found)
    scored, failed, taken = [], [], set()
    for video, named in tqdm(found, desc="clips", unit="clip", disable=not progress):
        name = named.name if counts[named.name] == 1 else named.as_posix()
        if out_dir is None:
            report = report_path(video)
        else:
            report = report_path(named, Path(out_dir) / named.parent)
        if report in taken:  # me.mp4 and me.mov in one folder
            report = report.with_name(f"{video.name}.personality.html")
        try:
            prediction = predict_video(video, trained, source)
            write_report(prediction, report, provenance)
        except (DataError, ValueError, OSError, RuntimeError) as error:
            message = " ".join(str(error).split()) or type(error).__name__
            message = message if str(video) in message else f"{video}: {message}"
            tqdm.write(f"error: {message}", file=sys.stderr)
            failed.append((video, message))
            continue
        taken.add(report)
        scored.append(_Scored(video, name, report, prediction))
    return scored, failed


def index_html(
    scored: list[_Scored], failed: list[tuple[Path, str]], provenance, folder: Path
) -> str:
    """One page linking every report (relative links from ``folder``), the model's provenance
    at its top and the failed files with their errors."""

    def link(path: Path) -> str:
        return quote(Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix())

    rows = "".join(
        f'<tr><td><a href="{link(item.report)}">{html.escape(item.name)}</a></td>'
        + "".join(f"<td>{item.prediction.mean[trait]:.3f}</td>" for trait in TRAITS)
        + f"<td>{sum(box is not None for box in item.prediction.boxes)} of "
        f"{len(item.prediction.boxes)}</td><td>{html.escape('; '.join(item.prediction.notes))}"
        "</td></tr>"
        for item in scored
    )
    header = "".join(f"<th>{trait}</th>" for trait in TRAITS)
    failures = "".join(
        f"<li><code>{html.escape(str(video))}</code>: {html.escape(message)}</li>"
        for video, message in failed
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Apparent personality: {len(scored)} clips</title>
<style>
{_STYLE}
</style></head><body>
<h1>Apparent personality of {len(scored)} clips</h1>
{provenance_html(provenance)}
<p>{len(scored)} of {len(scored) + len(failed)} videos scored; each clip's score is the mean over
its sampled frames. These are <em>apparent</em> traits: what annotators of the First Impressions
videos would be expected to say, not a measurement of the person.</p>
<table><tr><th>clip (report)</th>{header}<th>faces</th><th>notes</th></tr>{rows}</table>
<h2>Failed ({len(failed)})</h2>
{"<ul>" + failures + "</ul>" if failures else "<p>None.</p>"}
</body></html>
"""


def predict_command(
    videos,
    checkpoint: str | os.PathLike,
    source: str | None = None,
    device: str = "auto",
    out_dir: str | os.PathLike | None = None,
    allow_synthetic: bool = False,
    progress: bool = True,
) -> int:
    """``python -m personality_utils predict``: print the model's provenance, refuse a model
    trained on the synthetic set unless ``allow_synthetic`` (:func:`refuse_synthetic`), then score.

    One video: its scores printed and its report written. Several, or a folder: one progress
    bar, a report per clip, ``predictions.csv`` (the challenge's format) and ``index.html`` in
    ``out_dir`` (default: the current folder).

    Returns:
        The number of videos that failed, at most :data:`MAX_EXIT` (each named on stderr).
    """
    trained = load_trained(checkpoint, device)
    provenance = load_provenance(checkpoint)
    print("\n".join(provenance.lines), flush=True)
    refuse_synthetic(provenance, checkpoint, allow_synthetic)
    source = source or guess_source(checkpoint)
    found = find_videos(videos)
    many = len(found) > 1 or any(Path(video).is_dir() for video in videos)
    scored, failed = score_clips(found, trained, source, provenance, out_dir, progress and many)
    for item in [] if many else scored:
        print(item.prediction.summary())
        print(f"  report: {item.report}")
    if many:
        folder = Path(out_dir) if out_dir is not None else Path.cwd()
        if scored:
            table = pd.DataFrame(
                [item.prediction.mean for item in scored], index=[item.name for item in scored]
            )
            try:
                folder.mkdir(parents=True, exist_ok=True)
                csv = write_challenge_csv(table, folder / "predictions.csv")
            except OSError as error:
                raise DataError(f"{folder}: cannot write predictions.csv ({error})") from None
            print(f"predictions (challenge format): {csv}")
        index = _write_page(folder / "index.html", index_html(scored, failed, provenance, folder))
        print(f"index: {index}")
        print(f"{len(scored)} of {len(found)} videos scored, {len(failed)} failed")
    return min(len(failed), MAX_EXIT)
