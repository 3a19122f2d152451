"""The maps of a fixed set of calls equal those recorded before the reorganisation.

Equal to within ``ULPS`` units in the last place of each map's peak: on another CPU (another
SIMD width of NumPy's reductions) or another thread count, sums are added in another order, and
the recorded maps were found to differ by 1e-16 (float64) and 6e-8 (float32) on such a machine
with the code unchanged. Any change of behaviour moves a map by orders of magnitude more.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.golden_cases import GOLDEN, core_cases, tf_cases, torch_cases

RECORDED = dict(np.load(GOLDEN))
#: round-off allowed, in units in the last place of a map's peak
ULPS = 512


def _params(prefix: str) -> list[str]:
    return sorted(name for name in RECORDED if name.startswith(prefix))


def _check(name: str, cases) -> None:
    got = np.asarray(cases()[name]())
    want = RECORDED[name]
    assert got.shape == want.shape and got.dtype == want.dtype
    tolerance = ULPS * np.finfo(want.dtype).eps * np.abs(want).max()
    err = np.max(np.abs(got.astype(np.float64) - want))
    assert err <= tolerance, f"{name}: max |diff| {err:.3g}, more than {ULPS} ulp of the peak ({tolerance:.3g})"


@pytest.mark.parametrize("name", _params("core_"))
def test_core_maps_unchanged(name: str) -> None:
    _check(name, core_cases)


@pytest.mark.parametrize("name", _params("torch_"))
def test_torch_maps_unchanged(name: str) -> None:
    pytest.importorskip("captum")
    _check(name, torch_cases)


@pytest.mark.parametrize("name", _params("tf_"))
def test_tf_maps_unchanged(name: str) -> None:
    pytest.importorskip("tensorflow")
    _check(name, tf_cases)
