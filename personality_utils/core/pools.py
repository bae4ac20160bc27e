"""The worker pools of the per-clip and per-identity work: processes started fresh, never forked.

A forked worker inherits the state of every thread of its parent, not the threads themselves:
a lock one of them held, or a thread pool a library keeps (FFmpeg's swscale slice threads,
which PyAV 18 uses for every frame conversion; OpenMP's, once torch has run), can leave it
waiting forever. That happened: a data stage's worker hung inside ``VideoFrame.to_ndarray``
(``avpriv_slicethread_free``) after its parent had decoded video itself, and the test run
waited with it. A spawned worker starts its own interpreter and imports what its task needs
(about a second), so nothing of the parent's threads comes with it.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

__all__ = ["process_pool"]


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes (their tasks and results are pickled as always;
    the task function must be importable, as a module-level function is)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
