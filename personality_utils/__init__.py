"""personality_utils: the package behind the book that reproduces and tests Ventura, Masip and
Lapedriza, "Interpreting CNN Models for Apparent Personality Trait Regression" (CVPR-W 2017).

Sub-packages by concept, in the book's order, whose imports flow one way: ``core`` (vocabulary,
files, profiles, the paper's figures, results, statistics, verdicts) <- ``faces`` <- ``data`` <-
``models`` <- ``cam`` <- ``units`` <- ``aus``; ``claims`` reads records and imports ``core`` only;
``figures`` and ``book`` on top; ``__main__`` is the command line. Notebooks import modules
explicitly, e.g. ``from personality_utils.cam import maps``. Importing the package has no side
effects.
"""

__version__ = "0.1.0"

__all__ = ["aus", "book", "cam", "claims", "core", "data", "faces", "figures", "models", "units"]
