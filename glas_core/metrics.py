"""Evaluation metrics for saliency maps: backend-neutral, numpy out.

Every function accepts any array glas_core can read (numpy, torch, cupy, jax, ...; converted
with :func:`glas_core.to_numpy`) and returns numpy values or plain Python numbers. Model-based
metrics (deletion, insertion, score drop) take the model as a callable
``model(batch: numpy (B, *x.shape)) -> (B, n_classes)`` probabilities, so they stay free of
any framework.

References
----------
- Pointing game: Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016,
  with the GLAS paper's rule (Section 4, "Evaluation on target localization"): min-max
  normalise, threshold at T > 0.95, the centroid of the biggest connected blob is the point.
- Deletion / insertion: Petsiuk, Das and Saenko, "RISE", BMVC 2018, Section 4.1.
- Relevance mass: Arras, Osman and Samek, "CLEVR-XAI", Information Fusion 2022.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np

from glas_core.errors import GLASError

__all__ = [
    "PointingGameResult",
    "box_to_mask",
    "connected_components",
    "pointing_point",
    "pointing_hit",
    "pointing_game",
    "is_small",
    "iou_at_thresholds",
    "mean_iou",
    "relevance_mass",
    "blur_substrate",
    "deletion_curve",
    "insertion_curve",
    "deletion_auc",
    "insertion_auc",
    "curve_auc",
    "score_drop",
    "ScoreDrop",
]

PointingRule = Literal["paper", "argmax", "torchray"]
DEFAULT_IOU_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


# ----------------------------------------------------------------------------- helpers
def _to_numpy(a, name: str) -> np.ndarray:
    from glas_core import to_numpy  # lazy: glas_core/__init__ may import this module

    try:
        out = np.asarray(to_numpy(a))
    except GLASError:
        raise
    except Exception as exc:  # unknown array type
        raise GLASError(
            f"{name}: could not read an array from {type(a).__name__} ({exc}); "
            "expected a numpy array or an array glas_core supports (torch, cupy, jax, ...); "
            "pass numpy.asarray(...) of it"
        ) from exc
    return out


def _saliency_map(saliency, name: str = "saliency", ndim: int | None = None) -> np.ndarray:
    """Read a saliency map; a leading axis of size 1 (one target of a GLASResult) is dropped."""
    s = _to_numpy(saliency, name).astype(np.float64)
    if ndim is not None and s.ndim == ndim + 1 and s.shape[0] == 1:
        s = s[0]
    if s.ndim < 1 or s.size == 0:
        raise GLASError(f"{name} must be a non-empty map, got shape {s.shape}; pass one (H, W) map")
    if ndim is not None and s.ndim != ndim:
        raise GLASError(
            f"{name} must have {ndim} spatial axes like the ground truth, got shape {s.shape}; "
            "pass one map per image, e.g. result.saliency[t] for target t"
        )
    if not np.all(np.isfinite(s)):
        raise GLASError(f"{name} contains NaN or inf values; pass a finite map")
    return s


def _minmax(s: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1]; a constant map becomes all ones (every pixel is a maximum)."""
    lo, hi = float(s.min()), float(s.max())
    if hi - lo <= 0.0:
        return np.ones_like(s)
    return (s - lo) / (hi - lo)


def _mask(target, name: str = "target") -> np.ndarray:
    m = _to_numpy(target, name)
    if m.dtype != bool:
        if not np.all(np.isin(m, (0, 1))):
            raise GLASError(
                f"{name} must be a boolean mask (or 0/1 values), got dtype {m.dtype} with other values; "
                "turn boxes into masks with glas_core.metrics.box_to_mask(box, shape)"
            )
        m = m.astype(bool)
    return m


