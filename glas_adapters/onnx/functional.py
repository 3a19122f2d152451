"""GLAS maps of ONNX models run by ONNX Runtime: explain, explain_multiscale and explain_recursive.

NumPy images in the model's own layout go in, NumPy maps come out.  The perturbed rows of
all images are packed into full batches (:func:`glas_core.explain_batch`), every target of
an image is explained in the same sweep, and scores are log-probabilities computed on the
host (``log_scores=True``).  The session is never changed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

import glas_core
from glas_adapters._common import Progress, check_probabilities
from glas_adapters.onnx.inputs import check_images, class_indices
from glas_adapters.onnx.scoring import Scorer, SessionRunner, log_probabilities
from glas_adapters.onnx.session import open_session, signature_of
from glas_core import GLASConfig, GLASResult, RecursiveResult
from glas_core.adaptive import DEFAULT_KEEP
from glas_core.config import config_from
from glas_core.errors import fail, quoted


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
    baseline: Any = 0.0,
    probabilities: Any = "softmax",
    batch_size: int | None = None,
    progress: bool | Callable[[int, int], None] = False,
    config: GLASConfig | None = None,
    layout: str | None = None,
    session_options: Any = None,
    providers: Sequence[Any] | None = None,
    return_result: bool = False,
) -> np.ndarray | list[GLASResult]:
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
        Classes to explain: one int for all images, one int per image, None for each image's
        predicted class, or an ``(N, T)`` nested list / array of T classes per image (e.g. the
        top 5), all explained in one sweep.  A single-output sigmoid model has class 0.
    grid, sigma, sigma_px, mode, lam
        As in :func:`glas_core.explain`; None is the default: 15 points per axis, scales
        (5, 3, 6) in grid cells (or pixels with ``sigma_px``), "fusion", 1e-5.
    baseline
        What the masks fade to: rows are ``b + (x - b) * G`` (the paper is 0); a scalar, an
        array broadcastable to one image, or one per image.  For a model that normalises
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
        Return the :class:`glas_core.GLASResult` of each image instead of the maps.

    Returns
    -------
    numpy.ndarray or list of GLASResult
        ``(N, H, W)`` maps, ``(H, W)`` for a single image; with ``(N, T)`` targets
        ``(N, T, H, W)`` (``(T, H, W)`` for one image).  Each map is Eq. 3 divided by one
        positive factor per target (``result.log_scale``, from the log-domain evaluation).

    Raises
    ------
    GLASError
        A file that is not a valid ONNX model, a model with several inputs or outputs or a
        non-float input, images the model does not take, classes out of range, bad settings,
        and outputs that are not finite ``(N, num_classes)`` scores.
    """
    run = _Run(model, images, probabilities, layout, session_options, providers,
               config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                           batch_size=batch_size))
    table = run.targets(targets)
    score_fn = run.scorer.packed_score_fn(table, run.n_rows)
    with Progress(progress, total=run.n_rows * run.n_images) as report:
        results = glas_core.explain_batch(score_fn, run.images.batch, spatial_axes=run.images.spatial_axes,
                                          baseline=baseline, progress=report.sweep(), config=run.config,
                                          log_scores=True)
    score_fn.check_done()
    return results if return_result else run.maps([r.saliency for r in results])


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
    baseline: Any = 0.0,
    probabilities: Any = "softmax",
    batch_size: int | None = None,
    progress: bool | Callable[[int, int], None] = False,
    config: GLASConfig | None = None,
    layout: str | None = None,
    session_options: Any = None,
    providers: Sequence[Any] | None = None,
    return_result: bool = False,
) -> np.ndarray | list[list[GLASResult]]:
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
    numpy.ndarray or list of list of GLASResult
        ``(N, S, H, W)`` maps for ``S = len(sigmas)`` (``(N, S, T, H, W)`` with ``(N, T)``
        targets; no N for a single image), or one list of results per image.
    """
    if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Sequence) or len(sigmas) == 0:
        raise fail("sigmas", quoted(sigmas), "a non-empty list of scales", "use e.g. sigmas=[5, 3, 1]")
    run = _Run(model, images, probabilities, layout, session_options, providers,
               config_from(config, grid=grid, mode=mode, lam=lam, batch_size=batch_size))
    table = run.targets(targets)
    key = "sigma_px" if in_pixels else "sigma"
    scaled = [dataclasses.replace(run.config, **{"sigma": None, "sigma_px": None, key: s}) for s in sigmas]
    if adaptive:
        with Progress(progress) as report:
            results = [glas_core.explain_multiscale(
                run.scorer.score_fn(table[i]), run.images.batch[i], list(sigmas), in_pixels=in_pixels,
                adaptive=True, keep=keep, spatial_axes=run.images.spatial_axes, baseline=baseline,
                progress=report.sweeps(), config=scaled[0], log_scores=True) for i in range(run.n_images)]
    else:
        rows = [c.resolve(run.images.spatial_shape).rows.n_rows for c in scaled]
        per_scale = []
        with Progress(progress, total=sum(rows) * run.n_images) as report:
            for config, n_rows in zip(scaled, rows):
                score_fn = run.scorer.packed_score_fn(table, n_rows)
                per_scale.append(glas_core.explain_batch(
                    score_fn, run.images.batch, spatial_axes=run.images.spatial_axes, baseline=baseline,
                    progress=report.sweep(), config=config, log_scores=True))
                score_fn.check_done()
        results = [[scale[i] for scale in per_scale] for i in range(run.n_images)]
    if return_result:
        return results
    out = np.stack([np.stack([glas_core.to_numpy(r.saliency) for r in rs]) for rs in results])  # (N, S, T, H, W)
    out = out if run.several_per_image else out[:, :, 0]
    return out[0] if run.images.single else out


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
    grid: int | tuple[int, int] | None = None,
    sigma: Any = None,
    sigma_px: Any = None,
    mode: str | None = None,
    lam: float | None = None,
    baseline: Any = 0.0,
    probabilities: Any = "softmax",
    batch_size: int | None = None,
    progress: bool | Callable[[int, int], None] = False,
    config: GLASConfig | None = None,
    layout: str | None = None,
    session_options: Any = None,
    providers: Sequence[Any] | None = None,
    return_result: bool = False,
) -> np.ndarray | list[RecursiveResult]:
    """Recursive GLAS (the paper's Algorithm 1) of an ONNX image classifier, image by image.

    Each iteration dims the image by the normalised map, drops the search points above
    ``t1`` and explains again, until ``sqrt(mean(S) / P(y|I)) >= t2``, no points remain or
    ``max_iter`` iterations ran (see :func:`glas_core.explain_recursive`); several targets of
    an image share the first sweep.  ``stop="paper"`` adds every iteration with weight 1
    (Algorithm 1 as printed); ``stop="evidence"`` weighs each later iteration by its evidence
    relative to the first and ends the loop, adding nothing, at an iteration whose relative
    evidence is below ``min_evidence``.  ``reuse_tol`` (None: full sweeps) keeps the light
    scores of points whose masks saw at most that share of dimming since they were taken
    (:mod:`glas_core.light_reuse`).  Other parameters as in :func:`explain`; the progress
    total grows as the iterations run.

    Returns
    -------
    numpy.ndarray or list of RecursiveResult
        Accumulated maps shaped as :func:`explain`'s, or the per-image results.
    """
    run = _Run(model, images, probabilities, layout, session_options, providers,
               config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                           batch_size=batch_size))
    table = run.targets(targets)
    results = []
    with Progress(progress) as report:
        for i in range(run.n_images):
            results.append(glas_core.explain_recursive(
                run.scorer.score_fn(table[i]), run.images.batch[i], t1=t1, t2=t2, max_iter=max_iter,
                stop=stop, min_evidence=min_evidence, reuse_tol=reuse_tol, spatial_axes=run.images.spatial_axes,
                baseline=baseline,
                progress=report.sweeps(), config=run.config, log_scores=True))
    return results if return_result else run.maps([r.saliency for r in results])


class _Run:
    """Session, images, scorer and settings of one call, checked before the first sweep."""

    def __init__(self, model: Any, images: Any, probabilities: Any, layout: str | None, session_options: Any,
                 providers: Any, config: GLASConfig) -> None:
        check_probabilities(probabilities)
        session = open_session(model, session_options, providers)
        signature = signature_of(session)
        self.images = check_images(images, signature, layout)
        self.n_images = int(self.images.batch.shape[0])
        # resolving the plan checks grid and sigma against the image size before any session run
        self.n_rows = config.resolve(self.images.spatial_shape).rows.n_rows
        fixed = signature.batch
        rows = config.batch_size if fixed is None else fixed * max(1, config.batch_size // fixed)
        self.config = dataclasses.replace(config, batch_size=rows)
        self.scorer = Scorer(SessionRunner(session, signature), probabilities)
        self.several_per_image = False

    def targets(self, targets: Any) -> np.ndarray:
        """``(N, T)`` classes per image, checked against the model's outputs on the clean images."""
        batch, rows = self.images.batch, self.config.batch_size
        clean = np.concatenate([self.scorer.runner.outputs(batch[s:s + rows]) for s in range(0, len(batch), rows)])
        self.scorer.check_clean(clean)
        predicted = np.argmax(log_probabilities(clean, self.scorer.probabilities), axis=1)
        indices = class_indices(targets, self.n_images, clean.shape[1], predicted)
        self.several_per_image = indices.ndim == 2
        return indices if self.several_per_image else indices[:, None]

    def maps(self, saliencies: list[Any]) -> np.ndarray:
        """Per-image ``(T, H, W)`` maps as ``(N, H, W)`` or ``(N, T, H, W)``; no N for a single image."""
        out = np.stack([glas_core.to_numpy(s) for s in saliencies])
        if not self.several_per_image:
            out = out[:, 0]
        return out[0] if self.images.single else out
