"""Explaining a detector and a segmenter: GLAS against D-RISE, RISE and Captum's gradients, in one run.

Scenes (``benchkit/scenes.py``) hold identical dark squares whose class is only the colour of a
small marker dot inside them, so the evidence of every detection is known to the pixel. A tiny
CenterNet-like detector and a tiny FCN segmenter (``benchkit/dense_models.py``) are trained on
such scenes inside the benchmark (cached by config hash) and checked on held-out scenes (mAP at
IoU 0.5, pixel accuracy, mean IoU).

Every method explains the same detections: those the detector finds on the clean image with a
score of at least ``--min-score``, each matched to the object it found (IoU >= 0.5). Per
detection: does its map point (the paper's pointing rule) inside its own object's box, on its
own marker (within 2 px), or inside another object's box. On the scenes with two objects of the
same class, a scene is *separated* when both detections' maps point inside their own box (and so
not on the twin). Per segmented class region: does the map point inside the class's region and
on one of its markers. Forward rows (counted on the model) and wall time per image.

GLAS runs through ``glas_adapters.torch.explain_detections`` / ``explain_segments`` (all targets of
an image in one sweep of 2P + 1 rows, the detections given as ``boxes``/``labels``). Its sigma,
and D-RISE's grid size, are chosen on separate tuning scenes (other seeds), never on the
reported ones. D-RISE (``benchkit/drise.py``) runs at its usual mask counts and at GLAS's budget;
Captum's IntegratedGradients and Saliency differentiate the same D-RISE similarity (the score of
the best-matching detection, as Captum's detection recipe does). pytorch-grad-cam needs
torchvision, which this project does not depend on; it is not run. A box prior (a Gaussian at
the detected box's centre), a constant map and a random map show what the metrics give for free.

    python benchmarks/detection.py                 # the full run (docs/benchmarks.md)
    python benchmarks/detection.py --quick         # a smoke run in seconds

torch runs with one thread (``torch.set_num_threads(1)``): the machine is shared.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import dense_models, env, report  # noqa: E402
from benchkit.drise import drise, similarity  # noqa: E402
from benchkit.rise import rise  # noqa: E402
from benchkit.scenes import Scene, make_scenes  # noqa: E402
from benchkit.timing import CountingModel  # noqa: E402

import glas_core  # noqa: E402
from glas_adapters.torch import explain_detections, explain_segments  # noqa: E402
from glas_core import metrics as M  # noqa: E402

MARKER_TOLERANCE = 2.0  # px: a point this close to a marker pixel is "on the marker"
#: tried on the tuning scenes, in grid cells: a scalar sets (light, shadow, spatial) alike, a tuple each
SIGMAS: tuple[Any, ...] = (None, 3.0, 2.0, 1.5, 1.0, 0.7, (2.0, 1.0, 1.0), (3.0, 1.0, 1.0), (2.0, 0.7, 1.0))
QUICK_SIGMAS: tuple[Any, ...] = (None, 1.0)  # None = the default (5, 3, 6)


def _sigma_name(sigma: Any) -> str:
    """A sigma setting as printed: ``(5,3,6)`` for the default, ``2`` or ``(2,1,1)`` (light, shadow, spatial)."""
    if sigma is None:
        return "(5,3,6)"
    if isinstance(sigma, tuple):
        return "(" + ",".join(f"{v:g}" for v in sigma) + ")"
    return f"{sigma:g}"


# ---------------------------------------------------------------------------------------------
# targets: the detections and regions every method explains


@dataclass
class DetTargets:
    """The detections of one scene to explain, and the object each one found (-1: none)."""

    boxes: np.ndarray  # (T, 4)
    labels: np.ndarray  # (T,)
    objects: np.ndarray  # (T,) index into the scene's objects, or -1


def detection_targets(detector: Any, scene: Scene, min_score: float, max_detections: int | None) -> DetTargets:
    """Clean detections with score >= ``min_score`` (best first), each matched greedily to an object at IoU >= 0.5."""
    (found,) = dense_models.detect_numpy(detector, [scene])
    keep = np.argsort(-found["scores"])
    keep = keep[found["scores"][keep] >= min_score][:max_detections]
    boxes, labels = found["boxes"][keep].astype(np.float64), found["labels"][keep].astype(np.int64)
    objects = np.full(len(keep), -1)
    used: set[int] = set()
    if len(keep):
        iou = dense_models.np_box_iou(boxes, scene.boxes.astype(np.float64))
        for t in range(len(keep)):
            for j in np.argsort(-iou[t]):
                if iou[t, j] >= 0.5 and int(j) not in used and scene.labels[j] == labels[t]:
                    objects[t] = int(j)
                    used.add(int(j))
                    break
    return DetTargets(boxes, labels, objects)


@dataclass
class SegTargets:
    """The classes of one scene's segmentation to explain (background excluded) and their predicted regions."""

    classes: np.ndarray  # (T,) model classes, 1 .. n_classes
    masks: np.ndarray  # (T, H, W) bool


