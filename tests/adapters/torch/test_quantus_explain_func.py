"""glas_adapters.quantus.explain_func follows Quantus' calling convention (numpy in, numpy out).

Quantus itself is exercised in integrations/quantus; this file does not import it.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from glas_adapters.quantus import explain_func  # noqa: E402
from glas_adapters.testing.torch_models import TinyCNN, images  # noqa: E402
from glas_adapters.torch import GLASAttribution  # noqa: E402
from glas_core import GLASError  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return TinyCNN().eval()


def test_numpy_in_one_channel_numpy_out_equal_to_the_attribution(model):
    x = images(n=2)
    y = np.array([1, 4])
    a = explain_func(model=model, inputs=x.numpy().astype(np.float64), targets=y, grid=4, device="cpu")
    assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.shape == (2, 1, 8, 8)
    expected = GLASAttribution(model).attribute(x, target=[1, 4], grid=4)[:, :1].numpy()
    np.testing.assert_allclose(a, expected, rtol=1e-5, atol=1e-9)
    flat = explain_func(model, x.numpy(), y, grid=4, keepdims=False)
    assert flat.shape == (2, 8, 8)
    np.testing.assert_allclose(flat, a[:, 0])


def test_channel_last_inputs_and_float_labels(model):
    x = images(n=2)
    a = explain_func(model, x.permute(0, 2, 3, 1).numpy(), np.array([1.0, 4.0]), grid=4, channel_first=False)
    b = explain_func(model, x.numpy(), np.array([1, 4]), grid=4)
    np.testing.assert_allclose(a, b)


def test_model_is_not_moved_and_unknown_kwargs_are_refused(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    explain_func(model, images(n=1).numpy(), np.array([0]), grid=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(GLASError, match="explain_func keyword arguments.*softmax"):
        explain_func(model, images(n=1).numpy(), np.array([0]), softmax=True)
    with pytest.raises(GLASError, match="integer class indices"):
        explain_func(model, images(n=1).numpy(), np.array([0.5]))


def test_config_is_passed_to_the_attribution(model):
    from glas_core import GLASConfig

    x = images(n=2).numpy()
    by_config = explain_func(model, x, np.array([1, 4]), config=GLASConfig(grid=4, sigma=2.0))
    by_keywords = explain_func(model, x, np.array([1, 4]), grid=4, sigma=2.0)
    np.testing.assert_array_equal(by_config, by_keywords)
    assert not np.allclose(by_config, explain_func(model, x, np.array([1, 4]), grid=4))


def test_float_labels_that_are_not_whole_numbers_are_refused_as_tensors_too(model):
    x = images(n=2).numpy()
    with pytest.raises(GLASError, match="targets must be integer class indices, got dtype float32"):
        explain_func(model, x, torch.tensor([1.0, 0.5]), grid=2)
    by_tensor = explain_func(model, x, torch.tensor([1.0, 4.0]), grid=2)  # whole numbers, as Quantus may carry them
    np.testing.assert_array_equal(by_tensor, explain_func(model, x, np.array([1, 4]), grid=2))


def test_an_unknown_device_is_refused_with_its_name_quoted(model):
    with pytest.raises(GLASError, match="device must be a torch device such as 'cpu' or 'cuda:0', got 'gpu'"):
        explain_func(model, images(n=1).numpy(), np.array([0]), grid=2, device="gpu")
