"""The one training loop of the signal benchmarks: Adam and cross-entropy on shuffled mini-batches."""

from __future__ import annotations

from typing import Any

import numpy as np


def fit_classifier(torch: Any, model: Any, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int,
                   lr: float = 3e-3) -> Any:
    """Train ``model`` on ``(x, y)`` in place (the caller seeds torch first); return it in eval mode."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        order = torch.randperm(len(xs))
        for b in range(0, len(xs), batch_size):
            idx = order[b:b + batch_size]
            loss = torch.nn.functional.cross_entropy(model(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()