def segment_targets(segmenter: Any, scene: Scene) -> SegTargets:
    """Every non-background class the segmenter predicts on at least 4 pixels, its predicted pixels as the region."""
    torch = env.setup_torch()
    with torch.no_grad():
        pred = segmenter(torch.from_numpy(scene.image)[None])[0].argmax(0).numpy()
    classes = np.array([c for c in np.unique(pred) if c > 0 and (pred == c).sum() >= 4], np.int64)
    masks = np.stack([pred == c for c in classes]) if len(classes) else np.zeros((0, *pred.shape), bool)
    return SegTargets(classes, masks)


# ---------------------------------------------------------------------------------------------
# methods: run(counted model, x (C, H, W) tensor, targets) -> numpy (T, H, W)


@dataclass
class Method:
    name: str
    run: Callable[[Any, Any, Any], np.ndarray]
    note: str = ""


def glas_detection_method(name: str, grid: int, sigma: Any) -> Method:
    def run(model, x, t: DetTargets):
        exp = explain_detections(model, x, boxes=t.boxes, labels=t.labels, grid=grid, sigma=sigma, batch_size=64)
        return exp.maps.numpy()

    return Method(name, run, f"glas_adapters.torch.explain_detections, k={grid}, sigma={_sigma_name(sigma)} grid cells")


def drise_method(name: str, n_masks: int, s: int) -> Method:
    def run(model, x, t: DetTargets):
        return drise(model, x, t.boxes, t.labels, n_masks=n_masks, s=s, p=0.5, batch_size=64)

    return Method(name, run, f"benchkit.drise, N={n_masks}, s={s}, p=0.5")


def _captum_detection(kind: str, steps: int) -> Callable[[Any, Any, DetTargets], np.ndarray]:
    def run(model, x, t: DetTargets):
        import torch
        from captum.attr import IntegratedGradients, Saliency

        maps = []
        for box, label in zip(t.boxes, t.labels):
            b = torch.as_tensor(box, dtype=x.dtype)[None]
            lab = torch.as_tensor([label])

            def score(batch, b=b, lab=lab):  # the matched detection's D-RISE similarity, differentiable
                return similarity(b, lab, model(batch))[:, 0]

            xb = x[None].clone().requires_grad_(True)
            if kind == "ig":
                attr = IntegratedGradients(score).attribute(xb, baselines=torch.zeros_like(xb), n_steps=steps,
                                                            internal_batch_size=steps)
                maps.append(attr[0].sum(0).detach().numpy())
            else:
                maps.append(Saliency(score).attribute(xb, abs=True)[0].amax(0).detach().numpy())
        return np.stack(maps) if maps else np.zeros((0, *x.shape[-2:]))

    return run


def box_prior(x: Any, t: DetTargets) -> np.ndarray:
    """A Gaussian at each detected box's centre (sigma a quarter of its side): knows only the box."""
    h, w = x.shape[-2:]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = []
    for x0, y0, x1, y1 in t.boxes:
        cy, cx = (y0 + y1) / 2 - 0.5, (x0 + x1) / 2 - 0.5
        sy, sx = max((y1 - y0) / 4, 1.0), max((x1 - x0) / 4, 1.0)
        out.append(np.exp(-((yy - cy) ** 2) / (2 * sy**2) - (xx - cx) ** 2 / (2 * sx**2)))
    return np.stack(out) if out else np.zeros((0, h, w))


def trivial_methods(prior: Callable[[Any, Any], np.ndarray], prior_name: str, prior_note: str) -> list[Method]:
    rng = np.random.default_rng(0)
    return [
        Method(prior_name, lambda m, x, t: prior(x, t), prior_note),
        Method("constant map", lambda m, x, t: np.ones((len(_labels(t)), *x.shape[-2:])), "points nowhere"),
        Method("random map", lambda m, x, t: rng.random((len(_labels(t)), *x.shape[-2:])), "uniform noise per pixel"),
    ]


