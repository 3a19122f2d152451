"""What ``glas demo`` and ``glas explain`` do once their arguments are parsed."""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from glas_adapters.jobs.models.classifier import Classifier, ExplainSettings
from glas_adapters.jobs.models.objects import DEFAULT_MIN_SCORE
from glas_adapters.jobs.models.runtimes import runtime_text
from glas_adapters.jobs.outputs import check_output_file, save_figure, write_atomically
from glas_adapters.jobs.spec import sigma_text
from glas_adapters.jobs.work import raw_arrays
from glas_core import DEFAULT_SIGMA
from glas_core.errors import fail

DEMO_SIGMAS = (5.0, 3.0, 1.0)
DEMO_TOP_K = 5


def run_demo(args: argparse.Namespace) -> int:
    """Explain chelsea's top-5 EfficientNet-Lite0 classes at three scales into one PNG."""
    from skimage import data

    from glas_adapters.jobs.models.loading import load_model
    from glas_core import viz

    start = time.perf_counter()
    out = check_output_file(args.out, ".png")
    maps_file = check_output_file(args.save_maps, ".npz") if args.save_maps else None
    model = load_model("efficientnet-lite0", device=args.device, runtime=args.runtime)
    assert isinstance(model, Classifier)  # the built-in model is a classifier, not a captioner
    image = data.chelsea().astype(np.float32) / 255.0
    x = model.prepare(image)
    probs = model.probabilities(x)
    targets = [int(i) for i in np.argsort(-probs, kind="stable")[:DEMO_TOP_K]]
    settings = ExplainSettings(grid=args.grid, sigmas=DEMO_SIGMAS, batch_size=args.batch_size,
                               progress=not args.quiet)
    results = model.explain(x, targets, settings)
    maps = np.stack([r.to_numpy() for r in results], axis=1)  # (T, S, H, W)
    labels = [f"{model.label(t)}  {probs[t]:.0%}" for t in targets]
    fig = viz.multiscale_strip(image, maps, row_labels=labels,
                               scale_labels=[f"sigma = {s:g} (grid cells)" for s in DEMO_SIGMAS],
                               title=f"GLAS, {model.description}: top-{DEMO_TOP_K} classes, coarse to fine")
    save_figure(fig, out, dpi=80)
    if maps_file:
        arrays: dict[str, Any] = {f"{name}_0": value
                                  for name, value in raw_arrays(results, targets, probs, model, False).items()}
        write_atomically(maps_file, lambda f: np.savez_compressed(f, **arrays))
    elapsed = time.perf_counter() - start
    for t, label in zip(targets, labels):
        print(f"  {t:4d}  {label}")
    rows = sum(r.n_forward for r in results)
    note = f"; {model.runtime_note}" if model.runtime_note else ""
    print(f"wrote {out} ({rows} forward rows, {elapsed:.1f} s) on {runtime_text(model.runtime, model.threads())}{note}")
    return 0


