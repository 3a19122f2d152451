"""GLAS maps of Keras models for channels-last images: explain, explain_recursive, explain_multiscale.

Images go in as ``(N, H, W, C)`` (or one ``(H, W, C)``) in any framework Keras runs on; maps
come back in that framework, by the contract every adapter shares (:mod:`glas_adapters._engine`):
the same ``targets``, shapes and refusals as PyTorch and ONNX Runtime. How the model is run
(compiled, padded chunks, on its own backend): :mod:`glas_adapters.tf.backend`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from glas_adapters import _engine
from glas_adapters.tf.backend import HWC_SPATIAL_AXES, KerasBackend
from glas_adapters.tf.onnx_runtime import keras_backend
from glas_core import GLASConfig, GLASResult, RecursiveResult
from glas_core.adaptive import DEFAULT_KEEP
from glas_core.config import config_from
from glas_core.errors import fail

__all__ = ["HWC_SPATIAL_AXES", "explain", "explain_multiscale", "explain_recursive"]

Maps = Any  # an array in the images' framework: NumPy, tf.Tensor, jax.Array or torch.Tensor


def explain(
    model: Callable[..., Any],
    images: Any,
    targets: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
    *,
    class_index: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
    grid: int | tuple[int, int] | None = None,
    sigma: Any = None,
    sigma_px: Any = None,
    mode: str | None = None,
    lam: float | None = None,
    baseline: Any = None,
    probabilities: Any = "softmax",
    batch_size: int | None = None,
    progress: bool | Callable[[int, int], None] = False,
    config: GLASConfig | None = None,
    return_result: bool = False,
    runtime: str = "keras",
) -> Maps | GLASResult | list[GLASResult]:
    """GLAS saliency maps (the paper's Eq. 1-3) of a Keras model for channels-last images.

    Parameters
    ----------
    model
        A Keras 3 model on any backend (called as ``model(x, training=False)``, compiled), or
        any callable mapping a ``(B, H, W, C)`` batch to ``(B, num_classes)`` outputs (called
        as it is, with the tensors of the images' framework, or of the imported Keras' backend
        for NumPy images; on TensorFlow it is traced with ``tf.function`` when it can be).
    images
        ``(N, H, W, C)`` batch or one ``(H, W, C)`` image of floats: NumPy, ``tf.Tensor``,
        ``jax.Array`` or ``torch.Tensor`` (any device, with or without grad), or a list of
        equally shaped images. Integer images are refused: scale them as the model expects.
    targets
        The contract of every adapter: an int is that class for every image; None each image's
        predicted class; a list is one class per image of a batch (Captum's rule) and several
        classes (one map each) for a single image; an ``(N, T)`` nested list / array is T
        classes per image (e.g. the top 5).  All are explained in one sweep of ``2P + 1`` rows
        per image.  A single-output sigmoid model has one class, index 0.
    class_index
        The same as ``targets`` (the tf-explain name); give one of the two.
    grid, sigma, sigma_px, mode, lam
        As in :func:`glas_core.explain`; None is the default: ``grid`` 15 points per axis (or
        ``(ky, kx)``), scales (5, 3, 6) in grid cells (the paper's localisation setting; a
        scalar such as 3.0 sets all three) or in pixels with ``sigma_px``, ``mode`` "fusion"
        ("light" and "shadow" are the paper's ablation), ``lam`` 1e-5.
    baseline
        Perturbation baseline: rows are ``b + (x - b) * G`` (None or 0 is the paper); a scalar, an
        array broadcastable to one ``(H, W, C)`` image, or one per image ``(N, H, W, C)``.
    probabilities
        How outputs become P(y|I): ``"softmax"`` (logits of exclusive classes), ``"sigmoid"``
        (single-output binary or multi-label models), None (outputs already are
        probabilities) or a callable ``outputs -> probabilities``. With ``"softmax"`` and
        ``"sigmoid"`` the sweep is scored in log-probabilities (float32 or float64), so each
        map is Eq. 3 divided by one positive factor (``result.log_scale``) and an
        over-confident model still gets an informative map.
    batch_size
        Most perturbed images per model call (None: 64).  The rows of all images are packed
        into calls of one fixed size of at most ``batch_size`` (the last one zero-padded), so
        the model is compiled once.
    progress
        True for a progress bar over all images (tqdm if installed), or a callable
        ``progress(done_rows, total_rows)``.
    config
        A :class:`glas_core.GLASConfig` holding grid, sigma, sigma_px, mode, lam, batch_size
        (and custom ``points``) at once; then none of those keywords may be given.
    return_result
        Return the :class:`glas_core.GLASResult` of each image instead of the maps (a list for
        a batch, one result for a single image; ``saliency`` in the images' framework).
    runtime
        ``"keras"``, or ``"onnx"`` to run the sweep in ONNX Runtime on the model converted by
        tf2onnx once per image shape and checked against Keras on the clean images (to 1e-4);
        TensorFlow backend only. What cannot run there runs in Keras, with a warning saying why
        (:mod:`glas_adapters.tf.onnx_runtime`).

    Returns
    -------
    array, or GLASResult / list of GLASResult
        ``(N, H, W)`` float maps, or ``(H, W)`` for a single ``(H, W, C)`` image; with several
        classes per image: ``(N, T, H, W)`` (``(T, H, W)`` for a single image). In the
        framework and on the device of ``images`` (NumPy for NumPy or a list).

    Raises
    ------
    GLASError
        For channels-first, integer, ragged or wrongly ranked images, images that do not fit
        the model's input, models with several inputs, classes out of range, bad settings,
        model outputs that are not ``(N, num_classes)`` finite scores and errors the model
        raises (told on one line, the model's own error chained).
    """
    settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                           batch_size=batch_size)
    backend = keras_backend(model, images, runtime)
    return _engine.explain(backend, _targets(targets, class_index, backend), probabilities=probabilities,
                           config=settings, baseline=baseline, progress=progress, return_result=return_result)


def explain_recursive(
    model: Callable[..., Any],
    images: Any,
    targets: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
    *,
    class_index: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
    t1: float = 0.8,
    t2: float = 5.0,
    max_iter: int = 5,
    stop: str = "paper",
    min_evidence: float = 0.1,
    reuse_tol: float | None = None,
    dim: str = "map",
    grid: int | tuple[int, int] | None = None,
    sigma: Any = None,
    sigma_px: Any = None,
    mode: str | None = None,
    lam: float | None = None,
    baseline: Any = None,
    probabilities: Any = "softmax",
    batch_size: int | None = None,
    progress: bool | Callable[[int, int], None] = False,
    config: GLASConfig | None = None,
    return_result: bool = False,
    runtime: str = "keras",
) -> Maps | RecursiveResult | list[RecursiveResult]:
    """Recursive GLAS (the paper's Algorithm 1) for channels-last images.

    Each iteration dims the image by the normalised map, drops the search points above
    ``t1`` and explains again, until ``sqrt(mean(S) / P(y|I)) >= t2``, no points remain or
    ``max_iter`` iterations ran (see :func:`glas_core.explain_recursive`).  ``stop="paper"``
    adds every iteration with weight 1 (Algorithm 1 as printed); ``stop="evidence"`` weighs
    each later iteration by its evidence relative to the first and ends the loop, adding
    nothing, at an iteration whose relative evidence is below ``min_evidence``.  ``reuse_tol``
    (None: full sweeps) keeps the light scores of points whose masks saw at most that share of
    dimming since they were taken (:mod:`glas_core.light_reuse`).  ``dim="above_t1"`` dims
    each image only where the normalised map exceeds ``t1`` (``dim="map"``, the default, dims
    by the whole map, Algorithm 1); with ``sigma=1.0``, ``stop="evidence"``,
    ``min_evidence=0.5`` and ``max_iter=2`` it is the setting that separates instances
    (``glas_core.recursive.SEPARATE_INSTANCES``).  Images are
    explained one after the other (each iteration depends on the last); several classes of
    an image share each sweep.  Other parameters as
    in :func:`explain`; the progress total grows as the iterations run.

    Returns
    -------
    array, or RecursiveResult / list of RecursiveResult
        Accumulated maps shaped as :func:`explain`'s, in the images' framework, or the
        per-image results.
    """
    settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                           batch_size=batch_size)
    backend = keras_backend(model, images, runtime)
    loop = dict(t1=t1, t2=t2, max_iter=max_iter, stop=stop, min_evidence=min_evidence, reuse_tol=reuse_tol,
                dim=dim)
    return _engine.explain_recursive(backend, _targets(targets, class_index, backend), probabilities=probabilities,
                                     config=settings, baseline=baseline, progress=progress,
                                     return_result=return_result, loop=loop)


def explain_multiscale(
    model: Callable[..., Any],
    images: Any,
    targets: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
    *,
    class_index: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
    sigmas: Sequence[Any] = (5.0, 3.0, 1.0),
    in_pixels: bool = False,
    adaptive: bool = False,
    keep: float = DEFAULT_KEEP,
    grid: int | tuple[int, int] | None = None,
    mode: str | None = None,
    lam: float | None = None,
    baseline: Any = None,
    probabilities: Any = "softmax",
    batch_size: int | None = None,
    progress: bool | Callable[[int, int], None] = False,
    config: GLASConfig | None = None,
    return_result: bool = False,
    runtime: str = "keras",
) -> Maps | list[GLASResult] | list[list[GLASResult]]:
    """Coarse-to-fine GLAS: one map per scale in ``sigmas`` (the paper's Figure 1).

    ``sigmas`` holds grid-cell scales (a scalar or a (light, shadow, spatial) triple each),
    or pixels with ``in_pixels=True``; a ``config``'s own sigma is not used.  Each scale is
    one packed sweep over all images.  ``adaptive=True`` instead sweeps each finer scale only
    where the previous scale's map is at least ``keep`` of its peak (image by image, coarsest
    scale first; see :func:`glas_core.explain_multiscale`): about half the forward passes at
    the default ``keep``, each result's ``n_forward`` counting its rows.  Other parameters as
    in :func:`explain`.

    Returns
    -------
    array or lists of GLASResult
        ``(N, S, H, W)`` maps for ``S = len(sigmas)`` (``(S, H, W)`` for one image) in the
        images' framework; with several classes per image ``(N, S, T, H, W)`` (all of an
        image's classes in each sweep); or the per-image lists of results.
    """
    settings = config_from(config, grid=grid, mode=mode, lam=lam, batch_size=batch_size)
    _engine.check_scales(sigmas)
    backend = keras_backend(model, images, runtime)
    return _engine.explain_multiscale(backend, _targets(targets, class_index, backend), probabilities=probabilities,
                                      config=settings, baseline=baseline, progress=progress,
                                      return_result=return_result, sigmas=sigmas, in_pixels=in_pixels,
                                      adaptive=adaptive, keep=keep)


def _targets(targets: Any, class_index: Any, backend: KerasBackend) -> _engine.TargetRequest:
    """Read ``targets`` (or its tf-explain alias ``class_index``) by the contract."""
    name = "targets"
    if class_index is not None:
        if targets is not None:
            raise fail("class_index", class_index, "None when targets= is given (it is an alias of targets)",
                       "pass the classes once, as targets=")
        targets, name = class_index, "class_index"
    return _engine.read_targets(targets, backend.n_examples, backend.single, name)
