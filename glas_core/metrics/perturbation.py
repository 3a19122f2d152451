"""Model-based metrics: deletion and insertion curves (Petsiuk et al., RISE, BMVC 2018, Section 4.1)
and the paper's score drop under the inverse heat map (Figure 5)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import normalize_spatial_axes, resolve_baseline
from ..baselines import gaussian_lowpass
from ..errors import fail
from ..masks import dim_by_map
from ..normalize import minmax_normalize
from ._inputs import as_numpy, saliency_map, same_shape


def _example_and_map(x, saliency, spatial_axes: Sequence[int]) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """One floating example, its map checked against the spatial axes, and those axes (sorted)."""
    xn = as_numpy(x, "x")
    if not np.issubdtype(xn.dtype, np.floating):
        xn = xn.astype(np.float32)
    axes = normalize_spatial_axes(spatial_axes, xn.ndim)
    s = saliency_map(saliency, ndim=len(axes))
    same_shape(s, tuple(xn.shape[a] for a in axes), "x's spatial axes", "check spatial_axes or resize the map")
    return xn, s, axes


def blur_substrate(x, *, sigma: float = 5.0, spatial_axes: Sequence[int] = (-2, -1)) -> np.ndarray:
    """Gaussian blur of ``x`` along its spatial axes (reflect padding, kernel radius 2 sigma).

    Petsiuk et al. blur with an 11-pixel kernel of sigma 5 for insertion.
    """
    out = as_numpy(x, "x").astype(np.float64)
    if sigma <= 0:
        raise fail("sigma", sigma, "a positive number of pixels", "use sigma=5.0 (Petsiuk et al.)")
    axes = [ax % out.ndim for ax in spatial_axes]
    return gaussian_lowpass(out, [float(sigma)] * len(axes), axes)


def _substrate(x: np.ndarray, substrate, spatial_axes) -> np.ndarray:
    if isinstance(substrate, str):
        if substrate == "zeros":
            return np.zeros_like(x)
        if substrate == "blur":
            return blur_substrate(x, spatial_axes=spatial_axes).astype(x.dtype)
        if substrate == "mean":
            return np.full_like(x, x.mean())
        raise fail("substrate", repr(substrate), "'zeros', 'blur', 'mean' or an array",
                   "use substrate='zeros' (deletion) or 'blur' (insertion)")
    sub = as_numpy(substrate, "substrate").astype(x.dtype)
    try:
        return np.broadcast_to(sub, x.shape).copy()
    except ValueError as exc:
        raise fail("substrate", f"shape {sub.shape}", f"an array broadcastable to x's shape {x.shape}",
                   "pass a substrate of the image's shape") from exc


def _call_model(model: Callable, batch: np.ndarray, target: int) -> np.ndarray:
    out = np.asarray(as_numpy(model(batch), "model output"), dtype=np.float64)
    if out.ndim != 2 or out.shape[0] != batch.shape[0]:
        raise fail("model output", f"shape {out.shape}", f"(B, n_classes) scores for a batch of B = {batch.shape[0]}",
                   "wrap the model so it returns probabilities per class")
    if not 0 <= target < out.shape[1]:
        raise fail("target", target, f"a class index in [0, {out.shape[1]})", "pick one of the model's classes")
    col = out[:, target]
    if not np.all(np.isfinite(col)):
        raise fail("model output", "NaN or inf scores", "finite probabilities", "check the model and the input")
    if col.min() < -1e-3 or col.max() > 1 + 1e-3:
        raise fail("model output", f"scores in [{col.min():.4g}, {col.max():.4g}]", "probabilities in [0, 1]",
                   "the model returns logits: wrap it, e.g. lambda b: softmax(model(b))")
    return col


def _perturbation_curve(
    model: Callable, x, saliency, target: int, *, step: int, substrate, spatial_axes,
    batch_size: int, insert: bool,
) -> tuple[np.ndarray, np.ndarray]:
    xn, s, axes = _example_and_map(x, saliency, spatial_axes)
    if int(step) != step or step < 1:
        raise fail("step", step, "a positive number of pixels", "use step=1, or more pixels per step on large images")
    if batch_size < 1:
        raise fail("batch_size", batch_size, "a positive int", "use batch_size=64")
    step = int(step)
    sub = _substrate(xn, substrate, spatial_axes)
    n_pix = s.size
    order = np.argsort(-s.ravel(), kind="stable")  # most salient first
    rank = np.empty(n_pix, dtype=np.int64)
    rank[order] = np.arange(n_pix)
    n_steps = -(-n_pix // step)
    counts = np.minimum(np.arange(n_steps + 1) * step, n_pix)
    # broadcast a spatial rank map over the non-spatial axes of x (the axes are increasing)
    rank_map = rank.reshape(tuple(n if i in axes else 1 for i, n in enumerate(xn.shape)))
    start, end = (sub, xn) if insert else (xn, sub)
    scores = []
    for lo in range(0, counts.size, batch_size):
        c = counts[lo : lo + batch_size].reshape((-1,) + (1,) * xn.ndim)
        changed = rank_map[None] < c  # pixels already removed / inserted
        batch = np.where(changed, end[None], start[None]).astype(xn.dtype)
        scores.append(_call_model(model, batch, target))
    return counts / n_pix, np.concatenate(scores)


def deletion_curve(
    model: Callable, x, saliency, target: int, *, step: int = 1, substrate="zeros",
    spatial_axes: Sequence[int] = (-2, -1), batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Deletion curve (Petsiuk et al. 2018): remove pixels, most salient first.

    Parameters
    ----------
    model : callable
        ``model(batch) -> (B, n_classes)`` probabilities; ``batch`` is a numpy array
        ``(B, *x.shape)`` of x's dtype.
    x : array, one example (e.g. (C, H, W)).
    saliency : array of x's spatial shape (a leading axis of size 1 is dropped).
    target : class index whose probability is tracked.
    step : pixels removed per step (ties in saliency keep raster order).
    substrate : ``"zeros"`` (default for deletion), ``"blur"`` (Gaussian blur, sigma 5 px),
        ``"mean"`` or an array broadcastable to x: the value removed pixels take.
    spatial_axes : which axes of x are space.

    Returns
    -------
    (fractions, scores) : the share of pixels removed (0 .. 1) and the target probability,
        ``ceil(n_pixels / step) + 1`` points.
    """
    return _perturbation_curve(model, x, saliency, target, step=step, substrate=substrate,
                               spatial_axes=spatial_axes, batch_size=batch_size, insert=False)


