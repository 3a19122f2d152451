"""Ray Data as the engine of a data-set job: ``map_batches`` over a pool of actors, one model each."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from glas_adapters.jobs.job import Outcome
from glas_adapters.jobs.memory import keep_freed_memory
from glas_adapters.jobs.sources import ImageItem, image_id
from glas_adapters.jobs.spec import JobSpec
from glas_adapters.jobs.work import ImageExplainer
from glas_core.errors import GLASError, fail

#: Actors when neither ``workers`` nor ``--workers`` is given.
DEFAULT_WORKERS = 2


def ray_module() -> Any:
    """``import ray``, or a GLASError naming the extra."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise fail("--engine ray", "no importable ray[data]", "used with Ray Data installed",
                   "pip install 'glas-xai[ray]' (on the driver and on every worker)") from None
    return ray


def connect(address: str | None, workers: int) -> tuple[Any, bool]:
    """Ray, connected: to ``address``, to the cluster this process already joined, or to a new local one.

    Returns the module and whether this call started Ray (then the caller shuts it down).
    """
    ray = ray_module()
    if ray.is_initialized():
        return ray, False
    import logging

    quiet = dict(include_dashboard=False, log_to_driver=False, configure_logging=True, logging_level="ERROR")
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # Ray's C++ notices stay off the terminal
    if address:
        try:
            ray.init(address=address, **quiet)
        except Exception as exc:  # unreachable head, version mismatch ...
            reason = " ".join(str(exc).split())[:200]
            raise fail("--address", f"{address!r}, which Ray could not join ({reason})", "a running Ray cluster",
                       "start one with 'ray start --head' and pass its address, or drop --address") from None
    else:
        ray.init(num_cpus=max(workers, os.cpu_count() or 1), **quiet)
    ray.data.DataContext.get_current().enable_progress_bars = False  # the command draws its own bar
    return ray, True


class ImageActor:
    """One Ray actor: builds the model once from the factory, then explains the images of each batch.

    Every image comes back as one row ``{"image_id", "outcome"}``, the outcome being the pickled
    :class:`~glas_adapters.jobs.work.Explained` or :class:`GLASError`, so a failing image
    never fails the batch.
    """

    def __init__(self, model_factory: Callable[[], Any], spec: JobSpec, input_size: tuple[int, int] | None,
                 probabilities: str | None) -> None:
        keep_freed_memory()  # as in the glas process: chunks stay on the heap
        self.explainer = ImageExplainer(as_model(model_factory(), input_size, probabilities), spec)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids, outcomes = [], []
        for i in range(len(next(iter(batch.values())))):
            item = batch_item(batch, i)
            pixels = batch["image"][i] if "image" in batch else None
            try:
                outcome: Any = self.explainer.explain(item, pixels=pixels)
            except GLASError as exc:
                outcome = exc
            ids.append(item.image_id)
            outcomes.append(pickle.dumps(outcome))
        return {"image_id": np.asarray(ids, dtype=object), "outcome": np.asarray(outcomes, dtype=object)}


def as_model(model: Any, input_size: tuple[int, int] | None, probabilities: str | None) -> Any:
    """What a factory returned, as the command's model interface.

    A model of :func:`glas_adapters.jobs.models.loading.load_model` is used as it is; a
    ``torch.nn.Module`` taking ``(B, 3, H, W)`` pixels in [0, 1] and returning logits is wrapped,
    resizing every image to ``input_size``.
    """
    if hasattr(model, "kind") and hasattr(model, "explain"):
        return model
    import torch

    if not isinstance(model, torch.nn.Module):
        raise fail("model_factory", f"a factory returning a {type(model).__name__}",
                   "a factory returning glas_adapters.jobs.models.loading.load_model(...) or a torch.nn.Module",
                   "return a model of one of those kinds")
    if input_size is None:
        raise fail("input_size", None, "(height, width) when model_factory returns a torch module",
                   "pass input_size=(224, 224), the size the model takes")
    from glas_adapters.jobs.models.torch_models import TorchClassifier

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    height, width = input_size
    return TorchClassifier(model.eval(), (int(height), int(width)), device, None, probabilities,
                           f"torch model {type(model).__name__}")