def run_explain(args: argparse.Namespace) -> int:
    """Explain every image of the inputs into ``--out`` (see :mod:`glas_adapters.jobs`)."""
    from glas_adapters.jobs import JobSpec, OutputFolder, find_images, pending_items, read_targets_csv, run_job
    from glas_adapters.jobs.series import check_job_inputs, check_onnx_inputs

    sigmas = tuple(args.sigma or (None,))
    if len({sigma_text(s) for s in sigmas}) != len(sigmas):
        raise fail("--sigma", " ".join(sigma_text(s) for s in sigmas), "distinct scales", "drop the repeated value")
    if args.recursive and len(sigmas) > 1:
        raise fail("--recursive", f"{len(sigmas)} --sigma values", "used with one --sigma value",
                   "drop --recursive for a multi-scale strip, or pass one --sigma")
    if not args.exhaustive:
        check_coarse_to_fine(sigmas)
    if args.engine != "ray" and (args.address or args.workers or args.gpus_per_worker):
        raise fail("--address/--workers/--gpus-per-worker", "given without --engine ray", "used with --engine ray",
                   "add --engine ray, or drop them")
    runtime, note = _runtime(args)
    items = find_images(args.images, exclude=args.out)
    if args.targets_csv:
        items = read_targets_csv(args.targets_csv, items)
    check_onnx_inputs(args.model, items)
    maps_file = _checked_save_maps(args.save_maps, items) if args.save_maps else None
    spec = JobSpec(targets=tuple(args.target) if args.target else None, top_k=args.top_k, sigmas=sigmas,
                   grid=args.grid, mode=args.mode, recursive=args.recursive, batch_size=args.batch_size,
                   figures=args.figures, keep_raw=maps_file is not None, adaptive=not args.exhaustive,
                   min_score=args.min_score, max_detections=args.max_detections)
    out = OutputFolder(args.out, _job_settings(args, sigmas))
    pending = pending_items(items, out, spec.figures, recompute=maps_file is not None)
    options = dict(device=args.device, input_size=args.input_size, normalize=args.normalize,
                   probabilities=None if args.probabilities == "none" else args.probabilities, runtime=runtime)
    loader = model_loader(args.model, **options)
    model = _checked_model(args, loader) if pending else None   # bad models fail here, with Ray or without
    if model is not None:
        check_job_inputs(model, items)  # series with a sequence classifier, images with an image model
    note = _note(note, model)
    with _ray_session(args, pending):  # one Ray session for the maps and the cohort
        if args.engine == "ray" and pending:
            from glas_adapters.ray.engine import ray_outcomes

            model = None  # every actor loads its own
            outcomes = ray_outcomes(loader, spec, address=args.address, workers=args.workers,
                                    num_gpus=args.gpus_per_worker)
        else:
            outcomes = _local(args, spec, model, pending)
        report = run_job(items, pending, out, outcomes, keep_going=args.keep_going, progress=not args.quiet,
                         say=lambda line: print(line, file=sys.stderr))
        if maps_file:
            _save_maps(maps_file, items, report.raw, sigmas)
        print(report.summary(args.out, note=note))
        if args.cohort and report.rows:
            print(f"wrote {_cohort(args)}")
    if args.report:
        from glas_adapters.cli.report_command import write_report

        write_report(args.out, os.path.join(args.out, "report.html"), quiet=args.quiet)
    return 1 if report.failures else 0


