"""THE orchestrator: targets -> clean pass -> sweeps -> maps in the caller's framework.

Every adapter (torch's functional API and Captum attribution, Keras on each backend, ONNX
Runtime, HuggingFace classifiers through torch, the command line) explains through the three
functions here; a backend (:class:`~glas_adapters._engine.backend.Backend`) only runs its
framework. One call:

1. checks ``probabilities`` and the settings against the example size (before any forward pass);
2. reads ``targets`` by the contract (:mod:`~glas_adapters._engine.targets`);
3. runs the clean examples once: their outputs give the predicted classes (``targets=None``),
   the number of classes (range checks) and the softmax-head warning;
4. sweeps: plain GLAS packs the rows of all examples into full model calls
   (:func:`glas_core.explain_batch`, row owners handed to the score function); Recursive GLAS
   and the adaptive multi-scale search run example by example; the exhaustive multi-scale
   search runs one packed sweep per scale;
5. shapes the maps by the contract and hands them back through the backend.

Shapes (``*S`` the spatial axes): ``explain`` and ``explain_recursive`` give ``(N, *S)``, or
``(N, T, *S)`` when several classes per example were asked for; ``explain_multiscale`` puts
the scales after N: ``(N, n_scales, *S)`` or ``(N, n_scales, T, *S)``. One example without a
batch axis drops N. ``return_result=True`` gives the :class:`glas_core.GLASResult` (or
``RecursiveResult``) of each example instead (a list for a batch, one for a single example;
multi-scale: a list of results per example), whose ``saliency`` is always ``(T, *S)``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import glas_core
from glas_core import GLASConfig, GLASError
from glas_core._array_api import device_of, namespace_of
from glas_core.adaptive import DEFAULT_KEEP
from glas_core.errors import fail, quoted

from .._common import Progress, ProgressFn, check_probabilities
from .backend import Backend
from .scores import RowColumns, check_clean_outputs, log_kind, non_finite_outputs, output_matrix, target_scores
from .targets import TargetRequest


class _Scores:
    """``score_fn(batch, owners)`` of one call: the backend's outputs scored at each row's classes.

    The classes are resolved at the first outputs the call sees (the clean pass, or the first
    chunk of the sweep when the targets need no predicted class): their width checks the
    class indices and ``probabilities``. NaN log-probabilities (NaN or +inf logits) are noted
    without a device sync per chunk and reported as the model's fault when the core refuses
    the scores (:meth:`core_call`).
    """

    def __init__(self, backend: Backend, request: TargetRequest, probabilities: Any) -> None:
        self.backend = backend
        self.request = request
        self.probabilities = probabilities
        self.table: np.ndarray | None = None
        self.n_outputs: int | None = None
        self.log_scores = log_kind(probabilities) is not None
        self._nan: Any = None

    def first_outputs(self, outputs: Any) -> None:
        """Check the first outputs (``probabilities`` against them) and resolve the classes;
        on the clean pass, row i is example i and its argmax is its predicted class."""
        predicted = check_clean_outputs(outputs, self.probabilities)
        self.n_outputs = int(outputs.shape[1])
        self.table = self.request.resolve(predicted, self.n_outputs, self.backend.n_examples)

    def __call__(self, batch: Any, owners: np.ndarray) -> Any:
        rows = int(batch.shape[0])
        columns = None
        if self.table is not None and not self.backend.host_scores:  # indices on the device before the forward
            columns = RowColumns(self.table[owners], namespace_of(batch), device_of(batch))
        outputs = output_matrix(self.backend.outputs(batch, owners), rows)
        if self.table is None:
            self.first_outputs(outputs)
        elif int(outputs.shape[1]) != self.n_outputs:
            raise fail("model output", f"{int(outputs.shape[1])} columns after {self.n_outputs} on earlier inputs",
                       "the same number of classes for every input",
                       "make the model return a fixed-width (N, num_classes) head")
        if self.backend.host_scores:
            outputs = glas_core.to_numpy(outputs)
        if columns is None or device_of(outputs) != columns.device:
            assert self.table is not None
            columns = RowColumns(self.table[owners], namespace_of(outputs), device_of(outputs))
        scores = target_scores(outputs, columns, self.probabilities)
        if self.log_scores:
            xp = namespace_of(scores)
            nan = xp.any(xp.isnan(scores))
            self._nan = nan if self._nan is None else xp.logical_or(self._nan, nan)
        return scores

    def of_example(self, i: int) -> Callable[[Any], Any]:
        """The score function of a sweep over example ``i`` alone."""
        return lambda batch: self(batch, np.full(int(batch.shape[0]), i, dtype=np.int64))

    def core_call(self, call: Callable[[], Any]) -> Any:
        """Run a core call; NaN log-probabilities are reported as the model's NaN or inf outputs."""
        try:
            return call()
        except GLASError:
            if self._nan is not None and bool(self._nan):
                raise non_finite_outputs() from None
            raise


