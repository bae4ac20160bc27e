"""What every chapter does first and last, in one call each.

A chapter opens with :func:`start` (after its papermill ``parameters`` cell): the profile, the
dataset (made or read on first use), plotly's output mode, the device and backbone weights, and
a line saying which data produced every number below. It ends with :meth:`Chapter.finish`:
its claims judged and printed (:func:`personality_utils.claims.catalogue.report`) and its results
file written, with the measurements the summary judges the same claims from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personality_utils.book import chapters
from personality_utils.claims import catalogue
from personality_utils.core import profiles, records, results
from personality_utils.core.files import shown_path
from personality_utils.core.profiles import Profile
from personality_utils.core.vocabulary import DataError
from personality_utils.data import datasets
from personality_utils.data.stores import skip_report
from personality_utils.figures import plots
from personality_utils.models import experiments
from personality_utils.models.networks import is_identity_backbone, resolve_device


@dataclass
class Chapter:
    """One chapter's run: its stem, profile, dataset and the options of its models."""

    stem: str
    settings: Profile
    dataset: Any
    device: str = "auto"
    seed: int = 0
    backbone_weights: str | None = None

    @property
    def number(self) -> str:
        """The chapter's number, ``"05"`` for ``05_cam``."""
        return self.stem.split("_", 1)[0]

    def compare_with_authors(self):
        """The profile in use beside the authors' recipe, for this chapter's settings
        (:func:`~personality_utils.core.profiles.compare_with_authors`)."""
        return profiles.compare_with_authors(self.settings, chapter=self.number)

    def experiment(
        self,
        source: str,
        kind: str = "danplus",
        training_seed: int | None = None,
        variant: str | None = None,
    ) -> experiments.Experiment:
        """A model of chapters 03-04 on ``frames`` or ``faces``: trained on first use, then
        reloaded from its checkpoint and scored
        (:func:`~personality_utils.models.experiments.run_experiment`). ``training_seed`` None: the
        chapter's seed (the first of :attr:`training_seeds`). ``variant``: one of the
        attribution chapter's control trainings (:mod:`~personality_utils.models.variants`),
        None for the chapters' own model."""
        return experiments.run_experiment(
            self.dataset,
            self.settings,
            source,
            kind,
            self.backbone_weights,
            self.device,
            self.seed if training_seed is None else training_seed,
            progress=False,
            variant=variant,
        )

    def pretrained_backbone(self) -> Path | None:
        """The identity-pretrained backbone the chapter's models start from (the CPU profiles'
        VGG-Face, :mod:`~personality_utils.models.pretraining`), pretrained first if it is not
        cached; None when they start from given weights or from random ones."""
        start = experiments.starting_weights(self.settings, self.backbone_weights, progress=False)
        if start is None or start == "imagenet" or not is_identity_backbone(start):
            return None
        return Path(start)

    @property
    def training_seeds(self) -> list[int]:
        """The training seeds of DAN+ (the profile's ``seeds``, from the chapter's seed on)."""
        return [self.seed + k for k in range(self.settings.seeds)]

    def seed_runs(self, source: str) -> experiments.SeedRuns:
        """DAN+ on ``source`` once per training seed (:class:`~personality_utils.models.experiments.
        SeedRuns`); the first is :meth:`experiment`'s."""
        return experiments.SeedRuns(
            {k: self.experiment(source, "danplus", k) for k in self.training_seeds}
        )

    def output(self, name: str) -> Path:
        """A further file of the chapter beside its results file: ``results/<stem>_<name>``."""
        folder = results.results_dir()
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{self.stem}_{name}"

    def save(self, record: dict[str, Any]) -> Path:
        """Write the chapter's results file (``results/<stem>.json``) with the profile, the data
        and whether they are synthetic."""
        path = results.save_results(
            self.stem,
            {**record, "synthetic": self.dataset.synthetic},
            profile=self.settings.name,
            data=self.dataset.description,
        )
        print(f"saved {shown_path(path)}")
        return path

    def finish(self, measurements: dict[str, Any], record: dict[str, Any] | None = None) -> list:
        """ "What held": fill the chapter's record
        (:data:`~personality_utils.core.records.RECORDS`) from ``measurements``, judge and print
        the chapter's claims from it, then save both with ``record`` (:meth:`save`), with the
        fields left unfilled (``measurements_omitted``). Returns the claim rows."""
        omitted: list[str] = []
        kind = records.RECORDS.get(self.stem)
        if kind is not None:  # the chapter's typed record: an undeclared key is an error
            filled, omitted = kind.fill(self.stem, measurements)
            measurements = filled.to_dict()
        rows = catalogue.report(self.stem, measurements, self.dataset.synthetic)
        self.save(
            {
                **(record or {}),
                "measurements": measurements,
                "measurements_omitted": omitted,
                "claims": rows,
            }
        )
        return rows


def start(
    stem: str,
    profile: str,
    data_root: str | None = None,
    device: str = "auto",
    seed: int = 0,
    backbone_weights: str | None = None,
    models: bool = True,
) -> Chapter:
    """Open a chapter: plotly's output mode, the profile and the dataset (synthetic when
    ``data_root`` is None, made on first use), and a line naming the data, device and weights.

    What the stores left out is printed in a few lines (:func:`~personality_utils.data.stores.
    skip_report`). A chapter whose splits (:data:`~personality_utils.book.chapters.CHAPTERS`)
    have no clip on disk raises :class:`~personality_utils.core.vocabulary.DataError` saying
    which and why; the runner does not start such a chapter at all.

    Args:
        stem: The chapter, e.g. ``"05_cam"``.
        profile, data_root, device, seed, backbone_weights: The chapter's parameters.
        models: Whether the chapter runs models (then the device and weights are printed).
    """
    plots.setup()
    settings = profiles.get_profile(profile)
    dataset = datasets.prepare_dataset(settings, data_root=data_root, seed=seed, progress=False)
    print(f"{dataset.description}; profile {settings.name}")
    stores = dataset.stores()
    for line in skip_report(stores):  # a few lines, however many clips are missing
        print(line)
    if models:
        weights = backbone_weights or "random"
        if weights not in ("random", "imagenet"):
            weights = shown_path(weights)  # no absolute path of this machine in the page
        print(f"device: {resolve_device(device)}; backbone weights: {weights}")
    lacking = chapters.missing_splits(stem, stores)
    if lacking:
        raise DataError(
            f"{dataset.root}: chapter {stem} needs clips of {', '.join(lacking)}; put them "
            "under data_root, or run only chapters 01, 02 and 08 on this partial dataset"
        )
    return Chapter(stem, settings, dataset, device, seed, backbone_weights)