def _runtime(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The runtime every process loads the model with (decided here, once), and a note for the summary."""
    from glas_adapters.jobs.models.loading import BUILTIN_MODELS, resolve_runtime

    runtime = args.runtime
    if args.engine == "ray" and args.gpus_per_worker and runtime is None and args.model in BUILTIN_MODELS:
        runtime = "torch"  # the actors' GPUs run PyTorch
    return resolve_runtime(args.model, runtime, args.device)


def _note(note: str | None, model: Any) -> str | None:
    """The summary's note: why the built-in model runs on PyTorch, and an export made by this run."""
    parts = [t for t in (note, getattr(model, "runtime_note", None)) if t]
    return "; ".join(dict.fromkeys(parts)) or None


@contextlib.contextmanager
def _ray_session(args: argparse.Namespace, pending: list[Any]) -> Iterator[None]:
    """Join or start Ray once for the whole command (with --engine ray and work to do), then leave."""
    if args.engine != "ray" or not (pending or args.cohort):
        yield
        return
    from glas_adapters.ray.engine import DEFAULT_WORKERS, connect

    ray, started = connect(args.address, args.workers or DEFAULT_WORKERS)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def _cohort(args: argparse.Namespace) -> str:
    """Write ``OUT/cohort.npz`` with the chosen engine; its path."""
    from glas_adapters.jobs.cohort import cohort_maps, write_cohort

    if args.engine == "ray":
        from glas_adapters.ray.cohort import cohort_maps as ray_cohort_maps

        return write_cohort(args.out, ray_cohort_maps(args.out, workers=args.workers, address=args.address))
    return write_cohort(args.out, cohort_maps(args.out))


def model_loader(spec: str, **options: Any) -> Callable[[], Any]:
    """A picklable factory of the command's model (each Ray actor calls it once)."""
    from glas_adapters.jobs.models.loading import load_model

    return functools.partial(load_model, spec, **options)


def _checked_model(args: argparse.Namespace, loader: Callable[[], Any]) -> Any:
    """The loaded model, refused with the options it cannot take."""
    from glas_adapters.jobs.objects import check_object_options

    model = loader()
    if model.kind == "captioner" and (args.target or args.top_k or args.targets_csv):
        raise fail("--target/--top-k/--targets-csv", "a captioner (every caption word is explained)",
                   "used with classifiers", "drop them")
    check_object_options(model.kind, targets=bool(args.target or args.top_k or args.targets_csv), cohort=args.cohort,
                         min_score=args.min_score is not None, max_detections=args.max_detections is not None,
                         scales=len(args.sigma or (None,)), recursive=args.recursive)
    return model


def _local(args: argparse.Namespace, spec: Any, model: Any, pending: list[Any]) -> Callable:
    from glas_adapters.jobs import ImageExplainer, local_outcomes

    if not pending:
        return lambda todo: iter(())
    explainer = ImageExplainer(model, spec)
    row_bar = not args.quiet and len(pending) == 1
    return lambda todo: local_outcomes(explainer, todo, row_progress=row_bar)


def _job_settings(args: argparse.Namespace, sigmas: tuple[Any, ...]) -> dict[str, Any]:
    """What decides the maps; an output folder holding results of other settings is refused."""
    model: dict[str, Any] = {"spec": args.model}
    if os.path.exists(args.model):
        config = os.path.join(args.model, "config.json")
        stat = os.stat(config if os.path.isfile(config) else args.model)
        model = {"spec": os.path.abspath(args.model), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    csv_digest = None
    if args.targets_csv:
        with open(args.targets_csv, "rb") as handle:
            csv_digest = hashlib.sha1(handle.read()).hexdigest()
    settings = {"model": model, "input_size": args.input_size, "normalize": args.normalize,
                "probabilities": args.probabilities, "targets": args.target, "top_k": args.top_k,
                "targets_csv_sha1": csv_digest, "grid": args.grid, "sigmas": [sigma_text(s) for s in sigmas],
                "mode": args.mode, "recursive": args.recursive}
    if len(sigmas) > 1:  # one scale is the same map either way
        settings["search"] = "exhaustive" if args.exhaustive else "adaptive"
    # detectors' settings, only when they differ from the defaults (folders of other runs stay resumable)
    if args.min_score is not None and args.min_score != DEFAULT_MIN_SCORE:
        settings["min_score"] = args.min_score
    if args.max_detections is not None:
        settings["max_detections"] = args.max_detections
    return settings


def check_coarse_to_fine(sigmas: tuple[Any, ...]) -> None:
    """Refuse several scales that are not coarse to fine, which the adaptive search needs."""
    triples = [np.broadcast_to(np.asarray(DEFAULT_SIGMA if s is None else s, dtype=float), (3,)) for s in sigmas]
    for previous, current in zip(triples, triples[1:]):
        if np.any(current > previous):
            shown = " ".join(sigma_text(s) for s in sigmas)
            raise fail("--sigma", shown, "scales from coarse to fine (each no larger than the one before) for the "
                       "adaptive search", "reorder them (e.g. --sigma 5 3 1), or add --exhaustive")


def _checked_save_maps(path: str, items: list[Any]) -> str:
    checked = check_output_file(path, ".npz")
    if os.path.realpath(checked) in {os.path.realpath(item.path) for item in items}:
        raise fail("--save-maps", repr(path), "a file that is not an input", "pick another file name")
    return checked


def _save_maps(path: str, items: list[Any], raw: dict[int, dict[str, np.ndarray]], sigmas: tuple[Any, ...]) -> None:
    """The ``--save-maps`` file: ``saliency_<i>`` (and targets, labels, scores) of image ``i`` in job order."""
    arrays: dict[str, Any] = {"paths": np.asarray([os.path.abspath(item.path) for item in items]),
                              "sigmas": np.asarray([sigma_text(s) for s in sigmas])}
    for i, parts in sorted(raw.items()):
        arrays.update({f"{name}_{i}": value for name, value in parts.items()})
    write_atomically(path, lambda f: np.savez_compressed(f, **arrays))
    print(f"wrote {path}")
