"""Adaptive coarse-to-fine search and sigma chosen per image, against the exhaustive multi-scale run.

Every image is explained at sigma = 5, 3, 1 grid cells (k = 15) three ways: exhaustive (one full
sweep per scale), adaptive (finer scales sweep only the points where the previous map is at least
``keep`` of its peak, for several ``keep``), and ``glas_core.explain_auto`` (the finest informative
of 5, 3, 2, 1 per image). With ``--top-k K`` each sweep scores K classes at once (the image's class
first, then the K - 1 most probable others), so the adaptive search refines the union of their
evidence; the scores below are those of the first class's maps. Printed side by side, from one run:
forward passes per image relative to the exhaustive run, and the pointing game (paper rule) of each
run's maps, against the best fixed sigma chosen with hindsight.

- The synthetic localisation set (the CNN of ``benchkit/models.py``): part hit, PT and PT-small of
  the finest map, PT of the coarsest.
- ``--photos``: the scikit-image photos of ``real_photos.py`` with their hand-drawn boxes,
  EfficientNet-Lite0 at 224 px explaining the annotated class: PT of every scale's map, and the
  photos the finest map misses.

    python benchmarks/adaptive.py                        # the synthetic set (docs/benchmarks.md)
    python benchmarks/adaptive.py --photos --keep 0.5 0.7 0.8 0.9 --top-k 1 3
    python benchmarks/adaptive.py --quick [--photos]     # smoke runs: a few images, small grids

GLAS scores log-probabilities (``glas_core.log_probabilities``, as the adapters do). torch runs with
one thread. The runs compared on one image share most perturbed rows, so the model runs through
``benchkit.rowcache.RowCache`` (each distinct row scored once); the passes reported are the ones
each method needs (``n_forward``), and the last line gives the rows the model actually scored.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import data, env, models, report  # noqa: E402
from benchkit.rowcache import RowCache  # noqa: E402

import glas_core  # noqa: E402
from glas_core import metrics as M  # noqa: E402

SIGMAS = (5.0, 3.0, 1.0)
AUTO_SIGMAS = (5.0, 3.0, 2.0, 1.0)


def log_score_fn(model: Callable[[Any], Any], targets: Sequence[int]) -> Callable[[Any], Any]:
    """``(B, T)`` log-probabilities of ``targets`` (``glas_core.log_probabilities``: exact when saturated)."""
    import torch

    def score(batch):
        with torch.no_grad():
            return glas_core.log_probabilities(model(batch), list(targets))

    return score


def targets_for(model: Callable[[Any], Any], x: Any, label: int, k: int) -> list[int]:
    """``label`` and the ``k - 1`` classes the model finds most probable on ``x`` besides it."""
    import torch

    with torch.no_grad():
        order = torch.argsort(model(x[None])[0], descending=True).tolist()
    return [label] + [c for c in order if c != label][: k - 1]


@dataclass
class Run:
    """One way of explaining, over all images: passes and the first target's maps per image."""

    name: str
    passes: list[int] = field(default_factory=list)
    maps: list[list[np.ndarray]] = field(default_factory=list)  # per image, one map per scale, coarse to fine


@dataclass
class Comparison:
    """Every run of one target count, plus what auto sigma chose per image."""

    runs: dict[str, Run]
    fixed: dict[float, Run]
    auto_chose: list[float]


def _first_target(results: Sequence[glas_core.GLASResult]) -> list[np.ndarray]:
    return [r.to_numpy()[0] for r in results]


def _add_run(runs: dict[str, Run], name: str, results: Sequence[glas_core.GLASResult]) -> None:
    run = runs.setdefault(name, Run(name))
    run.passes.append(sum(r.n_forward for r in results))
    run.maps.append(_first_target(results))


def compare(model: Callable[[Any], Any], xs: Sequence[Any], labels: Sequence[int], keeps: Sequence[float],
            grid: int, top_ks: Sequence[int]) -> dict[int, Comparison]:
    """Explain every image every way, for each target count in ``top_ks``; one image at a time, so the
    model's cache (``model.clear()`` when it has one) holds a single image's rows."""
    out = {k: Comparison({}, {}, []) for k in top_ks}
    for x, label in zip(xs, labels):
        for k in top_ks:
            f = log_score_fn(model, targets_for(model, x, label, k))
            runs = out[k].runs
            _add_run(runs, "exhaustive", glas_core.explain_multiscale(f, x, SIGMAS, grid=grid, log_scores=True))
            for keep in keeps:
                _add_run(runs, f"adaptive, keep={keep:g}", glas_core.explain_multiscale(
                    f, x, SIGMAS, grid=grid, log_scores=True, adaptive=True, keep=keep))
            for s in AUTO_SIGMAS:
                r = glas_core.explain(f, x, grid=grid, sigma=s, log_scores=True)
                run = out[k].fixed.setdefault(s, Run(f"sigma={s:g}"))
                run.passes.append(r.n_forward)
                run.maps.append(_first_target([r]))
            auto = glas_core.explain_auto(f, x, AUTO_SIGMAS, grid=grid, log_scores=True)
            run = runs.setdefault("auto", Run("auto"))
            run.passes.append(auto.n_forward)
            run.maps.append([auto.to_numpy()[0]])
            out[k].auto_chose.append(float(auto.sigmas[0]))
        if hasattr(model, "clear"):
            model.clear()
    return out


