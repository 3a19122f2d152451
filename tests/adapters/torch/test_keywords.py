"""The keyword vocabulary of glas_adapters.torch: config=, None defaults, sigma / sigma_px, baseline,
the names in error messages, and one progress report over every sweep of a call."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import glas_core  # noqa: E402
from glas_adapters import torch as glas_torch  # noqa: E402
from glas_adapters.testing.torch_models import TinyCNN, images  # noqa: E402
from glas_adapters.torch import GLASAttribution  # noqa: E402
from glas_core import DEFAULT_SIGMA, GLASConfig, GLASError  # noqa: E402
from tests.adapters.torch.reference import assert_paper_scale, paper_result, softmax_columns  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return TinyCNN().eval()


def test_config_gives_the_same_maps_as_the_keywords(model):
    x = images(n=2)
    config = GLASConfig(grid=4, sigma=2.0, mode="light", batch_size=7)
    by_config = glas_torch.explain(model, x, [[1, 3]] * 2, config=config, return_result=True)
    by_keywords = glas_torch.explain(model, x, [[1, 3]] * 2, grid=4, sigma=2.0, mode="light", batch_size=7,
                                     return_result=True)
    for a, b in zip(by_config, by_keywords):
        assert torch.equal(a.saliency, b.saliency)
    default = glas_torch.explain(model, x[0], [1, 3], grid=4, return_result=True)
    assert not torch.allclose(by_config[0].saliency, default.saliency)  # the config was used
    maps = GLASAttribution(model).attribute(x, target=1, config=config)
    assert torch.equal(maps[:, 0], torch.stack([r.saliency[0] for r in by_config]))


def test_config_with_multiscale_and_recursive(model):
    x = images(n=1)[0]
    config = GLASConfig(grid=4, lam=1e-3)
    scales = glas_torch.explain_multiscale(model, x, 2, sigmas=[3.0, 1.0], config=config, return_result=True)
    for got, sigma in zip(scales, [3.0, 1.0]):
        assert_paper_scale(got, paper_result(softmax_columns(model, [2]), x, sigma=sigma, grid=4, lam=1e-3))
    rec = glas_torch.explain_recursive(model, x, 2, config=config, max_iter=2, return_result=True)
    want = glas_core.explain_recursive(softmax_columns(model, [2]), x, grid=4, lam=1e-3, max_iter=2)
    torch.testing.assert_close(rec.saliency, want.saliency, rtol=1e-4, atol=1e-6)  # min-max normalised per iteration


def test_config_together_with_a_setting_is_refused(model):
    x = images(n=1)
    with pytest.raises(GLASError, match="config must be either config= or the setting keywords"):
        glas_torch.explain(model, x[0], 1, grid=4, config=GLASConfig(grid=4), return_result=True)
    with pytest.raises(GLASError, match="config must be either config="):
        GLASAttribution(model).attribute(x, target=1, perturbations_per_eval=8, config=GLASConfig(grid=4))


def test_none_means_the_default_and_an_explicit_default_sigma_is_given(model):
    x = images(n=1)[0]
    default = glas_torch.explain(model, x, 1, grid=4, return_result=True)
    explicit = glas_torch.explain(model, x, 1, grid=4, sigma=DEFAULT_SIGMA, return_result=True)
    assert torch.equal(default.saliency, explicit.saliency)
    px = glas_torch.explain(model, x, 1, grid=4, sigma_px=1.0, return_result=True)  # sigma left out: pixels are used
    assert_paper_scale(px, paper_result(softmax_columns(model, [1]), x, grid=4, sigma_px=1.0))
    for call in (lambda: glas_torch.explain(model, x, 1, grid=4, sigma=DEFAULT_SIGMA, sigma_px=1.0, return_result=True),
                 lambda: GLASAttribution(model).attribute(x[None], target=1, sigma=DEFAULT_SIGMA, sigma_px=1.0)):
        with pytest.raises(GLASError, match="sigma must be left out when sigma_px is given"):
            call()


def test_functional_baseline_and_its_name_in_errors(model):
    x = images(n=1)[0]
    got = glas_torch.explain(model, x, 1, grid=4, baseline=0.5, return_result=True)
    assert_paper_scale(got, paper_result(softmax_columns(model, [1]), x, grid=4, baseline=0.5))
    with pytest.raises(GLASError, match=r"^baseline must be broadcastable to one example \(3, 8, 8\)"):
        glas_torch.explain(model, x, 1, grid=4, baseline=torch.zeros(5, 5), return_result=True)
    with pytest.raises(GLASError, match=r"^targets must be class indices in \[0, 5\), got \[9\]"):
        glas_torch.explain(model, x, [1, 9], grid=4, return_result=True)


def test_progress_callable_sees_one_exact_total_over_every_example(model):
    x = images(n=2)
    calls = []
    glas_torch.explain(model, x, [1, 2], grid=4, batch_size=10, progress=lambda d, t: calls.append((d, t)),
                       return_result=True)
    rows = 2 * (2 * 16 + 1)
    assert {t for _, t in calls} == {rows}  # known from the first report
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1] == (rows, rows)

    calls.clear()
    glas_torch.explain_multiscale(model, x[0], 1, sigmas=[3.0, 2.0, 1.0], grid=4,
                                  progress=lambda d, t: calls.append((d, t)), return_result=True)
    assert {t for _, t in calls} == {3 * 33} and calls[-1] == (99, 99)


def test_progress_of_recursive_glas_counts_every_iteration(model):
    x = images(n=1)[0]
    calls = []
    result = glas_torch.explain_recursive(model, x, 1, grid=4, max_iter=3, batch_size=8,
                                          progress=lambda d, t: calls.append((d, t)), return_result=True)
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1]
    assert len(result.iterations[0]) > 1  # more than the first sweep was reported
    # every sweep's rows are reported; each dimmed image's one-row score is its next sweep's clean row,
    # so only the last one (after the last sweep) is outside every sweep
    assert result.stop_reasons == ["max_iter"] and len(result.iterations[0]) == 3
    assert calls[-1][0] == result.n_forward - 1


def test_progress_must_be_a_bool_or_a_callable(model):
    with pytest.raises(GLASError, match="progress must be True, False, None or a callable"):
        glas_torch.explain(model, images(n=1)[0], 1, grid=2, progress="yes", return_result=True)
