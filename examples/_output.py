"""Where the examples write their figures: ``examples/output/`` (ignored by git).

Set ``GLAS_EXAMPLES_OUT`` to write them somewhere else (the smoke tests use a temporary folder).
"""

from __future__ import annotations

import os


def figure_path(name: str) -> str:
    """The path of figure ``name`` in the examples' output folder, which is created if needed."""
    folder = os.environ.get("GLAS_EXAMPLES_OUT") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, name)
