"""A tiny detector and a tiny segmenter for the scenes of :mod:`benchkit.scenes`, trained on CPU in seconds.

The detector is CenterNet-like (Zhou et al. 2019, "Objects as Points"): one dense grid of cells
at stride 4 predicts an objectness heatmap, class logits and a box (centre offset, log size)
per cell; its ``forward`` decodes them itself (3 x 3 peak picking, then class-wise NMS written
here in torch: torchvision is not a dependency) and returns torchvision-style detections, one
dict ``{"boxes": (M, 4) xyxy pixels, "scores": (M,), "labels": (M,) int64}`` per image. The
scores stay differentiable (gradient peers back-propagate through them). The segmenter is a
fully convolutional network returning ``(N, 1 + n_classes, H, W)`` logits (class 0 the background).

Both share one backbone design with a receptive field of 53 px at stride 4, wide enough to see
an object's marker from any of its pixels. Trained weights are cached by config hash (as
:mod:`benchkit.models`).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .drise import box_iou
from .env import setup_torch
from .models import default_cache_dir
from .scenes import CLASS_NAMES, Scene, make_scenes

STRIDE = 4


def _backbone(nn: Any, width: int) -> Any:
    """Conv stack to stride 4 with two dilated layers (receptive field 53 px)."""
    w1, w2, w3 = width // 2, width * 3 // 4, width
    body = nn.Sequential(
        nn.Conv2d(3, w1, 3, padding=1), nn.ReLU(),
        nn.Conv2d(w1, w2, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(w2, w2, 3, padding=1), nn.ReLU(),
        nn.Conv2d(w2, w3, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(w3, w3, 3, padding=1), nn.ReLU(),
        nn.Conv2d(w3, w3, 3, padding=2, dilation=2), nn.ReLU(),
        nn.Conv2d(w3, w3, 3, padding=2, dilation=2), nn.ReLU(),
    )
    for layer in body:
        if isinstance(layer, nn.Conv2d):  # He initialisation: torch's default fades out over seven layers
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    return body


def _with_context(features: Any) -> Any:
    """Features beside their 7 x 7 max-pool (28 px at stride 4): a marker's colour reaches every cell of its object."""
    torch = setup_torch()
    return torch.cat([features, torch.nn.functional.max_pool2d(features, 7, 1, 3)], 1)


def batched_nms_mask(boxes: Any, scores: Any, labels: Any, valid: Any, iou_threshold: float) -> Any:
    """Greedy class-wise NMS on a padded batch: which of ``(B, K)`` candidates survive.

    Candidates must come sorted by decreasing score along K. Candidate j is suppressed by an
    earlier surviving candidate i of the same label with IoU > ``iou_threshold`` (torchvision's
    ``batched_nms`` rule), done for all images at once in K steps.
    """
    import torch

    iou = box_iou(boxes, boxes)
    same = labels[:, :, None] == labels[:, None, :]
    clash = (iou > iou_threshold) & same
    keep = valid.clone()
    k = boxes.shape[1]
    later = torch.ones(k, k, dtype=torch.bool, device=boxes.device).triu(1)
    for i in range(k):
        suppress = clash[:, i] & later[i] & keep[:, i : i + 1]
        keep = keep & ~suppress
    del scores
    return keep


