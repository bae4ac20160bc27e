"""What a trained model is worth: the record ``train`` keeps beside a checkpoint of what it was
trained on (``provenance.json``: the synthetic set or a real data root, the profile, source,
kind and seed, the starting weights, the validation and test scores with the constant
baseline), and the lines ``predict`` shows at the top of the terminal and of every page.

A model trained on the synthetic planted-signal set has only ever seen generated people: its
scores say nothing about a real person, and :func:`describe` says so in those words. A record
belongs to one ``checkpoint.pt`` (its SHA-256 is in it): a checkpoint rewritten after its
record, or one written before records were kept, has an unknown provenance, said as plainly.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from personality_utils.core.files import write_atomic
from personality_utils.core.profiles import get_profile
from personality_utils.models.experiments import pretrained_from
from personality_utils.models.networks import is_identity_backbone
from personality_utils.models.reporting import results_record
from personality_utils.models.variants import check_variant
from personality_utils.models.variants import describe as describe_variant

__all__ = [
    "PROVENANCE",
    "Provenance",
    "describe",
    "load_provenance",
    "record_training",
    "training_record",
    "write_provenance",
]

#: The record's file name, in the checkpoint folder.
PROVENANCE = "provenance.json"
_VERSION = 1
_SPLITS = ("validation", "test")


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _package_version() -> str:
    try:
        return metadata.version("personality_utils")
    except metadata.PackageNotFoundError:
        return "unknown"


def _backbone(config) -> dict:
    weights = config.backbone_weights
    if weights is None:
        start = "random"
    elif weights == "imagenet":
        start = "imagenet"
    elif is_identity_backbone(weights):
        start = "identity-pretrained"  # on the profile's synthetic identities
    else:
        start = "vgg-face"
    return {"weights": weights, "start": start, "described": pretrained_from(config)}


def training_record(
    experiment, dataset, profile, source: str, data_seed: int, variant: str | None = None
) -> dict:
    """The provenance of a trained, scored model.

    Args:
        experiment: The :class:`~personality_utils.models.experiments.Experiment` (its
            checkpoint folder holds ``checkpoint.pt``).
        dataset: The :class:`~personality_utils.data.datasets.Dataset` it was trained on.
        profile: The profile (or its name).
        source: ``"frames"`` or ``"faces"``.
        data_seed: The seed of the synthetic set (kept only when the data are synthetic).
        variant: The control training it is (:mod:`~personality_utils.models.variants`):
            recorded with its description as ``variant`` and ``variant_description``; None
            (the chapters' own model) records neither.
    """
    check_variant(variant)
    config = experiment.config
    if dataset.synthetic:
        data = {"kind": "synthetic", "root": str(dataset.root), "description": dataset.description}
        data["seed"] = data_seed
    else:
        data = {"kind": "real", "root": str(dataset.root), "description": dataset.description}
    scores = {}
    for split in _SPLITS:
        if experiment.split(split) is not None:
            scored = results_record(experiment, split)
            scored.pop("config", None)  # the checkpoint holds it
            scores[split] = scored
    checkpoint = Path(experiment.checkpoint) / "checkpoint.pt"
    control = {}
    if variant is not None:
        control = {"variant": variant, "variant_description": describe_variant(variant)}
    return {
        **control,
        "version": _VERSION,
        "dataset": data,
        "profile": get_profile(profile).name,
        "source": source,
        "kind": config.kind,
        "training_seed": config.seed,
        "backbone": _backbone(config),
        "scores": scores,
        "package_version": _package_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "checkpoint_sha256": _sha256(checkpoint),
    }


def write_provenance(folder: str | os.PathLike, record: dict) -> Path:
    """Write a record to ``<folder>/provenance.json`` atomically."""
    path = Path(folder) / PROVENANCE
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    write_atomic(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))
    return path


def record_training(
    folder: str | os.PathLike,
    experiment,
    dataset,
    profile,
    source: str,
    data_seed: int,
    variant: str | None = None,
) -> Path:
    """:func:`training_record` written beside the checkpoint (``train`` calls it)."""
    return write_provenance(
        folder, training_record(experiment, dataset, profile, source, data_seed, variant)
    )


@dataclass
class Provenance:
    """A checkpoint's provenance as ``predict`` shows it.

    Attributes:
        record: The record (None: unknown).
        details: What it was trained on and how well it scored (:func:`describe`), or why
            that is unknown.
    """

    record: dict | None
    details: list[str] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return self.record is not None

    @property
    def synthetic(self) -> bool:
        """Whether the model was trained on synthetic data (False when unknown)."""
        return self.known and self.record["dataset"]["kind"] == "synthetic"

    @property
    def warning(self) -> str:
        """The plain warning (empty for a model trained on real data)."""
        if not self.known:
            return (
                "Provenance unknown: nothing says what this model was trained on or how well it "
                "scored, so nothing says what its scores are worth."
            )
        if self.synthetic:
            return (
                "This model has only ever seen synthetic people (the generated planted-signal "
                "set): its scores say nothing about a real person."
            )
        return ""

    @property
    def lines(self) -> list[str]:
        """What ``predict`` prints first: the details, then the warning (if any)."""
        lines = [f"provenance: {detail}" for detail in self.details]
        return lines + ([f"WARNING: {self.warning}"] if self.warning else [])


def _scores_line(split: str, scored: dict) -> str:
    low, high = scored["mean_accuracy_interval"]
    constant = scored["constant_baseline_accuracy"]
    line = (
        f"{split}: MA {scored['mean_accuracy']:.4f} [{low:.4f}, {high:.4f}] against "
        f"{constant:.4f} for a constant prediction ({scored['clips']} clips)"
    )
    if high < constant:
        line += "; worse than the constant"
    elif low <= constant:
        line += "; its interval reaches the constant: not shown better than it"
    return line


def describe(record: dict) -> list[str]:
    """The lines that say what a model was trained on and how well it scored."""
    data = record["dataset"]
    if data["kind"] == "synthetic":
        described = data["description"]  # a synthetic set given as a data root: say so
        described = (
            described if "synthetic" in described else f"the synthetic set at {data['root']}"
        )
        trained_on = f"SYNTHETIC data only: {described}"
    else:
        # The root as recorded (absolute): the description is relative to where train ran.
        trained_on = f"real data: First Impressions at {data['root']}"
    backbone = record["backbone"]
    lines = [
        f"trained on {trained_on}",
        f"model: {record['kind']} on {record['source']}, {record['profile']} profile, training "
        f"seed {record['training_seed']}, started from {backbone['described']}",
    ]
    if record.get("variant"):
        lines.append(f"control training {record['variant']}: {record['variant_description']}")
    lines += [
        _scores_line(split, record["scores"][split])
        for split in _SPLITS
        if split in record["scores"]
    ]
    if not record["scores"]:
        lines.append("no validation or test score recorded")
    lines.append(f"recorded {record['date']} by personality_utils {record['package_version']}")
    return lines


def load_provenance(checkpoint_dir: str | os.PathLike) -> Provenance:
    """The provenance of a checkpoint folder: its record when it belongs to the folder's
    ``checkpoint.pt``, else unknown with the reason."""
    folder = Path(checkpoint_dir)
    path = folder / PROVENANCE
    if not path.is_file():
        why = (
            f"{path.name} missing: trained before records were kept, or not by train (running "
            "train again on its recipe writes it, reusing the finished model)"
        )
        return _unknown(why)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        describe(record)
        wanted = record["checkpoint_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return _unknown(f"{path}: unreadable ({type(error).__name__}: {error})")
    checkpoint = folder / "checkpoint.pt"
    if not checkpoint.is_file() or _sha256(checkpoint) != wanted:
        return _unknown(f"{path} belongs to another checkpoint.pt (rewritten after the record)")
    return Provenance(record, describe(record))


def _unknown(why: str) -> Provenance:
    return Provenance(None, [f"unknown ({why})"])