def box_to_mask(box: Sequence[float], shape: Sequence[int]) -> np.ndarray:
    """Boolean mask of a box ``(x_min, y_min, x_max, y_max)`` on an image of ``shape = (H, W)``.

    Boxes are in pixel index coordinates, half-open: the box covers rows ``y_min .. y_max - 1``
    and columns ``x_min .. x_max - 1`` (so ``(0, 0, W, H)`` is the whole image). Fractional
    values are rounded to the nearest pixel edge.
    """
    if len(shape) != 2:
        raise GLASError(f"shape must be (H, W), got {tuple(shape)}; pass saliency.shape[-2:]")
    if len(box) != 4:
        raise GLASError(f"box must be (x_min, y_min, x_max, y_max), got {box!r}")
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    h, w = int(shape[0]), int(shape[1])
    if not (x1 > x0 and y1 > y0):
        raise GLASError(
            f"box must have x_max > x_min and y_max > y_min, got {tuple(box)}; "
            "boxes are (x_min, y_min, x_max, y_max)"
        )
    mask = np.zeros((h, w), dtype=bool)
    mask[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)] = True
    return mask


def connected_components(binary) -> tuple[np.ndarray, int]:
    """Label the connected components of a boolean N-d array (full connectivity: 8 in 2-D).

    Returns ``(labels, n)`` with labels ``1..n`` in raster order of each component's first
    pixel and 0 for the background, like ``scipy.ndimage.label`` with a full structure.
    A plain breadth-first search, so the core stays numpy-only.
    """
    b = np.asarray(binary, dtype=bool)
    labels = np.zeros(b.shape, dtype=np.int64)
    offsets = [o for o in itertools.product((-1, 0, 1), repeat=b.ndim) if any(o)]
    shape = b.shape
    n = 0
    for start in zip(*np.nonzero(b)):
        if labels[start]:
            continue
        n += 1
        labels[start] = n
        queue = deque([start])
        while queue:
            p = queue.popleft()
            for o in offsets:
                q = tuple(pi + oi for pi, oi in zip(p, o))
                if all(0 <= qi < si for qi, si in zip(q, shape)) and b[q] and not labels[q]:
                    labels[q] = n
                    queue.append(q)
    return labels, n


# ----------------------------------------------------------------------------- pointing game
def pointing_point(
    saliency, *, rule: PointingRule = "paper", threshold: float = 0.95
) -> tuple[float, ...]:
    """The point a saliency map points at, in pixel index coordinates ``(row, col, ...)``.

    Parameters
    ----------
    saliency : array (H, W) (or (1, H, W))
    rule : ``"paper"`` (default): the GLAS paper's rule (Section 4): min-max normalise, keep
        pixels with value ``> threshold`` (T = 0.95), take the biggest connected blob (8-connected;
        ties go to the blob met first in raster order) and return its centroid (the mean of its
        pixel indices, so it may be fractional). ``"argmax"`` and ``"torchray"``: the first
        maximum in raster order (Quantus and TorchRay use ``argmax``).
    threshold : float
        T of the paper rule, in the min-max normalised map.
    """
    s = _saliency_map(saliency)
    if rule in ("argmax", "torchray"):
        return tuple(float(i) for i in np.unravel_index(int(np.argmax(s)), s.shape))
    if rule != "paper":
        raise GLASError(f"rule must be 'paper', 'argmax' or 'torchray', got {rule!r}")
    if not 0.0 <= threshold < 1.0:
        raise GLASError(f"threshold must lie in [0, 1), got {threshold}; the paper uses 0.95")
    labels, n = connected_components(_minmax(s) > threshold)
    if n == 0:  # cannot happen for threshold < 1, kept for safety
        return tuple(float(i) for i in np.unravel_index(int(np.argmax(s)), s.shape))
    sizes = np.bincount(labels.ravel())[1:]
    biggest = int(np.argmax(sizes)) + 1
    return tuple(float(c.mean()) for c in np.nonzero(labels == biggest))


