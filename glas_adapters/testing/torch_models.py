"""Tiny deterministic models for the torch adapter tests (built from a seed, no downloads)."""

from __future__ import annotations

import torch
from torch import nn

N_CLASSES = 5


class TinyCNN(nn.Module):
    """Conv -> ReLU -> flatten -> linear: position-dependent, so GLAS maps are not flat."""

    def __init__(self, channels: int = 3, size: int = 8, classes: int = N_CLASSES, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(channels, 4, 3, padding=1)
        self.fc = nn.Linear(4 * size * size, classes)
        _init(self, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def _init(model: nn.Module, gen: torch.Generator) -> None:
    """Seeded weights scaled so logits are O(1): every class keeps a probability well above 0."""
    with torch.no_grad():
        for p in model.parameters():
            scale = 1.5 / p[0].numel() ** 0.5 if p.ndim > 1 else 0.1
            p.copy_(torch.randn(p.shape, generator=gen) * scale)


class TinyCNN3d(nn.Module):
    """The same for volumes (N, C, D, H, W)."""

    def __init__(self, channels: int = 1, size: int = 6, classes: int = N_CLASSES, seed: int = 1) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv3d(channels, 2, 3, padding=1)
        self.fc = nn.Linear(2 * size ** 3, classes)
        _init(self, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


class CallLog:
    """Wraps a model and records the batch size of every call and whether grad was enabled."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.rows: list[int] = []
        self.grad_enabled: list[bool] = []

    def __call__(self, *args):
        self.rows.append(int(args[0].shape[0]))
        self.grad_enabled.append(torch.is_grad_enabled())
        return self.model(*args)


def images(n: int = 3, channels: int = 3, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand((n, channels, size, size), generator=torch.Generator().manual_seed(seed))
