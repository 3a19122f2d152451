"""Faithfulness and localisation scores of saliency maps, computed by Quantus (the peers' own code).

- *Deletion*: Quantus's ``PixelFlipping`` (Bach et al. 2015; Petsiuk et al.'s deletion): pixels
  set to 0 (black) in decreasing order of the map, ``steps`` equal steps, the target's
  probability after each; area under the curve with the clean score at x = 0. Lower is better.
- *Insertion*: Quantus has no insertion metric, so it is Quantus's ``PixelFlipping`` loop run on
  the black image with a perturbation that copies the original pixels back in, most salient
  first (:func:`insert_by_indices`). Higher is better.
- *Faithfulness correlation* (Bhatt et al. 2020, Xplique's MuFidelity): Quantus's
  ``FaithfulnessCorrelation``: Pearson correlation between the map's sum over a random subset
  of 20 % of the features (Xplique's default share) and the drop of the target's logit when that
  subset is set to 0. The same random subsets for every method (the NumPy seed is reset before
  each call). Higher is better.
- *Pointing game*: Quantus's ``PointingGame``: a hit when a maximum of the map lies in the mask.
  A constant map has every pixel at its maximum, so Quantus counts it as a hit: the benchmark
  counts flat maps beside it.

A map ``(H, W)`` is given to Quantus as ``(1, H, W)``; Quantus broadcasts it over the channels.
The area is taken with ``numpy.trapezoid`` over x in [0, 1] (Quantus's own ``calculate_auc``
calls ``numpy.trapz``, which NumPy 2.4 no longer has).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np


def _quantus() -> Any:
    """Quantus, imported after TensorFlow (which it imports when installed) was imported quietly."""
    try:
        from glas_adapters.tf.runtime import load_tensorflow

        load_tensorflow()
    except ImportError:
        pass
    import quantus

    return quantus


def _stack_maps(maps: Sequence[np.ndarray]) -> np.ndarray:
    """``(N, 1, H, W)`` maps for Quantus. Quantus refuses a batch whose values are all negative (a
    signed peer such as FeatureAblation on a barely trained model); its metrics rank pixels by value
    and correlate sums over fixed-size subsets, which a shift by one constant leaves unchanged, so
    such a batch is shifted to a minimum of 0."""
    batch = np.stack([np.asarray(m, dtype=np.float32) for m in maps])[:, None]
    return batch - batch.min() if np.all(batch < 0) else batch


def insert_by_indices(arr: np.ndarray, indices: np.ndarray, source: np.ndarray, **_: Any) -> np.ndarray:
    """Quantus perturbation for insertion: ``arr`` (B, F) with the features at ``indices`` (B, I)
    taken from ``source`` (B, F), the original images."""
    out = arr.copy()
    rows = np.arange(arr.shape[0])[:, None]
    out[rows, indices] = source[rows, indices]
    return out


def _all_zero(maps: Sequence[np.ndarray]) -> bool:
    """Every map is exactly 0: Quantus refuses such a batch (no pixel order), so its metrics are NaN here
    (the "flat maps" column counts them); a peer at float32's limit on an over-confident model gives one."""
    return all(not np.any(np.asarray(m)) for m in maps)


def _curves(model: Any, start: np.ndarray, y: np.ndarray, maps: Sequence[np.ndarray], steps: int,
            perturb_func: Any = None, perturb_func_kwargs: dict | None = None) -> np.ndarray:
    quantus = _quantus()
    if _all_zero(maps):
        return np.full((len(start), steps), np.nan)

    n_features = int(np.prod(start.shape[1:]))
    step = n_features // steps
    # Quantus also asks the step to divide the pixel count (it checks the spatial shape alone)
    if n_features % steps or int(np.prod(start.shape[2:])) % step:
        raise ValueError(f"{steps} equal steps of {start.shape[1:]} need a step dividing both "
                         f"{n_features} features and {int(np.prod(start.shape[2:]))} pixels")
    metric = quantus.PixelFlipping(features_in_step=step, perturb_baseline=0.0,
                                   perturb_func=perturb_func, perturb_func_kwargs=perturb_func_kwargs,
                                   abs=False, normalise=True, return_auc_per_sample=False,
                                   disable_warnings=True)
    curves = metric(model=model, x_batch=start, y_batch=y, a_batch=_stack_maps(maps), channel_first=True,
                    softmax=True, batch_size=len(start))
    return np.asarray(curves, dtype=np.float64)


