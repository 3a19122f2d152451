"""The core on accelerator arrays (torch CUDA, CuPy, JAX): same maps as NumPy, results stay on the device.

Each case is skipped where its library or device is missing (CI has no GPU); the project runs
this file on a GPU machine as its device check.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import glas_core
from tests.core.toy_models import logistic_model


def _torch_cuda():
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return lambda a: torch.asarray(a, device="cuda"), lambda r: r.device.type == "cuda"


def _cupy():
    if importlib.util.find_spec("cupy") is None:
        return None
    import cupy

    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:  # no driver
        return None
    return cupy.asarray, lambda r: isinstance(r, cupy.ndarray)


def _jax():
    if importlib.util.find_spec("jax") is None:
        return None
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jnp.asarray, lambda r: isinstance(r, jax.Array)


BACKENDS = {"torch-cuda": _torch_cuda, "cupy": _cupy, "jax": _jax}


@pytest.fixture(params=list(BACKENDS))
def backend(request):
    found = BACKENDS[request.param]()
    if found is None:
        pytest.skip(f"{request.param} not available here")
    return found


@pytest.mark.parametrize("kwargs", [
    dict(grid=(5, 4), sigma=(2.0, 1.0, 1.5)),
    dict(points=np.array([[1.0, 2.0], [7.0, 5.5]]), sigma_px=(3.0, 2.0, 2.5), baseline=0.2),
    dict(grid=4, mode="light", sigma=1.0),
], ids=["grid", "points+baseline", "light"])
def test_accelerator_matches_numpy(backend, kwargs):
    to_backend, on_backend = backend
    rng = np.random.default_rng(3)
    x = rng.random((2, 10, 8))
    score_fn, _ = logistic_model(rng.normal(scale=0.3, size=(x.size, 2)), rng.normal(size=2))
    ref = glas_core.explain(score_fn, x, batch_size=6, **kwargs)
    res = glas_core.explain(score_fn, to_backend(x), batch_size=6, **kwargs)
    assert on_backend(res.saliency)
    np.testing.assert_allclose(glas_core.to_numpy(res.saliency), ref.saliency, rtol=1e-9, atol=1e-14)


def test_accelerator_volume_and_recursion(backend):
    to_backend, on_backend = backend
    rng = np.random.default_rng(4)
    x = rng.random((1, 6, 6, 5))
    score_fn, _ = logistic_model(rng.normal(scale=0.3, size=(x.size, 1)), rng.normal(size=1))
    kw = dict(spatial_axes=(1, 2, 3), grid=3, sigma=1.0)
    res = glas_core.explain(score_fn, to_backend(x), **kw)
    np.testing.assert_allclose(glas_core.to_numpy(res.saliency), glas_core.explain(score_fn, x, **kw).saliency,
                               rtol=1e-9)
    rec = glas_core.explain_recursive(score_fn, to_backend(x), max_iter=2, t2=100.0, **kw)
    ref = glas_core.explain_recursive(score_fn, x, max_iter=2, t2=100.0, **kw)
    assert on_backend(rec.saliency) and rec.stop_reasons == ref.stop_reasons
    np.testing.assert_allclose(glas_core.to_numpy(rec.saliency), ref.saliency, rtol=1e-7, atol=1e-12)
