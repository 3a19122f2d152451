"""Table 3 of the GLAS paper, and whether Recursive GLAS separates two instances, against RISE.

Synthetic test images hold two instances of the same class; the ground truth of the IoU is the
union of their boxes. After iteration i the map is O_i = w_1 S_1 + ... + w_i S_i (Algorithm 1,
each S min-max normalised; w = 1 with the paper's stop rule, the iteration's relative evidence
with ``--stop evidence``); the IoU is taken on O_i min-max normalised and thresholded at
0.1 ... 0.9. "A" is the final map under the stop rule (at most ``--max-iter``
iterations). A map that stopped before iteration i keeps its last O.

Two rules say whether a map found both instances (``glas_core.metrics``):

* **separated** (:func:`~glas_core.metrics.instances_separated`): min-max normalise, take the
  connected regions above 0.5, and for the two largest check that each centroid lies inside a
  different instance. One blob over both objects separates at most one; a flat map none.
* **touched** (:func:`~glas_core.metrics.instances_touched`, the older "found" rule): an instance
  counts where the normalised map exceeds 0.5 anywhere inside its box. One broad blob passes it.

RISE-N (one run of N masks per image, every forward row counted) explains the same images, and
maps that know nothing (a constant map, one high everywhere but one pixel, pixel noise and smooth
noise) show what each rule gives for free. The iteration table follows each image's loop: where
each iteration's map points, how much of the instances not found yet is left after the
dimming, the model's score on the dimmed image and whether the paper's t2 rule fired.
``--candidates`` measures the variants of the loop on the same images, each with its passes.

    python benchmarks/recursive.py                                      # paper rule, 40 images
    python benchmarks/recursive.py --separating                         # the setting that separates instances
    python benchmarks/recursive.py --candidates --n-images 40           # every variant, one table
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
from benchkit import data, env, figures, models, report  # noqa: E402
from benchkit.methods import rise_method  # noqa: E402
from benchkit.reuse import recursive_with_reuse  # noqa: E402
from benchkit.rise import bilinear_matrix  # noqa: E402
from benchkit.timing import CountingModel  # noqa: E402

import glas_core  # noqa: E402
from glas_adapters.torch import explain_recursive  # noqa: E402
from glas_adapters.torch.scores import log_softmax  # noqa: E402
from glas_core import metrics as M  # noqa: E402
from glas_core.config import config_from  # noqa: E402
from glas_core.recursive import SEPARATE_INSTANCES  # noqa: E402

THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)
KEYS = ("1", "2", "3", "A")

#: The setting of ``explain_recursive`` that separates instances best on these scenes (section 3 of
#: docs/benchmarks.md): fine masks, dimming only what the iteration found, the evidence stop, two iterations.
SEPARATING = dict(SEPARATE_INSTANCES)

#: The variants of the loop that ``--candidates`` measures: (name, keywords, how iterations combine).
#: ``later_sigma`` (grid cells of iterations 2+) and ``dim="region"`` (black out where S > t1) are not
#: options of ``explain_recursive``: they run on the reference loop of ``benchkit/reuse.py``.
CANDIDATES: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("paper (the default)", dict(), "sum"),
    ("paper, sigma 1", dict(sigma=1.0), "sum"),
    ("paper, sigma 1, max_iter 3", dict(sigma=1.0, max_iter=3), "sum"),
    ("paper, sigma 1, max_iter 2", dict(sigma=1.0, max_iter=2), "sum"),
    ("paper, sigma 1, combined by max", dict(sigma=1.0), "max"),
    ("evidence 0.1, sigma 1", dict(sigma=1.0, stop="evidence", min_evidence=0.1), "sum"),
    ("evidence 0.5, sigma 1", dict(sigma=1.0, stop="evidence", min_evidence=0.5), "sum"),
    ("evidence 0.5, sigma 1, max_iter 3", dict(sigma=1.0, stop="evidence", min_evidence=0.5, max_iter=3), "sum"),
    ("evidence 0.5, sigma 1, max_iter 2", dict(sigma=1.0, stop="evidence", min_evidence=0.5, max_iter=2), "sum"),
    ("above_t1, sigma 1", dict(sigma=1.0, dim="above_t1"), "sum"),
    ("above_t1, sigma 1, max_iter 3", dict(sigma=1.0, dim="above_t1", max_iter=3), "sum"),
    ("above_t1, sigma 1, max_iter 2", dict(sigma=1.0, dim="above_t1", max_iter=2), "sum"),
    ("above_t1, evidence 0.5, sigma 1", dict(SEPARATING, max_iter=5), "sum"),
    ("above_t1, evidence 0.5, sigma 1, combined by max", dict(SEPARATING, max_iter=5), "max"),
    ("above_t1, evidence 0.5, sigma 1, max_iter 3", dict(SEPARATING, max_iter=3), "sum"),
    ("above_t1, evidence 0.5, sigma 1, max_iter 2 (SEPARATE_INSTANCES)", dict(SEPARATING), "sum"),
    ("SEPARATE_INSTANCES, evidence 0.3", dict(SEPARATING, min_evidence=0.3), "sum"),
    ("SEPARATE_INSTANCES, k = 12", dict(SEPARATING, grid=12), "sum"),
    ("SEPARATE_INSTANCES, sigma 2", dict(SEPARATING, sigma=2.0), "sum"),
    ("SEPARATE_INSTANCES, region (reference loop)", dict(SEPARATING, dim="region"), "sum"),
    ("SEPARATE_INSTANCES, default sigma, later sigma 1 (reference loop)",
     dict(SEPARATING, sigma=None, later_sigma=1.0), "sum"),
)


def instance_masks(sample: Any) -> list[np.ndarray]:
    """Each instance's own pixels (body and head): the object mask inside its box."""
    return [sample.object_mask & M.box_to_mask(b, sample.object_mask.shape) for b in sample.boxes]


