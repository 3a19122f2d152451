"""GLAS maps of Keras models for channels-last images: explain, explain_recursive, explain_multiscale.

The model runs on its own Keras backend (TensorFlow, JAX or torch; a plain callable on the
framework of the images), through a compiled forward on fixed-size chunks
(:mod:`glas_adapters.tf.engines`). Small images on the CPU are perturbed by :mod:`glas_core` on
NumPy; images on an accelerator, and large ones on TensorFlow or JAX, with the framework's own
ops where the model reads them. Several images are
explained in one packed stream (:func:`glas_core.explain_batch`), so every model call but the
last gets a full chunk. Maps come back in the framework the images came in. Nothing here
changes global TensorFlow, JAX, torch or Keras state, nor the model's.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

import glas_core
from glas_adapters._common import Progress, check_probabilities
from glas_adapters.tf import engines
from glas_adapters.tf.frameworks import framework_of, keras_layer, like, path_for, to_host
from glas_adapters.tf.inputs import as_images, check_model_inputs, class_indices, image_shape
from glas_adapters.tf.scoring import Scorer, balanced_chunk
from glas_core import GLASConfig, GLASResult, RecursiveResult
from glas_core.adaptive import DEFAULT_KEEP
from glas_core.config import config_from
from glas_core.errors import fail

#: the spatial axes of one channels-last image (H, W, C)
HWC_SPATIAL_AXES = (0, 1)

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
    baseline: Any = 0.0,
    probabilities: Any = "softmax",
    batch_size: int | None = None,
    progress: bool | Callable[[int, int], None] = False,
    config: GLASConfig | None = None,
    return_result: bool = False,
) -> Maps | list[GLASResult]:
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
        Classes to explain: one int for all images, one int per image, None for each image's
        predicted class, or an ``(N, T)`` nested list / array of T classes per image (e.g. the
        top 5), all explained in one sweep of ``2P + 1`` rows.  A single-output sigmoid model
        has one class, index 0.
    class_index
        The same as ``targets`` (the tf-explain name); give one of the two.
    grid, sigma, sigma_px, mode, lam
        As in :func:`glas_core.explain`; None is the default: ``grid`` 15 points per axis (or
        ``(ky, kx)``), scales (5, 3, 6) in grid cells (the paper's localisation setting; a
        scalar such as 3.0 sets all three) or in pixels with ``sigma_px``, ``mode`` "fusion"
        ("light" and "shadow" are the paper's ablation), ``lam`` 1e-5.
    baseline
        Perturbation baseline: rows are ``b + (x - b) * G`` (the paper is 0); a scalar, an
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
        Return the :class:`glas_core.GLASResult` of each image instead of the maps (its
        ``saliency`` in the images' framework).

    Returns
    -------
    array or list of GLASResult
        ``(N, H, W)`` float maps, or ``(H, W)`` for a single ``(H, W, C)`` image; with
        ``(N, T)`` targets: ``(N, T, H, W)`` (``(T, H, W)`` for a single image). In the
        framework and on the device of ``images`` (NumPy for NumPy or a list).

    Raises
    ------
    GLASError
        For channels-first, integer, ragged or wrongly ranked images, images that do not fit
        the model's input, models with several inputs, classes out of range, bad settings,
        model outputs that are not ``(N, num_classes)`` finite scores and errors the model
        raises (told on one line, the model's own error chained).
    """
    run = _Run(model, images, probabilities, _settings(config, grid, sigma, sigma_px, mode, lam, batch_size))
    classes = run.targets(targets, class_index, several_per_image=True)
    with Progress(progress, total=run.n_rows * run.n_images) as report:
        results = run.packed(classes, baseline, report, run.core_settings())
    if return_result:
        return [run.result(r) for r in results]
    maps = [glas_core.to_numpy(r.saliency) for r in results]
    return run.maps([m[None] for m in maps] if run.several_per_image else maps)


