"""One image of a detector's or a segmenter's job: one map and one manifest row per detection or region.

A detection's row says what it is in the columns every row has (``target``: its class,
``class_name``, ``clean_score``: the detector's score) and where it is in its own: ``object``
(its rank on the image, 0 for the best score), ``box_x1, box_y1, box_x2, box_y2`` (pixels of the
explained image, whose size is the map's ``height`` x ``width``; ``x = 0`` is its left edge). A
region's row has ``target`` (its class), ``clean_score`` (the geometric-mean probability of its
class over the region on the clean image, ``exp`` of the score GLAS explains), ``object``,
``region_pixels`` (its size on the model's output grid) and ``mask_key``: the key of its
boolean mask (0/1, on that grid) in the image's ``.npz`` beside the maps. The other columns are
null in these rows, and these columns are null in a classifier's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from glas_adapters.jobs.figures import figure_copy, png_bytes
from glas_adapters.jobs.layout import ImageOutput, npz_bytes
from glas_adapters.jobs.spec import sigma_text
from glas_core import to_numpy
from glas_core.errors import fail

#: The columns a detection or region row adds (null elsewhere).
OBJECT_COLUMNS = ("object", "box_x1", "box_y1", "box_x2", "box_y2", "region_pixels", "mask_key")


def object_output(image_id: str, exp: Any, model: Any, sigma: Any,
                  common: Callable[[int, str, float, str, int], dict[str, Any]],
                  peak: Callable[[np.ndarray], np.ndarray]) -> tuple[ImageOutput, dict[str, np.ndarray]]:
    """An image's rows and maps file, and its raw float32 arrays (``--save-maps``).

    Parameters
    ----------
    image_id : str
        The image's id.
    exp : DetectionExplanation or SegmentExplanation
        Its explanation.
    model : ObjectModel
        Gives the class names.
    sigma : any
        The job's scale.
    common : callable
        ``common(target, class_name, clean_score, sigma_text, n_forward)``: the columns every row has.
    peak : callable
        A map divided by its peak (how the maps are stored).
    """
    text = sigma_text(sigma)
    maps = np.asarray(to_numpy(exp.maps), dtype=np.float64)
    detections = hasattr(exp, "boxes")
    classes = np.asarray(exp.labels if detections else exp.classes, dtype=np.int64)
    scores = np.asarray(exp.scores if detections else to_numpy(exp.result.clean_scores), dtype=np.float64)
    n_sweep = int(exp.result.n_forward)
    rows: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for t, k in enumerate(classes):
        key = f"object{t}_sigma{text}"
        arrays[key] = peak(maps[t])
        row = {**common(int(k), model.label(int(k)), float(scores[t]), text, n_sweep), "map_key": key,
               "height": int(maps.shape[1]), "width": int(maps.shape[2]), "iteration": None, "object": t}
        if detections:
            row.update(zip(("box_x1", "box_y1", "box_x2", "box_y2"), (float(v) for v in exp.boxes[t])))
        else:
            mask = np.asarray(exp.masks[t], dtype=bool)
            arrays[f"object{t}_mask"] = mask.astype(np.float64)
            row.update(region_pixels=int(mask.sum()), mask_key=f"object{t}_mask")
        rows.append(row)
    raw: dict[str, np.ndarray] = {"saliency": maps.astype(np.float32), "targets": classes,
           "labels": np.asarray([model.label(int(k)) for k in classes]), "scores": scores}
    raw["boxes" if detections else "masks"] = np.asarray(exp.boxes if detections else exp.masks)
    return ImageOutput(image_id, rows, npz_bytes(arrays)), raw


def object_figure(image: np.ndarray, exp: Any, model: Any, name: str, mode: str, *, max_side: int, dpi: int) -> bytes:
    """The image with every box (or region outline), then each map with its own, as PNG bytes."""
    from glas_core.viz.objects import detection_boxes, segment_regions

    small = figure_copy(image, max_side)
    title = f"{name}: GLAS ({mode}), {model.description}"
    if hasattr(exp, "boxes"):
        names = [model.label(int(k)) for k in exp.labels]
        fig = detection_boxes(small, exp.boxes, to_numpy(exp.maps), names=names, scores=exp.scores, title=title)
    else:
        names = [model.label(int(k)) for k in exp.classes]
        fig = segment_regions(small, exp.masks, to_numpy(exp.maps), names=names, title=title)
    return png_bytes(fig, dpi)


def check_object_options(kind: str, *, targets: bool, cohort: bool, min_score: bool, max_detections: bool,
                         scales: int = 1, recursive: bool = False) -> None:
    """Refuse the options a model of ``kind`` cannot take (classifier options, detector options elsewhere)."""
    if kind in ("detector", "segmenter") and (scales != 1 or recursive):
        raise fail("--sigma/--recursive", f"{scales} --sigma values{' and --recursive' if recursive else ''} with a "
                   f"{kind}", f"one --sigma value and no --recursive for a {kind}",
                   "pass one --sigma value and no --recursive")
    if kind in ("detector", "segmenter") and targets:
        raise fail("--target/--top-k/--targets-csv", f"a {kind} (every {_what(kind)} is explained)",
                   "used with classifiers", "drop them")
    if kind in ("detector", "segmenter") and cohort:
        raise fail("--cohort", f"a {kind}", "used with classifiers (their maps share one size and one set of classes)",
                   "drop --cohort")
    if kind != "detector" and (min_score or max_detections):
        raise fail("--min-score/--max-detections", f"a {kind}", "used with detectors", "drop them")


def _what(kind: str) -> str:
    return "detection above --min-score" if kind == "detector" else "class region"
