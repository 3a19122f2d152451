"""Detections, box by box
=======================

One map per detection, all from one sweep: ``glas_adapters.torch.explain_detections``.

A synthetic scene holds two grey objects, each with a small coloured tag: a red tag marks a
"red-tagged" object, a blue one a "blue-tagged" object. A tiny hand-built detector (no
training) proposes two anchor boxes and scores each by the strongest tag colour inside it, in
torchvision's output form (a list of dicts with ``boxes``, ``scores``, ``labels``). GLAS
explains both detections at once, each scored on the perturbed images by D-RISE's similarity
(IoU times the probability of the detection's class), and each map lights its own tag, not the
object's body nor the other object. The share of each map on each tag is printed.
Run: ``python examples/detection_boxes.py`` (writes detection_boxes.png to examples/output/).
"""

import numpy as np
import torch
from _output import figure_path
from torch import nn

from glas_adapters.torch import explain_detections
from glas_core import viz

torch.set_num_threads(1)
SIZE, TAG = 48, 5
NAMES = ["red-tagged", "blue-tagged"]
#: the detector's anchors, x1, y1, x2, y2 in pixels: one around each object
ANCHORS = torch.tensor([[4.0, 6.0, 22.0, 26.0], [26.0, 22.0, 44.0, 42.0]])
#: the tag of each object (row, column of its top-left pixel), off the box's centre
TAGS = {"red-tagged": (8, 15), "blue-tagged": (35, 28)}


class TagDetector(nn.Module):
    """Two anchors, each labelled by the strongest tag colour inside it (red = 0, blue = 1).

    A tag's evidence at a pixel is how much its colour channel exceeds the other two (a
    3 x 3 average, so a lone noisy pixel is not a tag); an anchor's score for a class is a
    sigmoid of the largest evidence of that class inside the box.
    """

    def __init__(self, anchors: torch.Tensor, gain: float = 12.0, threshold: float = 0.3):
        super().__init__()
        self.register_buffer("anchors", anchors)
        self.gain, self.threshold = gain, threshold

    def forward(self, images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        r, g, b = images[:, 0], images[:, 1], images[:, 2]
        evidence = torch.stack([r - (g + b) / 2, b - (r + g) / 2], dim=1)      # (B, 2, H, W)
        evidence = nn.functional.avg_pool2d(evidence, 3, stride=1, padding=1)
        out = []
        for ev in evidence:
            best = torch.stack([ev[:, int(y1):int(y2), int(x1):int(x2)].amax(dim=(1, 2))
                                for x1, y1, x2, y2 in self.anchors.tolist()])  # (anchors, classes)
            probs = torch.sigmoid(self.gain * (best - self.threshold))
            scores, labels = probs.max(dim=1)
            out.append({"boxes": self.anchors.clone(), "scores": scores, "labels": labels})
        return out


def make_scene(rng: np.random.Generator) -> np.ndarray:
    """A noisy (3, H, W) scene: two grey objects filling the anchors, a red and a blue tag."""
    x = rng.random((3, SIZE, SIZE)).astype(np.float32) * 0.2
    for x1, y1, x2, y2 in ANCHORS.int().tolist():
        x[:, y1 + 2:y2 - 2, x1 + 2:x2 - 2] = 0.55
    for (r, c), rgb in zip(TAGS.values(), [(1.0, 0.15, 0.15), (0.15, 0.25, 1.0)]):
        x[:, r:r + TAG, c:c + TAG] = np.asarray(rgb, np.float32)[:, None, None]
    return x


detector = TagDetector(ANCHORS).eval()
image = torch.from_numpy(make_scene(np.random.default_rng(0)))
with torch.no_grad():
    found = detector(image[None])[0]
print("detections:", [(NAMES[int(c)], f"{float(s):.2f}") for c, s in zip(found["labels"], found["scores"])])

exp = explain_detections(detector, image, min_score=0.5, grid=12, sigma=1.0)
print(f"{len(exp.boxes)} detections explained with {exp.passes} forward rows")
tag_masks = {}
for name, (r, c) in TAGS.items():
    tag_masks[name] = np.zeros((SIZE, SIZE), bool)
    tag_masks[name][r:r + TAG, c:c + TAG] = True
maps = exp.maps.numpy()
for t, label in enumerate(exp.labels):
    shares = ", ".join(f"{maps[t][m].sum() / maps[t].sum():.0%} on the {n} tag" for n, m in tag_masks.items())
    print(f"map of the {NAMES[int(label)]} detection: {shares} (each tag is {TAG * TAG / SIZE ** 2:.1%} of the image)")

fig = viz.detection_boxes(image, exp.boxes, exp.maps, names=[NAMES[int(c)] for c in exp.labels], scores=exp.scores,
                          title="each detection's map lights its own tag")
path = figure_path("detection_boxes.png")
fig.savefig(path)
print(f"wrote {path}")
