"""GLASAttribution: the Captum attribution matches the paper's maps, a naive reference, and Captum's rules.

The adapter scores log-probabilities, so every map is the paper's (computed here from
probabilities) times one positive factor: compared with ``assert_proportional``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import glas_core  # noqa: E402
from glas_adapters.testing.torch_models import N_CLASSES, CallLog, RowByRow, TinyCNN, TinyCNN3d, images  # noqa: E402
from glas_adapters.torch import GLASAttribution  # noqa: E402
from tests.adapters.torch.reference import assert_proportional, core_map  # noqa: E402
from tests.core.reference import reference_glas, reference_grid_points  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return TinyCNN().eval()


def test_equals_core_explain_on_the_same_model(model):
    x = images()
    targets = [0, 3, 4]
    maps = GLASAttribution(model).attribute(x, target=targets, grid=4, sigma=1.5)
    for i, t in enumerate(targets):
        expected = core_map(model, x[i], t, grid=4, sigma=1.5)
        for c in range(x.shape[1]):
            assert_proportional(maps[i, c], expected)


def test_equals_naive_numpy_reference_in_float64():
    # tests/core/reference.py loops over pixels and points; it shares no code with glas_core.
    model = TinyCNN(size=6).double().eval()
    x = images(n=2, size=6).double()
    sig = (1.5, 1.0, 2.0)  # pixels

    def score_one(img):
        with torch.no_grad():
            out = model(torch.as_tensor(img)[None])
        return torch.softmax(out, dim=-1)[0, [2]].numpy()

    maps = GLASAttribution(model).attribute(x, target=2, grid=3, sigma_px=sig)
    points = reference_grid_points((6, 6), (3, 3))
    for i in range(2):
        expected, *_ = reference_glas(score_one, x[i].numpy(), points, (sig[0],) * 2, (sig[1],) * 2, (sig[2],) * 2)
        assert_proportional(maps[i, 0], expected[0], rtol=1e-9)


def test_output_has_input_shape_dtype_and_one_map_per_example_over_channels(model):
    x = images(n=2)
    maps = GLASAttribution(model).attribute(x, target=1, grid=4)
    assert maps.shape == x.shape and maps.dtype == x.dtype
    for c in (1, 2):
        assert torch.equal(maps[:, c], maps[:, 0])
    assert not torch.equal(maps[0, 0], maps[1, 0])  # each example has its own map


@pytest.mark.parametrize("ppe", [1, 7, 64])
def test_paper_maps_for_every_perturbations_per_eval_and_chunks_packed_full(model, ppe):
    x = images(n=2)
    log = CallLog(model)
    maps = GLASAttribution(log).attribute(x, target=2, grid=4, perturbations_per_eval=ppe)
    for i in range(2):
        assert_proportional(maps[i, 0], core_map(model, x[i], 2, grid=4))
    rows = 2 * (2 * 4 * 4 + 1)
    # one packed stream: every call but the last has exactly ppe rows, whichever example they belong to
    assert sum(log.rows) == rows and len(log.rows) == -(-rows // ppe)
    assert log.rows[:-1] == [ppe] * (len(log.rows) - 1)


@pytest.mark.parametrize("ppe", [7, 64])
def test_packed_batch_equals_each_example_alone_bit_for_bit(model, ppe):
    # rows scored one at a time: CPU kernels may round a row differently in batches of other sizes
    rowwise = RowByRow(model).eval()
    x = images(n=3)
    targets = torch.tensor([4, 0, 2])
    log = CallLog(rowwise)
    batch = GLASAttribution(log).attribute(x, target=targets, grid=4, perturbations_per_eval=ppe)
    assert len(log.rows) == -(-3 * 33 // ppe)  # packed: fewer calls than 3 separate sweeps when 33 % ppe != 0
    for i in range(3):
        alone = GLASAttribution(rowwise).attribute(x[i:i + 1], target=int(targets[i]), grid=4,
                                                 perturbations_per_eval=ppe)
        assert torch.equal(batch[i:i + 1], alone)


def test_packed_tuple_inputs_extra_args_and_baselines_equal_each_example_alone(model):
    x = images(n=3)
    rgb, alpha = x[:, :2], x[:, 2:]
    shift = torch.tensor([[0.0, 2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -1.0, 3.0], [1.0, 0.0, 0.0, 0.0, -2.0]])
    scale = torch.tensor([0.5, 1.0, 2.0])
    blurred = x.mean(dim=(2, 3), keepdim=True).expand_as(x).contiguous()

    def one_by_one(a, b, vec, s):
        return model(torch.cat([a, b], dim=1)) * s[:, None] + vec

    fn = RowByRow(one_by_one).eval()  # each row alone: bit-for-bit independent of its batch

    kw = dict(grid=4, perturbations_per_eval=10)
    batch = GLASAttribution(fn).attribute((rgb, alpha, shift), target=[1, 3, 0], additional_forward_args=(scale,),
                                          baselines=(blurred[:, :2], blurred[:, 2:], 0.0), **kw)
    for i, t in enumerate([1, 3, 0]):
        alone = GLASAttribution(fn).attribute((rgb[i:i + 1], alpha[i:i + 1], shift[i:i + 1]), target=t,
                                              additional_forward_args=(scale[i:i + 1],),
                                              baselines=(blurred[i:i + 1, :2], blurred[i:i + 1, 2:], 0.0), **kw)
        for got, want in zip(batch, alone):
            assert torch.equal(got[i:i + 1], want)
        expected = core_map(lambda b, i=i: model(b) * scale[i] + shift[i], x[i], t, grid=4, baseline=blurred[i])
        assert_proportional(batch[0][i, 0], expected)


def test_per_example_targets_as_list_tensor_and_int(model):
    x = images(n=2)
    attr = GLASAttribution(model)
    by_list = attr.attribute(x, target=[1, 3], grid=4)
    by_tensor = attr.attribute(x, target=torch.tensor([1, 3]), grid=4)
    assert torch.equal(by_list, by_tensor)
    assert_proportional(by_list[1, 0], core_map(model, x[1], 3, grid=4))
    by_int = attr.attribute(x, target=3, grid=4)
    assert_proportional(by_int[0, 0], core_map(model, x[0], 3, grid=4))
    assert not torch.allclose(by_int[0], by_list[0])  # the target changes the map


def test_tuple_inputs_sharing_spatial_size_get_one_mask(model):
    x = images(n=2)
    rgb, alpha = x[:, :2], x[:, 2:]

    def two_inputs(a, b):
        return model(torch.cat([a, b], dim=1))

    got = GLASAttribution(two_inputs).attribute((rgb, alpha), target=1, grid=4)
    assert isinstance(got, tuple) and len(got) == 2
    assert got[0].shape == rgb.shape and got[1].shape == alpha.shape
    single = GLASAttribution(model).attribute(x, target=1, grid=4)
    torch.testing.assert_close(got[0], single[:, :2], rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(got[1], single[:, 2:], rtol=1e-6, atol=1e-9)


def test_tuple_entries_of_another_size_are_passed_along_with_zero_attribution(model):
    x = images(n=2)
    shift = torch.tensor([[0.0, 2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -1.0, 3.0]])

    def image_and_vector(img, vec):
        return model(img) + vec

    got = GLASAttribution(image_and_vector).attribute((x, shift), target=3, grid=4)
    assert torch.equal(got[1], torch.zeros_like(shift))
    for i in range(2):
        expected = core_map(lambda b, i=i: model(b) + shift[i], x[i], 3, grid=4)
        assert_proportional(got[0][i, 0], expected)


def test_additional_forward_args_are_sliced_per_example(model):
    x = images(n=2)
    bias = torch.tensor([[3.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, -2.0, 0.0, 1.0]])
    log_calls = []

    def with_args(img, per_example_bias, scale):
        log_calls.append((tuple(per_example_bias.shape), scale))
        return model(img) * scale + per_example_bias

    got = GLASAttribution(with_args).attribute(x, target=0, additional_forward_args=(bias, 0.5), grid=4)
    for i in range(2):
        expected = core_map(lambda b, i=i: model(b) * 0.5 + bias[i], x[i], 0, grid=4)
        assert_proportional(got[i, 0], expected)
    assert all(shape[1:] == (N_CLASSES,) and scale == 0.5 for shape, scale in log_calls)


def test_baselines_scalar_and_per_example_tensor(model):
    x = images(n=2)
    got = GLASAttribution(model).attribute(x, target=1, grid=4, baselines=0.5)
    assert_proportional(got[1, 0], core_map(model, x[1], 1, grid=4, baseline=0.5))
    blurred = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    got = GLASAttribution(model).attribute(x, target=1, grid=4, baselines=blurred)
    for i in range(2):
        expected = core_map(model, x[i], 1, grid=4, baseline=blurred[i])
        assert_proportional(got[i, 0], expected)


@pytest.mark.parametrize("mode", ["light", "shadow"])
def test_ablation_modes_match_core_and_skip_rows(model, mode):
    x = images(n=1)
    log = CallLog(model)
    got = GLASAttribution(log).attribute(x, target=2, grid=4, mode=mode)
    assert_proportional(got[0, 0], core_map(model, x[0], 2, grid=4, mode=mode))
    assert sum(log.rows) == 4 * 4 + 1


def test_volumes_use_the_three_axes_after_the_channel():
    model = TinyCNN3d().eval()
    x = torch.rand((2, 1, 6, 6, 6), generator=torch.Generator().manual_seed(3))
    got = GLASAttribution(model).attribute(x, target=[0, 4], grid=3, sigma=1.0)
    assert got.shape == x.shape
    for i, t in enumerate([0, 4]):
        expected = core_map(model, x[i], t, grid=3, sigma=1.0, spatial_axes=(-3, -2, -1))
        assert_proportional(got[i, 0], expected, spatial_dims=3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_on_cpu(model, dtype):
    x = images(n=1)
    low = TinyCNN().to(dtype).eval()
    got = GLASAttribution(low).attribute(x.to(dtype), target=1, grid=4)
    assert got.dtype == dtype and got.shape == x.shape
    assert next(low.parameters()).dtype == dtype  # the model was not converted
    full = GLASAttribution(model).attribute(x, target=1, grid=4)
    # Half precision perturbs the logits by ~1e-2 relative; the map keeps its layout.
    half_map = got[0, 0].float().flatten()
    corr = np.corrcoef(half_map.numpy(), full[0, 0].flatten().numpy())[0, 1]
    assert corr > 0.98
    # the float32 map's peak is a peak of the half map, to the half map's rounding (ties are common)
    peak = int(full[0, 0].argmax())
    assert float(half_map[peak]) >= float(half_map.max()) * (1 - 2 * torch.finfo(dtype).eps)


def test_runs_without_grad_and_leaves_inputs_untouched(model):
    x = images(n=2).requires_grad_(True)
    before = x.detach().clone()
    log = CallLog(model)
    got = GLASAttribution(log).attribute(x, target=1, grid=4)
    assert not any(log.grad_enabled)
    assert not got.requires_grad
    assert torch.equal(x.detach(), before)


def test_sigma_px_matches_core_and_conflicts_with_an_explicit_sigma(model):
    x = images(n=1)
    got = GLASAttribution(model).attribute(x, target=1, grid=4, sigma_px=(2.0, 1.0, 3.0))
    assert_proportional(got[0, 0], core_map(model, x[0], 1, grid=4, sigma_px=(2.0, 1.0, 3.0)))
    with pytest.raises(glas_core.GLASError, match="sigma_px"):
        GLASAttribution(model).attribute(x, target=1, grid=4, sigma=2.0, sigma_px=1.0)


def test_show_progress_total_is_the_exact_number_of_rows(model, capsys):
    x = images(n=3)
    GLASAttribution(model).attribute(x, target=1, grid=4, perturbations_per_eval=10, show_progress=True)
    err = capsys.readouterr().err
    total = 3 * (2 * 16 + 1)
    assert re.search(rf"\b{total}/{total}\b", err), err[-300:]


def test_sigmoid_and_probability_outputs(model):
    x = images(n=1)
    got = GLASAttribution(model).attribute(x, target=2, grid=4, probabilities="sigmoid")
    with torch.no_grad():
        expected = glas_core.explain(lambda b: torch.sigmoid(model(b))[:, [2]], x[0], grid=4).saliency[0]
    assert_proportional(got[0, 0], expected)

    def probs(b):
        return torch.softmax(model(b), dim=-1)

    got = GLASAttribution(probs).attribute(x, target=2, grid=4, probabilities=None)
    # given probabilities, the adapter scores them as such: the paper's map itself, no factor
    torch.testing.assert_close(got[0, 0], core_map(model, x[0], 2, grid=4), rtol=1e-6, atol=1e-9)


def test_single_output_model_with_target_none(model):
    x = images(n=2)

    def one_logit(b):
        return model(b)[:, 3]

    got = GLASAttribution(one_logit).attribute(x, grid=4, probabilities="sigmoid")
    with torch.no_grad():
        expected = glas_core.explain(lambda b: torch.sigmoid(model(b)[:, 3:4]), x[1], grid=4).saliency[0]
    assert_proportional(got[1, 0], expected)
