"""The command line's model steps (``python -m personality_utils train | evaluate | pretrain |
training-plan``): what ``make models`` runs before the chapters, each reading the options
:mod:`personality_utils.__main__` parsed.

``train`` trains and scores one model as chapters 03-04 do, resuming from its checkpoint and
stamped (:mod:`.stamps`) so that ``training-plan --pending`` lists only the stale ones, in one
process or under ``torchrun`` (:mod:`personality_utils.models.distributed`), and writes the
provenance record ``predict`` shows (:mod:`personality_utils.models.provenance`); ``evaluate``
scores a checkpoint and writes the challenge CSV; ``pretrain`` makes the CPU profiles'
identity-pretrained backbone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import textwrap
from pathlib import Path

from personality_utils.book import preflight, stamps
from personality_utils.core import files, vocabulary
from personality_utils.core.profiles import get_profile
from personality_utils.data import datasets, release
from personality_utils.models import (
    distributed,
    experiments,
    pretraining,
    reporting,
    training,
    variants,
)
from personality_utils.models.provenance import record_training

__all__ = ["evaluate", "pretrain", "report", "train", "training_plan"]


def report(experiment) -> str:
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


def dataset_of(arguments: argparse.Namespace, progress: bool = True) -> datasets.Dataset:
    return datasets.prepare_dataset(
        arguments.profile,
        data_root=arguments.data_root,
        seed=arguments.seed,
        cache_dir=arguments.cache_dir,
        progress=progress,
    )


def train(arguments: argparse.Namespace) -> int:
    profile = get_profile(arguments.profile)
    variant = variants.check_variant(getattr(arguments, "variant", None))
    # What the chapters' own model starts from: a control (--variant) is named and stamped by
    # it, and a random_init control keeps its network (variants.variant_config).
    weights = experiments.starting_weights(profile, arguments.backbone_weights)
    config = training.config_for(
        profile,
        arguments.kind,
        weights,
        arguments.device,
        training_seed(arguments),
        arguments.source,
    )
    if arguments.batch_size is not None:
        if arguments.batch_size < 1:
            raise ValueError(f"--batch-size must be positive, got {arguments.batch_size}")
        config = dataclasses.replace(config, batch_size=arguments.batch_size)
    config = variants.variant_config(config, variant)
    context = distributed.from_environment()
    if context is None:
        dataset = dataset_of(arguments)
        folder = checkpoint_dir(arguments, dataset, config, profile, weights)
        stamp = stamps.training_stamp(
            profile,
            arguments.kind,
            arguments.source,
            training_seed(arguments),
            dataset.store_dir,
            weights,
            variant,
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
            seed=training_seed(arguments),
            config=config,
            checkpoint_dir=folder,
            variant=variant,
        )
        stamps.finish_training(folder, stamp, report(experiment))
        record_training(
            folder, experiment, dataset, profile, arguments.source, arguments.seed, variant
        )
        return 0
    distributed.setup(context, arguments.device, arguments.timeout_minutes)
    try:
        dataset = distributed.main_first(context, lambda: dataset_of(arguments, context.is_main))
        folder = checkpoint_dir(arguments, dataset, config, profile, weights)
        images, meta = experiments.source_arrays(dataset, "train", arguments.source)
        labels = variants.variant_labels(
            dataset, meta, meta[list(vocabulary.TRAITS)].to_numpy(), variant, config.seed
        )
        training.train_model(config, images, labels, folder, context=context)
    finally:
        distributed.teardown()
    if context.is_main:
        experiment = experiments.load_experiment(
            dataset, folder, arguments.source, arguments.device
        )
        report(experiment)
        record_training(
            folder, experiment, dataset, profile, arguments.source, arguments.seed, variant
        )
    return 0


def training_seed(arguments: argparse.Namespace) -> int:
    """The seed of the training: ``--training-seed``, or the data's ``--seed``."""
    chosen = getattr(arguments, "training_seed", None)
    return arguments.seed if chosen is None else chosen


def pretrain(arguments: argparse.Namespace) -> int:
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


def training_plan(arguments: argparse.Namespace) -> int:
    """Print the trainings ``make models`` runs, one ``kind source seed`` line each, with the
    variant after them for a control training (:mod:`personality_utils.models.variants`)."""
    jobs = experiments.training_plan(arguments.profile, synthetic=arguments.data_root is None)
    if not preflight.trains_models(arguments.only):
        jobs = []  # the chapters asked for read no model (make book ONLY="01_data 02_faces")
    elif arguments.only and variants.CHAPTER not in arguments.only:
        jobs = [job for job in jobs if job[3] is None]  # only the attribution chapter reads them
    share = experiments.lane_share(jobs, arguments.lanes, arguments.lane)
    if arguments.pending and share:
        profile = get_profile(arguments.profile)
        dataset = dataset_of(arguments, progress=False)
        weights = experiments.starting_weights(profile, arguments.backbone_weights)
    for kind, source, seed, variant in share:
        model = f"{kind} {source} {seed}" + ("" if variant is None else f" {variant}")
        if arguments.pending:
            folder = experiments.experiment_dir(
                dataset, profile, kind, source, seed, weights, variant
            )
            stamp = stamps.training_stamp(
                profile, kind, source, seed, dataset.store_dir, weights, variant
            )
            report = stamps.finished_training(folder, stamp)
            if report is not None and not arguments.force:
                named = "" if variant is None else f" ({variant})"
                print(f"== up to date: {kind}{named} on {source}, seed {seed}", file=sys.stderr)
                print(textwrap.indent(report, f"   {model}: "), file=sys.stderr)
                continue
        print(model)
    return 0


def checkpoint_dir(
    arguments: argparse.Namespace, dataset, config, profile, weights: str | None
) -> Path:
    """The folder ``train`` trains in: ``--out``, else :func:`~personality_utils.models.
    experiments.experiment_dir` of the options (``weights``: what the chapters' own model
    starts from; ``--variant``'s suffix), with ``-batch<N>`` for a batch other than the
    profile's."""
    if arguments.out is not None:
        return arguments.out
    folder = experiments.experiment_dir(
        dataset,
        profile,
        arguments.kind,
        arguments.source,
        training_seed(arguments),
        weights,
        getattr(arguments, "variant", None),
    )
    if config.batch_size != profile.recipe.batch_size:
        # Not the profile's recipe: keep it apart from the profile's own checkpoint.
        folder = folder.with_name(f"{folder.name}-batch{config.batch_size}")
    return folder


def evaluate(arguments: argparse.Namespace) -> int:
    dataset = dataset_of(arguments)
    checkpoint = arguments.checkpoint or experiments.experiment_dir(
        dataset,
        arguments.profile,
        arguments.kind,
        arguments.source,
        training_seed(arguments),
        experiments.starting_weights(arguments.profile, arguments.backbone_weights),
    )
    experiment = experiments.load_experiment(
        dataset, checkpoint, arguments.source, arguments.device
    )
    report(experiment)
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
