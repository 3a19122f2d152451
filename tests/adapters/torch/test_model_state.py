"""An explanation never changes the model or the caller's tensors, and says when the model's mode is wrong.

Train mode: Dropout and BatchNorm make maps random or batch-dependent, and BatchNorm updates
its running statistics on every forward pass; the adapter warns (naming ``model.eval()``)
and restores every buffer. A model that already ends in softmax, explained with the default
``probabilities="softmax"``, gets a warning too.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from glas_adapters import torch as glas_torch  # noqa: E402
from glas_adapters.quantus import explain_func  # noqa: E402
from glas_adapters.testing.torch_models import TinyCNN, images  # noqa: E402
from glas_adapters.torch import GLASAttribution  # noqa: E402


def train_mode_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.3),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 5))


def snapshot(model: nn.Module) -> dict:
    return {"state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "training": [m.training for m in model.modules()]}


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = model.state_dict()
    assert before["state"].keys() == after.keys()
    for k, v in before["state"].items():
        assert torch.equal(v, after[k]), k  # parameters, running statistics, batch counters
    assert [m.training for m in model.modules()] == before["training"]


@pytest.mark.parametrize("call", ["attribute", "explain", "explain_recursive", "quantus"])
def test_a_train_mode_model_gets_a_warning_and_keeps_its_state(call):
    model = train_mode_net()
    x = images(n=2)
    before = snapshot(model)
    with torch.no_grad():
        model(x)  # the premise: one forward pass in train mode moves the running statistics
    assert not torch.equal(model[1].running_mean, before["state"]["1.running_mean"])
    model.load_state_dict(before["state"])
    runs = {
        "attribute": lambda: GLASAttribution(model).attribute(x, target=1, grid=2),
        "explain": lambda: glas_torch.explain(model, x, [1, 2], grid=2, return_result=True),
        "explain_recursive": lambda: glas_torch.explain_recursive(model, x[0], 1, grid=2, max_iter=2,
                                                                  return_result=True),
        "quantus": lambda: explain_func(model, x.numpy(), np.array([1, 2]), grid=2),
    }
    with pytest.warns(UserWarning, match=r"train mode \(BatchNorm2d, Dropout in training mode\).*model\.eval\(\)"):
        runs[call]()
    assert_unchanged(model, before)
    assert model.training and model[1].training  # the mode was not switched either


def test_a_warning_points_at_the_callers_line():
    model = train_mode_net()
    with pytest.warns(UserWarning, match="model.eval") as record:
        GLASAttribution(model).attribute(images(n=1), target=1, grid=2)
    assert record[0].filename == __file__


class CrashesOnSecondCall(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = train_mode_net()
        self.calls = 0

    def forward(self, b):
        self.calls += 1
        if self.calls == 2:
            raise KeyError("boom")
        return self.net(b)


def test_the_state_is_restored_when_the_model_fails_midway():
    model = CrashesOnSecondCall()
    before = snapshot(model)
    with pytest.warns(UserWarning, match="model.eval"), pytest.raises(KeyError, match="boom"):
        GLASAttribution(model).attribute(images(n=1), target=1, grid=2, perturbations_per_eval=4)
    assert model.calls == 2  # the first call ran in train mode and moved the statistics
    assert_unchanged(model, before)


def test_eval_mode_models_and_models_without_mode_dependent_layers_get_no_warning():
    x = images(n=1)
    plain = TinyCNN()  # train mode, but nothing in it depends on the mode
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GLASAttribution(train_mode_net().eval()).attribute(x, target=1, grid=2)
        GLASAttribution(plain).attribute(x, target=1, grid=2)


def test_caller_tensors_are_never_changed_even_by_a_model_that_writes_its_inputs():
    model = TinyCNN().eval()
    x = images(n=2)
    extra = torch.tensor([[1.0, 0.0, 0.0, 0.0, 2.0], [0.0, 3.0, 0.0, 0.0, 0.0]])
    side = torch.rand(2, 7)
    baselines = x.mean(dim=(2, 3), keepdim=True).expand_as(x).contiguous()
    copies = [t.clone() for t in (x, extra, side, baselines)]

    def vandal(img, vec, e):
        img.mul_(0.5)  # writes every argument in place
        vec.add_(1.0)
        e.zero_()
        return model(img * 2) + e

    got = GLASAttribution(vandal).attribute((x, side), target=[0, 3], additional_forward_args=(extra,),
                                            baselines=(baselines, 0.0), grid=2)
    for t, c in zip((x, extra, side, baselines), copies):
        assert torch.equal(t, c)
    assert torch.isfinite(got[0]).all() and float(got[0].max()) > 0


@pytest.mark.parametrize("call", ["attribute", "explain"])
def test_softmax_applied_to_a_softmax_head_gets_a_warning(call):
    head = nn.Sequential(TinyCNN(), nn.Softmax(dim=-1)).eval()
    x = images(n=2)
    runs = {"attribute": lambda m, **kw: GLASAttribution(m).attribute(x, target=1, grid=2, **kw),
            "explain": lambda m, **kw: glas_torch.explain(m, x, 1, grid=2, **kw, return_result=True)}
    with pytest.warns(UserWarning, match="already sum to 1 per image.*probabilities=None"):
        runs[call](head)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runs[call](head, probabilities=None)  # the fix
        runs[call](TinyCNN().eval())  # logits
