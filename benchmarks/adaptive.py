"""Adaptive coarse-to-fine search and sigma chosen per image, against the exhaustive multi-scale run.

On the synthetic localisation set (objects with a discriminative part, the CNN of
``benchkit/models.py``), every test image is explained for its class at sigma = 5, 3, 1 grid cells
(k = 15) three ways: exhaustive (one full sweep per scale), adaptive (finer scales sweep only the
points where the previous map is at least ``keep`` of its peak, for several ``keep``), and
``glas_core.explain_auto`` (the finest informative of 5, 3, 2, 1 per image). Printed side by
side, from one run: forward passes relative to the exhaustive run, and the finest map's part hit,
PT and PT-small (pointing game, paper rule); for auto sigma, part hit against the best fixed sigma
chosen with hindsight.

    python benchmarks/adaptive.py                # the full run (docs/benchmarks.md)
    python benchmarks/adaptive.py --quick        # a smoke run on a handful of images

GLAS scores log-probabilities (``glas_core.log_probabilities``, as the adapters do). torch runs with one thread.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import data, env, models, report  # noqa: E402

import glas_core  # noqa: E402
from glas_core import metrics as M  # noqa: E402

SIGMAS = (5.0, 3.0, 1.0)
AUTO_SIGMAS = (5.0, 3.0, 2.0, 1.0)


def log_score_fn(model, target: int):
    """``(B, 1)`` log-probability of ``target`` (``glas_core.log_probabilities``: exact when saturated)."""
    import torch

    def score(batch):
        with torch.no_grad():
            return glas_core.log_probabilities(model(batch), [target])

    return score


def localisation(maps: list[np.ndarray], samples: list[data.Sample]) -> tuple[float, float, float]:
    """Part hit, PT and PT-small of one map per sample."""
    boxes = [data.box_union(s) for s in samples]
    small = [M.is_small(b) for b in boxes]
    part = M.pointing_game(maps, [s.part_mask for s in samples]).accuracy
    pt = M.pointing_game(maps, boxes).accuracy
    pt_small = M.pointing_game([m for m, k in zip(maps, small) if k], [b for b, k in zip(boxes, small) if k]).accuracy
    return part, pt, pt_small


def run(model, samples: list[data.Sample], keeps: list[float], grid: int) -> list[list]:
    import torch

    xs = [torch.from_numpy(s.image) for s in samples]
    fns = [log_score_fn(model, s.label) for s in samples]
    exhaustive = [glas_core.explain_multiscale(f, x, SIGMAS, grid=grid, log_scores=True) for f, x in zip(fns, xs)]
    full = np.mean([sum(r.n_forward for r in rs) for rs in exhaustive])
    rows = []

    def row(name: str, per_image: list[list[glas_core.GLASResult]]) -> None:
        finest = [rs[-1].to_numpy()[0] for rs in per_image]
        passes = np.mean([sum(r.n_forward for r in rs) for rs in per_image])
        coarse = localisation([rs[0].to_numpy()[0] for rs in per_image], samples)
        rows.append([name, f"{passes:.0f}", f"{passes / full:.2f}", *localisation(finest, samples), coarse[1]])

    row("exhaustive", exhaustive)
    for keep in keeps:
        row(f"adaptive, keep={keep:g}", [glas_core.explain_multiscale(f, x, SIGMAS, grid=grid, log_scores=True,
                                                                     adaptive=True, keep=keep)
                                         for f, x in zip(fns, xs)])
    fixed = {s: [glas_core.explain(f, x, grid=grid, sigma=s, log_scores=True).to_numpy()[0] for f, x in zip(fns, xs)]
             for s in AUTO_SIGMAS}
    best_sigma, best = max(((s, localisation(m, samples)) for s, m in fixed.items()), key=lambda t: t[1][0])
    auto = [glas_core.explain_auto(f, x, AUTO_SIGMAS, grid=grid, log_scores=True) for f, x in zip(fns, xs)]
    auto_passes = np.mean([a.n_forward for a in auto])
    rows.append([f"auto sigma ({'/'.join(f'{s:g}' for s in AUTO_SIGMAS)})", f"{auto_passes:.0f}",
                 f"{auto_passes / full:.2f}", *localisation([a.to_numpy()[0] for a in auto], samples), float("nan")])
    rows.append([f"best fixed sigma with hindsight ({best_sigma:g})", f"{(2 * grid * grid + 1):.0f}",
                 f"{(2 * grid * grid + 1) / full:.2f}", *best, float("nan")])
    chosen = [a.sigmas[0] for a in auto]
    rows.append([f"auto sigma chose: " + ", ".join(f"{s:g}: {chosen.count(s)}" for s in AUTO_SIGMAS), "", "", "", "",
                 "", ""])
    return rows


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-images", type=int, default=None, help="test images (default 60, quick 4)")
    p.add_argument("--quick", action="store_true", help="tiny training, few images")
    p.add_argument("--keep", type=float, nargs="+", default=[0.3, 0.5, 0.7, 0.8, 0.9], help="adaptive keep values")
    p.add_argument("--grid", type=int, default=15)
    p.add_argument("--cache-dir", type=Path, default=None, help="where the trained CNN is cached")
    p.add_argument("--seed", type=int, default=12345, help="seed of the test images")
    args = p.parse_args(argv)
    env.setup_torch()
    n = args.n_images or (4 if args.quick else 60)
    config = models.QUICK_TRAIN if args.quick else models.TrainConfig()
    grid = 6 if args.quick else args.grid
    model = models.train_or_load(config, args.cache_dir)
    samples = data.make_dataset(n, args.seed, size=config.size)
    rows = run(model, samples, args.keep, grid)
    text = "\n".join([
        f"Adaptive coarse-to-fine ({'/'.join(f'{s:g}' for s in SIGMAS)} grid cells, k={grid}) and auto sigma: "
        f"{n} synthetic {config.size}x{config.size} images, CNN test accuracy {models.accuracy(model, samples):.3f}",
        f"machine: {env.machine_line()}",
        "",
        report.markdown_table(["run", "forwards/img", "vs exhaustive", "part hit (finest)", "PT (finest)",
                               "PT-small (finest)", "PT (coarsest)"], rows),
        "",
        "Pointing game, paper rule; part hit: the discriminative part's mask; auto sigma: the finest scale whose "
        "best shadow removes >= 5% of the clean probability.",
    ])
    print(text)
    return text


if __name__ == "__main__":
    main()
