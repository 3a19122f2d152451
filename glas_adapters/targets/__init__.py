"""What to explain besides classes: a detector's boxes and a segmenter's regions.

A target object says which targets an image has (from the model's clean outputs) and turns
the model's outputs on a batch of perturbed images into ``(B, T)`` scores, written once for
every framework: :class:`Detections` (D-RISE's similarity) and :class:`SegmentRegions` (a
region's mean log-probability). Each adapter's ``explain_detections`` and ``explain_segments``
run them through the one orchestrator and return a :class:`DetectionExplanation` or a
:class:`SegmentExplanation`.
"""

from .boxes import box_iou
from .detections import (
    Detections,
    DetectionSet,
    DetectionTargets,
    NoDetectionError,
    drise_similarity,
    parse_detections,
)
from .explanations import DetectionExplanation, SegmentExplanation
from .segments import RegionTargets, SegmentRegions, region_log_scores

__all__ = ["DetectionExplanation", "DetectionSet", "DetectionTargets", "Detections", "NoDetectionError",
           "RegionTargets", "SegmentExplanation", "SegmentRegions", "box_iou", "drise_similarity", "parse_detections",
           "region_log_scores"]
