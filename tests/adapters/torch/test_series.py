"""Time series (N, C, T) through the PyTorch adapter: the contract's shapes, the paper's maps, the refusals."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import glas_core  # noqa: E402
from glas_adapters import torch as glas_torch  # noqa: E402
from glas_adapters.torch import GLASAttribution  # noqa: E402
from glas_core import GLASError  # noqa: E402
from tests.adapters.torch.reference import assert_paper_scale, paper_result, softmax_columns  # noqa: E402

C, T, K = 2, 24, 3
# a flat list of N classes is one class per example (the contract); its reminder of 0.2's meaning is not tested here
pytestmark = pytest.mark.filterwarnings("ignore:targets is a flat list:FutureWarning")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def conv1d_model(channels=C, length=T, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv1d(channels, 4, 5, padding=2), torch.nn.Tanh(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * length, K)).double().eval()


def series(n=2, seed=1):
    return torch.rand(n, C, T, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


KW = dict(grid=8, sigma=(1.5, 1.0, 2.0))


def test_functional_maps_follow_the_contract_and_equal_the_paper():
    model, x = conv1d_model(), series()
    maps = glas_torch.explain(model, x, [0, 2], **KW)  # one class per example
    assert maps.shape == (2, T)
    several = glas_torch.explain(model, x, [[0, 1], [2, 0]], **KW)
    assert several.shape == (2, 2, T)
    torch.testing.assert_close(several[0, 0], maps[0], rtol=1e-6, atol=1e-12)
    one = glas_torch.explain(model, x[1], [2, 1], **KW)  # one series, two classes
    assert one.shape == (2, T)
    assert glas_torch.explain(model, x[1], 2, **KW).shape == (T,)
    predicted = glas_torch.explain(model, x, **KW)  # None: each series' predicted class
    top = model(x).argmax(dim=1)
    torch.testing.assert_close(predicted, torch.stack([glas_torch.explain(model, x[i], int(top[i]), **KW)
                                                       for i in range(2)]), rtol=1e-6, atol=1e-12)
    results = glas_torch.explain(model, x, [[0, 1], [2, 0]], return_result=True, **KW)
    for i, cols in enumerate([[0, 1], [2, 0]]):
        assert results[i].spatial_axes == (1,)
        assert_paper_scale(results[i], paper_result(softmax_columns(model, cols), x[i], spatial_axes=(-1,), **KW))


def test_spatial_dims_is_read_from_the_first_conv1d_and_can_be_named():
    model, x = conv1d_model(), series()
    named = glas_torch.explain(model, x, 1, spatial_dims=1, **KW)
    torch.testing.assert_close(glas_torch.explain(model, x, 1, **KW), named)
    wrapped = glas_torch.explain(lambda b: model(b), x, 1, spatial_dims=1, **KW)  # a function: named
    torch.testing.assert_close(wrapped, named)
    with pytest.raises(GLASError, match=r"spatial_dims must be 1 \(series\), 2 \(images\) or 3 \(volumes, clips\)"):
        glas_torch.explain(model, x, 1, spatial_dims=4)


def test_captum_attribution_on_series():
    model, x = conv1d_model(), series(n=3)
    attr = GLASAttribution(model).attribute(x, target=[0, 1, 2], **KW)
    assert attr.shape == x.shape  # Captum's rule: the input's shape, the map spread over channels
    torch.testing.assert_close(attr[:, 0], attr[:, 1])
    for i, t in enumerate([0, 1, 2]):
        torch.testing.assert_close(attr[i, 0], glas_torch.explain(model, x[i], t, **KW), rtol=1e-6, atol=1e-12)


def test_recursive_and_multiscale_on_series():
    model, x = conv1d_model(), series()
    rec = glas_torch.explain_recursive(model, x, [0, 1], grid=8, sigma=1.0, max_iter=2)
    assert rec.shape == (2, T)
    scales = glas_torch.explain_multiscale(model, x, [0, 1], sigmas=[3.0, 1.0], grid=8, adaptive=True,
                                           return_result=True)
    assert len(scales) == 2 and all(r.saliency.shape == (1, T) for per in scales for r in per)


def test_a_mean_baseline_tensor():
    model, x = conv1d_model(), series() + 2.0
    b = glas_core.signal_baseline(x, "mean")
    assert isinstance(b, torch.Tensor) and b.shape == x.shape
    res = glas_torch.explain(model, x, [1, 0], baseline=b, return_result=True, **KW)
    assert_paper_scale(res[1], paper_result(softmax_columns(model, [0]), x[1], spatial_axes=(-1,), baseline=b[1],
                                            **KW))


class LSTMClassifier(torch.nn.Module):
    """Reads (N, T, C) itself, as batch_first LSTMs do."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(C, 4, batch_first=True)
        self.head = torch.nn.Linear(4, K)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])