def batch_item(batch: dict[str, Any], i: int) -> ImageItem:
    """Row ``i`` of a batch as an :class:`ImageItem`; ``image_id`` defaults to the id of ``path``."""
    path = str(batch["path"][i]) if "path" in batch else ""
    rel = str(batch["relpath"][i]) if "relpath" in batch else os.path.normpath(path).replace(os.sep, "/")
    ident = str(batch["image_id"][i]) if "image_id" in batch else image_id(rel)
    return ImageItem(ident, path, rel, _targets(batch["targets"][i]) if "targets" in batch else None,
                     _label(batch["label"][i]) if "label" in batch else None)


def _targets(value: Any) -> tuple[int, ...] | None:
    parsed = json.loads(value) if isinstance(value, (str, bytes)) else value
    if parsed is None or (isinstance(parsed, float) and np.isnan(parsed)):
        return None
    return tuple(int(t) for t in np.atleast_1d(parsed))


def _label(value: Any) -> int | None:
    parsed = json.loads(value) if isinstance(value, (str, bytes)) else value
    return None if parsed is None or (isinstance(parsed, float) and np.isnan(parsed)) else int(parsed)


def item_rows(items: Sequence[ImageItem]) -> list[dict[str, Any]]:
    """Rows of a Ray Dataset for ``items`` (absolute paths, so any worker on a shared disk reads them)."""
    return [{"image_id": i.image_id, "path": os.path.abspath(i.path), "relpath": i.relpath,
             "targets": json.dumps(None if i.targets is None else list(i.targets)), "label": json.dumps(i.label)}
            for i in items]


def map_images(ds: Any, model_factory: Callable[[], Any], spec: JobSpec, *, workers: int,
               num_gpus: float | None = None, num_cpus: float = 1.0, input_size: tuple[int, int] | None = None,
               probabilities: str | None = "softmax") -> Any:
    """The lazy Dataset ``{"image_id", "outcome"}`` of ``ds``'s images, over ``workers`` actors."""
    ray = ray_module()
    options: dict[str, Any] = {"num_cpus": num_cpus}
    if num_gpus:
        options["num_gpus"] = num_gpus
    return ds.map_batches(ImageActor, fn_constructor_args=(model_factory, spec, input_size, probabilities),
                          batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers), **options)


def ray_outcomes(model_factory: Callable[[], Any], spec: JobSpec, *, address: str | None = None,
                 workers: int | None = None, num_gpus: float | None = None, input_size: tuple[int, int] | None = None,
                 probabilities: str | None = "softmax", source: Callable[[Any, Sequence[ImageItem]], Any] | None = None
                 ) -> Callable[[Sequence[ImageItem]], Iterator[Outcome]]:
    """``outcomes(pending)`` for :func:`glas_adapters.jobs.run_job`, computed by Ray actors.

    Each actor builds its model once with ``model_factory`` (picklable: it travels to the actors,
    the model does not). Outcomes arrive in completion order and are written by the caller as
    they come. ``source(ray, pending)`` gives the Dataset to map (default: the pending paths).
    """
    n_workers = workers or DEFAULT_WORKERS

    def outcomes(pending: Sequence[ImageItem]) -> Iterator[Outcome]:
        if not pending:
            return
        ray, started = connect(address, n_workers)
        try:
            by_id = {item.image_id: item for item in pending}
            if source is None:
                ds = ray.data.from_items(item_rows(pending), override_num_blocks=min(len(pending), 4 * n_workers))
            else:
                ds = source(ray, pending)
            mapped = map_images(ds, model_factory, spec, workers=n_workers, num_gpus=num_gpus,
                                num_cpus=_actor_cpus(ray, n_workers), input_size=input_size,
                                probabilities=probabilities)
            for row in mapped.iter_rows():
                yield by_id[row["image_id"]], pickle.loads(row["outcome"])
        finally:
            if started:
                ray.shutdown()

    return outcomes


def _actor_cpus(ray: Any, workers: int) -> float:
    """One CPU per actor, or a share of the cluster's CPUs that leaves one CPU free.

    Ray Data's other steps (a read, a filter: one CPU each by default) need a CPU too: actors
    that hold every CPU would leave them waiting forever. The share is Ray's bookkeeping only;
    each actor still runs one torch thread.
    """
    total = float(ray.cluster_resources().get("CPU", 1.0))
    return min(1.0, max(total - 1.0, 0.25 * workers) / workers)