def _labels(t: Any) -> np.ndarray:
    return t.labels if isinstance(t, DetTargets) else t.classes


def detection_methods(grid: int, sigma: Any, wide_grid: int, wide_sigma: Any,
                      drise_counts: list[int], drise_s: int, ig_steps: int) -> list[Method]:
    glas_rows = 2 * grid * grid + 1
    methods = [glas_detection_method(f"GLAS k={grid}", grid, sigma)]
    if wide_grid != grid:
        methods.append(glas_detection_method(f"GLAS k={wide_grid}", wide_grid, wide_sigma))
    methods += [drise_method(f"D-RISE-{n}", n, drise_s) for n in drise_counts]
    methods.append(drise_method(f"D-RISE-{glas_rows} (GLAS k={grid}'s budget)", glas_rows, drise_s))
    methods += [
        Method(f"IntegratedGradients ({ig_steps} steps)", _captum_detection("ig", ig_steps),
               "captum, zero baseline, per detection, sum over channels"),
        Method("Saliency", _captum_detection("saliency", 0), "captum, |gradient| max over channels, per detection"),
    ]
    return methods + trivial_methods(box_prior, "box prior", "Gaussian at the detected box centre, sigma = side / 4")


def glas_segment_method(name: str, grid: int, sigma: Any) -> Method:
    def run(model, x, t: SegTargets):
        exp = explain_segments(model, x, classes=t.classes, masks=t.masks, grid=grid, sigma=sigma, batch_size=64)
        return exp.maps.numpy()

    return Method(name, run, f"glas_adapters.torch.explain_segments, k={grid}, sigma={_sigma_name(sigma)} grid cells")


def _region_score(model: Any, t: SegTargets, log: bool) -> Callable[[Any], Any]:
    """``(B, T)``: each region's mean probability (RISE) or mean log-probability (gradients) of its class."""
    import torch

    weights = torch.from_numpy(t.masks.astype(np.float32))
    weights = weights / weights.sum((1, 2), keepdim=True)
    classes = torch.from_numpy(t.classes)

    def score(batch):
        out = model(batch)
        p = out.log_softmax(1) if log else out.softmax(1)
        return (p[:, classes] * weights[None]).sum((2, 3))

    return score


def rise_segment_method(n_masks: int) -> Method:
    def run(model, x, t: SegTargets):
        import torch

        score = _region_score(model, t, log=False)

        def no_grad(batch):
            with torch.no_grad():
                return score(batch)

        return rise(no_grad, x, n_masks=n_masks, s=8, p=0.5, batch_size=64)

    return Method(f"RISE-{n_masks}", run, f"benchkit.rise, N={n_masks}, s=8, p=0.5, mean region probability")


def _captum_segment(kind: str, steps: int) -> Callable[[Any, Any, SegTargets], np.ndarray]:
    def run(model, x, t: SegTargets):
        import torch
        from captum.attr import IntegratedGradients, Saliency

        score = _region_score(model, t, log=True)
        maps = []
        for i in range(len(t.classes)):
            xb = x[None].clone().requires_grad_(True)
            if kind == "ig":
                attr = IntegratedGradients(score).attribute(xb, baselines=torch.zeros_like(xb), target=i,
                                                            n_steps=steps, internal_batch_size=steps)
                maps.append(attr[0].sum(0).detach().numpy())
            else:
                maps.append(Saliency(score).attribute(xb, target=i, abs=True)[0].amax(0).detach().numpy())
        return np.stack(maps) if maps else np.zeros((0, *x.shape[-2:]))

    return run


def segment_methods(grid: int, sigma: Any, rise_count: int, ig_steps: int) -> list[Method]:
    methods = [glas_segment_method(f"GLAS k={grid}", grid, sigma)]
    methods += [rise_segment_method(rise_count), rise_segment_method(2 * grid * grid + 1)]
    methods += [
        Method(f"IntegratedGradients ({ig_steps} steps)", _captum_segment("ig", ig_steps),
               "captum, zero baseline, mean region log-probability, per class"),
        Method("Saliency", _captum_segment("saliency", 0), "captum, |gradient| max over channels, per class"),
    ]
    return methods + trivial_methods(lambda x, t: t.masks.astype(np.float64), "region prior",
                                     "the predicted region itself as the map")


