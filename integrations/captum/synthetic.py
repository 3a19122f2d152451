"""A synthetic localisation task and a tiny CNN trained on it in seconds on one CPU thread.

Each 32x32 RGB image holds two bright 7x7 shapes at random, non-overlapping positions on
dim noise: the CLASS shape (a filled square for class 0, a plus sign for class 1) and a
DISTRACTOR (a hollow square, the same in both classes). The class is decided by the class
shape alone, so a faithful map must point at it and not at the distractor, which is just as
bright. The class shape's 7x7 box is the ground truth of the pointing game.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

SIZE = 32
SHAPE = 7
N_CLASSES = 2


def _stamp(kind: str) -> np.ndarray:
    s = np.zeros((SHAPE, SHAPE), dtype=np.float32)
    if kind == "square":
        s[:] = 1.0
    elif kind == "plus":
        s[SHAPE // 2 - 1:SHAPE // 2 + 2, :] = 1.0
        s[:, SHAPE // 2 - 1:SHAPE // 2 + 2] = 1.0
    else:  # hollow square: the distractor
        s[[0, 1, -2, -1], :] = 1.0
        s[:, [0, 1, -2, -1]] = 1.0
    return s


_STAMPS = {0: _stamp("square"), 1: _stamp("plus"), "distractor": _stamp("hollow")}


def make_dataset(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images ``(n, 3, 32, 32)`` float32, labels ``(n,)`` int64, class-shape boxes ``(n, 32, 32)`` bool."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.25, size=(n, 3, SIZE, SIZE)).astype(np.float32)
    y = rng.integers(0, N_CLASSES, size=n)
    boxes = np.zeros((n, SIZE, SIZE), dtype=bool)
    for i in range(n):
        while True:  # two non-overlapping 7x7 positions (1 px apart at least)
            (r0, c0), (r1, c1) = rng.integers(0, SIZE - SHAPE + 1, size=(2, 2))
            if abs(r0 - r1) > SHAPE or abs(c0 - c1) > SHAPE:
                break
        color = rng.uniform(0.7, 1.0, size=(3, 1, 1)).astype(np.float32)
        for (r, c), stamp in (((r0, c0), _STAMPS[int(y[i])]), ((r1, c1), _STAMPS["distractor"])):
            patch = x[i, :, r:r + SHAPE, c:c + SHAPE]
            x[i, :, r:r + SHAPE, c:c + SHAPE] = np.where(stamp > 0, color * stamp, patch)
        boxes[i, r0:r0 + SHAPE, c0:c0 + SHAPE] = True
    return torch.from_numpy(x), torch.from_numpy(y).long(), torch.from_numpy(boxes)


class TinyCNN(nn.Module):
    """Three 3x3 conv layers, global max pooling, a linear head: ~12k parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        )
        self.head = nn.Linear(32, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).amax(dim=(2, 3)))


@functools.cache
def train_tiny_cnn(seed: int = 0, n_train: int = 2048, epochs: int = 3) -> TinyCNN:
    """Train on a fresh synthetic set (5-10 s on one thread); returns the model in eval mode.

    Cached per process, so the Captum and Quantus suites share one model in one pytest run.
    Callers must not modify the returned model.
    """
    torch.manual_seed(seed)
    x, y, _ = make_dataset(n_train, seed=seed + 1000)
    model = TinyCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        order = torch.randperm(n_train)
        for start in range(0, n_train, 64):
            idx = order[start:start + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())
