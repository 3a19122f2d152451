"""Explain data sets on a Ray cluster: Ray Data ``map_batches`` over a pool of actors.

``explain_dataset(ds, model_factory, out)`` explains every image of a Ray Dataset and writes the
same output folder as ``glas explain DIR --out OUT`` (``manifest.parquet`` plus one ``.npz``
per image; layout in :mod:`glas_adapters.jobs`), resumable in the same way:
``glas explain DIR --out OUT --engine ray [--address ADDR] [--workers N]`` runs it from the
command line. ``cohort_maps(out)`` reduces the finished maps to one cohort map per (target,
sigma) across the workers.

How it runs: each actor calls ``model_factory()`` once (a picklable callable: the factory
travels to the workers, never the model, so no model goes through the object store) and then
explains one image per task, on its own GPU when ``num_gpus`` is set. Every image comes back to
the driver, which writes it at once; an actor that dies is restarted by Ray and its image
retried, and an image that arrives twice is written once. Ray is imported only here: the
command's default engine never imports it.

What each worker needs: ``pip install 'glas-xai[ray]'`` plus the model's own packages (the same as
the driver), and read access to the image paths (absolute paths: a shared disk) when the
Dataset holds paths rather than pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from glas_adapters.jobs.job import JobReport, pending_items, run_job
from glas_adapters.jobs.layout import OutputFolder
from glas_adapters.jobs.sources import ImageItem
from glas_adapters.jobs.spec import JobSpec, sigma_text
from glas_adapters.ray.cohort import cohort_maps
from glas_adapters.ray.engine import DEFAULT_WORKERS, batch_item, connect, map_images, ray_outcomes
from glas_core.errors import fail

__all__ = ["DEFAULT_WORKERS", "cohort_maps", "explain_dataset", "map_images", "ray_outcomes"]


def explain_dataset(
    ds: Any,
    model_factory: Callable[[], Any],
    out: str,
    *,
    targets: Sequence[int] | None = None,
    top_k: int | None = None,
    sigma: Any = None,
    grid: int | None = None,
    mode: str = "fusion",
    recursive: bool = False,
    batch_size: int = 32,
    figures: bool = False,
    workers: int | None = None,
    num_gpus: float | None = None,
    input_size: tuple[int, int] | None = None,
    probabilities: str | None = "softmax",
    address: str | None = None,
    keep_going: bool = True,
    progress: bool = False,
    model_name: str | None = None,
) -> JobReport:
    """Explain every image of a Ray Dataset into the output folder ``out``.

    Parameters
    ----------
    ds : ray.data.Dataset
        One row per image: ``path`` (a file every worker can read) and/or ``image`` (``(H, W, 3)``
        uint8 or float pixels in [0, 1], then ``image_id`` is required); optional ``image_id``
        (default: from the path), ``targets`` (a list of class indices) and ``label`` (the true class).
    model_factory : callable
        Picklable; returns a model of :func:`glas_adapters.jobs.models.loading.load_model`, or a
        ``torch.nn.Module`` taking ``(B, 3, H, W)`` pixels in [0, 1] (then ``input_size`` is required).
    out : str
        The output folder (see :mod:`glas_adapters.jobs`); finished images are not recomputed.
    targets, top_k
        Classes for every image (default: the predicted class); a row's ``targets`` wins.
    sigma : scale or list of scales, optional
        One map per scale (default (5, 3, 6) grid cells).
    grid, mode, recursive, batch_size, figures
        As for ``glas explain``.
    workers : int, optional
        Actors (default 2), each with its own model.
    num_gpus : float, optional
        GPUs per actor.
    input_size : (int, int), optional
        Size images are resized to for a bare torch module.
    probabilities : "softmax" | "sigmoid" | None
        How a bare torch module's outputs become probabilities.
    address : str, optional
        A Ray cluster to join when this process has not joined one (default: a local cluster).
    keep_going : bool
        Record a failing image in ``failures.csv`` and go on (default), or stop at the first.
    progress : bool
        A bar over images.
    model_name : str, optional
        Names the model in ``job.json`` (default: the factory's repr); a rerun into ``out``
        with another name or other settings is refused.

    Returns
    -------
    JobReport
        Counts, failures and the time taken.
    """
    spec = JobSpec(targets=tuple(str(t) for t in targets) if targets is not None else None, top_k=top_k,
                   sigmas=_sigmas(sigma), grid=grid, mode=mode, recursive=recursive, batch_size=batch_size,
                   figures=figures)
    ray, started = connect(address, workers or DEFAULT_WORKERS)
    try:
        columns = list(ds.columns())
        items = _items(ds, columns)
        job = {"model": model_name or repr(model_factory), "targets": spec.targets, "top_k": top_k,
               "sigmas": [sigma_text(s) for s in spec.sigmas], "grid": grid, "mode": mode, "recursive": recursive,
               "input_size": input_size, "probabilities": probabilities}
        folder = OutputFolder(out, job)
        pending = pending_items(items, folder, figures, recompute=False)
        source = _pending_rows(ds) if "image" in columns else None
        outcomes = ray_outcomes(model_factory, spec, workers=workers, num_gpus=num_gpus, input_size=input_size,
                                probabilities=probabilities, source=source)
        return run_job(items, pending, folder, outcomes, keep_going=keep_going, progress=progress)
    finally:
        if started:
            ray.shutdown()


def _pending_rows(ds: Any) -> Callable[[Any, Sequence[ImageItem]], Any]:
    """The source of an in-memory Dataset: its rows whose image is not finished yet."""
    def source(ray: Any, todo: Sequence[ImageItem]) -> Any:
        wanted = {item.image_id for item in todo}
        return ds.filter(lambda row: str(row["image_id"]) in wanted)

    return source


def _sigmas(sigma: Any) -> tuple[Any, ...]:
    if isinstance(sigma, list):
        return tuple(tuple(s) if isinstance(s, (list, tuple)) else s for s in sigma) or (None,)
    return (tuple(sigma) if isinstance(sigma, tuple) else sigma,)


def _items(ds: Any, columns: list[str]) -> list[ImageItem]:
    """The Dataset's images in manifest order (sorted by id), from its small columns only."""
    if "path" not in columns and "image" not in columns:
        raise fail("ds", f"a Dataset with columns {columns}", "a 'path' or an 'image' column",
                   "add the image file paths as a 'path' column (ray.data.from_items([{'path': p} ...]))")
    if "image" in columns and "image_id" not in columns:
        raise fail("ds", "an 'image' column without 'image_id'", "an 'image_id' per in-memory image",
                   "add a unique 'image_id' column")
    small = [c for c in ("image_id", "path", "relpath", "targets", "label") if c in columns]
    rows = ds.select_columns(small).take_all()
    batch: dict[str, Any] = {c: [r[c] for r in rows] for c in small}
    items = [batch_item(batch, i) for i in range(len(rows))]
    ids = [item.image_id for item in items]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise fail("ds", f"repeated image ids {repeated}", "one row per image", "drop the repeated rows")
    return sorted(items, key=lambda item: (item.relpath, item.image_id))

