"""The faithfulness study's GLAS variants: their point values and their Eq. 3 fusion.

References are independent of the code: log-probabilities written out by hand, and Eq. 3 as a
plain loop over pixels and points.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchkit import glas_variants as V  # noqa: E402


def test_log_p_by_hand_and_for_a_sure_class():
    logits = np.array([[1.5, -0.25, 3.0], [45.0, 0.0, 0.0]])
    out = V.log_p(logits, 0)
    assert out[0] == pytest.approx(1.5 - math.log(math.exp(1.5) + math.exp(-0.25) + math.exp(3.0)), rel=1e-12)
    # a margin of 45: log P = -log(1 + 2 e^-45), which a plain log-softmax rounds to 0
    assert out[1] == pytest.approx(-2.0 * math.exp(-45.0), rel=1e-9) and out[1] < 0.0


def test_margin_by_hand():
    assert V.margin(np.array([[2.0, 5.0, -1.0]]), 1)[0] == 3.0
    assert V.margin(np.array([[2.0, 5.0, -1.0]]), 0)[0] == -3.0


class _Linear(torch.nn.Module):
    """Three classes scored from the image's weighted mean brightness (a model that reads its input)."""

    def __init__(self, h: int, w: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.weight = torch.nn.Parameter(torch.rand(3, h * w, generator=g) * 4.0, requires_grad=False)

    def forward(self, x):
        return x.mean(1).flatten(1) @ self.weight.T


@pytest.fixture(scope="module")
def sweep():
    x = torch.rand(3, 12, 10, generator=torch.Generator().manual_seed(1))
    return V.record_sweep(_Linear(12, 10).eval(), x, 2, grid=3)


def _eq3_loop(sweep: V.Sweep, values: np.ndarray, sigma_cells: float | None, normalised: bool) -> np.ndarray:
    res = sweep.result
    h, w = np.asarray(res.saliency).shape[1:]
    sy, sx = res.sigma_px[2] if sigma_cells is None else (sigma_cells * h / 3, sigma_cells * w / 3)
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            k = [math.exp(-(i - py) ** 2 / sy**2 - (j - px) ** 2 / sx**2) for py, px in res.points]
            total = sum(kk * v for kk, v in zip(k, values))
            out[i, j] = total / sum(k) if normalised else total / len(values)
    return out


def test_the_recorded_sweep_holds_every_row(sweep):
    assert sweep.logits.shape == (2 * 9 + 1, 3)
    assert sweep.rows("light").shape == sweep.rows("shadow").shape == (9, 3)


@pytest.mark.parametrize("cells, normalised", [(None, False), (1.0, False), (None, True)])
def test_fuse_is_eq3_by_loop(sweep, cells, normalised):
    values = np.linspace(0.1, 2.0, 9)
    expected = _eq3_loop(sweep, values, cells, normalised)
    np.testing.assert_allclose(V.fuse(sweep, values, spatial_cells=cells, normalised=normalised), expected, rtol=1e-10)


def test_paper_weights_refused_give_the_adapters_map_up_to_one_factor(sweep):
    refused = V.fuse(sweep, V.scaled(V.log_weight(sweep)))
    ratio = V.paper(sweep) / refused
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-5)
    assert ratio.flat[0] > 0


def test_margin_drop_is_the_clipped_margin_loss(sweep):
    m0 = V.margin(sweep.rows("clean"), 2)[0]
    drop = np.maximum(m0 - V.margin(sweep.rows("shadow"), 2), 0.0)
    np.testing.assert_allclose(V.margin_drop(sweep), _eq3_loop(sweep, drop, None, False), rtol=1e-10)
