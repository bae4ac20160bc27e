"""How much label noise the synthetic set can carry: relabel the default profile's cached
images with another noise share (the same images, the same noise draws, only their weight
changes) and train DAN+ on them, printing its validation and test gain over the constant.

    .venv/bin/python benchmarks/noise_calibration.py faces 0.1 [--epochs 5] [--random-weights]

This is how ``synthetic.NOISE_SHARE`` was calibrated (chapter 01 gives the figures): at the
generator's earlier 0.3 the CPU models gained under half of the paper's MA over the constant.
Changing the share changes no image: ``make_clip_recipe`` draws the noise whatever its weight.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import pandas as pd

from personality_utils.core import vocabulary
from personality_utils.core.profiles import get_profile
from personality_utils.data import datasets
from personality_utils.data.synthetic import generator
from personality_utils.data.synthetic import labels as data_synthetic_labels
from personality_utils.models import experiments, training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=["frames", "faces"])
    parser.add_argument("noise_share", type=float)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--random-weights", action="store_true", help="no identity pretraining")
    parser.add_argument("--training-seed", type=int, default=0)
    arguments = parser.parse_args()
    profile = get_profile("default")
    dataset = datasets.prepare_dataset(profile, progress=False)
    data_synthetic_labels.NOISE_SHARE = (
        arguments.noise_share
    )  # the labels only; recipes are redrawn below
    recipes = generator._recipes(profile, 0)
    labels = pd.DataFrame({r.clip: r.labels for r in recipes}).T[list(vocabulary.TRAITS)]

    def relabel(meta: pd.DataFrame) -> pd.DataFrame:
        meta = meta.copy()
        meta[list(vocabulary.TRAITS)] = labels.loc[meta["clip"].to_numpy()].to_numpy()
        return meta

    images, meta = experiments.source_arrays(dataset, "train", arguments.source)
    meta = relabel(meta)
    train_labels = labels.loc[dataset.store("train").clip_labels().index]
    weights = None if arguments.random_weights else experiments.starting_weights(profile)
    config = training.config_for(
        profile, "danplus", weights, "cpu", arguments.training_seed, arguments.source
    )
    if arguments.epochs:
        config = dataclasses.replace(config, epochs=arguments.epochs)
    started = time.perf_counter()
    trained = training.train_model(
        config, np.asarray(images), meta[list(vocabulary.TRAITS)].to_numpy(), progress=False
    )
    for split in ("validation", "test"):
        split_images, split_meta = experiments.source_arrays(dataset, split, arguments.source)
        scored = experiments.evaluate_model(
            trained, np.asarray(split_images), relabel(split_meta), train_labels
        )
        accuracy = scored.metrics.loc["mean", "accuracy"]
        r2 = " ".join(f"{scored.metrics.loc[t, 'r2']:+.2f}" for t in vocabulary.TRAITS)
        print(
            f"{arguments.source}, noise {arguments.noise_share:g}, "
            f"{'random weights' if weights is None else 'pretrained'}, {config.epochs} epochs, "
            f"{split}: MA {accuracy:.4f}, gain {accuracy - scored.constant_accuracy:+.4f}, "
            f"R² {r2} ({time.perf_counter() - started:.0f} s)"
        )


if __name__ == "__main__":
    main()