def explain_recursive(
    model: Callable[..., Any],
    images: Any,
    targets: int | Sequence[int] | None = None,
    *,
    class_index: int | Sequence[int] | None = None,
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
    return_result: bool = False,
) -> Maps | list[RecursiveResult]:
    """Recursive GLAS (the paper's Algorithm 1) for channels-last images, one class per image.

    Each iteration dims the image by the normalised map, drops the search points above
    ``t1`` and explains again, until ``sqrt(mean(S) / P(y|I)) >= t2``, no points remain or
    ``max_iter`` iterations ran (see :func:`glas_core.explain_recursive`).  ``stop="paper"``
    adds every iteration with weight 1 (Algorithm 1 as printed); ``stop="evidence"`` weighs
    each later iteration by its evidence relative to the first and ends the loop, adding
    nothing, at an iteration whose relative evidence is below ``min_evidence``.  ``reuse_tol``
    (None: full sweeps) keeps the light scores of points whose masks saw at most that share of
    dimming since they were taken (:mod:`glas_core.light_reuse`).  Images are
    explained one after the other (each iteration depends on the last).  Other parameters as
    in :func:`explain`; the progress total grows as the iterations run.

    Returns
    -------
    array or list of RecursiveResult
        ``(N, H, W)`` accumulated maps (``(H, W)`` for one image) in the images' framework,
        or the per-image results.
    """
    run = _Run(model, images, probabilities, _settings(config, grid, sigma, sigma_px, mode, lam, batch_size))
    classes = run.targets(targets, class_index)  # later iterations have fewer points: they pad more
    results = []
    with Progress(progress) as report:
        for i in range(run.n_images):
            results.append(glas_core.explain_recursive(
                run.score_fn([[classes[i]]]), run.batch[i], t1=t1, t2=t2, max_iter=max_iter,
                stop=stop, min_evidence=min_evidence, reuse_tol=reuse_tol, spatial_axes=HWC_SPATIAL_AXES,
                baseline=run.baseline_of(baseline, i), progress=report.sweeps(),
                log_scores=run.scorer.log_scores, **run.core_settings()))
    if return_result:
        return [run.result(r) for r in results]
    return run.maps([glas_core.to_numpy(r.saliency) for r in results])


def explain_multiscale(
    model: Callable[..., Any],
    images: Any,
    targets: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
    *,
    class_index: int | Sequence[int] | None = None,
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
    return_result: bool = False,
) -> Maps | list[list[GLASResult]]:
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
    array or list of list of GLASResult
        ``(N, S, H, W)`` maps for ``S = len(sigmas)`` (``(S, H, W)`` for one image) in the
        images' framework; with ``(N, T)`` targets ``(N, S, T, H, W)`` (all of an image's
        targets in each sweep); or the per-image lists of results.
    """
    if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Sequence) or len(sigmas) == 0:
        raise fail("sigmas", sigmas, "a non-empty list of scales", "use e.g. sigmas=[5, 3, 1]")
    run = _Run(model, images, probabilities, _settings(config, grid, None, None, mode, lam, batch_size))
    classes = run.targets(targets, class_index, several_per_image=True)
    if adaptive:
        with Progress(progress) as report:
            results = [glas_core.explain_multiscale(
                run.score_fn([classes[i]]), run.batch[i], list(sigmas), in_pixels=in_pixels, adaptive=True,
                keep=keep, spatial_axes=HWC_SPATIAL_AXES, baseline=run.baseline_of(baseline, i),
                progress=report.sweeps(), log_scores=run.scorer.log_scores, **run.core_settings(with_sigma=False))
                for i in range(run.n_images)]
    else:
        key = "sigma_px" if in_pixels else "sigma"
        per_scale = []
        with Progress(progress, total=run.n_rows * run.n_images * len(sigmas)) as report:
            for s in sigmas:
                settings = dict(run.core_settings(with_sigma=False), **{key: s})
                per_scale.append(run.packed(classes, baseline, report, settings))
        results = [[scale[i] for scale in per_scale] for i in range(run.n_images)]
    if return_result:
        return [[run.result(r) for r in rs] for rs in results]
    stacked = [np.stack([glas_core.to_numpy(r.saliency) for r in rs]) for rs in results]  # (S, T, H, W) each
    return run.maps([(m if run.several_per_image else m[:, 0])[None] for m in stacked])


# ---------------------------------------------------------------------------------- internals
def _settings(config: GLASConfig | None, grid: Any, sigma: Any, sigma_px: Any, mode: Any, lam: Any,
              batch_size: Any) -> GLASConfig:
    """The call's settings as one validated config (keywords and ``config=`` are exclusive)."""
    return config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam, batch_size=batch_size)


