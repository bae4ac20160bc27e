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
import dataclasses
import json
import logging
import os
import sys
import textwrap
from pathlib import Path

from personality_utils.book import chapters, layout, predict, stamps
from personality_utils.core import files, vocabulary
from personality_utils.core.profiles import PROFILES, get_profile
from personality_utils.data import datasets, release
from personality_utils.data.stores import build_frame_store, skip_report
from personality_utils.data.synthetic import generator
from personality_utils.models import distributed, experiments, pretraining, reporting, training
from personality_utils.models.networks import random_vgg_face


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
    print(f"sampling clips with {workers} processes", file=sys.stderr)
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
        )
        stores = {
            split: dataset.store(split)
            for split in vocabulary.SPLITS
            if (dataset.store_dir / split / "frames.npy").is_file()
        }
    else:
        if arguments.data_root is None:
            raise ValueError("--out needs --data-root: the dataset whose clips it samples")
        stores = build_frame_store(
            arguments.data_root,
            arguments.out,
            n_samples=profile.frames_per_clip,
            size=profile.store_size,
            workers=profile.workers,
            face_size=0 if arguments.no_faces else profile.face_size,
            skip_short=arguments.skip_short,
        )
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


def _report(experiment) -> str:
    """Print the checkpoint and each split's mean accuracy, interval, baseline and R²; return
    the same lines."""
    lines = [f"checkpoint: {experiment.checkpoint}"]
    for split in ("validation", "test"):
        scores = experiment.split(split)
        if scores is None:
            continue
        for scored, label in (
            (scores.all, split),
            (scores.identity_disjoint, f"{split} (new identities)"),
        ):
            if scored is None:
                continue
            low, high = scored.intervals.loc["mean"]
            lines.append(
                f"{label}: MA {scored.mean_accuracy:.4f} [{low:.4f}, {high:.4f}] (constant "
                f"{scored.constant_accuracy:.4f}, R² {scored.mean_r2:.3f}, {scored.clips} clips)"
            )
    print("\n".join(lines))
    return "\n".join(lines)


def _dataset(arguments: argparse.Namespace, progress: bool = True) -> datasets.Dataset:
    return datasets.prepare_dataset(
        arguments.profile,
        data_root=arguments.data_root,
        seed=arguments.seed,
        cache_dir=arguments.cache_dir,
        progress=progress,
    )


def _train(arguments: argparse.Namespace) -> int:
    profile = get_profile(arguments.profile)
    config = training.config_for(
        profile,
        arguments.kind,
        experiments.starting_weights(profile, arguments.backbone_weights),
        arguments.device,
        _training_seed(arguments),
        arguments.source,
    )
    if arguments.batch_size is not None:
        if arguments.batch_size < 1:
            raise ValueError(f"--batch-size must be positive, got {arguments.batch_size}")
        config = dataclasses.replace(config, batch_size=arguments.batch_size)
    context = distributed.from_environment()
    if context is None:
        dataset = _dataset(arguments)
        folder = _checkpoint_dir(arguments, dataset, config, profile)
        stamp = stamps.training_stamp(
            profile,
            arguments.kind,
            arguments.source,
            _training_seed(arguments),
            dataset.store_dir,
            config.backbone_weights,
        )
        if arguments.out is None:
            why = stamps.start_training(folder, stamp, arguments.fresh)
            if why:
                print(f"training from scratch ({why}): {folder}", file=sys.stderr)
        experiment = experiments.run_experiment(
            dataset,
            profile,
            arguments.source,
            arguments.kind,
            seed=_training_seed(arguments),
            config=config,
            checkpoint_dir=folder,
        )
        stamps.finish_training(folder, stamp, _report(experiment))
        return 0
    distributed.setup(context, arguments.device, arguments.timeout_minutes)
    try:
        dataset = distributed.main_first(context, lambda: _dataset(arguments, context.is_main))
        folder = _checkpoint_dir(arguments, dataset, config, profile)
        images, meta = experiments.source_arrays(dataset, "train", arguments.source)
        training.train_model(
            config, images, meta[list(vocabulary.TRAITS)].to_numpy(), folder, context=context
        )
    finally:
        distributed.teardown()
    if context.is_main:
        _report(experiments.load_experiment(dataset, folder, arguments.source, arguments.device))
    return 0


def _training_seed(arguments: argparse.Namespace) -> int:
    """The seed of the training: ``--training-seed``, or the data's ``--seed``."""
    chosen = getattr(arguments, "training_seed", None)
    return arguments.seed if chosen is None else chosen


