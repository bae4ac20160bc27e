"""Imports deferred to first use (the standard library's ``importlib.util.LazyLoader`` recipe).

The modules a GPU machine with only PyTorch, torchvision and numpy needs (``models``,
``training``, ``cam``, ``synthetic``'s renderer: ``benchmarks/gpu_check.py``) import pandas
through :func:`lazy_module`, so they load without it and only the functions that build tables
ask for it.
"""

from __future__ import annotations

import importlib.util
import sys
import types

__all__ = ["lazy_module"]


class _Missing(types.ModuleType):
    """Stands for a module that is not installed; using it says so."""

    def __getattr__(self, attribute: str):
        raise ModuleNotFoundError(
            f"{self.__name__} is not installed, and this part of personality_utils needs it "
            f"(pip install {self.__name__})",
            name=self.__name__,
        )


def lazy_module(name: str) -> types.ModuleType:
    """The module ``name``, imported when one of its attributes is first used."""
    if name in sys.modules:
        return sys.modules[name]
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return _Missing(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