def test_channels_where_time_was_expected_is_refused():
    x = series()
    ntc = x.transpose(1, 2).contiguous()  # (N, T, C)
    fix = "pass x.transpose(1, 2)"
    with pytest.raises(GLASError, match=r"^x must be a \(N, C, T\) series, channels before time steps .*got shape "
                                        r"\(2, 24, 2\), read as \(N, C=24, T=2\), while the model's first layer "
                                        r"Conv1d reads 2 channels, the size of the last axis: a channels-last "
                                        r"\(N, T, C\) series; " + fix.replace("(", r"\(").replace(")", r"\)")):
        glas_torch.explain(conv1d_model(), ntc, 0, spatial_dims=1)
    with pytest.raises(GLASError, match=r"^inputs must be a \(N, C, T\) series.*first layer Conv1d"):
        GLASAttribution(conv1d_model()).attribute(ntc, target=0)
    lstm = LSTMClassifier().double().eval()
    with pytest.raises(GLASError, match=r"first layer LSTM reads 2 channels.*explain lambda x: "
                                        r"model\(x.transpose\(1, 2\)\) on x.transpose\(1, 2\)"):
        glas_torch.explain(lstm, ntc, 0, spatial_dims=1)
    embedding = torch.nn.Sequential(torch.nn.Linear(C, 4), torch.nn.Flatten(), torch.nn.Linear(4 * T, K)).double()
    with pytest.raises(GLASError, match=r"first layer Linear reads 2 channels"):
        glas_torch.explain(embedding, ntc, 0, spatial_dims=1)
    # the fix the message gives works, and is the (N, C, T) explanation of the LSTM
    fixed = glas_torch.explain(lambda b: lstm(b.transpose(1, 2)), x, 0, spatial_dims=1, **KW)
    assert fixed.shape == (2, T) and float(fixed.max()) > 0


def test_models_that_read_time_last_are_not_refused():
    mlp = torch.nn.Sequential(torch.nn.Linear(T, 8), torch.nn.Tanh(), torch.nn.Flatten(),
                              torch.nn.Linear(8, K)).double().eval()  # an MLP over the steps of (N, 1, T)
    x = series()[:, :1]
    assert glas_torch.explain(mlp, x, 0, spatial_dims=1, **KW).shape == (2, T)


def test_a_single_image_without_its_batch_axis_is_refused_for_an_image_model():
    conv2d = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    with pytest.raises(GLASError, match=r"^inputs must be a batch of images \(N, C, H, W\), got shape \(3, 8, 8\) "
                                        r"\(3 axes, read as a batch of series \(N, C, T\)\) for a model whose first "
                                        r"layer is Conv2d; add the batch axis of a single example with "
                                        r"x.unsqueeze\(0\)"):
        GLASAttribution(conv2d).attribute(torch.rand(3, 8, 8), target=0)


def test_a_series_shorter_than_the_grid_is_refused():
    model = conv1d_model(length=10)
    with pytest.raises(GLASError, match=r"grid must be at most the input's size \(10,\) along every spatial axis"):
        glas_torch.explain(model, torch.rand(1, C, 10, dtype=torch.float64), 0)
