"""Faithfulness of GLAS and its peers, scored by the peers' own metrics (Quantus), in one run.

Every explainer explains the same images for the same class; Quantus then scores each map:
deletion and insertion (areas under the probability curves, 48 steps on the synthetic set,
24 on the photos), faithfulness correlation (Bhatt et al.; Xplique's MuFidelity) and the
pointing game (see ``benchkit/faith_metrics.py``). Peers: Captum's Occlusion, FeatureAblation,
KernelShap and LayerGradCam, and RISE, each at about GLAS's number of forward passes where it
has a budget. GLAS runs as the adapters run it (log-probability scores); its variants are other
readings of the same sweep (``benchkit/glas_variants.py``) and the product with a second, finer
sweep. Two sets: the synthetic test images of ``localisation.py`` with their CNN (every variant,
100 correlation runs), and the annotated photos of ``real_photos.py`` with EfficientNet-Lite0
(the variants of ``PHOTO_VARIANTS``, 20 correlation runs: each map costs EfficientNet rows).

    python benchmarks/faithfulness.py                                 # both sets, k = 15
    python benchmarks/faithfulness.py --set synthetic                 # one set
    python benchmarks/faithfulness.py --set photos --photo-grid 10    # the photos at k = 10 (201 rows)
    python benchmarks/faithfulness.py --quick                         # a smoke run on a handful of images

torch runs with one thread (``torch.set_num_threads(1)``): the machine is shared and
single-thread timings compare the methods fairly. pytorch-grad-cam (GradCAM, ScoreCAM) is not
among the peers: it imports torchvision, which the project does not install.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import data, env, models, report  # noqa: E402
from benchkit import faith_metrics as F  # noqa: E402
from benchkit import glas_variants as V  # noqa: E402
from benchkit.methods import (  # noqa: E402
    Method,
    feature_ablation_method,
    gradcam_method,
    kernelshap_method,
    occlusion_method,
    rise_method,
)
from benchkit.timing import run_methods  # noqa: E402

GLAS = "GLAS"
FINE = "GLAS (sigma=1)"
PRODUCT = "multi-scale product"


@dataclass
class EvalSet:
    """One set: model, images, targets, ground-truth masks, the peers and the metric settings."""

    name: str
    model: Any
    images: list[np.ndarray]
    targets: list[int]
    masks: dict[str, list[np.ndarray]]
    peers: list[Method]
    grid: int
    steps: int
    runs: int
    batch_size: int
    warmup: bool
    paired_occlusion: str  # the Occlusion row with GLAS's number of forward passes
    variants: tuple[str, ...] = tuple(V.VARIANTS)  # the GLAS variants scored
    notes: list[str] = field(default_factory=list)


def synthetic_set(quick: bool, n: int | None, cache_dir: Path | None) -> EvalSet:
    config = models.QUICK_TRAIN if quick else models.TrainConfig()
    model = models.train_or_load(config, cache_dir)
    samples = data.make_dataset(n or (3 if quick else 40), 12345, size=config.size)
    grid = 6 if quick else 15
    peers = [
        occlusion_method(window=4, stride=3, name="Occlusion 4/3"),  # 21 x 21 positions + 1 = 442 rows
        occlusion_method(window=8, stride=4, name="Occlusion 8/4"),  # 15 x 15 + 1 = 226 rows
        feature_ablation_method(21, name="FeatureAblation 21x21"),
        kernelshap_method(2 * grid * grid + 1, name=f"KernelSHAP-{2 * grid * grid + 1}"),
        rise_method(f"RISE-{2 * grid * grid + 1}", 2 * grid * grid + 1),
        gradcam_method(lambda m: m.inner[models.GRADCAM_LAYER_INDEX]),
    ]
    return EvalSet(f"synthetic {config.size}x{config.size} (CNN test accuracy {models.accuracy(model, samples):.3f})",
                   model, [s.image for s in samples], [s.label for s in samples],
                   {"box": [data.box_union(s) for s in samples], "part": [s.part_mask for s in samples]},
                   peers, grid, steps=48, runs=20 if quick else 100, batch_size=64, warmup=True,
                   paired_occlusion="Occlusion 4/3")


#: the variants scored on the photos (each costs about 100 EfficientNet rows per photo to score)
PHOTO_VARIANTS = ("GLAS (paper Eq. 3)", "shadow only", "sigma_spatial=1", "kernel-normalised", "margin drop",
                  "margin drop, sigma_spatial=1")


def photo_set(quick: bool, n: int | None, grid: int | None) -> EvalSet:
    import real_photos
    from glas_core import metrics as M

    model = real_photos.load_model("cpu")
    photos = real_photos.load_photos()[: n or (1 if quick else None)]
    size = real_photos.SIZE
    grid = grid or (6 if quick else 15)
    budget = 2 * grid * grid + 1
    cells = round(grid * 2**0.5)  # cells x cells occlusions + 1 ~ 2 k^2 + 1 rows: 21 at k = 15
    stride = size // cells
    window = size - (cells - 1) * stride  # the last window ends at the border: 24/10 at k = 15
    peers = [
        occlusion_method(window=window, stride=stride, name=f"Occlusion {window}/{stride}", batch_size=32),
        feature_ablation_method(cells, name=f"FeatureAblation {cells}x{cells}", batch_size=32),
        kernelshap_method(budget, cells=14, name=f"KernelSHAP-{budget}", batch_size=32),
        rise_method(f"RISE-{budget}", budget, s=7, batch_size=32),
        gradcam_method(lambda m: m.inner.inner._bn1),
    ]
    return EvalSet(f"photos {size}x{size}, EfficientNet-Lite0", model, [p[1] for p in photos], [p[2] for p in photos],
                   {"box": [M.box_to_mask(p[4], (size, size)) for p in photos]}, peers, grid,
                   steps=24, runs=10 if quick else 20, batch_size=32, warmup=False,
                   paired_occlusion=f"Occlusion {window}/{stride}", variants=PHOTO_VARIANTS,
                   notes=["photos: " + ", ".join(f"{p[0]} -> {p[3]}" for p in photos)])


def sweep_method(name: str, store: list, **settings: Any) -> Method:
    """GLAS whose recorded sweep (every row's logits) is kept for the variants."""
    def run(module, x, target):
        sweep = V.record_sweep(module, x, target, **settings)
        store.append(sweep)
        return V.paper(sweep)

    return Method(name, run, f"{settings}")


def variant_maps(coarse: list[V.Sweep], fine: list[V.Sweep], names: tuple[str, ...]
                 ) -> dict[str, tuple[list[np.ndarray], float]]:
    """The named variants' maps and their mean post-processing time per image in ms (beyond the sweeps)."""
    out = {}
    for name in names:
        fn = V.VARIANTS[name][0]
        t0 = time.perf_counter()
        maps = [fn(s) for s in coarse]
        out[name] = (maps, 1000 * (time.perf_counter() - t0) / len(coarse))
    t0 = time.perf_counter()
    maps = [V.multiscale_product(c, f) for c, f in zip(coarse, fine)]
    out[PRODUCT] = (maps, 1000 * (time.perf_counter() - t0) / len(coarse))
    return out


@dataclass
class Scores:
    deletion: float
    insertion: float
    correlation: float
    pointing: dict[str, float]
    flat: int
    deletion_curve: np.ndarray
    deletion_per_image: np.ndarray
    maps: list[np.ndarray]


def score(es: EvalSet, maps: list[np.ndarray]) -> Scores:
    x = np.stack(es.images).astype(np.float32)
    y = np.asarray(es.targets)
    dele = F.deletion_curves(es.model, x, y, maps, es.steps)
    ins = F.insertion_curves(es.model, x, y, maps, es.steps)
    corr = F.faithfulness_correlation(es.model, x, y, maps, runs=es.runs)
    pointing = {k: float(F.pointing_game(es.model, x, y, maps, m).mean()) for k, m in es.masks.items()}
    flat = sum(float(np.max(m) - np.min(m)) == 0.0 for m in maps)
    return Scores(float(F.area(dele).mean()), float(F.area(ins).mean()), float(np.nanmean(corr)), pointing, flat,
                  dele.mean(axis=0), F.area(dele), maps)


def evaluate(es: EvalSet, verbose: bool = True) -> list[str]:
    env.setup_torch()
    coarse: list[V.Sweep] = []
    fine: list[V.Sweep] = []
    glas = [sweep_method(GLAS, coarse, grid=es.grid, batch_size=es.batch_size),
            sweep_method(FINE, fine, grid=es.grid, sigma=1.0, batch_size=es.batch_size)]
    methods = glas + es.peers
    runs = run_methods(methods, es.model, es.images, es.targets, warmup=es.warmup, verbose=verbose)
    n = len(es.images)
    coarse, fine = coarse[-n:], fine[-n:]  # the warm-up sweeps come first
    glas_ms = 1000 * float(np.mean(runs[GLAS].seconds))
    scores = {m.name: score(es, runs[m.name].maps) for m in methods}
    masks = list(es.masks)
    head = ["method", "forwards/img", "deletion", "insertion", "faithfulness corr.",
            *[f"PG {k}" for k in masks], "flat maps", "ms/img", "time vs GLAS"]

    def row(name: str, s: Scores, forwards: int, ms: float) -> list:
        return [name, forwards, s.deletion, s.insertion, s.correlation, *[s.pointing[k] for k in masks], s.flat,
                f"{ms:.0f}", f"{ms / glas_ms:.2f}x"]

    main = [row(m.name, scores[m.name], int(np.mean(runs[m.name].forwards)),
                1000 * float(np.mean(runs[m.name].seconds)))
            for m in methods]
    variants = variant_maps(coarse, fine, es.variants)
    vscores = {name: score(es, maps) for name, (maps, _) in variants.items()}
    glas_fw = int(np.mean(runs[GLAS].forwards))
    vrows = []
    for name, (_, extra) in variants.items():
        fw = glas_fw + int(np.mean(runs[FINE].forwards)) if name == PRODUCT else glas_fw
        ms = glas_ms + extra + (1000 * float(np.mean(runs[FINE].seconds)) if name == PRODUCT else 0.0)
        vrows.append(row(name, vscores[name], fw, ms))
    lines = [f"## {es.name}: {n} images", f"machine: {env.machine_line()}", *es.notes, "",
             report.markdown_table(head, main), "", "GLAS variants (the same sweep read differently; "
             "the product adds the sigma=1 sweep):", "", report.markdown_table(head, vrows), ""]
    lines += curve_lines(es, {**scores, **vscores}, [GLAS, es.paired_occlusion, *best_variants(vscores)])
    lines += split_lines(es, {**scores, **vscores}, [GLAS, FINE, PRODUCT, es.paired_occlusion])
    lines += goal_lines(es, scores, vscores, glas_fw, int(np.mean(runs[es.paired_occlusion].forwards)))
    lines += [f"- {m.name}: {m.note}" for m in es.peers]
    lines += [f"- {name}: {V.VARIANTS[name][1]}" for name in es.variants]
    lines.append(f"- {PRODUCT}: min-max normalised GLAS map times the min-max normalised {FINE} map")
    return lines


def best_variants(vscores: dict[str, Scores], k: int = 2) -> list[str]:
    return sorted((n for n in vscores if n != "GLAS (paper Eq. 3)"), key=lambda n: vscores[n].deletion)[:k]


def curve_lines(es: EvalSet, scores: dict[str, Scores], names: list[str]) -> list[str]:
    """Mean deletion curves at a few steps: where the rankings part."""
    picks = sorted({0, 1, 2, 3, 4, 6, 8, 12, es.steps // 2, es.steps})
    head = ["mean deletion curve", *[f"{p}/{es.steps}" for p in picks]]
    rows = [[name, *[float(scores[name].deletion_curve[p]) for p in picks]] for name in dict.fromkeys(names)]
    return ["Mean probability of the class after deleting the first i/steps of the pixels:", "",
            report.markdown_table(head, rows), ""]


def split_lines(es: EvalSet, scores: dict[str, Scores], names: list[str]) -> list[str]:
    """Deletion where the paired Occlusion map is flat and where it is not, and what the first step deletes."""
    flat = np.array([float(m.max() - m.min()) == 0.0 for m in scores[es.paired_occlusion].maps])
    first = es.images[0].shape[-2] * es.images[0].shape[-1] // es.steps  # pixels of one deletion step

    def share(m: np.ndarray, mask: np.ndarray) -> float:
        return float(np.asarray(mask, bool).ravel()[np.argsort(-m.ravel(), kind="stable")[:first]].mean())

    def mean(values: np.ndarray, keep: np.ndarray) -> float:
        return float(values[keep].mean()) if keep.any() else float("nan")

    head = ["method", f"deletion, {int(flat.sum())} images with a flat {es.paired_occlusion} map",
            f"deletion, the other {int((~flat).sum())}",
            *[f"first-step pixels in {k} (the other {int((~flat).sum())})" for k in es.masks]]
    rows = []
    for name in dict.fromkeys(names):
        s = scores[name]
        shares = {k: np.array([share(m, mk) for m, mk in zip(s.maps, masks)]) for k, masks in es.masks.items()}
        rows.append([name, mean(s.deletion_per_image, flat), mean(s.deletion_per_image, ~flat),
                     *[mean(shares[k], ~flat) for k in es.masks]])
    return [f"Where deletion parts: the images whose {es.paired_occlusion} map is flat (no occluded patch moves "
            f"the float32 probability) and the others; share of the {first} pixels deleted first that lie "
            "in the ground truth:", "", report.markdown_table(head, rows), ""]


def goal_lines(es: EvalSet, scores: dict[str, Scores], vscores: dict[str, Scores], glas_fw: int,
               occ_fw: int) -> list[str]:
    occ = scores[es.paired_occlusion]
    out = []
    for name, s in [(GLAS, scores[GLAS]), *[(n, vscores[n]) for n in best_variants(vscores, 1)]]:
        met = s.deletion <= occ.deletion and all(s.pointing[k] >= scores[GLAS].pointing[k] for k in s.pointing)
        pointing = ", ".join(f"{k} {s.pointing[k]:.3f} (GLAS {scores[GLAS].pointing[k]:.3f})" for k in s.pointing)
        out.append(f"goal (deletion at or below {es.paired_occlusion}'s, {occ_fw} vs {glas_fw} forwards, "
                   f"pointing game kept): {name}: **{'met' if met else 'not met'}**: deletion {s.deletion:.3f} "
                   f"vs {occ.deletion:.3f}; PG {pointing}")
    return out + [""]


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", choices=("synthetic", "photos", "both"), default="both", help="which images")
    p.add_argument("--quick", action="store_true", help="tiny training, few images, small budgets")
    p.add_argument("--n-images", type=int, default=None, help="images per set (default 40 synthetic, all 6 photos)")
    p.add_argument("--cache-dir", type=Path, default=None, help="where the synthetic CNN is cached")
    p.add_argument("--photo-grid", type=int, default=None,
                   help="GLAS's k on the photos (default 15); the peers' budgets follow (2 k^2 + 1 rows)")
    args = p.parse_args(argv)
    env.setup_torch()
    sets = []
    if args.set in ("synthetic", "both"):
        sets.append(synthetic_set(args.quick, args.n_images, args.cache_dir))
    if args.set in ("photos", "both"):
        sets.append(photo_set(args.quick, args.n_images, args.photo_grid))
    lines = ["Faithfulness (Quantus metrics: deletion and insertion AUC of the class probability, "
             "faithfulness correlation on the logit, pointing game)", ""]
    for es in sets:
        lines += evaluate(es, verbose=not args.quick)
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