def probabilities(model: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The target probabilities of a batch, as Quantus's metrics compute them."""
    quantus = _quantus()

    wrapped = quantus.helpers.utils.get_wrapped_model(model, channel_first=True, softmax=True)
    return wrapped.predict(x)[np.arange(len(x)), y].astype(np.float64)


def deletion_curves(model: Any, x: np.ndarray, y: np.ndarray, maps: Sequence[np.ndarray], steps: int) -> np.ndarray:
    """(N, steps + 1) target probabilities: clean, then after each deletion step (Quantus PixelFlipping)."""
    clean = probabilities(model, x, y)
    return np.concatenate([clean[:, None], _curves(model, x, y, maps, steps)], axis=1)


def insertion_curves(model: Any, x: np.ndarray, y: np.ndarray, maps: Sequence[np.ndarray], steps: int) -> np.ndarray:
    """(N, steps + 1) target probabilities: the black image, then after each insertion step."""
    black = np.zeros_like(x)
    start = probabilities(model, black, y)
    source = x.reshape(len(x), -1)
    inserted = _curves(model, black, y, maps, steps, insert_by_indices, {"source": source})
    return np.concatenate([start[:, None], inserted], axis=1)


def area(curves: np.ndarray) -> np.ndarray:
    """Per-image area under curves sampled at equal steps over x in [0, 1]."""
    return np.trapezoid(curves, dx=1.0 / (curves.shape[1] - 1), axis=1)


def faithfulness_correlation(model: Any, x: np.ndarray, y: np.ndarray, maps: Sequence[np.ndarray], *,
                             runs: int, subset_share: float = 0.2, seed: int = 0, softmax: bool = False
                             ) -> np.ndarray:
    """Per-image Pearson correlation of Quantus's ``FaithfulnessCorrelation`` (NaN where undefined).

    On the target's logit by default (``softmax=False``): an over-confident model's float32
    probability stays at exactly 1 under most random subsets, the drops are all 0 and the
    correlation is undefined.
    """
    quantus = _quantus()
    if _all_zero(maps):
        return np.full(len(x), np.nan)

    n_features = int(np.prod(x.shape[1:]))
    metric = quantus.FaithfulnessCorrelation(nr_runs=runs, subset_size=int(subset_share * n_features),
                                             perturb_baseline=0.0, abs=False, normalise=True,
                                             return_aggregate=False, disable_warnings=True)
    np.random.seed(seed)  # Quantus draws its subsets from NumPy's global generator
    from scipy.stats import ConstantInputWarning

    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)  # constant drops: NaN, counted as undefined
        scores = metric(model=model, x_batch=x, y_batch=y, a_batch=_stack_maps(maps), channel_first=True,
                        softmax=softmax, batch_size=len(x))
    return np.asarray(scores, dtype=np.float64)


def pointing_game(model: Any, x: np.ndarray, y: np.ndarray, maps: Sequence[np.ndarray],
                  masks: Sequence[np.ndarray]) -> np.ndarray:
    """Per-image hits (1.0 / 0.0) of Quantus's ``PointingGame`` against boolean (H, W) masks."""
    quantus = _quantus()
    if _all_zero(maps):
        return np.zeros(len(x))  # a flat map points nowhere: a miss

    s_batch = np.stack([np.asarray(m, dtype=np.float32) for m in masks])[:, None]
    hits = quantus.PointingGame(disable_warnings=True)(model=model, x_batch=x, y_batch=y, a_batch=_stack_maps(maps),
                                                       s_batch=s_batch, channel_first=True)
    return np.asarray(hits, dtype=np.float64)
