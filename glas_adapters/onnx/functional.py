"""GLAS maps of ONNX models run by ONNX Runtime: explain, explain_multiscale and explain_recursive.

NumPy images in the model's own layout go in, NumPy maps come out, by the contract every
adapter shares (:mod:`glas_adapters._engine`): the perturbed rows of all images are packed
into full batches, every target of an image is explained in the same sweep, and logits are
scored as log-probabilities on the host.  The session is never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from glas_adapters import _engine
from glas_adapters.onnx.backend import OnnxBackend
from glas_core import GLASConfig, GLASResult, RecursiveResult
from glas_core.adaptive import DEFAULT_KEEP
from glas_core.config import config_from


def explain(
    model: Any,
    images: Any,
    targets: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
    *,
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
    layout: str | None = None,
    session_options: Any = None,
    providers: Sequence[Any] | None = None,
    return_result: bool = False,
) -> np.ndarray | GLASResult | list[GLASResult]:
    """GLAS saliency maps (the paper's Eq. 1-3) of an ONNX image classifier.

    Parameters
    ----------
    model
        A path to a ``.onnx`` file, or an ``onnxruntime.InferenceSession``.  The model has
        one 4-D float input (its name, layout, dtype and batch axis are read from the
        model) and one ``(N, num_classes)`` output.  A fixed batch axis (an export with
        batch size 1) is fed that many rows per run.
    images
        What ``session.run`` would take: a batch ``(N, C, H, W)`` or ``(N, H, W, C)`` in the
        model's layout, or one image without N; NumPy or anything ``numpy.asarray`` takes.
        Integer images are cast (values unchanged); the caller's array is never changed.
    targets
        The contract of every adapter: an int is that class for every image; None each image's
        predicted class; a list is one class per image of a batch (Captum's rule) and several
        classes (one map each) for a single image; an ``(N, T)`` nested list / array is T
        classes per image (e.g. the top 5).  All are explained in one sweep.  A single-output
        sigmoid model has class 0.
    grid, sigma, sigma_px, mode, lam
        As in :func:`glas_core.explain`; None is the default: 15 points per axis, scales
        (5, 3, 6) in grid cells (or pixels with ``sigma_px``), "fusion", 1e-5.
    baseline
        What the masks fade to: rows are ``b + (x - b) * G`` (None or 0 is the paper); a
        scalar, an array broadcastable to one image, or one per image.  For a model that normalises
        nothing itself, pass the normalised value of black, e.g. ``-mean / std`` per channel.
    probabilities
        How outputs become P(y|I): ``"softmax"`` (logits of exclusive classes),
        ``"sigmoid"`` (multi-label or single-output binary logits), None (outputs already are
        probabilities) or a callable ``numpy outputs -> probabilities``.
    batch_size
        Rows per session run (None: 64); a multiple of a fixed batch axis.
    progress
        True for a progress bar over all rows (tqdm if installed), or ``progress(done, total)``.
    config
        A :class:`glas_core.GLASConfig` holding grid, sigma, sigma_px, mode, lam, batch_size
        (and custom ``points``) at once; then none of those keywords may be given.
    layout
        "NCHW" or "NHWC"; None reads it from the model's input shape (then from the images'
        shape when every input axis is dynamic).
    session_options, providers
        Passed to ``onnxruntime.InferenceSession`` when ``model`` is a path: e.g. a
        ``SessionOptions`` with ``intra_op_num_threads`` set, or
        ``["CUDAExecutionProvider", "CPUExecutionProvider"]``.  None: ONNX Runtime's default
        options; CUDA when this onnxruntime offers it, then CPU.
    return_result
        Return the :class:`glas_core.GLASResult` of each image instead of the maps (a list
        for a batch, one result for a single image).

    Returns
    -------
    numpy.ndarray, or GLASResult / list of GLASResult
        ``(N, H, W)`` maps, ``(H, W)`` for a single image; with several classes per image
        ``(N, T, H, W)`` (``(T, H, W)`` for one image).  Each map is Eq. 3 divided by one
        positive factor per target (``result.log_scale``, from the log-domain evaluation).

    Raises
    ------
    GLASError
        A file that is not a valid ONNX model, a model with several inputs or outputs or a
        non-float input, images the model does not take, classes out of range, bad settings,
        and outputs that are not finite ``(N, num_classes)`` scores.
    """
    settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                           batch_size=batch_size)
    backend = OnnxBackend(model, images, layout, session_options, providers)
    return _engine.explain(backend, _targets(targets, backend), probabilities=probabilities, config=settings,
                           baseline=baseline, progress=progress, return_result=return_result)


def explain_multiscale(
    model: Any,
    images: Any,
    targets: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
    *,
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
    layout: str | None = None,
    session_options: Any = None,
    providers: Sequence[Any] | None = None,
    return_result: bool = False,
) -> np.ndarray | list[GLASResult] | list[list[GLASResult]]:
    """Coarse-to-fine GLAS of an ONNX image classifier: one map per scale (the paper's Figure 1).

    ``sigmas`` holds grid-cell scales (a scalar or a (light, shadow, spatial) triple each), or
    pixels with ``in_pixels=True``; a ``config``'s own sigma is not used.  Each scale is one
    packed sweep over all images.  ``adaptive=True`` instead sweeps each finer scale only where
    the previous scale's map is at least ``keep`` of its peak (image by image, coarsest scale
    first; see :func:`glas_core.explain_multiscale`): about half the session rows at the
    default ``keep``, each result's ``n_forward`` counting its rows.  Other parameters as in
    :func:`explain`.

    Returns
    -------
    numpy.ndarray or lists of GLASResult
        ``(N, S, H, W)`` maps for ``S = len(sigmas)`` (``(N, S, T, H, W)`` with several classes
        per image; no N for a single image), or one list of results per image.
    """
    settings = config_from(config, grid=grid, mode=mode, lam=lam, batch_size=batch_size)
    _engine.check_scales(sigmas)
    backend = OnnxBackend(model, images, layout, session_options, providers)
    return _engine.explain_multiscale(backend, _targets(targets, backend), probabilities=probabilities,
                                      config=settings, baseline=baseline, progress=progress,
                                      return_result=return_result, sigmas=sigmas, in_pixels=in_pixels,
                                      adaptive=adaptive, keep=keep)


def explain_recursive(
    model: Any,
    images: Any,
    targets: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
    *,
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
    layout: str | None = None,
    session_options: Any = None,
    providers: Sequence[Any] | None = None,
    return_result: bool = False,
) -> np.ndarray | RecursiveResult | list[RecursiveResult]:
    """Recursive GLAS (the paper's Algorithm 1) of an ONNX image classifier, image by image.

    Each iteration dims the image by the normalised map, drops the search points above
    ``t1`` and explains again, until ``sqrt(mean(S) / P(y|I)) >= t2``, no points remain or
    ``max_iter`` iterations ran (see :func:`glas_core.explain_recursive`); several targets of
    an image share the first sweep.  ``stop="paper"`` adds every iteration with weight 1
    (Algorithm 1 as printed); ``stop="evidence"`` weighs each later iteration by its evidence
    relative to the first and ends the loop, adding nothing, at an iteration whose relative
    evidence is below ``min_evidence``.  ``reuse_tol`` (None: full sweeps) keeps the light
    scores of points whose masks saw at most that share of dimming since they were taken
    (:mod:`glas_core.light_reuse`).  ``dim="above_t1"`` dims each image only where the
    normalised map exceeds ``t1`` (``dim="map"``, the default, dims by the whole map,
    Algorithm 1); with ``sigma=1.0``, ``stop="evidence"``, ``min_evidence=0.5`` and
    ``max_iter=2`` it is the setting that separates instances
    (``glas_core.recursive.SEPARATE_INSTANCES``).  Other parameters as in :func:`explain`; the progress
    total grows as the iterations run.

    Returns
    -------
    numpy.ndarray or list of RecursiveResult
        Accumulated maps shaped as :func:`explain`'s, or the per-image results.
    """
    settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                           batch_size=batch_size)
    backend = OnnxBackend(model, images, layout, session_options, providers)
    loop = dict(t1=t1, t2=t2, max_iter=max_iter, stop=stop, min_evidence=min_evidence, reuse_tol=reuse_tol,
                dim=dim)
    return _engine.explain_recursive(backend, _targets(targets, backend), probabilities=probabilities,
                                     config=settings, baseline=baseline, progress=progress,
                                     return_result=return_result, loop=loop)


def _targets(targets: Any, backend: OnnxBackend) -> _engine.TargetRequest:
    return _engine.read_targets(targets, backend.n_examples, backend.single)
