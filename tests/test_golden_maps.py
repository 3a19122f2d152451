"""The maps of a fixed set of calls are bit-identical to those recorded before the reorganisation."""

from __future__ import annotations

import numpy as np
import pytest

from tests.golden_cases import GOLDEN, core_cases, tf_cases, torch_cases

RECORDED = dict(np.load(GOLDEN))


def _params(prefix: str) -> list[str]:
    return sorted(name for name in RECORDED if name.startswith(prefix))


def _check(name: str, cases) -> None:
    got = np.asarray(cases()[name]())
    want = RECORDED[name]
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.array_equal(got, want), f"{name}: max |diff| {np.max(np.abs(got - want))}"


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