def box_masks(sample: Any) -> list[np.ndarray]:
    """Each instance's box as a mask (what both rules test against)."""
    return [M.box_to_mask(b, sample.object_mask.shape) for b in sample.boxes]


def separated(o: np.ndarray, sample: Any) -> int:
    """Instances the map separates (:func:`glas_core.metrics.instances_separated`, the boxes as instances)."""
    return M.instances_separated(o, box_masks(sample))


def touched(o: np.ndarray, sample: Any) -> int:
    """Instances whose box holds a pixel of the normalised map above 0.5 (the older rule)."""
    return M.instances_touched(o, box_masks(sample))


def by_iteration(maps: list[np.ndarray], weights: list[float], combine: str = "sum") -> dict[str, np.ndarray]:
    """O_1, O_2, O_3 and the final O ("A") from the normalised maps and their weights.

    ``combine="sum"`` is ``explain_recursive``'s O; ``"max"`` (the running maximum of the weighed
    maps) is a variant that ``--candidates`` measures on the same iterations.
    """
    weighed = [w * m for w, m in zip(weights, maps)]
    cumulative = (np.maximum.accumulate if combine == "max" else np.cumsum)(weighed, axis=0)
    return {k: cumulative[-1] if k == "A" else cumulative[min(int(k), len(maps)) - 1] for k in KEYS}


def iou_rows(per_image: list[dict[str, np.ndarray]], samples: list[Any], keys=KEYS) -> list[list[Any]]:
    """Per key: mean IoU at each threshold and the shares of images with both touched / both separated."""
    gts = [data.box_union(s) for s in samples]
    rows = []
    for key in keys:
        maps = [o[key] for o in per_image]
        both_touched = np.mean([touched(o, s) == 2 for o, s in zip(maps, samples)])
        both_separated = np.mean([separated(o, s) == 2 for o, s in zip(maps, samples)])
        rows.append([key] + [float(v) for v in M.mean_iou(maps, gts, THRESHOLDS)] +
                    [float(both_touched), float(both_separated)])
    return rows


