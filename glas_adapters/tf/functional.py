"""GLAS maps of Keras models for channels-last images: explain, explain_recursive, explain_multiscale.

On the TensorFlow backend the perturbed batches are built by :mod:`glas_core` with TensorFlow
ops (through the array-API shim :mod:`glas_adapters.tf.namespace`) on the device the images
live on, and the model runs as ``model(x, training=False)`` inside one ``tf.function`` on
fixed-size chunks.  Keras 3 on the JAX or torch backend is run on NumPy batches instead.
Nothing here changes global TensorFlow or Keras state.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import glas_core
from glas_adapters._common import Progress, check_probabilities
from glas_adapters.tf.inputs import class_indices, image_shape
from glas_adapters.tf.scoring import Scorer, balanced_chunk
from glas_core import GLASConfig, GLASResult, RecursiveResult
from glas_core.config import config_from
from glas_core.errors import fail

#: the spatial axes of one channels-last image (H, W, C)
HWC_SPATIAL_AXES = (0, 1)


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
        Perturbation baseline: rows are ``b + (x - b) * G`` (the paper is 0); a scalar or an
        array broadcastable to one ``(H, W, C)`` image.
    probabilities
        How outputs become P(y|I): ``"softmax"`` (logits of exclusive classes), ``"sigmoid"``
        (single-output binary or multi-label models), None (outputs already are
        probabilities) or a callable ``outputs -> probabilities``.
    batch_size
        Most perturbed images per model call (None: 64).  Calls use one fixed chunk size of at
        most ``batch_size`` (the last chunk is zero-padded), so the model is traced once.
    progress
        True for a progress bar over all images (tqdm if installed), or a callable
        ``progress(done_rows, total_rows)``.
    config
        A :class:`glas_core.GLASConfig` holding grid, sigma, sigma_px, mode, lam, batch_size
        (and custom ``points``) at once; then none of those keywords may be given.
    return_result
        Return the :class:`glas_core.GLASResult` of each image instead of the maps.

    Returns
    -------
    numpy.ndarray or list of GLASResult
        ``(N, H, W)`` float maps, or ``(H, W)`` for a single ``(H, W, C)`` image; with
        ``(N, T)`` targets: ``(N, T, H, W)`` (``(T, H, W)`` for a single image).

    Raises
    ------
    GLASError
        For channels-first or wrongly ranked images, classes out of range, bad settings and
        model outputs that are not ``(N, num_classes)`` finite scores.
    """
    run = _Run(model, images, probabilities, _settings(config, grid, sigma, sigma_px, mode, lam, batch_size))
    classes = run.targets(targets, class_index, several_per_image=True)
    results = []
    with Progress(progress, total=run.n_rows * run.n_images) as report:
        for i in range(run.n_images):
            results.append(glas_core.explain(
                run.scorer.score_fn(classes[i], run.chunk), run.image(i), spatial_axes=HWC_SPATIAL_AXES,
                baseline=baseline, progress=report.sweep(), **run.core_settings()))
    if return_result:
        return results
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
) -> np.ndarray | list[RecursiveResult]:
    """Recursive GLAS (the paper's Algorithm 1) for channels-last images, one class per image.

    Each iteration dims the image by the normalised map, drops the search points above
    ``t1`` and explains again, until ``sqrt(mean(S) / P(y|I)) >= t2``, no points remain or
    ``max_iter`` iterations ran (see :func:`glas_core.explain_recursive`).  Other parameters
    as in :func:`explain`; the progress total grows as the iterations run.

    Returns
    -------
    numpy.ndarray or list of RecursiveResult
        ``(N, H, W)`` accumulated maps (``(H, W)`` for one image), or the per-image results.
    """
    run = _Run(model, images, probabilities, _settings(config, grid, sigma, sigma_px, mode, lam, batch_size))
    classes = run.targets(targets, class_index)  # later iterations have fewer points: they pad more
    results = []
    with Progress(progress) as report:
        for i in range(run.n_images):
            results.append(glas_core.explain_recursive(
                run.scorer.score_fn([classes[i]], run.chunk), run.image(i), t1=t1, t2=t2, max_iter=max_iter,
                spatial_axes=HWC_SPATIAL_AXES, baseline=baseline, progress=report.sweeps(), **run.core_settings()))
    return results if return_result else run.maps([r.saliency for r in results])