def localisation(maps: list[np.ndarray], samples: list[data.Sample]) -> tuple[float, float, float]:
    """Part hit, PT and PT-small of one map per sample."""
    boxes = [data.box_union(s) for s in samples]
    small = [M.is_small(b) for b in boxes]
    part = M.pointing_game(maps, [s.part_mask for s in samples]).accuracy
    pt = M.pointing_game(maps, boxes).accuracy
    pt_small = M.pointing_game([m for m, k in zip(maps, small) if k], [b for b, k in zip(boxes, small) if k]).accuracy
    return part, pt, pt_small


def _auto_name() -> str:
    return f"auto sigma ({'/'.join(f'{s:g}' for s in AUTO_SIGMAS)})"


def _chose_line(chose: list[float]) -> str:
    return "auto sigma chose: " + ", ".join(f"{s:g}: {chose.count(s)}" for s in AUTO_SIGMAS)


def synthetic_rows(c: Comparison, samples: list[data.Sample]) -> list[list]:
    """Table rows of the synthetic set: passes, finest map's part hit / PT / PT-small, coarsest PT."""
    full = np.mean(c.runs["exhaustive"].passes)
    rows = []
    for name, run in c.runs.items():
        passes = np.mean(run.passes)
        finest = localisation([m[-1] for m in run.maps], samples)
        coarse = localisation([m[0] for m in run.maps], samples)[1] if name != "auto" else float("nan")
        rows.append([_auto_name() if name == "auto" else name, f"{passes:.0f}", f"{passes / full:.2f}", *finest,
                     coarse])
    best_sigma, best = max(((s, localisation([m[0] for m in r.maps], samples)) for s, r in c.fixed.items()),
                           key=lambda t: t[1][0])
    fixed_passes = np.mean(c.fixed[best_sigma].passes)
    rows.append([f"best fixed sigma with hindsight ({best_sigma:g})", f"{fixed_passes:.0f}",
                 f"{fixed_passes / full:.2f}", *best, float("nan")])
    rows.append([_chose_line(c.auto_chose), "", "", "", "", "", ""])
    return rows


def photo_rows(c: Comparison, names: list[str], masks: list[np.ndarray]) -> list[list]:
    """Table rows of the photos: passes, PT of each scale's map, the photos the finest map misses."""
    full = np.mean(c.runs["exhaustive"].passes)

    def hits(maps: list[np.ndarray]) -> np.ndarray:
        return M.pointing_game(maps, masks).hit_per_image

    def row(name: str, passes: float, per_scale: list[float], finest: np.ndarray) -> list:
        missed = ", ".join(n for n, h in zip(names, finest) if not h) or "none"
        return [name, f"{passes:.0f}", f"{passes / full:.2f}", *per_scale, float(finest.mean()), missed]

    rows = []
    for name, run in c.runs.items():
        scales = [hits([m[j] for m in run.maps]) for j in range(len(run.maps[0]))]
        coarser = [float(h.mean()) for h in scales[:-1]] if name != "auto" else [float("nan")] * (len(SIGMAS) - 1)
        rows.append(row(_auto_name() if name == "auto" else name, np.mean(run.passes), coarser, scales[-1]))
    best_sigma, best = max(((s, hits([m[0] for m in r.maps])) for s, r in c.fixed.items()),
                           key=lambda t: float(t[1].mean()))
    rows.append(row(f"best fixed sigma with hindsight ({best_sigma:g})", np.mean(c.fixed[best_sigma].passes),
                    [float("nan")] * (len(SIGMAS) - 1), best))
    rows.append([_chose_line(c.auto_chose), "", "", "", "", "", ""])
    return rows


def _k_title(k: int) -> str:
    return ("one class per sweep (the image's)" if k == 1 else
            f"top-{k}: {k} classes per sweep (the image's, then the {k - 1} most probable others); "
            "scores of the image's class")