# ---------------------------------------------------------------------------------------------
# running and scoring


@dataclass
class Runs:
    """Each method's maps per scene, forward rows and seconds per scene."""

    maps: dict[str, list[np.ndarray]] = field(default_factory=dict)
    forwards: dict[str, list[int]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)


def run_all(methods: list[Method], model: Any, scenes: list[Scene], targets: list[Any], *,
            verbose: bool = True) -> Runs:
    """Every method on every scene with a target, interleaved scene by scene, timed, rows counted."""
    torch = env.setup_torch()
    counted = CountingModel(model)
    runs = Runs({m.name: [] for m in methods}, {m.name: [] for m in methods}, {m.name: [] for m in methods})
    warm = next((i for i, t in enumerate(targets) if len(_labels(t))), None)
    if warm is not None:
        for m in methods:
            m.run(counted.module, torch.from_numpy(scenes[warm].image), targets[warm])
    for i, (scene, t) in enumerate(zip(scenes, targets)):
        x = torch.from_numpy(scene.image)
        for m in methods:
            if not len(_labels(t)):
                runs.maps[m.name].append(np.zeros((0, *x.shape[-2:])))
                continue
            counted.reset()
            t0 = time.perf_counter()
            maps = m.run(counted.module, x, t)
            runs.seconds[m.name].append(time.perf_counter() - t0)
            runs.forwards[m.name].append(counted.rows)
            runs.maps[m.name].append(np.asarray(maps, dtype=np.float64))
        if verbose and (i + 1) % 10 == 0:
            print(f"  {i + 1}/{len(scenes)} scenes", file=sys.stderr)
    return runs


def detection_scores(maps: list[np.ndarray], scenes: list[Scene], targets: list[DetTargets]) -> dict[str, float]:
    """Own box, own marker, another object's box (shares of matched detections); pairs separated (share of scenes)."""
    own, marker, other, separated, pairs = [], [], [], 0, 0
    for scene_maps, sc, t in zip(maps, scenes, targets):
        shape = sc.image.shape[-2:]
        hits = {}
        for s, obj in zip(scene_maps, t.objects):
            if obj < 0:
                continue
            own_hit = M.pointing_hit(s, M.box_to_mask(sc.boxes[obj], shape))
            own.append(own_hit)
            marker.append(M.pointing_hit(s, sc.marker_masks[obj], tolerance=MARKER_TOLERANCE))
            others = [M.box_to_mask(b, shape) for j, b in enumerate(sc.boxes) if j != obj]
            other.append(bool(others) and M.pointing_hit(s, np.any(others, axis=0)))
            hits[int(obj)] = own_hit
        if len(sc.labels) == 2 and sc.labels[0] == sc.labels[1] and len(hits) == 2:
            pairs += 1
            separated += all(hits.values())
    return {"own": float(np.mean(own)) if own else float("nan"),
            "marker": float(np.mean(marker)) if marker else float("nan"),
            "other": float(np.mean(other)) if other else float("nan"),
            "separated": separated / pairs if pairs else float("nan"), "pairs": pairs, "n": len(own)}


def segment_scores(maps: list[np.ndarray], scenes: list[Scene], targets: list[SegTargets]) -> dict[str, float]:
    """Pointing inside the class's true region and on one of its markers, over the predicted classes present."""
    region, marker = [], []
    for scene_maps, sc, t in zip(maps, scenes, targets):
        for s, c in zip(scene_maps, t.classes):
            truth = sc.segmentation == c
            if not truth.any():
                continue
            region.append(M.pointing_hit(s, truth))
            markers = np.any(sc.marker_masks[sc.labels == c - 1], axis=0)
            marker.append(M.pointing_hit(s, markers, tolerance=MARKER_TOLERANCE))
    return {"region": float(np.mean(region)) if region else float("nan"),
            "marker": float(np.mean(marker)) if marker else float("nan"), "n": len(region)}


def cost(runs: Runs, name: str) -> tuple[int, float]:
    """Mean forward rows and milliseconds per scene with a target (0, nan where none had one)."""
    if not runs.forwards[name]:
        return 0, float("nan")
    return int(round(np.mean(runs.forwards[name]))), 1000 * float(np.mean(runs.seconds[name]))


# ---------------------------------------------------------------------------------------------
# tuning on separate scenes


