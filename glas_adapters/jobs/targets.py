"""Which classes of an image a job explains: ``--target`` indices or names, or the ``top_k`` classes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from glas_core.errors import fail, quoted

#: Classes explained when neither targets nor top_k is given: the predicted class.
DEFAULT_TOP_K = 1


def resolve_targets(given: Sequence[str] | None, top_k: int | None, probs: np.ndarray, model: Any) -> list[int]:
    """Class indices from ``--target`` (indices or names, duplicates dropped) or the ``top_k`` classes.

    Parameters
    ----------
    given : sequence of str, optional
        Class indices or names (comma-separated lists allowed); None or empty: the ``top_k`` classes.
    top_k : int, optional
        The most probable classes (default :data:`DEFAULT_TOP_K`).
    probs : numpy.ndarray
        ``(num_classes,)`` probabilities of the image.
    model : Classifier
        Gives ``class_names`` (or None) for names.

    Raises
    ------
    GLASError
        An index out of range or a name the model does not know.
    """
    n = int(probs.shape[0])
    if not given:
        k = top_k or DEFAULT_TOP_K
        return [int(i) for i in np.argsort(-probs, kind="stable")[: min(k, n)]]
    lookup = {}
    if model.class_names is not None:
        lookup = {_norm(name): i for i, name in enumerate(model.class_names)}
    targets: list[int] = []
    for item in given:
        for part in (p.strip() for p in item.split(",") if p.strip()):
            if part.lstrip("-").isdigit():
                index = int(part)
                if not 0 <= index < n:
                    raise fail("--target", index, f"a class index in [0, {n}) for this model's {n} outputs",
                               "use --top-k to explain the most probable classes")
            elif _norm(part) in lookup:
                index = lookup[_norm(part)]
            else:
                hint = "pass a class index" if not lookup else "check the spelling or pass a class index"
                raise fail("--target", quoted(part), "a class index or a class name of this model", hint)
            if index not in targets:
                targets.append(index)
    return targets


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())
