"""References for the PyTorch adapter's maps: the paper's Eq. 3 from probabilities, and how to compare.

The adapter scores log-probabilities, so its maps are the paper's Eq. 3 divided by one positive
factor per map (``GLASResult.log_scale`` holds its log). The references here are computed the
paper's way, from PROBABILITIES written out in the test (softmax, then the target columns), and
compared up to that factor, or exactly to it where the result carries ``log_scale``.
"""

from __future__ import annotations

import numpy as np
import torch

import glas_core


def softmax_columns(model, columns):
    """``score_fn`` of the paper: softmax probabilities of ``columns``."""
    def score_fn(batch):
        with torch.no_grad():
            return torch.softmax(model(batch), dim=-1)[:, list(columns)]
    return score_fn


def paper_result(score_fn, example, **kwargs) -> glas_core.GLASResult:
    """The core on probabilities (Eq. 1-3 as printed), with a guard against flat maps."""
    with torch.no_grad():
        result = glas_core.explain(score_fn, example, **kwargs)
    for m in result.saliency:
        # a flat or vanishing map would let a wrong adapter pass the comparisons
        assert float(m.max() - m.min()) > 1e-3 * float(m.max()) > 0
    return result


def core_map(model, example, target, **kwargs) -> torch.Tensor:
    """The paper's map of one target of a softmax classifier, ``(*spatial)``."""
    return paper_result(softmax_columns(model, [target]), example, **kwargs).saliency[0]


def assert_proportional(got, expected, rtol: float = 1e-4, spatial_dims: int = 2) -> None:
    """Each map of ``got`` equals the one of ``expected`` times one positive factor.

    Maps are ``(..., *spatial)``: the ``spatial_dims`` trailing axes are one map; both are
    divided by their maximum, which is where the factor cancels.
    """
    g = np.asarray(torch.as_tensor(got).detach().double().cpu())
    e = np.asarray(torch.as_tensor(expected).detach().double().cpu())
    assert g.shape == e.shape, (g.shape, e.shape)
    assert np.all(g >= 0) and np.all(e >= 0)
    g2, e2 = g.reshape(-1, *g.shape[-spatial_dims:]), e.reshape(-1, *e.shape[-spatial_dims:])
    for a, b in zip(g2, e2):
        np.testing.assert_allclose(a / a.max(), b / b.max(), rtol=rtol, atol=rtol * 1e-2)


def assert_paper_scale(result: glas_core.GLASResult, expected: glas_core.GLASResult, rtol: float = 1e-4) -> None:
    """``saliency * exp(log_scale)`` of a log-domain result is the paper's map itself."""
    assert result.log_scale is not None
    scale = torch.exp(torch.as_tensor(result.log_scale, dtype=torch.float64))
    shape = (-1,) + (1,) * (result.saliency.ndim - 1)
    restored = result.saliency.double() * scale.reshape(shape)
    torch.testing.assert_close(restored, expected.saliency.double(), rtol=rtol, atol=rtol * 1e-2 * float(
        expected.saliency.abs().max()))