class _Call:
    """What every entry point does before its sweeps: settings, targets, the clean pass."""

    def __init__(self, backend: Backend, request: TargetRequest, probabilities: Any, config: GLASConfig,
                 baseline: Any, stream_rows: Callable[[int], int]) -> None:
        check_probabilities(probabilities)
        self.backend = backend
        self.request = request
        # resolving the plan checks grid and sigma against the example size before any forward pass
        self.n_rows = config.resolve(backend.spatial_shape).rows.n_rows
        self.chunk = backend.chunk_for(stream_rows(self.n_rows), config.batch_size)
        self.config = dataclasses.replace(config, batch_size=self.chunk)
        self.baselines = backend.baselines(baseline)
        self.probabilities = probabilities

    def clean_pass(self) -> _Scores:
        """The call's score function; first, where the targets need the predicted classes
        (``targets=None``), one forward row per unperturbed example gives them."""
        scores = _Scores(self.backend, self.request, self.probabilities)
        if self.request.table is not None or self.request.single_output:
            return scores
        n, outputs = self.backend.n_examples, []
        for start in range(0, n, self.chunk):
            stop = min(n, start + self.chunk)
            out = output_matrix(self.backend.clean_outputs(start, stop), stop - start)
            outputs.append(out)
        clean = outputs[0] if len(outputs) == 1 else namespace_of(outputs[0]).concat(outputs, axis=0)
        scores.first_outputs(clean)
        return scores

    def examples(self) -> list[Any]:
        return [self.backend.example(i) for i in range(self.backend.n_examples)]

    def maps(self, per_example: list[Any], return_result: bool, scales: bool = False) -> Any:
        """The call's answer by the contract: maps in the caller's framework, or the results."""
        backend = self.backend
        if return_result:
            fixed = [[_in_caller(r, backend) for r in rs] if scales else _in_caller(rs, backend) for rs in per_example]
            return fixed[0] if backend.single else fixed
        stacks = []
        for item in per_example:
            saliency = [r.saliency for r in item] if scales else [item.saliency]
            xp = namespace_of(saliency[0])
            stack = xp.stack(saliency, axis=0)  # (S or 1, T, *spatial)
            if not self.request.several:
                stack = stack[:, 0, ...]
            stacks.append(stack if scales else stack[0, ...])
        xp = namespace_of(stacks[0])
        out = stacks[0] if backend.single else xp.stack(stacks, axis=0)
        return backend.to_caller(out)


def _in_caller(result: Any, backend: Backend) -> Any:
    """A core result with its saliency in the caller's framework."""
    saliency = backend.to_caller(result.saliency)
    return result if saliency is result.saliency else dataclasses.replace(result, saliency=saliency)