class _Run:
    """Images, engine, scorer, settings and chunk size of one call, validated once at the public boundary."""

    several_per_image = False

    def __init__(self, model: Any, images: Any, probabilities: Any, config: GLASConfig) -> None:
        check_probabilities(probabilities)
        images = as_images(images)
        batch_shape, self.single = image_shape(images)
        if keras_layer(model):
            check_model_inputs(model, batch_shape)
        self.given = images
        self.engine = engines.engine_for(path_for(model, images))
        self.batch = self._work_batch(images)
        on_cpu = framework_of(self.batch) == "numpy" or not self.engine.on_accelerator(self.batch)
        self.scorer = Scorer(model, probabilities, self.engine, host_scores=on_cpu)
        self.n_images = int(batch_shape[0])
        self.spatial_shape = (int(batch_shape[1]), int(batch_shape[2]))
        self.config = config
        # resolving the plan checks grid and sigma against the image size before any forward pass
        self.n_rows = config.resolve(self.spatial_shape).rows.n_rows
        self.chunk = balanced_chunk(self.n_rows, config.batch_size)

    def _work_batch(self, images: Any) -> Any:
        """The ``(N, H, W, C)`` images the core perturbs: the framework's on an accelerator (and for
        large images), else NumPy (:meth:`~glas_adapters.tf.engines.Engine.core_on_native`)."""
        batch = images[None] if self.single else images
        if self.engine.core_on_native(self.engine.native(batch[:1])):
            return self.engine.native(batch)
        host = to_host(batch)
        return host.astype(np.float32) if host.dtype.name == "bfloat16" else host  # NumPy cannot compute in bfloat16

    def core_settings(self, with_sigma: bool = True) -> dict[str, Any]:
        """Keywords of the core call: the config's settings, with the call's chunk as batch size.

        Passed as keywords rather than ``config=`` because the recursive and multi-scale sweeps
        set the scales of their later sweeps themselves.
        """
        c = self.config
        settings = dict(grid=c.grid, mode=c.mode, lam=c.lam, batch_size=self.chunk, points=c.points)
        if with_sigma:
            settings.update(sigma=c.sigma, sigma_px=c.sigma_px)
        return settings

    def targets(self, targets: Any, class_index: Any, several_per_image: bool = False) -> list[Any]:
        """Classes per image, checked against the model's outputs on the clean images.

        One int per image, or with ``several_per_image`` a list of classes per image (2-D
        targets; anything else gives one-element lists).
        """
        name = "targets"
        if class_index is not None:
            if targets is not None:
                raise fail("class_index", class_index, "None when targets= is given (it is an alias of targets)",
                           "pass the classes once, as targets=")
            targets, name = class_index, "class_index"
        clean, predicted = self.scorer.clean_outputs(self.batch, self.chunk)
        self.scorer.check_clean(clean)
        indices = class_indices(targets, self.n_images, clean.shape[1], predicted, name)
        if indices.ndim == 2 and not several_per_image:
            raise fail(name, f"shape {indices.shape}", "one class per image here",
                       "call once per class, or use glas_adapters.tf.explain for several classes in one sweep")
        if not several_per_image:
            return [int(t) for t in indices]
        self.several_per_image = indices.ndim == 2
        return [[int(t) for t in np.atleast_1d(row)] for row in indices]

    def score_fn(self, classes: list[list[int]], chunk: int | None = None) -> Callable[[Any], Any]:
        """The score function of a sweep over ``len(classes)`` images (one list of classes each)."""
        return self.scorer.score_fn(np.asarray(classes), chunk or self.chunk, self.n_rows)

    def packed(self, classes: list[list[int]], baseline: Any, report: Progress,
               settings: dict[str, Any]) -> list[GLASResult]:
        """One packed sweep over every image (:func:`glas_core.explain_batch`)."""
        chunk = balanced_chunk(self.n_rows * self.n_images, self.config.batch_size)
        settings = dict(settings, batch_size=chunk)
        return glas_core.explain_batch(self.score_fn(classes, chunk), self.batch, spatial_axes=HWC_SPATIAL_AXES,
                                       baseline=baseline, progress=report.sweep(),
                                       log_scores=self.scorer.log_scores, **settings)

    @staticmethod
    def baseline_of(baseline: Any, i: int) -> Any:
        """Image ``i``'s baseline: its row of an ``(N, H, W, C)`` array, else the one given."""
        shape = getattr(baseline, "shape", None)
        return baseline[i] if shape is not None and len(shape) == 4 else baseline

    def result(self, result: Any) -> Any:
        """A core result with its saliency in the images' framework."""
        if framework_of(self.given) == framework_of(result.saliency):
            return result
        return dataclasses.replace(result, saliency=like(glas_core.to_numpy(result.saliency), self.given))

    def maps(self, saliencies: list[np.ndarray]) -> Maps:
        """Stack per-image ``(1, ...)`` saliencies to ``(N, ...)``; drop N for a single image; the images' framework."""
        out = np.concatenate(saliencies, axis=0)
        return like(out[0] if self.single else out, self.given)
