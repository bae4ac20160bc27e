"""Chapter 05b end to end: every method's maps of every model, their scores against the planted
causes and the controls, gathered into one leaderboard, the chapter's measurements for the
claims and its results record.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from personality_utils.attribution import study
from personality_utils.attribution.removal import Removal, removal
from personality_utils.cam import checks
from personality_utils.cam import maps as cam_maps
from personality_utils.core.profiles import AttributionSettings
from personality_utils.core.stats import N_RESAMPLES, estimate
from personality_utils.core.vocabulary import ATTRIBUTION_METHODS, TRAITS
from personality_utils.data.synthetic.generator import dataset_identity
from personality_utils.data.synthetic.labels import face_driven

__all__ = ["Model", "AttributionStudy", "run", "JUDGED", "FILL", "CONTROLS"]

#: The model the claims judge (the paper's CAM model on full frames).
JUDGED = "CAM model"
#: The fill the claims read (the other one is reported beside it, with their agreement).
FILL = "training mean"
#: The CAM model's controls, as the leaderboard names them.
CONTROLS = {
    "no_poster": "no-poster control",
    "random_init": "random start",
    "randomised": "randomised",
}


@dataclass
class Model:
    """One model the chapter explains.

    Attributes:
        label: Its name in the tables (``"CAM model"``, ``"DAN+"``, ``"DAN+ (faces)"``).
        source: ``"frames"`` or ``"faces"``.
        seeds: Its trained models, one per training seed (the first is the one the removal
            curves and the controls use).
        checkpoints: Each seed's checkpoint folder (its maps are cached there).
        removal: Whether its removal curves are computed.
    """

    label: str
    source: str
    seeds: Sequence[Any]
    checkpoints: Sequence[Any]
    removal: bool = True


@dataclass
class AttributionStudy:
    """What :func:`run` measured.

    Attributes:
        samples: The sampled images per source.
        tables: Per model label, the per-image scores of every map (seeds averaged).
        seed_tables: Per model label, the per-image scores of every map for each seed.
        removals: Per model label whose removal curves were computed.
        controls: Per control (``no_poster``, ``random_init``, ``randomised``), the CAM
            model's per-image scores.
        settings: What was run.
        seconds: Wall time of each step.
    """

    samples: dict[str, study.Sample]
    tables: dict[str, pd.DataFrame]
    seed_tables: dict[str, list[pd.DataFrame]]
    removals: dict[str, Removal]
    controls: dict[str, pd.DataFrame]
    rank_correlation: dict[str, float]
    settings: AttributionSettings
    synthetic: bool
    n_boot: int
    seed: int
    seconds: dict[str, float] = field(default_factory=dict)
    #: Summaries already computed (each bootstraps every group: the tables, the figures, the
    #: measurements and the record all read the same ones).
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def _once(self, key: str, compute):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # ------------------------------------------------------------------------------------------
    # Tables
    # ------------------------------------------------------------------------------------------

    def description(self) -> str:
        """One line: what was sampled and run, and how long each step took."""
        sizes = ", ".join(f"{len(s)} {source}" for source, s in self.samples.items())
        steps = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in self.seconds.items())
        return (
            f"{sizes} (one image per test clip; removal curves on the first "
            f"{self.settings.removal_images}); {self.n_boot} people resamples; time: {steps}"
        )

    def scores(self) -> pd.DataFrame:
        """Mean relevance mass, rank accuracy, pointing game and face overlap per model, map and
        trait, with people intervals; the image-blind maps once per source, as their own
        "model", and the CAM model's controls (:data:`CONTROLS`) as further models."""
        return self._once("scores", self._scores).copy()

    def _scores(self) -> pd.DataFrame:
        frames, priors_shown = [], set()
        for label, table in self.tables.items():
            source = self.samples_of(label)
            if source in priors_shown:  # the image-blind maps once per source
                table = table[~table["method"].isin(study.PRIORS)]
            priors_shown.add(source)
            summary = study.summarise(table, self.n_boot, self.seed)
            blind = summary["method"].isin(study.PRIORS)
            summary.insert(0, "model", np.where(blind, f"image-blind ({source})", label))
            frames.append(summary)
        for name, table in self.controls.items():  # the CAM model's controls, as rows too
            summary = study.summarise(table, self.n_boot, self.seed)
            summary.insert(0, "model", f"{JUDGED} ({CONTROLS[name]})")
            frames.append(summary)
        return pd.concat(frames, ignore_index=True)

    def leaderboard(self, measure: str = "mass") -> pd.DataFrame:
        """Maps (rows: model · map) by trait (columns) on one measure, best first by the mean
        over traits."""
        scores = self.scores()
        scores["map"] = scores["model"] + " · " + scores["method"]
        table = scores.pivot(index="map", columns="trait", values=measure)[list(TRAITS)]
        table["mean"] = table.mean(axis=1)
        return table.sort_values("mean", ascending=False)

    def seed_spread(self) -> pd.DataFrame:
        """For models with several training seeds: each seed's mean relevance mass per map and
        trait, and their range."""
        rows = []
        for label, tables in self.seed_tables.items():
            if len(tables) < 2:
                continue
            means = [t.groupby(["method", "trait"])["mass"].mean() for t in tables]
            joined = pd.concat(means, axis=1, keys=[f"seed {k}" for k in range(len(tables))])
            joined["range"] = joined.max(axis=1) - joined.min(axis=1)
            joined.insert(0, "model", label)
            rows.append(joined.reset_index())
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    def removal_table(self) -> pd.DataFrame:
        """SRG per model, map, trait and fill with people intervals and the random orders'
        band."""
        return self._once("removal", self._removal_table).copy()

    def _removal_table(self) -> pd.DataFrame:
        frames = []
        for label, result in self.removals.items():
            summary = result.summary(self.n_boot, self.seed)
            summary.insert(0, "model", label)
            frames.append(summary)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    # ------------------------------------------------------------------------------------------
    # Comparisons
    # ------------------------------------------------------------------------------------------

    def localisation_gain(self) -> dict[str, dict]:
        """Per frame model, method and trait: relevance mass minus the face-location prior's."""
        return {
            label: study.compare(
                table, table, "mass", self.n_boot, self.seed, against="face-location prior"
            )
            for label, table in self.tables.items()
            if self.samples_of(label) == "frames"
        }

    def samples_of(self, label: str) -> str:
        return str(self.tables[label].attrs.get("source", "frames"))

    def control_drop(self, control: str) -> dict[str, dict[str, dict]]:
        """Per method and trait: the CAM model's relevance mass minus the control's."""
        if control not in self.controls:
            return {}
        return self._once(
            f"drop {control}",
            lambda: study.compare(
                self.tables[JUDGED], self.controls[control], "mass", self.n_boot, self.seed
            ),
        )

    def false_positive(self, context_trait: str) -> dict[str, dict]:
        """Per method: the context trait's mass on the poster, trained minus the no-poster
        control."""
        drops = self.control_drop("no_poster")
        return {method: traits[context_trait] for method, traits in drops.items()}

    def backbone(self) -> dict[str, dict]:
        """Per method: relevance mass in the planted regions (mean over traits, image by
        image), pretrained minus random start."""
        if "random_init" not in self.controls:
            return {}

        def over_traits(table: pd.DataFrame) -> pd.DataFrame:
            means = table.groupby(["method", "image", "person"], as_index=False)["mass"].mean()
            return means.assign(trait="all")

        drops = study.compare(
            over_traits(self.tables[JUDGED]),
            over_traits(self.controls["random_init"]),
            "mass",
            self.n_boot,
            self.seed,
        )
        return {method: traits["all"] for method, traits in drops.items()}

    def removal_against_null(self) -> dict[str, dict]:
        """The judged model's SRG (the claims' fill) per method and trait, with the random
        orders' upper band as the bar."""
        if JUDGED not in self.removals:
            return {}
        table = self.removal_table()
        rows = table[(table["model"] == JUDGED) & (table["fill"] == FILL)]
        out: dict[str, dict] = {}
        for row in rows.itertuples():
            if row.method in study.PRIORS:
                continue
            out.setdefault(row.method, {})[row.trait] = {
                **estimate(row.srg, row.srg_low, row.srg_high),
                "bar": float(row.null_high),
            }
        return out

    def context_trait(self, dataset) -> str | None:
        """The trait planted on the poster (synthetic set), None on real data."""
        return face_driven(dataset_identity(dataset.root))[1] if self.synthetic else None

    def cause(self) -> dict[str, Any]:
        """The paper's overlap against the mass on the planted cause, across the judged model's
        maps, with the means behind it
        (:func:`~personality_utils.attribution.study.overlap_against_cause`)."""
        return self._once(
            "cause",
            lambda: study.overlap_against_cause(self.tables[JUDGED], self.n_boot, self.seed),
        )

    def overlap_against_cause(self) -> dict[str, dict]:
        """:meth:`cause`'s correlations: per trait, and over every trait (``"all traits"``)."""
        cause = self.cause()
        return {"all traits": cause["spearman"], **cause["by_trait"]}

    def measurements(self, dataset, trait_r2: Mapping[str, float], instruments) -> dict:
        """The chapter's record (:class:`~personality_utils.core.records.AttributionRecord`)."""
        context = self.context_trait(dataset)
        removal_ = self.removals.get(JUDGED)
        return {
            "localisation_gain": self.localisation_gain() if self.synthetic else {},
            "false_positive_drop": self.false_positive(context) if context else {},
            "randomisation_drop": self.control_drop("randomised") if self.synthetic else {},
            "removal_against_null": self.removal_against_null(),
            "fill_agreement": removal_.fill_agreement if removal_ is not None else None,
            "overlap_against_cause": self.overlap_against_cause() if self.synthetic else {},
            "backbone_gain": self.backbone() if self.synthetic else {},
            "context_trait": context,
            "trait_r2": dict(trait_r2),
            "instruments": instruments,
        }

    def record(self) -> dict[str, Any]:
        """The results file's headline: per model, method and trait every score with its
        interval, the controls, and what was run."""
        scores = self.scores()
        removal_ = self.removal_table()
        per_method: dict[str, dict] = {}
        for row in scores.to_dict(orient="records"):
            cell = per_method.setdefault(row["model"], {}).setdefault(row["method"], {})
            cell[row["trait"]] = {
                name: estimate(row[measure], row[f"{measure}_low"], row[f"{measure}_high"])
                for name, measure in (
                    ("relevance_mass", "mass"),
                    ("rank_accuracy", "rank"),
                    ("pointing_game", "pointing"),
                    ("face_overlap", "overlap"),
                )
            }
        for row in removal_.to_dict(orient="records") if len(removal_) else []:
            # A prior's removal score is the model's (its output under the prior's order).
            cell = (
                per_method.setdefault(row["model"], {})
                .setdefault(row["method"], {})
                .setdefault(row["trait"], {})
            )
            cell.setdefault("srg", {})[row["fill"]] = {
                **estimate(row["srg"], row["srg_low"], row["srg_high"]),
                "null_band": [row["null_low"], row["null_high"]],
            }
        drops = {name: self.control_drop(name) for name in ("no_poster", "randomised")}
        for name, key in (("no_poster", "false_positive_drop"), ("randomised", "randomisation")):
            for method, traits in drops[name].items():
                for trait, value in traits.items():
                    per_method[JUDGED][method][trait][key] = value
        return {
            "methods": list(ATTRIBUTION_METHODS),
            "priors": list(study.PRIORS),
            "scores": per_method,
            "rank_correlation_randomised": self.rank_correlation,
            "backbone_gain": self.backbone(),
            "settings": {
                **self.settings.__dict__,
                "images": {source: len(s) for source, s in self.samples.items()},
            },
            "seconds": self.seconds,
        }


