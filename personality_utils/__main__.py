"""Command line: ``python -m personality_utils synth | prepare | train``.

``synth`` writes the planted-signal synthetic dataset in the official layout; ``prepare`` builds
the frame and face stores of a dataset (real or synthetic) outside the notebooks, on every core;
``train`` trains and scores one model as chapters 03-04 do (resuming from its checkpoint).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import data, synthetic
from .profiles import PROFILES, get_profile


def _synth(arguments: argparse.Namespace) -> int:
    profile = get_profile(arguments.profile)
    if arguments.out is None:
        root = synthetic.ensure_dataset(profile, arguments.seed, arguments.cache_dir)
    else:
        root = synthetic.generate_dataset(
            arguments.out, profile, arguments.seed, workers=arguments.workers
        )
    print(root)
    return 0


def _prepare(arguments: argparse.Namespace) -> int:
    profile = get_profile(arguments.profile)
    if arguments.workers is not None:
        profile = profile.replace(workers=arguments.workers)
    stores = data.build_frame_store(
        arguments.data_root,
        arguments.out,
        n_samples=profile.frames_per_clip,
        size=profile.store_size,
        workers=profile.workers,
        face_size=0 if arguments.no_faces else profile.face_size,
    )
    skipped = 0
    for split, store in stores.items():
        faces_found = int(store.detections["found"].sum()) if store.detections is not None else 0
        print(
            f"{split}: {len(store.clip_labels())} clips, {len(store)} frames, "
            f"{faces_found} faces -> {store.path}"
        )
        for clip, reason in sorted(store.skipped.items()):
            print(f"  skipped {clip}: {reason}", file=sys.stderr)
        skipped += len(store.skipped)
    if skipped:
        print(
            f"{skipped} clips skipped (listed above and in each split's store.json)",
            file=sys.stderr,
        )
    return 0


def _train(arguments: argparse.Namespace) -> int:
    from . import training

    profile = get_profile(arguments.profile)
    dataset = data.prepare_dataset(
        profile, data_root=arguments.data_root, seed=arguments.seed, cache_dir=arguments.cache_dir
    )
    experiment = training.run_experiment(
        dataset,
        profile,
        arguments.source,
        arguments.kind,
        arguments.backbone_weights,
        arguments.device,
        arguments.seed,
    )
    print(f"checkpoint: {experiment['checkpoint']}")
    for split in ("validation", "test"):
        if split in experiment:
            scored = experiment[split]["all"]
            print(
                f"{split}: MA {scored['metrics'].loc['mean', 'accuracy']:.4f} "
                f"(constant {scored['baseline']['mean']:.4f}, {scored['clips']} clips)"
            )
    return 0


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
    prepare.add_argument("--data-root", type=Path, required=True)
    prepare.add_argument("--out", type=Path, required=True, help="folder of the stores")
    prepare.add_argument("--profile", default="paper", choices=sorted(PROFILES))
    prepare.add_argument("--workers", type=int, default=None, help="processes (0 = every core)")
    prepare.add_argument("--no-faces", action="store_true", help="frames only, no face store")
    prepare.set_defaults(run=_prepare)
    train = commands.add_parser("train", help="train DAN+ or the CAM model and score it")
    train.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="real dataset root (default: the synthetic set)",
    )
    train.add_argument("--profile", default="default", choices=sorted(PROFILES))
    train.add_argument("--source", default="frames", choices=["frames", "faces"])
    train.add_argument("--kind", default="danplus", choices=["danplus", "cam", "cam_fig4"])
    train.add_argument(
        "--backbone-weights",
        default=None,
        help='"imagenet" (if cached) or a VGG-Face state dict path',
    )
    train.add_argument("--device", default="auto")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--cache-dir", type=Path, default=None)
    train.set_defaults(run=_train)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return arguments.run(arguments)
    except (data.DataError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