def separation_row(name: str, maps: list[np.ndarray], samples: list[Any], forwards: list[int] | None,
                   seconds: list[float] | None) -> list[Any]:
    """Shares of images with both / one / no instance separated, both touched, forwards and ms per image."""
    counts = Counter(separated(o, s) for o, s in zip(maps, samples))
    n = len(samples)
    both_touched = np.mean([touched(o, s) == 2 for o, s in zip(maps, samples)])
    return [name, counts[2] / n, counts[1] / n, counts[0] / n, float(both_touched),
            "0" if forwards is None else f"{np.mean(forwards):.0f}",
            "-" if seconds is None else f"{1000 * np.mean(seconds):.0f}"]


def knowing_nothing(samples: list[Any], seed: int) -> dict[str, list[np.ndarray]]:
    """Maps that know nothing of the image: what each rule gives for free."""
    rng = np.random.default_rng(seed)
    size = samples[0].object_mask.shape[0]
    up = bilinear_matrix(8, size)
    nearly = np.ones((size, size))
    nearly[0, 0] = 0.0
    return {
        "constant map": [np.ones((size, size)) for _ in samples],
        "constant but one pixel": [nearly for _ in samples],
        "random map (pixel noise)": [rng.random((size, size)) for _ in samples],
        "random map (smooth, 8x8 cells)": [up @ rng.random((8, 8)) @ up.T for _ in samples],
    }


def _shade(s: np.ndarray, dim: str, t1: float) -> np.ndarray:
    """The map an iteration dims the image by (as ``explain_recursive(dim=...)`` does)."""
    return s if dim == "map" else np.where(s > t1, s, 0.0)


