"""Tiny deterministic PyTorch classifiers built from a seed (no downloads, no training).

Their logits depend on where things are in the input, so GLAS maps are not flat, and every
class keeps a probability well above 0, so every target can be explained.

>>> from glas_adapters.testing.torch_models import TinyCNN, images
>>> model = TinyCNN().eval()                 # (N, 3, 8, 8) -> (N, 5) logits
>>> x = images(n=2)                          # (2, 3, 8, 8) in [0, 1]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

#: Number of classes of the tiny models.
N_CLASSES = 5

__all__ = ["N_CLASSES", "TinyCNN", "TinyCNN3d", "CallLog", "RowByRow", "images"]


class TinyCNN(nn.Module):
    """Conv -> ReLU -> flatten -> linear on ``(N, channels, size, size)`` images.

    Parameters
    ----------
    channels, size : int
        Input channels and side.
    classes : int
        Number of logits.
    seed : int
        Seed of the weights.
    """

    def __init__(self, channels: int = 3, size: int = 8, classes: int = N_CLASSES, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(channels, 4, 3, padding=1)
        self.fc = nn.Linear(4 * size * size, classes)
        _init(self, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


class TinyCNN3d(nn.Module):
    """The same for volumes ``(N, channels, size, size, size)``."""

    def __init__(self, channels: int = 1, size: int = 6, classes: int = N_CLASSES, seed: int = 1) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv3d(channels, 2, 3, padding=1)
        self.fc = nn.Linear(2 * size ** 3, classes)
        _init(self, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def _init(model: nn.Module, gen: torch.Generator) -> None:
    """Seeded weights scaled so logits are O(1): every class keeps a probability well above 0."""
    with torch.no_grad():
        for p in model.parameters():
            scale = 1.5 / p[0].numel() ** 0.5 if p.ndim > 1 else 0.1
            p.copy_(torch.randn(p.shape, generator=gen) * scale)


class CallLog:
    """Wraps a model and records the batch size of every call and whether grad was enabled.

    Attributes
    ----------
    rows : list of int
        Rows of the first positional argument of every call.
    grad_enabled : list of bool
        ``torch.is_grad_enabled()`` during every call.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.rows: list[int] = []
        self.grad_enabled: list[bool] = []

    def __call__(self, *args: Any) -> Any:
        self.rows.append(int(args[0].shape[0]))
        self.grad_enabled.append(torch.is_grad_enabled())
        return self.model(*args)


class RowByRow(nn.Module):
    """Runs ``model`` on one row at a time, so each row's output is independent of its batch, bit for bit.

    CPU kernels may round a row differently in batches of different sizes (a few ulp); a test
    that checks packed sweeps bit for bit needs a model whose rows cannot notice their batch.
    """

    def __init__(self, model: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, *rest: Any) -> torch.Tensor:
        return torch.cat([self.model(x[i:i + 1], *(r[i:i + 1] for r in rest)) for i in range(int(x.shape[0]))])


def images(n: int = 3, channels: int = 3, size: int = 8, seed: int = 0) -> torch.Tensor:
    """``(n, channels, size, size)`` float32 images, uniform in [0, 1], from ``seed``."""
    return torch.rand((n, channels, size, size), generator=torch.Generator().manual_seed(seed))
