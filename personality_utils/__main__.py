"""Command line: ``python -m personality_utils synth | prepare | train | evaluate | predict |
chapters | random-vgg-face``.

``synth`` writes the planted-signal synthetic dataset in the official layout; ``prepare`` builds
the frame and face stores of a dataset (real or synthetic) outside the notebooks, on every core;
``train`` trains and scores one model as chapters 03-04 do (resuming from its checkpoint), in one
process or under ``torchrun`` on several GPUs or machines
(:mod:`personality_utils.models.distributed`);
``evaluate`` scores a trained checkpoint and writes the challenge CSV; ``predict`` scores one's own
videos with a trained checkpoint and writes an HTML report beside each
(:mod:`personality_utils.book.predict`); ``random-vgg-face`` writes
a weight file in the VGG-Face port's layout from seeded random numbers (CI's dry run of the
paper path, where the real weights cannot be downloaded); ``chapters`` executes the book's
chapters with papermill in their order (:mod:`personality_utils.book.chapters`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from personality_utils.book import chapters, layout, predict, preflight, steps
from personality_utils.core import files, vocabulary
from personality_utils.core.profiles import PROFILES, get_profile
from personality_utils.data import datasets
from personality_utils.data.parts import PARTS_VARIABLE, part_lines, resolve_part
from personality_utils.data.stores import build_frame_store, skip_report
from personality_utils.data.synthetic import generator
from personality_utils.models.networks import random_vgg_face
from personality_utils.models.variants import VARIANTS


def _synth(arguments: argparse.Namespace) -> int:
    profile = get_profile(arguments.profile)
    if arguments.out is None:
        root = generator.ensure_dataset(profile, arguments.seed, arguments.cache_dir)
    else:
        root = generator.generate_dataset(
            arguments.out, profile, arguments.seed, workers=arguments.workers
        )
    print(root)
    return 0


def _available_cores() -> int:
    """Cores this process may use (its CPU affinity: a container's or a job's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _prepare(arguments: argparse.Namespace) -> int:
    profile = get_profile(arguments.profile)
    # 0 or unset (in the option and the profile) = every core available to this process.
    workers = arguments.workers or profile.workers or _available_cores()
    profile = profile.replace(workers=workers)
    part, parts, source = resolve_part(arguments.part, arguments.parts, arguments.merge)
    sharing = {"part": part, "parts": parts} if part is not None else {"merge": arguments.merge}
    share = f", part {part} of {parts} ({source})" if part is not None else ""
    print(f"sampling clips with {workers} processes{share}", file=sys.stderr)
    if arguments.out is None:
        if arguments.no_faces:
            raise ValueError("--no-faces needs --out: train and evaluate read stores with faces")
        # Where train, evaluate and the notebooks look for this dataset's stores (no
        # --data-root: the synthetic set of this profile and seed, generated if missing).
        dataset = datasets.prepare_dataset(
            profile,
            data_root=arguments.data_root,
            seed=arguments.seed,
            cache_dir=arguments.cache_dir,
            skip_short=arguments.skip_short,
            **sharing,
        )
        store_dir = dataset.store_dir
        stores = {
            split: dataset.store(split)
            for split in vocabulary.SPLITS
            if part is None and (dataset.store_dir / split / "frames.npy").is_file()
        }
    else:
        if arguments.data_root is None:
            raise ValueError("--out needs --data-root: the dataset whose clips it samples")
        store_dir = arguments.out
        stores = build_frame_store(
            arguments.data_root,
            arguments.out,
            n_samples=profile.frames_per_clip,
            size=profile.store_size,
            workers=profile.workers,
            face_size=0 if arguments.no_faces else profile.face_size,
            skip_short=arguments.skip_short,
            **sharing,
        )
    if part is not None:  # the stores are written by a merge, once every part has finished
        lines = part_lines(store_dir, part, parts, vocabulary.SPLITS)
        print("\n".join(lines) or f"part {part} of {parts}: nothing to do, stores assembled")
        if lines:
            print("then: prepare --merge (or without a part) writes the stores", file=sys.stderr)
        return 0
    short = 0
    for split, store in stores.items():
        faces_found = int(store.detections["found"].sum()) if store.detections is not None else 0
        print(
            f"{split}: {len(store.clip_labels())} clips, {len(store)} frames, "
            f"{faces_found} faces -> {store.path}"
        )
        short += len(store.short)
    # What was left out, in a few lines whatever the count (a partial download misses
    # thousands of clips): each split's clips without video, and the clips not decoded.
    for line in skip_report(stores):
        print(line, file=sys.stderr)
    if short:
        what = "skipped" if arguments.skip_short else "kept (--skip-short leaves them out)"
        print(
            f"{short} clips decode far fewer frames than their container promises (truncated?): "
            f"{what}; named above and in each split's store.json",
            file=sys.stderr,
        )
    return 0


def _predict(arguments: argparse.Namespace) -> int:
    # Exit status: the number of videos that failed (at most 125); 2 for a refusal up front.
    return predict.predict_command(
        arguments.videos,
        arguments.checkpoint,
        arguments.source,
        arguments.device,
        arguments.out_dir,
        arguments.allow_synthetic,
    )


def _random_vgg_face(arguments: argparse.Namespace) -> int:
    import torch

    state = random_vgg_face(arguments.seed)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(arguments.out, lambda temporary: torch.save(state, temporary))
    print(arguments.out)
    return 0


def _chapters(arguments: argparse.Namespace) -> int:
    sources = chapters.chapter_sources(arguments.notebooks)
    if arguments.only:
        unknown = set(arguments.only) - {source.stem for source in sources}
        if unknown:
            raise ValueError(f"no chapter {sorted(unknown)} in {arguments.notebooks}")
        sources = [source for source in sources if source.stem in arguments.only]
    failed = []

    def skipped(stem: str, reason: str) -> None:
        print(f"== {stem} ({arguments.profile}): not run: {reason}", flush=True)

    def current(stem: str, done: str) -> None:
        print(f"== {stem} ({arguments.profile}): {done}", flush=True)

    def report(run) -> None:
        if run.returncode != 0:
            failed.append(run.stem)
            print(run.log[-6000:], file=sys.stderr)
        state = "ok" if run.returncode == 0 else f"FAILED ({run.returncode})"
        print(f"== {run.stem} ({arguments.profile}): {run.seconds:.0f} s, {state}", flush=True)

    chapters.run_chapters(
        sources,
        arguments.book_dir,
        arguments.profile,
        lanes=arguments.lanes,
        backbone_weights=arguments.backbone_weights,
        threads=arguments.threads,
        on_finish=report,
        data_root=arguments.data_root,
        on_skip=skipped,
        force=arguments.force,
        on_current=current,
        openface_dir=arguments.openface_dir,
    )
    if failed:
        print(f"error: chapters failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _check_run(arguments: argparse.Namespace) -> int:
    for line in preflight.check_run(
        arguments.profile,
        arguments.data_root,
        arguments.backbone_weights,
        arguments.openface_dir,
        arguments.only,
        arguments.notebooks,
    ):
        print(f"   {line}")
    return 0


def _layout(arguments: argparse.Namespace) -> int:
    stale = []
    for path, text in layout.generated(arguments.repository).items():
        current = path.read_text() if path.exists() else None
        if current != text:
            stale.append(path)
            if arguments.write:
                files.write_atomic(
                    path, lambda temporary, text=text: Path(temporary).write_text(text)
                )
    if not arguments.write:
        print(layout.markdown_map(Path(arguments.repository) / "personality_utils"))
    for path in stale:
        print(f"{'written' if arguments.write else 'stale'}: {path}", file=sys.stderr)
    return 1 if stale and not arguments.write else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m personality_utils``."""
    parser = argparse.ArgumentParser(prog="python -m personality_utils", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    synth = commands.add_parser("synth", help="write the planted-signal synthetic dataset")
    synth.add_argument("--out", type=Path, help="dataset root (default: the package cache)")
    synth.add_argument("--profile", default="default", choices=sorted(PROFILES))
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--workers", type=int, default=None, help="processes (0 = every core)")
    synth.add_argument("--cache-dir", type=Path, default=None)
    synth.set_defaults(run=_synth)
    prepare = commands.add_parser("prepare", help="sample frames of a dataset into frame stores")
    prepare.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="real dataset root (default: the synthetic set of --profile and --seed)",
    )
    prepare.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder of the stores (default: the cache folder train and evaluate read)",
    )
    prepare.add_argument("--profile", default="paper", choices=sorted(PROFILES))
    prepare.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes (default and 0: every core this process may use)",
    )
    prepare.add_argument("--no-faces", action="store_true", help="frames only, no face store")
    prepare.add_argument(
        "--skip-short",
        action="store_true",
        help="leave out clips that decode far fewer frames than their container promises "
        "(truncated downloads; by default they are sampled from the frames they have, with a "
        "warning)",
    )
    prepare.add_argument("--seed", type=int, default=0, help="seed of the synthetic set")
    prepare.add_argument("--cache-dir", type=Path, default=None)
    prepare.add_argument(
        "--part",
        type=int,
        help="sample only this share of the clips, from 0 to --parts - 1, and write no store "
        "(default: the Slurm array task's or Kubernetes indexed Job's index, if any)",
    )
    prepare.add_argument(
        "--parts",
        type=int,
        help=f"how many shares (default: SLURM_ARRAY_TASK_COUNT, or {PARTS_VARIABLE})",
    )
    prepare.add_argument(
        "--merge",
        action="store_true",
        help="write the stores from the parts' shards; refuse, naming the unfinished parts, "
        "when some clips have none (without it, prepare samples them here)",
    )
    prepare.set_defaults(run=_prepare)
    train = commands.add_parser(
        "train",
        help="train DAN+ or the CAM model and score it (several GPUs: start it with torchrun)",
    )
    evaluate = commands.add_parser(
        "evaluate", help="score a trained checkpoint, write the challenge CSV"
    )
    for command in (train, evaluate):
        command.add_argument(
            "--data-root",
            type=Path,
            default=None,
            help="real dataset root (default: the synthetic set)",
        )
        command.add_argument("--profile", default="default", choices=sorted(PROFILES))
        command.add_argument("--source", default="frames", choices=["frames", "faces"])
        command.add_argument("--kind", default="danplus", choices=["danplus", "cam", "cam_fig4"])
        command.add_argument("--device", default="auto")
        command.add_argument("--seed", type=int, default=0, help="seed of the synthetic set")
        command.add_argument(
            "--training-seed",
            type=int,
            default=None,
            help="seed of the training (default: --seed); it names the checkpoint folder",
        )
        command.add_argument("--cache-dir", type=Path, default=None)
        command.add_argument(
            "--backbone-weights",
            default=None,
            help='"imagenet" (if cached) or a VGG-Face state dict path (it also names the '
            "checkpoint folder)",
        )
    train.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="global batch, split across torchrun's processes (default: the profile's)",
    )
    train.add_argument(
        "--out",
        type=Path,
        default=None,
        help="checkpoint folder (default: under the stores)",
    )
    train.add_argument(
        "--fresh",
        action="store_true",
        help="start over: delete the checkpoint folder first (make book FORCE=1)",
    )
    train.add_argument(
        "--variant",
        default=None,
        choices=list(VARIANTS),
        help="a control training of the attribution chapter (personality_utils.models.variants): "
        "labels without the poster's signal, or random starting weights; its own folder",
    )
    train.add_argument(
        "--timeout-minutes",
        type=float,
        default=120,
        help="under torchrun: longest wait for the other processes",
    )
    train.set_defaults(run=steps.train)
    evaluate.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="checkpoint folder (default: the one train uses for these options)",
    )
    evaluate.add_argument("--out", type=Path, default=None, help="write the metrics as JSON")
    evaluate.add_argument(
        "--csv-dir",
        type=Path,
        default=None,
        help="folder of predictions_<split>.csv (default: the checkpoint folder)",
    )
    evaluate.set_defaults(run=steps.evaluate)
    guess = commands.add_parser(
        "predict",
        help="score your own videos (or folders of them) with a trained checkpoint, with an HTML "
        "report beside each; exit status: the number of videos that failed (at most 125)",
    )
    guess.add_argument(
        "videos",
        nargs="+",
        type=Path,
        metavar="VIDEO",
        help="mp4, mov, ... or a folder (searched recursively); several give predictions.csv "
        "and index.html in --out-dir",
    )
    guess.add_argument(
        "--checkpoint", type=Path, required=True, help="a trained model's folder (checkpoint.pt)"
    )
    guess.add_argument(
        "--source",
        choices=["frames", "faces"],
        default=None,
        help="what the model was trained on (default: 'faces' when the folder's name says so, "
        "as train names it, else 'frames')",
    )
    guess.add_argument("--device", default="auto")
    guess.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="folder of the reports (default: beside each video, <stem>.personality.html) and, "
        "for several videos, of predictions.csv and index.html (default: the current folder)",
    )
    guess.add_argument(
        "--allow-synthetic",
        action="store_true",
        help="score with a model trained on the synthetic set (refused by default: its scores "
        "say nothing about a real person)",
    )
    guess.set_defaults(run=_predict)
    weights = commands.add_parser(
        "random-vgg-face",
        help="write seeded random weights in the VGG-Face port's layout (the paper dry run)",
    )
    weights.add_argument("--out", type=Path, required=True, help="the .pth file to write")
    weights.add_argument("--seed", type=int, default=0)
    weights.set_defaults(run=_random_vgg_face)
    pretrain = commands.add_parser(
        "pretrain",
        help="pretrain the profile's backbone on synthetic identities (the CPU VGG-Face)",
    )
    pretrain.add_argument("--profile", default="default", choices=sorted(PROFILES))
    pretrain.set_defaults(run=steps.pretrain)
    plan = commands.add_parser(
        "training-plan",
        help="the models make trains before the chapters, one 'kind source seed' per line",
    )
    plan.add_argument("--profile", default="default", choices=sorted(PROFILES))
    plan.add_argument("--lanes", type=int, default=1, help="lanes the trainings are shared by")
    plan.add_argument("--lane", type=int, default=0, help="print this lane's share (from 0)")
    plan.add_argument(
        "--pending",
        action="store_true",
        help="leave out the trainings whose stamp matches their code, data and starting weights "
        "(their scores go to stderr)",
    )
    plan.add_argument("--force", action="store_true", help="with --pending: leave none out")
    plan.add_argument("--data-root", type=Path, default=None)
    plan.add_argument("--seed", type=int, default=0, help="seed of the synthetic set")
    plan.add_argument("--cache-dir", type=Path, default=None)
    plan.add_argument("--backbone-weights", default=None)
    plan.add_argument("--only", nargs="*", default=None, help="the models these chapters read")
    plan.set_defaults(run=steps.training_plan)
    run = commands.add_parser(
        "chapters", help="execute the book's chapters with papermill, in dependency order"
    )
    run.add_argument("--profile", default="default", choices=sorted(PROFILES))
    run.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="their folder")
    run.add_argument(
        "--book-dir", type=Path, default=Path("book"), help="where the executed chapters go"
    )
    run.add_argument("--only", nargs="+", default=None, help="these chapters only (stems)")
    run.add_argument("--lanes", type=int, default=2, help="chapters at a time")
    run.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of each")
    run.add_argument("--backbone-weights", default=None, help="for chapters with that parameter")
    run.add_argument(
        "--openface-dir", type=Path, default=None, help="OpenFace CSVs for chapter 07's AUs"
    )
    run.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="a real dataset's folder, for the chapters' data_root (default: the synthetic set)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="run every chapter, even those whose stamp says nothing they read has changed",
    )
    run.set_defaults(run=_chapters)
    check = commands.add_parser(
        "check-run",
        help="check a book run's arguments before any work (make book's first step)",
    )
    check.add_argument("--profile", default="default", choices=sorted(PROFILES))
    check.add_argument("--data-root", type=Path, default=None)
    check.add_argument("--backbone-weights", default=None)
    check.add_argument("--openface-dir", type=Path, default=None)
    check.add_argument("--only", nargs="*", default=None, help="these chapters only (stems)")
    check.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="their folder")
    check.set_defaults(run=_check_run)
    package_map = commands.add_parser(
        "layout",
        help="the package's map; exit 1 when the README's or the book's copy is stale",
    )
    package_map.add_argument("--repository", type=Path, default=Path("."))
    package_map.add_argument("--write", action="store_true", help="write the maps")
    package_map.set_defaults(run=_layout)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return arguments.run(arguments)
    except (vocabulary.DataError, FileNotFoundError, ValueError) as error:
        # Every refused or malformed input is a DataError (unsafe pickle, zip or weights,
        # malformed CSV, unreadable clip) whose message names the file, the problem and what
        # to do: one line, no traceback.
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
