"""Time series
===========

GLAS along time: ``glas_adapters.torch.explain`` on a batch of series ``(N, C, T)``.

Synthetic series of noise each hold one class motif (a sine burst, a sawtooth or a square
wave, 16 samples) at a random place, plus two bumps that are the same for every class. A small
1-D CNN learns the classes in seconds. GLAS explains a batch of held-out series for their own
class with k = 16 search points along time (one grid cell is T / 16 = 8 samples) and sigma =
1 cell, half the motif's length; the map's peak should fall on the motif, not on the bumps.
Run: ``python examples/time_series.py`` (writes time_series.png to examples/output/).
"""

import numpy as np
import torch
from _output import figure_path
from torch import nn

from glas_adapters.torch import explain
from glas_core import viz

torch.set_num_threads(1)
LENGTH, MOTIF, GRID = 128, 16, 16
NAMES = ["sine burst", "sawtooth", "square wave"]


def motif(label):
    """The class motif, amplitude 1."""
    t = np.arange(MOTIF)
    if label == 0:
        return np.sin(2 * np.pi * t / 8)
    if label == 1:
        return 2 * (t % 8) / 7 - 1
    return np.where((t // 4) % 2 == 0, 1.0, -1.0)


def make_series(n, rng):
    """Series (n, 1, T), labels and each motif's first sample; two class-neutral bumps per series."""
    x = rng.normal(scale=0.25, size=(n, 1, LENGTH))
    y = rng.integers(0, len(NAMES), n)
    start = rng.integers(0, LENGTH - MOTIF + 1, n)
    t = np.arange(LENGTH)
    for i in range(n):
        x[i, 0, start[i]:start[i] + MOTIF] += motif(int(y[i]))
        for _ in range(2):  # bumps of either sign, away from the motif
            centre = rng.integers(0, LENGTH)
            while abs(centre - (start[i] + MOTIF / 2)) <= MOTIF:
                centre = rng.integers(0, LENGTH)
            x[i, 0] += rng.choice([-1.2, 1.2]) * np.exp(-((t - centre) ** 2) / (2 * 3.0 ** 2))
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y), start


torch.manual_seed(0)
rng = np.random.default_rng(0)
model = nn.Sequential(nn.Conv1d(1, 16, 7, padding=3), nn.ReLU(), nn.Conv1d(16, 32, 5, padding=2), nn.ReLU(),
                      nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(32, len(NAMES)))
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
for _ in range(150):
    xb, yb, _ = make_series(64, rng)
    loss = nn.functional.cross_entropy(model(xb), yb)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
model.eval()

x, y, start = make_series(12, np.random.default_rng(1))
with torch.no_grad():
    print(f"accuracy on 12 new series: {(model(x).argmax(1) == y).float().mean():.2f}")

# one map per series, for its own class, from one packed sweep of the batch: targets (N, 1) give
# maps (N, 1, T) (a flat list of N classes means the same, but warns for this release)
maps = explain(model, x, y[:, None], spatial_dims=1, grid=GRID, sigma=1.0)[:, 0].numpy()
peaks = maps.argmax(axis=1)
on_motif = (peaks >= start) & (peaks < start + MOTIF)
print(f"the map's peak lies on the motif in {on_motif.sum()} of {len(x)} series "
      f"(the motif is {MOTIF / LENGTH:.0%} of a series)")

for j in np.flatnonzero(~on_motif):
    gap = max(start[j] - peaks[j], peaks[j] - (start[j] + MOTIF - 1))
    print(f"series {j}: motif at samples {start[j]}-{start[j] + MOTIF - 1}, peak at {peaks[j]} ({gap} samples off)")

i = 0  # the first series, whichever it is (on this seed its peak lies 3 samples before its motif)
fig = viz.series(x[i], maps[i], title=f"{NAMES[int(y[i])]} at samples {start[i]}-{start[i] + MOTIF - 1}, "
                 f"peak at {peaks[i]}")
path = figure_path("time_series.png")
fig.savefig(path)
print(f"wrote {path}")
