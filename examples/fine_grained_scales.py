"""Coarse to fine
==============

Coarse to fine (the paper's Figure 1): smaller sigmas move GLAS from the object to the part
that tells fine-grained classes apart.

Synthetic "birds": a large grey body with a small face patch; the face is red in class 0 and
yellow in class 1, so only the face separates the classes (as a red face separates the
Red-faced Cormorant from its cousins). A small CNN learns this in seconds; GLAS explains it at
sigma = 5, 3 and 1 grid cells, and the share of the map on the face is printed per scale.
Run: ``python examples/fine_grained_scales.py`` (writes fine_grained_scales.png to examples/output/).
"""

import numpy as np
import torch
from _output import figure_path
from torch import nn

from glas_adapters.torch import explain_multiscale
from glas_core import viz

SIZE, RADIUS, FACE = 40, 11, 5
SIGMAS = [5.0, 3.0, 1.0]


def make_birds(n, rng):
    """Images, labels, body masks and face masks (channels first)."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    x = rng.random((n, 3, SIZE, SIZE)).astype(np.float32) * 0.25
    y = rng.integers(0, 2, n)
    bodies, faces = np.zeros((n, SIZE, SIZE), bool), np.zeros((n, SIZE, SIZE), bool)
    for i in range(n):
        cy, cx = rng.integers(RADIUS + FACE, SIZE - RADIUS, 2)
        bodies[i] = (yy - cy) ** 2 + (xx - cx) ** 2 <= RADIUS ** 2
        x[i][:, bodies[i]] = 0.55                                   # grey body, same in both classes
        fy, fx = cy - RADIUS + 1, cx - FACE // 2                    # face on top of the body
        faces[i, fy:fy + FACE, fx:fx + FACE] = True
        x[i][:, faces[i]] = np.array([[1.0], [0.1], [0.1]] if y[i] == 0 else [[1.0], [0.9], [0.1]], np.float32)
    return torch.from_numpy(x), torch.from_numpy(y), bodies, faces


torch.manual_seed(0)
rng = np.random.default_rng(0)
model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(16 * 10 * 10, 2))
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
for _ in range(200):
    xb, yb, _, _ = make_birds(64, rng)
    loss = nn.functional.cross_entropy(model(xb), yb)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
model.eval()

x, y, bodies, faces = make_birds(6, np.random.default_rng(1))
print(f"accuracy on 6 new birds: {(model(x).argmax(1) == y).float().mean():.2f}")
print(f"the face is {faces[0].sum() / bodies[0].sum():.0%} of the body's area")

# one map per scale, coarse to fine, for each bird's own class
per_bird = [explain_multiscale(model, x[i], [int(y[i])], sigmas=SIGMAS, grid=10, return_result=True)
            for i in range(len(x))]

for s, sigma in enumerate(SIGMAS):
    on_face = np.mean([r[s].to_numpy()[0][faces[i]].sum() / r[s].to_numpy()[0].sum()
                       for i, r in enumerate(per_bird)])
    print(f"sigma = {sigma:g} grid cells: {on_face:.0%} of the map lies on the face")

strip = np.stack([r.to_numpy()[0] for r in per_bird[0]])      # (scales, H, W) of bird 0
fig = viz.multiscale_strip(x[0], strip, scale_labels=[f"sigma = {s:g}" for s in SIGMAS],
                           row_labels=[f"class {int(y[0])}"], title="coarse to fine")
path = figure_path("fine_grained_scales.png")
fig.savefig(path)
print(f"wrote {path}")
