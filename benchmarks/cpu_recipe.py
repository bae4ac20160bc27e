"""Why the CPU profiles train the way they do: train recipe variants on the synthetic default
set and print their speed and validation scores side by side.

    .venv/bin/python benchmarks/cpu_recipe.py [--source faces] [--epochs 5]

Each variant is one model (DAN+ unless it says CAM) on the same training frames, with the default
profile's recipe except where the variant says otherwise; the printed table is what chapter 03's
choice of recipe (1/8 width, batch normalisation, Adam) and of the CPU profiles' CAM head rests
on.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from personality_utils.core import vocabulary
from personality_utils.core.profiles import get_profile
from personality_utils.data import datasets
from personality_utils.models import experiments, training

VARIANTS = {
    "1/8 width, plain VGG, Adam": dict(width_divisor=8, batch_norm=False),
    "1/8 width, batch norm, Adam (chosen)": dict(width_divisor=8, batch_norm=True),
    "1/16 width, batch norm, Adam": dict(width_divisor=16, batch_norm=True),
    "1/8 width, plain VGG, the authors' SGD recipe": dict(
        width_divisor=8,
        batch_norm=False,
        optimizer="sgd",
        lr_end=1e-6,
        lr_schedule_length=30,
        weight_decay=5e-4,
        input_mean="mean_image",
    ),
    # Chapter 03's choice of CAM head for the CPU profiles.
    "CAM model, the authors' head": dict(kind="cam", width_divisor=8, batch_norm=True),
    "CAM model, the Fig. 4 head (chosen)": dict(kind="cam_fig4", width_divisor=8, batch_norm=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="faces", choices=["frames", "faces"])
    parser.add_argument("--epochs", type=int, default=None)
    arguments = parser.parse_args()
    profile = get_profile("default")
    dataset = datasets.prepare_dataset(profile, progress=False)
    train = dataset.faces("train") if arguments.source == "faces" else dataset.store("train")
    valid = (
        dataset.faces("validation") if arguments.source == "faces" else dataset.store("validation")
    )
    train_images = np.asarray(train.crops if arguments.source == "faces" else train.frames)
    valid_images = np.asarray(valid.crops if arguments.source == "faces" else valid.frames)
    labels = dataset.store("train").clip_labels()
    base = training.config_for(profile, "danplus", device="cpu", source=arguments.source)
    if arguments.epochs:
        base = dataclasses.replace(base, epochs=arguments.epochs)
    print(f"{arguments.source}, {len(train_images)} training images, {base.epochs} epochs")
    print(
        f"{'variant':40s} {'img/s':>7s} {'last loss':>10s} {'val MA':>7s} {'constant':>9s} "
        f"{'mean r':>7s}"
    )
    for name, changes in VARIANTS.items():
        config = dataclasses.replace(base, **changes)
        started = time.perf_counter()
        trained = training.train_model(
            config, train_images, train.meta[list(vocabulary.TRAITS)].to_numpy(), progress=False
        )
        speed = len(train_images) * config.epochs / (time.perf_counter() - started)
        scored = experiments.evaluate_model(trained, valid_images, valid.meta, labels)
        metrics = scored.metrics
        print(
            f"{name:40s} {speed:7.0f} {trained.history[-1]['loss']:10.4f} "
            f"{metrics.loc['mean', 'accuracy']:7.4f} {scored.constant_accuracy:9.4f} "
            f"{metrics.loc['mean', 'pearson']:7.3f}"
        )


if __name__ == "__main__":
    main()
