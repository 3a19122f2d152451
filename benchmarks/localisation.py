"""Table 2 of the GLAS paper on synthetic data with boxes and part masks, measured in one run.

GLAS (fusion, light, shadow, and a small sigma), RISE (N = 4000 and N = 450), Grad-CAM,
Occlusion and KernelSHAP explain the ground-truth class of the same test images with the same
small CNN (trained once on CPU and cached, see ``benchkit/models.py``). Columns: pointing game
(paper rule) on the object box, PT on small objects (box < 1/4 of the image), pointing game on
the discriminative part, relevance mass in the part, deletion AUC (zeros substrate), forward
passes and milliseconds per image, and the time relative to GLAS fusion.

    python benchmarks/localisation.py                 # the full run (docs/benchmarks.md)
    python benchmarks/localisation.py --quick         # a smoke run on a handful of images

torch runs with one thread (``torch.set_num_threads(1)``): the machine is shared and
single-thread timings compare the methods fairly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import data, env, figures, models, report, scoring  # noqa: E402
from benchkit.methods import (  # noqa: E402
    Method,
    glas_method,
    gradcam_method,
    kernelshap_method,
    occlusion_method,
    rise_method,
)
from benchkit.timing import MethodRun, run_methods  # noqa: E402

from glas_core import metrics as M  # noqa: E402


def build_methods(quick: bool, small_sigma: float) -> list[Method]:
    rise_big, rise_small, shap = (400, 100, 60) if quick else (4000, 450, 450)
    return [
        glas_method("GLAS (fusion)"),
        glas_method("GLAS (light)", mode="light"),
        glas_method("GLAS (shadow)", mode="shadow"),
        glas_method(f"GLAS (fusion, sigma={small_sigma:g})", sigma=small_sigma),
        glas_method(f"GLAS (shadow, sigma={small_sigma:g})", sigma=small_sigma, mode="shadow"),
        rise_method(f"RISE-{rise_big}", rise_big),
        rise_method(f"RISE-{rise_small}", rise_small),
        gradcam_method(lambda m: m.inner[models.GRADCAM_LAYER_INDEX]),
        occlusion_method(window=8, stride=4),
        kernelshap_method(shap),
    ]


def evaluate(methods: list[Method], runs: dict[str, MethodRun], samples: list[data.Sample], model, *,
             deletion_step: int) -> list[list]:
    """One table row per method: the localisation scores, deletion AUC, forwards and time."""
    boxes = [data.box_union(s) for s in samples]
    small = np.array([M.is_small(b) for b in boxes])
    f = scoring.numpy_model(model)
    images = [s.image for s in samples]
    targets = [s.label for s in samples]
    glas_ms = 1000 * np.mean(runs[methods[0].name].seconds)
    rows = []
    for m in methods:
        r = runs[m.name]
        pt = M.pointing_game(r.maps, boxes)
        pt_small = M.pointing_game([s for s, k in zip(r.maps, small) if k], [b for b, k in zip(boxes, small) if k])
        part = M.pointing_game(r.maps, [s.part_mask for s in samples])
        mass = np.mean([M.relevance_mass(s, smp.part_mask) for s, smp in zip(r.maps, samples)])
        mass_box = np.mean([M.relevance_mass(s, b) for s, b in zip(r.maps, boxes)])
        auc, _, _ = M.deletion_auc(f, images, r.maps, targets, step=deletion_step, substrate="zeros", batch_size=64)
        ms = 1000 * np.mean(r.seconds)
        flat = sum(float(s.max() - s.min()) == 0.0 for s in r.maps)
        rows.append([m.name, pt.accuracy, pt_small.accuracy, part.accuracy, float(mass), float(mass_box), auc,
                     flat, int(np.mean(r.forwards)), f"{ms:.0f}", f"{ms / glas_ms:.2f}x"])
    return rows


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-images", type=int, default=None, help="test images (default 100, quick 6)")
    p.add_argument("--quick", action="store_true", help="tiny training, few images, fewer RISE masks")
    p.add_argument("--small-sigma", type=float, default=1.0, help="sigma (grid cells) of the small-sigma GLAS row")
    p.add_argument("--cache-dir", type=Path, default=None, help="where the trained CNN is cached")
    p.add_argument("--seed", type=int, default=12345, help="seed of the test images")
    p.add_argument("--figure", type=Path, default=None, help="save maps of the first 4 images side by side")
    args = p.parse_args(argv)
    env.setup_torch()
    n = args.n_images or (6 if args.quick else 100)
    config = models.QUICK_TRAIN if args.quick else models.TrainConfig()
    model = models.train_or_load(config, args.cache_dir)
    samples = data.make_dataset(n, args.seed, size=config.size)
    methods = build_methods(args.quick, args.small_sigma)
    runs = run_methods(methods, model, [s.image for s in samples], [s.label for s in samples])
    rows = evaluate(methods, runs, samples, model, deletion_step=config.size * config.size // 32)
    n_small = sum(M.is_small(data.box_union(s)) for s in samples)
    out = [
        f"Localisation (Table 2 shape): {n} synthetic {config.size}x{config.size} test images "
        f"({n_small} small), CNN test accuracy {models.accuracy(model, samples):.3f}",
        f"machine: {env.machine_line()}",
        "",
        report.markdown_table(
            ["method", "PT", "PT-small", "part hit", "mass in part", "mass in box", "deletion AUC",
             "flat maps", "forwards/img", "ms/img", "time vs GLAS"],
            rows),
        "",
        *[f"- {m.name}: {m.note}" for m in methods],
        "PT / PT-small / part hit: pointing game, paper rule (T > 0.95, centroid of the biggest blob); "
        "deletion AUC: zeros substrate, lower is better; mass: share of positive saliency; flat maps: "
        "images whose map is constant (no information: it points nowhere, a miss in every pointing game).",
    ]
    if args.figure:
        figures.save_panel(args.figure, [s.image for s in samples], runs, [s.boxes for s in samples],
                     part_masks=[s.part_mask for s in samples],
                     title="synthetic test images: boxes (green), discriminative parts (white), pointing point (x)")
        out.append(f"figure: {args.figure}")
    text = "\n".join(out)
    print(text)
    return text


if __name__ == "__main__":
    main()
