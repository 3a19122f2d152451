"""Table 3 of the GLAS paper: mean IoU of the Recursive GLAS map by iteration and threshold.

Synthetic test images hold two instances of the same class; the ground truth is the union of
their boxes. After iteration i the map is O_i = S_1 + ... + S_i (Algorithm 1, each S min-max
normalised); the IoU is taken on O_i min-max normalised and thresholded at 0.1 ... 0.9.
"A" is the final map under the adaptive stop condition (t1 = 0.8, t2 = 5, at most 5
iterations). A map that stopped before iteration i keeps its last O. "both found" is the share
of images where the normalised map exceeds 0.5 inside each of the two boxes.

    python benchmarks/recursive.py             # the full run (docs/benchmarks.md)
    python benchmarks/recursive.py --quick     # a smoke run

torch runs with one thread (``torch.set_num_threads(1)``): the machine is shared.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import data, env, models, report  # noqa: E402

import glas_core  # noqa: E402
from glas_core import metrics as M  # noqa: E402
from glas_core.normalize import minmax_normalize  # noqa: E402
from glas_adapters.torch import explain_recursive  # noqa: E402

THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)


def both_found(o: np.ndarray, boxes, level: float = 0.5) -> bool:
    """Whether the min-max normalised map exceeds ``level`` somewhere inside every box."""
    norm = minmax_normalize(o)
    return all(norm[M.box_to_mask(b, o.shape)].max() > level for b in boxes)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-images", type=int, default=None, help="two-instance test images (default 40, quick 3)")
    p.add_argument("--quick", action="store_true", help="tiny training, few images")
    p.add_argument("--max-iter", type=int, default=5)
    p.add_argument("--sigma", type=float, default=None, help="sigma in grid cells (default (5, 3, 6))")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--seed", type=int, default=4242)
    args = p.parse_args(argv)
    torch = env.setup_torch()
    n = args.n_images or (3 if args.quick else 40)
    config = models.QUICK_TRAIN if args.quick else models.TrainConfig()
    model = models.train_or_load(config, args.cache_dir)
    samples = data.make_dataset(n, args.seed, size=config.size, n_instances=2)
    by_iter: dict[str, list[np.ndarray]] = {k: [] for k in ("1", "2", "3", "A")}
    found: dict[str, list[bool]] = {k: [] for k in by_iter}
    gts, reasons, n_iters, forwards, seconds = [], Counter(), [], [], []
    for s in samples:
        x = torch.from_numpy(s.image)
        t0 = time.perf_counter()
        res = explain_recursive(model, x, targets=s.label, max_iter=args.max_iter, sigma=args.sigma)
        seconds.append(time.perf_counter() - t0)
        forwards.append(res.n_forward)
        maps = [glas_core.to_numpy(it.saliency).astype(np.float64) for it in res.iterations[0]]
        cumulative = np.cumsum(maps, axis=0)
        reasons[res.stop_reasons[0]] += 1
        n_iters.append(len(maps))
        gts.append(data.box_union(s))
        for key in by_iter:
            o = cumulative[-1] if key == "A" else cumulative[min(int(key), len(maps)) - 1]
            by_iter[key].append(o)
            found[key].append(both_found(o, s.boxes))
    rows = [[key] + [float(v) for v in M.mean_iou(by_iter[key], gts, THRESHOLDS)] + [float(np.mean(found[key]))]
            for key in by_iter]
    text = "\n".join([
        f"Recursive GLAS (Table 3 shape): {n} synthetic two-instance {config.size}x{config.size} images, "
        f"CNN accuracy on them {models.accuracy(model, samples):.3f}, sigma "
        f"{'(5, 3, 6)' if args.sigma is None else args.sigma} grid cells, k = 15",
        f"machine: {env.machine_line()}",
        "",
        report.markdown_table(["iteration"] + [f"IoU@{t}" for t in THRESHOLDS] + ["both found"], rows),
        "",
        f"iterations used: mean {np.mean(n_iters):.2f}, histogram {dict(sorted(Counter(n_iters).items()))}; "
        f"stop reasons {dict(reasons)}; forwards/img {np.mean(forwards):.0f}; ms/img {1000 * np.mean(seconds):.0f}",
    ])
    print(text)
    return text


if __name__ == "__main__":
    main()
