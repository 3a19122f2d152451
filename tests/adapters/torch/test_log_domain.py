"""Scores in the log domain: maps stay right where float32 (or float16) probabilities cannot hold them.

Every reference here is the naive float64 loop of tests/core/reference.py fed float64
probabilities of the same logits; each test first shows that the plain computation fails
(probabilities that underflow to 0, round to 1, or round to 1 in half precision).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import glas_core  # noqa: E402
from glas_adapters import torch as glas_torch  # noqa: E402
from glas_adapters.testing.torch_models import TinyCNN, images  # noqa: E402
from glas_adapters.torch.scores import log_softmax  # noqa: E402
from tests.adapters.torch.reference import assert_proportional, core_map  # noqa: E402
from tests.core.reference import reference_glas, reference_grid_points  # noqa: E402

SIGMA_PX = (1.5, 1.0, 2.0)


class Shifted(torch.nn.Module):
    """TinyCNN in float64 plus a fixed logit offset, returning ``out_dtype`` logits; records its inputs."""

    def __init__(self, offset, out_dtype=torch.float32) -> None:
        super().__init__()
        self.base = TinyCNN().double()
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float64))
        self.out_dtype = out_dtype
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return (self.base(x.double()) + self.offset).to(self.out_dtype)


def float64_reference(model, x, target, lam):
    """The paper's map from float64 softmax probabilities of the model's logits (a loop over pixels)."""
    def score_one(img):
        with torch.no_grad():
            z = model(torch.as_tensor(img)[None]).double().numpy()[0]
        e = np.exp(z - z.max())
        return (e / e.sum())[[target]]

    points = reference_grid_points(tuple(x.shape[1:]), (3, 3))
    sal, *_ = reference_glas(score_one, x.double().numpy(), points, (SIGMA_PX[0],) * 2, (SIGMA_PX[1],) * 2,
                             (SIGMA_PX[2],) * 2, lam=lam)
    model.seen.clear()
    assert float(sal.max() - sal.min()) > 0.1 * float(sal.max()) > 0  # an informative map to compare with
    return sal[0]


def test_probabilities_that_underflow_in_float32_give_the_float64_map():
    model = Shifted([0.0, -120.0, 0.0, 0.0, 0.0]).eval()  # class 1 has P ~ 1e-53
    x = images(n=1)[0]
    with torch.no_grad():
        assert float(torch.softmax(model(x[None]), -1)[0, 1]) == 0.0
    with pytest.warns(RuntimeWarning, match="every light score f_l"), \
            pytest.warns(RuntimeWarning, match="same for every perturbed input"):  # plain float32 is lost
        flat = glas_core.explain(lambda b: torch.softmax(model(b), -1)[:, [1]], x, grid=3, sigma_px=SIGMA_PX)
    assert float(flat.saliency.abs().max()) == 0.0
    expected = float64_reference(model, x, 1, lam=1e-5)
    got = glas_torch.explain(model, x, 1, grid=3, sigma_px=SIGMA_PX, return_result=True)
    assert_proportional(got.saliency[0], expected)
    assert float(got.log_scale[0]) < -104  # the paper's largest weight is below float32's smallest number


def test_a_class_the_model_is_sure_of_keeps_its_scores():
    model = Shifted([25.0, 0.0, 0.0, 0.0, 0.0]).eval()  # P(class 0) = 1 - ~1e-10
    x = images(n=1)[0]
    lam = 1e-12  # below the shadow differences, so the map depends on them
    got = glas_torch.explain(model, x, 0, grid=3, sigma_px=SIGMA_PX, lam=lam, return_result=True)
    rows = torch.cat(model.seen)
    with torch.no_grad():
        # torch.log_softmax rounds log P to exactly 0 on every row the model saw: all f_s would be lambda
        assert torch.equal(torch.log_softmax(model(rows), -1)[:, 0], torch.zeros(len(rows)))
    assert_proportional(got.saliency[0], float64_reference(model, x, 0, lam), rtol=1e-3)


@pytest.mark.parametrize("dtype, margin", [(torch.float16, 14.0), (torch.bfloat16, 12.0)])
def test_half_precision_outputs_are_never_rounded_to_their_dtype(dtype, margin):
    model = Shifted([margin, 0.0, 0.0, 0.0, 0.0], out_dtype=dtype).eval()
    x = images(n=1)[0]
    got = glas_torch.explain(model, x, 0, grid=3, sigma_px=SIGMA_PX, lam=1e-8, return_result=True)
    rows = torch.cat(model.seen)
    with torch.no_grad():
        half = torch.softmax(model(rows), -1)[:, 0]
    assert half.dtype == dtype and torch.all(half == 1)  # a softmax in the output dtype: every f_s = lambda
    assert_proportional(got.saliency[0], float64_reference(model, x, 0, lam=1e-8))


def test_log_softmax_is_exact_where_torch_rounds_to_zero():
    z = torch.tensor([[30.0, 0.0, -1.0, 2.0], [0.5, 0.5, -3.0, 1.0]])
    exact = torch.log_softmax(z.double(), -1)
    exact[0, 0] = -float(np.log1p(np.exp(-30.0) + np.exp(-31.0) + np.exp(-28.0)))  # -log1p(s), by hand
    got = log_softmax(z)
    torch.testing.assert_close(got.double(), exact, rtol=1e-6, atol=1e-6 * 31)
    assert float(torch.log_softmax(z, -1)[0, 0]) == 0.0  # torch's value
    assert float(got[0, 0]) == pytest.approx(float(exact[0, 0]), rel=1e-6)
    ties = log_softmax(torch.tensor([[2.0, 2.0, -40.0]]))
    torch.testing.assert_close(ties, torch.log_softmax(torch.tensor([[2.0, 2.0, -40.0]]).double(), -1).float())


def test_probabilities_given_by_the_model_or_a_callable_are_scored_as_probabilities():
    model = TinyCNN().eval()
    x = images(n=1)[0]
    expected = core_map(model, x, 2, grid=4)
    given = glas_torch.explain(lambda b: torch.softmax(model(b), -1), x, 2, grid=4, probabilities=None,
                               return_result=True)
    seen = []

    def callable_softmax(outputs):
        seen.append(outputs.dtype)
        return torch.softmax(outputs, -1)

    by_callable = glas_torch.explain(lambda b: model(b).half(), x, 2, grid=4, probabilities=callable_softmax,
                                     return_result=True)
    assert given.log_scale is None and by_callable.log_scale is None
    torch.testing.assert_close(given.saliency[0], expected, rtol=1e-6, atol=1e-9)  # the paper's map, no factor
    assert set(seen) == {torch.float32}  # half outputs reach the callable in float32
    assert_proportional(by_callable.saliency[0], expected, rtol=2e-2)  # float16 logits: ~1e-3 relative
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logits = glas_torch.explain(model, x, 2, grid=4, return_result=True)
    assert logits.log_scale is not None and torch.isfinite(logits.log_scale).all()
