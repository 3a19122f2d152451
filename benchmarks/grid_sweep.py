"""Table 1 of the GLAS paper: pointing game and time against the number of search points k x k.

GLAS (fusion) explains the ground-truth class of the same synthetic test images for
k = 12, 15, 22, 25, 30, under two readings of sigma: in grid cells (the library's default, so
the Gaussians shrink as k grows) and in pixels fixed at their k = 15 values (the masks stay
the same size and only the sampling gets denser). All rows are measured in one run.

    python benchmarks/grid_sweep.py             # the full run (docs/benchmarks.md)
    python benchmarks/grid_sweep.py --quick     # a smoke run

torch runs with one thread (``torch.set_num_threads(1)``): the machine is shared.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import data, env, models, report  # noqa: E402
from benchkit.methods import Method, glas_method, glas_result  # noqa: E402
from benchkit.timing import run_methods  # noqa: E402

import glas_core  # noqa: E402
from glas_core import metrics as M  # noqa: E402

GRIDS = (12, 15, 22, 25, 30)


def fixed_pixel_method(name: str, grid: int, size: int) -> Method:
    """GLAS at ``grid`` with sigma fixed in pixels at its k = 15 value for a ``size`` px image."""
    cell15 = size / 15.0
    sigma_px = tuple(s * cell15 for s in glas_core.DEFAULT_SIGMA)

    def run(module, x, target):
        return glas_result(module, x, target, grid=grid, sigma_px=sigma_px).to_numpy()[0]

    return Method(name, run, f"k={grid}, sigma_px={tuple(round(s, 2) for s in sigma_px)}")


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-images", type=int, default=None, help="test images (default 40, quick 3)")
    p.add_argument("--quick", action="store_true", help="tiny training, few images, k = 12 and 15 only")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--seed", type=int, default=12345)
    args = p.parse_args(argv)
    env.setup_torch()
    n = args.n_images or (3 if args.quick else 40)
    config = models.QUICK_TRAIN if args.quick else models.TrainConfig()
    grids = GRIDS[:2] if args.quick else GRIDS
    model = models.train_or_load(config, args.cache_dir)
    samples = data.make_dataset(n, args.seed, size=config.size)
    methods = [glas_method(f"cells k={k}", grid=k) for k in grids]
    methods += [fixed_pixel_method(f"pixels k={k}", k, config.size) for k in grids]
    runs = run_methods(methods, model, [s.image for s in samples], [s.label for s in samples])
    boxes = [data.box_union(s) for s in samples]
    small = [M.is_small(b) for b in boxes]
    ref_ms = 1000 * np.mean(runs["cells k=15"].seconds)
    rows = []
    for reading in ("cells", "pixels"):
        for k in grids:
            r = runs[f"{reading} k={k}"]
            ms = 1000 * np.mean(r.seconds)
            rows.append([
                f"{k}x{k}", "grid cells (5,3,6)" if reading == "cells" else "pixels fixed at k=15",
                M.pointing_game(r.maps, boxes).accuracy,
                M.pointing_game([m for m, s in zip(r.maps, small) if s],
                                [b for b, s in zip(boxes, small) if s]).accuracy,
                M.pointing_game(r.maps, [s.part_mask for s in samples]).accuracy,
                int(np.mean(r.forwards)), f"{ms:.0f}", f"{ms / ref_ms:.2f}x",
            ])
    text = "\n".join([
        f"Grid sweep (Table 1 shape): {n} synthetic {config.size}x{config.size} test images ({sum(small)} small), "
        "GLAS fusion",
        f"machine: {env.machine_line()}",
        "",
        report.markdown_table(["k x k", "sigma", "PT", "PT-small", "part hit", "forwards/img", "ms/img",
                          "time vs k=15"], rows),
    ])
    print(text)
    return text


if __name__ == "__main__":
    main()
