"""D-RISE (Petsiuk et al., "Black-box Explanation of Object Detectors via Saliency Maps", CVPR 2021),
written for the benchmarks.

Masks are RISE's (:class:`benchkit.rise.RiseMasks`: N binary s x s grids, cells kept with
probability p, upsampled bilinearly and cropped at a random shift). For a detection d of the
clean image, mask i weighs ``w_i = max_j sim(d, D(I * M_i)_j)`` over the detections j of the
masked image, and the saliency is ``S_d = sum_i w_i M_i / N``.

The similarity is the one torchvision-style detectors allow (boxes, one label and one score per
detection, no class-probability vector): ``sim(d, j) = IoU(box_d, box_j) * score_j`` when
``label_j == label_d`` and 0 otherwise. The paper's ``IoU * cos(P_d, P_j) * O_j`` reduces to it
when ``P`` is one-hot at the label with mass ``score``. All detections of an image are explained
from the same N forward passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .rise import RiseMasks


def box_iou(a: Any, b: Any) -> Any:
    """Pairwise IoU of xyxy boxes ``a (..., M, 4)`` and ``b (..., K, 4)``: ``(..., M, K)`` (torch tensors)."""
    x0 = a[..., :, None, 0].maximum(b[..., None, :, 0])
    y0 = a[..., :, None, 1].maximum(b[..., None, :, 1])
    x1 = a[..., :, None, 2].minimum(b[..., None, :, 2])
    y1 = a[..., :, None, 3].minimum(b[..., None, :, 3])
    inter = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)
    area_a = (a[..., 2] - a[..., 0]).clamp(min=0) * (a[..., 3] - a[..., 1]).clamp(min=0)
    area_b = (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)
    union = area_a[..., :, None] + area_b[..., None, :] - inter
    return inter / union.clamp(min=1e-12)


def similarity(boxes: Any, labels: Any, detections: Sequence[dict[str, Any]]) -> Any:
    """D-RISE's score of each target detection on each image: ``(B, T)`` torch tensor.

    ``max_j IoU(box_t, box_j) * score_j * [label_j == label_t]`` over the detections j of image
    b (0 when it has none). Differentiable in the detections' boxes and scores.

    Parameters
    ----------
    boxes : tensor (T, 4) xyxy, labels : tensor (T,) int
        The detections to explain (from the clean image).
    detections : list of B dicts with ``"boxes" (M_b, 4)``, ``"scores" (M_b,)``, ``"labels" (M_b,)``
    """
    import torch

    n_max = max((len(d["scores"]) for d in detections), default=0)
    t = boxes.shape[0]
    if n_max == 0:
        return boxes.new_zeros((len(detections), t))
    padded_boxes = boxes.new_zeros((len(detections), n_max, 4))
    padded_scores = boxes.new_zeros((len(detections), n_max))
    padded_labels = torch.full((len(detections), n_max), -1, dtype=torch.int64, device=boxes.device)
    rows_b, rows_s, rows_l = [], [], []
    for d in detections:
        m = len(d["scores"])
        pad = n_max - m
        rows_b.append(torch.cat([d["boxes"].to(boxes.dtype), padded_boxes[0, :pad]]))
        rows_s.append(torch.cat([d["scores"].to(boxes.dtype), padded_scores[0, :pad]]))
        rows_l.append(torch.cat([d["labels"].to(torch.int64), padded_labels[0, :pad]]))
    det_boxes, det_scores, det_labels = torch.stack(rows_b), torch.stack(rows_s), torch.stack(rows_l)
    iou = box_iou(boxes[None], det_boxes)  # (B, T, M)
    same = det_labels[:, None, :] == labels.to(torch.int64)[None, :, None]
    return (iou * torch.where(same, det_scores[:, None, :], torch.zeros_like(iou))).amax(-1)


def drise(detector: Callable[[Any], Sequence[dict[str, Any]]], x: Any, boxes: Any, labels: Any, *,
          n_masks: int = 1000, s: int = 16, p: float = 0.5, batch_size: int = 64, seed: int = 0) -> np.ndarray:
    """D-RISE saliency of the detections ``(boxes, labels)`` of one image ``x (C, H, W)``: numpy ``(T, H, W)``.

    Parameters
    ----------
    detector : callable ``(B, C, H, W) tensor -> list of B dicts`` (torchvision-style detections)
    x : torch tensor (C, H, W)
    boxes : (T, 4) xyxy pixels; labels : (T,) int
        The detections to explain (tensors or arrays).
    n_masks, s, p : N, the grid cells per side and the keep probability (paper: 5000, 16, 0.5).
    """
    import torch

    boxes = torch.as_tensor(boxes, dtype=x.dtype, device=x.device).reshape(-1, 4)
    labels = torch.as_tensor(labels, device=x.device).reshape(-1)
    h, w = x.shape[-2], x.shape[-1]
    masks = RiseMasks(n_masks, (h, w), s=s, p=p, seed=seed)
    total = np.zeros((boxes.shape[0], h * w))
    with torch.no_grad():
        for chunk in masks.chunks(batch_size):
            m = torch.from_numpy(chunk[:, None]).to(device=x.device, dtype=x.dtype)
            weights = similarity(boxes, labels, detector(x[None] * m)).double().cpu().numpy()  # (b, T)
            total += weights.T @ chunk.reshape(chunk.shape[0], -1).astype(np.float64)
    return (total / n_masks).reshape(-1, h, w)
