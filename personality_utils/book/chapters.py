"""Running the book's chapters: their order, what each reads from another, and the runner that
``make book``, ``make dry-run`` and ``tests/test_notebooks.py`` all use
(``python -m personality_utils chapters``).

Each chapter is a jupytext notebook ``notebooks/NN_name.py``, converted to ``.ipynb`` and executed
by papermill with the profile (and, where the chapter has that parameter, the backbone weights),
from an output folder whose ``results/`` receives what the chapters save. Chapters run ``lanes``
at a time, each with its share of the cores: much of a chapter is one-thread Python, so on two
cores two side by side take a quarter less time than one after another. A chapter starts once
the chapters it reads from have finished; of those ready, the longest start first.

A chapter whose stamp (:mod:`.stamps`: its code cells, the package code it runs, the chapters it
reads, the data and models) matches its last successful run is not run again; when only its
prose changed, its executed page gets the new text and keeps its outputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from personality_utils.book import stamps
from personality_utils.core.profiles import get_profile
from personality_utils.data import datasets
from personality_utils.models import experiments, pretraining


@dataclass(frozen=True)
class ChapterSpec:
    """One chapter of the book: what it reads from other chapters' runs and which splits'
    clips it cannot do without."""

    stem: str
    #: Chapters whose run it reads (results, or caches such as chapter 06's unit statistics).
    needs: frozenset[str] = frozenset()
    #: Splits whose clips it needs: chapters 03-04 score their models on test, chapters 05-06
    #: study the test split, chapter 07 also chooses its ridge penalty on validation. Chapters
    #: 01, 02 and 08 work with whatever splits have clips.
    splits: tuple[str, ...] = ()
    #: Whether it reads the trained models (and the weights they start from): chapters 01-02
    #: read the data alone, so retraining does not make them run again (:func:`inputs_digest`).
    models: bool = True


#: The book's chapters, the one place that says what each reads and needs. The summary
#: (:data:`SUMMARY`) reads every chapter.
CHAPTERS: dict[str, ChapterSpec] = {
    spec.stem: spec
    for spec in (
        ChapterSpec("01_data", models=False),
        ChapterSpec("02_faces", models=False),
        ChapterSpec("03_full_frames", splits=("test",)),
        ChapterSpec("04_faces_model", frozenset({"03_full_frames"}), ("test",)),
        ChapterSpec("05_cam", splits=("test",)),
        ChapterSpec("05b_attribution", splits=("train", "test")),
        ChapterSpec("06_units", splits=("test",)),
        ChapterSpec("07_action_units", frozenset({"06_units"}), ("validation", "test")),
        ChapterSpec("08_summary"),
    )
}
#: What a chapter reads from another one's run (from :data:`CHAPTERS`).
NEEDS: dict[str, frozenset[str]] = {
    stem: spec.needs for stem, spec in CHAPTERS.items() if spec.needs
}
#: The chapter that reads every other chapter's results.
SUMMARY = "08_summary"
#: Started first when ready (the longest on the 2-core CI machine).
LONGEST: tuple[str, ...] = ("05b_attribution", "05_cam", "06_units", "03_full_frames")


def missing_splits(stem: str, stores: Mapping[str, Any]) -> list[str]:
    """What a chapter lacks of its :attr:`ChapterSpec.splits` in ``stores`` (split ->
    FrameStore): one phrase per needed split with no clip on disk, saying why (no labels, or no
    video)."""
    lacking = []
    spec = CHAPTERS.get(stem, ChapterSpec(stem))
    for split in spec.splits:
        store = stores.get(split)
        if store is None:
            lacking.append(f"{split} (no labels under data_root)")
        elif len(store) == 0:
            lacking.append(f"{split} ({len(store.missing_videos)} labelled clips, no video)")
    return lacking


def cannot_run(stems: Sequence[str], stores: Mapping[str, Any]) -> dict[str, str]:
    """The chapters of ``stems`` that cannot run on a dataset's ``stores``, each with one line
    saying why (the runner reports it and does not start them)."""
    out = {}
    for stem in stems:
        lacking = missing_splits(stem, stores)
        if lacking:
            out[stem] = f"needs clips of {', '.join(lacking)}"
    return out


@dataclass
class ChapterRun:
    """One chapter executed: its executed notebook, papermill's exit status and output."""

    stem: str
    output: Path
    returncode: int
    log: str
    seconds: float