def run_synthetic(args: argparse.Namespace) -> list[str]:
    n = args.n_images or (4 if args.quick else 60)
    config = models.QUICK_TRAIN if args.quick else models.TrainConfig()
    grid = 6 if args.quick else args.grid
    model = models.train_or_load(config, args.cache_dir)
    samples = data.make_dataset(n, args.seed, size=config.size)
    import torch

    cached = RowCache(model)
    result = compare(cached, [torch.from_numpy(s.image) for s in samples], [s.label for s in samples], args.keep,
                     grid, args.top_k)
    lines = [f"Adaptive coarse-to-fine ({'/'.join(f'{s:g}' for s in SIGMAS)} grid cells, k={grid}) and auto sigma: "
             f"{n} synthetic {config.size}x{config.size} images, "
             f"CNN test accuracy {models.accuracy(model, samples):.3f}",
             f"machine: {env.machine_line()}"]
    for k, c in result.items():
        lines += ["", _k_title(k), "",
                  report.markdown_table(["run", "forwards/img", "vs exhaustive", "part hit (finest)", "PT (finest)",
                                         "PT-small (finest)", "PT (coarsest)"], synthetic_rows(c, samples))]
    lines += ["", "Pointing game, paper rule; part hit: the discriminative part's mask; auto sigma: the finest scale "
              "whose best shadow removes >= 5% of the clean probability.", _cache_line(cached)]
    return lines


def run_photos(args: argparse.Namespace) -> list[str]:
    import torch

    import real_photos

    size = 64 if args.quick else real_photos.SIZE
    grid = 4 if args.quick else args.grid
    photos = real_photos.load_photos()[: args.n_images or (1 if args.quick else None)]
    model = real_photos.load_model("cpu")
    xs, masks = [], []
    for _, img, _, _, box in photos:
        x = torch.from_numpy(img)
        if size != real_photos.SIZE:  # quick runs: the 224 px photo shrunk, its box scaled with it
            x = torch.nn.functional.interpolate(x[None], size=(size, size), mode="bilinear", antialias=True)[0]
            box = tuple(v * size / real_photos.SIZE for v in box)
        xs.append(x.contiguous())
        masks.append(M.box_to_mask(box, (size, size)))
    cached = RowCache(model)
    result = compare(cached, xs, [ph[2] for ph in photos], args.keep, grid, args.top_k)
    names = [ph[0] for ph in photos]
    scale_cols = [f"PT (sigma={s:g})" for s in SIGMAS[:-1]]
    lines = [f"Adaptive coarse-to-fine ({'/'.join(f'{s:g}' for s in SIGMAS)} grid cells, k={grid}) and auto sigma: "
             f"EfficientNet-Lite0 (ImageNet), {len(photos)} scikit-image photos at {size}x{size}",
             f"machine: {env.machine_line()}",
             "photos: " + ", ".join(f"{ph[0]} -> {ph[3]} ({ph[2]})" for ph in photos)]
    for k, c in result.items():
        lines += ["", _k_title(k), "",
                  report.markdown_table(["run", "forwards/photo", "vs exhaustive", *scale_cols,
                                         f"PT (finest, sigma={SIGMAS[-1]:g})", "finest misses"],
                                        photo_rows(c, names, masks))]
    lines += ["", "Pointing game, paper rule (the map's maximum inside the hand-drawn box); auto sigma: its chosen "
              "map in the finest column.", _cache_line(cached)]
    return lines


def _cache_line(cache: RowCache) -> str:
    return f"model rows scored: {cache.misses} of {cache.misses + cache.hits} asked (the rest were equal rows, reused)"


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", action="store_true", help="the scikit-image photos with EfficientNet-Lite0")
    p.add_argument("--n-images", type=int, default=None, help="images (default 60 synthetic / all 6 photos; quick 4/1)")
    p.add_argument("--quick", action="store_true", help="few images, small grid (photos: 64 px, k=4)")
    p.add_argument("--keep", type=float, nargs="+", default=[0.3, 0.5, 0.7, 0.8, 0.9], help="adaptive keep values")
    p.add_argument("--top-k", type=int, nargs="+", default=[1], help="classes per sweep, one table each")
    p.add_argument("--grid", type=int, default=15)
    p.add_argument("--cache-dir", type=Path, default=None, help="where the trained CNN is cached")
    p.add_argument("--seed", type=int, default=12345, help="seed of the synthetic test images")
    args = p.parse_args(argv)
    if any(k < 1 for k in args.top_k):
        p.error(f"--top-k takes positive counts, got {args.top_k}")
    env.setup_torch()
    text = "\n".join(run_photos(args) if args.photos else run_synthetic(args))
    print(text)
    return text


if __name__ == "__main__":
    main()
