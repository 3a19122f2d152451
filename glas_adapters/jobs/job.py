"""Run a job: explain the unfinished images, write each one as soon as it is done, then the manifest.

The engine (this process, or Ray actors) only produces ``(item, result or error)`` pairs;
everything that touches the output folder happens here, in the ``glas`` process, so both
engines resume, report and write alike.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glas_adapters.jobs.layout import FAILURES, OutputFolder
from glas_adapters.jobs.manifest import MANIFEST
from glas_adapters.jobs.models.runtimes import runtime_text
from glas_adapters.jobs.sources import ImageItem
from glas_adapters.jobs.work import Explained, ImageExplainer
from glas_core.errors import GLASError

#: What an engine yields for one image: the image and its result, or the error that stopped it.
Outcome = tuple[ImageItem, Explained | GLASError]


@dataclass
class JobReport:
    """What a run did.

    Attributes
    ----------
    total : int
        Images of the job.
    resumed : int
        Images finished by an earlier run (not recomputed).
    done : int
        Images explained by this run.
    failures : list of (str, str)
        ``(path, message)`` of every image that failed in this run.
    rows : int
        Rows of the manifest written at the end.
    seconds : float
        Wall-clock time of the explaining loop.
    raw : dict
        ``--save-maps`` arrays by image index (empty without it).
    forward_passes : int
        Images the model was run on for the images explained by this run.
    runtimes : set of (str or None, int or None)
        ``(runtime, intra-op threads)`` that ran those forward passes (one pair per process setting).
    """

    total: int
    resumed: int = 0
    done: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0
    raw: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    forward_passes: int = 0
    runtimes: set[tuple[str | None, int | None]] = field(default_factory=set)

    def summary(self, out: str, note: str | None = None) -> str:
        """The run's last line: images explained, rate, forward passes and what ran them (with ``note``),
        resumed and failed images, the manifest."""
        rate = f", {self.done / self.seconds:.2f} images/s" if self.done and self.seconds > 0 else ""
        ran = ""
        if self.runtimes:
            ran = " on " + " and ".join(runtime_text(*pair) for pair in sorted(self.runtimes, key=str))
        parts = [f"explained {self.done} of {self.total} images in {self.seconds:.1f} s{rate} "
                 f"({self.forward_passes} forward passes){ran}"]
        if note:
            parts.append(note)
        if self.resumed:
            parts.append(f"{self.resumed} finished by an earlier run")
        if self.failures:
            parts.append(f"{len(self.failures)} failed (listed above and in {os.path.join(out, FAILURES)})")
        return "; ".join(parts) + f"; wrote {os.path.join(out, MANIFEST)} ({self.rows} rows)"


def pending_items(items: Sequence[ImageItem], out: OutputFolder, figures: bool, recompute: bool) -> list[ImageItem]:
    """The images without a finished result (every image with ``recompute``)."""
    return list(items) if recompute else [i for i in items if not out.finished(i.image_id, figures)]


def local_outcomes(explainer: ImageExplainer, pending: Sequence[ImageItem], row_progress: bool) -> Iterator[Outcome]:
    """Explain ``pending`` in this process, one image at a time."""
    for item in pending:
        try:
            yield item, explainer.explain(item, progress=row_progress)
        except GLASError as exc:
            yield item, exc


def run_job(items: Sequence[ImageItem], pending: Sequence[ImageItem], out: OutputFolder,
            outcomes: Callable[[Sequence[ImageItem]], Iterable[Outcome]], *, keep_going: bool,
            progress: bool, say: Callable[[str], None] = print) -> JobReport:
    """Write every outcome as it arrives; the manifest is rewritten at the end, on error and on interruption.

    Parameters
    ----------
    items : sequence of ImageItem
        Every image of the job, in manifest order.
    pending : sequence of ImageItem
        Those to compute now.
    out : OutputFolder
        Where results go.
    outcomes : callable
        ``outcomes(pending)`` yields ``(item, Explained or GLASError)`` in any order; an image
        yielded twice (a retried Ray task) is written once.
    keep_going : bool
        Report a failed image and go on; otherwise the first failure ends the run.
    progress : bool
        A tqdm bar over images (rate and ETA).
    say : callable
        Where per-image failure lines go.

    Raises
    ------
    GLASError
        The first failed image without ``keep_going`` (the message names it).
    """
    report = JobReport(total=len(items), resumed=len(items) - len(pending))
    index = {item.image_id: i for i, item in enumerate(items)}
    seen: set[str] = set()
    out.remove_parts()
    bar = _bar(len(pending), progress)
    start = time.perf_counter()
    try:
        for item, result in outcomes(pending):
            if item.image_id in seen:
                continue
            seen.add(item.image_id)
            if isinstance(result, GLASError):
                message = " ".join(str(result).split())
                if not keep_going:
                    raise GLASError(f"{message} (images finished before it are kept in {out.path}; rerun to resume, "
                                    f"or add --keep-going to skip failing images)") from None
                report.failures.append((item.path, message))
                (bar.write if bar is not None else say)(f"glas: failed: {message}")
            else:
                out.write(result.output)
                if result.raw:
                    report.raw[index[item.image_id]] = result.raw
                report.done += 1
                report.forward_passes += result.n_forward
                report.runtimes.add((result.runtime, result.threads))
            if bar is not None:
                bar.update(1)
    finally:
        report.seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()
        report.rows = out.write_manifest([item.image_id for item in items])
        out.write_failures(report.failures)
        # a signal between creating a temporary file and the handler that removes it leaves it behind
        out.remove_parts()
    return report


def _bar(total: int, enabled: bool) -> Any:
    if not enabled or total < 2:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="images", unit="image", dynamic_ncols=True)
