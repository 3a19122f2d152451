"""Helpers every adapter shares: the probabilities argument and progress reporting.

Errors are built with :func:`glas_core.errors.fail` (one message layout everywhere) and maps
are normalised with :func:`glas_core.minmax_normalize` (one flat-map rule everywhere).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any

import numpy as np

from glas_core.errors import fail, quoted

#: How model outputs become P(y|I): "softmax" over the last axis, "sigmoid" per output,
#: None when the model already returns probabilities, or a callable ``outputs -> probabilities``.
PROBABILITY_CHOICES = ("softmax", "sigmoid", None)

ProgressFn = Callable[[int, int], None]


def check_probabilities(probabilities: Any) -> None:
    """Refuse anything but "softmax", "sigmoid", None or a callable, for every adapter alike."""
    if probabilities in PROBABILITY_CHOICES or callable(probabilities):
        return
    raise fail("probabilities", quoted(probabilities), "'softmax', 'sigmoid', None or a callable",
               "use probabilities='softmax' for a classifier returning logits, 'sigmoid' for multi-label "
               "or single-output binary logits, None when the model already returns probabilities")


def numpy_probabilities(outputs: Any, probabilities: Any) -> np.ndarray:
    """Model outputs ``(B, K)`` (or ``(B,)``, read as one column) as NumPy probabilities.

    Softmax and sigmoid run in at least float32, so half-precision logits keep the small score
    differences Eq. 2 measures.
    """
    out = np.asarray(outputs)
    if out.ndim == 1:
        out = out[:, None]
    work = out if out.dtype == np.float64 else out.astype(np.float32)
    if probabilities == "softmax":
        shifted = np.exp(work - work.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    if probabilities == "sigmoid":
        return 1.0 / (1.0 + np.exp(-work))
    if probabilities is None:
        return work
    return np.asarray(probabilities(outputs))


#: folders whose frames are never "the caller" of a warning: this project's packages and the tools
#: that wrap a call to it (Captum's usage logger, contextlib's context managers)
_INTERNAL = tuple(os.path.dirname(os.path.abspath(p)) + os.sep for p in (__file__,))


def user_stacklevel() -> int:
    """``warnings.warn``'s ``stacklevel`` that points at the user's line, for the function calling this.

    The first frame outside ``glas_adapters`` and ``glas_core`` (and outside Captum's logging
    wrapper and ``contextlib``) is the user's, however deep the call went inside the project.
    """
    core = os.path.dirname(os.path.abspath(sys.modules["glas_core"].__file__ or "")) + os.sep
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None:
        name = os.path.abspath(frame.f_code.co_filename)
        internal = (name.startswith(_INTERNAL) or name.startswith(core) or name.endswith("contextlib.py")
                    or f"{os.sep}captum{os.sep}log{os.sep}" in name)
        if not internal:
            return level
        frame = frame.f_back
        level += 1
    return level


def warn_if_already_probabilities(outputs: np.ndarray, probabilities: Any, stacklevel: int | None = None) -> bool:
    """Warn when ``probabilities="softmax"`` meets outputs that are already probabilities.

    The rule, the same in every adapter: at least two columns, every value in [0, 1] and every
    row summing to 1 (within 1e-3) is a model that already ends in softmax; a second softmax
    squeezes its scores towards uniform. Returns whether it warned.
    """
    out = np.asarray(outputs, dtype=np.float64)
    if probabilities != "softmax" or out.ndim != 2 or out.shape[1] < 2:
        return False
    in_unit_range = bool(np.all(out >= 0) and np.all(out <= 1))
    if not (in_unit_range and np.allclose(out.sum(axis=1), 1.0, atol=1e-3)):
        return False
    warnings.warn(
        "the model's outputs already sum to 1 per image (a softmax head?) but probabilities='softmax' "
        "applies softmax again, which squeezes the scores towards uniform; pass probabilities=None.",
        UserWarning, stacklevel=user_stacklevel() if stacklevel is None else stacklevel + 1)
    return True


class Progress:
    """One progress report over a whole call, fed by the core's per-sweep callbacks.

    An adapter that runs several sweeps (one per example, per scale, per recursive iteration)
    passes :meth:`sweep` to each; the user sees one ``(done_rows, total_rows)`` stream.

    Parameters
    ----------
    progress : bool, callable or None
        True for a tqdm bar (a line on stderr without tqdm), a callable ``(done, total)``, or
        False / None for silence.
    desc, unit : str
        Label and unit of the bar.
    total : int, optional
        Rows of the whole call when known up front; otherwise the sum of the sweeps seen so far.
    """

    def __init__(self, progress: bool | ProgressFn | None, *, desc: str = "GLAS", unit: str = "row",
                 total: int | None = None) -> None:
        if not (progress is None or isinstance(progress, bool) or callable(progress)):
            raise fail("progress", progress, "True, False, None or a callable(done, total)",
                       "pass progress=True for a bar, or e.g. lambda done, total: print(done, total)")
        self.total = total
        self._done = 0
        self._seen = 0
        self._bar: Any = None
        self._sink: ProgressFn | None = None
        if callable(progress):
            self._sink = progress
        elif progress:
            self._sink = self._bar_sink(desc, unit)

    @property
    def enabled(self) -> bool:
        return self._sink is not None

    def sweep(self) -> ProgressFn | None:
        """A callback for one more sweep (None when silent, so the core skips the calls)."""
        sink = self._sink
        if sink is None:
            return None
        start, last = self._done, [0]

        def report(done: int, total: int) -> None:
            if last[0] == 0:
                self._seen += total
            self._done = start + done
            last[0] = done
            sink(self._done, self.total if self.total is not None else self._seen)

        return report

    def sweeps(self) -> ProgressFn | None:
        """A callback for a core call that runs several sweeps through one callback.

        ``glas_core.explain_multiscale`` (one sweep per scale) and ``explain_recursive`` (one
        per iteration) pass the same ``progress`` to every sweep; each report after a sweep's
        last one (``done == total``) starts the next sweep here.
        """
        if self._sink is None:
            return None
        state: dict[str, Any] = {"sweep": None, "finished": True}

        def report(done: int, total: int) -> None:
            if state["finished"]:
                state["sweep"] = self.sweep()
            state["finished"] = done >= total
            state["sweep"](done, total)

        return report

    def _bar_sink(self, desc: str, unit: str) -> ProgressFn:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            def line(done: int, total: int) -> None:
                print(f"\r{desc}: {done}/{total} {unit}s", end="\n" if done >= total else "", file=sys.stderr)
            return line
        self._bar = tqdm(total=self.total, desc=desc, unit=unit)

        def update(done: int, total: int) -> None:
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()

        return update

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