# ----------------------------------------------------------------------------------------------
# Running it
# ----------------------------------------------------------------------------------------------


def run(
    dataset,
    models: Sequence[Model],
    controls: Mapping[str, Any],
    settings: AttributionSettings,
    n_boot: int = N_RESAMPLES,
    seed: int = 0,
) -> AttributionStudy:
    """Sample the test images, map them with every method for every model (and the CAM model's
    controls: ``no_poster``, ``random_init``, plus a fully randomised copy made here), and
    score the maps.

    Args:
        models: The models explained; the one labelled :data:`JUDGED` is the CAM model.
        controls: ``{"no_poster": trained, "random_init": trained}``, either may be missing
            (not trained on this profile or this data).
    """
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = seconds.get(name, 0.0) + now - clock
        clock = now

    size = int(models[0].seeds[0].config.input_size)
    sources = sorted({model.source for model in models})
    samples = {s: study.sample(dataset, s, settings.images, size, seed) for s in sources}
    baselines = {s: study.training_mean(dataset, s, size, seed=seed) for s in sources}
    original = dataset.store("train").frames.shape[1]
    train_boxes = cam_maps.dlib_boxes(dataset.store("train")) * (size / original)
    priors = {
        s: study.prior_maps(samples[s], train_boxes if s == "frames" else None, seed)
        for s in sources
    }
    lap("sample")

    tables: dict[str, pd.DataFrame] = {}
    seed_tables: dict[str, list[pd.DataFrame]] = {}
    first_maps: dict[str, dict[str, np.ndarray]] = {}
    for model in models:
        sample = samples[model.source]
        per_seed = []
        for k, (trained, folder) in enumerate(zip(model.seeds, model.checkpoints, strict=True)):
            maps = study.model_maps(
                trained, sample, ATTRIBUTION_METHODS, settings, baselines[model.source], folder
            )
            if k == 0:
                first_maps[model.label] = {**maps, **priors[model.source]}
            per_seed.append(study.localisation({**maps, **priors[model.source]}, sample))
        seed_tables[model.label] = per_seed
        tables[model.label] = _seed_mean(per_seed)
        tables[model.label].attrs["source"] = model.source
        lap(f"maps {model.label}")

    judged = next(model for model in models if model.label == JUDGED)
    frames = samples[judged.source]
    control_tables: dict[str, pd.DataFrame] = {}
    rank_correlation: dict[str, float] = {}
    randomised = study.randomised(judged.seeds[0], seed)
    named = {**{k: v for k, v in controls.items() if v is not None}, "randomised": randomised}
    for name, trained in named.items():
        maps = study.model_maps(
            trained,
            frames,
            ATTRIBUTION_METHODS,
            settings,
            baselines[judged.source],
            judged.checkpoints[0],
            tag=name,
        )
        control_tables[name] = study.localisation(maps, frames)
        if name == "randomised":
            rank_correlation = {
                method: float(
                    np.nanmean(
                        checks.rank_correlation(
                            first_maps[JUDGED][method].reshape(-1, size * size),
                            values.reshape(-1, size * size),
                        )
                    )
                )
                for method, values in maps.items()
            }
        lap(f"maps {name}")

    removals: dict[str, Removal] = {}
    for model in models:
        if not model.removal:
            continue
        n = min(settings.removal_images, len(samples[model.source]))
        subset = samples[model.source].subset(n)
        maps = {name: values[:n] for name, values in first_maps[model.label].items()}
        removals[model.label] = removal(
            model.seeds[0], subset, maps, baselines[model.source], settings, seed
        )
        lap(f"removal {model.label}")
    return AttributionStudy(
        samples,
        tables,
        seed_tables,
        removals,
        control_tables,
        rank_correlation,
        settings,
        bool(dataset.synthetic),
        n_boot,
        seed,
        seconds,
    )


def _seed_mean(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Per map, trait and image, each score's mean over the training seeds."""
    if len(tables) == 1:
        return tables[0].copy()
    stacked = pd.concat(tables, ignore_index=True)
    return stacked.groupby(["method", "trait", "image", "person"], as_index=False, sort=False)[
        list(study.MEASURES)
    ].mean()