def pointing_hit(
    saliency,
    target,
    *,
    rule: PointingRule = "paper",
    tolerance: float | None = None,
    threshold: float = 0.95,
) -> bool:
    """Whether the map points inside the ground truth.

    Parameters
    ----------
    saliency : array (H, W) (or (1, H, W))
    target : boolean mask (H, W); use :func:`box_to_mask` for boxes.
    rule : see :func:`pointing_point`. ``"torchray"`` is TorchRay's rule: the argmax point
        is a hit when any ground-truth pixel lies within ``tolerance`` pixels (default 15).
    tolerance : float, optional
        Distance in pixels within which a ground-truth pixel counts; default 0 for
        ``"paper"`` and ``"argmax"`` (the point, rounded to the nearest pixel, must lie on
        the ground truth) and 15 for ``"torchray"``.
    """
    mask = _mask(target)
    s = _saliency_map(saliency, ndim=mask.ndim)
    if s.shape != mask.shape:
        raise GLASError(
            f"saliency shape {s.shape} differs from the ground truth shape {mask.shape}; "
            "resize the map to the image size first"
        )
    point = np.asarray(pointing_point(s, rule=rule, threshold=threshold))
    tol = (15.0 if rule == "torchray" else 0.0) if tolerance is None else float(tolerance)
    if tol < 0:
        raise GLASError(f"tolerance must be >= 0 pixels, got {tolerance}")
    if tol == 0.0:
        idx = tuple(int(np.clip(np.floor(p + 0.5), 0, n - 1)) for p, n in zip(point, mask.shape))
        return bool(mask[idx])
    gt = np.stack(np.nonzero(mask), axis=1).astype(np.float64)
    if gt.size == 0:
        return False
    return bool(np.min(np.sum((gt - point) ** 2, axis=1)) <= tol**2)


@dataclass(frozen=True)
class PointingGameResult:
    """Hits and misses of a pointing game; ``accuracy = hits / (hits + misses)``."""

    hits: int
    misses: int
    hit_per_image: np.ndarray

    @property
    def accuracy(self) -> float:
        total = self.hits + self.misses
        return float(self.hits / total) if total else float("nan")


def pointing_game(
    saliencies: Sequence,
    targets: Sequence,
    *,
    rule: PointingRule = "paper",
    tolerance: float | None = None,
    threshold: float = 0.95,
) -> PointingGameResult:
    """Pointing game over a set of images: Acc = Hit / (Hit + Miss) (GLAS paper, Section 4).

    ``saliencies`` and ``targets`` are sequences of the same length (one map and one boolean
    mask per image). For PT-small, pass the subset where :func:`is_small` holds.
    """
    if len(saliencies) != len(targets):
        raise GLASError(
            f"got {len(saliencies)} saliency maps but {len(targets)} ground truths; pass one per image"
        )
    hits = np.array(
        [pointing_hit(s, t, rule=rule, tolerance=tolerance, threshold=threshold)
         for s, t in zip(saliencies, targets)],
        dtype=bool,
    )
    return PointingGameResult(int(hits.sum()), int((~hits).sum()), hits)


def is_small(target, image_shape: Sequence[int] | None = None) -> bool:
    """PT-small criterion: the ground truth covers less than a quarter of the image.

    ``target`` is a boolean mask (the union of the class's boxes, as in Cao et al. 2015), or a
    box ``(x_min, y_min, x_max, y_max)`` together with ``image_shape = (H, W)``.
    """
    if image_shape is not None:
        mask = box_to_mask(target, image_shape)
    else:
        mask = _mask(target)
    return bool(mask.sum() < mask.size / 4.0)


# ----------------------------------------------------------------------------- IoU, relevance mass
def iou_at_thresholds(
    saliency, target, thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS
) -> np.ndarray:
    """IoU between the thresholded, min-max normalised map (``S > t``) and the ground truth.

    GLAS paper, Table 3. Returns one IoU per threshold; an empty union counts as IoU 1.
    """
    mask = _mask(target)
    s = _saliency_map(saliency, ndim=mask.ndim)
    if s.shape != mask.shape:
        raise GLASError(f"saliency shape {s.shape} differs from the ground truth shape {mask.shape}")
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise GLASError(f"thresholds must be a non-empty 1-d sequence, got {thresholds!r}")
    norm = _minmax(s)
    out = np.empty(t.size)
    for i, ti in enumerate(t):
        b = norm > ti
        union = np.logical_or(b, mask).sum()
        out[i] = 1.0 if union == 0 else np.logical_and(b, mask).sum() / union
    return out


