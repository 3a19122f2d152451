"""Functional API: several targets in one sweep, recursive and multi-scale GLAS, to_visualization.

References are the paper's maps from probabilities (tests/adapters/torch/reference.py); the
adapter's log-domain maps equal them times ``exp(log_scale)``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import glas_core  # noqa: E402
from glas_adapters import torch as glas_torch  # noqa: E402
from glas_adapters.testing.torch_models import CallLog, RowByRow, TinyCNN, TinyCNN3d, images  # noqa: E402
from glas_adapters.torch import GLASAttribution, to_visualization  # noqa: E402
from tests.adapters.torch.reference import assert_paper_scale, paper_result, softmax_columns  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return TinyCNN().eval()


def test_several_targets_in_one_sweep_equal_one_attribution_each(model):
    x = images(n=1)[0]
    log = CallLog(model)
    res = glas_torch.explain(log, x, [4, 1, 2], grid=4, return_result=True)
    assert isinstance(res, glas_core.GLASResult)
    assert res.saliency.shape == (3, 8, 8)
    assert sum(log.rows) == res.n_forward == 2 * 16 + 1  # one sweep for all three targets
    for j, t in enumerate([4, 1, 2]):
        single = GLASAttribution(model).attribute(x[None], target=t, grid=4)
        torch.testing.assert_close(res.saliency[j], single[0, 0], rtol=1e-6, atol=1e-9)


def test_batch_returns_one_result_per_example_with_per_example_targets(model):
    x = images(n=2)
    results = glas_torch.explain(model, x, [[0, 3], [2, 4]], grid=4, sigma=2.0, return_result=True)
    assert isinstance(results, list) and len(results) == 2
    for i, cols in enumerate([[0, 3], [2, 4]]):
        expected = paper_result(softmax_columns(model, cols), x[i], grid=4, sigma=2.0)
        assert_paper_scale(results[i], expected)
        torch.testing.assert_close(results[i].clean_scores, expected.clean_scores)
    shared = glas_torch.explain(model, x, [[1, 2]] * 2, grid=4, return_result=True)  # the same classes for all
    assert all(r.saliency.shape == (2, 8, 8) for r in shared)
    assert_paper_scale(shared[1], paper_result(softmax_columns(model, [1, 2]), x[1], grid=4))
    with pytest.warns(FutureWarning, match=r"one class per example \(Captum's rule"):
        per_example = glas_torch.explain(model, x, [1, 2], grid=4, return_result=True)  # a flat list: one each
    assert all(r.saliency.shape == (1, 8, 8) for r in per_example)
    assert_paper_scale(per_example[1], paper_result(softmax_columns(model, [2]), x[1], grid=4))
    with pytest.raises(glas_core.GLASError,
                       match=r"targets must be one class per example \(2\).*got a list of 3 classes"):
        glas_torch.explain(model, x, [1, 2, 3], grid=4)


def test_a_batch_is_one_packed_sweep_equal_to_each_example_alone_bit_for_bit(model):
    rowwise = RowByRow(model).eval()  # rows scored one at a time: no batch-size round-off
    x = images(n=3)
    log = CallLog(rowwise)
    batch = glas_torch.explain(log, x, [[0, 3], [2, 4], [1, 1]], grid=4, batch_size=10, return_result=True)
    assert len(log.rows) == -(-3 * 33 // 10) and log.rows[:-1] == [10] * (len(log.rows) - 1)
    for i, cols in enumerate([[0, 3], [2, 4], [1, 1]]):
        alone = glas_torch.explain(rowwise, x[i], cols, grid=4, batch_size=10, return_result=True)
        assert torch.equal(batch[i].saliency, alone.saliency)
        assert torch.equal(batch[i].log_scale, alone.log_scale)
        assert batch[i].n_forward == alone.n_forward == 33


def test_top5_targets_from_a_tensor(model):
    x = images(n=1)[0]
    with torch.no_grad():
        top = model(x[None]).topk(3).indices[0]
    res = glas_torch.explain(model, x, top, grid=4, return_result=True)
    assert_paper_scale(res, paper_result(softmax_columns(model, top.tolist()), x, grid=4))


def test_functional_custom_points_and_volumes():
    model = TinyCNN3d().eval()
    vol = torch.rand((1, 6, 6, 6), generator=torch.Generator().manual_seed(5))
    points = np.array([[1.0, 1.0, 1.0], [4.0, 2.5, 3.0], [2.0, 5.0, 0.5]])
    res = glas_torch.explain(model, vol, [0, 2], points=points, sigma_px=2.0, spatial_dims=3, return_result=True)
    expected = paper_result(softmax_columns(model, [0, 2]), vol, spatial_axes=(-3, -2, -1),
                            points=points, sigma_px=2.0)
    assert_paper_scale(res, expected)
    assert res.n_forward == 2 * 3 + 1


def test_recursive_matches_core(model):
    x = images(n=1)[0]
    got = glas_torch.explain_recursive(model, x, [1, 3], grid=4, max_iter=3, return_result=True)
    expected = glas_core.explain_recursive(softmax_columns(model, [1, 3]), x, grid=4, max_iter=3)
    # each iteration's map is min-max normalised (Algorithm 1), so the log domain's factor cancels
    torch.testing.assert_close(got.saliency, expected.saliency, rtol=1e-4, atol=1e-6)
    assert got.stop_reasons == expected.stop_reasons and got.n_forward == expected.n_forward


def test_multiscale_matches_core_per_sigma(model):
    x = images(n=2)
    got = glas_torch.explain_multiscale(model, x, 2, sigmas=[3.0, 1.0], grid=4, return_result=True)
    assert len(got) == 2 and all(len(per) == 2 for per in got)
    expected = glas_core.explain_multiscale(softmax_columns(model, [2]), x[1], sigmas=[3.0, 1.0], grid=4)
    for g, e in zip(got[1], expected):
        assert_paper_scale(g, e)
    assert not torch.allclose(got[1][0].saliency, got[1][1].saliency)  # the scale matters


def test_functional_rejects_an_ambiguous_rank(model):
    with pytest.raises(glas_core.GLASError, match="spatial_dims"):
        glas_torch.explain(model, torch.rand(8, 8), 1, return_result=True)
    with pytest.raises(glas_core.GLASError, match="spatial_dims"):
        glas_torch.explain(model, images(n=1), 1, spatial_dims=4, return_result=True)
    with pytest.raises(glas_core.GLASError, match="targets"):
        glas_torch.explain(model, images(n=1)[0], [[1, 2], [3, 4]], return_result=True)  # 2-D targets for one example
    with pytest.raises(glas_core.GLASError, match="targets"):
        glas_torch.explain(model, images(n=1)[0], [0.5], return_result=True)


def test_to_visualization_is_hwc_numpy_of_the_same_values():
    chw = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)
    hwc = to_visualization(chw)
    assert isinstance(hwc, np.ndarray) and hwc.shape == (3, 4, 2)
    assert hwc[1, 2, 1] == chw[1, 1, 2].item()
    assert to_visualization(chw[None].to(torch.bfloat16)).shape == (3, 4, 2)
    assert to_visualization(np.ones((5, 6))).shape == (5, 6, 1)
    with pytest.raises(glas_core.GLASError, match="maps\\[0\\]"):
        to_visualization(torch.zeros(2, 3, 4, 4))


def test_single_example_with_additional_args_and_tuple_inputs(model):
    x = images(n=1)[0]
    bias = torch.tensor([[0.0, 1.0, 0.0, -1.0, 0.5]])  # one row: the batch axis of one example

    def with_bias(b, extra):
        return model(b) + extra

    res = glas_torch.explain(with_bias, x, [1, 3], additional_forward_args=(bias,), grid=4, return_result=True)
    assert_paper_scale(res, paper_result(softmax_columns(lambda b: model(b) + bias, [1, 3]), x, grid=4))

    def two(a, b):
        return model(torch.cat([a, b], dim=1))

    split = glas_torch.explain(two, (x[:1], x[1:]), [1, 3], grid=4, return_result=True)
    whole = glas_torch.explain(model, x, [1, 3], grid=4, return_result=True)
    torch.testing.assert_close(split.saliency, whole.saliency, rtol=1e-6, atol=1e-9)
