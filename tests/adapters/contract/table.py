"""The call table of the contract: the same calls, the same answers, in every adapter.

Each call is run through one adapter's ``explain`` / ``explain_recursive`` / ``explain_multiscale``
on one image (no batch axis) or two; the answer is the maps as NumPy (their shape is the
contract's: the spatial axes last, whatever the input layout) or the refusal's message.
``EXPECTED`` is written by hand from the contract table of the README, not from any adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

H, W = 12, 12
N_CLASSES = 5
#: small, quick settings shared by every call
SETTINGS = dict(grid=4, sigma=(2.0, 1.5, 2.0), batch_size=16)
SIGMAS = [2.0, 1.0]
S = len(SIGMAS)

#: name -> (function, images, targets, keywords, expected shape or the refused argument's message start)
CALLS: dict[str, tuple[str, str, Any, dict[str, Any], Any]] = {
    # the nine calls that agreed in 1 of 9 before the contract
    "one image, targets=1": ("explain", "one", 1, {}, (H, W)),
    "one image, targets=[1, 3]": ("explain", "one", [1, 3], {}, (2, H, W)),
    "two images, targets=[1, 3]": ("explain", "two", [1, 3], {}, (2, H, W)),
    "two images, targets=[[1, 3], [0, 2]]": ("explain", "two", [[1, 3], [0, 2]], {}, (2, 2, H, W)),
    "one image, targets=None": ("explain", "one", None, {}, (H, W)),
    "one image, baseline=None": ("explain", "one", 1, {"baseline": None}, (H, W)),
    "two images, targets=[1, 2, 3]": ("explain", "two", [1, 2, 3], {}, "targets must be one class per example (2)"),
    "recursive, one image, targets=[1, 3]": ("explain_recursive", "one", [1, 3], {"max_iter": 2}, (2, H, W)),
    "multiscale, one image, targets=1": ("explain_multiscale", "one", 1, {"sigmas": SIGMAS}, (S, H, W)),
    # and what else a user tries
    "two images, targets=None": ("explain", "two", None, {}, (2, H, W)),
    "two images, targets=2": ("explain", "two", 2, {}, (2, H, W)),
    "one image, targets=[[1, 3]]": ("explain", "one", [[1, 3]], {}, (2, H, W)),
    "one image, baseline=0.25": ("explain", "one", 1, {"baseline": 0.25}, (H, W)),
    "recursive, two images, targets=[1, 3]": ("explain_recursive", "two", [1, 3], {"max_iter": 2}, (2, H, W)),
    "recursive, two images, targets=None": ("explain_recursive", "two", None, {"max_iter": 2}, (2, H, W)),
    "recursive, one image, dim='above_t1', evidence stop": (
        "explain_recursive", "one", [1, 3], {"max_iter": 2, "dim": "above_t1", "stop": "evidence",
                                             "min_evidence": 0.5}, (2, H, W)),
    "multiscale, two images, targets=[[1, 3], [0, 2]]": (
        "explain_multiscale", "two", [[1, 3], [0, 2]], {"sigmas": SIGMAS}, (2, S, 2, H, W)),
    "adaptive multiscale, one image, targets=[1, 3]": (
        "explain_multiscale", "one", [1, 3], {"sigmas": SIGMAS, "adaptive": True}, (S, 2, H, W)),
    "two images, targets=[[1, 3]]": ("explain", "two", [[1, 3]], {}, "targets must be"),
    "one image, targets=5": ("explain", "one", 5, {}, "targets must be class indices in [0, 5)"),
    "one image, targets=0.5": ("explain", "one", 0.5, {}, "targets must be integer class indices"),
    "one image, targets=True": ("explain", "one", True, {}, "targets must be"),
    "one image, targets=[]": ("explain", "one", [], {}, "targets must be"),
    "one image, logits as probabilities": ("explain", "one", 1, {"probabilities": None},
                                           "probabilities must be probabilities in [0, 1]"),
    "one image, probabilities='log'": ("explain", "one", 1, {"probabilities": "log"}, "probabilities must be"),
    "one image, grid=0": ("explain", "one", 1, {"grid": 0}, "grid must be"),
    "multiscale, one image, sigmas=[]": ("explain_multiscale", "one", 1, {"sigmas": []}, "sigmas must be"),
}


def run_table(functions: dict[str, Callable[..., Any]], model: Any, images: dict[str, Any],
              to_numpy: Callable[[Any], np.ndarray]) -> dict[str, Any]:
    """Every call of :data:`CALLS` through one adapter: maps as NumPy, or the refusal's message."""
    from glas_core import GLASError

    answers: dict[str, Any] = {}
    for name, (function, which, targets, keywords, _) in CALLS.items():
        settings = dict(SETTINGS, **keywords)
        if function == "explain_multiscale":
            settings.pop("sigma")
        try:
            answers[name] = to_numpy(functions[function](model, images[which], targets, **settings))
        except GLASError as err:
            answers[name] = str(err)
    return answers
