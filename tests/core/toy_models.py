"""Small score functions written in the array API, usable with any namespace."""

from __future__ import annotations

import array_api_compat
import numpy as np


def logistic_model(weights: np.ndarray, bias: np.ndarray):
    """(B, *shape) -> (B, T) sigmoid(flatten(b) @ W + c), in the batch's own namespace and device.

    Returns the batched score_fn and a per-image NumPy version for the reference.
    """

    def score_fn(batch):
        xp = array_api_compat.array_namespace(batch)
        dev = array_api_compat.device(batch)
        w = xp.asarray(weights, dtype=batch.dtype, device=dev)
        c = xp.asarray(bias, dtype=batch.dtype, device=dev)
        z = xp.matmul(xp.reshape(batch, (batch.shape[0], -1)), w) + c
        return 1.0 / (1.0 + xp.exp(-z))

    def score_one(img):
        z = img.reshape(-1) @ weights + bias
        return 1.0 / (1.0 + np.exp(-z))

    return score_fn, score_one


def region_model(region: tuple[slice, ...]):
    """Score = mean of the batch over one spatial region (all channels): depends on nothing else."""

    def score_fn(batch):
        xp = array_api_compat.array_namespace(batch)
        sub = batch[(slice(None), slice(None)) + region]
        return xp.reshape(xp.mean(xp.reshape(sub, (sub.shape[0], -1)), axis=1), (-1, 1))

    return score_fn
