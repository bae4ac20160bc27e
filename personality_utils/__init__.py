"""personality_utils: the package behind the book that reproduces and tests Ventura, Masip and
Lapedriza, "Interpreting CNN Models for Apparent Personality Trait Regression" (CVPR-W 2017).

One module per stage; notebooks import them explicitly, e.g.
``from personality_utils import data, synthetic``. Importing the package has no side effects.
"""

__version__ = "0.1.0"

__all__ = [
    "aus",
    "cam",
    "data",
    "distributed",
    "faces",
    "models",
    "plots",
    "profiles",
    "results",
    "synthetic",
    "training",
    "units",
]
