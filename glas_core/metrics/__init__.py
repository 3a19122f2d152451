"""Evaluation metrics for saliency maps: backend-neutral, NumPy out.

Every function accepts any array glas_core can read (NumPy, torch, CuPy, JAX, ...; converted
with :func:`glas_core.to_numpy`) and returns NumPy values or plain Python numbers. Model-based
metrics (deletion, insertion, score drop) take the model as a callable
``model(batch: numpy (B, *x.shape)) -> (B, n_classes)`` probabilities, so they stay free of
any framework. Maps are min-max normalised with :func:`glas_core.minmax_normalize`: a flat
map is all zeros, so it points nowhere and overlaps nothing.

References
----------
- Pointing game: Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016,
  with the GLAS paper's rule (Section 4, "Evaluation on target localization").
- Deletion / insertion: Petsiuk, Das and Saenko, "RISE", BMVC 2018, Section 4.1.
- Relevance mass: Arras, Osman and Samek, "CLEVR-XAI", Information Fusion 2022.
- Instances separated: the recursive benchmark's rule (docs/benchmarks.md, section 3): the
  centroids of the largest regions above 0.5 must lie in different instances.
"""

from .instances import instances_separated, instances_touched, separated_regions
from .overlap import DEFAULT_IOU_THRESHOLDS, iou_at_thresholds, mean_iou, relevance_mass
from .perturbation import (
    ScoreDrop,
    blur_substrate,
    curve_auc,
    deletion_auc,
    deletion_curve,
    insertion_auc,
    insertion_curve,
    score_drop,
)
from .pointing import (
    PointingGameResult,
    PointingRule,
    box_to_mask,
    connected_components,
    is_small,
    pointing_game,
    pointing_hit,
    pointing_point,
)

__all__ = [
    "DEFAULT_IOU_THRESHOLDS",
    "PointingGameResult",
    "PointingRule",
    "box_to_mask",
    "connected_components",
    "pointing_point",
    "pointing_hit",
    "pointing_game",
    "is_small",
    "iou_at_thresholds",
    "mean_iou",
    "relevance_mass",
    "instances_separated",
    "instances_touched",
    "separated_regions",
    "blur_substrate",
    "deletion_curve",
    "insertion_curve",
    "deletion_auc",
    "insertion_auc",
    "curve_auc",
    "score_drop",
    "ScoreDrop",
]