def tune_detection(detector: Any, scenes: list[Scene], targets: list[DetTargets], grids: list[int],
                   sigmas: tuple[Any, ...], drise_s: list[int],
                   drise_n: int) -> tuple[dict[int, Any], int, list[list]]:
    """Best sigma per grid (own box + own marker, averaged) and D-RISE's s, on the tuning scenes."""
    methods = [glas_detection_method(f"GLAS k={g}, sigma {_sigma_name(s)}", g, s) for g in grids for s in sigmas]
    methods += [drise_method(f"D-RISE-{drise_n}, s={s}", drise_n, s) for s in drise_s]
    runs = run_all(methods, detector, scenes, targets, verbose=False)
    rows, best, best_s = [], {}, (-1.0, drise_s[0])
    for m in methods:
        sc = detection_scores(runs.maps[m.name], scenes, targets)
        objective = (sc["own"] + sc["marker"]) / 2
        rows.append([m.name, sc["own"], sc["marker"], sc["separated"], objective])
        if m.name.startswith("GLAS"):
            g = int(m.name.split("k=")[1].split(",")[0])
            sigma = next(s for s in sigmas if m.name.endswith(f"sigma {_sigma_name(s)}"))
            if g not in best or objective > best[g][0]:
                best[g] = (objective, sigma)
        elif objective > best_s[0]:
            best_s = (objective, int(m.name.split("s=")[1]))
    return {g: v[1] for g, v in best.items()}, best_s[1], rows


def tune_segments(segmenter: Any, scenes: list[Scene], targets: list[SegTargets], grid: int,
                  sigmas: tuple[Any, ...]) -> tuple[Any, list[list]]:
    """Best sigma (pointing in the region + on a marker, averaged) on the tuning scenes."""
    methods = [glas_segment_method(f"GLAS k={grid}, sigma {_sigma_name(s)}", grid, s) for s in sigmas]
    runs = run_all(methods, segmenter, scenes, targets, verbose=False)
    rows, best = [], (-1.0, None)
    for m, sigma in zip(methods, sigmas):
        sc = segment_scores(runs.maps[m.name], scenes, targets)
        objective = (sc["region"] + sc["marker"]) / 2
        rows.append([m.name, sc["region"], sc["marker"], objective])
        if objective > best[0]:
            best = (objective, sigma)
    return best[1], rows


