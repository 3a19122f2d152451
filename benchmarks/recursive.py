"""Table 3 of the GLAS paper: mean IoU of the Recursive GLAS map by iteration and threshold, against RISE.

Synthetic test images hold two instances of the same class; the ground truth is the union of
their boxes. After iteration i the map is O_i = w_1 S_1 + ... + w_i S_i (Algorithm 1, each S
min-max normalised; w = 1 with the paper's stop rule, the iteration's relative evidence with
``--stop evidence``); the IoU is taken on O_i min-max normalised and thresholded at 0.1 ... 0.9.
"A" is the final map under the stop rule (t1 = 0.8, t2 = 5, at most ``--max-iter``
iterations). A map that stopped before iteration i keeps its last O. An instance counts as found
where the normalised map exceeds 0.5 somewhere inside its box; "both found" is the share of
images with both. RISE-N (one run of N masks per image, every forward row counted) explains the
same images. With ``--stop evidence`` the rows "A (weight 1)" sum the same iterations with weight
1 (the evidence rule's stop, the paper's weights). ``--reuse-tol`` adds the measurement of
benchkit/reuse.py: the same loop rescoring only points whose masks overlap what was dimmed by
more than the tolerance.

    python benchmarks/recursive.py                                      # paper rule, 40 images
    python benchmarks/recursive.py --stop evidence --min-evidence 0.1   # the evidence rule
    python benchmarks/recursive.py --reuse-tol 0.01 0.05                # + the reuse measurement
    python benchmarks/recursive.py --quick                              # a smoke run

torch runs with one thread (``torch.set_num_threads(1)``): the machine is shared.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import data, env, models, report  # noqa: E402
from benchkit.methods import rise_method  # noqa: E402
from benchkit.reuse import recursive_with_reuse  # noqa: E402
from benchkit.timing import CountingModel  # noqa: E402

import glas_core  # noqa: E402
from glas_adapters.torch import explain_recursive  # noqa: E402
from glas_adapters.torch.scores import log_softmax  # noqa: E402
from glas_core import metrics as M  # noqa: E402
from glas_core.config import config_from  # noqa: E402
from glas_core.normalize import minmax_normalize  # noqa: E402

THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)
KEYS = ("1", "2", "3", "A")


def instances_found(o: np.ndarray, boxes, level: float = 0.5) -> int:
    """How many boxes hold a pixel where the min-max normalised map exceeds ``level``."""
    norm = minmax_normalize(o)
    return sum(bool(norm[M.box_to_mask(b, o.shape)].max() > level) for b in boxes)


def by_iteration(maps: list[np.ndarray], weights: list[float]) -> dict[str, np.ndarray]:
    """O_1, O_2, O_3 and the final O ("A") from the normalised maps and their weights."""
    cumulative = np.cumsum([w * m for w, m in zip(weights, maps)], axis=0)
    return {k: cumulative[-1] if k == "A" else cumulative[min(int(k), len(maps)) - 1] for k in KEYS}


def iou_rows(per_image: list[dict[str, np.ndarray]], samples: list[Any], keys=KEYS) -> list[list[Any]]:
    """Per key: mean IoU at each threshold and the share of images with both instances found."""
    gts = [data.box_union(s) for s in samples]
    rows = []
    for key in keys:
        maps = [o[key] for o in per_image]
        both = np.mean([instances_found(o, s.boxes) == 2 for o, s in zip(maps, samples)])
        rows.append([key] + [float(v) for v in M.mean_iou(maps, gts, THRESHOLDS)] + [float(both)])
    return rows


def found_row(name: str, maps: list[np.ndarray], samples: list[Any], forwards: list[int],
              seconds: list[float] | None) -> list[Any]:
    """Shares of images with both / one / no instance found, forward rows and milliseconds per image."""
    counts = Counter(instances_found(o, s.boxes) for o, s in zip(maps, samples))
    n = len(samples)
    return [name, counts[2] / n, counts[1] / n, counts[0] / n, f"{np.mean(forwards):.0f}",
            "-" if seconds is None else f"{1000 * np.mean(seconds):.0f}"]


def run_rglas(counted: CountingModel, samples: list[Any], args: argparse.Namespace) -> dict[str, Any]:
    """Recursive GLAS through the torch adapter on every image, forward rows counted on the model."""
    torch = env.setup_torch()
    out: dict[str, Any] = dict(per_image=[], reasons=Counter(), n_iters=[], forwards=[], seconds=[],
                               first_forwards=[], weights=[], unit=[], n_forward_agrees=True)
    for s in samples:
        counted.reset()
        t0 = time.perf_counter()
        res = explain_recursive(counted.module, torch.from_numpy(s.image), targets=s.label, max_iter=args.max_iter,
                                sigma=args.sigma, stop=args.stop, min_evidence=args.min_evidence, return_result=True)
        out["seconds"].append(time.perf_counter() - t0)
        out["forwards"].append(counted.rows)
        out["n_forward_agrees"] &= counted.rows == res.n_forward
        iters = res.iterations[0]
        out["first_forwards"].append(1 + 2 * iters[0].n_points)
        out["weights"].append([it.weight for it in iters])
        maps = [glas_core.to_numpy(it.saliency).astype(np.float64) for it in iters]
        out["per_image"].append(by_iteration(maps, [it.weight for it in iters]))
        out["unit"].append(by_iteration(maps, [1.0] * len(maps))["A"])  # the same iterations, each weighed 1
        out["reasons"][res.stop_reasons[0]] += 1
        out["n_iters"].append(len(iters))
    return out


def run_rise(counted: CountingModel, samples: list[Any], n_masks: int, cache: Path | None) -> dict[str, Any]:
    """One RISE run of ``n_masks`` masks per image (seed 0), forward rows counted on the model.

    With ``cache`` (a file for this model, these images and ``n_masks``) the maps, counts and
    times of an earlier run are read back, so the rule and sigma variants need not rerun it.
    """
    if cache is not None and cache.exists():
        with np.load(cache) as f:
            return dict(maps=list(f["maps"]), forwards=list(f["forwards"]), seconds=list(f["seconds"]), cached=True)
    torch = env.setup_torch()
    method = rise_method(f"RISE-{n_masks}", n_masks)
    out: dict[str, Any] = dict(maps=[], forwards=[], seconds=[])
    for s in samples:
        counted.reset()
        t0 = time.perf_counter()
        out["maps"].append(np.asarray(method.run(counted.module, torch.from_numpy(s.image), s.label), np.float64))
        out["seconds"].append(time.perf_counter() - t0)
        out["forwards"].append(counted.rows)
    if cache is not None:
        np.savez(cache, maps=np.stack(out["maps"]), forwards=out["forwards"], seconds=out["seconds"])
    return dict(out, cached=False)


def reuse_section(model: Any, samples: list[Any], args: argparse.Namespace, core: dict[str, Any]) -> str:
    """The reuse measurement: the reference loop without reuse, then each variant at each tolerance."""
    torch = env.setup_torch()
    size = samples[0].image.shape[-1]
    plan = config_from(None, sigma=args.sigma).resolve((size, size))
    settings = dict(max_iter=args.max_iter, stop=args.stop, min_evidence=args.min_evidence)

    def score_fn_of(label: int):
        def fn(batch: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return log_softmax(model(torch.from_numpy(np.ascontiguousarray(batch))).float())[:, label].numpy()
        return fn

    runs = [("none (reference)", None, "light")] + [(v, t, v) for v in ("light", "point") for t in args.reuse_tol]
    results = {}
    for name, tol, variant in runs:
        per_image, forwards, full, seconds = [], [], [], []
        for s in samples:
            t0 = time.perf_counter()
            r = recursive_with_reuse(score_fn_of(s.label), s.image, plan, tol=tol, variant=variant, **settings)
            seconds.append(time.perf_counter() - t0)
            per_image.append(by_iteration(r.maps, r.weights))
            forwards.append(r.n_forward - plan.rows.n_rows)  # rows after the first sweep, which is never reused
            full.append(r.n_full - plan.rows.n_rows)
        results[(name, tol)] = (iou_rows(per_image, samples), forwards, full, seconds)
    ref_rows = results[("none (reference)", None)][0]
    core_rows = iou_rows(core["per_image"], samples)
    table = []
    for (name, tol), (rows, forwards, full, seconds) in results.items():
        delta = max(abs(a - b) for r, q in zip(rows, ref_rows) for a, b in zip(r[1:-1], q[1:-1]))
        table.append([name, "-" if tol is None else tol] + rows[-1][1:] +
                     [f"{delta:.3f}", f"{np.mean(forwards) + plan.rows.n_rows:.0f}",
                      f"{np.mean(forwards):.0f}", f"{1 - sum(forwards) / max(sum(full), 1):.1%}",
                      f"{1000 * np.mean(seconds):.0f}"])
    core_delta = max(abs(a - b) for r, q in zip(core_rows, ref_rows) for a, b in zip(r[1:-1], q[1:-1]))
    same_cost = np.mean([a + plan.rows.n_rows == b
                         for a, b in zip(results[("none (reference)", None)][1], core["forwards"])])
    return "\n".join([
        "Reuse of far points' scores (benchkit/reuse.py; the A row, then the largest IoU change of rows 1, 2, 3, A "
        "at any threshold against the reference without reuse):",
        "",
        report.markdown_table(["reuse", "tol"] + [f"A IoU@{t}" for t in THRESHOLDS] +
                              ["A both found", "max dIoU", "forwards/img", "after the first sweep",
                               "saved of those", "ms/img"], table),
        "",
        f"reference without reuse against the adapter's maps: max |dIoU| {core_delta:.3f}, same forward count "
        f"on {same_cost:.0%} of the images",
    ])


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-images", type=int, default=None, help="two-instance test images (default 40, quick 3)")
    p.add_argument("--quick", action="store_true", help="tiny training, few images, RISE-400")
    p.add_argument("--max-iter", type=int, default=5)
    p.add_argument("--sigma", type=float, default=None, help="sigma in grid cells (default (5, 3, 6))")
    p.add_argument("--stop", choices=("paper", "evidence"), default="paper")
    p.add_argument("--min-evidence", type=float, default=0.1, help="with --stop evidence")
    p.add_argument("--rise", type=int, default=None, help="RISE masks per image (default 2000, quick 400)")
    p.add_argument("--reuse-tol", type=float, nargs="*", default=[], help="tolerances of the reuse measurement")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--seed", type=int, default=4242)
    args = p.parse_args(argv)
    env.setup_torch()
    n = args.n_images or (3 if args.quick else 40)
    n_masks = args.rise or (400 if args.quick else 2000)
    config = models.QUICK_TRAIN if args.quick else models.TrainConfig()
    model = models.train_or_load(config, args.cache_dir)
    samples = data.make_dataset(n, args.seed, size=config.size, n_instances=2)
    counted = CountingModel(model)
    rglas = run_rglas(counted, samples, args)
    cache = None if args.quick else (args.cache_dir or models.default_cache_dir()) / (
        f"rise_{config.key()}_{args.seed}_{n}_{n_masks}.npz")
    rise = run_rise(counted, samples, n_masks, cache)
    rise_name = f"RISE-{n_masks}"
    table3 = iou_rows(rglas["per_image"], samples)
    rise_row = iou_rows([{"A": m} for m in rise["maps"]], samples, keys=("A",))[0]
    if args.stop == "evidence":
        table3.append(["A (weight 1)"] + iou_rows([{"A": m} for m in rglas["unit"]], samples, keys=("A",))[0][1:])
    table3.append([rise_name] + rise_row[1:])
    finals = [o["A"] for o in rglas["per_image"]]
    firsts = [o["1"] for o in rglas["per_image"]]
    found = [found_row("GLAS (iteration 1)", firsts, samples, rglas["first_forwards"], None),
             found_row("RGLAS (A)", finals, samples, rglas["forwards"], rglas["seconds"]),
             found_row(rise_name, rise["maps"], samples, rise["forwards"], rise["seconds"])]
    if args.stop == "evidence":
        found.append(found_row("RGLAS (A, weight 1)", rglas["unit"], samples, rglas["forwards"], rglas["seconds"]))
    met = found[1][1] >= found[2][1] and np.mean(rglas["forwards"]) < np.mean(rise["forwards"])
    rule = "paper (t2 = 5)" if args.stop == "paper" else f"evidence (min_evidence = {args.min_evidence})"
    weights = [w for ws in rglas["weights"] for w in ws[1:]]
    lines = [
        f"Recursive GLAS (Table 3 shape): {n} synthetic two-instance {config.size}x{config.size} images, "
        f"CNN accuracy on them {models.accuracy(model, samples):.3f}, sigma "
        f"{'(5, 3, 6)' if args.sigma is None else args.sigma} grid cells, k = 15, stop rule {rule}",
        f"machine: {env.machine_line()}",
        "",
        report.markdown_table(["iteration"] + [f"IoU@{t}" for t in THRESHOLDS] + ["both found"], table3),
        "",
        f"iterations used: mean {np.mean(rglas['n_iters']):.2f}, histogram "
        f"{dict(sorted(Counter(rglas['n_iters']).items()))}; stop reasons {dict(rglas['reasons'])}; weights of "
        f"iterations 2+: {'none' if not weights else f'median {np.median(weights):.3f}, min {min(weights):.3f}'}",
        "",
        report.markdown_table(["method", "both found", "one found", "none found", "forwards/img", "ms/img"], found),
        "",
        f"goal (RGLAS finds both instances at least as often as {rise_name}, at fewer forward passes): "
        f"{'met' if met else 'NOT met'} (both found {found[1][1]:.3f} vs {found[2][1]:.3f}; forwards/img "
        f"{found[1][4]} vs {found[2][4]})" + ("" if rglas["n_forward_agrees"] else
                                               "; WARNING: counted rows differ from n_forward"),
    ]
    if rise["cached"]:
        lines.append(f"({rise_name}'s maps, forward counts and times were read from {cache.name}, an earlier run "
                     "on the same model and images)")
    if args.reuse_tol:
        lines += ["", reuse_section(model, samples, args, rglas)]
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
