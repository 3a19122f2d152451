"""Captum quickstart
=================

GLAS as a ``captum.attr`` attribution, on a CNN trained here in seconds.

The task: 32 x 32 noisy images hold one small square, red (class 0) or blue (class 1), at a
random place. GLAS must point at the square. Run: ``python examples/captum_quickstart.py``
(writes captum_quickstart.png to examples/output/). Needs PyTorch, Captum and matplotlib:
``pip install "glas-xai[torch,viz]"``.
"""

import sys

import numpy as np

try:
    import matplotlib  # noqa: F401 (the figure)
    import torch
    from torch import nn

    from glas_adapters.torch import GLASAttribution
except ImportError as exc:
    sys.exit(f"captum_quickstart.py needs PyTorch, Captum and matplotlib ({exc.name or exc} is missing): "
             f'pip install "glas-xai[torch,viz]"')

from _output import figure_path  # noqa: E402

from glas_core import viz  # noqa: E402

SIZE, SIDE = 32, 6


def make_images(n, rng):
    """Noisy images with one red or blue square; returns images, labels and square corners."""
    x = rng.random((n, 3, SIZE, SIZE)).astype(np.float32) * 0.3
    y = rng.integers(0, 2, n)
    corners = rng.integers(0, SIZE - SIDE, (n, 2))
    for i, ((r, c), label) in enumerate(zip(corners, y)):
        x[i, :, r:r + SIDE, c:c + SIDE] = 0.0
        x[i, 0 if label == 0 else 2, r:r + SIDE, c:c + SIDE] = 1.0
    return torch.from_numpy(x), torch.from_numpy(y), corners


torch.manual_seed(0)
rng = np.random.default_rng(0)
model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(16 * 8 * 8, 2))
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
for _ in range(150):                                      # a few seconds on one CPU core
    x, y, _ = make_images(64, rng)
    loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
model.eval()

x, y, corners = make_images(8, np.random.default_rng(1))
print(f"accuracy on 8 new images: {(model(x).argmax(1) == y).float().mean():.2f}")

# --- GLAS, exactly like any Captum attribution -------------------------------------------
attribution = GLASAttribution(model)
maps = attribution.attribute(x, target=y, grid=8, sigma=1.0)   # same shape as x
# ------------------------------------------------------------------------------------------

hits = 0
for i in range(len(x)):
    r, c = np.unravel_index(int(maps[i, 0].argmax()), (SIZE, SIZE))
    hits += int(corners[i, 0] <= r < corners[i, 0] + SIDE and corners[i, 1] <= c < corners[i, 1] + SIDE)
print(f"pointing game: {hits}/{len(x)} maps peak on the square")
path = figure_path("captum_quickstart.png")
viz.overlay(x[0], maps[0, 0], title=f"class {int(y[0])}: GLAS").savefig(path)
print(f"wrote {path}")
