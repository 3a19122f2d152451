"""What a data-set job computes for every image (:class:`JobSpec`), and how its scales are written."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from glas_core import DEFAULT_SIGMA


@dataclass(frozen=True)
class JobSpec:
    """What a job computes for every image.

    A JobSpec is also the settings the model's ``explain`` reads (``grid``, ``sigmas``, ``mode``,
    ``batch_size``, ``recursive``, ``progress``, ``adaptive``: the attributes of the command's
    ``ExplainSettings``), so the job layer needs nothing from the command line to run a model.

    Attributes
    ----------
    targets : tuple of str, optional
        Class indices or names for every image (``--target``); None: the ``top_k`` classes.
    top_k : int, optional
        The most probable classes (default 1, the predicted class). Per-image targets of an
        :class:`~glas_adapters.jobs.sources.ImageItem` (from a targets CSV) win over both.
    sigmas : tuple
        One entry per scale (None is the default (5, 3, 6) grid cells).
    grid, mode, recursive, batch_size
        As in :func:`glas_core.explain`; ``recursive`` runs Algorithm 1 (one sigma).
    figures : bool
        Also draw one PNG per image (one per target for recursive runs).
    keep_raw : bool
        Keep the float32 maps in :attr:`~glas_adapters.jobs.work.Explained.raw` (``--save-maps``).
    adaptive : bool
        With several sigmas, sweep each finer scale only where the coarser map found evidence
        (the default; ``--exhaustive`` turns it off).
    progress : bool
        A progress bar inside each sweep; :meth:`settings` sets it per image.
    min_score, max_detections : float, int, optional
        Detectors: explain the detections scoring at least ``min_score`` (None: 0.5), the
        ``max_detections`` best of them (None: all).
    """

    targets: tuple[str, ...] | None = None
    top_k: int | None = None
    sigmas: tuple[Any, ...] = (None,)
    grid: int | None = None
    mode: str = "fusion"
    recursive: bool = False
    batch_size: int = 32
    figures: bool = False
    keep_raw: bool = False
    adaptive: bool = True
    progress: bool = False
    min_score: float | None = None
    max_detections: int | None = None

    def settings(self, progress: bool = False) -> JobSpec:
        """The settings passed to the model's ``explain``: this spec with ``progress`` set."""
        return dataclasses.replace(self, progress=progress)


def sigma_text(sigma: Any) -> str:
    """A scale as the command line writes it (None is the default (light, shadow, spatial) triple)."""
    if sigma is None:
        sigma = DEFAULT_SIGMA
    if isinstance(sigma, tuple):
        return ",".join(f"{s:g}" for s in sigma)
    return f"{sigma:g}"