def mean_iou(
    saliencies: Sequence, targets: Sequence, thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS
) -> np.ndarray:
    """Mean over images of :func:`iou_at_thresholds`: one value per threshold."""
    if len(saliencies) != len(targets) or len(targets) == 0:
        raise GLASError(
            f"need one ground truth per map and at least one image, got {len(saliencies)} maps "
            f"and {len(targets)} ground truths"
        )
    return np.mean([iou_at_thresholds(s, t, thresholds) for s, t in zip(saliencies, targets)], axis=0)


def relevance_mass(saliency, target) -> float:
    """Share of the positive saliency that falls inside the mask (Arras et al. 2022).

    ``sum(max(S, 0) inside) / sum(max(S, 0))``; 0.0 when the map has no positive value.
    """
    mask = _mask(target)
    s = _saliency_map(saliency, ndim=mask.ndim)
    if s.shape != mask.shape:
        raise GLASError(f"saliency shape {s.shape} differs from the ground truth shape {mask.shape}")
    pos = np.clip(s, 0.0, None)
    total = pos.sum()
    return float(pos[mask].sum() / total) if total > 0 else 0.0


# ----------------------------------------------------------------------------- deletion / insertion
def _spatial(x: np.ndarray, spatial_axes: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    axes = tuple(a % x.ndim for a in spatial_axes)
    if len(set(axes)) != len(axes):
        raise GLASError(f"spatial_axes must be distinct, got {tuple(spatial_axes)}")
    return axes, tuple(x.shape[a] for a in axes)


def blur_substrate(x, *, sigma: float = 5.0, spatial_axes: Sequence[int] = (-2, -1)) -> np.ndarray:
    """Gaussian blur of ``x`` along its spatial axes (reflect padding, kernel radius 2 sigma).

    Petsiuk et al. blur with an 11-pixel kernel of sigma 5 for insertion.
    """
    out = _to_numpy(x, "x").astype(np.float64)
    if sigma <= 0:
        raise GLASError(f"sigma must be > 0 pixels, got {sigma}")
    radius = max(1, int(round(2 * sigma)))
    k = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2.0 * sigma**2))
    k /= k.sum()
    for a in (ax % out.ndim for ax in spatial_axes):
        pad = [(0, 0)] * out.ndim
        pad[a] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if out.shape[a] > radius else "edge")
        moved = np.moveaxis(padded, a, -1)
        windows = np.lib.stride_tricks.sliding_window_view(moved, k.size, axis=-1)
        out = np.moveaxis(windows @ k, -1, a)
    return out


def _substrate(x: np.ndarray, substrate, spatial_axes) -> np.ndarray:
    if isinstance(substrate, str):
        if substrate == "zeros":
            return np.zeros_like(x)
        if substrate == "blur":
            return blur_substrate(x, spatial_axes=spatial_axes).astype(x.dtype)
        if substrate == "mean":
            return np.full_like(x, x.mean())
        raise GLASError(f"substrate must be 'zeros', 'blur', 'mean' or an array, got {substrate!r}")
    sub = _to_numpy(substrate, "substrate").astype(x.dtype)
    try:
        return np.broadcast_to(sub, x.shape).copy()
    except ValueError as exc:
        raise GLASError(f"substrate of shape {sub.shape} does not broadcast to x's shape {x.shape}") from exc