def parity(detector: Any, scenes: list[Scene], targets: list[DetTargets], grid: int, sigma: Any) -> float:
    """max |explain_detections - glas_core.explain(benchkit's D-RISE similarity)| / peak, over a few scenes."""
    torch = env.setup_torch()
    worst = 0.0
    for sc, t in zip(scenes, targets):
        if not len(t.labels):
            continue
        x = torch.from_numpy(sc.image)
        lib = explain_detections(detector, x, boxes=t.boxes, labels=t.labels, grid=grid, sigma=sigma).maps.numpy()
        boxes, labels = torch.from_numpy(t.boxes).float(), torch.from_numpy(t.labels)

        def score_fn(batch, boxes=boxes, labels=labels):
            with torch.no_grad():
                return similarity(boxes, labels, detector(batch))

        ref = glas_core.to_numpy(glas_core.explain(score_fn, x, grid=grid, sigma=sigma).saliency)
        worst = max(worst, float(np.abs(lib - ref).max() / max(np.abs(ref).max(), 1e-30)))
    return worst


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny training, few scenes, few masks (the smoke test)")
    p.add_argument("--n-scenes", type=int, default=None, help="mixed test scenes (default 30, quick 3)")
    p.add_argument("--n-pairs", type=int, default=None, help="same-class pair test scenes (default 30, quick 2)")
    p.add_argument("--n-tune", type=int, default=None, help="tuning scenes of each kind (default 12, quick 2)")
    p.add_argument("--grid", type=int, default=None,
                   help="GLAS's k for the 1/5-of-D-RISE-1000 goal, 2k^2+1 <= 200 (default 9, quick 4)")
    p.add_argument("--wide-grid", type=int, default=None,
                   help="a second k, 2k^2+1 <= 400: 1/5 of D-RISE-2000 (default 14, quick 5)")
    p.add_argument("--drise", type=int, nargs="+", default=None, help="D-RISE mask counts (default 1000 2000)")
    p.add_argument("--ig-steps", type=int, default=None, help="IntegratedGradients steps (default 32, quick 4)")
    p.add_argument("--min-score", type=float, default=None, help="detections explained (default 0.5, quick 0.05)")
    p.add_argument("--cache-dir", type=Path, default=None, help="where the trained models are cached")
    p.add_argument("--seed", type=int, default=2024, help="seed of the test scenes (tuning: seed + 2, seed + 3)")
    args = p.parse_args(argv)
    env.setup_torch()
    quick = args.quick
    n_mixed = args.n_scenes or (3 if quick else 30)
    n_pairs = args.n_pairs or (2 if quick else 30)
    n_tune = args.n_tune or (2 if quick else 12)
    drise_counts = args.drise or ([60] if quick else [1000, 2000])
    ig_steps = args.ig_steps or (4 if quick else 32)
    min_score = args.min_score if args.min_score is not None else (0.05 if quick else 0.5)
    max_det = 3 if quick else None
    grid, wide_grid = args.grid or (4 if quick else 9), args.wide_grid or (5 if quick else 14)
    sigma_options = QUICK_SIGMAS if quick else SIGMAS
    config = dense_models.QUICK_DENSE_TRAIN if quick else dense_models.DenseTrainConfig()
    t0 = time.perf_counter()
    detector, segmenter, trained = dense_models.train_or_load(config, args.cache_dir)
    size = config.size
    mixed = make_scenes(n_mixed, args.seed, size=size)
    pairs = make_scenes(n_pairs, args.seed + 1, size=size, kind="pair")
    tune = make_scenes(n_tune, args.seed + 2, size=size) + make_scenes(n_tune, args.seed + 3, size=size, kind="pair")
    held_out = make_scenes(10 if quick else 200, args.seed + 4, size=size) + make_scenes(
        4 if quick else 60, args.seed + 5, size=size, kind="pair")
    det_map = dense_models.detection_map(detector, held_out)
    pix_acc, miou = dense_models.segmentation_scores(segmenter, held_out)

    def det_t(scenes):
        return [detection_targets(detector, s, min_score, max_det) for s in scenes]

    def seg_t(scenes):
        return [segment_targets(segmenter, s) for s in scenes]

    tune_det, tune_seg = det_t(tune), seg_t(tune)
    drise_s_options = [8] if quick else [8, 16]
    sigmas, drise_s, tune_rows = tune_detection(detector, tune, tune_det, sorted({grid, wide_grid}), sigma_options,
                                                drise_s_options, drise_counts[0])
    seg_sigma, seg_tune_rows = tune_segments(segmenter, tune, tune_seg, grid, sigma_options)

    det_methods = detection_methods(grid, sigmas[grid], wide_grid, sigmas[wide_grid],
                                    drise_counts, drise_s, ig_steps)
    mixed_t, pairs_t = det_t(mixed), det_t(pairs)
    print("detection, mixed scenes", file=sys.stderr)
    mixed_runs = run_all(det_methods, detector, mixed, mixed_t)
    print("detection, pair scenes", file=sys.stderr)
    pair_runs = run_all(det_methods, detector, pairs, pairs_t)
    seg_methods = segment_methods(grid, seg_sigma, drise_counts[0], ig_steps)
    seg_scenes = mixed + pairs
    seg_targets = seg_t(seg_scenes)
    print("segmentation", file=sys.stderr)
    seg_runs = run_all(seg_methods, segmenter, seg_scenes, seg_targets)
    parity_err = parity(detector, mixed[:2], mixed_t[:2], grid, sigmas[grid])

    det_rows, scores = [], {}
    for m in det_methods:
        a = detection_scores(mixed_runs.maps[m.name], mixed, mixed_t)
        b = detection_scores(pair_runs.maps[m.name], pairs, pairs_t)
        forwards, ms = cost(mixed_runs, m.name)
        scores[m.name] = (a, b, forwards)
        det_rows.append([m.name, a["own"], a["marker"], a["other"], b["own"], b["marker"], b["separated"],
                         forwards, f"{ms:.0f}"])
    n_regions = sum(len(t.classes) for t in seg_targets)
    n_scored = sum(int((sc.segmentation == c).any()) for sc, t in zip(seg_scenes, seg_targets) for c in t.classes)
    seg_rows = []
    for m in seg_methods:
        s = segment_scores(seg_runs.maps[m.name], seg_scenes, seg_targets)
        forwards, ms = cost(seg_runs, m.name)
        seg_rows.append([m.name, s["region"], s["marker"], forwards, f"{ms:.0f}"])

    glas = f"GLAS k={grid}"
    usual = f"D-RISE-{drise_counts[0]}"
    (g_mixed, g_pairs, g_fw), (d_mixed, _, d_fw) = scores[glas], scores[usual]
    goal1 = g_mixed["own"] >= d_mixed["own"] and g_fw * 5 <= d_fw
    goal2 = g_pairs["separated"] >= 0.9
    n_det = sum(len(t.labels) for t in mixed_t)
    n_matched = sum(int((t.objects >= 0).sum()) for t in mixed_t)
    n_objects = sum(len(s.labels) for s in mixed)
    pairs_found = scores[glas][1]["pairs"]
    train_note = ", ".join(f"{k} trained in {v:.0f} s" if v else f"{k} loaded from the cache"
                           for k, v in trained.items())
    out = [
        f"Detection and segmentation: {n_mixed} mixed scenes (1-3 objects) and {n_pairs} same-class pair scenes, "
        f"{size}x{size}, seed {args.seed}; tuning on {n_tune} + {n_tune} other scenes (seeds {args.seed + 2}, "
        f"{args.seed + 3})",
        f"machine: {env.machine_line()}",
        f"models ({train_note}, one thread): detector mAP@0.5 {det_map:.3f}, segmenter pixel accuracy {pix_acc:.3f}, "
        f"mean IoU {miou:.3f} (held-out scenes, seeds {args.seed + 4}, {args.seed + 5})",
        f"explained: {n_det} detections with score >= {min_score:g} on the mixed scenes, {n_matched} of them matched "
        f"to one of the {n_objects} objects (only those are scored); both objects detected in {pairs_found} of "
        f"{n_pairs} pair scenes",
        "",
        "Tuning (own-box pointing, on-marker pointing, pairs separated, their objective = mean of the first two):",
        "",
        report.markdown_table(["setting", "own box", "on marker", "separated", "objective"], tune_rows),
        "",
        "chosen: " + ", ".join(f"k={g}: sigma {_sigma_name(s)}" for g, s in sigmas.items())
        + f"; D-RISE s={drise_s}; segmentation k={grid}: sigma {_sigma_name(seg_sigma)}",
        "",
        report.markdown_table(["setting", "in region", "on marker", "objective"], seg_tune_rows),
        "",
        "Detection (per matched detection; pairs: per pair scene with both objects detected):",
        "",
        report.markdown_table(["method", "own box", "on marker", "other box", "pairs: own box", "pairs: on marker",
                               "pairs separated", "forwards/img", "ms/img"], det_rows),
        "",
        f"Segmentation (per predicted class region, background excluded; mixed and pair scenes: {n_scored} of "
        f"{n_regions} predicted regions are of a class present in the scene, only those are scored):",
        "",
        report.markdown_table(["method", "in region", "on marker", "forwards/img", "ms/img"], seg_rows),
        "",
        *[f"- {m.name}: {m.note}" for m in det_methods],
        *[f"- (segmentation) {m.name}: {m.note}" for m in seg_methods if not m.name.startswith(("constant", "random"))],
        f"own box / other box / in region: pointing game, paper rule (T > 0.95, centroid of the biggest blob); on "
        f"marker: the same point within {MARKER_TOLERANCE:g} px of the object's marker (its only class evidence); "
        "forwards/img: rows the model scored per scene (all its targets), on the mixed scenes.",
        f"library vs glas_core.explain over benchkit's D-RISE similarity (2 scenes): max |difference| "
        f"{parity_err:.1e} of the map peak",
        "pytorch-grad-cam: not run (it imports torchvision, which is not installed and not a dependency).",
        f"goal (GLAS k={grid} own-box pointing >= {usual}'s at <= 1/5 of its forward passes): "
        f"{'met' if goal1 else 'NOT met'} ({g_mixed['own']:.3f} vs {d_mixed['own']:.3f}, {g_fw} vs {d_fw} rows)",
        f"goal (pair scenes separated >= 90% with GLAS k={grid}): {'met' if goal2 else 'NOT met'} "
        f"({g_pairs['separated']:.3f} of {pairs_found} scenes)",
        f"total {time.perf_counter() - t0:.0f} s",
    ]
    text = "\n".join(out)
    print(text)
    return text


if __name__ == "__main__":
    main()