def explain(backend: Backend, request: TargetRequest, *, probabilities: Any, config: GLASConfig, baseline: Any,
            progress: bool | ProgressFn | None, return_result: bool) -> Any:
    """Plain GLAS (Eq. 1-3): every target of every example from one packed stream of ``2P + 1`` rows each."""
    n = backend.n_examples
    call = _Call(backend, request, probabilities, config, baseline, lambda rows: rows * n)
    with backend.session():
        scores = call.clean_pass()
        with Progress(progress, total=call.n_rows * n) as report:
            results = scores.core_call(lambda: glas_core.explain_batch(
                scores, call.examples(), spatial_axes=backend.spatial_axes, baseline=call.baselines,
                progress=report.sweep(), config=call.config, log_scores=scores.log_scores, with_owners=True))
    return call.maps(results, return_result)


def explain_recursive(backend: Backend, request: TargetRequest, *, probabilities: Any, config: GLASConfig,
                      baseline: Any, progress: bool | ProgressFn | None, return_result: bool,
                      loop: dict[str, Any]) -> Any:
    """Recursive GLAS (Algorithm 1) example by example; ``loop`` holds t1, t2, max_iter, stop, ... ."""
    call = _Call(backend, request, probabilities, config, baseline, lambda rows: rows)
    with backend.session():
        scores = call.clean_pass()
        with Progress(progress) as report:
            def one(i: int, x: Any) -> Any:
                return glas_core.explain_recursive(
                    scores.of_example(i), x, spatial_axes=backend.spatial_axes, baseline=call.baselines[i],
                    progress=report.sweeps(), config=call.config, log_scores=scores.log_scores, **loop)

            results = [scores.core_call(functools.partial(one, i, x)) for i, x in enumerate(call.examples())]
    return call.maps(results, return_result)


def check_scales(sigmas: Any) -> list[Any]:
    """The multi-scale ``sigmas``: a non-empty sequence of scales."""
    if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Sequence) or len(sigmas) == 0:
        raise fail("sigmas", quoted(sigmas), "a non-empty list of scales", "use e.g. sigmas=[5, 3, 1]")
    return list(sigmas)


def explain_multiscale(backend: Backend, request: TargetRequest, *, probabilities: Any, config: GLASConfig,
                       baseline: Any, progress: bool | ProgressFn | None, return_result: bool,
                       sigmas: Sequence[Any], in_pixels: bool = False, adaptive: bool = False,
                       keep: float = DEFAULT_KEEP) -> Any:
    """Coarse-to-fine GLAS: one map per scale; ``adaptive`` sweeps finer scales only where the coarser
    found evidence."""
    scales = check_scales(sigmas)
    base = dataclasses.replace(config, sigma_px=None)  # each scale sets its own sigma (sigma_px overrides sigma)
    key = "sigma_px" if in_pixels else "sigma"
    scaled = [dataclasses.replace(base, **{key: s}) for s in scales]
    n = backend.n_examples
    call = _Call(backend, request, probabilities, scaled[0], baseline, lambda rows: rows if adaptive else rows * n)
    chunked = [dataclasses.replace(c, batch_size=call.chunk) for c in scaled]
    with backend.session():
        scores = call.clean_pass()
        if adaptive:
            with Progress(progress) as report:
                def one(i: int, x: Any) -> Any:
                    return glas_core.explain_multiscale(
                        scores.of_example(i), x, scales, in_pixels=in_pixels, adaptive=True, keep=keep,
                        spatial_axes=backend.spatial_axes, baseline=call.baselines[i], progress=report.sweeps(),
                        config=dataclasses.replace(base, batch_size=call.chunk), log_scores=scores.log_scores)

                results = [scores.core_call(functools.partial(one, i, x)) for i, x in enumerate(call.examples())]
        else:
            rows = [c.resolve(backend.spatial_shape).rows.n_rows for c in chunked]
            with Progress(progress, total=sum(rows) * n) as report:
                def sweep(c: GLASConfig) -> Any:
                    return glas_core.explain_batch(
                        scores, call.examples(), spatial_axes=backend.spatial_axes,
                        baseline=call.baselines, progress=report.sweep(), config=c, log_scores=scores.log_scores,
                        with_owners=True)

                per_scale = [scores.core_call(functools.partial(sweep, c)) for c in chunked]
            results = [[scale[i] for scale in per_scale] for i in range(n)]
    return call.maps(results, return_result, scales=True)
