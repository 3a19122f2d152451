"""GLAS for Keras 3 and TensorFlow: ``explain`` on channels-last images, plus Keras-native tools.

>>> from glas_adapters import tf as glas_tf
>>> heat = glas_tf.explain(keras_model, images, class_index=281)      # (N, H, W) numpy  # doctest: +SKIP

On the TensorFlow backend the perturbed batches are built by :mod:`glas_core` with TensorFlow
ops (through the array-API shim :mod:`glas_adapters._tf_namespace`) on the device the images
live on, and the model runs as ``model(x, training=False)`` inside one ``tf.function`` on
fixed-size chunks.  Keras 3 on the JAX or torch backend is run on NumPy batches instead.
Nothing here changes global TensorFlow or Keras state.

Also here: :class:`GLASExplainer` (tf-explain convention), :class:`GLAS` (Xplique
convention), :class:`GLASCallback` (TensorBoard heat maps during ``fit``),
:func:`explain_recursive` (the paper's Algorithm 1) and :func:`explain_multiscale`
(the coarse-to-fine maps of the paper's Figure 1).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

import numpy as np

import glas_core
from glas_core import GLASConfig, GLASError, GLASResult, RecursiveResult

from . import _tf_scoring
from ._tf_inputs import class_indices, image_shape
from ._tf_scoring import Scorer, balanced_chunk, check_probabilities

if _tf_scoring.tensorflow_available():
    from . import _tf_namespace

    _tf_namespace.register()

__all__ = ["GLAS", "GLASCallback", "GLASExplainer", "explain", "explain_multiscale", "explain_recursive"]

#: the spatial axes of one channels-last image (H, W, C)
HWC_SPATIAL_AXES = (0, 1)


def explain(
    model: Callable[..., Any],
    images: Any,
    class_index: int | Sequence[int] | None = None,
    *,
    grid: int | tuple[int, int] = 15,
    sigma: Any = glas_core.DEFAULT_SIGMA,
    sigma_px: Any = None,
    mode: str = "fusion",
    baseline: Any = 0.0,
    probabilities: str | None = "softmax",
    batch_size: int = 64,
    progress: bool | Callable[[int, int], None] = False,
    return_result: bool = False,
) -> np.ndarray | list[GLASResult]:
    """GLAS saliency maps (the paper's Eq. 1-3) of a Keras model for channels-last images.

    Parameters
    ----------
    model
        A Keras 3 model (called as ``model(x, training=False)``) or any callable mapping a
        ``(B, H, W, C)`` batch to ``(B, num_classes)`` outputs.
    images
        ``(N, H, W, C)`` batch or one ``(H, W, C)`` image, NumPy or ``tf.Tensor``; integer
        images are cast to float32 (values unchanged).
    class_index
        Class to explain: one int for all images, one int per image, None for each image's
        predicted class, or an ``(N, T)`` nested list / array of T classes per image (e.g. the
        top 5), all explained in one sweep of ``2P + 1`` rows.  A single-output sigmoid model
        has one class, index 0.
    grid, sigma, sigma_px, mode
        As in :func:`glas_core.explain`: ``grid`` points per axis (or ``(ky, kx)``), scales in
        grid cells (default (5, 3, 6), the paper's localisation setting; a scalar such as 3.0
        sets all three) or in pixels with ``sigma_px``; ``mode`` "fusion", "light" or "shadow".
    baseline
        Perturbation baseline: rows are ``b + (x - b) * G`` (the paper is 0); a scalar or an
        array broadcastable to one ``(H, W, C)`` image.
    probabilities
        How outputs become P(y|I): ``"softmax"`` (logits of exclusive classes), ``"sigmoid"``
        (single-output binary or multi-label models) or None (outputs already are probabilities).
    batch_size
        Most perturbed images per model call.  Calls use one fixed chunk size of at most
        ``batch_size`` (the last chunk is zero-padded), so the model is traced once.
    progress
        True for a progress bar over all images (tqdm if installed), or a callable
        ``progress(done_rows, total_rows)``.
    return_result
        Return the :class:`glas_core.GLASResult` of each image instead of the maps.

    Returns
    -------
    numpy.ndarray or list of GLASResult
        ``(N, H, W)`` float maps, or ``(H, W)`` for a single ``(H, W, C)`` image; with an
        ``(N, T)`` ``class_index``: ``(N, T, H, W)`` (``(T, H, W)`` for a single image).

    Raises
    ------
    GLASError
        For channels-first or wrongly ranked images, class indices out of range, bad settings
        and model outputs that are not ``(N, num_classes)`` finite scores.
    """
    run = _Run(model, images, probabilities)
    n_rows = _rows_per_image(run.spatial, grid, mode, batch_size, sigma=sigma, sigma_px=sigma_px)
    chunk = balanced_chunk(n_rows, batch_size)
    targets = run.targets(class_index, chunk, several_per_image=True)
    report = _progress_reporter(progress, n_rows * run.n_images)
    results = []
    for i in range(run.n_images):
        results.append(glas_core.explain(
            run.scorer.score_fn(targets[i], chunk), run.image(i), spatial_axes=HWC_SPATIAL_AXES,
            grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, baseline=baseline,
            batch_size=chunk, progress=report.for_image(i, n_rows),
        ))
    report.close()
    if return_result:
        return results
    maps = [glas_core.to_numpy(r.saliency) for r in results]
    return run.maps([m[None] for m in maps] if run.several_per_image else maps)


def explain_recursive(
    model: Callable[..., Any],
    images: Any,
    class_index: int | Sequence[int] | None = None,
    *,
    t1: float = 0.8,
    t2: float = 5.0,
    max_iter: int = 5,
    grid: int | tuple[int, int] = 15,
    sigma: Any = glas_core.DEFAULT_SIGMA,
    sigma_px: Any = None,
    mode: str = "fusion",
    baseline: Any = 0.0,
    probabilities: str | None = "softmax",
    batch_size: int = 64,
    progress: bool | Callable[[int, int], None] = False,
    return_result: bool = False,
) -> np.ndarray | list[RecursiveResult]:
    """Recursive GLAS (the paper's Algorithm 1) for channels-last images.

    Each iteration dims the image by the normalised map, drops the search points above
    ``t1`` and explains again, until ``sqrt(mean(S) / P(y|I)) >= t2``, no points remain or
    ``max_iter`` iterations ran (see :func:`glas_core.explain_recursive`).  Other parameters
    as in :func:`explain`; the progress callable is called per sweep.

    Returns
    -------
    numpy.ndarray or list of RecursiveResult
        ``(N, H, W)`` accumulated maps (``(H, W)`` for one image), or the per-image results.
    """
    run = _Run(model, images, probabilities)
    n_rows = _rows_per_image(run.spatial, grid, mode, batch_size, sigma=sigma, sigma_px=sigma_px)
    chunk = balanced_chunk(n_rows, batch_size)  # later iterations have fewer points: they pad more
    targets = run.targets(class_index, chunk)
    report = _progress_reporter(progress, None)
    results = []
    for i in range(run.n_images):
        results.append(glas_core.explain_recursive(
            run.scorer.score_fn([targets[i]], chunk), run.image(i), t1=t1, t2=t2, max_iter=max_iter,
            spatial_axes=HWC_SPATIAL_AXES, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode,
            baseline=baseline, batch_size=chunk, progress=report.for_image(i, None),
        ))
    report.close()
    return results if return_result else run.maps([r.saliency for r in results])


def explain_multiscale(
    model: Callable[..., Any],
    images: Any,
    class_index: int | Sequence[int] | None = None,
    *,
    sigmas: Sequence[Any] = (5.0, 3.0, 1.0),
    in_pixels: bool = False,
    grid: int | tuple[int, int] = 15,
    mode: str = "fusion",
    baseline: Any = 0.0,
    probabilities: str | None = "softmax",
    batch_size: int = 64,
    progress: bool | Callable[[int, int], None] = False,
    return_result: bool = False,
) -> np.ndarray | list[list[GLASResult]]:
    """Coarse-to-fine GLAS: one map per scale in ``sigmas`` (the paper's Figure 1).

    ``sigmas`` holds grid-cell scales (a scalar or a (light, shadow, spatial) triple each),
    or pixels with ``in_pixels=True``.  Other parameters as in :func:`explain`.

    Returns
    -------
    numpy.ndarray or list of list of GLASResult
        ``(N, S, H, W)`` maps for ``S = len(sigmas)`` (``(S, H, W)`` for one image), or the
        per-image lists of results.
    """
    if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Sequence) or len(sigmas) == 0:
        raise GLASError(f"sigmas must be a non-empty list of scales; got {sigmas!r}. Use e.g. sigmas=[5, 3, 1].")
    run = _Run(model, images, probabilities)
    n_rows = _rows_per_image(run.spatial, grid, mode, batch_size)
    chunk = balanced_chunk(n_rows, batch_size)
    targets = run.targets(class_index, chunk)
    report = _progress_reporter(progress, n_rows * run.n_images * len(sigmas))
    results = []
    for i in range(run.n_images):
        results.append(glas_core.explain_multiscale(
            run.scorer.score_fn([targets[i]], chunk), run.image(i), sigmas, in_pixels=in_pixels,
            spatial_axes=HWC_SPATIAL_AXES, grid=grid, mode=mode, baseline=baseline,
            batch_size=chunk, progress=report.for_image(i * len(sigmas), n_rows),
        ))
    report.close()
    if return_result:
        return results
    per_image = [np.stack([glas_core.to_numpy(r.saliency)[0] for r in rs])[None] for rs in results]
    return run.maps(per_image)


# ---------------------------------------------------------------------------------- internals
class _Run:
    """Images and scorer of one call, validated once at the public boundary."""

    def __init__(self, model: Any, images: Any, probabilities: Any) -> None:
        check_probabilities(probabilities)
        if isinstance(images, (list, tuple)):
            images = np.asarray(images)
        batch_shape, self.single = image_shape(images)
        self.scorer = Scorer(model, probabilities)
        batch = self.scorer.as_batch(images)
        self.batch = batch[None] if self.single else batch
        self.n_images = int(batch_shape[0])
        self.spatial = (int(batch_shape[1]), int(batch_shape[2]))

    several_per_image = False

    def targets(self, class_index: Any, chunk: int, several_per_image: bool = False) -> list[Any]:
        """Classes per image, checked against the model's outputs on the clean images.

        One int per image, or with ``several_per_image`` a list of classes per image (a 2-D
        ``class_index``; anything else gives one-element lists).
        """
        clean = self.scorer.clean_outputs(self.batch, chunk)
        self.scorer.warn_if_already_probabilities(clean)
        predicted = np.argmax(self.scorer.probabilities_of(clean), axis=1)
        indices = class_indices(class_index, self.n_images, clean.shape[1], predicted)
        if indices.ndim == 2 and not several_per_image:
            raise GLASError(f"class_index must be one class per image here, got shape {indices.shape}; "
                            "call once per class, or use glas_adapters.tf.explain for several classes in one sweep")
        if not several_per_image:
            return [int(t) for t in indices]
        self.several_per_image = indices.ndim == 2
        return [[int(t) for t in np.atleast_1d(row)] for row in indices]

    def image(self, i: int) -> Any:
        return self.batch[i]

    def maps(self, saliencies: list[Any]) -> np.ndarray:
        """Stack per-image ``(1, ...)`` saliencies to ``(N, ...)`` NumPy; drop N for a single image."""
        out = np.concatenate([glas_core.to_numpy(s) for s in saliencies], axis=0)
        return out[0] if self.single else out


def _rows_per_image(spatial: tuple[int, int], grid: Any, mode: str, batch_size: int, *,
                    sigma: Any = glas_core.DEFAULT_SIGMA, sigma_px: Any = None) -> int:
    """Forward rows of one sweep (2P + 1 in fusion mode), validating the settings early."""
    config = GLASConfig(grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, batch_size=batch_size)
    plan = config.resolve(spatial)
    return 1 + plan.n_points * (2 if mode == "fusion" else 1)


class _ProgressReport:
    """Turns per-image ``(done, total)`` calls of glas_core into one report over all images."""

    def __init__(self, sink: Callable[[int, int], None] | None, total: int | None, bar: Any = None) -> None:
        self.sink, self.total, self.bar = sink, total, bar

    def for_image(self, index: int, rows: int | None) -> Callable[[int, int], None] | None:
        if self.sink is None:
            return None
        state = {"base": index * rows if rows is not None else 0, "last": 0, "sweep": 0}

        def report(done: int, total: int) -> None:
            if done < state["last"]:  # a new sweep of the same image (multi-scale / recursive)
                state["sweep"] += 1
            state["last"] = done
            offset = state["base"] + (state["sweep"] * rows if rows is not None else 0)
            self.sink(offset + done if self.total is not None else done, self.total or total)

        return report

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _progress_reporter(progress: Any, total: int | None) -> _ProgressReport:
    if progress is None or progress is False:
        return _ProgressReport(None, total)
    if callable(progress):
        return _ProgressReport(progress, total)
    if progress is not True:
        raise GLASError(f"progress must be True, False or a callable(done, total); got {progress!r}.")
    try:
        from tqdm.auto import tqdm
    except ImportError:
        def print_line(done: int, of: int) -> None:
            print(f"\rGLAS: {done}/{of} perturbed images", end="\n" if done >= of else "", file=sys.stderr)

        return _ProgressReport(print_line, total)
    bar = tqdm(total=total, desc="GLAS", unit="img")

    def update(done: int, of: int) -> None:
        bar.total = of
        bar.n = done
        bar.refresh()

    return _ProgressReport(update, total, bar)


from ._tf_keras import GLAS, GLASCallback, GLASExplainer  # noqa: E402  (they call explain above)