def _pretrain(arguments: argparse.Namespace) -> int:
    path = pretraining.ensure_backbone(arguments.profile)
    if path is None:
        print(f"profile {arguments.profile} has no identity pretraining (nothing to do)")
        return 0
    learned = pretraining.summary(path)
    print(
        f"{learned['identities']} identities, {learned['training_crops']} training crops: "
        f"held-out identification {learned['held_out_accuracy']:.1%} (chance "
        f"{learned['chance']:.2%}), {learned['seconds']:.0f} s of training -> {path}"
    )
    return 0


def _training_plan(arguments: argparse.Namespace) -> int:
    jobs = experiments.training_plan(arguments.profile)
    share = experiments.lane_share(jobs, arguments.lanes, arguments.lane)
    if arguments.pending and share:
        profile = get_profile(arguments.profile)
        dataset = _dataset(arguments, progress=False)
        weights = experiments.starting_weights(profile, arguments.backbone_weights)
    for kind, source, seed in share:
        if arguments.pending:
            folder = experiments.experiment_dir(dataset, profile, kind, source, seed, weights)
            stamp = stamps.training_stamp(profile, kind, source, seed, dataset.store_dir, weights)
            report = stamps.finished_training(folder, stamp)
            if report is not None and not arguments.force:
                print(f"== up to date: {kind} on {source}, seed {seed}", file=sys.stderr)
                print(textwrap.indent(report, f"   {kind} {source} {seed}: "), file=sys.stderr)
                continue
        print(kind, source, seed)
    return 0


def _checkpoint_dir(arguments: argparse.Namespace, dataset, config, profile) -> Path:
    if arguments.out is not None:
        return arguments.out
    folder = experiments.experiment_dir(
        dataset,
        profile,
        arguments.kind,
        arguments.source,
        _training_seed(arguments),
        config.backbone_weights,
    )
    if config.batch_size != profile.recipe.batch_size:
        # Not the profile's recipe: keep it apart from the profile's own checkpoint.
        folder = folder.with_name(f"{folder.name}-batch{config.batch_size}")
    return folder


def _evaluate(arguments: argparse.Namespace) -> int:
    dataset = _dataset(arguments)
    checkpoint = arguments.checkpoint or experiments.experiment_dir(
        dataset,
        arguments.profile,
        arguments.kind,
        arguments.source,
        _training_seed(arguments),
        experiments.starting_weights(arguments.profile, arguments.backbone_weights),
    )
    experiment = experiments.load_experiment(
        dataset, checkpoint, arguments.source, arguments.device
    )
    _report(experiment)
    splits = [s for s in ("validation", "test") if experiment.split(s) is not None]
    csv_dir = arguments.csv_dir or Path(checkpoint)
    for split in splits:
        path = release.write_challenge_csv(
            experiment.split(split).all.predictions, csv_dir / f"predictions_{split}.csv"
        )
        print(f"{split} predictions (challenge format): {path}")
    if arguments.out is not None:
        record = {
            "checkpoint": str(checkpoint),
            "dataset": dataset.description,
            "source": arguments.source,
            "splits": {split: reporting.results_record(experiment, split) for split in splits},
        }
        files.write_atomic(
            arguments.out,
            lambda temporary: Path(temporary).write_text(json.dumps(record, indent=2) + "\n"),
        )
        print(f"metrics: {arguments.out}")
    return 0


def _predict(arguments: argparse.Namespace) -> int:
    trained = training.load_trained(arguments.checkpoint, arguments.device)
    source = arguments.source or predict.guess_source(arguments.checkpoint)
    failed = 0
    for video in arguments.videos:
        try:
            result = predict.predict_video(video, trained, source)
            path = predict.report_path(video, arguments.out_dir)
            try:
                predict.write_report(result, path)
            except OSError as error:
                raise vocabulary.DataError(
                    f"{path}: cannot write the report ({error.strerror}); choose a folder with "
                    "--out-dir"
                ) from None
        except (vocabulary.DataError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        print(result.summary())
        print(f"  report: {path}")
    return 2 if failed else 0


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
    )
    if failed:
        print(f"error: chapters failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


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
        "--timeout-minutes",
        type=float,
        default=120,
        help="under torchrun: longest wait for the other processes",
    )
    train.set_defaults(run=_train)
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
    evaluate.set_defaults(run=_evaluate)
    guess = commands.add_parser(
        "predict",
        help="score your own videos with a trained checkpoint, with an HTML report beside each",
    )
    guess.add_argument("videos", nargs="+", type=Path, metavar="VIDEO", help="mp4, mov, ...")
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
        help="folder of the reports (default: beside each video, <stem>.personality.html)",
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
    pretrain.set_defaults(run=_pretrain)
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
    plan.set_defaults(run=_training_plan)
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