def run_rglas(counted: CountingModel, samples: list[Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Recursive GLAS through the torch adapter on every image, forward rows counted on the model."""
    torch = env.setup_torch()
    out: dict[str, Any] = dict(per_image=[], reasons=Counter(), n_iters=[], forwards=[], seconds=[],
                               first_forwards=[], weights=[], unit=[], iterations=[], n_forward_agrees=True)
    for s in samples:
        counted.reset()
        t0 = time.perf_counter()
        res = explain_recursive(counted.module, torch.from_numpy(s.image), targets=s.label, return_result=True,
                                **settings)
        out["seconds"].append(time.perf_counter() - t0)
        out["forwards"].append(counted.rows)
        out["n_forward_agrees"] &= counted.rows == res.n_forward
        iters = res.iterations[0]
        out["first_forwards"].append(1 + 2 * iters[0].n_points)
        out["weights"].append([it.weight for it in iters])
        maps = [glas_core.to_numpy(it.saliency).astype(np.float64) for it in iters]
        out["iterations"].append([(m, it) for m, it in zip(maps, iters)])
        out["per_image"].append(by_iteration(maps, [it.weight for it in iters]))
        out["unit"].append(by_iteration(maps, [1.0] * len(maps))["A"])  # the same iterations, each weighed 1
        out["reasons"][res.stop_reasons[0]] += 1
        out["n_iters"].append(len(iters))
    return out


def run_reference(model: Any, samples: list[Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The variants ``explain_recursive`` does not offer, on the reference loop of ``benchkit/reuse.py``.

    It reproduces the adapter's maps and forward counts where the two overlap (``--reuse-tol``
    checks it); its rows are counted by the loop itself.
    """
    torch = env.setup_torch()
    size = samples[0].image.shape[-1]
    grid = settings.get("grid")
    plan = config_from(None, sigma=settings.get("sigma"), grid=grid).resolve((size, size))
    later = settings.get("later_sigma")
    later_px = None if later is None else config_from(None, sigma=later, grid=grid).resolve((size, size)).sigma_px
    loop = {k: settings[k] for k in ("t1", "t2", "max_iter", "stop", "min_evidence", "dim") if k in settings}
    out: dict[str, Any] = dict(per_image=[], reasons=Counter(), n_iters=[], forwards=[], seconds=[],
                               first_forwards=[], weights=[], unit=[], iterations=[], n_forward_agrees=True)
    for s in samples:
        def fn(batch: np.ndarray, label: int = s.label) -> np.ndarray:
            with torch.no_grad():
                return log_softmax(model(torch.from_numpy(np.ascontiguousarray(batch))).float())[:, label].numpy()

        t0 = time.perf_counter()
        r = recursive_with_reuse(fn, s.image, plan, tol=None, later_sigma_px=later_px, **loop)
        out["seconds"].append(time.perf_counter() - t0)
        out["forwards"].append(r.n_forward)
        out["first_forwards"].append(plan.rows.n_rows)
        out["weights"].append(list(r.weights))
        out["per_image"].append(by_iteration(r.maps, r.weights))
        out["reasons"][r.stop_reason] += 1
        out["n_iters"].append(len(r.maps))
    return out


def _centroid_instance(centroid: tuple[float, ...], masks: list[np.ndarray]) -> int | None:
    idx = tuple(int(np.clip(np.floor(c + 0.5), 0, n - 1)) for c, n in zip(centroid, masks[0].shape))
    hits = [i for i, m in enumerate(masks) if m[idx]]
    return hits[0] if hits else None


def iteration_picture(rglas: dict[str, Any], samples: list[Any], settings: dict[str, Any]) -> list[list[Any]]:
    """Per iteration: where its map points, what the dimming left, the score after it, and the stop."""
    dim, t1, t2 = settings.get("dim", "map"), float(settings.get("t1", 0.8)), float(settings.get("t2", 5.0))
    rows = []
    for i in range(int(settings.get("max_iter", 5))):
        ran = [(k, its) for k, its in enumerate(rglas["iterations"]) if len(its) > i]
        if not ran:
            break
        in_inst, new_inst, left_new, left_bg, after, fired, sep_o, weights = [], [], [], [], [], [], [], []
        for k, its in ran:
            sample = samples[k]
            boxes, pixels = box_masks(sample), instance_masks(sample)
            background = ~data.box_union(sample)
            keep = np.ones(sample.object_mask.shape)
            found: set[int] = set()  # instances the largest region of an earlier iteration pointed at
            for j, (s, _) in enumerate(its[: i + 1]):
                keep = keep * (1.0 - _shade(s, dim, t1))
                centroids = M.separated_regions(s, n_regions=1)
                hit = _centroid_instance(centroids[0], boxes) if centroids else None
                if j < i and hit is not None:
                    found.add(hit)
            s, it = its[i]
            in_inst.append(hit is not None)
            new_inst.append(hit is not None and hit not in found)
            unfound = [p for n, p in enumerate(pixels) if n not in found | {hit} and p.any()]
            if unfound:
                left_new.append(float(np.mean([keep[p].mean() for p in unfound])))
            left_bg.append(float(keep[background].mean()) if background.any() else float("nan"))
            after.append(it.score_after)
            fired.append(it.criterion >= t2)
            weights.append(it.weight)
            o = by_iteration([m for m, _ in its[: i + 1]], [w.weight for _, w in its[: i + 1]])["A"]
            sep_o.append(separated(o, sample) == 2)
        rows.append([str(i + 1), len(ran), float(np.mean(in_inst)), float(np.mean(new_inst)),
                     float(np.mean(left_new)) if left_new else float("nan"), float(np.mean(left_bg)),
                     float(np.median(after)), int(np.sum(fired)), float(np.median(weights)), float(np.mean(sep_o))])
    return rows


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


def reuse_section(model: Any, samples: list[Any], tolerances: list[float], loop: dict[str, Any],
                  core: dict[str, Any]) -> str:
    """The reuse measurement: the reference loop without reuse, then each variant at each tolerance."""
    torch = env.setup_torch()
    size = samples[0].image.shape[-1]
    plan = config_from(None, sigma=loop.get("sigma"), grid=loop.get("grid")).resolve((size, size))
    settings = {k: loop[k] for k in ("max_iter", "stop", "min_evidence", "dim") if k in loop}

    def score_fn_of(label: int):
        def fn(batch: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return log_softmax(model(torch.from_numpy(np.ascontiguousarray(batch))).float())[:, label].numpy()
        return fn

    runs = [("none (reference)", None, "light")] + [(v, t, v) for v in ("light", "point") for t in tolerances]
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
        delta = max(abs(a - b) for r, q in zip(rows, ref_rows) for a, b in zip(r[1:-2], q[1:-2]))
        table.append([name, "-" if tol is None else tol] + rows[-1][1:] +
                     [f"{delta:.3f}", f"{np.mean(forwards) + plan.rows.n_rows:.0f}",
                      f"{np.mean(forwards):.0f}", f"{1 - sum(forwards) / max(sum(full), 1):.1%}",
                      f"{1000 * np.mean(seconds):.0f}"])
    core_delta = max(abs(a - b) for r, q in zip(core_rows, ref_rows) for a, b in zip(r[1:-2], q[1:-2]))
    same_cost = np.mean([a + plan.rows.n_rows == b
                         for a, b in zip(results[("none (reference)", None)][1], core["forwards"])])
    return "\n".join([
        "Reuse of far points' scores (benchkit/reuse.py; the A row, then the largest IoU change of rows 1, 2, 3, A "
        "at any threshold against the reference without reuse):",
        "",
        report.markdown_table(["reuse", "tol"] + [f"A IoU@{t}" for t in THRESHOLDS] +
                              ["A both touched", "A both separated", "max dIoU", "forwards/img",
                               "after the first sweep", "saved of those", "ms/img"], table),
        "",
        f"reference without reuse against the adapter's maps: max |dIoU| {core_delta:.3f}, same forward count "
        f"on {same_cost:.0%} of the images",
    ])


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The explain_recursive keywords the command line asks for (defaults left out)."""
    if args.separating:
        return dict(SEPARATING)
    given = dict(max_iter=args.max_iter, sigma=args.sigma, grid=args.grid, stop=args.stop,
                 min_evidence=args.min_evidence, dim=args.dim)
    defaults = dict(sigma=None, grid=None, stop="paper", min_evidence=0.1, dim="map")
    return {k: v for k, v in given.items() if k not in defaults or v != defaults[k]}


def describe(settings: dict[str, Any]) -> str:
    """One line of the settings, as the table headers name them."""
    sigma = settings.get("sigma")
    stop = settings.get("stop", "paper")
    rule = "paper (t2 = 5)" if stop == "paper" else f"evidence (min_evidence = {settings.get('min_evidence', 0.1)})"
    parts = [f"sigma {'(5, 3, 6)' if sigma is None else sigma} grid cells", f"k = {settings.get('grid') or 15}",
             f"stop rule {rule}", f"dim {settings.get('dim', 'map')}", f"at most {settings.get('max_iter', 5)} "
             "iterations"]
    return ", ".join(parts)


def candidates_section(counted: CountingModel, model: Any, samples: list[Any], rise: dict[str, Any],
                       rise_name: str) -> str:
    """Every variant of :data:`CANDIDATES` on the same images: separation, coverage, IoU and passes."""
    gts = [data.box_union(s) for s in samples]
    rows = []
    for name, extra, combine in CANDIDATES:
        settings = {k: v for k, v in dict(dict(max_iter=5), **extra).items() if v is not None}
        t0 = time.perf_counter()
        if "later_sigma" in settings or settings.get("dim") == "region":
            run = run_reference(model, samples, settings)
        else:
            run = run_rglas(counted, samples, settings)
        per_image = [by_iteration([m for m, _ in its], [it.weight for _, it in its], combine)
                     for its in run["iterations"]] if combine != "sum" else run["per_image"]
        finals = [o["A"] for o in per_image]
        firsts = [o["1"] for o in per_image]
        sep = [separated(o, s) for o, s in zip(finals, samples)]
        rows.append([name, float(np.mean([v == 2 for v in sep])), float(np.mean(sep)),
                     float(np.mean([separated(o, s) == 2 for o, s in zip(firsts, samples)])),
                     float(np.mean([touched(o, s) == 2 for o, s in zip(finals, samples)])),
                     float(M.mean_iou(finals, gts, (0.5,))[0]), f"{np.mean(run['forwards']):.0f}",
                     f"{np.mean(run['n_iters']):.2f}", ", ".join(f"{k}: {v}" for k, v in run["reasons"].most_common())])
        print(f"  {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    rise_sep = [separated(m, s) for m, s in zip(rise["maps"], samples)]
    rows.append([rise_name, float(np.mean([v == 2 for v in rise_sep])), float(np.mean(rise_sep)), "-",
                 float(np.mean([touched(m, s) == 2 for m, s in zip(rise["maps"], samples)])),
                 float(M.mean_iou(rise["maps"], gts, (0.5,))[0]), f"{np.mean(rise['forwards']):.0f}", "-", "-"])
    return "\n".join([
        f"Candidates (every variant on the same {len(samples)} images; sigma in grid cells, k = 15 and at most 5 "
        "iterations unless named; 'iteration 1' is the first sweep's map alone; IoU@0.5 of the final map):",
        "",
        report.markdown_table(["variant", "both separated", "mean separated", "iteration 1 both separated",
                               "both touched", "IoU@0.5", "forwards/img", "iterations", "stop reasons"], rows),
    ])


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-images", type=int, default=None, help="two-instance test images (default 40, quick 3)")
    p.add_argument("--quick", action="store_true", help="tiny training, few images, RISE-400")
    p.add_argument("--max-iter", type=int, default=5)
    p.add_argument("--sigma", type=float, default=None, help="sigma in grid cells (default (5, 3, 6))")
    p.add_argument("--grid", type=int, default=None, help="k search points per axis (default 15)")
    p.add_argument("--stop", choices=("paper", "evidence"), default="paper")
    p.add_argument("--min-evidence", type=float, default=0.1, help="with --stop evidence")
    p.add_argument("--dim", choices=("map", "above_t1"), default="map", help="what each iteration dims")
    p.add_argument("--separating", action="store_true",
                   help="the setting that separates instances (SEPARATING); overrides the loop options")
    p.add_argument("--rise", type=int, default=None, help="RISE masks per image (default 2000, quick 400)")
    p.add_argument("--reuse-tol", type=float, nargs="*", default=[], help="tolerances of the reuse measurement")
    p.add_argument("--candidates", action="store_true", help="also measure every variant of CANDIDATES")
    p.add_argument("--figure", type=Path, default=None, help="PNG of the iteration maps of the first images")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--size", type=int, default=None,
                   help="side of the test images in pixels (default: the CNN's training size, 64)")
    p.add_argument("--seed", type=int, default=4242)
    args = p.parse_args(argv)
    env.setup_torch()
    n = args.n_images or (3 if args.quick else 40)
    n_masks = args.rise or (400 if args.quick else 2000)
    config = models.QUICK_TRAIN if args.quick else models.TrainConfig()
    model = models.train_or_load(config, args.cache_dir)
    size = args.size or config.size  # the CNN pools globally: it takes any size
    samples = data.make_dataset(n, args.seed, size=size, n_instances=2)
    counted = CountingModel(model)
    settings = settings_of(args)
    rglas = run_rglas(counted, samples, settings)
    cache = None if args.quick else (args.cache_dir or models.default_cache_dir()) / (
        f"rise_{config.key()}_{args.seed}_{n}_{n_masks}{'' if size == config.size else f'_{size}px'}.npz")
    rise = run_rise(counted, samples, n_masks, cache)
    rise_name = f"RISE-{n_masks}"
    table3 = iou_rows(rglas["per_image"], samples)
    rise_row = iou_rows([{"A": m} for m in rise["maps"]], samples, keys=("A",))[0]
    evidence = settings.get("stop") == "evidence"
    if evidence:
        table3.append(["A (weight 1)"] + iou_rows([{"A": m} for m in rglas["unit"]], samples, keys=("A",))[0][1:])
    table3.append([rise_name] + rise_row[1:])
    finals = [o["A"] for o in rglas["per_image"]]
    firsts = [o["1"] for o in rglas["per_image"]]
    methods = [separation_row("GLAS (iteration 1)", firsts, samples, rglas["first_forwards"], None),
               separation_row("RGLAS (A)", finals, samples, rglas["forwards"], rglas["seconds"]),
               separation_row(rise_name, rise["maps"], samples, rise["forwards"], rise["seconds"])]
    if evidence:
        methods.append(separation_row("RGLAS (A, weight 1)", rglas["unit"], samples, rglas["forwards"],
                                      rglas["seconds"]))
    free = [separation_row(name, maps, samples, None, None)
            for name, maps in knowing_nothing(samples, args.seed).items()]
    methods += free
    chance = max(row[1] for row in free)  # what a map that knows nothing separates
    met = (methods[1][1] >= methods[2][1] and methods[1][1] > chance
           and np.mean(rglas["forwards"]) < np.mean(rise["forwards"]))
    weights = [w for ws in rglas["weights"] for w in ws[1:]]
    picture = iteration_picture(rglas, samples, settings)
    lines = [
        f"Recursive GLAS (Table 3 shape): {n} synthetic two-instance {size}x{size} images, "
        f"CNN accuracy on them {models.accuracy(model, samples):.3f}, {describe(settings)}",
        f"machine: {env.machine_line()}",
        "",
        report.markdown_table(["iteration"] + [f"IoU@{t}" for t in THRESHOLDS] + ["both touched", "both separated"],
                              table3),
        "",
        f"iterations used: mean {np.mean(rglas['n_iters']):.2f}, histogram "
        f"{dict(sorted(Counter(rglas['n_iters']).items()))}; stop reasons {dict(rglas['reasons'])}; weights of "
        f"iterations 2+: {'none' if not weights else f'median {np.median(weights):.3f}, min {min(weights):.3f}'}",
        "",
        "Iteration by iteration (images that ran it; where the largest region of S_i above 0.5 has its centroid; "
        "the brightness left, after this iteration's dimming, on the instances that no iteration so far pointed at "
        "and on the background outside the boxes; the median P(y) on the dimmed image; images where "
        "sqrt(mean(S)/P) >= t2; the median weight; O_i both separated):",
        "",
        report.markdown_table(["iteration", "images", "S_i in an instance", "S_i in a new instance",
                               "left on unfound instances", "left on background", "P(y) after",
                               "t2 fired", "weight", "O_i both separated"], picture),
        "",
        report.markdown_table(["method", "both separated", "one separated", "none separated", "both touched",
                               "forwards/img", "ms/img"], methods),
        "",
        f"goal (RGLAS separates both instances at least as often as {rise_name} and more often than a map that "
        f"knows nothing, at fewer forward passes): {'met' if met else 'NOT met'} (both separated "
        f"{methods[1][1]:.3f} vs {methods[2][1]:.3f}, best map that knows nothing {chance:.3f}; forwards/img "
        f"{methods[1][5]} vs {methods[2][5]})" + ("" if rglas["n_forward_agrees"] else
                                                 "; WARNING: counted rows differ from n_forward"),
    ]
    if rise["cached"]:
        lines.append(f"({rise_name}'s maps, forward counts and times were read from {cache.name}, an earlier run "
                     "on the same model and images)")
    if args.candidates:
        lines += ["", candidates_section(counted, model, samples, rise, rise_name)]
    if args.reuse_tol:
        lines += ["", reuse_section(model, samples, args.reuse_tol, settings, rglas)]
    if args.figure is not None:
        figures.save_iterations(args.figure, [s.image for s in samples], [s.boxes for s in samples],
                                [[m for m, _ in its] for its in rglas["iterations"]], finals,
                                max_images=6, max_iterations=min(int(settings.get("max_iter", 5)), 3),
                                title=describe(settings))
        lines.append(f"(figure: {args.figure})")
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