def _make_detector_class() -> Any:
    torch = setup_torch()
    nn = torch.nn

    class TinyDetector(nn.Module):
        """CenterNet-like detector; ``forward(images) -> list of {"boxes", "scores", "labels"}``."""

        def __init__(self, n_classes: int = len(CLASS_NAMES), width: int = 32, *, score_threshold: float = 0.02,
                     top_k: int = 20, iou_threshold: float = 0.5) -> None:
            super().__init__()
            self.n_classes = n_classes
            self.body = _backbone(nn, width)
            self.head = nn.Conv2d(2 * width, 1 + n_classes + 4, 1)
            with torch.no_grad():
                self.head.bias[0] = -2.19  # objectness prior 0.1 (CenterNet's initialisation)
            self.score_threshold, self.top_k, self.iou_threshold = score_threshold, top_k, iou_threshold

        def raw(self, x: Any) -> tuple[Any, Any, Any]:
            """Per cell: objectness logit (N, 1, h, w), class logits (N, C, h, w), box (N, 4, h, w)."""
            out = self.head(_with_context(self.body(x)))
            return out[:, :1], out[:, 1 : 1 + self.n_classes], out[:, 1 + self.n_classes :]

        def forward(self, x: Any) -> list[dict[str, Any]]:
            heat, cls, box = self.raw(x)
            n, _, h, w = heat.shape
            prob = cls.softmax(1)
            best, label = prob.max(1)
            score = torch.sigmoid(heat[:, 0]) * best  # (N, h, w)
            peak = score == nn.functional.max_pool2d(score[:, None], 3, 1, 1)[:, 0]
            ranked = torch.where(peak, score, torch.zeros_like(score)).reshape(n, -1)
            k = min(self.top_k, h * w)
            top, idx = ranked.topk(k, dim=1)  # sorted, as the NMS needs
            score_k = score.reshape(n, -1).gather(1, idx)  # the same values, with their gradient
            label_k = label.reshape(n, -1).gather(1, idx)
            cy = (idx // w).to(x.dtype) * STRIDE + (STRIDE - 1) / 2
            cx = (idx % w).to(x.dtype) * STRIDE + (STRIDE - 1) / 2
            b = box.reshape(n, 4, -1).gather(2, idx[:, None].expand(n, 4, k))
            bx, by = cx + STRIDE * b[:, 0], cy + STRIDE * b[:, 1]
            bw, bh = 16.0 * b[:, 2].clamp(max=4).exp(), 16.0 * b[:, 3].clamp(max=4).exp()
            boxes = torch.stack([bx - bw / 2 + 0.5, by - bh / 2 + 0.5, bx + bw / 2 + 0.5, by + bh / 2 + 0.5], -1)
            limit = torch.tensor([x.shape[-1], x.shape[-2]] * 2, dtype=x.dtype, device=x.device)
            boxes = boxes.clamp(min=0).minimum(limit)  # clipped to the image, as torchvision's detectors do
            keep = batched_nms_mask(boxes.detach(), top, label_k, top > self.score_threshold, self.iou_threshold)
            return [{"boxes": boxes[i][keep[i]], "scores": score_k[i][keep[i]], "labels": label_k[i][keep[i]]}
                    for i in range(n)]

    return TinyDetector


def _make_segmenter_class() -> Any:
    torch = setup_torch()
    nn = torch.nn

    class TinySegmenter(nn.Module):
        """FCN: ``forward(images) -> (N, 1 + n_classes, H, W)`` logits, class 0 the background."""

        def __init__(self, n_classes: int = len(CLASS_NAMES), width: int = 32) -> None:
            super().__init__()
            self.body = _backbone(nn, width)
            self.head = nn.Conv2d(2 * width, 1 + n_classes, 1)

        def forward(self, x: Any) -> Any:
            return nn.functional.interpolate(self.head(_with_context(self.body(x))), size=x.shape[-2:], mode="bilinear",
                                             align_corners=False)

    return TinySegmenter


def build_detector(**kw: Any) -> Any:
    return _make_detector_class()(**kw)


def build_segmenter(**kw: Any) -> Any:
    return _make_segmenter_class()(**kw)


@dataclass(frozen=True)
class DenseTrainConfig:
    """Training data and recipe of both models; its hash names the cached weights."""

    size: int = 64
    n_train: int = 1000
    epochs: int = 6
    batch_size: int = 32
    lr: float = 4e-3
    width: int = 24
    seed: int = 0
    version: str = "v2"

    def key(self, what: str) -> str:
        text = json.dumps({**asdict(self), "what": what}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


QUICK_DENSE_TRAIN = DenseTrainConfig(n_train=384, epochs=6, width=16)


def training_scenes(config: DenseTrainConfig) -> list[Scene]:
    """Training scenes: three quarters mixed, one quarter same-class pairs (seeds unused elsewhere)."""
    n_pair = config.n_train // 4
    return (make_scenes(config.n_train - n_pair, config.seed + 5000, size=config.size)
            + make_scenes(n_pair, config.seed + 6000, size=config.size, kind="pair"))


def detection_targets(scenes: list[Scene], size: int) -> tuple[Any, Any, Any, Any]:
    """Training targets per cell: heatmap (N, h, w), class (N, h, w, -100 = ignore), box (N, 4, h, w), box weight."""
    cells = size // STRIDE
    centres = np.arange(cells) * STRIDE + (STRIDE - 1) / 2
    heat = np.zeros((len(scenes), cells, cells), np.float32)
    cls = np.full((len(scenes), cells, cells), -100, np.int64)
    box = np.zeros((len(scenes), 4, cells, cells), np.float32)
    weight = np.zeros((len(scenes), cells, cells), np.float32)
    for i, sc in enumerate(scenes):
        for (x0, y0, x1, y1), label in zip(sc.boxes, sc.labels):
            cx, cy = (x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5  # pixel index coordinates of the centre
            gy, gx = (cy - (STRIDE - 1) / 2) / STRIDE, (cx - (STRIDE - 1) / 2) / STRIDE
            d2 = (np.arange(cells)[:, None] - gy) ** 2 + (np.arange(cells)[None, :] - gx) ** 2
            heat[i] = np.maximum(heat[i], np.exp(-d2 / (2 * 0.8**2)))
            py, px = int(round(gy)), int(round(gx))
            heat[i, py, px] = 1.0
            near = d2 <= 1.5**2
            cls[i][near] = label
            weight[i][near] = 1.0
            box[i, 0][near] = np.broadcast_to((cx - centres[None, :]) / STRIDE, (cells, cells))[near]
            box[i, 1][near] = np.broadcast_to((cy - centres[:, None]) / STRIDE, (cells, cells))[near]
            box[i, 2][near] = np.log((x1 - x0) / 16.0)
            box[i, 3][near] = np.log((y1 - y0) / 16.0)
    return heat, cls, box, weight


def _focal_loss(logit: Any, target: Any) -> Any:
    """CenterNet's penalty-reduced focal loss (Zhou et al. 2019, Eq. 1), alpha 2, beta 4."""
    torch = setup_torch()
    p = torch.sigmoid(logit).clamp(1e-4, 1 - 1e-4)
    pos = target >= 1.0
    pos_loss = -((1 - p) ** 2 * p.log())[pos].sum()
    neg_loss = -(((1 - target) ** 4) * p**2 * (1 - p).log())[~pos].sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1)


def _train(model: Any, xs: Any, loss_fn: Any, config: DenseTrainConfig, what: str, verbose: bool) -> float:
    torch = setup_torch()
    torch.manual_seed(config.seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps = config.epochs * -(-len(xs) // config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=steps)
    t0 = time.perf_counter()
    model.train()
    for epoch in range(config.epochs):
        perm = torch.randperm(len(xs))
        total = 0.0
        for i in range(0, len(xs), config.batch_size):
            idx = perm[i : i + config.batch_size]
            loss = loss_fn(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if verbose:
            print(f"  {what} epoch {epoch + 1}/{config.epochs}: loss {total / len(xs):.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    model.eval()
    return time.perf_counter() - t0


def train_or_load(config: DenseTrainConfig = DenseTrainConfig(), cache_dir: Path | None = None, *,
                  verbose: bool = True) -> tuple[Any, Any, dict[str, float]]:
    """The trained detector and segmenter for ``config`` (cached), and the training seconds of each (0 if loaded)."""
    torch = setup_torch()
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)  # the initial weights too: the same config gives the same models in any process
    det, seg = build_detector(width=config.width), build_segmenter(width=config.width)
    paths = {"detector": cache / f"detector_{config.key('detector')}.pt",
             "segmenter": cache / f"segmenter_{config.key('segmenter')}.pt"}
    seconds = {"detector": 0.0, "segmenter": 0.0}
    scenes = None
    for what, model in (("detector", det), ("segmenter", seg)):
        if paths[what].exists():
            model.load_state_dict(torch.load(paths[what], weights_only=True))
            model.eval()
            continue
        scenes = scenes if scenes is not None else training_scenes(config)
        xs = torch.from_numpy(np.stack([s.image for s in scenes]))
        if what == "detector":
            heat, cls, box, weight = (torch.from_numpy(a) for a in detection_targets(scenes, config.size))

            def loss_fn(idx, model=model, xs=xs, heat=heat, cls=cls, box=box, weight=weight):
                h, c, b = model.raw(xs[idx])
                w = weight[idx]
                box_loss = ((b - box[idx]).abs().sum(1) * w).sum() / w.sum().clamp(min=1)
                cls_loss = torch.nn.functional.cross_entropy(c, cls[idx], ignore_index=-100)
                return _focal_loss(h[:, 0], heat[idx]) + cls_loss + box_loss
        else:
            target = torch.from_numpy(np.stack([s.segmentation for s in scenes]))

            def loss_fn(idx, model=model, xs=xs, target=target):
                return torch.nn.functional.cross_entropy(model(xs[idx]), target[idx])

        seconds[what] = _train(model, xs, loss_fn, config, what, verbose)
        torch.save(model.state_dict(), paths[what])
    return det, seg, seconds


def average_precision(detections: list[dict[str, np.ndarray]], scenes: list[Scene], label: int,
                      iou_threshold: float = 0.5) -> float:
    """VOC all-point AP of one class at IoU ``iou_threshold`` (each ground-truth box matched once)."""
    found = []  # (score, is true positive)
    n_gt = 0
    for det, sc in zip(detections, scenes):
        gt = sc.boxes[sc.labels == label].astype(np.float64)
        n_gt += len(gt)
        used = np.zeros(len(gt), bool)
        mine = det["labels"] == label
        order = np.argsort(-det["scores"][mine])
        for b, s in zip(det["boxes"][mine][order], det["scores"][mine][order]):
            ious = np_box_iou(b[None], gt)[0] if len(gt) else np.zeros(0)
            j = int(np.argmax(ious)) if len(ious) else -1
            hit = j >= 0 and ious[j] >= iou_threshold and not used[j]
            if hit:
                used[j] = True
            found.append((float(s), hit))
    if n_gt == 0:
        return float("nan")
    found.sort(key=lambda t: -t[0])
    tp = np.cumsum([h for _, h in found]) if found else np.zeros(0)
    fp = np.cumsum([not h for _, h in found]) if found else np.zeros(0)
    recall = np.concatenate([[0.0], tp / n_gt, [tp[-1] / n_gt if len(tp) else 0.0]])
    precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum((recall[1:] - recall[:-1]) * precision[1:]))


def np_box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes (NumPy): ``(M, 4), (K, 4) -> (M, K)``."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def detect_numpy(detector: Any, scenes: list[Scene], batch_size: int = 64) -> list[dict[str, np.ndarray]]:
    """The detector's detections of each scene, as NumPy arrays."""
    torch = setup_torch()
    out = []
    with torch.no_grad():
        for i in range(0, len(scenes), batch_size):
            batch = torch.from_numpy(np.stack([s.image for s in scenes[i : i + batch_size]]))
            out += [{k: v.numpy() for k, v in d.items()} for d in detector(batch)]
    return out


def detection_map(detector: Any, scenes: list[Scene]) -> float:
    """mAP at IoU 0.5 over the classes (VOC all-point AP)."""
    dets = detect_numpy(detector, scenes)
    aps = [average_precision(dets, scenes, c) for c in range(len(CLASS_NAMES))]
    return float(np.nanmean(aps))


def segmentation_scores(segmenter: Any, scenes: list[Scene]) -> tuple[float, float]:
    """Pixel accuracy and mean IoU over the classes present (background included)."""
    torch = setup_torch()
    with torch.no_grad():
        pred = segmenter(torch.from_numpy(np.stack([s.image for s in scenes]))).argmax(1).numpy()
    gt = np.stack([s.segmentation for s in scenes])
    ious = []
    for c in range(len(CLASS_NAMES) + 1):
        union = ((pred == c) | (gt == c)).sum()
        if union:
            ious.append(((pred == c) & (gt == c)).sum() / union)
    return float((pred == gt).mean()), float(np.mean(ious))
