"""How strong a fair null can the CPU profiles afford? Held-out identification of the identity
pretraining (the CPU profiles' VGG-Face, chapters 03-04 fine-tune it, chapter 06 reads it as
the network before fine-tuning) per epoch, for the profile's own pretraining and for longer or
larger ones, with the seconds each epoch took.

    .venv/bin/python benchmarks/fair_null_curve.py [--profile default] [--variants 0 1 ...]
        [--json PATH]

Each variant pretrains from scratch in its own cache folder (a temporary one unless
PERSONALITY_UTILS_CACHE is set), so the book's backbone is never touched; the profile's
arithmetic (bfloat16 where native) and threads (OMP_NUM_THREADS) apply. Issue 25 asks for a
null that identifies at least 60% of held-out people; this prints how far each budget gets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from personality_utils.core.profiles import get_profile
from personality_utils.models import pretraining

#: Changes to the profile's IdentityPretraining, by name.
VARIANTS = {
    "the profile's": {},
    "the profile's crops, 18 epochs": {"epochs": 18},
    "twice the crops per person, 18 epochs": {"images_per_identity": 20, "epochs": 18},
    "100 people, 40 crops each, 18 epochs": {
        "identities": 100,
        "images_per_identity": 40,
        "held_out_per_identity": 4,
        "epochs": 18,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--variants", nargs="*", type=int, default=None, help="indices")
    parser.add_argument("--json", type=Path, default=None, help="also write the curves here")
    arguments = parser.parse_args()
    profile = get_profile(arguments.profile)
    if profile.pretraining is None:
        raise SystemExit(f"profile {profile.name!r} has no identity pretraining")
    names = list(VARIANTS)
    chosen = names if arguments.variants is None else [names[i] for i in arguments.variants]
    curves = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in chosen:
            settings = dataclasses.replace(profile.pretraining, **VARIANTS[name])
            variant = profile.replace(pretraining=settings)
            started = time.perf_counter()
            path = pretraining.pretrain(variant, cache_dir=scratch, progress=False)
            learned = pretraining.summary(path)
            total = time.perf_counter() - started
            curve = [
                {
                    "epoch": row["epoch"],
                    "held_out_accuracy": row["held_out_accuracy"],
                    "seconds": row["seconds"],
                }
                for row in learned["history"]
            ]
            curves[name] = {
                "settings": dataclasses.asdict(settings),
                "chance": learned["chance"],
                "seconds_with_rendering": total,
                "curve": curve,
            }
            print(
                f"{name}: {settings.identities} people x {settings.images_per_identity} crops "
                f"({learned['training_crops']} training, {learned['held_out_crops']} held out), "
                f"chance {learned['chance']:.4f}, {total:.0f} s with rendering"
            )
            for row in curve:
                print(
                    f"    epoch {row['epoch']:2d}: held-out identification "
                    f"{row['held_out_accuracy']:.3f} ({row['seconds']:.0f} s)"
                )
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(curves, indent=1))


if __name__ == "__main__":
    main()
