"""Every method on every image: the maps, the wall-clock time of each call and its forward rows."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .env import setup_torch
from .methods import Method


class CountingModel:
    """Wraps a torch model; counts the rows (images) it scores."""

    def __init__(self, model: Any) -> None:
        import torch

        class _Counted(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner
                self.rows = 0

            def forward(self, x):
                self.rows += int(x.shape[0])
                return self.inner(x)

        self.module = _Counted(model).eval()

    @property
    def rows(self) -> int:
        return self.module.rows

    def reset(self) -> None:
        self.module.rows = 0


@dataclass
class MethodRun:
    """One method's results, image by image."""

    maps: list[np.ndarray] = field(default_factory=list)
    forwards: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def run_methods(methods: list[Method], model: Any, images: Sequence[Any], targets: Sequence[int], *,
                warmup: bool = True, verbose: bool = True) -> dict[str, MethodRun]:
    """Run every method on every image, timing each call and counting forward rows.

    Images are interleaved method by method per image, so a slow patch of the shared machine
    hits every method alike.
    """
    torch = setup_torch()
    counted = CountingModel(model)
    runs = {m.name: MethodRun() for m in methods}
    if warmup and images:
        for m in methods:
            m.run(counted.module, torch.as_tensor(images[0]), targets[0])
    for i, (img, t) in enumerate(zip(images, targets)):
        x = torch.as_tensor(img)
        for m in methods:
            counted.reset()
            t0 = time.perf_counter()
            s = m.run(counted.module, x, int(t))
            runs[m.name].seconds.append(time.perf_counter() - t0)
            runs[m.name].forwards.append(counted.rows)
            runs[m.name].maps.append(np.asarray(s, dtype=np.float64))
        if verbose and (i + 1) % 10 == 0:
            print(f"  {i + 1}/{len(images)} images", file=sys.stderr)
    return runs