def chapter_sources(folder: str | os.PathLike = "notebooks") -> list[Path]:
    """The chapters of a notebooks folder, ``NN_name.py``, in file order."""
    return sorted(Path(folder).glob("[0-9]*.py"))


def needs(stems: Sequence[str]) -> dict[str, frozenset[str]]:
    """What each of ``stems`` must wait for, among ``stems`` (a chapter run alone waits for
    nothing: it reads what an earlier run left)."""
    present = set(stems)
    out = {}
    for stem in stems:
        wanted = set(present - {stem}) if stem == SUMMARY else set(NEEDS.get(stem, ()))
        out[stem] = frozenset(wanted & present)
    return out


def schedule(stems: Sequence[str]) -> list[str]:
    """The order chapters start in with one lane: longest first among those whose chapters
    needed have run. Raises ValueError on a cycle."""
    waiting = sorted(stems, key=_priority)
    required = needs(stems)
    order: list[str] = []
    while waiting:
        ready = [stem for stem in waiting if required[stem] <= set(order)]
        if not ready:
            raise ValueError(f"chapters wait on each other: {waiting}")
        order.append(ready[0])
        waiting.remove(ready[0])
    return order


def _priority(stem: str) -> tuple[int, str]:
    rank = {name: index for index, name in enumerate(LONGEST)}
    return (rank.get(stem, len(rank)), stem)


def has_parameter(text: str, name: str) -> bool:
    """Whether a chapter's source (its text) assigns ``name`` at the top level, as its
    ``parameters`` cell does for each parameter papermill may set."""
    return f"\n{name} = " in text


def kernel_path(path: str | os.PathLike, output: Path) -> str:
    """``path`` (absolute, or relative to this process's working directory) as the chapter
    executed into ``output`` reaches it: relative to ``output``'s folder, the kernel's working
    directory. Papermill writes the parameters into the executed notebook, which the book shows,
    so an absolute path there would print the build machine's folders in a page."""
    here = os.path.abspath(Path(path).expanduser())
    return os.path.relpath(here, os.path.abspath(output.parent))


def papermill_command(
    source: Path,
    notebook: Path,
    output: Path,
    profile: str,
    backbone_weights: str | None = None,
    data_root: str | os.PathLike | None = None,
    openface_dir: str | os.PathLike | None = None,
) -> list[str]:
    """The papermill call for one chapter; ``backbone_weights``, ``data_root`` (None: the
    synthetic set) and ``openface_dir`` (OpenFace's CSVs, with ``au_source`` set to read them)
    only where the chapter has that parameter."""
    command = [sys.executable, "-m", "papermill", str(notebook), str(output)]
    command += ["-p", "profile", profile]
    text = source.read_text(encoding="utf-8")
    if backbone_weights and has_parameter(text, "backbone_weights"):
        weights = str(backbone_weights)
        if weights != "imagenet":  # a file: reached from the kernel's folder (kernel_path)
            weights = kernel_path(weights, output)
        command += ["-p", "backbone_weights", weights]
    if data_root is not None and has_parameter(text, "data_root"):
        command += ["-p", "data_root", kernel_path(data_root, output)]
    if openface_dir is not None and has_parameter(text, "openface_dir"):
        command += ["-p", "openface_dir", kernel_path(openface_dir, output)]
        command += ["-p", "au_source", "openface"]
    command += ["--cwd", str(output.parent), "--kernel", "python3", "--language", "python"]
    command += ["--no-progress-bar"]
    return command + ["--log-level", "WARNING"]


def run_chapter(
    source: Path,
    out_dir: Path,
    profile: str,
    backbone_weights: str | None = None,
    environment: dict[str, str] | None = None,
    threads: int | None = None,
    data_root: str | os.PathLike | None = None,
    openface_dir: str | os.PathLike | None = None,
) -> ChapterRun:
    """Convert one chapter to ``.ipynb`` and execute it into ``out_dir/<stem>.ipynb``
    (``data_root``: a real dataset's folder instead of the synthetic set)."""
    import jupytext

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results").mkdir(exist_ok=True)
    start = time.perf_counter()
    output = out_dir / f"{source.stem}.ipynb"
    unexecuted = out_dir / f".{source.stem}.unexecuted.ipynb"
    jupytext.write(jupytext.read(source), unexecuted)
    env = dict(os.environ if environment is None else environment)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env["PERSONALITY_UTILS_LIVE"] = "0"  # explorers.LIVE_ENV: a batch run shows no widgets
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    try:
        done = subprocess.run(
            papermill_command(
                source, unexecuted, output, profile, backbone_weights, data_root, openface_dir
            ),
            env=env,
            capture_output=True,
            check=False,
            text=True,
        )
    finally:
        unexecuted.unlink(missing_ok=True)
    return ChapterRun(
        source.stem, output, done.returncode, done.stdout + done.stderr, time.perf_counter() - start
    )