def explain_multiscale(
    model: Callable[..., Any],
    images: Any,
    targets: int | Sequence[int] | None = None,
    *,
    class_index: int | Sequence[int] | None = None,
    sigmas: Sequence[Any] = (5.0, 3.0, 1.0),
    in_pixels: bool = False,
    grid: int | tuple[int, int] | None = None,
    mode: str | None = None,
    lam: float | None = None,
    baseline: Any = 0.0,
    probabilities: Any = "softmax",
    batch_size: int | None = None,
    progress: bool | Callable[[int, int], None] = False,
    config: GLASConfig | None = None,
    return_result: bool = False,
) -> np.ndarray | list[list[GLASResult]]:
    """Coarse-to-fine GLAS: one map per scale in ``sigmas`` (the paper's Figure 1).

    ``sigmas`` holds grid-cell scales (a scalar or a (light, shadow, spatial) triple each),
    or pixels with ``in_pixels=True``; a ``config``'s own sigma is not used.  Other
    parameters as in :func:`explain`.

    Returns
    -------
    numpy.ndarray or list of list of GLASResult
        ``(N, S, H, W)`` maps for ``S = len(sigmas)`` (``(S, H, W)`` for one image), or the
        per-image lists of results.
    """
    if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Sequence) or len(sigmas) == 0:
        raise fail("sigmas", sigmas, "a non-empty list of scales", "use e.g. sigmas=[5, 3, 1]")
    run = _Run(model, images, probabilities, _settings(config, grid, None, None, mode, lam, batch_size))
    classes = run.targets(targets, class_index)
    results = []
    with Progress(progress, total=run.n_rows * run.n_images * len(sigmas)) as report:
        for i in range(run.n_images):
            results.append(glas_core.explain_multiscale(
                run.scorer.score_fn([classes[i]], run.chunk), run.image(i), sigmas, in_pixels=in_pixels,
                spatial_axes=HWC_SPATIAL_AXES, baseline=baseline, progress=report.sweeps(),
                **run.core_settings(with_sigma=False)))
    if return_result:
        return results
    per_image = [np.stack([glas_core.to_numpy(r.saliency)[0] for r in rs])[None] for rs in results]
    return run.maps(per_image)


# ---------------------------------------------------------------------------------- internals
def _settings(config: GLASConfig | None, grid: Any, sigma: Any, sigma_px: Any, mode: Any, lam: Any,
              batch_size: Any) -> GLASConfig:
    """The call's settings as one validated config (keywords and ``config=`` are exclusive)."""
    return config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam, batch_size=batch_size)


class _Run:
    """Images, scorer, settings and chunk size of one call, validated once at the public boundary."""

    several_per_image = False

    def __init__(self, model: Any, images: Any, probabilities: Any, config: GLASConfig) -> None:
        check_probabilities(probabilities)
        if isinstance(images, (list, tuple)):
            images = np.asarray(images)
        batch_shape, self.single = image_shape(images)
        self.scorer = Scorer(model, probabilities)
        batch = self.scorer.as_batch(images)
        self.batch = batch[None] if self.single else batch
        self.n_images = int(batch_shape[0])
        self.config = config
        # resolving the plan checks grid and sigma against the image size before any forward pass
        self.n_rows = config.resolve((int(batch_shape[1]), int(batch_shape[2]))).rows.n_rows
        self.chunk = balanced_chunk(self.n_rows, config.batch_size)

    def core_settings(self, with_sigma: bool = True) -> dict[str, Any]:
        """Keywords of the core call: the config's settings, with this call's chunk as batch size.

        Passed as keywords rather than ``config=`` because the recursive and multi-scale core
        functions set the scales of their later sweeps themselves.
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
        clean = self.scorer.clean_outputs(self.batch, self.chunk)
        self.scorer.warn_if_already_probabilities(clean)
        predicted = np.argmax(self.scorer.probabilities_of(clean), axis=1)
        indices = class_indices(targets, self.n_images, clean.shape[1], predicted, name)
        if indices.ndim == 2 and not several_per_image:
            raise fail(name, f"shape {indices.shape}", "one class per image here",
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
