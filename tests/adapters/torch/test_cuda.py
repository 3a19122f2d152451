"""GLASAttribution on a CUDA device (skipped without one; run on the project's GPU machine).

Masks and perturbed rows must be built on the input's device and in its dtype, the model must
stay where it is, and the map must equal the CPU map.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from glas_adapters.testing.torch_models import TinyCNN  # noqa: E402
from glas_adapters.torch import GLASAttribution  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class DeviceSpy(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.seen: set[tuple[str, torch.dtype]] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.add((x.device.type, x.dtype))
        return self.model(x)


def test_cuda_map_equals_cpu_map_and_stays_on_the_device():
    model = TinyCNN(size=16)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    cpu = GLASAttribution(model).attribute(x, target=[1, 3], grid=8, sigma=1.0, perturbations_per_eval=16)
    spy = DeviceSpy(model.cuda())
    gpu = GLASAttribution(spy).attribute(x.cuda(), target=[1, 3], grid=8, sigma=1.0, perturbations_per_eval=16)
    assert gpu.device.type == "cuda" and spy.seen == {("cuda", torch.float32)}
    assert all(p.device.type == "cuda" for p in model.parameters())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-6 * float(cpu.abs().max()))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_on_cuda(dtype):
    model = TinyCNN(size=16).cuda()
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1)).cuda()
    ref = GLASAttribution(model).attribute(x, target=2, grid=8, sigma=1.0)
    spy = DeviceSpy(model.to(dtype))
    half = GLASAttribution(spy).attribute(x.to(dtype), target=2, grid=8, sigma=1.0)
    assert spy.seen == {("cuda", dtype)} and half.dtype == dtype
    assert torch.isfinite(half.float()).all()
    # the half map agrees with the float32 map to the input's precision
    corr = torch.corrcoef(torch.stack([half.float().flatten(), ref.flatten()]))[0, 1]
    assert corr > 0.98, corr