def insertion_curve(
    model: Callable, x, saliency, target: int, *, step: int = 1, substrate="blur",
    spatial_axes: Sequence[int] = (-2, -1), batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Insertion curve (Petsiuk et al. 2018): start from the substrate (default a blurred copy)
    and insert the pixels of ``x``, most salient first. Arguments as :func:`deletion_curve`."""
    return _perturbation_curve(model, x, saliency, target, step=step, substrate=substrate,
                               spatial_axes=spatial_axes, batch_size=batch_size, insert=True)


def curve_auc(fractions, scores) -> float:
    """Trapezoid area under a curve sampled at ``fractions`` (0 .. 1)."""
    f = np.asarray(fractions, dtype=np.float64)
    y = np.asarray(scores, dtype=np.float64)
    if f.shape != y.shape or f.ndim != 1 or f.size < 2:
        raise fail("fractions, scores", f"shapes {f.shape} and {y.shape}", "1-d arrays of equal length >= 2",
                   "pass the two arrays a curve function returns")
    return float(np.sum((f[1:] - f[:-1]) * (y[1:] + y[:-1]) / 2.0))


def _mean_curve_auc(curve_fn, model, images, saliencies, targets, **kw) -> tuple[float, np.ndarray, np.ndarray]:
    if not (len(images) == len(saliencies) == len(targets)) or len(images) == 0:
        raise fail("images, saliencies, targets", f"{len(images)}, {len(saliencies)} and {len(targets)} items",
                   "as many maps and targets as images, at least one", "pass one map and one target per image")
    curves = [curve_fn(model, x, s, int(t), **kw) for x, s, t in zip(images, saliencies, targets)]
    fractions = curves[0][0]
    if any(c[0].shape != fractions.shape for c in curves):
        raise fail("images", "images of different sizes", "images with the same number of pixels",
                   "average curves per image size, or resize the images first")
    mean = np.mean([c[1] for c in curves], axis=0)
    return curve_auc(fractions, mean), fractions, mean


def deletion_auc(model: Callable, images: Sequence, saliencies: Sequence, targets: Sequence[int],
                 **kwargs) -> tuple[float, np.ndarray, np.ndarray]:
    """Trapezoid AUC of the mean deletion curve over images (lower is better).

    Returns ``(auc, fractions, mean_curve)``; keyword arguments go to :func:`deletion_curve`.
    """
    return _mean_curve_auc(deletion_curve, model, images, saliencies, targets, **kwargs)


def insertion_auc(model: Callable, images: Sequence, saliencies: Sequence, targets: Sequence[int],
                  **kwargs) -> tuple[float, np.ndarray, np.ndarray]:
    """Trapezoid AUC of the mean insertion curve over images (higher is better)."""
    return _mean_curve_auc(insertion_curve, model, images, saliencies, targets, **kwargs)


# ----------------------------------------------------------------------------- score drop

@dataclass(frozen=True)
class ScoreDrop:
    """Class probability before and after perturbing by the inverse heat map."""

    clean: float
    perturbed: float

    @property
    def drop(self) -> float:
        return self.clean - self.perturbed

    @property
    def relative_drop(self) -> float:
        return self.drop / self.clean if self.clean > 0 else 0.0


def score_drop(
    model: Callable, x, saliency, target: int, *, spatial_axes: Sequence[int] = (-2, -1),
    baseline: float = 0.0,
) -> ScoreDrop:
    """Score drop under the inverse heat map (GLAS paper, Figure 5).

    The map is min-max normalised to S in [0, 1] and the image perturbed as
    ``b + (x - b) * (1 - S)`` (b = ``baseline``, 0 in the paper), which darkens what the map
    points at. Returns the clean and perturbed probabilities of ``target``.
    """
    xn, s, axes = _example_and_map(x, saliency, spatial_axes)
    perturbed = dim_by_map(np, xn, minmax_normalize(s), axes, resolve_baseline(np, baseline, xn))
    scores = _call_model(model, np.stack([xn, perturbed]), int(target))
    return ScoreDrop(float(scores[0]), float(scores[1]))
