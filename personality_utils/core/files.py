"""Files that are never half-written: atomic writes, advisory locks and the user's umask."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = [
    "write_atomic",
    "follow_umask",
    "shown_path",
    "read_json",
]


# ----------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask can only set it)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(path: str | os.PathLike, directory: bool = False) -> None:
    """Give ``path`` the permissions a plain ``open`` or ``mkdir`` would have: 0o666 (files) or
    0o777 (folders) less the process's umask. Temporary files and folders are created
    owner-only; what replaces the final path must not stay so, or a shared data folder breaks.
    """
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


@contextlib.contextmanager
def file_lock(path: str | os.PathLike):
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block, so that
    processes building the same dataset or store (two chapters started side by side on a cold
    cache) take turns instead of writing the same files at once. POSIX ``flock``; where it does
    not exist (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomic(path: str | os.PathLike, write) -> None:
    """Write a file so that it is either complete or absent: ``write(temporary_path)`` fills a
    hidden temporary file beside ``path``, which then replaces ``path`` in one rename. Every
    store, checkpoint, clip and results file of the package is written through this. The file
    ends with the permissions the umask gives (:func:`follow_umask`), not the temporary's."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        follow_umask(temporary)  # mkstemp makes it -rw-------
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as a page may print it, with no absolute path of the machine that built it:
    under ``$PERSONALITY_UTILS_CACHE`` as ``$PERSONALITY_UTILS_CACHE/...``, otherwise relative
    to the working directory (a chapter's is its book folder, so ``results/05_cam.json``).
    ``.ci/check_paths.py`` fails the build on any absolute path left in a page."""
    target = Path(os.path.abspath(path))
    cache = os.environ.get("PERSONALITY_UTILS_CACHE")
    if cache:
        with contextlib.suppress(ValueError):
            inside = target.relative_to(os.path.abspath(cache))
            return str(Path("$PERSONALITY_UTILS_CACHE") / inside)
    return os.path.relpath(target)


def read_json(path: str | os.PathLike) -> dict:
    """A JSON file's object; ``{}`` when it is missing, unreadable or not JSON (a record that a
    run was interrupted before writing counts as absent)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