def inputs_digest(
    profile: str,
    data_root: str | os.PathLike | None = None,
    backbone_weights: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    models: bool = True,
) -> str:
    """What the chapters read besides code (:func:`.stamps.inputs_digest`): the stores of the
    dataset (absent when not prepared yet: every chapter then runs), the checkpoints of the
    profile's training plan and the weights the models start from (with ``models`` only: the
    data alone otherwise)."""
    settings = get_profile(profile)
    store_dir = datasets.store_dir_for(settings, data_root, cache_dir=cache_dir)
    if not models:
        return stamps.inputs_digest(settings, store_dir, [], [])
    weights = backbone_weights
    if weights is None and settings.pretraining is not None:
        weights = str(pretraining.backbone_path(settings, cache_dir))
    where = SimpleNamespace(store_dir=store_dir)  # what experiment_dir reads of a dataset
    folders = [
        experiments.experiment_dir(where, settings, kind, source, seed, weights, variant)
        for kind, source, seed, variant in experiments.training_plan(
            settings, synthetic=data_root is None
        )
    ]
    return stamps.inputs_digest(settings, store_dir, folders, [weights] if weights else [])


def chapter_stamps(
    sources: Sequence[Path],
    profile: str,
    parameters: Mapping[str, object],
    inputs: Callable[[bool], str],
) -> dict[str, stamps.Stamp]:
    """The stamp of each chapter of ``sources`` (:func:`.stamps.chapter_stamp`), with
    ``inputs(models)`` what it reads besides code (:func:`inputs_digest`, by
    :attr:`ChapterSpec.models`); the chapters each reads are taken from the same folder, so a
    chapter run alone still depends on them."""
    folder = Path(sources[0]).parent if sources else Path("notebooks")
    everything = {path.stem: path for path in chapter_sources(folder)}
    everything.update({Path(path).stem: Path(path) for path in sources})
    made: dict[str, stamps.Stamp] = {}
    reads = needs(list(everything))
    for stem in schedule(list(everything)):
        read = {name: made[name].code for name in reads[stem]}
        text = everything[stem].read_text(encoding="utf-8")
        chosen = {"profile": profile}
        chosen.update({k: v for k, v in parameters.items() if has_parameter(text, k)})
        reads_models = CHAPTERS.get(stem, ChapterSpec(stem)).models
        made[stem] = stamps.chapter_stamp(everything[stem], chosen, read, inputs(reads_models))
    return {Path(path).stem: made[Path(path).stem] for path in sources}


