"""Bad input or bad model output raises GLASError naming what was received and the fix."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from glas_adapters import torch as glas_torch  # noqa: E402
from glas_adapters.testing.torch_models import TinyCNN, images  # noqa: E402
from glas_adapters.torch import GLASAttribution  # noqa: E402
from glas_core import GLASError  # noqa: E402


@pytest.fixture(scope="module")
def attr():
    return GLASAttribution(TinyCNN().eval())


@pytest.mark.parametrize("target", [5, -1, [0, 7]])
def test_target_out_of_range(attr, target):
    with pytest.raises(GLASError, match=r"target must be class indices in \[0, 5\), got \[(5|-1|7)\]"):
        attr.attribute(images(n=2), target=target, grid=2)


def test_target_list_of_the_wrong_length(attr):
    with pytest.raises(GLASError, match="one class per example \\(2\\), got a list of 3"):
        attr.attribute(images(n=2), target=[0, 1, 2], grid=2)


def test_target_none_for_a_multiclass_model(attr):
    with pytest.raises(GLASError, match="target must be given for a model with 5 outputs"):
        attr.attribute(images(n=1), grid=2)


def test_float_target_refused(attr):
    with pytest.raises(GLASError, match="integer class indices"):
        attr.attribute(images(n=1), target=torch.tensor([1.0]), grid=2)


@pytest.mark.parametrize("shape", [(3, 8, 8), (8, 8), (1, 1, 1, 3, 8, 8)])
def test_wrong_input_rank(attr, shape):
    with pytest.raises(GLASError, match=rf"got shape \({shape[0]}, .*x.unsqueeze\(0\)"):
        attr.attribute(torch.rand(shape), target=0, grid=2)


def test_integer_input_refused(attr):
    with pytest.raises(GLASError, match="floating tensor, got dtype torch.uint8"):
        attr.attribute(torch.zeros((1, 3, 8, 8), dtype=torch.uint8), target=0, grid=2)


def test_nan_input_refused(attr):
    x = images(n=1)
    x[0, 0, 2, 2] = float("nan")
    with pytest.raises(GLASError, match="NaN"):
        attr.attribute(x, target=0, grid=2)


def test_model_returning_nan():
    model = TinyCNN().eval()

    def nan_on_dark_inputs(b):
        out = model(b)
        # NaN only for perturbed rows (masked inputs are darker than the clean one).
        dark = b.flatten(1).mean(1) < 0.45
        return torch.where(dark[:, None], torch.full_like(out, float("nan")), out)

    with pytest.raises(GLASError, match="model output must be finite scores, got NaN or infinite"):
        GLASAttribution(nan_on_dark_inputs).attribute(images(n=1), target=0, grid=2)
    with pytest.raises(GLASError, match="model output must be finite scores, got NaN"):  # probabilities given
        GLASAttribution(lambda b: torch.softmax(nan_on_dark_inputs(b), -1)).attribute(
            images(n=1), target=0, grid=2, probabilities=None)


@pytest.mark.parametrize("bad", ["3d", "rows", "not_a_tensor"])
def test_logits_of_the_wrong_shape(bad):
    model = TinyCNN().eval()

    def wrong(b):
        out = model(b)
        if bad == "3d":
            return out[:, None, :].expand(-1, 2, -1)
        if bad == "rows":
            return out[:1]
        return out.tolist()

    with pytest.raises(GLASError, match="model output must"):
        GLASAttribution(wrong).attribute(images(n=2), target=0, grid=2)


def test_softmax_over_a_single_output_is_refused():
    model = TinyCNN().eval()
    with pytest.raises(GLASError, match="softmax over one value is always 1"):
        GLASAttribution(lambda b: model(b)[:, :1]).attribute(images(n=1), target=0, grid=2)


def test_logits_with_probabilities_none_are_refused(attr):
    with pytest.raises(GLASError, match="probabilities in \\[0, 1\\]"):
        attr.attribute(images(n=1), target=0, grid=2, probabilities=None)


def test_bad_settings(attr):
    x = images(n=1)
    with pytest.raises(GLASError, match="perturbations_per_eval must be a positive int, got 0"):
        attr.attribute(x, target=0, grid=2, perturbations_per_eval=0)
    with pytest.raises(GLASError, match="probabilities must be 'softmax', 'sigmoid', None or a callable"):
        attr.attribute(x, target=0, grid=2, probabilities="relu")
    with pytest.raises(GLASError, match="grid"):
        attr.attribute(x, target=0, grid=0)


def test_additional_forward_args_without_one_row_per_example(attr):
    with pytest.raises(GLASError, match=r"additional_forward_args\[0\] must be a tensor with 2 rows"):
        GLASAttribution(lambda b, extra: TinyCNN()(b) + extra).attribute(
            images(n=2), target=0, additional_forward_args=torch.zeros(3, 5), grid=2)


def test_baselines_of_the_wrong_shape(attr):
    with pytest.raises(GLASError, match="baselines must be a tensor with 1 or 2 rows"):
        attr.attribute(images(n=2), target=0, grid=2, baselines=torch.zeros(3, 3, 8, 8))
    with pytest.raises(GLASError, match="broadcastable to one example"):
        attr.attribute(images(n=2), target=0, grid=2, baselines=torch.zeros(3, 5, 5))


def test_tuple_with_mismatched_batch(attr):
    with pytest.raises(GLASError, match=r"inputs\[1\] must be a tensor with 2 rows"):
        attr.attribute((images(n=2), torch.zeros(3, 4)), target=0, grid=2)


# -- inputs the model does not take: one GLASError with the fix, never a traceback from inside torch


@pytest.mark.parametrize("channels, fix", [(1, r"inputs\.expand\(-1, 3, -1, -1\)"), (4, r"inputs\[:, :3\]"),
                                           (2, "with the 3 channels it was trained on")])
def test_wrong_channel_count_for_the_model(attr, channels, fix):
    x = torch.rand(2, channels, 8, 8)
    with pytest.raises(GLASError, match=rf"^inputs must be images with 3 channels, as the model's first convolution "
                                        rf"takes, got {channels} channels.*{fix}"):
        attr.attribute(x, target=0, grid=2)


def test_channels_last_images_name_the_permute():
    model = TinyCNN(size=16).eval()
    x = torch.rand(1, 16, 16, 3)  # (N, H, W, C): too small a "spatial" 3 for the core to call it a layout error
    with pytest.raises(GLASError, match=r"got 16 channels.*channels-last: pass x\.permute\(0, 3, 1, 2\)"):
        glas_torch.explain(model, x, 0, grid=2, return_result=True)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_input_dtype_other_than_the_models_is_refused_not_cast(attr, dtype):
    x = images(n=1).to(dtype)
    with pytest.raises(GLASError, match=rf"^inputs must be torch.float32, the dtype of the model's parameters, "
                                        rf"got dtype {dtype}; convert the input, e.g. inputs.to\(torch.float32\)"):
        attr.attribute(x, target=0, grid=2)
    with pytest.raises(GLASError, match=r"^x must be torch.float32.*x.to\(torch.float32\)"):
        glas_torch.explain(attr.forward_func, x[0], 0, grid=2, return_result=True)


def test_a_model_that_takes_the_input_is_never_refused():
    model = TinyCNN().eval()

    class Casts(torch.nn.Module):  # float32 weights, converts its float64 input itself
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, b):
            return self.inner(b.float())

    x = images(n=1)
    got = GLASAttribution(Casts()).attribute(x.double(), target=1, grid=2)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got.float(), GLASAttribution(model).attribute(x, target=1, grid=2))


def test_other_failures_of_the_model_are_raised_as_they_are(attr):
    def broken(b):
        raise RuntimeError("the model's own bug")

    with pytest.raises(RuntimeError, match="the model's own bug"):
        GLASAttribution(broken).attribute(images(n=1), target=0, grid=2)


def test_an_output_with_no_column_is_refused():
    model = TinyCNN().eval()
    with pytest.raises(GLASError, match=r"model output must be \(\d+, num_classes\) scores with "
                                        r"num_classes >= 1.*got shape \(\d+, 0\)"):
        GLASAttribution(lambda b: model(b)[:, :0]).attribute(images(n=1), target=0, grid=2)


def test_user_strings_are_quoted(attr):
    x = images(n=1)
    with pytest.raises(GLASError, match="baselines must be None, a number or a tensor, got 'zeros'"):
        attr.attribute(x, target=0, grid=2, baselines="zeros")
    with pytest.raises(GLASError, match="got '3'"):
        attr.attribute(x, target="3", grid=2)
    with pytest.raises(GLASError, match="probabilities must be .*, got 'relu'"):
        attr.attribute(x, target=0, grid=2, probabilities="relu")
    with pytest.raises(GLASError, match="perturbations_per_eval must be a positive int, got '8'"):
        attr.attribute(x, target=0, grid=2, perturbations_per_eval="8")
    with pytest.raises(GLASError, match="targets must be integer class indices, got '3'"):
        glas_torch.explain(attr.forward_func, x[0], "3", grid=2, return_result=True)
    with pytest.raises(GLASError, match="baseline must be None, a number or a tensor, got 'zeros'"):
        glas_torch.explain(attr.forward_func, x[0], 1, grid=2, baseline="zeros", return_result=True)
