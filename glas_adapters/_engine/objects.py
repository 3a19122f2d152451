"""The orchestration of target objects (detections, segmentation regions), for every backend.

One image at a time, since each has its own number of targets:

1. the model runs once on the clean image; the target object reads what to explain from
   those outputs (the detections above ``min_score``, the classes present) or checks the
   caller's boxes and masks against them;
2. one sweep of ``2P + 1`` rows scores every target at once: the target object turns the
   backend's raw outputs on each chunk into ``(B, T)`` scores (D-RISE similarities, region
   log-probabilities) and the core fuses them (Eq. 1-3);
3. the maps come back in the caller's framework, beside the targets they explain.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np

import glas_core
from glas_core import GLASConfig
from glas_core.config import config_from
from glas_core.errors import fail

from .._common import Progress, ProgressFn
from ..targets.explanations import explanation_of
from .backend import Backend


class ResolvedTargets(Protocol):
    """The targets of one image: how many, their scores on a batch's outputs, what they are."""

    @property
    def n_targets(self) -> int: ...

    def score(self, outputs: Any, rows: int) -> Any: ...

    def describe(self) -> dict[str, np.ndarray]: ...


class TargetObject(Protocol):
    """What to explain on an image, read from the model's clean outputs on it."""

    log_scores: bool

    def resolve(self, clean: Any, example: int, n_examples: int, image_size: tuple[int, int],
                channels_last: bool = False) -> ResolvedTargets: ...


def channels_last_of(backend: Backend) -> bool:
    """Whether the backend's examples are ``(H, W, C)``: their dense outputs are read channels-last too."""
    return tuple(a % 3 for a in backend.spatial_axes) == (0, 1)


def explain_objects(backend: Backend, target: TargetObject, *, config: GLASConfig, baseline: Any,
                    progress: bool | ProgressFn | None) -> Any:
    """One :class:`~glas_adapters.targets.DetectionExplanation` (or ``SegmentExplanation``) per image.

    Parameters
    ----------
    backend : Backend
        The images and the model.
    target : Detections or SegmentRegions
        What to explain.
    config : glas_core.GLASConfig
        The sweep's settings.
    baseline : any
        What the masks fade to, as the backend reads it.
    progress : bool or callable
        Progress over all sweeps.

    Returns
    -------
    explanation, or a list of them for a batch
    """
    if len(backend.spatial_shape) != 2:
        raise fail("inputs", f"{len(backend.spatial_shape)} spatial axes", "images (2 spatial axes)",
                   "explain detections and segments of 2-D images")
    image_size = (int(backend.spatial_shape[0]), int(backend.spatial_shape[1]))
    n_rows = config.resolve(backend.spatial_shape).rows.n_rows
    chunk = backend.chunk_for(n_rows, config.batch_size)
    config = dataclasses.replace(config, batch_size=chunk)
    baselines = backend.baselines(baseline)
    channels_last = channels_last_of(backend)
    out = []
    with backend.session(), Progress(progress) as report:
        for i in range(backend.n_examples):
            resolved = target.resolve(backend.clean_outputs(i, i + 1), i, backend.n_examples, image_size,
                                      channels_last)
            owners = np.full(chunk, i, dtype=np.int64)

            def score_fn(batch: Any, resolved: ResolvedTargets = resolved, owners: np.ndarray = owners) -> Any:
                rows = int(batch.shape[0])
                return resolved.score(backend.outputs(batch, owners[:rows]), rows)

            result = glas_core.explain(score_fn, backend.example(i), spatial_axes=backend.spatial_axes,
                                       baseline=baselines[i], progress=report.sweeps(), config=config,
                                       log_scores=target.log_scores)
            maps = backend.to_caller(result.saliency)
            out.append(explanation_of(resolved.describe(), maps, n_rows + 1, result))
    return out[0] if backend.single else out


def explain_target(backend: Backend, target: TargetObject, config: GLASConfig | None, baseline: Any,
                   progress: bool | ProgressFn | None, **settings: Any) -> Any:
    """:func:`explain_objects` with the adapters' keywords (``grid``, ``sigma``, ... or ``config``) checked."""
    checked = config_from(config, **settings, points=None)
    return explain_objects(backend, target, config=checked, baseline=baseline, progress=progress)
