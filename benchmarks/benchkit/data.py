"""Shared pieces of the benchmarks: synthetic data with boxes and part masks, a small CNN
trained once on CPU (cached), the explainers compared, and table printing.

Every benchmark calls ``torch.set_num_threads(1)`` (through :func:`setup_torch`): the
benchmark machine is shared, and single-thread timings are comparable between methods.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import glas_core  # noqa: E402

CLASS_NAMES = ("striped ellipse, red head", "striped ellipse, blue head", "plain box, red head", "plain box, blue head")
PART_COLOURS = {"red": (0.95, 0.1, 0.1), "blue": (0.1, 0.25, 0.95)}


def setup_torch(threads: int = 1):
    """Import torch with a fixed thread count (1 by default: the machine is shared)."""
    import torch

    torch.set_num_threads(threads)
    return torch


# ----------------------------------------------------------------------------- synthetic data
@dataclass(frozen=True)
class Sample:
    """One synthetic image (3, H, W) in [0, 1] with its ground truth."""

    image: np.ndarray
    label: int
    boxes: tuple[tuple[int, int, int, int], ...]  # (x_min, y_min, x_max, y_max), half-open
    object_mask: np.ndarray  # union of bodies and parts
    part_mask: np.ndarray  # union of the discriminative parts


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth coloured noise plus muted clutter (lines and discs, no boxes, no saturated colours)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = rng.uniform(0.25, 0.65, 3).astype(np.float32)
    coarse = rng.normal(0, 0.08, (3, 5, 5)).astype(np.float32)
    idx = np.linspace(0, 4, size)
    i0 = np.floor(idx).astype(int)
    i1 = np.minimum(i0 + 1, 4)
    f = (idx - i0).astype(np.float32)
    rows = coarse[:, i0] * (1 - f)[None, :, None] + coarse[:, i1] * f[None, :, None]
    smooth = rows[:, :, i0] * (1 - f) + rows[:, :, i1] * f
    img = base[:, None, None] + smooth + rng.normal(0, 0.04, (3, size, size)).astype(np.float32)
    for _ in range(rng.integers(5, 10)):
        grey = rng.uniform(0.15, 0.85)
        colour = (0.6 * grey + 0.4 * rng.uniform(0.1, 0.9, 3)).astype(np.float32)
        if rng.random() < 0.5:  # disc
            cy, cx, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(2, size / 8)]
            m = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        else:  # thick line segment
            p0, p1 = rng.uniform(0, size, 2), rng.uniform(0, size, 2)
            d = p1 - p0
            t = np.clip(((yy - p0[0]) * d[0] + (xx - p0[1]) * d[1]) / max(d @ d, 1e-6), 0, 1)
            m = (yy - p0[0] - t * d[0]) ** 2 + (xx - p0[1] - t * d[1]) ** 2 <= rng.uniform(0.6, 1.8) ** 2
        img[:, m] = colour[:, None]
    return img


def _draw_object(img, rng, label, size, length, centre, occupied):
    """Draw one object of ``label`` and return (box, body|part mask, part mask) or None if it overlaps."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    height = length * rng.uniform(0.45, 0.65)
    cy, cx = centre
    if label in (0, 1):  # ellipse body
        body = ((yy - cy) / (height / 2)) ** 2 + ((xx - cx) / (length / 2)) ** 2 <= 1.0
    else:  # axis-aligned box body
        body = (np.abs(yy - cy) <= height / 2) & (np.abs(xx - cx) <= length / 2)
    facing = 1 if rng.random() < 0.5 else -1
    r = max(2.5, 0.14 * length)
    py = cy - height * rng.uniform(0.1, 0.3)
    px = cx + facing * (length / 2 - 0.3 * r)
    part = (yy - py) ** 2 + (xx - px) ** 2 <= r**2
    obj = body | part
    if (obj & occupied).any():
        return None
    body_colour = rng.uniform(0.1, 0.9, 3) * np.array([0.6, 1.0, 0.5]) + np.array([0.2, 0.0, 0.1])
    img[:, body] = body_colour.astype(np.float32)[:, None]
    if label in (0, 1):  # striped body: the coarse family is a texture over the whole body
        stripes = body & (((yy - cy) // 2) % 2 == 0)
        img[:, stripes] = (0.35 * body_colour).astype(np.float32)[:, None]
    colour = np.array(PART_COLOURS["red" if label in (0, 2) else "blue"]) + rng.normal(0, 0.04, 3)
    img[:, part] = np.clip(colour, 0, 1).astype(np.float32)[:, None]
    ys, xs = np.nonzero(obj)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return box, obj, part


def make_sample(rng: np.random.Generator, label: int, *, size: int = 64, n_instances: int = 1) -> Sample:
    """One image of class ``label`` with ``n_instances`` objects on a cluttered background.

    Classes 0/1 (striped ellipse bodies) and 2/3 (plain box bodies) differ only in the colour
    of a small head (the part): red vs blue, as fine-grained classes do. Lengths span 0.22 to 0.85 of the image side for single
    objects, so some boxes are small (< 1/4 of the image) and some large.
    """
    img = _background(rng, size)
    occupied = np.zeros((size, size), bool)
    boxes, parts = [], np.zeros((size, size), bool)
    hi = 0.85 if n_instances == 1 else 0.42
    while len(boxes) < n_instances:
        length = rng.uniform(0.22, hi) * size
        margin = length / 2 + 2
        centre = rng.uniform(margin, size - margin, 2) if margin < size / 2 else np.full(2, size / 2)
        drawn = _draw_object(img, rng, label, size, length, centre, occupied)
        if drawn is None:
            continue
        box, obj, part = drawn
        boxes.append(box)
        occupied |= obj
        parts |= part
    return Sample(np.clip(img, 0, 1).astype(np.float32), label, tuple(boxes), occupied, parts)


def make_dataset(n: int, seed: int, *, size: int = 64, n_instances: int = 1) -> list[Sample]:
    """``n`` samples with balanced labels, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [make_sample(rng, i % len(CLASS_NAMES), size=size, n_instances=n_instances) for i in range(n)]


# ----------------------------------------------------------------------------- model
def build_model(n_classes: int = len(CLASS_NAMES)):
    """Small CNN: 4 conv layers (16x16 feature map for 64x64 input), global average pooling."""
    torch = setup_torch()
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, n_classes),
    )


GRADCAM_LAYER_INDEX = 9  # the last Conv2d of build_model


@dataclass(frozen=True)
class TrainConfig:
    size: int = 64
    n_train: int = 4000
    two_instance_share: float = 0.15
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    version: str = "v2"  # bump when the data generator or the model changes

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


QUICK_TRAIN = TrainConfig(n_train=400, epochs=2)


def default_cache_dir() -> Path:
    return Path(os.environ.get("GLAS_BENCH_CACHE", Path(tempfile.gettempdir()) / "glas_bench"))


def train_or_load(config: TrainConfig = TrainConfig(), cache_dir: Path | None = None, *, verbose: bool = True):
    """The trained CNN for ``config``: loaded from ``cache_dir/<hash>.pt`` or trained and saved."""
    torch = setup_torch()
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"cnn_{config.key()}.pt"
    model = build_model()
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    torch.manual_seed(config.seed)
    n_two = int(config.n_train * config.two_instance_share)
    data = make_dataset(config.n_train - n_two, config.seed + 1000, size=config.size)
    data += make_dataset(n_two, config.seed + 2000, size=config.size, n_instances=2)
    xs = torch.from_numpy(np.stack([d.image for d in data]))
    ys = torch.tensor([d.label for d in data])
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.epochs)
    t0 = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        perm = torch.randperm(len(xs))
        total = 0.0
        for i in range(0, len(xs), config.batch_size):
            idx = perm[i : i + config.batch_size]
            xb = xs[idx]
            flip = torch.rand(len(idx)) < 0.5  # horizontal flips: heads face both ways anyway
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            loss = torch.nn.functional.cross_entropy(model(xb), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        if verbose:
            print(f"  epoch {epoch + 1}/{config.epochs}: loss {total / len(xs):.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    model.eval()
    torch.save(model.state_dict(), path)
    return model


def accuracy(model, samples: list[Sample]) -> float:
    torch = setup_torch()
    with torch.no_grad():
        logits = model(torch.from_numpy(np.stack([s.image for s in samples])))
    return float((logits.argmax(1).numpy() == np.array([s.label for s in samples])).mean())


# ----------------------------------------------------------------------------- explainers
class CountingModel:
    """Wraps a torch model; counts the rows (images) it scores."""

    def __init__(self, model):
        import torch

        class _Counted(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner
                self.rows = 0

            def forward(self, x):
                self.rows += int(x.shape[0])
                return self.inner(x)

        self.module = _Counted(model).eval()

    @property
    def rows(self) -> int:
        return self.module.rows

    def reset(self) -> None:
        self.module.rows = 0


def probability_fn(module, target: int, *, softmax: bool = True):
    """``score_fn(batch) -> (B, 1)`` probability of ``target`` (no gradients)."""
    import torch

    def score_fn(batch):
        with torch.no_grad():
            out = module(batch)
            out = out.softmax(-1) if softmax else out
        return out[:, target : target + 1]

    return score_fn


def numpy_model(model):
    """``model(numpy batch) -> numpy probabilities``, for glas_core.metrics."""
    import torch

    def f(batch):
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).softmax(-1).numpy()

    return f


@dataclass
class Method:
    """An explainer: ``run(counted_module, x (C,H,W) tensor, target) -> numpy (H, W)``."""

    name: str
    run: Callable
    note: str = ""


def glas_method(name: str, *, grid: int = 15, sigma=None, mode: str = "fusion", batch_size: int = 64) -> Method:
    def run(module, x, target):
        res = glas_core.explain(probability_fn(module, target), x, grid=grid, sigma=sigma, mode=mode,
                                batch_size=batch_size)
        return res.to_numpy()[0]

    s = "(5,3,6)" if sigma is None else f"{sigma}"
    return Method(name, run, f"k={grid}, sigma={s} grid cells, mode={mode}")


def rise_method(name: str, n_masks: int, *, s: int = 8, p: float = 0.5, batch_size: int = 64) -> Method:
    from rise import rise

    def run(module, x, target):
        return rise(probability_fn(module, target), x, n_masks=n_masks, s=s, p=p, batch_size=batch_size)[0]

    return Method(name, run, f"N={n_masks}, s={s}, p={p}")


def gradcam_method(layer_getter: Callable, name: str = "Grad-CAM") -> Method:
    def run(module, x, target):
        from captum.attr import LayerAttribution, LayerGradCam

        layer = layer_getter(module)
        attr = LayerGradCam(module, layer).attribute(x[None], target=target, relu_attributions=True)
        up = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), interpolate_mode="bilinear")
        return up[0, 0].detach().numpy()

    return Method(name, run, "captum LayerGradCam, last conv layer, ReLU, bilinear upsampling")


def occlusion_method(window: int, stride: int, name: str = "Occlusion", batch_size: int = 64) -> Method:
    def run(module, x, target):
        from captum.attr import Occlusion

        def fwd(b):
            return module(b).softmax(-1)

        import torch

        with torch.no_grad():
            attr = Occlusion(fwd).attribute(
                x[None], target=target, sliding_window_shapes=(x.shape[0], window, window),
                strides=(x.shape[0], stride, stride), baselines=0.0, perturbations_per_eval=batch_size)
        return attr[0].sum(0).numpy()

    return Method(name, run, f"captum Occlusion, window {window}, stride {stride}, zero baseline")


def kernelshap_method(n_samples: int, cells: int = 8, name: str = "KernelSHAP", batch_size: int = 64) -> Method:
    def run(module, x, target):
        import torch
        from captum.attr import KernelShap

        h, w = x.shape[-2:]
        rows = torch.arange(h) * cells // h
        cols = torch.arange(w) * cells // w
        fmask = (rows[:, None] * cells + cols[None, :])[None, None].expand(1, x.shape[0], h, w)

        def fwd(b):
            return module(b).softmax(-1)

        with torch.no_grad():
            attr = KernelShap(fwd).attribute(x[None], target=target, feature_mask=fmask, n_samples=n_samples,
                                             baselines=0.0, perturbations_per_eval=batch_size)
        return attr[0, 0].numpy()

    return Method(name, run, f"captum KernelShap, {cells}x{cells} cells, {n_samples} samples, zero baseline")


@dataclass
class MethodRun:
    maps: list[np.ndarray] = field(default_factory=list)
    forwards: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def run_methods(methods: list[Method], model, images: list, targets: list[int], *, warmup: bool = True,
                verbose: bool = True) -> dict[str, MethodRun]:
    """Run every method on every image, timing each call and counting forward rows.

    Images are interleaved method by method per image, so a slow patch of the shared machine
    hits every method alike.
    """
    torch = setup_torch()
    counted = CountingModel(model)
    runs = {m.name: MethodRun() for m in methods}
    if warmup and images:
        for m in methods:
            m.run(counted.module, torch.as_tensor(images[0]), targets[0])
    for i, (img, t) in enumerate(zip(images, targets)):
        x = torch.as_tensor(img)
        for m in methods:
            counted.reset()
            t0 = time.perf_counter()
            s = m.run(counted.module, x, int(t))
            runs[m.name].seconds.append(time.perf_counter() - t0)
            runs[m.name].forwards.append(counted.rows)
            runs[m.name].maps.append(np.asarray(s, dtype=np.float64))
        if verbose and (i + 1) % 10 == 0:
            print(f"  {i + 1}/{len(images)} images", file=sys.stderr)
    return runs


# ----------------------------------------------------------------------------- printing
def markdown_table(headers: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return "nan" if np.isnan(v) else f"{v:.3f}"
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def machine_line() -> str:
    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch "
            f"{torch.__version__} with {torch.get_num_threads()} thread(s), {time.strftime('%Y-%m-%d')}")


def save_panel(path: Path, images: list[np.ndarray], runs: dict[str, MethodRun], boxes: list, *,
               part_masks: list[np.ndarray] | None = None, max_images: int = 4, title: str = "") -> None:
    """Images (rows) by methods (columns): the map over the image, boxes in green, parts in white,
    the pointing-game point (paper rule) as an x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from glas_core import metrics as M

    names = list(runs)
    n = min(max_images, len(images))
    fig, axes = plt.subplots(n, len(names) + 1, figsize=(1.6 * (len(names) + 1), 1.6 * n), squeeze=False)
    for i in range(n):
        rgb = np.asarray(images[i]).transpose(1, 2, 0)
        for j, ax in enumerate(axes[i]):
            ax.imshow(rgb)
            if j:
                s = runs[names[j - 1]].maps[i]
                ax.imshow((s - s.min()) / max(s.max() - s.min(), 1e-12), cmap="jet", alpha=0.5)
                r, c = M.pointing_point(s)
                ax.plot(c, r, marker="x", color="white", ms=6, mew=2)
                if i == 0:
                    ax.set_title(names[j - 1], fontsize=6)
            for x0, y0, x1, y1 in boxes[i]:
                ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", lw=0.8))
            if part_masks is not None:
                ax.contour(part_masks[i], levels=[0.5], colors="white", linewidths=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    shrink_png(path)


def shrink_png(path: Path) -> None:
    """Re-save a figure with a 256-colour palette (a third of the size) when Pillow is installed."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
