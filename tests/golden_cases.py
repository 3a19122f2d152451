"""A fixed set of GLAS calls whose maps must stay the same across refactors (to round-off).

``python -m tests.golden_cases`` writes their maps to ``tests/data/golden_maps.npz``; it was
run once on the code before the package was reorganised, and ``tests/test_golden_maps.py``
compares every later version with that file (to a few hundred ulp of the peak: the order of a
sum's additions differs between CPUs and thread counts). Regenerate it only for a change
that is meant to alter the maps, and say so in the commit.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable

import numpy as np

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "golden_maps.npz")


def _linear_softmax(n_in: int, n_out: int, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """A fixed NumPy model: flatten -> linear -> softmax, float64 throughout."""
    w = np.random.default_rng(seed).normal(0.0, 3.0 / np.sqrt(n_in), (n_in, n_out))

    def probs(batch: np.ndarray) -> np.ndarray:
        z = np.asarray(batch, dtype=np.float64).reshape(batch.shape[0], -1) @ w
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    return probs


def _image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape)


def _regions(explanation) -> np.ndarray:
    """The region map and the per-region impact values, in one array."""
    impact = explanation.impact
    values = [np.ravel(np.asarray(getattr(impact, f), dtype=np.float64)) for f in sorted(vars(impact))
              if isinstance(getattr(impact, f), np.ndarray) and getattr(impact, f).dtype.kind == "f"]
    return np.concatenate([explanation.result.to_numpy().ravel()] + values)


def core_cases() -> dict[str, Callable[[], np.ndarray]]:
    import glas_core

    chw = _image((3, 24, 24))
    model = _linear_softmax(3 * 24 * 24, 4, 1)
    two = lambda b: model(b)[:, [1, 3]]  # noqa: E731
    hwc = np.moveaxis(chw, 0, -1).copy()
    model_hwc = lambda b: model(np.moveaxis(b, -1, 1))[:, [2]]  # noqa: E731
    vol = _image((1, 8, 10, 12), 2)
    model_vol = _linear_softmax(8 * 10 * 12, 3, 3)
    labels = np.zeros((8, 10, 12), dtype=np.int64)
    labels[:4, :5, :6], labels[4:, 5:, 6:], labels[:4, 5:, :] = 1, 2, 3
    pts = np.array([[3.0, 4.0], [12.5, 12.5], [20.0, 6.0], [8.0, 19.0]])

    return {
        "core_fusion_two_targets": lambda: glas_core.explain(two, chw, grid=6).to_numpy(),
        "core_light": lambda: glas_core.explain(two, chw, grid=5, mode="light", sigma=2.0).to_numpy(),
        "core_shadow": lambda: glas_core.explain(two, chw, grid=5, mode="shadow", lam=1e-3).to_numpy(),
        "core_hwc_baseline": lambda: glas_core.explain(model_hwc, hwc, spatial_axes=(0, 1), grid=(4, 6),
                                                       sigma=(2, 1, 3), baseline=0.3, batch_size=7).to_numpy(),
        "core_float32": lambda: glas_core.explain(two, chw.astype(np.float32), grid=6, batch_size=10).to_numpy(),
        "core_points": lambda: glas_core.explain(two, chw, points=pts, sigma_px=(4, 3, 5)).to_numpy(),
        "core_volume": lambda: glas_core.explain(model_vol, vol, spatial_axes=(-3, -2, -1), grid=(2, 3, 3),
                                                 sigma=1.5).to_numpy(),
        "core_recursive": lambda: glas_core.explain_recursive(two, chw, grid=6, sigma=1.0).to_numpy(),
        "core_multiscale": lambda: np.stack([r.to_numpy() for r in
                                             glas_core.explain_multiscale(two, chw, [3.0, 1.0], grid=6)]),
        "core_regions": lambda: _regions(glas_core.explain_regions(model_vol, vol, labels, sigma_px=3.0)),
    }


def torch_cases() -> dict[str, Callable[[], np.ndarray]]:
    import torch
    from torch import nn

    from glas_adapters import torch as glas_torch

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16 * 16, 5)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (1.5 / p[0].numel() ** 0.5 if p.ndim > 1 else 0.1))
    x = torch.rand((2, 3, 16, 16), generator=torch.Generator().manual_seed(1))
    attr = glas_torch.GLASAttribution(model)
    return {
        "torch_attribute": lambda: attr.attribute(x, target=torch.tensor([1, 4]), grid=5,
                                                  perturbations_per_eval=9).numpy(),
        "torch_attribute_sigmoid_light": lambda: attr.attribute(x, target=2, grid=4, sigma=2.0, mode="light",
                                                                probabilities="sigmoid").numpy(),
        "torch_explain_targets": lambda: glas_torch.explain(model, x[0], targets=[0, 3], grid=5).numpy(),
        "torch_recursive": lambda: glas_torch.explain_recursive(model, x[0], targets=[2], grid=5,
                                                                sigma=1.0, return_result=True).to_numpy(),
    }


def tf_cases() -> dict[str, Callable[[], np.ndarray]]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from glas_adapters import tf as glas_tf

    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(5)])
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(0.0, 0.4, w.shape).astype(np.float32) for w in model.get_weights()])
    images = np.random.default_rng(5).random((2, 16, 16, 3)).astype(np.float32)
    return {
        "tf_explain": lambda: np.asarray(glas_tf.explain(model, images, class_index=[1, 3], grid=5)),
        "tf_explain_shadow": lambda: np.asarray(glas_tf.explain(model, images, class_index=2, grid=4,
                                                                mode="shadow", sigma=2.0)),
    }


def all_cases() -> dict[str, Callable[[], np.ndarray]]:
    """Every case whose framework is installed."""
    cases = core_cases()
    if importlib.util.find_spec("torch") and importlib.util.find_spec("captum"):
        cases.update(torch_cases())
    if importlib.util.find_spec("tensorflow") and importlib.util.find_spec("keras"):
        cases.update(tf_cases())
    return cases


if __name__ == "__main__":
    maps = {name: np.asarray(fn()) for name, fn in all_cases().items()}
    np.savez_compressed(GOLDEN, **maps)
    print(f"wrote {len(maps)} maps to {GOLDEN}: {', '.join(maps)}")