def _call_model(model: Callable, batch: np.ndarray, target: int) -> np.ndarray:
    out = np.asarray(_to_numpy(model(batch), "model output"), dtype=np.float64)
    if out.ndim != 2 or out.shape[0] != batch.shape[0]:
        raise GLASError(
            f"model must return (B, n_classes) scores for a batch of B = {batch.shape[0]}, got shape "
            f"{out.shape}; wrap it so it returns probabilities per class"
        )
    if not 0 <= target < out.shape[1]:
        raise GLASError(f"target {target} is out of range for {out.shape[1]} classes")
    col = out[:, target]
    if not np.all(np.isfinite(col)):
        raise GLASError("model returned NaN or inf scores; check the model and the input")
    return col


def _perturbation_curve(
    model: Callable, x, saliency, target: int, *, step: int, substrate, spatial_axes,
    batch_size: int, insert: bool,
) -> tuple[np.ndarray, np.ndarray]:
    xn = _to_numpy(x, "x")
    if not np.issubdtype(xn.dtype, np.floating):
        xn = xn.astype(np.float32)
    axes, spatial_shape = _spatial(xn, spatial_axes)
    s = _saliency_map(saliency, ndim=len(axes))
    if s.shape != spatial_shape:
        raise GLASError(
            f"saliency shape {s.shape} differs from x's spatial shape {spatial_shape}; "
            "check spatial_axes or resize the map"
        )
    if int(step) != step or step < 1:
        raise GLASError(f"step must be a positive number of pixels, got {step}")
    if batch_size < 1:
        raise GLASError(f"batch_size must be >= 1, got {batch_size}")
    step = int(step)
    sub = _substrate(xn, substrate, spatial_axes)
    n_pix = s.size
    order = np.argsort(-s.ravel(), kind="stable")  # most salient first
    rank = np.empty(n_pix, dtype=np.int64)
    rank[order] = np.arange(n_pix)
    n_steps = -(-n_pix // step)
    counts = np.minimum(np.arange(n_steps + 1) * step, n_pix)
    # broadcast a spatial rank map over the non-spatial axes of x
    rank_shape = [1] * xn.ndim
    for a, n in zip(axes, spatial_shape):
        rank_shape[a] = n
    perm = [i for i in range(xn.ndim) if i not in axes] + list(axes)
    rank_map = rank.reshape(spatial_shape)
    inv = np.argsort(perm)
    rank_map = np.transpose(rank_map.reshape((1,) * (xn.ndim - len(axes)) + spatial_shape), inv)
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
        raise GLASError(f"fractions and scores must be 1-d of equal length >= 2, got {f.shape}, {y.shape}")
    return float(np.sum((f[1:] - f[:-1]) * (y[1:] + y[:-1]) / 2.0))


def _mean_curve_auc(curve_fn, model, images, saliencies, targets, **kw) -> tuple[float, np.ndarray, np.ndarray]:
    if not (len(images) == len(saliencies) == len(targets)) or len(images) == 0:
        raise GLASError(
            f"need as many maps and targets as images (at least one), got {len(images)} images, "
            f"{len(saliencies)} maps, {len(targets)} targets"
        )
    curves = [curve_fn(model, x, s, int(t), **kw) for x, s, t in zip(images, saliencies, targets)]
    fractions = curves[0][0]
    if any(c[0].shape != fractions.shape for c in curves):
        raise GLASError("all images must have the same number of pixels to average their curves")
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
    xn = _to_numpy(x, "x")
    if not np.issubdtype(xn.dtype, np.floating):
        xn = xn.astype(np.float32)
    axes, spatial_shape = _spatial(xn, spatial_axes)
    s = _saliency_map(saliency, ndim=len(axes))
    if s.shape != spatial_shape:
        raise GLASError(f"saliency shape {s.shape} differs from x's spatial shape {spatial_shape}")
    keep_shape = [1] * xn.ndim
    for a, n in zip(axes, spatial_shape):
        keep_shape[a] = n
    order = np.argsort(axes)
    keep = 1.0 - np.transpose(_minmax(s), order).reshape(keep_shape)
    perturbed = (baseline + (xn - baseline) * keep).astype(xn.dtype)
    scores = _call_model(model, np.stack([xn, perturbed]), int(target))
    return ScoreDrop(float(scores[0]), float(scores[1]))
