"""How the CPU profiles fine-tune their identity-pretrained backbone: train DAN+ from random
weights and from the pretrained backbone with several fine-tuning recipes, and print the
validation scores side by side (the choice is made on validation, never on test).

    .venv/bin/python benchmarks/pretraining_recipe.py [--source faces] [--variants a b ...]
        [--training-seed 0]

Each variant changes the profile's recipe (the CPU profiles' own is full rate, 1e-3 to 1e-4
over 4 epochs); the profile's arithmetic (bfloat16 where native) and threads (OMP_NUM_THREADS)
apply.

The pretraining itself is the profile's (cached, as ``make models`` leaves it); its held-out
identification accuracy and time are printed first.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from personality_utils.core import vocabulary
from personality_utils.core.profiles import get_profile
from personality_utils.data import datasets
from personality_utils.models import experiments, pretraining, training

VARIANTS = {
    "random weights, 5 epochs": dict(pretrained=False, epochs=5),
    "pretrained, every layer at the full rate, 5 epochs": dict(backbone_lr_scale=1.0, epochs=5),
    "pretrained, backbone at 0.3 of the rate, 5 epochs": dict(backbone_lr_scale=0.3, epochs=5),
    "pretrained, backbone at 0.1 of the rate, 5 epochs": dict(backbone_lr_scale=0.1, epochs=5),
    "pretrained, backbone at 0.3 of the rate, 3 epochs": dict(backbone_lr_scale=0.3, epochs=3),
    "pretrained, full rate, 1e-3 to 1e-5 over 5 epochs": dict(lr_end=1e-5, epochs=5),
    "pretrained, full rate, 1e-3 to 1e-4 over 5 epochs": dict(lr_end=1e-4, epochs=5),
    "pretrained, full rate, 1e-3 to 1e-5 over 7 epochs": dict(lr_end=1e-5, epochs=7),
    "pretrained, full rate, 1e-3 to 1e-4 over 3 epochs": dict(lr_end=1e-4, epochs=3),
    "pretrained, full rate, 1e-3 to 1e-4 over 4 epochs (the profile's)": dict(
        lr_end=1e-4, epochs=4
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="faces", choices=["frames", "faces"])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--variants", nargs="*", default=None, help="indices into VARIANTS")
    parser.add_argument("--training-seed", type=int, default=0)
    arguments = parser.parse_args()
    profile = get_profile(arguments.profile)
    started = time.perf_counter()
    path = pretraining.ensure_backbone(profile, progress=False)
    learned = pretraining.summary(path)
    print(
        f"pretraining: {learned['identities']} identities, {learned['training_crops']} crops, "
        f"held-out identification {learned['held_out_accuracy']:.3f} (chance "
        f"{learned['chance']:.4f}), {time.perf_counter() - started:.0f} s here "
        f"({learned['seconds']:.0f} s training when it was made)"
    )
    dataset = datasets.prepare_dataset(profile, progress=False)
    train_images, train_meta = experiments.source_arrays(dataset, "train", arguments.source)
    valid_images, valid_meta = experiments.source_arrays(dataset, "validation", arguments.source)
    labels = dataset.store("train").clip_labels()
    print(f"{arguments.source}, {len(train_images)} training images")
    print(f"{'variant':55s} {'s':>5s} {'val MA':>7s} {'gain':>7s} {'R2 per trait':>30s}")
    chosen = list(VARIANTS.items())
    if arguments.variants:
        chosen = [chosen[int(i)] for i in arguments.variants]
    for name, changes in chosen:
        changes = dict(changes)
        weights = str(path) if changes.pop("pretrained", True) else None
        config = training.config_for(
            profile, "danplus", weights, "cpu", arguments.training_seed, arguments.source
        )
        config = dataclasses.replace(config, **changes)
        started = time.perf_counter()
        trained = training.train_model(
            config,
            np.asarray(train_images),
            train_meta[list(vocabulary.TRAITS)].to_numpy(),
            progress=False,
        )
        seconds = time.perf_counter() - started
        scored = experiments.evaluate_model(trained, np.asarray(valid_images), valid_meta, labels)
        r2 = " ".join(f"{scored.metrics.loc[t, 'r2']:+.2f}" for t in vocabulary.TRAITS)
        accuracy = scored.metrics.loc["mean", "accuracy"]
        gain = accuracy - scored.constant_accuracy
        print(
            f"{name:55s} {seconds:5.0f} {accuracy:7.4f} {gain:+7.4f} {r2:>30s}",
            flush=True,
        )


if __name__ == "__main__":
    main()
