"""The backend protocol: all a framework has to say for the orchestrator to explain its model.

A backend is built by an adapter from the caller's model and input; it knows the framework,
the orchestrator (:mod:`glas_adapters._engine.run`) knows GLAS. The data flows one way:
``backend.outputs(batch, owners) -> (B, K)`` raw outputs, then
:func:`~glas_adapters._engine.scores.target_scores` -> ``(B, T)`` scores, then the core.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from glas_core._array_api import namespace_of
from glas_core.errors import fail


class Backend:
    """One call's model and examples in one framework.

    Subclasses set the attributes in ``__init__`` and implement :meth:`example` and
    :meth:`outputs`; the other methods have defaults that fit array-like inputs.

    Attributes
    ----------
    n_examples : int
        Examples of the call.
    single : bool
        The caller passed one example without a batch axis (the maps drop N).
    spatial_axes : tuple of int
        The spatial axes of one example, e.g. ``(-2, -1)`` for ``(C, H, W)``, ``(0, 1)`` for ``(H, W, C)``.
    spatial_shape : tuple of int
        Their sizes.
    host_scores : bool
        Turn outputs into scores on NumPy (the outputs of a chunk are a few numbers per row);
        False keeps them on the framework's device, so the host never waits for it.
    """

    n_examples: int
    single: bool
    spatial_axes: tuple[int, ...]
    spatial_shape: tuple[int, ...]
    host_scores: bool = True

    def example(self, i: int) -> Any:
        """Example ``i`` as the core perturbs it: an array of any array-API namespace."""
        raise NotImplementedError

    def clean_batch(self, start: int, stop: int) -> Any:
        """The unperturbed examples ``start:stop`` as one ``(B, *example)`` batch."""
        first = self.example(start)
        xp = namespace_of(first)
        return xp.stack([first] + [self.example(i) for i in range(start + 1, stop)], axis=0)

    def outputs(self, batch: Any, owners: np.ndarray) -> Any:
        """The model's raw outputs ``(B, K)`` (or ``(B,)``) on ``batch``; ``owners[i]`` is row i's example."""
        raise NotImplementedError

    def clean_outputs(self, start: int, stop: int) -> Any:
        """The model's outputs on the unperturbed examples ``start:stop`` (the clean pass)."""
        return self.outputs(self.clean_batch(start, stop), np.arange(start, stop, dtype=np.int64))

    def chunk_for(self, rows: int, batch_size: int) -> int:
        """Rows per model call for a stream of ``rows`` rows when the caller allows ``batch_size``."""
        return batch_size

    def session(self) -> contextlib.AbstractContextManager[Any]:
        """A context the whole call runs in (e.g. no gradients, the model's state kept)."""
        return contextlib.nullcontext()

    def baselines(self, baseline: Any, name: str = "baseline") -> list[Any]:
        """One baseline per example: None means 0 (the paper); a number or an array of one
        example's shape is shared; an array with a leading axis of N (or 1) gives one per example."""
        if baseline is None:
            return [0.0] * self.n_examples
        shape = getattr(baseline, "shape", None)
        example_ndim = len(getattr(self.example(0), "shape", ()))
        if shape is not None and len(shape) == example_ndim + 1:
            rows = int(shape[0])
            if rows == self.n_examples:
                return [baseline[i] for i in range(rows)]
            if rows == 1:
                return [baseline[0]] * self.n_examples
            raise fail(name, f"shape {tuple(shape)}", f"one baseline per example ({self.n_examples} rows) or one "
                       "example's shape", "pass one baseline for all examples or one per example")
        return [baseline] * self.n_examples

    def to_caller(self, maps: Any) -> Any:
        """Maps (the core's arrays) in the caller's framework and on its device."""
        return maps