def run_chapters(
    sources: Sequence[Path],
    out_dir: str | os.PathLike,
    profile: str,
    lanes: int = 2,
    backbone_weights: str | None = None,
    environment: dict[str, str] | None = None,
    threads: int | None = None,
    on_finish: Callable[[ChapterRun], None] | None = None,
    data_root: str | os.PathLike | None = None,
    unrunnable: Mapping[str, str] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    force: bool = True,
    on_current: Callable[[str, str], None] | None = None,
    openface_dir: str | os.PathLike | None = None,
) -> dict[str, ChapterRun]:
    """Execute chapters ``lanes`` at a time in an order that respects :data:`NEEDS`.

    A chapter whose chapters needed failed still runs (it reports what it misses), so one
    failure shows every other chapter's state too.

    Args:
        sources: The chapters' ``.py`` files.
        out_dir: Where the executed notebooks go (their working directory: results land in
            ``out_dir/results`` unless ``$PERSONALITY_UTILS_RESULTS`` says otherwise).
        profile: The papermill ``profile`` parameter.
        lanes: Chapters at a time.
        backbone_weights: The ``backbone_weights`` parameter, for chapters that have it.
        environment: The chapters' environment (default: this process's).
        threads: ``OMP_NUM_THREADS`` of each chapter (default: inherited).
        on_finish: Called with each chapter's :class:`ChapterRun` as it ends.
        data_root: The ``data_root`` parameter (a real dataset's folder; None: the synthetic
            set).
        unrunnable: Chapters not to start, each with why (default: :func:`cannot_run` on the
            stores of ``data_root``, prepared here first; none on the synthetic set).
        on_skip: Called with each of those and its reason.
        force: Run every chapter. False: run only those whose stamp (:func:`chapter_stamps`)
            differs from their last successful run's (or whose executed notebook or results
            file is missing), refresh the text of those whose prose alone changed, and save the
            stamp of each chapter that succeeds.
        on_current: Called with each chapter not run and what was done instead.
        openface_dir: OpenFace's CSVs for the chapter that reads action units (None: its
            default, the offline estimator).

    Returns:
        ``{stem: ChapterRun}``.
    """
    by_stem = {source.stem: Path(source) for source in sources}
    if unrunnable is None and data_root is not None:  # the synthetic set has every split
        cache = (environment or os.environ).get("PERSONALITY_UTILS_CACHE")
        dataset = datasets.prepare_dataset(profile, data_root=data_root, cache_dir=cache)
        unrunnable = cannot_run(list(by_stem), dataset.stores())
    skipped = dict(unrunnable or {})
    for stem, reason in skipped.items():
        if stem in by_stem:
            del by_stem[stem]
            if on_skip is not None:
                on_skip(stem, reason)
    out = Path(out_dir)
    cache = (environment or os.environ).get("PERSONALITY_UTILS_CACHE")
    results = (environment or os.environ).get("PERSONALITY_UTILS_RESULTS")
    results_dir = Path(results) if results else out / "results"
    parameters = {
        "backbone_weights": stamps.file_digest(backbone_weights) if backbone_weights else None,
        "data_root": str(Path(data_root).resolve()) if data_root is not None else None,
        "openface_dir": str(Path(openface_dir).resolve()) if openface_dir is not None else None,
    }
    parameters = {name: value for name, value in parameters.items() if value is not None}

    def inputs() -> Callable[[bool], str]:
        digests = {
            models: inputs_digest(profile, data_root, backbone_weights, cache, models)
            for models in (False, True)
        }
        return digests.__getitem__

    if not force and any(stamps.stamp_path(out, stem).is_file() for stem in by_stem):
        current = chapter_stamps(list(by_stem.values()), profile, parameters, inputs())
        for stem in list(by_stem):
            saved = stamps.read_stamp(stamps.stamp_path(out, stem))
            executed = out / f"{stem}.ipynb"
            outputs = (executed, results_dir / f"{stem}.json")
            if saved is None or saved.code != current[stem].code:
                continue
            if not all(path.is_file() for path in outputs):
                continue
            if saved.prose == current[stem].prose:
                done = "up to date"
            elif stamps.refresh_prose(by_stem[stem], executed):
                stamps.write_stamp(stamps.stamp_path(out, stem), current[stem])
                done = "text refreshed, outputs kept"
            else:
                continue
            del by_stem[stem]
            if on_current is not None:
                on_current(stem, done)
    required = needs(list(by_stem))
    waiting = schedule(list(by_stem))
    finished: dict[str, ChapterRun] = {}
    with ThreadPoolExecutor(max_workers=max(1, lanes)) as pool:
        running: dict = {}
        while waiting or running:
            for stem in [stem for stem in waiting if required[stem] <= set(finished)]:
                if len(running) >= max(1, lanes):
                    break
                future = pool.submit(
                    run_chapter,
                    by_stem[stem],
                    out,
                    profile,
                    backbone_weights,
                    environment,
                    threads,
                    data_root,
                    openface_dir,
                )
                running[future] = stem
                waiting.remove(stem)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                run = future.result()
                finished[running.pop(future)] = run
                if on_finish is not None:
                    on_finish(run)
    failed = {stem for stem, run in finished.items() if run.returncode != 0}
    read = needs(list(finished))
    succeeded = [
        stem for stem, run in finished.items() if run.returncode == 0 and not read[stem] & failed
    ]
    if not force and succeeded:
        # Stamped with what they read, as it is now that they have run (a chapter may train a
        # model it reads on first use).
        made = chapter_stamps([by_stem[s] for s in succeeded], profile, parameters, inputs())
        for stem in succeeded:
            stamps.write_stamp(stamps.stamp_path(out, stem), made[stem])
    return finished
