"""The small CNN of the synthetic benchmarks, trained once on CPU and cached by config hash."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .data import CLASS_NAMES, Sample, make_dataset
from .env import setup_torch


def build_model(n_classes: int = len(CLASS_NAMES)) -> Any:
    """Small CNN: 4 conv layers (16x16 feature map for 64x64 input), global average pooling."""
    torch = setup_torch()
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, n_classes),
    )


GRADCAM_LAYER_INDEX = 9  # the last Conv2d of build_model


@dataclass(frozen=True)
class TrainConfig:
    """Training data and recipe; its hash names the cached weights."""

    size: int = 64
    n_train: int = 4000
    two_instance_share: float = 0.15
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    version: str = "v2"  # bump when the data generator or the model changes

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


QUICK_TRAIN = TrainConfig(n_train=400, epochs=2)


def default_cache_dir() -> Path:
    """``$GLAS_BENCH_CACHE``, else ``glas_bench`` in the system's temporary directory."""
    return Path(os.environ.get("GLAS_BENCH_CACHE", Path(tempfile.gettempdir()) / "glas_bench"))


def train_or_load(config: TrainConfig = TrainConfig(), cache_dir: Path | None = None, *,
                  verbose: bool = True) -> Any:
    """The trained CNN for ``config``: loaded from ``cache_dir/cnn_<hash>.pt`` or trained and saved."""
    torch = setup_torch()
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"cnn_{config.key()}.pt"
    model = build_model()
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    torch.manual_seed(config.seed)
    n_two = int(config.n_train * config.two_instance_share)
    data = make_dataset(config.n_train - n_two, config.seed + 1000, size=config.size)
    data += make_dataset(n_two, config.seed + 2000, size=config.size, n_instances=2)
    xs = torch.from_numpy(np.stack([d.image for d in data]))
    ys = torch.tensor([d.label for d in data])
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.epochs)
    t0 = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        perm = torch.randperm(len(xs))
        total = 0.0
        for i in range(0, len(xs), config.batch_size):
            idx = perm[i : i + config.batch_size]
            xb = xs[idx]
            flip = torch.rand(len(idx)) < 0.5  # horizontal flips: heads face both ways anyway
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            loss = torch.nn.functional.cross_entropy(model(xb), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        if verbose:
            print(f"  epoch {epoch + 1}/{config.epochs}: loss {total / len(xs):.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    model.eval()
    torch.save(model.state_dict(), path)
    return model


def accuracy(model: Any, samples: list[Sample]) -> float:
    """Top-1 accuracy of ``model`` on ``samples``."""
    torch = setup_torch()
    with torch.no_grad():
        logits = model(torch.from_numpy(np.stack([s.image for s in samples])))
    return float((logits.argmax(1).numpy() == np.array([s.label for s in samples])).mean())
